//! The test host's `spin:postgres` value mapping against a real PostgreSQL: every parameter
//! variant it binds and every column type it reads, NULL, errors and the loopback rule.

use vecgate_spin_host::bindings::spin::postgres::postgres::{
    DbDataType, DbValue, Error, ParameterValue as P, QueryError,
};
use vecgate_spin_host::pg::{connect, execute, query};
use vecgate_tests::PgCluster;

#[tokio::test(flavor = "multi_thread", worker_threads = 1)]
async fn values_round_trip_through_every_supported_type() {
    let pg = PgCluster::start();
    let client = connect(&pg.url(), None).await.expect("connect");
    let cases: Vec<(&str, P, DbValue, DbDataType)> = vec![
        (
            "bool",
            P::Boolean(true),
            DbValue::Boolean(true),
            DbDataType::Boolean,
        ),
        ("int2", P::Int16(-7), DbValue::Int16(-7), DbDataType::Int16),
        (
            "int4",
            P::Int32(1 << 20),
            DbValue::Int32(1 << 20),
            DbDataType::Int32,
        ),
        (
            "int8",
            P::Int64(1 << 40),
            DbValue::Int64(1 << 40),
            DbDataType::Int64,
        ),
        (
            "float4",
            P::Floating32(0.5),
            DbValue::Floating32(0.5),
            DbDataType::Floating32,
        ),
        (
            "float8",
            P::Floating64(-2.25),
            DbValue::Floating64(-2.25),
            DbDataType::Floating64,
        ),
        (
            "text",
            P::Str("movie-603".into()),
            DbValue::Str("movie-603".into()),
            DbDataType::Str,
        ),
        (
            "bytea",
            P::Binary(vec![0, 255]),
            DbValue::Binary(vec![0, 255]),
            DbDataType::Binary,
        ),
        (
            "jsonb",
            P::Jsonb(br#"{"genres":["Drama"]}"#.to_vec()),
            DbValue::Jsonb(br#"{"genres":["Drama"]}"#.to_vec()),
            DbDataType::Jsonb,
        ),
        (
            "text[]",
            P::ArrayStr(vec![Some("a".into()), None]),
            DbValue::ArrayStr(vec![Some("a".into()), None]),
            DbDataType::ArrayStr,
        ),
        (
            "int4[]",
            P::ArrayInt32(vec![Some(1), None]),
            DbValue::ArrayInt32(vec![Some(1), None]),
            DbDataType::ArrayInt32,
        ),
        (
            "int8[]",
            P::ArrayInt64(vec![Some(1 << 40)]),
            DbValue::ArrayInt64(vec![Some(1 << 40)]),
            DbDataType::ArrayInt64,
        ),
        (
            "date",
            P::Date((2026, 11, 24)),
            DbValue::Date((2026, 11, 24)),
            DbDataType::Date,
        ),
        (
            "time",
            P::Time((13, 5, 59, 1_000)),
            DbValue::Time((13, 5, 59, 1_000)),
            DbDataType::Time,
        ),
        (
            "timestamp",
            P::Datetime((2026, 11, 24, 13, 5, 59, 0)),
            DbValue::Datetime((2026, 11, 24, 13, 5, 59, 0)),
            DbDataType::Datetime,
        ),
        (
            "timestamptz",
            P::Timestamp(1_700_000_000),
            DbValue::Datetime((2023, 11, 14, 22, 13, 20, 0)),
            DbDataType::Datetime,
        ),
    ];
    for (ty, param, expected, data_type) in cases {
        let sql = format!("SELECT $1::{ty} AS v, NULL::{ty} AS n");
        let rows = query(&client, &sql, vec![param])
            .await
            .unwrap_or_else(|e| panic!("{ty}: {e:?}"));
        assert_eq!(rows.columns[0].data_type, data_type, "{ty}");
        assert_eq!(rows.columns[1].name, "n");
        assert_eq!(rows.rows, vec![vec![expected, DbValue::DbNull]], "{ty}");
    }
    // NULL binds to a parameter of any type.
    let rows = query(
        &client,
        "SELECT $1::int4 IS NULL, $2::jsonb IS NULL",
        vec![P::DbNull, P::DbNull],
    )
    .await
    .unwrap();
    assert_eq!(
        rows.rows,
        vec![vec![DbValue::Boolean(true), DbValue::Boolean(true)]]
    );
    // A type Spin has no variant for comes back unsupported, with its binary value.
    let rows = query(&client, "SELECT '(1,2)'::point", vec![])
        .await
        .unwrap();
    assert!(matches!(rows.columns[0].data_type, DbDataType::Other(ref n) if n == "point"));
    assert!(matches!(&rows.rows[0][0], DbValue::Unsupported(bytes) if bytes.len() == 16));
    // Zero rows still describe their columns.
    let rows = query(&client, "SELECT 1::int4 AS one WHERE false", vec![])
        .await
        .unwrap();
    assert_eq!((rows.columns.len(), rows.rows.len()), (1, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 1)]
async fn execute_counts_rows_and_errors_carry_the_sqlstate() {
    let pg = PgCluster::start();
    let client = connect(&pg.url(), None).await.expect("connect");
    execute(&client, "CREATE TABLE t (id text PRIMARY KEY)", vec![])
        .await
        .unwrap();
    let inserted = execute(
        &client,
        "INSERT INTO t SELECT unnest($1::text[])",
        vec![P::ArrayStr(vec![Some("a".into()), Some("b".into())])],
    )
    .await
    .unwrap();
    assert_eq!(inserted, 2);
    let error = execute(
        &client,
        "INSERT INTO t VALUES ($1)",
        vec![P::Str("a".into())],
    )
    .await
    .expect_err("duplicate key");
    match error {
        Error::QueryFailed(QueryError::DbError(db)) => assert_eq!(db.code, "23505"),
        other => panic!("expected a unique violation, got {other:?}"),
    }
    let error = query(&client, "SELECT $1::uuid", vec![P::Uuid("x".into())])
        .await
        .expect_err("uuid parameters are not supported");
    assert!(matches!(error, Error::BadParameter(_)), "{error:?}");
}

#[tokio::test]
async fn only_loopback_databases_are_reached() {
    let error = connect("postgres://postgres@192.0.2.1:5432/postgres", None)
        .await
        .expect_err("not loopback");
    assert!(
        matches!(error, Error::ConnectionFailed(ref m) if m.contains("loopback")),
        "{error:?}"
    );
    let error = connect("not a url", None).await.expect_err("malformed");
    assert!(matches!(error, Error::ConnectionFailed(_)), "{error:?}");
}
