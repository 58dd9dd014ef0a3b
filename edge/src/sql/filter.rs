//! Compiles a [`Filter`] into a SQL boolean expression over a `content_vectors` row with
//! exactly the semantics of [`Filter::matches`].
//!
//! The document a filter sees is the row's `metadata` object with the `media_type` and
//! `content_id` columns added: the path `media_type` reads `to_jsonb(media_type)`, `content_id`
//! reads `to_jsonb(content_id)` (a NULL column is a missing key), and every other path reads
//! `metadata -> 'a' -> 'b'`. The expression names those three columns unqualified.
//!
//! Every key and value is a bind parameter (`$n::text`, cast in SQL); nothing from the filter
//! is spliced into the SQL text. Parameters are numbered after those already in `params`; a
//! condition takes at most 32 (a key path or a long `$in` list is one), so a filter within the
//! parser's 1,024 nodes stays below Postgres's 65,535.
//!
//! How each rule of the in-memory evaluator is kept:
//! - A missing key never matches: a condition is `field IS NOT NULL AND …` or a test that only
//!   a present field passes, and it is TRUE or FALSE, never NULL, so `NOT` and `OR` behave as
//!   in Rust.
//! - Any-element semantics: a JSON array is unnested one level (`jsonb_array_elements`), other
//!   values are tested themselves; `->` on an array yields NULL, so paths descend objects only.
//!   `$eq` and short `$in` lists on metadata compile to containment instead
//!   (`metadata @> '{"k":v}' OR metadata @> '{"k":[v]}'`), which means the same and can use
//!   the GIN index; `media_type` and `content_id` equality use the columns' btree indexes.
//!   The expression assumes `metadata` is NOT NULL, as the schema makes it.
//! - Type-strict comparisons: equality is jsonb equality (never true across JSON types); range
//!   operators first check `jsonb_typeof`.
//! - Numbers compare as jsonb numerics, exactly. The evaluator compares integers exactly and
//!   floats as f64; the stored text of an f64 is its shortest round-trip decimal, which orders
//!   like the f64 itself. A float operand is therefore bound as that shortest decimal, except
//!   when it is integral and within the integer range (|x| ≥ 2^53 is the case where the two
//!   differ): then it is bound as its exact integer value, which is what the evaluator compares
//!   a stored integer with.
//! - Strings order by code point: `COLLATE "C"` compares UTF-8 bytes, which order as code points.
//! - Postgres text cannot hold NUL, and neither can a stored key or string. A key with NUL is
//!   always missing, a string operand with NUL never equals anything, and a range bound with NUL
//!   is replaced by the NUL-free bound that selects the same stored strings.

use std::collections::HashMap;

use serde_json::Number;
use vecgate_core::filter::{CompareOp, Filter, Scalar};

use super::Param;

/// Compiles `filter` into a boolean SQL expression, appending its parameters to `params`.
/// `And(vec![])` (the empty filter) compiles to `TRUE`.
pub fn compile(filter: &Filter, params: &mut Vec<Param>) -> String {
    let mut compiler = Compiler {
        params,
        bound: HashMap::new(),
        aliases: 0,
    };
    compiler.node(filter)
}

/// The field at `path`; `None` when it can never be present (a key containing NUL).
fn field(path: &[String]) -> Option<Field<'_>> {
    if path.iter().any(|segment| segment.contains('\0')) {
        return None;
    }
    Some(match path.split_first() {
        Some((first, [])) if first == "media_type" => Field::MediaType,
        Some((first, [])) if first == "content_id" => Field::ContentId,
        Some((first, rest)) if first == "media_type" => {
            Field::BelowColumn("to_jsonb(media_type)", rest)
        }
        Some((first, rest)) if first == "content_id" => {
            Field::BelowColumn("to_jsonb(content_id)", rest)
        }
        _ => Field::Metadata(path),
    })
}

struct Compiler<'a> {
    params: &'a mut Vec<Param>,
    /// Text already bound by this compilation → its placeholder, so a repeated key or value
    /// takes one parameter.
    bound: HashMap<String, String>,
    aliases: usize,
}

