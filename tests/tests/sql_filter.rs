//! The filter → SQL compiler against a real Postgres: for every filter, the rows the compiled
//! SQL selects are exactly the rows whose document `Filter::matches`.
//!
//! The document of a row is its `metadata` as Postgres stores it (read back as text), with the
//! `media_type` column and the `content_id` column (when not NULL) added, which is what the
//! compiler's SQL sees.

use serde_json::{json, Map, Number, Value};
use vecgate_core::filter::{CompareOp, Filter, Scalar};
use vecgate_edge::native::pg::PgClient;
use vecgate_edge::sql::{filter::compile, Param, Route, SqlClient};
use vecgate_tests::PgCluster;

const DOCS: usize = 200;

/// Strings chosen to sit next to each other in code point order, to be unicode, and to be
/// hostile as SQL.
const STRINGS: &[&str] = &[
    "Action",
    "Comedy",
    "Drama",
    "action",
    "Zorro",
    "",
    "é",
    "e\u{301}",
    "中文",
    "😀",
    "ÄÖÜ",
    "a'b",
    "a\"b",
    "back\\slash",
    "'; DROP TABLE content_vectors; --",
    "$1",
    "7",
    "null",
    "true",
    "{}",
    "[]",
    "tab\there",
];

/// Numbers that are equal or adjacent across representations (JSON text).
const NUMBERS: &[&str] = &[
    "0",
    "-0.0",
    "7",
    "7.0",
    "7.5",
    "-3",
    "0.1",
    "0.30000000000000004",
    "0.3",
    "1e-7",
    "1999",
    "2024",
    "9007199254740992",
    "9007199254740993",
    "9007199254740992.0",
    "9007199254740994.0",
    "18446744073709551615",
    "-9223372036854775808",
    "1e20",
    "123456.789",
];

/// The keys the documents use (and filters address); some are hostile or unicode.
const KEYS: &[&str] = &[
    "genres",
    "rating",
    "year",
    "title",
    "director",
    "flags",
    "mixed",
    "big",
    "it's",
    "'; DROP TABLE content_vectors; --",
    "$1",
    "back\\slash",
    "emoji😀",
    "media_type",
    "content_id",
];

/// A seeded SplitMix64, so a failure reproduces.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

fn number(text: &str) -> Number {
    serde_json::from_str(text).expect("number literal")
}

fn random_scalar_value(rng: &mut Rng) -> Value {
    match rng.below(10) {
        0 => Value::Null,
        1 => Value::Bool(rng.chance(50)),
        2..=5 => Value::Number(number(rng.pick::<&str>(NUMBERS))),
        _ => Value::String((*rng.pick(STRINGS)).to_owned()),
    }
}

/// A value for a document field: mostly scalars, sometimes arrays (also nested and mixed) or
/// objects.
fn random_field_value(rng: &mut Rng, depth: usize) -> Value {
    match rng.below(10) {
        0..=5 => random_scalar_value(rng),
        6 | 7 => {
            let len = rng.below(4);
            Value::Array(
                (0..len)
                    .map(|_| {
                        if depth < 2 && rng.chance(15) {
                            random_field_value(rng, depth + 1)
                        } else {
                            random_scalar_value(rng)
                        }
                    })
                    .collect(),
            )
        }
        _ if depth < 2 => {
            let mut object = Map::new();
            for _ in 0..rng.below(3) {
                object.insert(
                    (*rng.pick(&["a", "b", "genres", "it's"])).to_owned(),
                    random_field_value(rng, depth + 1),
                );
            }
            Value::Object(object)
        }
        _ => random_scalar_value(rng),
    }
}

struct Doc {
    id: String,
    content_id: Option<i32>,
    media_type: &'static str,
    metadata: Value,
}

