use proptest::prelude::*;
use serde_json::{json, Number, Value};

use super::{CompareOp, Filter, Scalar, MAX_DEPTH, MAX_KEY_BYTES, MAX_LIST_LEN, MAX_STRING_BYTES};
use crate::Error;

fn toy_story() -> Value {
    json!({
        "title": "Toy Story",
        "genres": ["Comedy"],
        "rating": 8.2,
        "year": 1995,
        "mpaa": "G",
        "director": "John Lasseter",
        "media_type": "movie"
    })
}

fn obscure_show() -> Value {
    json!({
        "title": "Night Shift",
        "genres": [],
        "rating": 6.5,
        "year": 2003,
        "mpaa": "TV-14",
        "director": null,
        "media_type": "tv",
        "stats": {"imdb": {"votes": 1200, "top": ["Drama", "Crime"]}}
    })
}

fn parse(filter: Value) -> Filter {
    Filter::parse(&filter).unwrap_or_else(|e| panic!("{filter} should parse: {e}"))
}

fn hit(filter: Value, doc: &Value) -> bool {
    parse(filter).matches(doc)
}

/// The error's path and message; also checks that the display names the path.
fn parse_error(filter: Value) -> (String, String) {
    match Filter::parse(&filter) {
        Err(error @ Error::Filter { .. }) => {
            let shown = error.to_string();
            let Error::Filter { path, message } = error else {
                unreachable!()
            };
            assert!(shown.contains(&message), "{shown}");
            if !path.is_empty() {
                assert!(shown.contains(&format!("at {path}:")), "{shown}");
            }
            (path, message)
        }
        other => panic!("{filter} should be a filter error, got {other:?}"),
    }
}

fn field(path: &[&str]) -> Vec<String> {
    path.iter().map(|s| s.to_string()).collect()
}

fn number(n: impl Into<Number>) -> Scalar {
    Scalar::Number(n.into())
}

#[test]
fn shorthand_equality_on_every_scalar_type() {
    let doc =
        json!({"media_type": "movie", "year": 1995, "rating": 8.2, "hdr": true, "note": null});
    assert!(hit(json!({"media_type": "movie"}), &doc));
    assert!(!hit(json!({"media_type": "tv"}), &doc));
    assert!(hit(json!({"year": 1995}), &doc));
    assert!(!hit(json!({"year": 1996}), &doc));
    assert!(hit(json!({"rating": 8.2}), &doc));
    assert!(hit(json!({"hdr": true}), &doc));
    assert!(!hit(json!({"hdr": false}), &doc));
    assert!(hit(json!({"note": null}), &doc));
    assert!(!hit(json!({"year": "1995"}), &doc), "types never equal");
    assert!(!hit(json!({"hdr": 1}), &doc), "booleans are not numbers");
}

#[test]
fn integers_and_floats_compare_numerically() {
    let doc = toy_story();
    assert!(hit(json!({"year": 1995.0}), &doc));
    assert!(hit(json!({"year": {"$in": [1994.5, 1995.0]}}), &doc));
    assert!(hit(json!({"rating": {"$gt": 8}}), &doc));
    assert!(!hit(json!({"rating": {"$gt": 9}}), &doc));
    assert!(hit(json!({"year": {"$lt": 1995.5}}), &doc));
    assert!(!hit(json!({"year": {"$lt": 1994.9}}), &doc));
}

#[test]
fn large_integers_compare_exactly() {
    let doc = json!({"id": 9007199254740993_u64, "max": u64::MAX, "neg": -3});
    // 9007199254740993 rounds to 9007199254740992.0 as an f64; it must still compare greater.
    assert!(!hit(json!({"id": 9007199254740992.0}), &doc));
    assert!(hit(json!({"id": {"$gt": 9007199254740992.0}}), &doc));
    assert!(hit(json!({"id": 9007199254740993_u64}), &doc));
    // u64::MAX < 2^64 = 18446744073709551616.0.
    assert!(hit(json!({"max": {"$lt": 18446744073709551616.0}}), &doc));
    assert!(hit(json!({"max": {"$gt": -1}}), &doc));
    assert!(hit(json!({"neg": {"$lt": -2.5}}), &doc));
    assert!(hit(json!({"neg": {"$gt": -3.5}}), &doc));
    assert!(!hit(json!({"neg": {"$gt": -3.0}}), &doc));
    assert!(hit(json!({"neg": {"$gte": -3.0}}), &doc));
    assert!(hit(json!({"neg": {"$lt": 1e300}}), &doc));
    assert!(hit(json!({"neg": {"$gt": -1e300}}), &doc));
}

