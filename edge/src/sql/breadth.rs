//! Search breadth on Postgres (`target_recall`): the settings statement each index search runs
//! under, and `vecgate_search_breadth`, where native nodes keep what they learned per class of
//! search and the Spin component reads it.
//!
//! The breadth is set with `set_config(…, true)` in the search's own transaction
//! ([`crate::sql::SqlClient::query_scoped`]), so one pool serves every class. The values are
//! computed here in SQL from the class's breadth `ef` and a floor (the rows the statement
//! fetches), the same way whether `ef` is a parameter or read from the table:
//! - pgvector: `hnsw.ef_search` = ef within floor..=1000 (its maximum), and for the iterative
//!   scans of filtered searches `hnsw.max_scan_tuples` = 100 × ef, never under its default of
//!   20,000;
//! - ruvector: `ruvector.hnsw_ef_search` = ef within floor..=1000 (its scan yields at most that
//!   many rows, and never fewer than 100: `sql/RUVECTOR.md`).
//!
//! No value is spliced: the fragments are constants, the values parameters.

use vecgate_core::breadth::{ClassBreadth, KBucket, QueryClass};

use super::{Dialect, Param, Row};

/// The largest breadth either extension takes (`hnsw.ef_search`, `ruvector.hnsw_ef_search`).
pub const MAX_EF: usize = 1000;
/// ruvector searches at least this breadth whatever the setting (`sql/RUVECTOR.md`).
pub const RUVECTOR_MIN_EF: usize = 100;
/// pgvector's breadth before any is learned: migration 0005's `hnsw.ef_search`.
pub const PGVECTOR_START_EF: usize = 200;

/// `b(ef, floor)` from parameters: $1 the breadth, $2 the floor.
const GIVEN: &str = "WITH b AS (SELECT $1::text::int AS ef, $2::text::int AS floor) ";
/// `b(ef, floor)` from the table: $1 the k bucket, $2 filtered, $3 the floor. No row: no
/// settings, so the database's own apply.
const LEARNED: &str = "WITH b AS (SELECT ef, $3::text::int AS floor FROM vecgate_search_breadth \
                       WHERE k_bucket = $1::text AND filtered = $2::text::boolean) ";
const PGVECTOR: &str = "SELECT set_config('hnsw.ef_search', \
                          least(greatest(b.ef, b.floor), 1000)::text, true), \
                        set_config('hnsw.max_scan_tuples', greatest(20000, b.ef * 100)::text, \
                          true) FROM b";
const RUVECTOR: &str = "SELECT set_config('ruvector.hnsw_ef_search', \
                          least(greatest(b.ef, b.floor), 1000)::text, true) FROM b";

/// Where a search's breadth comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Breadth {
    /// Chosen by this node (its recall monitor learns it).
    Given(usize),
    /// What native nodes learned for the class, from `vecgate_search_breadth` (the Spin
    /// component, which does not sample).
    Learned(QueryClass),
}

/// The settings statement for a search of `breadth` that fetches `floor` rows, and its
/// parameters.
pub fn settings(dialect: Dialect, breadth: Breadth, floor: usize) -> (String, Vec<Param>) {
    let tail = match dialect {
        Dialect::Pgvector => PGVECTOR,
        Dialect::Ruvector => RUVECTOR,
    };
    let floor = Some(floor.to_string());
    match breadth {
        Breadth::Given(ef) => (format!("{GIVEN}{tail}"), vec![Some(ef.to_string()), floor]),
        Breadth::Learned(class) => (
            format!("{LEARNED}{tail}"),
            vec![
                Some(class.k_label().to_owned()),
                Some(class.filtered.to_string()),
                floor,
            ],
        ),
    }
}

/// Every learned class: k bucket, filtered, ef, samples, recall sum and sum of squares,
/// failing, unreachable.
pub const READ: &str = "SELECT k_bucket, filtered::text, ef::text, samples::text, \
                        recall_sum::text, recall_sq_sum::text, failing::text, \
                        unreachable::text FROM vecgate_search_breadth";

/// Keeps one class (parameters from [`write_params`]).
pub const WRITE: &str = "INSERT INTO vecgate_search_breadth \
       (k_bucket, filtered, ef, samples, recall_sum, recall_sq_sum, failing, unreachable, \
        target, updated_at) \
     VALUES ($1::text, $2::text::boolean, $3::text::int, $4::text::int, $5::text::float8, \
       $6::text::float8, $7::text::int, $8::text::boolean, $9::text::float8, now()) \
     ON CONFLICT (k_bucket, filtered) DO UPDATE SET ef = EXCLUDED.ef, \
       samples = EXCLUDED.samples, recall_sum = EXCLUDED.recall_sum, \
       recall_sq_sum = EXCLUDED.recall_sq_sum, \
       failing = EXCLUDED.failing, unreachable = EXCLUDED.unreachable, \
       target = EXCLUDED.target, updated_at = now()";

pub fn write_params(class: QueryClass, state: &ClassBreadth, target: f64) -> Vec<Param> {
    vec![
        Some(class.k_label().to_owned()),
        Some(class.filtered.to_string()),
        Some(state.ef.to_string()),
        Some(state.samples.to_string()),
        Some(state.recall_sum.to_string()),
        Some(state.recall_sq_sum.to_string()),
        Some(state.failing.to_string()),
        Some(state.unreachable.to_string()),
        Some(target.to_string()),
    ]
}

/// A row of [`READ`]; `None` for one this version cannot read.
pub fn parse_row(row: &Row) -> Option<(QueryClass, ClassBreadth)> {
    let text = |i: usize| row.get(i).and_then(|v| v.as_deref());
    let k = match text(0)? {
        "10" => KBucket::UpTo10,
        "100" => KBucket::UpTo100,
        "more" => KBucket::Over100,
        _ => return None,
    };
    let class = QueryClass {
        k,
        filtered: text(1)?.parse().ok()?,
    };
    let state = ClassBreadth {
        ef: text(2)?.parse().ok()?,
        samples: text(3)?.parse().ok()?,
        recall_sum: text(4)?.parse().ok()?,
        recall_sq_sum: text(5)?.parse().ok()?,
        failing: text(6)?.parse().ok()?,
        // Not kept: a restored class measures its breadth again before it probes below it.
        passing: 0,
        unreachable: text(7)?.parse().ok()?,
    };
    Some((class, state))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_kept_class_reads_back() {
        let class = QueryClass::of(50, true);
        let state = ClassBreadth {
            ef: 300,
            samples: 12,
            recall_sum: 11.5,
            recall_sq_sum: 11.1,
            failing: 200,
            passing: 0,
            unreachable: false,
        };
        let params = write_params(class, &state, 0.95);
        let row: Row = params[..8].to_vec();
        assert_eq!(parse_row(&row), Some((class, state)));
        assert_eq!(parse_row(&vec![Some("7".into())]), None);
    }

    #[test]
    fn settings_take_the_breadth_as_parameters() {
        let (sql, params) = settings(Dialect::Ruvector, Breadth::Given(150), 40);
        assert!(sql.contains("ruvector.hnsw_ef_search") && !sql.contains("150"));
        assert_eq!(params, vec![Some("150".into()), Some("40".into())]);
        let (sql, params) = settings(
            Dialect::Pgvector,
            Breadth::Learned(QueryClass::of(10, false)),
            20,
        );
        assert!(sql.contains("vecgate_search_breadth") && sql.contains("hnsw.max_scan_tuples"));
        assert_eq!(params.len(), 3);
    }
}