fn generate_docs(rng: &mut Rng) -> Vec<Doc> {
    (0..DOCS)
        .map(|i| {
            let mut metadata = Map::new();
            for key in KEYS {
                if rng.chance(55) {
                    metadata.insert((*key).to_owned(), random_field_value(rng, 0));
                }
            }
            // Realistic fields, mostly well typed, so range filters select real subsets.
            if rng.chance(80) {
                let genres: Vec<Value> = (0..rng.below(4))
                    .map(|_| json!(rng.pick(&STRINGS[..6])))
                    .collect();
                metadata.insert("genres".into(), Value::Array(genres));
            }
            if rng.chance(80) {
                metadata.insert("year".into(), json!(1950 + rng.below(76)));
            }
            if rng.chance(80) {
                let rating = rng.below(101) as f64 / 10.0;
                metadata.insert("rating".into(), json!(rating));
            }
            Doc {
                id: format!("item-{i:03}"),
                content_id: (!rng.chance(10)).then(|| rng.below(60) as i32 - 5),
                media_type: if rng.chance(60) { "movie" } else { "tv" },
                metadata: Value::Object(metadata),
            }
        })
        .collect()
}

/// A database with a `content_vectors` table holding the documents, and the documents as
/// Postgres returns them.
struct Fixture {
    cluster: PgCluster,
    client: PgClient,
    docs: Vec<(String, Value)>,
}

impl Fixture {
    async fn new(seed: u64) -> Fixture {
        Fixture::on(PgCluster::start(), seed).await
    }

    async fn on(cluster: PgCluster, seed: u64) -> Fixture {
        let client = PgClient::new(&cluster.url(), &[]).expect("client");
        client
            .batch(
                "CREATE TABLE content_vectors (id text PRIMARY KEY, content_id int, \
                 media_type text NOT NULL, metadata jsonb NOT NULL)",
            )
            .await
            .expect("create table");
        let mut rng = Rng(seed);
        for doc in generate_docs(&mut rng) {
            client
                .query(
                    Route::Write,
                    "INSERT INTO content_vectors (id, content_id, media_type, metadata) \
                     VALUES ($1::text, $2::text::int, $3::text, $4::text::jsonb)",
                    &[
                        Some(doc.id.clone()),
                        doc.content_id.map(|c| c.to_string()),
                        Some(doc.media_type.to_owned()),
                        Some(doc.metadata.to_string()),
                    ],
                )
                .await
                .unwrap_or_else(|e| panic!("insert {}: {e}\n{}", doc.id, doc.metadata));
        }
        let docs = read_documents(&client).await;
        assert_eq!(docs.len(), DOCS);
        Fixture {
            cluster,
            client,
            docs,
        }
    }

    /// Compiles `filter`, runs it, and compares the ids with the evaluator's.
    async fn check(&self, filter: &Filter) -> usize {
        let mut params: Vec<Param> = vec![Some("unrelated".to_owned())];
        let condition = compile(filter, &mut params);
        let sql = format!(
            "SELECT id FROM content_vectors WHERE $1::text IS NOT NULL AND {condition} ORDER BY id"
        );
        let rows = self
            .client
            .query(Route::Read, &sql, &params)
            .await
            .unwrap_or_else(|e| {
                panic!(
                    "filter {}\ncompiled to {sql}\nparams {params:?}\nfailed: {e}",
                    json(filter)
                )
            });
        let got: Vec<String> = rows
            .into_iter()
            .filter_map(|r| r.into_iter().next().flatten())
            .collect();
        let expected: Vec<String> = self
            .docs
            .iter()
            .filter(|(_, doc)| filter.matches(doc))
            .map(|(id, _)| id.clone())
            .collect();
        if got != expected {
            let differing: Vec<String> = self
                .docs
                .iter()
                .filter(|(id, _)| got.contains(id) != expected.contains(id))
                .take(3)
                .map(|(id, doc)| format!("{id} (evaluator: {}): {doc}", expected.contains(id)))
                .collect();
            panic!(
                "filter {}\ncompiled to {sql}\nparams {params:?}\nSQL selected {} rows, the evaluator {}; differing docs:\n{}",
                json(filter),
                got.len(),
                expected.len(),
                differing.join("\n")
            );
        }
        got.len()
    }
}

fn json(filter: &Filter) -> String {
    serde_json::to_string(filter).unwrap_or_default()
}