#[test]
fn not_equal() {
    let doc = toy_story();
    assert!(hit(json!({"mpaa": {"$ne": "R"}}), &doc));
    assert!(!hit(json!({"mpaa": {"$ne": "G"}}), &doc));
    assert!(!hit(json!({"year": {"$ne": 1995.0}}), &doc));
    assert!(
        hit(json!({"year": {"$ne": "1995"}}), &doc),
        "values of different types are not equal"
    );
}

#[test]
fn range_operators_on_numbers_at_the_boundary() {
    let doc = toy_story();
    let cases = [
        ("$lt", 8.2, false),
        ("$lte", 8.2, true),
        ("$gt", 8.2, false),
        ("$gte", 8.2, true),
        ("$lt", 8.3, true),
        ("$lte", 8.1, false),
        ("$gt", 8.1, true),
        ("$gte", 8.3, false),
    ];
    for (op, operand, expected) in cases {
        assert_eq!(
            hit(json!({"rating": {op: operand}}), &doc),
            expected,
            "rating {op} {operand}"
        );
    }
}

#[test]
fn range_operators_on_strings_are_lexicographic() {
    let doc = toy_story();
    assert!(hit(json!({"mpaa": {"$gte": "G"}}), &doc));
    assert!(!hit(json!({"mpaa": {"$gt": "G"}}), &doc));
    assert!(hit(json!({"mpaa": {"$lt": "PG"}}), &doc));
    assert!(
        hit(json!({"title": {"$gt": "Toy"}}), &doc),
        "a prefix sorts first"
    );
    assert!(!hit(json!({"title": {"$lte": "Toy"}}), &doc));
    assert!(hit(json!({"title": {"$gte": "T", "$lt": "U"}}), &doc));
    assert!(
        !hit(json!({"title": {"$gt": "toy"}}), &doc),
        "uppercase sorts first"
    );
}

#[test]
fn ranges_across_types_never_match() {
    let doc = json!({"year": 1995, "title": "Toy Story", "hdr": true, "note": null, "cast": {"lead": "Woody"}});
    for op in ["$lt", "$lte", "$gt", "$gte"] {
        assert!(!hit(json!({"year": {op: "1995"}}), &doc), "{op}");
        assert!(!hit(json!({"title": {op: 5}}), &doc), "{op}");
        assert!(!hit(json!({"hdr": {op: 0}}), &doc), "{op}");
        assert!(!hit(json!({"note": {op: 0}}), &doc), "{op}");
        assert!(!hit(json!({"cast": {op: "A"}}), &doc), "{op}");
    }
}

#[test]
fn in_and_not_in_on_scalar_fields() {
    let doc = toy_story();
    assert!(hit(json!({"mpaa": {"$in": ["G", "PG"]}}), &doc));
    assert!(!hit(json!({"mpaa": {"$in": ["R", "PG-13"]}}), &doc));
    assert!(hit(json!({"mpaa": {"$nin": ["R", "PG-13"]}}), &doc));
    assert!(!hit(json!({"mpaa": {"$nin": ["G"]}}), &doc));
    assert!(hit(json!({"year": {"$in": [1994, 1995, "x", null]}}), &doc));
}

#[test]
fn missing_key_never_matches_any_operator() {
    let doc = toy_story();
    let filters = [
        json!({"budget": 1}),
        json!({"budget": null}),
        json!({"budget": {"$eq": null}}),
        json!({"budget": {"$ne": 1}}),
        json!({"budget": {"$ne": null}}),
        json!({"budget": {"$lt": 1}}),
        json!({"budget": {"$lte": 1}}),
        json!({"budget": {"$gt": 1}}),
        json!({"budget": {"$gte": 1}}),
        json!({"budget": {"$in": [1, null]}}),
        json!({"budget": {"$nin": [1]}}),
        json!({"budget": ["x"]}),
        json!({"title.length": {"$ne": 3}}),
    ];
    for filter in filters {
        assert!(!hit(filter.clone(), &doc), "{filter}");
    }
}

