//! Conversions between JS values and core types, shared by every exported function and class.
//! Each one turns a wrong JS value into a core [`Error`] whose message names the argument, so
//! nothing reaches core that could make it panic.

use js_sys::{Array, Float32Array, Object, Reflect};
use serde_json::Value;
use vecgate_core::filter::Filter;
use vecgate_core::json::JsonCodec;
use vecgate_core::kernels::FloatText;
use vecgate_core::topk::Scored;
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
            "{name} must be a whole number from 0 to {}, got {}",
            u32::MAX,
            FloatText(value)
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

/// Results per search or rerank when `k` is not given (the DESIGN.md default).
pub(crate) const DEFAULT_K: usize = 10;

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
    array_items(name, value, "an array of numbers or nulls", |i, x| {
        optional_number(&format!("{name}[{i}]"), &x).map(|x| x.map(|x| x as f32))
    })
    .map(Some)
}

/// Each item of a JS array through `item` (given its position); `expected` completes
/// "{name} must be …" when `value` is not an array.
fn array_items<T>(
    name: &str,
    value: &JsValue,
    expected: &str,
    item: impl Fn(usize, JsValue) -> Result<T>,
) -> Result<Vec<T>> {
    let Some(array) = value.dyn_ref::<Array>() else {
        return Err(Error::InvalidArgument(format!("{name} must be {expected}")));
    };
    array.iter().enumerate().map(|(i, x)| item(i, x)).collect()
}

/// A vector from a `Float32Array` (one bulk copy) or an array of numbers (checked element by
/// element: `Float32Array.from` would turn `null` into 0 and `"x"` into NaN without a word).
pub(crate) fn vector(name: &str, value: &JsValue) -> Result<Vec<f32>> {
    if let Some(typed) = value.dyn_ref::<Float32Array>() {
        return Ok(typed.to_vec());
    }
    array_items(
        name,
        value,
        "a Float32Array or an array of numbers",
        |i, x| {
            x.as_f64()
                .map(|x| x as f32)
                .ok_or_else(|| Error::InvalidArgument(format!("{name}[{i}] is not a number")))
        },
    )
}

/// A JS options object whose own keys must all be among `fields`, so that a typo such as
/// `mmr_lambda` or `weights.similarty` is an error instead of being silently ignored. Read by
/// hand (no serde-wasm-bindgen) to keep the .wasm small: wasm/README.md, "Size".
pub(crate) struct Options<'a> {
    what: &'a str,
    object: Object,
}