async fn read_documents(client: &PgClient) -> Vec<(String, Value)> {
    let rows = client
        .query(
            Route::Read,
            "SELECT id, metadata::text, media_type, content_id::text FROM content_vectors ORDER BY id",
            &[],
        )
        .await
        .expect("read back");
    rows.into_iter()
        .map(|row| {
            let text = |i: usize| row[i].clone();
            let id = text(0).expect("id");
            let mut doc: Map<String, Value> =
                match serde_json::from_str(&text(1).expect("metadata")) {
                    Ok(Value::Object(map)) => map,
                    other => panic!("metadata of {id} is not an object: {other:?}"),
                };
            doc.insert(
                "media_type".into(),
                Value::String(text(2).expect("media_type")),
            );
            // The column wins over a metadata key of the same name; a NULL column is missing.
            match text(3) {
                Some(content_id) => doc.insert(
                    "content_id".into(),
                    json!(content_id.parse::<i64>().expect("int")),
                ),
                None => doc.remove("content_id"),
            };
            (id, Value::Object(doc))
        })
        .collect()
}

async fn table_is_intact(client: &PgClient) {
    let rows = client
        .query(
            Route::Read,
            "SELECT count(*)::text FROM content_vectors",
            &[],
        )
        .await
        .expect("the table still exists");
    assert_eq!(rows[0][0].as_deref(), Some(DOCS.to_string().as_str()));
}