#[test]
fn explicit_null_is_a_value() {
    let show = obscure_show();
    let movie = toy_story();
    assert!(hit(json!({"director": null}), &show));
    assert!(hit(json!({"director": {"$eq": null}}), &show));
    assert!(!hit(json!({"director": {"$ne": null}}), &show));
    assert!(hit(json!({"director": {"$ne": null}}), &movie));
    assert!(!hit(json!({"director": null}), &movie));
    assert!(hit(json!({"director": {"$in": ["Someone", null]}}), &show));
    assert!(hit(json!({"director": {"$nin": ["John Lasseter"]}}), &show));
    assert!(hit(json!({"director": {"$ne": "John Lasseter"}}), &show));
}

#[test]
fn array_fields_use_any_element_semantics() {
    let movie = toy_story();
    let multi = json!({"genres": ["Action", "Comedy", "Drama"], "scores": [3, 7.5]});
    assert!(hit(json!({"genres": "Comedy"}), &movie));
    assert!(hit(json!({"genres": {"$eq": "Drama"}}), &multi));
    assert!(!hit(json!({"genres": "Drama"}), &movie));
    assert!(!hit(json!({"genres": {"$ne": "Comedy"}}), &movie));
    assert!(hit(json!({"genres": {"$ne": "Drama"}}), &movie));
    assert!(!hit(json!({"genres": {"$ne": "Drama"}}), &multi));
    // Bare array = overlap = $in.
    assert!(hit(json!({"genres": ["Comedy", "Drama"]}), &movie));
    assert!(!hit(json!({"genres": ["Drama", "Horror"]}), &movie));
    assert!(hit(json!({"genres": {"$in": ["Horror", "Drama"]}}), &multi));
    assert!(!hit(
        json!({"genres": {"$nin": ["Horror", "Drama"]}}),
        &multi
    ));
    assert!(hit(
        json!({"genres": {"$nin": ["Horror", "Western"]}}),
        &multi
    ));
    // Ranges: some element satisfies the bound.
    assert!(hit(json!({"scores": {"$gt": 7}}), &multi));
    assert!(!hit(json!({"scores": {"$gt": 8}}), &multi));
    assert!(hit(json!({"scores": {"$lt": 4}}), &multi));
    // Several operators on one field are ANDed, each with "any element".
    assert!(hit(json!({"scores": {"$gt": 7, "$lt": 4}}), &multi));
}

#[test]
fn empty_array_field() {
    let show = obscure_show();
    assert!(!hit(json!({"genres": "Comedy"}), &show));
    assert!(!hit(json!({"genres": ["Comedy"]}), &show));
    assert!(!hit(json!({"genres": {"$gte": ""}}), &show));
    assert!(hit(json!({"genres": {"$ne": "Comedy"}}), &show));
    assert!(hit(json!({"genres": {"$nin": ["Comedy"]}}), &show));
}

#[test]
fn nested_arrays_and_objects_are_not_scalars() {
    let doc = json!({"tags": [["a"], {"k": "a"}], "cast": {"lead": "Woody"}});
    assert!(
        !hit(json!({"tags": "a"}), &doc),
        "only one level of any-element"
    );
    assert!(hit(json!({"tags": {"$nin": ["a"]}}), &doc));
    assert!(!hit(json!({"cast": "Woody"}), &doc));
    assert!(hit(json!({"cast": {"$ne": "Woody"}}), &doc));
}

#[test]
fn several_keys_and_operators_are_anded() {
    let movie = toy_story();
    assert!(hit(json!({"media_type": "movie", "year": 1995}), &movie));
    assert!(!hit(json!({"media_type": "movie", "year": 1996}), &movie));
    assert!(hit(json!({"rating": {"$gte": 7, "$lt": 9}}), &movie));
    assert!(!hit(json!({"rating": {"$gte": 7, "$lt": 8}}), &movie));
    assert!(!hit(json!({"rating": {"$gte": 8.5, "$lt": 9}}), &movie));
}

#[test]
fn and_or_nesting() {
    let movie = toy_story();
    let show = obscure_show();
    let filter = parse(json!({
        "$or": [
            {"$and": [{"media_type": "movie"}, {"genres": ["Comedy", "Animation"]}]},
            {"media_type": "tv", "year": {"$gte": 2000}, "$or": [{"rating": {"$gt": 9}}, {"director": null}]}
        ]
    }));
    assert!(filter.matches(&movie));
    assert!(filter.matches(&show));
    assert!(!filter.matches(&json!({"media_type": "movie", "genres": ["Drama"]})));
    assert!(
        !filter.matches(&json!({"media_type": "tv", "year": 2010, "rating": 5, "director": "X"}))
    );
    assert!(filter.matches(&json!({"media_type": "tv", "year": 2010, "rating": 9.5})));

    assert!(hit(json!({"$and": [{"year": 1995}]}), &movie));
    assert!(!hit(
        json!({"$and": [{"year": 1995}, {"mpaa": "R"}]}),
        &movie
    ));
    assert!(hit(json!({"$or": [{"mpaa": "R"}, {"year": 1995}]}), &movie));
    assert!(!hit(
        json!({"$or": [{"mpaa": "R"}, {"year": 1996}]}),
        &movie
    ));
}

