//! The metadata filter language: a MongoDB-like JSON syntax parsed into a typed AST
//! ([`Filter`]), with an in-memory evaluator ([`Filter::matches`]).
//!
//! The same AST is compiled to parameterized SQL by the edge crate and evaluated by the HNSW
//! index during traversal, so it is a plain public data type.
//!
//! # Syntax
//! - A filter is a JSON object; several keys in one object are ANDed, and `{}` matches everything.
//! - `{"media_type": "movie"}` is shorthand for `{"media_type": {"$eq": "movie"}}`.
//! - `{"rating": {"$gte": 7, "$lt": 9}}`: several operators on one field are ANDed.
//! - `{"genres": ["Comedy", "Drama"]}` is shorthand for `$in` (any overlap).
//! - `{"$and": [f, ...]}` and `{"$or": [f, ...]}` take non-empty arrays of filters and nest.
//! - Keys are dotted paths into nested objects: `"a.b"` is `["a", "b"]`. Empty keys and empty
//!   segments are rejected; a key whose literal name contains a dot cannot be addressed, and a
//!   top-level key starting with `$` is always read as an operator.
//!
//! # Semantics
//! - **A missing key never matches**, for every operator including `$ne` and `$nin`:
//!   `{"director": {"$ne": "x"}}` only selects items that have a director. This matches what
//!   the SQL compiler produces naturally (`NULL` comparisons are not true) and keeps "has the
//!   field" explicit. An explicit JSON `null` is a value: `{"$eq": null}` matches it.
//! - Array-valued fields use "any element" semantics: `$eq`, `$in` and the range operators match
//!   if some element matches; `$ne` and `$nin` match if no element does (so `[]` matches them).
//! - Numbers compare numerically and exactly (`7 == 7.0`), strings by code point order.
//!   Values of different types are never equal and never ordered, so `$ne "7"` matches `7`.
//!
//! # Limits
//! User JSON goes straight in, so parsing enforces [`MAX_DEPTH`], [`MAX_NODES`],
//! [`MAX_KEY_BYTES`], [`MAX_LIST_LEN`] and [`MAX_STRING_BYTES`].

mod eval;
mod parse;
mod set;
#[cfg(test)]
mod tests;

pub use set::ScalarSet;

use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::{Number, Value};

/// Maximum depth of the AST ([`Filter::depth`]); the top-level node is at depth 1.
pub const MAX_DEPTH: usize = 32;
/// Maximum number of AST nodes ([`Filter::node_count`]): conditions plus `$and`/`$or` groups.
pub const MAX_NODES: usize = 1024;
/// Maximum length of one (dotted) key, in bytes.
pub const MAX_KEY_BYTES: usize = 256;
/// Maximum number of values in one `$in` / `$nin` list.
pub const MAX_LIST_LEN: usize = 1024;
/// Maximum length of a string operand, in bytes.
pub const MAX_STRING_BYTES: usize = 4096;

/// A parsed filter.
///
/// Invariants that [`Filter::parse`] guarantees and the JSON round trip relies on (keep them
/// when building a filter by hand): `Or` is non-empty; `In::values` is non-empty; every path is
/// non-empty, its segments are non-empty and contain no `.`, and its first segment does not
/// start with `$`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Filter {
    /// Every child matches. `And(vec![])` is the empty filter `{}` and matches everything.
    And(Vec<Filter>),
    /// At least one child matches.
    Or(Vec<Filter>),
    /// `$eq $ne $lt $lte $gt $gte`. Range operators only ever hold a number or a string.
    Compare {
        path: Vec<String>,
        op: CompareOp,
        value: Scalar,
    },
    /// `$in` (`negated: false`) or `$nin` (`negated: true`) against a non-empty list.
    In {
        path: Vec<String>,
        values: ScalarSet,
        negated: bool,
    },
}

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CompareOp {
    Eq,
    Ne,
    Lt,
    Lte,
    Gt,
    Gte,
}

impl CompareOp {
    /// The operator as written in JSON, e.g. `"$gte"`.
    pub fn as_str(self) -> &'static str {
        match self {
            CompareOp::Eq => "$eq",
            CompareOp::Ne => "$ne",
            CompareOp::Lt => "$lt",
            CompareOp::Lte => "$lte",
            CompareOp::Gt => "$gt",
            CompareOp::Gte => "$gte",
        }
    }
}

/// A JSON scalar operand. Numbers keep their JSON representation (integer or float) so large
/// integers stay exact; comparisons are numeric regardless of representation.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(untagged)]
pub enum Scalar {
    Null,
    Bool(bool),
    Number(Number),
    String(String),
}

impl Filter {
    /// Parses a filter from JSON. Errors are [`crate::Error::Filter`] with the location of the
    /// problem, e.g. `$and[1].rating.$gte`.
    pub fn parse(value: &Value) -> crate::Result<Filter> {
        parse::parse(value)
    }

    /// Parses a filter from JSON text; text that is not JSON is an error too.
    pub fn parse_str(json: &str) -> crate::Result<Filter> {
        let value: Value = serde_json::from_str(json).map_err(|e| crate::Error::Filter {
            path: String::new(),
            message: format!("not valid JSON: {e}"),
        })?;
        Filter::parse(&value)
    }

    /// Whether an item's metadata object `doc` satisfies the filter. Never panics; a `doc` that
    /// is not an object has no keys, so only filters without conditions match it.
    pub fn matches(&self, doc: &Value) -> bool {
        eval::matches(self, doc)
    }

    /// Height of the AST: 1 for a single condition or an empty group.
    pub fn depth(&self) -> usize {
        match self {
            Filter::And(children) | Filter::Or(children) => {
                1 + children.iter().map(Filter::depth).max().unwrap_or(0)
            }
            Filter::Compare { .. } | Filter::In { .. } => 1,
        }
    }

    /// Number of AST nodes: conditions plus `$and`/`$or` groups.
    pub fn node_count(&self) -> usize {
        match self {
            Filter::And(children) | Filter::Or(children) => {
                1 + children.iter().map(Filter::node_count).sum::<usize>()
            }
            Filter::Compare { .. } | Filter::In { .. } => 1,
        }
    }
}

/// Canonical JSON: every node is a one-key object (`{"$and": [...]}`, `{"a.b": {"$gte": 7}}`,
/// `{"genres": {"$in": [...]}}`), except `And(vec![])`, which is `{}`.
impl Serialize for Filter {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Filter::And(children) if children.is_empty() => {
                serializer.serialize_map(Some(0))?.end()
            }
            Filter::And(children) => OneEntry("$and", children).serialize(serializer),
            Filter::Or(children) => OneEntry("$or", children).serialize(serializer),
            Filter::Compare { path, op, value } => {
                OneEntry(&path.join("."), &OneEntry(op.as_str(), value)).serialize(serializer)
            }
            Filter::In {
                path,
                values,
                negated,
            } => {
                let op = if *negated { "$nin" } else { "$in" };
                OneEntry(&path.join("."), &OneEntry(op, values)).serialize(serializer)
            }
        }
    }
}

/// A JSON object with a single entry.
struct OneEntry<'a, V>(&'a str, &'a V);

impl<V: Serialize> Serialize for OneEntry<'_, V> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(1))?;
        map.serialize_entry(self.0, self.1)?;
        map.end()
    }
}