#[tokio::test]
async fn hand_written_filters_select_what_the_evaluator_matches() {
    let fixture = Fixture::new(7).await;
    let filters = [
        r#"{}"#,
        r#"{"media_type": "movie"}"#,
        r#"{"media_type": {"$ne": "movie"}}"#,
        r#"{"media_type": {"$in": ["tv", 1, null]}}"#,
        r#"{"media_type": {"$nin": ["tv"]}}"#,
        r#"{"media_type": {"$nin": [7]}}"#,
        r#"{"media_type": {"$eq": 1}}"#,
        r#"{"media_type": {"$gt": "movie"}}"#,
        r#"{"media_type.x": {"$ne": 1}}"#,
        r#"{"content_id": 7}"#,
        r#"{"content_id": 7.0}"#,
        r#"{"content_id": 7.5}"#,
        r#"{"content_id": "7"}"#,
        r#"{"content_id": {"$ne": 7}}"#,
        r#"{"content_id": {"$in": [1, 2, 3.0, 4000000000]}}"#,
        r#"{"content_id": {"$in": [1, 2, 3]}}"#,
        r#"{"content_id": {"$nin": [1, 2, 3]}}"#,
        r#"{"content_id": {"$gte": 10, "$lt": 20}}"#,
        r#"{"genres": "Comedy"}"#,
        r#"{"genres": ["Comedy", "Drama"]}"#,
        r#"{"genres": {"$nin": ["Comedy", "Drama"]}}"#,
        r#"{"genres": {"$ne": "Comedy"}}"#,
        r#"{"genres": {"$eq": ""}}"#,
        r#"{"genres": {"$gt": "Comedy"}}"#,
        r#"{"genres": {"$lt": "a"}}"#,
        r#"{"genres": {"$lte": "Action", "$gte": "Action"}}"#,
        r#"{"rating": {"$gte": 7, "$lt": 9}}"#,
        r#"{"rating": {"$gt": 7.5}}"#,
        r#"{"rating": {"$lte": "7"}}"#,
        r#"{"rating": 7}"#,
        r#"{"rating": {"$in": [7, 7.5, "7"]}}"#,
        r#"{"year": {"$gte": 1990, "$lte": 1999}}"#,
        r#"{"year": {"$gt": 2024.5}}"#,
        r#"{"year": {"$nin": [1999, 2000]}}"#,
        r#"{"director": null}"#,
        r#"{"director": {"$ne": null}}"#,
        r#"{"director": {"$in": [null, "a'b"]}}"#,
        r#"{"title": {"$gt": "Zorro"}}"#,
        r#"{"title": {"$lt": "é"}}"#,
        r#"{"title": {"$gte": "😀"}}"#,
        r#"{"title": {"$lt": ""}}"#,
        r#"{"title": {"$gte": ""}}"#,
        r#"{"title": "中文"}"#,
        r#"{"flags": true}"#,
        r#"{"flags": {"$ne": false}}"#,
        r#"{"mixed": {"$eq": "1"}}"#,
        r#"{"mixed": {"$gt": 0}}"#,
        r#"{"mixed": {"$in": [true, null]}}"#,
        r#"{"big": 9007199254740993}"#,
        r#"{"big": 9007199254740992.0}"#,
        r#"{"big": {"$gt": 9007199254740992.0}}"#,
        r#"{"big": {"$lt": 9007199254740993}}"#,
        r#"{"big": {"$gte": 18446744073709551615}}"#,
        r#"{"big": {"$lte": -9223372036854775808}}"#,
        r#"{"big": 0.30000000000000004}"#,
        r#"{"big": {"$gt": 0.3}}"#,
        r#"{"big": 1e20}"#,
        r#"{"big": {"$gte": 100000000000000000000}}"#,
        r#"{"big": 0}"#,
        r#"{"big": -0.0}"#,
        r#"{"big": 1e-7}"#,
        r#"{"mixed.a": {"$ne": 1}}"#,
        r#"{"it's": {"$ne": "x"}}"#,
        r#"{"it's.a": {"$gte": 0}}"#,
        r#"{"emoji😀": {"$in": ["😀", "é"]}}"#,
        r#"{"missing": {"$ne": 1}}"#,
        r#"{"missing": {"$nin": [1]}}"#,
        r#"{"$or": [{"media_type": "tv"}, {"rating": {"$gte": 8}}]}"#,
        r#"{"$and": [{"media_type": "movie"}, {"$or": [{"genres": "Drama"}, {"year": {"$lt": 1970}}]}]}"#,
        r#"{"$or": [{"missing": 1}, {"genres": {"$nin": ["Action"]}}]}"#,
    ];
    // Lists longer than the compiler's containment limit take the one-parameter path.
    let long_genres: Vec<&str> = STRINGS.iter().copied().chain(["x"; 4]).collect();
    let long_numbers: Vec<Value> = NUMBERS.iter().map(|n| Value::Number(number(n))).collect();
    let long_lists = [
        json!({"genres": {"$in": long_genres}}).to_string(),
        json!({"genres": {"$nin": long_genres}}).to_string(),
        json!({"big": {"$in": long_numbers}}).to_string(),
        json!({"rating": {"$nin": long_numbers}}).to_string(),
    ];
    let filters: Vec<&str> = filters
        .into_iter()
        .chain(long_lists.iter().map(String::as_str))
        .collect();
    let mut matched_some = 0;
    for &text in &filters {
        let filter = Filter::parse_str(text).unwrap_or_else(|e| panic!("{text}: {e}"));
        let n = fixture.check(&filter).await;
        if n > 0 && n < DOCS {
            matched_some += 1;
        }
    }
    // The documents must make the filters selective, or the comparison proves little.
    assert!(
        matched_some >= filters.len() * 3 / 4,
        "only {matched_some} filters were selective"
    );
}

#[tokio::test]
async fn random_filters_select_what_the_evaluator_matches() {
    random_filters_on(Fixture::new(11).await).await;
}

/// The same on the native pgvector server's PostgreSQL 16 (jsonb operators, planner).
#[tokio::test]
async fn random_filters_select_what_the_evaluator_matches_on_postgres_16() {
    random_filters_on(Fixture::on(PgCluster::start_pgvector(), 11).await).await;
}

async fn random_filters_on(fixture: Fixture) {
    let mut rng = Rng(0x5EED);
    let mut selective = 0;
    let total = 400;
    for _ in 0..total {
        let filter = random_filter(&mut rng, 0);
        // Only filters the parser could produce: the compiler may rely on its invariants.
        assert_eq!(
            Filter::parse(&serde_json::to_value(&filter).unwrap()).as_ref(),
            Ok(&filter)
        );
        let n = fixture.check(&filter).await;
        if n > 0 && n < DOCS {
            selective += 1;
        }
    }
    assert!(
        selective >= total / 3,
        "only {selective} of {total} random filters were selective"
    );
}