#[test]
fn empty_filter_matches_everything() {
    let filter = parse(json!({}));
    assert_eq!(filter, Filter::And(vec![]));
    assert!(filter.matches(&toy_story()));
    assert!(filter.matches(&json!({})));
    assert!(filter.matches(&json!(null)));
    assert!(hit(json!({"$or": [{}]}), &json!({})));
}

#[test]
fn non_object_documents_have_no_keys() {
    for doc in [json!(null), json!(3), json!("movie"), json!(["movie"])] {
        assert!(!hit(json!({"media_type": "movie"}), &doc), "{doc}");
        assert!(!hit(json!({"media_type": {"$ne": "tv"}}), &doc), "{doc}");
    }
}

#[test]
fn dotted_paths_reach_nested_objects() {
    let show = obscure_show();
    let filter = parse(json!({"stats.imdb.votes": {"$gte": 1000}}));
    assert_eq!(
        filter,
        Filter::Compare {
            path: field(&["stats", "imdb", "votes"]),
            op: CompareOp::Gte,
            value: number(1000),
        }
    );
    assert!(filter.matches(&show));
    assert!(!hit(json!({"stats.imdb.votes": {"$gte": 2000}}), &show));
    assert!(hit(json!({"stats.imdb.top": "Crime"}), &show));
    assert!(!hit(json!({"stats.imdb": 1200}), &show));
    assert!(
        !hit(json!({"stats.imdb.votes.x": {"$ne": 1}}), &show),
        "a number has no keys"
    );
    assert!(!hit(json!({"stats.rotten.votes": {"$nin": [1]}}), &show));
    // Arrays are not descended by path segments.
    assert!(!hit(json!({"genres.0": {"$ne": "x"}}), &toy_story()));
}

#[test]
fn hostile_keys_are_plain_keys() {
    let key = "x'); DROP TABLE t;--";
    let filter = parse(json!({key: {"$ne": "y"}}));
    assert_eq!(
        filter,
        Filter::Compare {
            path: field(&[key]),
            op: CompareOp::Ne,
            value: Scalar::String("y".into()),
        }
    );
    assert!(!filter.matches(&toy_story()));
    assert!(filter.matches(&json!({key: "z"})));
    for key in ["\"", "\\", "'; --", "a b", "ключ", "\u{0}", "*", "$x"] {
        let nested = format!("stats.{key}");
        assert!(!hit(
            json!({key.trim_start_matches('$'): 1, nested.clone(): 2}),
            &toy_story()
        ));
        assert!(
            hit(json!({ nested: 2 }), &json!({"stats": {key: 2}})),
            "{key}"
        );
    }
}

#[test]
fn parsed_shapes() {
    assert_eq!(
        parse(json!({"media_type": "movie"})),
        Filter::Compare {
            path: field(&["media_type"]),
            op: CompareOp::Eq,
            value: Scalar::String("movie".into()),
        }
    );
    assert_eq!(
        parse(json!({"genres": ["Comedy", "Drama"]})),
        parse(json!({"genres": {"$in": ["Comedy", "Drama"]}}))
    );
    assert_eq!(
        parse(json!({"genres": {"$nin": ["Horror"]}})),
        Filter::In {
            path: field(&["genres"]),
            values: vec![Scalar::String("Horror".into())].into(),
            negated: true,
        }
    );
    assert_eq!(
        parse(json!({"rating": {"$gte": 7, "$lt": 9}})),
        Filter::And(vec![
            Filter::Compare {
                path: field(&["rating"]),
                op: CompareOp::Gte,
                value: number(7),
            },
            Filter::Compare {
                path: field(&["rating"]),
                op: CompareOp::Lt,
                value: number(9),
            },
        ])
    );
    let group = parse(json!({"$or": [{"a": true}, {"b": null}]}));
    assert_eq!(
        group,
        Filter::Or(vec![
            Filter::Compare {
                path: field(&["a"]),
                op: CompareOp::Eq,
                value: Scalar::Bool(true),
            },
            Filter::Compare {
                path: field(&["b"]),
                op: CompareOp::Eq,
                value: Scalar::Null,
            },
        ])
    );
    assert_eq!(group.depth(), 2);
    assert_eq!(group.node_count(), 3);
}