impl<'a> Options<'a> {
    pub(crate) fn read(what: &'a str, value: &JsValue, fields: &[&str]) -> Result<Options<'a>> {
        let options = Options::any_keys(what, value)?;
        for key in Object::keys(&options.object).iter() {
            let key = key.as_string().unwrap_or_default();
            if !fields.contains(&key.as_str()) {
                return Err(Error::InvalidArgument(format!(
                    "{what}: unknown field `{key}`, expected one of `{}`",
                    fields.join("`, `")
                )));
            }
        }
        Ok(options)
    }

    /// An object whose keys are data (e.g. genre → affinity), so any key is accepted.
    pub(crate) fn any_keys(what: &'a str, value: &JsValue) -> Result<Options<'a>> {
        if !value.is_object() {
            return Err(Error::InvalidArgument(format!("{what} must be an object")));
        }
        let object = value.clone().unchecked_into::<Object>();
        Ok(Options { what, object })
    }

    /// The field's value; `undefined` when absent (or when a getter throws).
    pub(crate) fn get(&self, field: &str) -> JsValue {
        Reflect::get(&self.object, &JsValue::from_str(field)).unwrap_or(JsValue::UNDEFINED)
    }

    /// A field that must be present.
    pub(crate) fn required(&self, field: &str) -> Result<JsValue> {
        let value = self.get(field);
        if is_absent(&value) {
            return Err(Error::InvalidArgument(format!(
                "{}: missing field `{field}`",
                self.what
            )));
        }
        Ok(value)
    }

    /// The own (key, value) pairs, in JS property order.
    pub(crate) fn entries(&self) -> impl Iterator<Item = (String, JsValue)> {
        Object::entries(&self.object).into_iter().map(|entry| {
            let pair = entry.unchecked_into::<Array>();
            (pair.get(0).as_string().unwrap_or_default(), pair.get(1))
        })
    }
}

/// A string option that must be one of `choices`: `None` when absent.
pub(crate) fn optional_choice<'c>(
    name: &str,
    value: &JsValue,
    choices: &[&'c str],
) -> Result<Option<&'c str>> {
    if is_absent(value) {
        return Ok(None);
    }
    let text = value.as_string();
    match choices.iter().find(|c| Some(**c) == text.as_deref()) {
        Some(choice) => Ok(Some(*choice)),
        None => Err(Error::InvalidArgument(format!(
            "{name} must be one of \"{}\", got {}",
            choices.join("\", \""),
            describe(value)
        ))),
    }
}

/// A short description of a JS value for error messages: strings quoted, others as JSON.
fn describe(value: &JsValue) -> String {
    match value.as_string() {
        Some(text) => format!("\"{text}\""),
        None => js_sys::JSON::stringify(value)
            .ok()
            .and_then(|text| text.as_string())
            .unwrap_or_else(|| "a non-JSON value".into()),
    }
}

/// An array of strings, e.g. genres.
pub(crate) fn strings(name: &str, value: &JsValue) -> Result<Vec<String>> {
    array_items(name, value, "an array of strings", |i, x| {
        x.as_string()
            .ok_or_else(|| Error::InvalidArgument(format!("{name}[{i}] is not a string")))
    })
}

/// JSON through the JS engine's `JSON` object, for the binary formats' metadata too
/// (`vecgate_core::json`): serde_json's parser and writer are then not compiled in.
pub(crate) struct JsJson;

/// Nesting deeper than this is refused (serde_json's own limit), before it can exhaust the stack.
const MAX_JSON_DEPTH: usize = 128;

impl JsonCodec for JsJson {
    fn parse(&self, text: &[u8]) -> std::result::Result<Value, String> {
        let text = std::str::from_utf8(text).map_err(|e| e.to_string())?;
        let parsed = js_sys::JSON::parse(text).map_err(|e| {
            e.dyn_ref::<js_sys::Error>()
                .map_or_else(|| "JSON.parse failed".into(), |e| String::from(e.message()))
        })?;
        plain_js_to_json(&parsed, 0)
    }

