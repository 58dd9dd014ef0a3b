//! The operand list of `$in` / `$nin`: the values as written, and a hash index of them so that a
//! long list costs one lookup per field instead of a scan.

use std::collections::HashSet;
use std::ops::Deref;

use serde_json::{Number, Value};

use super::Scalar;

/// Lists up to this long are scanned: cheaper than hashing for a handful of values.
const SCAN_UP_TO: usize = 8;

/// The values of an `$in` / `$nin`, in their written order (what the JSON round trip and the SQL
/// evaluator see), with a membership index that agrees exactly with [`Scalar`] equality: numbers
/// compare by value across integer and float representations, strings by bytes.
#[derive(Debug, Clone)]
pub struct ScalarSet {
    values: Vec<Scalar>,
    index: Option<Index>,
}

#[derive(Debug, Clone, Default)]
struct Index {
    null: bool,
    bools: [bool; 2],
    numbers: HashSet<NumberKey>,
    strings: HashSet<String>,
}

/// A number's value, one key per value: integral numbers (integers, and floats with no
/// fraction) as the integer, others as their bits (JSON has no NaN; -0.0 is integral, so 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum NumberKey {
    Integer(i128),
    Fraction(u64),
}

fn number_key(n: &Number) -> Option<NumberKey> {
    if let Some(i) = n.as_i64() {
        return Some(NumberKey::Integer(i.into()));
    }
    if let Some(u) = n.as_u64() {
        return Some(NumberKey::Integer(u.into()));
    }
    let f = n.as_f64()?;
    // Below 2^127 in magnitude an integral f64 converts to i128 exactly.
    if f.fract() == 0.0 && f.abs() < 1.7e38 {
        Some(NumberKey::Integer(f as i128))
    } else {
        Some(NumberKey::Fraction(f.to_bits()))
    }
}

impl ScalarSet {
    pub fn new(values: Vec<Scalar>) -> ScalarSet {
        let index = (values.len() > SCAN_UP_TO).then(|| {
            let mut index = Index::default();
            for value in &values {
                match value {
                    Scalar::Null => index.null = true,
                    Scalar::Bool(b) => index.bools[usize::from(*b)] = true,
                    Scalar::Number(n) => {
                        index.numbers.extend(number_key(n));
                    }
                    Scalar::String(s) => {
                        index.strings.insert(s.clone());
                    }
                }
            }
            index
        });
        ScalarSet { values, index }
    }

    /// Whether `field` (one JSON value, not an array) equals one of the values; `equals` is the
    /// scalar equality the short lists are scanned with.
    pub(super) fn contains(&self, field: &Value, equals: impl Fn(&Value, &Scalar) -> bool) -> bool {
        let Some(index) = &self.index else {
            return self.values.iter().any(|v| equals(field, v));
        };
        match field {
            Value::Null => index.null,
            Value::Bool(b) => index.bools[usize::from(*b)],
            Value::Number(n) => number_key(n).is_some_and(|k| index.numbers.contains(&k)),
            Value::String(s) => index.strings.contains(s.as_str()),
            Value::Array(_) | Value::Object(_) => false,
        }
    }
}

impl Deref for ScalarSet {
    type Target = [Scalar];
    fn deref(&self) -> &[Scalar] {
        &self.values
    }
}

impl From<Vec<Scalar>> for ScalarSet {
    fn from(values: Vec<Scalar>) -> ScalarSet {
        ScalarSet::new(values)
    }
}

impl FromIterator<Scalar> for ScalarSet {
    fn from_iter<I: IntoIterator<Item = Scalar>>(values: I) -> ScalarSet {
        ScalarSet::new(values.into_iter().collect())
    }
}

impl PartialEq for ScalarSet {
    fn eq(&self, other: &ScalarSet) -> bool {
        self.values == other.values
    }
}

impl Eq for ScalarSet {}

impl serde::Serialize for ScalarSet {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.values.serialize(serializer)
    }
}