#[test]
fn error_unknown_operators() {
    let (path, message) = parse_error(json!({"rating": {"$regex": "^8"}}));
    assert_eq!(path, "rating");
    assert!(message.starts_with("unknown operator $regex"), "{message}");
    assert_eq!(
        Filter::parse(&json!({"rating": {"$regex": "^8"}}))
            .unwrap_err()
            .to_string(),
        "invalid filter at rating: unknown operator $regex; \
         expected one of $eq, $ne, $in, $nin, $lt, $lte, $gt, $gte"
    );

    let (path, message) = parse_error(json!({"$nor": [{"a": 1}]}));
    assert_eq!(path, "");
    assert!(message.starts_with("unknown operator $nor"), "{message}");

    let (path, message) = parse_error(json!({"$or": [{"a": 1}, {"b": {"$and": [{"c": 1}]}}]}));
    assert_eq!(path, "$or[1].b");
    assert!(message.starts_with("unknown operator $and"), "{message}");

    let (path, message) = parse_error(json!({"$and": [{"x": 1, "$not": {"y": 1}}]}));
    assert_eq!(path, "$and[0]");
    assert!(message.contains("$not"), "{message}");
}

#[test]
fn error_wrong_operand_types() {
    let (path, message) =
        parse_error(json!({"$and": [{"year": 1995}, {"rating": {"$gte": true}}]}));
    assert_eq!(path, "$and[1].rating.$gte");
    assert_eq!(message, "expected a number or a string, found a boolean");

    let (path, message) = parse_error(json!({"rating": {"$lt": null}}));
    assert_eq!(path, "rating.$lt");
    assert!(message.contains("found null"), "{message}");

    let (path, message) = parse_error(json!({"rating": {"$eq": [1]}}));
    assert_eq!(path, "rating.$eq");
    assert!(message.contains("found an array"), "{message}");

    let (path, message) = parse_error(json!({"rating": {"$ne": {"a": 1}}}));
    assert_eq!(path, "rating.$ne");
    assert!(message.contains("found an object"), "{message}");

    let (path, message) = parse_error(json!({"genres": {"$in": "Comedy"}}));
    assert_eq!(path, "genres.$in");
    assert!(message.contains("non-empty array"), "{message}");

    let (path, message) = parse_error(json!({"genres": {"$nin": ["Comedy", ["Drama"]]}}));
    assert_eq!(path, "genres.$nin[1]");
    assert!(message.contains("found an array"), "{message}");

    let (path, _) = parse_error(json!({"genres": ["Comedy", {"x": 1}]}));
    assert_eq!(path, "genres[1]");
}

#[test]
fn error_empty_lists_and_groups() {
    let (path, message) = parse_error(json!({"genres": {"$in": []}}));
    assert_eq!(path, "genres.$in");
    assert_eq!(message, "$in needs at least one value");

    let (path, message) = parse_error(json!({"genres": []}));
    assert_eq!(path, "genres");
    assert_eq!(message, "$in needs at least one value");

    let (path, message) = parse_error(json!({"$and": []}));
    assert_eq!(path, "$and");
    assert_eq!(message, "$and needs at least one filter");

    let (path, message) = parse_error(json!({"$and": [{"$or": []}]}));
    assert_eq!(path, "$and[0].$or");
    assert_eq!(message, "$or needs at least one filter");

    let (path, message) = parse_error(json!({"$or": {"a": 1}}));
    assert_eq!(path, "$or");
    assert!(message.contains("found an object"), "{message}");

    let (path, message) = parse_error(json!({"rating": {}}));
    assert_eq!(path, "rating");
    assert!(message.starts_with("empty operator object"), "{message}");
}

#[test]
fn error_non_object_filters() {
    for (filter, kind) in [
        (json!([{"a": 1}]), "an array"),
        (json!("media_type"), "a string"),
        (json!(null), "null"),
        (json!(1), "a number"),
    ] {
        let (path, message) = parse_error(filter);
        assert_eq!(path, "");
        assert_eq!(message, format!("expected a filter object, found {kind}"));
    }
    let (path, message) = parse_error(json!({"$or": [{"a": 1}, 5]}));
    assert_eq!(path, "$or[1]");
    assert_eq!(message, "expected a filter object, found a number");

    let error = Filter::parse_str("{\"rating\": ").unwrap_err();
    let Error::Filter { path, message } = error else {
        panic!("{error:?}")
    };
    assert_eq!(path, "");
    assert!(message.starts_with("not valid JSON"), "{message}");
}

