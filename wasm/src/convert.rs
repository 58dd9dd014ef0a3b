//! Conversions between JS values and core types, shared by every exported function and class.
//! Each one turns a wrong JS value into a core [`Error`] whose message names the argument, so
//! nothing reaches core that could make it panic.

use js_sys::{Array, Float32Array, Object};
use serde::de::{self, DeserializeOwned};
use serde::Serialize;
use serde_json::Value;
use vecgate_core::filter::Filter;
use vecgate_core::{Error, Result};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

#[wasm_bindgen(typescript_custom_section)]
const TS_COMMON: &'static str = r#"
/** A vector: a Float32Array (copied into wasm memory once per call) or an array of numbers. */
export type VectorInput = Float32Array | number[];
/** Any JSON value. */
export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };
/** An item's metadata: a JSON object (e.g. `{ title, genres, rating, year }`). */
export type Metadata = { [key: string]: JsonValue };
"#;

/// A whole number given as a JS number (a count, `k`, `dims`, an index). wasm-bindgen would
/// wrap `-1` to 4294967295 and truncate `1.5` silently, so integer arguments arrive as `f64`.
pub(crate) fn whole_number(name: &str, value: f64) -> Result<usize> {
    if value >= 0.0 && value.fract() == 0.0 && value <= u32::MAX as f64 {
        Ok(value as usize)
    } else {
        Err(Error::InvalidArgument(format!(
            "{name} must be a whole number from 0 to {}, got {value}",
            u32::MAX
        )))
    }
}

/// An index into `len` items; Err when it is not a whole number below `len`.
pub(crate) fn item_index(value: f64, len: usize) -> Result<usize> {
    let index = whole_number("index", value)?;
    if index < len {
        Ok(index)
    } else {
        Err(Error::InvalidArgument(format!(
            "index {index} is out of range for {len} items"
        )))
    }
}

/// The number of rows of a row-major matrix, or the core error for a zero or ragged width.
pub(crate) fn row_count(len: usize, dims: usize) -> Result<usize> {
    if dims == 0 {
        return Err(Error::InvalidArgument("dims must be at least 1".into()));
    }
    if !len.is_multiple_of(dims) {
        return Err(Error::RaggedMatrix { len, dims });
    }
    Ok(len / dims)
}

/// `undefined` and `null` both mean "not given".
pub(crate) fn is_absent(value: &JsValue) -> bool {
    value.is_undefined() || value.is_null()
}

/// A number option: `None` when absent, an error naming it when it is not a number.
pub(crate) fn optional_number(name: &str, value: &JsValue) -> Result<Option<f64>> {
    if is_absent(value) {
        return Ok(None);
    }
    value
        .as_f64()
        .map(Some)
        .ok_or_else(|| Error::InvalidArgument(format!("{name} must be a number")))
}

/// A required number option.
pub(crate) fn number(name: &str, value: &JsValue) -> Result<f64> {
    optional_number(name, value)?
        .ok_or_else(|| Error::InvalidArgument(format!("{name} must be a number")))
}

/// An optional whole-number option, `default` when absent.
pub(crate) fn optional_whole_number(name: &str, value: &JsValue, default: usize) -> Result<usize> {
    optional_number(name, value)?.map_or(Ok(default), |n| whole_number(name, n))
}

/// One optional number per item (`null` for unknown), e.g. release years.
pub(crate) fn optional_numbers(name: &str, value: &JsValue) -> Result<Option<Vec<Option<f32>>>> {
    if is_absent(value) {
        return Ok(None);
    }
    let Some(array) = value.dyn_ref::<Array>() else {
        return Err(Error::InvalidArgument(format!(
            "{name} must be an array of numbers or nulls"
        )));
    };
    array
        .iter()
        .enumerate()
        .map(|(i, x)| optional_number(&format!("{name}[{i}]"), &x).map(|x| x.map(|x| x as f32)))
        .collect::<Result<_>>()
        .map(Some)
}

/// A vector from a `Float32Array` (one bulk copy) or an array of numbers (checked element by
/// element: `Float32Array.from` would turn `null` into 0 and `"x"` into NaN without a word).
pub(crate) fn vector(name: &str, value: &JsValue) -> Result<Vec<f32>> {
    if let Some(typed) = value.dyn_ref::<Float32Array>() {
        return Ok(typed.to_vec());
    }
    let Some(array) = value.dyn_ref::<Array>() else {
        return Err(Error::InvalidArgument(format!(
            "{name} must be a Float32Array or an array of numbers"
        )));
    };
    array
        .iter()
        .enumerate()
        .map(|(i, x)| {
            x.as_f64()
                .map(|x| x as f32)
                .ok_or_else(|| Error::InvalidArgument(format!("{name}[{i}] is not a number")))
        })
        .collect()
}