fn random_path(rng: &mut Rng) -> Vec<String> {
    match rng.below(10) {
        0 => vec!["missing".into()],
        1 => vec![
            (*rng.pick(&["mixed", "it's", "big"])).into(),
            (*rng.pick(&["a", "b"])).into(),
        ],
        2 => vec!["media_type".into()],
        3 => vec!["content_id".into()],
        // A first segment starting with `$` would be read as an operator.
        4 => vec![
            (*rng.pick(&["it's", "mixed"])).into(),
            (*rng.pick(&["$1", "genres"])).into(),
        ],
        _ => vec![(*rng.pick(&KEYS[..13])).trim_start_matches('$').into()],
    }
}

fn random_operand(rng: &mut Rng, path: &[String]) -> Scalar {
    match (path[0].as_str(), rng.below(10)) {
        ("media_type", 0..=6) => Scalar::String((*rng.pick(&["movie", "tv"])).into()),
        ("content_id", 0..=6) => Scalar::Number(Number::from(rng.below(60) as i64 - 5)),
        ("year", 0..=6) => Scalar::Number(Number::from(1950 + rng.below(76) as i64)),
        ("rating", 0..=6) => {
            Scalar::Number(Number::from_f64(rng.below(101) as f64 / 10.0).unwrap())
        }
        ("genres", 0..=6) => Scalar::String((*rng.pick(&STRINGS[..6])).into()),
        _ => match random_scalar_value(rng) {
            Value::Null => Scalar::Null,
            Value::Bool(b) => Scalar::Bool(b),
            Value::Number(n) => Scalar::Number(n),
            Value::String(s) => Scalar::String(s),
            _ => unreachable!("random_scalar_value returns scalars"),
        },
    }
}

fn random_filter(rng: &mut Rng, depth: usize) -> Filter {
    let kind = if depth >= 3 {
        2 + rng.below(3)
    } else {
        rng.below(6)
    };
    match kind {
        0 => Filter::And(
            (0..rng.below(4))
                .map(|_| random_filter(rng, depth + 1))
                .collect(),
        ),
        1 => Filter::Or(
            (0..1 + rng.below(3))
                .map(|_| random_filter(rng, depth + 1))
                .collect(),
        ),
        2 | 5 => {
            let path = random_path(rng);
            let op = *rng.pick(&[
                CompareOp::Eq,
                CompareOp::Ne,
                CompareOp::Lt,
                CompareOp::Lte,
                CompareOp::Gt,
                CompareOp::Gte,
            ]);
            let mut value = random_operand(rng, &path);
            if !matches!(op, CompareOp::Eq | CompareOp::Ne)
                && !matches!(value, Scalar::Number(_) | Scalar::String(_))
            {
                value = Scalar::String("M".into());
            }
            Filter::Compare { path, op, value }
        }
        _ => {
            let path = random_path(rng);
            let values = (0..1 + rng.below(4))
                .map(|_| random_operand(rng, &path))
                .collect();
            Filter::In {
                path,
                values,
                negated: rng.chance(40),
            }
        }
    }
}