#[test]
fn error_nested_objects_need_dotted_keys() {
    let (path, message) = parse_error(json!({"stats": {"imdb": {"votes": 1}}}));
    assert_eq!(path, "stats");
    assert!(
        message.contains("\"imdb\"") && message.contains("dotted key"),
        "{message}"
    );

    let (path, message) = parse_error(json!({"rating": {"$gt": 1, "max": 9}}));
    assert_eq!(path, "rating");
    assert!(message.contains("\"max\""), "{message}");
}

#[test]
fn error_bad_keys() {
    let (path, message) = parse_error(json!({"": 1}));
    assert_eq!(path, "");
    assert_eq!(message, "empty key");

    for key in ["a..b", ".a", "a.", "."] {
        let (path, message) = parse_error(json!({"$or": [{ key: 1 }]}));
        assert_eq!(path, format!("$or[0].{key}"));
        assert!(message.starts_with("empty segment"), "{message}");
    }
}

/// `{"$and": [{"$and": [ ... {"year": 1995} ... ]}]}` with `groups` levels of `$and`.
fn nested_and(groups: usize) -> Value {
    (0..groups).fold(json!({"year": 1995}), |inner, _| json!({"$and": [inner]}))
}

#[test]
fn depth_limit() {
    let deepest = parse(nested_and(MAX_DEPTH - 1));
    assert_eq!(deepest.depth(), MAX_DEPTH);
    assert!(deepest.matches(&toy_story()));

    // Through text: serde_json accepts this nesting (it stops at 128), so the error is ours.
    let text = nested_and(MAX_DEPTH).to_string();
    let error = Filter::parse_str(&text).unwrap_err();
    let Error::Filter { path, message } = error else {
        panic!("{error:?}")
    };
    assert_eq!(message, "filter nests deeper than 32 levels");
    assert!(path.starts_with("$and[0].$and[0]"), "{path}");

    // Implicit groups (several keys, several operators) count as levels too.
    let implicit = (0..MAX_DEPTH - 2).fold(
        json!({"a": 1, "b": {"$gt": 1, "$lt": 3}}),
        |inner, _| json!({"$and": [inner]}),
    );
    let (_, message) = parse_error(implicit);
    assert!(message.contains("deeper than"), "{message}");

    // A `Value` built in code is not limited by serde_json's text parser.
    let (_, message) = parse_error(nested_and(500));
    assert!(message.contains("deeper than"), "{message}");
}

#[test]
fn node_limit() {
    let leaves = |n: usize| -> Vec<Value> { (0..n).map(|i| json!({"year": i})).collect() };
    let largest = parse(json!({ "$or": leaves(1023) }));
    assert_eq!(largest.node_count(), 1024);
    assert!(largest.matches(&json!({"year": 1022})));
    assert!(!largest.matches(&toy_story()));

    let (path, message) = parse_error(json!({ "$or": leaves(1024) }));
    assert_eq!(path, "$or[1023].year");
    assert!(message.contains("more than 1024"), "{message}");

    let empties: Vec<Value> = (0..100_000).map(|_| json!({})).collect();
    let (_, message) = parse_error(json!({ "$and": empties }));
    assert!(message.contains("more than 1024"), "{message}");
}

#[test]
fn key_length_limit() {
    let longest = "k".repeat(MAX_KEY_BYTES);
    assert!(hit(json!({ longest.clone(): 1 }), &json!({ longest: 1 })));
    let too_long = "é".repeat(MAX_KEY_BYTES / 2) + "k";
    let (path, message) = parse_error(json!({"$or": [{ too_long: 1 }]}));
    assert_eq!(path, "$or[0]");
    assert_eq!(message, "key of 257 bytes exceeds the limit of 256 bytes");
}

#[test]
fn list_length_limit() {
    let list = |n: usize| -> Vec<usize> { (0..n).collect() };
    let largest = parse(json!({"year": {"$in": list(MAX_LIST_LEN)}}));
    assert!(!largest.matches(&toy_story()));
    assert!(largest.matches(&json!({"year": 1023})));

    let (path, message) = parse_error(json!({"year": {"$nin": list(MAX_LIST_LEN + 1)}}));
    assert_eq!(path, "year.$nin");
    assert_eq!(message, "$nin has 1025 values; the limit is 1024");
    let (path, _) = parse_error(json!({ "year": list(MAX_LIST_LEN + 1) }));
    assert_eq!(path, "year");
}