/// Deserializes a JS value; `what` names it in the error ("rerank options: missing field …").
/// For a struct, a key it does not have is an error too: serde-wasm-bindgen reads only the known
/// fields of a JS object, so `deny_unknown_fields` alone would let a typo such as `mmr_lambda`
/// pass silently.
pub(crate) fn from_js<T: DeserializeOwned>(what: &str, value: JsValue) -> Result<T> {
    let fields = struct_fields::<T>();
    if let (false, Some(object)) = (fields.is_empty(), value.dyn_ref::<Object>()) {
        for key in Object::keys(object).iter().filter_map(|k| k.as_string()) {
            if !fields.contains(&key.as_str()) {
                return Err(Error::InvalidArgument(format!(
                    "{what}: unknown field `{key}`, expected one of `{}`",
                    fields.join("`, `")
                )));
            }
        }
    }
    serde_wasm_bindgen::from_value(value).map_err(|e| {
        // The serde error is a JS Error; its message alone reads better than "Error: …".
        let error = JsValue::from(e);
        let message = error
            .dyn_ref::<js_sys::Error>()
            .map_or_else(|| format!("{error:?}"), |e| String::from(e.message()));
        Error::InvalidArgument(format!("{what}: {message}"))
    })
}

/// The (renamed) field names of a struct deriving `Deserialize`, or `[]` for any other type:
/// derived impls hand them to `Deserializer::deserialize_struct`, which this one records.
fn struct_fields<T: DeserializeOwned>() -> &'static [&'static str] {
    struct Introspect<'a>(&'a mut &'static [&'static str]);

    impl<'de> de::Deserializer<'de> for Introspect<'_> {
        type Error = de::value::Error;

        fn deserialize_any<V: de::Visitor<'de>>(
            self,
            _: V,
        ) -> std::result::Result<V::Value, Self::Error> {
            Err(de::Error::custom("not a struct"))
        }

        fn deserialize_struct<V: de::Visitor<'de>>(
            self,
            _name: &'static str,
            fields: &'static [&'static str],
            _: V,
        ) -> std::result::Result<V::Value, Self::Error> {
            *self.0 = fields;
            Err(de::Error::custom("fields recorded"))
        }

        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
            option unit unit_struct newtype_struct seq tuple tuple_struct map enum identifier
            ignored_any
        }
    }

    let mut fields: &'static [&'static str] = &[];
    // Always Err: the deserializer only records the field list.
    let _ = T::deserialize(Introspect(&mut fields));
    fields
}

/// A JSON value from JS, through `JSON.stringify` and serde_json's byte parser: the one the binary
/// candidate-set format already needs, so no second JSON deserializer is compiled in.
pub(crate) fn json_from_js(what: &str, value: &JsValue) -> Result<Value> {
    let text = js_sys::JSON::stringify(value)
        .ok()
        .and_then(|text| text.as_string())
        .ok_or_else(|| Error::InvalidArgument(format!("{what} is not representable as JSON")))?;
    serde_json::from_slice(text.as_bytes())
        .map_err(|e| Error::InvalidArgument(format!("{what} is not valid JSON: {e}")))
}

/// A JSON value as a plain JS value, through serde_json's writer (which the binary format needs
/// too) and `JSON.parse`.
pub(crate) fn json_to_js(value: Option<&Value>) -> JsValue {
    value
        .and_then(|value| js_sys::JSON::parse(&value.to_string()).ok())
        .unwrap_or(JsValue::NULL)
}

/// Serializes to plain JS values: objects (not `Map`s) for JSON objects, `null` for `None`.
pub(crate) fn to_js<T: Serialize>(value: &T) -> std::result::Result<JsValue, JsError> {
    Ok(value.serialize(&serde_wasm_bindgen::Serializer::json_compatible())?)
}

/// A filter given as an object, or as JSON text (a JSON string is never a valid filter itself).
pub(crate) fn parse_filter(filter: &JsValue) -> Result<Filter> {
    let value = match filter.as_string() {
        Some(text) => serde_json::from_slice(text.as_bytes()).map_err(|e| Error::Filter {
            path: String::new(),
            message: format!("not valid JSON: {e}"),
        })?,
        None => json_from_js("filter", filter)?,
    };
    Filter::parse(&value)
}