/// What a leaf reads.
enum Field<'p> {
    /// The `media_type` column (btree index).
    MediaType,
    /// The `content_id` column (btree index).
    ContentId,
    /// `metadata` at a path (GIN index, through containment for `$eq` and `$in`).
    Metadata(&'p [String]),
    /// A path below a column, `to_jsonb(column) -> …` (never present, kept exact anyway).
    BelowColumn(&'static str, &'p [String]),
}

/// `$in` lists up to this long compile to GIN-indexable containment tests (two parameters per
/// value); longer ones to one list parameter.
const MAX_CONTAINMENT_VALUES: usize = 16;

impl Compiler<'_> {
    fn node(&mut self, filter: &Filter) -> String {
        match filter {
            Filter::And(children) => self.group(children, " AND ", "TRUE"),
            Filter::Or(children) => self.group(children, " OR ", "FALSE"),
            Filter::Compare { path, op, value } => match field(path) {
                None => "FALSE".to_owned(),
                Some(field) => self.compare(field, *op, value),
            },
            Filter::In {
                path,
                values,
                negated,
            } => match field(path) {
                None => "FALSE".to_owned(),
                Some(field) => self.member(field, values, *negated),
            },
        }
    }

    fn group(&mut self, children: &[Filter], separator: &str, empty: &str) -> String {
        match children {
            [] => empty.to_owned(),
            [only] => self.node(only),
            _ => {
                let parts: Vec<String> = children.iter().map(|child| self.node(child)).collect();
                format!("({})", parts.join(separator))
            }
        }
    }

    fn compare(&mut self, field: Field, op: CompareOp, value: &Scalar) -> String {
        let equality = match op {
            CompareOp::Eq => Some(""),
            CompareOp::Ne => Some("NOT "),
            _ => None,
        };
        match (equality, &field, value) {
            (Some(not), Field::MediaType, Scalar::String(s)) if !s.contains('\0') => {
                let s = self.bind(s.clone());
                return format!("(media_type IS NOT NULL AND {not}media_type = {s}::text)");
            }
            (Some(not), Field::ContentId, Scalar::Number(n)) => {
                if let Some(id) = as_i32(n) {
                    let id = self.bind(id.to_string());
                    return format!(
                        "(content_id IS NOT NULL AND {not}content_id = {id}::text::int)"
                    );
                }
            }
            (Some(not), Field::Metadata(path), value) => {
                if let Some(json) = json_scalar(value) {
                    let contains = self.contains_any(path, &[json]);
                    return self.containment(&field, not, contains);
                }
            }
            _ => {}
        }
        let expression = self.json(&field);
        match op {
            CompareOp::Eq | CompareOp::Ne => {
                let equal = self.equals(value);
                let any = self.any(&expression, &equal);
                self.guarded(&field, equality.unwrap_or_default(), any)
            }
            CompareOp::Lt | CompareOp::Lte | CompareOp::Gt | CompareOp::Gte => {
                match self.ordered(op, value) {
                    None => "FALSE".to_owned(),
                    Some(ordered) => {
                        let any = self.any(&expression, &ordered);
                        self.guarded(&field, "", any)
                    }
                }
            }
        }
    }

    fn member(&mut self, field: Field, values: &[Scalar], negated: bool) -> String {
        let not = if negated { "NOT " } else { "" };
        match field {
            Field::MediaType => {
                let strings = values.iter().filter_map(|v| match v {
                    Scalar::String(s) if !s.contains('\0') => Some(s.as_str()),
                    _ => None,
                });
                let list = self.bind(array_literal(strings));
                format!("(media_type IS NOT NULL AND {not}media_type = ANY({list}::text::text[]))")
            }
            Field::ContentId
                if values
                    .iter()
                    .all(|v| matches!(v, Scalar::Number(n) if as_i32(n).is_some())) =>
            {
                let ids: Vec<String> = values
                    .iter()
                    .filter_map(|v| match v {
                        Scalar::Number(n) => as_i32(n).map(|i| i.to_string()),
                        _ => None,
                    })
                    .collect();
                let list = self.bind(array_literal(ids.iter().map(String::as_str)));
                format!("(content_id IS NOT NULL AND {not}content_id = ANY({list}::text::int[]))")
            }
            Field::Metadata(path) if values.len() <= MAX_CONTAINMENT_VALUES => {
                let json_values: Vec<String> = values.iter().filter_map(json_scalar).collect();
                let contains = self.contains_any(path, &json_values);
                self.containment(&field, not, contains)
            }
            field => {
                let expression = self.json(&field);
                let json_values: Vec<String> = values.iter().filter_map(json_scalar).collect();
                let list = self.bind(format!("[{}]", json_values.join(",")));
                // An array of scalars contains a scalar iff one of its elements equals it.
                let contained = format!(
                    "(jsonb_typeof({{e}}) NOT IN ('object', 'array') AND {list}::text::jsonb @> {{e}})"
                );
                let any = self.any(&expression, &contained);
                self.guarded(&field, not, any)
            }
        }
    }

    /// `condition` (or, with `not`, its negation) for a present field: never NULL.
    fn guarded(&mut self, field: &Field, not: &str, condition: String) -> String {
        let expression = self.json(field);
        format!("({expression} IS NOT NULL AND {not}{condition})")
    }

    /// A containment test implies presence, so unnegated it stands alone and stays indexable.
    fn containment(&mut self, field: &Field, not: &str, contains: String) -> String {
        if not.is_empty() {
            contains
        } else {
            self.guarded(field, not, contains)
        }
    }

    /// `metadata` holds one of `json_values` at `path`, as the value or as an element of an
    /// array there: `metadata @> '{"a":{"b":v}}' OR metadata @> '{"a":{"b":[v]}}'`. Containment
    /// compares scalars exactly like jsonb `=`, and an array contains a scalar only as a direct
    /// element, so this is the any-element equality of the evaluator, and GIN-indexable.
    fn contains_any(&mut self, path: &[String], json_values: &[String]) -> String {
        let mut tests = Vec::with_capacity(json_values.len() * 2);
        for value in json_values {
            for leaf in [value.clone(), format!("[{value}]")] {
                let document = path.iter().rev().fold(leaf, |inner, key| {
                    format!("{{{}:{inner}}}", serde_json::Value::String(key.clone()))
                });
                tests.push(format!("metadata @> {}::text::jsonb", self.bind(document)));
            }
        }
        match tests.len() {
            0 => "FALSE".to_owned(),
            _ => format!("({})", tests.join(" OR ")),
        }
    }

    /// The jsonb expression of a field.
    fn json(&mut self, field: &Field) -> String {
        let (base, path) = match field {
            Field::MediaType => return "to_jsonb(media_type)".to_owned(),
            Field::ContentId => return "to_jsonb(content_id)".to_owned(),
            Field::Metadata(path) => ("metadata", *path),
            Field::BelowColumn(base, path) => (*base, *path),
        };
        let keys = self.bind(array_literal(path.iter().map(String::as_str)));
        let arrows: String = (1..=path.len())
            .map(|i| format!(" -> ({keys}::text::text[])[{i}]"))
            .collect();
        // Parenthesized: it is spliced into `@>`, `=` and `#>>` expressions.
        format!("({base}{arrows})")
    }

    /// A predicate template over `{e}` (one JSON value): equal to `value`.
    fn equals(&mut self, value: &Scalar) -> String {
        match json_scalar(value) {
            Some(json) => format!("{{e}} = {}::text::jsonb", self.bind(json)),
            None => "FALSE".to_owned(),
        }
    }

    /// A predicate template over `{e}`: ordered against `value` by `op`; `None` when nothing
    /// can be (the operand is neither a number nor a string).
    fn ordered(&mut self, op: CompareOp, value: &Scalar) -> Option<String> {
        match value {
            Scalar::Number(n) => {
                let n = self.bind(number_text(n));
                Some(format!(
                    "(jsonb_typeof({{e}}) = 'number' AND {{e}} {} {n}::text::jsonb)",
                    sql_operator(op)
                ))
            }
            Scalar::String(s) => {
                let (op, bound) = nul_free_bound(op, s);
                let s = self.bind(bound.to_owned());
                Some(format!(
                    "(jsonb_typeof({{e}}) = 'string' AND ({{e}} #>> '{{}}') COLLATE \"C\" {} {s}::text)",
                    sql_operator(op)
                ))
            }
            Scalar::Null | Scalar::Bool(_) => None,
        }
    }

    /// `predicate` (a template over `{e}`) holds for `field` or, when `field` is an array, for
    /// one of its elements.
    fn any(&mut self, field: &str, predicate: &str) -> String {
        self.aliases += 1;
        let element = format!("e{}.v", self.aliases);
        format!(
            "CASE WHEN jsonb_typeof({field}) = 'array' THEN EXISTS (SELECT 1 FROM jsonb_array_elements({field}) \
             AS e{n}(v) WHERE {on_element}) ELSE {on_field} END",
            n = self.aliases,
            on_element = predicate.replace("{e}", &element),
            on_field = predicate.replace("{e}", field),
        )
    }

    /// Binds `text` as a parameter and returns its placeholder (`$n`).
    fn bind(&mut self, text: String) -> String {
        if let Some(placeholder) = self.bound.get(&text) {
            return placeholder.clone();
        }
        self.params.push(Some(text.clone()));
        let placeholder = format!("${}", self.params.len());
        self.bound.insert(text, placeholder.clone());
        placeholder
    }
}