#[test]
fn string_length_limit() {
    let longest = "a".repeat(MAX_STRING_BYTES);
    assert!(hit(
        json!({ "title": longest.clone() }),
        &json!({ "title": longest })
    ));
    let too_long = "a".repeat(MAX_STRING_BYTES + 1);
    let (path, message) = parse_error(json!({"title": {"$gt": too_long.clone()}}));
    assert_eq!(path, "title.$gt");
    assert_eq!(
        message,
        "string of 4097 bytes exceeds the limit of 4096 bytes"
    );
    let (path, _) = parse_error(json!({"title": {"$in": ["x", too_long]}}));
    assert_eq!(path, "title.$in[1]");
}

#[test]
fn serializes_to_canonical_json() {
    let rating = |op, value: f64| Filter::Compare {
        path: field(&["rating"]),
        op,
        value: Scalar::Number(Number::from_f64(value).unwrap()),
    };
    let filter = Filter::And(vec![
        Filter::Or(vec![
            Filter::In {
                path: field(&["stats", "imdb", "votes"]),
                values: vec![number(0)].into(),
                negated: true,
            },
            Filter::And(vec![]),
        ]),
        Filter::In {
            path: field(&["genres"]),
            values: vec![Scalar::String("Comedy".into())].into(),
            negated: false,
        },
        Filter::Compare {
            path: field(&["director"]),
            op: CompareOp::Eq,
            value: Scalar::Null,
        },
        Filter::And(vec![
            rating(CompareOp::Gte, 7.0),
            rating(CompareOp::Lt, 9.5),
        ]),
    ]);
    let expected = json!({"$and": [
        {"$or": [{"stats.imdb.votes": {"$nin": [0]}}, {}]},
        {"genres": {"$in": ["Comedy"]}},
        {"director": {"$eq": null}},
        {"$and": [{"rating": {"$gte": 7.0}}, {"rating": {"$lt": 9.5}}]}
    ]});
    assert_eq!(serde_json::to_value(&filter).unwrap(), expected);
    assert_eq!(parse(expected), filter);
    assert_eq!(serde_json::to_string(&Filter::And(vec![])).unwrap(), "{}");
}

#[test]
fn round_trips_through_json() {
    let filters = [
        json!({}),
        json!({"media_type": "movie"}),
        json!({"director": null, "hdr": false, "year": 1995.0, "id": u64::MAX}),
        json!({"genres": ["Comedy", "Drama"], "rating": {"$gte": 7, "$lt": 9}}),
        json!({"$or": [{"$and": [{"a.b": {"$ne": "x"}}]}, {"c": {"$nin": [1, "1", null]}}, {}]}),
        json!({"x'); DROP TABLE t;--": {"$lte": "\u{0}\"\\"}}),
        nested_and(MAX_DEPTH - 1),
    ];
    for json in filters {
        let filter = parse(json);
        let value = serde_json::to_value(&filter).unwrap();
        assert_eq!(parse(value), filter);
        let text = serde_json::to_string(&filter).unwrap();
        assert_eq!(Filter::parse_str(&text).unwrap(), filter);
    }
}

const KEYS: [&str; 4] = ["genres", "rating", "a", "b"];

fn arb_segment() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => prop::sample::select(&KEYS[..]).prop_map(str::to_owned),
        1 => "[^.$][^.]{0,6}",
    ]
}

fn arb_path() -> impl Strategy<Value = Vec<String>> {
    prop::collection::vec(arb_segment(), 1..3)
}

fn arb_number() -> impl Strategy<Value = Number> {
    prop_oneof![
        (-3i64..4).prop_map(Number::from),
        any::<i64>().prop_map(Number::from),
        any::<u64>().prop_map(Number::from),
        (-4.0f64..4.0).prop_filter_map("finite", Number::from_f64),
        any::<f64>().prop_filter_map("finite", Number::from_f64),
    ]
}

fn arb_orderable() -> impl Strategy<Value = Scalar> {
    prop_oneof![
        arb_number().prop_map(Scalar::Number),
        "[a-c]{0,2}|\\PC{0,8}|[\\x00-\\x1f\"\\\\']{0,4}".prop_map(Scalar::String),
    ]
}

fn arb_scalar() -> impl Strategy<Value = Scalar> {
    prop_oneof![
        Just(Scalar::Null),
        any::<bool>().prop_map(Scalar::Bool),
        arb_orderable(),
    ]
}

