//! JSON → [`Filter`], with located errors and limits against hostile input.

use serde_json::{Map, Value};

use super::{
    CompareOp, Filter, Scalar, MAX_DEPTH, MAX_KEY_BYTES, MAX_LIST_LEN, MAX_NODES, MAX_STRING_BYTES,
};
use crate::{Error, Quoted, Result};

const FIELD_OPERATORS: &str = "$eq, $ne, $in, $nin, $lt, $lte, $gt, $gte";

pub(super) fn parse(value: &Value) -> Result<Filter> {
    Parser { nodes: 0 }.filter_object(value, "", 1)
}

fn error(path: &str, message: impl Into<String>) -> Error {
    Error::Filter {
        path: path.to_owned(),
        message: message.into(),
    }
}

/// `parent.child`, or `child` at the top level.
fn join(parent: &str, child: &str) -> String {
    if parent.is_empty() {
        child.to_owned()
    } else {
        format!("{parent}.{child}")
    }
}

/// "a string", "an array", ... for error messages.
fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Each method takes the error location `path` of the JSON it reads and the AST `level` that
/// the node it builds will sit at (the top level is 1).
struct Parser {
    nodes: usize,
}

impl Parser {
    /// Accounts for one more AST node at `level`. Called before recursing, so hostile nesting
    /// stops at `MAX_DEPTH` instead of exhausting the stack.
    fn add_node(&mut self, path: &str, level: usize) -> Result<()> {
        if level > MAX_DEPTH {
            return Err(error(
                path,
                format!("filter nests deeper than {MAX_DEPTH} levels"),
            ));
        }
        self.nodes += 1;
        if self.nodes > MAX_NODES {
            return Err(error(
                path,
                format!("filter has more than {MAX_NODES} conditions and $and/$or groups"),
            ));
        }
        Ok(())
    }

    /// A filter object: one entry is that condition, several are ANDed.
    fn filter_object(&mut self, value: &Value, path: &str, level: usize) -> Result<Filter> {
        let Value::Object(object) = value else {
            return Err(error(
                path,
                format!("expected a filter object, found {}", kind(value)),
            ));
        };
        if let Some((key, value)) = single_entry(object) {
            return self.entry(key, value, path, level);
        }
        self.add_node(path, level)?;
        let children = object
            .iter()
            .map(|(key, value)| self.entry(key, value, path, level + 1))
            .collect::<Result<_>>()?;
        Ok(Filter::And(children))
    }

    /// One key of a filter object: `$and`, `$or` or a field.
    fn entry(&mut self, key: &str, value: &Value, path: &str, level: usize) -> Result<Filter> {
        match key {
            "$and" | "$or" => self.group(key, value, &join(path, key), level),
            _ if key.starts_with('$') => Err(error(
                path,
                format!("unknown operator {key}; expected $and, $or or a field name"),
            )),
            _ => self.field(key, value, path, level),
        }
    }

    fn group(&mut self, op: &str, value: &Value, path: &str, level: usize) -> Result<Filter> {
        let Value::Array(items) = value else {
            return Err(error(
                path,
                format!(
                    "{op} takes a non-empty array of filter objects, found {}",
                    kind(value)
                ),
            ));
        };
        if items.is_empty() {
            return Err(error(path, format!("{op} needs at least one filter")));
        }
        self.add_node(path, level)?;
        let children = items
            .iter()
            .enumerate()
            .map(|(i, item)| self.filter_object(item, &format!("{path}[{i}]"), level + 1))
            .collect::<Result<_>>()?;
        Ok(if op == "$and" {
            Filter::And(children)
        } else {
            Filter::Or(children)
        })
    }

    /// `key: scalar` (`$eq`), `key: [..]` (`$in`) or `key: {operators}`.
    fn field(&mut self, key: &str, value: &Value, path: &str, level: usize) -> Result<Filter> {
        let segments = field_path(key, path)?;
        let path = join(path, key);
        match value {
            Value::Object(operators) => {
                if let Some((op, operand)) = single_entry(operators) {
                    return self.operator(segments, op, operand, &path, level);
                }
                if operators.is_empty() {
                    return Err(error(
                        &path,
                        format!("empty operator object; expected one of {FIELD_OPERATORS}"),
                    ));
                }
                self.add_node(&path, level)?;
                let children = operators
                    .iter()
                    .map(|(op, operand)| {
                        self.operator(segments.clone(), op, operand, &path, level + 1)
                    })
                    .collect::<Result<_>>()?;
                Ok(Filter::And(children))
            }
            Value::Array(_) => {
                self.add_node(&path, level)?;
                Ok(Filter::In {
                    path: segments,
                    values: list(value, "$in", &path)?.into(),
                    negated: false,
                })
            }
            _ => {
                self.add_node(&path, level)?;
                Ok(Filter::Compare {
                    path: segments,
                    op: CompareOp::Eq,
                    value: scalar(value, &path)?,
                })
            }
        }
    }

