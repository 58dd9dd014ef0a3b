//! Feeds arbitrary text to the filter parser and checks both evaluators on what parses:
//! - the parsed filter serializes to JSON that parses back to the same filter;
//! - it evaluates on sample documents without panicking;
//! - compiled to SQL, every parameter is used and numbered in order, and the SQL text depends
//!   only on the filter's shape: renaming every key and string to a neutral one gives the same
//!   text (up to placeholder numbers), so nothing the user wrote is ever spliced into SQL.
//!
//! Seeds: `fuzz/corpus/filter_parse/`.
#![no_main]

use std::collections::HashMap;

use libfuzzer_sys::fuzz_target;
use serde_json::json;
use vecgate_core::filter::{Filter, Scalar};
use vecgate_edge::sql::filter::compile;

/// Strings the compiler may treat specially keep their value; every other string is replaced
/// one-to-one, so equal strings stay equal (the compiler shares parameters between them).
struct Renamer(HashMap<String, String>);

impl Renamer {
    fn rename(&mut self, s: &str) -> String {
        if s.contains('\0') || s == "media_type" || s == "content_id" {
            return s.to_owned();
        }
        let next = format!("s{}", self.0.len());
        self.0.entry(s.to_owned()).or_insert(next).clone()
    }

    fn path(&mut self, path: &[String]) -> Vec<String> {
        path.iter().map(|s| self.rename(s)).collect()
    }

    fn scalar(&mut self, value: &Scalar) -> Scalar {
        match value {
            Scalar::String(s) => Scalar::String(self.rename(s)),
            other => other.clone(),
        }
    }

    fn filter(&mut self, f: &Filter) -> Filter {
        match f {
            Filter::And(children) => Filter::And(children.iter().map(|c| self.filter(c)).collect()),
            Filter::Or(children) => Filter::Or(children.iter().map(|c| self.filter(c)).collect()),
            Filter::Compare { path, op, value } => Filter::Compare {
                path: self.path(path),
                op: *op,
                value: self.scalar(value),
            },
            Filter::In {
                path,
                values,
                negated,
            } => Filter::In {
                path: self.path(path),
                values: values.iter().map(|v| self.scalar(v)).collect(),
                negated: *negated,
            },
        }
    }
}

/// `sql` with every placeholder number erased: the compiler shares one parameter between equal
/// texts, and renaming can make two texts differ that happened to be equal.
fn without_placeholder_numbers(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut after_dollar = false;
    for c in sql.chars() {
        if after_dollar && c.is_ascii_digit() {
            continue;
        }
        after_dollar = c == '$';
        out.push(c);
    }
    out
}

fn check_placeholders(sql: &str, params: usize) {
    assert!(params <= 65_535, "{params} parameters");
    for n in 1..=params {
        assert!(sql.contains(&format!("${n}::")), "${n} unused in {sql}");
    }
    assert!(!sql.contains(&format!("${}::", params + 1)), "{sql}");
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(filter) = Filter::parse_str(text) else {
        return;
    };
    let reparsed = Filter::parse(&serde_json::to_value(&filter).expect("serializes"))
        .expect("a parsed filter's JSON parses");
    assert_eq!(reparsed, filter);
    let docs = [
        json!({}),
        json!({"media_type": "movie", "rating": 7.5, "year": 1995, "genres": ["Comedy", "Drama"],
               "a": {"b": [1, "x", null, true]}}),
    ];
    for doc in &docs {
        filter.matches(doc);
    }

    let mut params = Vec::new();
    let sql = compile(&filter, &mut params);
    check_placeholders(&sql, params.len());
    let mut renamed_params = Vec::new();
    let renamed_sql = compile(
        &Renamer(HashMap::new()).filter(&filter),
        &mut renamed_params,
    );
    check_placeholders(&renamed_sql, renamed_params.len());
    assert_eq!(
        without_placeholder_numbers(&renamed_sql),
        without_placeholder_numbers(&sql),
        "the SQL text depends on the filter's strings"
    );
});