fn arb_filter() -> impl Strategy<Value = Filter> {
    let compare = prop_oneof![
        (arb_path(), prop::bool::ANY, arb_scalar()).prop_map(|(path, ne, value)| {
            let op = if ne { CompareOp::Ne } else { CompareOp::Eq };
            Filter::Compare { path, op, value }
        }),
        (
            arb_path(),
            prop::sample::select(vec![
                CompareOp::Lt,
                CompareOp::Lte,
                CompareOp::Gt,
                CompareOp::Gte
            ]),
            arb_orderable()
        )
            .prop_map(|(path, op, value)| Filter::Compare { path, op, value }),
    ];
    let membership = (
        arb_path(),
        // Past 8 values the list is hashed: both kinds are generated.
        prop::collection::vec(arb_scalar(), 1..14),
        any::<bool>(),
    )
        .prop_map(|(path, values, negated)| Filter::In {
            path,
            values: values.into(),
            negated,
        });
    prop_oneof![compare, membership].prop_recursive(3, 64, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Filter::And),
            prop::collection::vec(inner, 1..4).prop_map(Filter::Or),
        ]
    })
}

fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        arb_number().prop_map(Value::Number),
        "[a-c]{0,2}|\\PC{0,8}".prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 32, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(arb_segment(), inner, 0..4)
                .prop_map(|map| Value::Object(map.into_iter().collect())),
        ]
    })
}

fn arb_doc() -> impl Strategy<Value = Value> {
    prop_oneof![
        4 => prop::collection::btree_map(arb_segment(), arb_json(), 0..5)
            .prop_map(|map| Value::Object(map.into_iter().collect())),
        1 => arb_json(),
    ]
}

proptest! {
    #[test]
    // Through `Value` only: serde_json's default text parser may be off by one ulp on long
    // floats (exact parsing needs its `float_roundtrip` feature).
    fn generated_filters_round_trip(filter in arb_filter()) {
        let value = serde_json::to_value(&filter).unwrap();
        prop_assert_eq!(Filter::parse(&value).unwrap(), filter);
    }

    #[test]
    fn matches_never_panics_and_empty_filter_always_matches(filter in arb_filter(), doc in arb_doc()) {
        let _ = filter.matches(&doc);
        prop_assert!(Filter::And(vec![]).matches(&doc));
    }

    #[test]
    fn a_hashed_in_list_agrees_with_an_or_of_equalities(
        path in arb_path(),
        values in prop::collection::vec(arb_scalar(), 9..40),
        doc in arb_doc(),
        planted in any::<prop::sample::Index>(),
    ) {
        // Half the time the document holds one of the values, so matches are exercised too.
        let mut doc = doc;
        if planted.index(2) == 0 {
            let value = serde_json::to_value(&values[planted.index(values.len())]).unwrap();
            let mut target = &mut doc;
            for segment in &path {
                if !target.is_object() {
                    *target = json!({});
                }
                target = target.as_object_mut().unwrap().entry(segment.clone()).or_insert(Value::Null);
            }
            *target = value;
        }
        let is_in = Filter::In { path: path.clone(), values: values.clone().into(), negated: false };
        let any_equal = Filter::Or(
            values
                .iter()
                .map(|v| Filter::Compare { path: path.clone(), op: CompareOp::Eq, value: v.clone() })
                .collect(),
        );
        prop_assert_eq!(is_in.matches(&doc), any_equal.matches(&doc));
    }

    #[test]
    fn negations_complement_when_the_key_is_present(
        path in arb_path(),
        values in prop::collection::vec(arb_scalar(), 1..5),
        doc in arb_doc(),
    ) {
        let present = path
            .iter()
            .try_fold(&doc, |current, segment| current.as_object()?.get(segment))
            .is_some();
        let membership = |negated| Filter::In { path: path.clone(), values: values.clone().into(), negated };
        let compare = |op| Filter::Compare { path: path.clone(), op, value: values[0].clone() };
        let (is_in, not_in) = (membership(false).matches(&doc), membership(true).matches(&doc));
        let (eq, ne) = (compare(CompareOp::Eq).matches(&doc), compare(CompareOp::Ne).matches(&doc));
        if present {
            prop_assert_ne!(is_in, not_in);
            prop_assert_ne!(eq, ne);
        } else {
            prop_assert!(!is_in && !not_in && !eq && !ne);
        }
    }
}