#[tokio::test]
async fn injection_attempts_in_keys_and_values_are_harmless() {
    let fixture = Fixture::new(13).await;
    let hostile = [
        "'; DROP TABLE content_vectors; --",
        "\"; DROP TABLE content_vectors; --",
        "$1",
        "$2::text",
        "1) OR (1=1",
        "' OR '1'='1",
        "back\\slash",
        "\\'",
        "a\"b",
        "{\"a\",\"b\"}",
        "}{",
        "NULL",
        "é中文😀",
        "$$",
        "*/ SELECT 1 /*",
    ];
    for text in hostile {
        let key = text.trim_start_matches('$');
        let key = if key.is_empty() || key.contains('.') {
            "k"
        } else {
            key
        };
        let candidates = [
            json!({ key: {"$ne": text} }),
            json!({ key: text }),
            json!({ "title": text }),
            json!({ "title": {"$lt": text} }),
            json!({ "genres": {"$in": [text, "Drama"]} }),
            json!({ "media_type": {"$in": [text]} }),
            json!({ format!("{key}.{key}"): {"$gte": text} }),
        ];
        for value in candidates {
            let filter = Filter::parse(&value).unwrap_or_else(|e| panic!("{value}: {e}"));
            fixture.check(&filter).await;
        }
    }
    // Documents whose keys are hostile are matched by those keys.
    for key in [
        "it's",
        "'; DROP TABLE content_vectors; --",
        "$1",
        "back\\slash",
        "emoji😀",
    ] {
        let filter = Filter::Compare {
            path: vec![key.to_owned()],
            op: CompareOp::Ne,
            value: Scalar::String("no such value".into()),
        };
        assert!(
            fixture.check(&filter).await > 0,
            "key {key:?} matched nothing"
        );
    }
    // NUL cannot reach Postgres text; the compiler keeps the evaluator's answer anyway.
    for (path, op, value) in [
        ("title", CompareOp::Eq, "a\0b"),
        ("title", CompareOp::Ne, "a\0b"),
        ("title", CompareOp::Lt, "Drama\0"),
        ("title", CompareOp::Lte, "Drama\0x"),
        ("title", CompareOp::Gt, "Drama\0"),
        ("title", CompareOp::Gte, "\0"),
        ("media_type", CompareOp::Eq, "movie\0"),
        ("media_type", CompareOp::Ne, "movie\0"),
        ("ti\0tle", CompareOp::Ne, "x"),
    ] {
        fixture
            .check(&Filter::Compare {
                path: vec![path.to_owned()],
                op,
                value: Scalar::String(value.to_owned()),
            })
            .await;
    }
    fixture
        .check(&Filter::In {
            path: vec!["genres".into()],
            values: vec![
                Scalar::String("Drama\0".into()),
                Scalar::String("Comedy".into()),
            ]
            .into(),
            negated: true,
        })
        .await;
    table_is_intact(&fixture.client).await;
}

#[tokio::test]
async fn equality_filters_can_use_the_indexes() {
    let fixture = Fixture::new(17).await;
    fixture
        .client
        .batch(
            "CREATE INDEX ON content_vectors USING gin (metadata); \
             CREATE INDEX ON content_vectors (media_type); CREATE INDEX ON content_vectors (content_id); \
             ANALYZE content_vectors",
        )
        .await
        .unwrap();
    let session = vecgate_tests::connect(&fixture.cluster.url()).await;
    session
        .batch_execute("SET enable_seqscan = off")
        .await
        .unwrap();
    for (text, index) in [
        (r#"{"genres": "Drama"}"#, "content_vectors_metadata_idx"),
        (
            r#"{"genres": {"$in": ["Drama", "Comedy"]}}"#,
            "content_vectors_metadata_idx",
        ),
        (r#"{"a.b": 1}"#, "content_vectors_metadata_idx"),
        (r#"{"media_type": "tv"}"#, "content_vectors_media_type_idx"),
        (r#"{"content_id": 7}"#, "content_vectors_content_id_idx"),
        (
            r#"{"content_id": {"$in": [7, 8]}}"#,
            "content_vectors_content_id_idx",
        ),
    ] {
        let filter = Filter::parse_str(text).unwrap();
        let mut params: Vec<Param> = Vec::new();
        let condition = compile(&filter, &mut params);
        let sql = format!("EXPLAIN SELECT id FROM content_vectors WHERE {condition}");
        let values: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> = params
            .iter()
            .map(|p| p as &(dyn tokio_postgres::types::ToSql + Sync))
            .collect();
        let typed: Vec<(
            &(dyn tokio_postgres::types::ToSql + Sync),
            tokio_postgres::types::Type,
        )> = values
            .iter()
            .map(|v| (*v, tokio_postgres::types::Type::TEXT))
            .collect();
        let plan: Vec<String> = session
            .query_typed(&sql, &typed)
            .await
            .unwrap()
            .iter()
            .map(|row| row.get(0))
            .collect();
        let plan = plan.join("\n");
        assert!(plan.contains(index), "{text} does not use {index}:\n{plan}");
        fixture.check(&filter).await;
    }
}
