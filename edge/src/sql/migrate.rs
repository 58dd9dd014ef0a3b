//! The schema, applied in order from `migrations/` and recorded in `schema_migrations`.
//!
//! The files are templates: `{{extension}}`, `{{vector_type}}`, `{{cosine_opclass}}`,
//! `{{vector_dims_fn}}` and `{{search_settings}}` come from the [`Dialect`], `{{dims}}` from a validated integer. Nothing
//! else is ever substituted, so no outside text reaches the SQL.
//!
//! Each migration runs as one batch, `BEGIN; <lock>; <record>; <sql>; COMMIT;`, under a
//! transaction-scoped advisory lock, so concurrent migrators serialize and a failed migration
//! leaves nothing behind. The first migration recorded fixes the dialect and the dimension;
//! running with other values is refused instead of mixing schemas.

use std::fmt;

use super::{DbError, Dialect, SqlClient};

/// The migrations, in the order they apply: (version, template).
pub const MIGRATIONS: &[(&str, &str)] = &[
    (
        "0001_extension",
        include_str!("../../../migrations/0001_extension.sql"),
    ),
    (
        "0002_content_vectors",
        include_str!("../../../migrations/0002_content_vectors.sql"),
    ),
    (
        "0003_user_preference_vectors",
        include_str!("../../../migrations/0003_user_preference_vectors.sql"),
    ),
    (
        "0004_vector_search_logs",
        include_str!("../../../migrations/0004_vector_search_logs.sql"),
    ),
    (
        "0005_search_settings",
        include_str!("../../../migrations/0005_search_settings.sql"),
    ),
    (
        "0006_index_sentinel",
        include_str!("../../../migrations/0006_index_sentinel.sql"),
    ),
    (
        "0007_content_changes",
        include_str!("../../../migrations/0007_content_changes.sql"),
    ),
    (
        "0008_search_breadth",
        include_str!("../../../migrations/0008_search_breadth.sql"),
    ),
    (
        "0009_search_log_ids",
        include_str!("../../../migrations/0009_search_log_ids.sql"),
    ),
];

/// The largest dimension either extension stores (`ruvector(n)` and `vector(n)`).
pub const MAX_DIMS: usize = 16_000;
/// pgvector's HNSW index takes `vector` columns of at most this many dimensions.
pub const PGVECTOR_HNSW_MAX_DIMS: usize = 2_000;

/// The key of the advisory lock every migration holds (an arbitrary constant: "vecgate").
const LOCK_KEY: i64 = 0x0076_6563_6761_7465;

/// Why the schema could not be brought up to date.
#[derive(Debug, Clone, PartialEq)]
pub enum MigrateError {
    /// The requested dimension is out of range for the dialect.
    InvalidDims { dims: usize, max: usize },
    /// The database was migrated with another dialect or dimension.
    Mismatch {
        version: String,
        recorded_dialect: String,
        recorded_dims: i64,
        dialect: Dialect,
        dims: usize,
    },
    /// Migration `version` failed; nothing of it was applied.
    Failed { version: String, error: DbError },
    /// The database lacks these migrations: `vecgate migrate` (with a role that may alter the
    /// schema) brings it up to date.
    Behind { missing: Vec<String> },
    /// Reading or creating `schema_migrations` failed.
    Db(DbError),
}

impl fmt::Display for MigrateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MigrateError::InvalidDims { dims, max } => {
                write!(f, "invalid dimensions {dims}: must be between 1 and {max}")
            }
            MigrateError::Mismatch {
                version,
                recorded_dialect,
                recorded_dims,
                dialect,
                dims,
            } => write!(
                f,
                "the database was migrated for {recorded_dialect} with {recorded_dims} dimensions \
                 (migration {version}), but {} with {dims} dimensions was requested; \
                 use the recorded settings or a fresh database",
                dialect_name(*dialect)
            ),
            MigrateError::Failed { version, error } => {
                write!(f, "migration {version} failed: {error}")
            }
            MigrateError::Behind { missing } => {
                write!(
                f,
                "the database schema is behind: {} not applied ({}); run `vecgate migrate` with a \
                 role that may alter the schema (or `serve --migrate`)",
                if missing.len() == 1 { "1 migration is" } else { "migrations are" },
                missing.join(", ")
            )
            }
            MigrateError::Db(error) => write!(f, "could not read the migration state: {error}"),
        }
    }
}

impl std::error::Error for MigrateError {}

impl From<DbError> for MigrateError {
    fn from(error: DbError) -> Self {
        MigrateError::Db(error)
    }
}