fn sql_operator(op: CompareOp) -> &'static str {
    match op {
        CompareOp::Eq => "=",
        CompareOp::Ne => "<>",
        CompareOp::Lt => "<",
        CompareOp::Lte => "<=",
        CompareOp::Gt => ">",
        CompareOp::Gte => ">=",
    }
}

/// A scalar as JSON text for `::jsonb`, or `None` for a string with NUL (which jsonb cannot
/// hold, so nothing stored equals it).
fn json_scalar(value: &Scalar) -> Option<String> {
    match value {
        Scalar::Null => Some("null".to_owned()),
        Scalar::Bool(b) => Some(b.to_string()),
        Scalar::Number(n) => Some(number_text(n)),
        Scalar::String(s) if s.contains('\0') => None,
        Scalar::String(s) => Some(serde_json::Value::String(s.clone()).to_string()),
    }
}

/// The decimal a number operand is compared as (see the module notes on numbers).
fn number_text(n: &Number) -> String {
    const INTEGER_MIN: f64 = -9_223_372_036_854_775_808.0; // i64::MIN
    const INTEGER_END: f64 = 18_446_744_073_709_551_616.0; // u64::MAX + 1
    match n.as_f64() {
        Some(f)
            if !(n.is_i64() || n.is_u64())
                && f.fract() == 0.0
                && (INTEGER_MIN..INTEGER_END).contains(&f) =>
        {
            // Rust prints an integral f64 with precision 0 exactly, digit for digit.
            format!("{f:.0}")
        }
        _ => n.to_string(),
    }
}

