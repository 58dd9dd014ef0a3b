//! In-memory evaluation of a [`Filter`] against a metadata object.

use std::cmp::Ordering;

use serde_json::{Number, Value};

use super::{CompareOp, Filter, Scalar};

pub(super) fn matches(filter: &Filter, doc: &Value) -> bool {
    match filter {
        Filter::And(children) => children.iter().all(|child| matches(child, doc)),
        Filter::Or(children) => children.iter().any(|child| matches(child, doc)),
        Filter::Compare { path, op, value } => lookup(doc, path).is_some_and(|field| {
            let equal = || any_element(field, |element| equals(element, value));
            let ordered = |accept: fn(Ordering) -> bool| {
                any_element(field, |element| order(element, value).is_some_and(accept))
            };
            match op {
                CompareOp::Eq => equal(),
                CompareOp::Ne => !equal(),
                CompareOp::Lt => ordered(Ordering::is_lt),
                CompareOp::Lte => ordered(Ordering::is_le),
                CompareOp::Gt => ordered(Ordering::is_gt),
                CompareOp::Gte => ordered(Ordering::is_ge),
            }
        }),
        Filter::In {
            path,
            values,
            negated,
        } => lookup(doc, path).is_some_and(|field| {
            let found = any_element(field, |element| values.contains(element, equals));
            found != *negated
        }),
    }
}

/// The value at a dotted path, descending through objects only. `None` means missing.
fn lookup<'a>(doc: &'a Value, path: &[String]) -> Option<&'a Value> {
    path.iter()
        .try_fold(doc, |current, segment| current.as_object()?.get(segment))
}

/// Arrays match if any element does; other values are tested themselves.
fn any_element(field: &Value, test: impl Fn(&Value) -> bool) -> bool {
    match field {
        Value::Array(elements) => elements.iter().any(test),
        _ => test(field),
    }
}

fn equals(field: &Value, scalar: &Scalar) -> bool {
    match (field, scalar) {
        (Value::Null, Scalar::Null) => true,
        (Value::Bool(a), Scalar::Bool(b)) => a == b,
        (Value::String(a), Scalar::String(b)) => a == b,
        (Value::Number(a), Scalar::Number(b)) => compare_numbers(a, b) == Some(Ordering::Equal),
        _ => false,
    }
}

/// Ordering for numbers and for strings; `None` across types or for non-orderable values.
fn order(field: &Value, scalar: &Scalar) -> Option<Ordering> {
    match (field, scalar) {
        (Value::Number(a), Scalar::Number(b)) => compare_numbers(a, b),
        (Value::String(a), Scalar::String(b)) => Some(a.as_str().cmp(b.as_str())),
        _ => None,
    }
}

/// Exact numeric comparison across JSON integer and float representations, so that
/// 9007199254740993 and 9007199254740992.0 differ even though both round to the same f64.
fn compare_numbers(a: &Number, b: &Number) -> Option<Ordering> {
    match (as_integer(a), as_integer(b)) {
        (Some(x), Some(y)) => Some(x.cmp(&y)),
        (Some(x), None) => Some(compare_integer_float(x, b.as_f64()?)),
        (None, Some(y)) => Some(compare_integer_float(y, a.as_f64()?).reverse()),
        (None, None) => a.as_f64()?.partial_cmp(&b.as_f64()?),
    }
}

fn as_integer(n: &Number) -> Option<i128> {
    n.as_i64()
        .map(i128::from)
        .or_else(|| n.as_u64().map(i128::from))
}

/// `float` comes from a JSON number, so it is never NaN.
fn compare_integer_float(integer: i128, float: f64) -> Ordering {
    let floor = float.floor();
    // Exact for every i64/u64-range floor; larger magnitudes saturate at i128's bounds,
    // which still order correctly against a 64-bit integer.
    match integer.cmp(&(floor as i128)) {
        Ordering::Equal if float > floor => Ordering::Less,
        other => other,
    }
}