/// Applies the migrations not yet recorded, in order, and returns the versions it applied
/// (empty when the schema was up to date).
pub async fn migrate(
    client: &impl SqlClient,
    dialect: Dialect,
    dims: usize,
) -> Result<Vec<String>, MigrateError> {
    let max = max_dims(dialect);
    if !(1..=max).contains(&dims) {
        return Err(MigrateError::InvalidDims { dims, max });
    }
    // Only where it is missing: an up-to-date schema needs no DDL, so a role without CREATE
    // may run this too (it then only checks).
    if !has_migrations_table(client).await? {
        client
            .batch(&format!(
                "BEGIN; SELECT pg_advisory_xact_lock({LOCK_KEY}); \
                 CREATE TABLE IF NOT EXISTS schema_migrations (\
                   version text PRIMARY KEY, dialect text NOT NULL, dims int NOT NULL, \
                   applied_at timestamptz NOT NULL DEFAULT now()); \
                 COMMIT;"
            ))
            .await?;
    }
    let mut recorded = recorded_versions(client, dialect, dims).await?;
    let mut applied = Vec::new();
    for (version, template) in MIGRATIONS {
        if recorded.iter().any(|v| v == version) {
            continue;
        }
        // The INSERT comes first: a concurrent migrator that got here first makes it fail on
        // the primary key before any DDL runs.
        let sql = format!(
            "BEGIN; SELECT pg_advisory_xact_lock({LOCK_KEY});\n\
             INSERT INTO schema_migrations (version, dialect, dims) VALUES ('{version}', '{name}', {dims});\n\
             {body}\nCOMMIT;",
            name = dialect_name(dialect),
            body = render(template, dialect, dims),
        );
        if let Err(error) = client.batch(&sql).await {
            recorded = recorded_versions(client, dialect, dims).await?;
            if recorded.iter().any(|v| v == version) {
                continue;
            }
            return Err(MigrateError::Failed {
                version: (*version).to_owned(),
                error,
            });
        }
        applied.push((*version).to_owned());
    }
    Ok(applied)
}

/// Checks, without changing anything, that every migration is recorded for `dialect` and `dims`:
/// what `vecgate serve` does, so it can run with a role that has only DML rights.
pub async fn check(
    client: &impl SqlClient,
    dialect: Dialect,
    dims: usize,
) -> Result<(), MigrateError> {
    let recorded = if has_migrations_table(client).await? {
        recorded_versions(client, dialect, dims).await?
    } else {
        Vec::new()
    };
    let missing: Vec<String> = MIGRATIONS
        .iter()
        .map(|(version, _)| (*version).to_owned())
        .filter(|version| !recorded.contains(version))
        .collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(MigrateError::Behind { missing })
    }
}

async fn has_migrations_table(client: &impl SqlClient) -> Result<bool, DbError> {
    let rows = client
        .query(
            super::Route::Write,
            "SELECT (to_regclass('schema_migrations') IS NOT NULL)::text",
            &[],
        )
        .await?;
    Ok(rows
        .first()
        .and_then(|r| r.first().cloned().flatten())
        .as_deref()
        == Some("true"))
}

/// The vector extension of the database: the installed one, else the one available to
/// `CREATE EXTENSION`; ruvector when both are. `None` when neither is.
pub async fn detect_dialect(client: &impl SqlClient) -> Result<Option<Dialect>, DbError> {
    for sql in [
        "SELECT extname::text FROM pg_extension WHERE extname IN ('ruvector', 'vector')",
        "SELECT name::text FROM pg_available_extensions WHERE name IN ('ruvector', 'vector')",
    ] {
        let names: Vec<String> = client
            .query(super::Route::Write, sql, &[])
            .await?
            .into_iter()
            .filter_map(|row| row.into_iter().next().flatten())
            .collect();
        for dialect in [Dialect::Ruvector, Dialect::Pgvector] {
            if names.iter().any(|n| n == dialect.extension()) {
                return Ok(Some(dialect));
            }
        }
    }
    Ok(None)
}

/// Fills a migration template for `dialect` and `dims`.
pub fn render(template: &str, dialect: Dialect, dims: usize) -> String {
    template
        .replace("{{extension}}", dialect.extension())
        .replace("{{vector_type}}", dialect.vector_type())
        .replace("{{cosine_opclass}}", dialect.cosine_opclass())
        .replace("{{vector_dims_fn}}", vector_dims_fn(dialect))
        .replace("{{search_settings}}", search_settings(dialect))
        .replace("{{dims}}", &dims.to_string())
}