/// The value as an `integer` column value, when it is one (`7` and `7.0` alike).
fn as_i32(n: &Number) -> Option<i32> {
    if let Some(i) = n.as_i64() {
        return i32::try_from(i).ok();
    }
    let f = n.as_f64()?;
    (f.fract() == 0.0 && f >= f64::from(i32::MIN) && f <= f64::from(i32::MAX)).then_some(f as i32)
}

/// A range bound without NUL that selects the same NUL-free strings: with `p` the text before
/// the first NUL, a string `t` without NUL is `< s` or `<= s` iff `t <= p`, and `> s` or
/// `>= s` iff `t > p`.
fn nul_free_bound(op: CompareOp, s: &str) -> (CompareOp, &str) {
    match s.find('\0') {
        None => (op, s),
        Some(i) => {
            let op = match op {
                CompareOp::Lt | CompareOp::Lte => CompareOp::Lte,
                _ => CompareOp::Gt,
            };
            (op, &s[..i])
        }
    }
}

/// A Postgres array literal of text elements (`{"a","b\"c"}`), for a `::text[]` parameter.
fn array_literal<'a>(elements: impl Iterator<Item = &'a str>) -> String {
    let mut literal = String::from("{");
    for (i, element) in elements.enumerate() {
        if i > 0 {
            literal.push(',');
        }
        literal.push('"');
        for c in element.chars() {
            if c == '"' || c == '\\' {
                literal.push('\\');
            }
            literal.push(c);
        }
        literal.push('"');
    }
    literal.push('}');
    literal
}

#[cfg(test)]
mod tests {
    use super::*;