    fn write(&self, value: &Value) -> String {
        // JSON.stringify of a tree of plain objects, arrays, finite numbers, strings, booleans and
        // nulls cannot fail.
        js_sys::JSON::stringify(&json_to_js(Some(value)))
            .ok()
            .and_then(|text| text.as_string())
            .unwrap_or_default()
    }
}

/// The JSON value of what `JSON.parse` returned (plain objects, arrays and primitives only).
fn plain_js_to_json(value: &JsValue, depth: usize) -> std::result::Result<Value, String> {
    if depth > MAX_JSON_DEPTH {
        return Err(format!("nested deeper than {MAX_JSON_DEPTH} levels"));
    }
    if value.is_null() {
        return Ok(Value::Null);
    }
    if let Some(flag) = value.as_bool() {
        return Ok(Value::Bool(flag));
    }
    if let Some(number) = value.as_f64() {
        return json_number(number).ok_or_else(|| "numbers must be finite".into());
    }
    if let Some(text) = value.as_string() {
        return Ok(Value::String(text));
    }
    if let Some(array) = value.dyn_ref::<Array>() {
        return array
            .iter()
            .map(|item| plain_js_to_json(&item, depth + 1))
            .collect::<std::result::Result<_, _>>()
            .map(Value::Array);
    }
    let object = value.unchecked_ref::<Object>();
    let mut map = serde_json::Map::new();
    for key in Object::keys(object).iter() {
        let field = Reflect::get(object, &key).map_err(|_| "unreadable field".to_string())?;
        let key = key.as_string().unwrap_or_default();
        map.insert(key, plain_js_to_json(&field, depth + 1)?);
    }
    Ok(Value::Object(map))
}

/// A JS number as JSON: whole numbers within 2^53 as integers, as serde_json reads them from text.
fn json_number(number: f64) -> Option<Value> {
    const SAFE: f64 = 9_007_199_254_740_992.0;
    if number.fract() == 0.0 && number.abs() <= SAFE {
        Some(if number >= 0.0 {
            Value::from(number as u64)
        } else {
            Value::from(number as i64)
        })
    } else {
        serde_json::Number::from_f64(number).map(Value::Number)
    }
}

/// A JSON value from JS: what `JSON.stringify` makes of it (so `toJSON`, dropped `undefined`
/// fields and the rest behave as everywhere in JS), read back through [`JsJson`].
pub(crate) fn json_from_js(what: &str, value: &JsValue) -> Result<Value> {
    let text = js_sys::JSON::stringify(value)
        .ok()
        .and_then(|text| text.as_string())
        .ok_or_else(|| Error::InvalidArgument(format!("{what} is not representable as JSON")))?;
    JsJson
        .parse(text.as_bytes())
        .map_err(|e| Error::InvalidArgument(format!("{what} is not valid JSON: {e}")))
}

/// A JSON value as a plain JS value (null for none).
pub(crate) fn json_to_js(value: Option<&Value>) -> JsValue {
    match value {
        None | Some(Value::Null) => JsValue::NULL,
        Some(Value::Bool(flag)) => JsValue::from_bool(*flag),
        Some(Value::Number(number)) => JsValue::from_f64(number.as_f64().unwrap_or(f64::NAN)),
        Some(Value::String(text)) => JsValue::from_str(text),
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| json_to_js(Some(item)))
            .collect::<Array>()
            .into(),
        Some(Value::Object(fields)) => {
            let object = Object::new();
            for (key, field) in fields {
                set_own(&object, key, &json_to_js(Some(field)));
            }
            object.into()
        }
    }
}

/// Sets an own enumerable property, as `JSON.parse` does: a plain assignment of `__proto__`
/// would replace the prototype instead.
fn set_own(object: &Object, key: &str, value: &JsValue) {
    let is_proto = key == "__proto__";
    let key = JsValue::from_str(key);
    if is_proto {
        let descriptor = Object::new();
        for flag in ["writable", "enumerable", "configurable"] {
            let _ = Reflect::set(&descriptor, &JsValue::from_str(flag), &JsValue::TRUE);
        }
        let _ = Reflect::set(&descriptor, &JsValue::from_str("value"), value);
        Object::define_property(object, &key, &descriptor);
    } else {
        // Setting a property on a fresh plain object cannot fail.
        let _ = Reflect::set(object, &key, value);
    }
}

/// A plain JS object with the given fields (built directly instead of through serde, which
/// would compile a serializer in).
pub(crate) fn object(fields: &[(&str, JsValue)]) -> JsValue {
    let object = Object::new();
    for (key, value) in fields {
        set_own(&object, key, value);
    }
    object.into()
}

/// A JS number from an f32 score (exact: every f32 is an f64).
pub(crate) fn number_value(value: f32) -> JsValue {
    JsValue::from_f64(f64::from(value))
}

/// `[{ index, score }]`, best first.
pub(crate) fn scored_to_js(hits: &[Scored]) -> JsValue {
    hits.iter()
        .map(|hit| {
            object(&[
                ("index", JsValue::from_f64(hit.index as f64)),
                ("score", number_value(hit.score)),
            ])
        })
        .collect::<Array>()
        .into()
}

/// A filter given as an object, or as JSON text (a JSON string is never a valid filter itself).
pub(crate) fn parse_filter(filter: &JsValue) -> Result<Filter> {
    let value = match filter.as_string() {
        Some(text) => JsJson.parse(text.as_bytes()).map_err(|e| Error::Filter {
            path: String::new(),
            message: format!("not valid JSON: {e}"),
        })?,
        None => json_from_js("filter", filter)?,
    };
    Filter::parse(&value)
}