/// The versions recorded so far; an error if any was recorded for another dialect or dimension.
async fn recorded_versions(
    client: &impl SqlClient,
    dialect: Dialect,
    dims: usize,
) -> Result<Vec<String>, MigrateError> {
    let rows = client
        .query(
            super::Route::Write,
            "SELECT version, dialect, dims::text FROM schema_migrations ORDER BY version",
            &[],
        )
        .await?;
    let mut versions = Vec::with_capacity(rows.len());
    for row in rows {
        let mut columns = row.into_iter();
        let (version, recorded_dialect, recorded_dims) = (
            columns.next().flatten().unwrap_or_default(),
            columns.next().flatten().unwrap_or_default(),
            columns
                .next()
                .flatten()
                .and_then(|d| d.parse::<i64>().ok())
                .unwrap_or(-1),
        );
        if recorded_dialect != dialect_name(dialect) || usize::try_from(recorded_dims) != Ok(dims) {
            return Err(MigrateError::Mismatch {
                version,
                recorded_dialect,
                recorded_dims,
                dialect,
                dims,
            });
        }
        versions.push(version);
    }
    Ok(versions)
}

/// The name recorded in `schema_migrations.dialect` (what [`Dialect::parse`] reads).
fn dialect_name(dialect: Dialect) -> &'static str {
    match dialect {
        Dialect::Ruvector => "ruvector",
        Dialect::Pgvector => "pgvector",
    }
}

/// The SQL function giving a vector's dimension (`ruvector(n)` does not enforce `n`).
fn vector_dims_fn(dialect: Dialect) -> &'static str {
    match dialect {
        Dialect::Ruvector => "ruvector_dims",
        Dialect::Pgvector => "vector_dims",
    }
}

/// The database's index search settings, for new sessions (`ALTER DATABASE … SET`) and this
/// one (`SET`: the migrating connection goes on to serve searches). A role that may not alter
/// the database keeps the defaults, with a warning, rather than failing the migration.
fn search_settings(dialect: Dialect) -> &'static str {
    match dialect {
        Dialect::Ruvector => "SELECT 1;",
        Dialect::Pgvector => {
            "DO $$
BEGIN
  EXECUTE format('ALTER DATABASE %I SET hnsw.ef_search = 200', current_database());
  EXECUTE format('ALTER DATABASE %I SET hnsw.iterative_scan = relaxed_order', current_database());
EXCEPTION WHEN insufficient_privilege THEN
  RAISE WARNING 'vecgate: cannot ALTER DATABASE; set hnsw.ef_search = 200 and hnsw.iterative_scan = relaxed_order for this database by hand';
END $$;
SET hnsw.ef_search = 200;
SET hnsw.iterative_scan = relaxed_order;"
        }
    }
}

fn max_dims(dialect: Dialect) -> usize {
    match dialect {
        Dialect::Ruvector => MAX_DIMS,
        Dialect::Pgvector => PGVECTOR_HNSW_MAX_DIMS,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_render_completely_for_both_dialects() {
        for dialect in [Dialect::Ruvector, Dialect::Pgvector] {
            for (version, template) in MIGRATIONS {
                let sql = render(template, dialect, 768);
                assert!(
                    !sql.contains("{{"),
                    "{version} has an unfilled placeholder: {sql}"
                );
            }
        }
        let sql = render(MIGRATIONS[1].1, Dialect::Ruvector, 768);
        assert!(sql.contains("vector ruvector(768) NOT NULL"), "{sql}");
        assert!(
            sql.contains("USING hnsw (vector ruvector_cosine_ops)"),
            "{sql}"
        );
        assert!(sql.contains("ruvector_dims(vector) = 768"), "{sql}");
        let sql = render(MIGRATIONS[1].1, Dialect::Pgvector, 3);
        assert!(sql.contains("vector vector(3) NOT NULL"), "{sql}");
        assert!(
            sql.contains("USING hnsw (vector vector_cosine_ops)"),
            "{sql}"
        );
    }

    #[test]
    fn versions_are_unique_and_ordered() {
        let versions: Vec<&str> = MIGRATIONS.iter().map(|(v, _)| *v).collect();
        let mut sorted = versions.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(versions, sorted);
    }

    #[test]
    fn dialect_names_parse_back() {
        for dialect in [Dialect::Ruvector, Dialect::Pgvector] {
            assert_eq!(Dialect::parse(dialect_name(dialect)), Some(dialect));
        }
    }
}