    fn compile_json(json: &str) -> (String, Vec<Param>) {
        let filter = Filter::parse_str(json).expect("valid filter");
        let mut params = vec![Some("already there".to_owned())];
        let sql = compile(&filter, &mut params);
        (sql, params)
    }

    #[test]
    fn the_empty_filter_is_true() {
        assert_eq!(compile_json("{}").0, "TRUE");
    }

    #[test]
    fn keys_and_values_are_parameters_numbered_after_existing_ones() {
        let (sql, params) =
            compile_json(r#"{"it's": {"$gte": "x'; DROP TABLE content_vectors; --"}}"#);
        assert!(!sql.contains("DROP"), "{sql}");
        assert!(!sql.contains("it's"), "{sql}");
        assert!(sql.contains("$2::text::text[]"), "{sql}");
        assert!(sql.contains("$3::text"), "{sql}");
        assert!(!sql.contains("$1"), "{sql}");
        assert_eq!(params[1].as_deref(), Some(r#"{"it's"}"#));
        assert_eq!(
            params[2].as_deref(),
            Some("x'; DROP TABLE content_vectors; --")
        );
    }

    #[test]
    fn metadata_equality_is_containment_so_the_gin_index_applies() {
        let (sql, params) = compile_json(r#"{"a.b": {"$in": ["x\"y", 7.0]}}"#);
        assert_eq!(
            sql,
            "(metadata @> $2::text::jsonb OR metadata @> $3::text::jsonb \
             OR metadata @> $4::text::jsonb OR metadata @> $5::text::jsonb)"
        );
        assert_eq!(params[1].as_deref(), Some(r#"{"a":{"b":"x\"y"}}"#));
        assert_eq!(params[2].as_deref(), Some(r#"{"a":{"b":["x\"y"]}}"#));
        assert_eq!(params[3].as_deref(), Some(r#"{"a":{"b":7}}"#));
        assert_eq!(params[4].as_deref(), Some(r#"{"a":{"b":[7]}}"#));
    }

    #[test]
    fn repeated_keys_share_a_parameter() {
        let (_, params) =
            compile_json(r#"{"$or": [{"rating": {"$gt": 7}}, {"rating": {"$lt": 2}}]}"#);
        assert_eq!(params.len(), 4, "{params:?}");
    }

    #[test]
    fn array_literals_escape_quotes_and_backslashes() {
        assert_eq!(
            array_literal(["a", "b\"c", "d\\e", "NULL", ""].into_iter()),
            r#"{"a","b\"c","d\\e","NULL",""}"#
        );
        assert_eq!(array_literal(std::iter::empty()), "{}");
    }

    #[test]
    fn numbers_bind_as_the_decimal_the_evaluator_compares() {
        let text = |json: &str| number_text(&serde_json::from_str::<Number>(json).unwrap());
        assert_eq!(text("7"), "7");
        assert_eq!(text("-9223372036854775808"), "-9223372036854775808");
        assert_eq!(text("18446744073709551615"), "18446744073709551615");
        assert_eq!(text("7.5"), "7.5");
        assert_eq!(text("7.0"), "7");
        assert_eq!(text("0.1"), "0.1");
        assert_eq!(text("9007199254740993.0"), "9007199254740992");
        assert_eq!(text("1152921504606846976.0"), "1152921504606846976");
        assert_eq!(text("1e23"), "1e+23");
    }

    #[test]
    fn column_values_map_to_integers_when_they_are_ones() {
        let n = |json: &str| as_i32(&serde_json::from_str::<Number>(json).unwrap());
        assert_eq!(n("550"), Some(550));
        assert_eq!(n("550.0"), Some(550));
        assert_eq!(n("550.5"), None);
        assert_eq!(n("2147483648"), None);
        assert_eq!(n("-2147483648"), Some(i32::MIN));
    }

    #[test]
    fn nul_bounds_select_the_same_strings() {
        assert_eq!(
            nul_free_bound(CompareOp::Lt, "ab\0c"),
            (CompareOp::Lte, "ab")
        );
        assert_eq!(
            nul_free_bound(CompareOp::Gte, "ab\0c"),
            (CompareOp::Gt, "ab")
        );
        assert_eq!(nul_free_bound(CompareOp::Gt, "abc"), (CompareOp::Gt, "abc"));
    }
}