    /// One `"$op": operand` entry of field `path`.
    fn operator(
        &mut self,
        segments: Vec<String>,
        op: &str,
        operand: &Value,
        path: &str,
        level: usize,
    ) -> Result<Filter> {
        let compare_op = match op {
            "$eq" => CompareOp::Eq,
            "$ne" => CompareOp::Ne,
            "$lt" => CompareOp::Lt,
            "$lte" => CompareOp::Lte,
            "$gt" => CompareOp::Gt,
            "$gte" => CompareOp::Gte,
            "$in" | "$nin" => {
                let op_path = join(path, op);
                self.add_node(&op_path, level)?;
                return Ok(Filter::In {
                    path: segments,
                    values: list(operand, op, &op_path)?.into(),
                    negated: op == "$nin",
                });
            }
            _ if op.starts_with('$') => {
                return Err(error(
                    path,
                    format!("unknown operator {op}; expected one of {FIELD_OPERATORS}"),
                ))
            }
            _ => {
                return Err(error(
                    path,
                    format!(
                        "expected operators such as $eq or $gt, found key {}; \
                         address nested fields with a dotted key",
                        Quoted(op)
                    ),
                ))
            }
        };
        let op_path = join(path, op);
        self.add_node(&op_path, level)?;
        let value = scalar(operand, &op_path)?;
        let is_range = !matches!(compare_op, CompareOp::Eq | CompareOp::Ne);
        if is_range && !matches!(value, Scalar::Number(_) | Scalar::String(_)) {
            return Err(error(
                &op_path,
                format!("expected a number or a string, found {}", kind(operand)),
            ));
        }
        Ok(Filter::Compare {
            path: segments,
            op: compare_op,
            value,
        })
    }
}

fn single_entry(object: &Map<String, Value>) -> Option<(&str, &Value)> {
    match object.len() {
        1 => object.iter().next().map(|(k, v)| (k.as_str(), v)),
        _ => None,
    }
}

/// Splits a dotted key; `path` is the location of the object holding it.
fn field_path(key: &str, path: &str) -> Result<Vec<String>> {
    if key.len() > MAX_KEY_BYTES {
        return Err(error(
            path,
            format!(
                "key of {} bytes exceeds the limit of {MAX_KEY_BYTES} bytes",
                key.len()
            ),
        ));
    }
    if key.is_empty() {
        return Err(error(path, "empty key"));
    }
    if key.split('.').any(str::is_empty) {
        return Err(error(
            &join(path, key),
            "empty segment in dotted key (leading, trailing or doubled dot)",
        ));
    }
    Ok(key.split('.').map(str::to_owned).collect())
}

fn list(value: &Value, op: &str, path: &str) -> Result<Vec<Scalar>> {
    let Value::Array(items) = value else {
        return Err(error(
            path,
            format!(
                "{op} takes a non-empty array of values, found {}",
                kind(value)
            ),
        ));
    };
    if items.is_empty() {
        return Err(error(path, format!("{op} needs at least one value")));
    }
    if items.len() > MAX_LIST_LEN {
        return Err(error(
            path,
            format!(
                "{op} has {} values; the limit is {MAX_LIST_LEN}",
                items.len()
            ),
        ));
    }
    items
        .iter()
        .enumerate()
        .map(|(i, item)| scalar(item, &format!("{path}[{i}]")))
        .collect()
}

fn scalar(value: &Value, path: &str) -> Result<Scalar> {
    match value {
        Value::Null => Ok(Scalar::Null),
        Value::Bool(b) => Ok(Scalar::Bool(*b)),
        // Only reachable with serde_json's arbitrary_precision, which keeps literals like 1e400.
        // The message does not print the number: `{n}` would link serde_json's float writer into
        // the npm package's .wasm (about 2 KB) for a branch it never takes.
        Value::Number(n) if n.as_f64().is_none() => Err(error(
            path,
            "number is outside the range of a 64-bit float".to_owned(),
        )),
        Value::Number(n) => Ok(Scalar::Number(n.clone())),
        Value::String(s) if s.len() > MAX_STRING_BYTES => Err(error(
            path,
            format!(
                "string of {} bytes exceeds the limit of {MAX_STRING_BYTES} bytes",
                s.len()
            ),
        )),
        Value::String(s) => Ok(Scalar::String(s.clone())),
        Value::Array(_) | Value::Object(_) => Err(error(
            path,
            format!(
                "expected a string, number, boolean or null, found {}",
                kind(value)
            ),
        )),
    }
}
