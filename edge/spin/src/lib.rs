//! The vecgate edge as a Spin component (`wasm32-wasip2`, spin-sdk 7, WASI P3).
//!
//! Only translation lives here: the Spin request into [`vecgate_edge::http::Request`], Spin
//! variables into [`Config`], `spin_sdk::pg` into [`SqlClient`], Spin's outbound HTTP and LLM
//! interface into [`EmbedHost`], and the response back. Routing, auth, validation and SQL are
//! the edge's.
//!
//! Spin instances are stateless, so the handler is built for each request: configuration is
//! read, and the Postgres connections are opened lazily, per request. The metrics and the
//! embedding cache therefore cover one request only.
#![cfg(target_arch = "wasm32")]

use std::cell::RefCell;
use std::collections::HashMap;
use std::future::Future;
use std::hash::{BuildHasher, Hasher};
use std::pin::pin;
use std::rc::Rc;

use bytes::Bytes;
use futures::future::{select, Either};
use http_body_util::{BodyExt, Limited};
use spin_sdk::http::body::IncomingBodyExt;
use spin_sdk::http::{FullBody, HeaderName, HeaderValue, IntoResponse, Request, StatusCode};
use spin_sdk::http_service;
use spin_sdk::llm;
use spin_sdk::pg::{self, DbValue, ParameterValue, PgError, QueryError};
use spin_sdk::wasip3::clocks::monotonic_clock;
use vecgate_edge::api::error::ApiError;
use vecgate_edge::api::{Handler, OpenPolicy, MAX_BODY_BYTES};
use vecgate_edge::config::{Config, JwksSource, NAMES};
use vecgate_edge::embed::{EmbedError, EmbedHost};
use vecgate_edge::http::{self as edge_http, Method};
use vecgate_edge::sql::migrate::detect_dialect;
use vecgate_edge::sql::{DbError, Param, Route, Row, SqlClient};
use vecgate_edge::store::postgres::PostgresStore;
use vecgate_edge::store::StoreError;

#[http_service]
async fn handle(request: Request) -> impl IntoResponse {
    to_spin(answer(request).await)
}

async fn answer(request: Request) -> edge_http::Response {
    let config = match read_config().await {
        Ok(config) => config,
        Err(e) => return e.into_response(),
    };
    let request = match read_request(request).await {
        Ok(request) => request,
        Err(e) => return e.into_response(),
    };
    let timeout_ms = config.request_timeout_ms;
    let served = async {
        let handler = build_handler(config).await?;
        Ok::<_, ApiError>(handler.handle(request).await)
    };
    match within(timeout_ms, served).await {
        Some(Ok(response)) => response,
        Some(Err(e)) => e.into_logged_response(),
        None => ApiError::new(
            503,
            "timeout",
            "the request took longer than the configured timeout",
        )
        .into_response(),
    }
}

/// `work`, or `None` when it takes longer than `timeout_ms`.
async fn within<T>(timeout_ms: u64, work: impl Future<Output = T>) -> Option<T> {
    let deadline = monotonic_clock::wait_for(timeout_ms.saturating_mul(1_000_000));
    match select(pin!(work), pin!(deadline)).await {
        Either::Left((value, _)) => Some(value),
        Either::Right(_) => None,
    }
}

/// Every configuration name, read as a Spin variable; undefined and empty mean unset.
async fn read_config() -> Result<Config, ApiError> {
    let mut values = HashMap::new();
    for name in NAMES {
        match spin_sdk::variables::get(name).await {
            Ok(value) => {
                values.insert(*name, value);
            }
            Err(spin_sdk::variables::Error::Undefined(_)) => {}
            Err(e) => {
                return Err(ApiError::new(
                    500,
                    "configuration",
                    format!("could not read variable {name}: {e}"),
                ))
            }
        }
    }
    let config = Config::from_lookup(|name| values.get(name).cloned())
        .map_err(|e| ApiError::new(500, "configuration", e))?;
    match config.jwks {
        None | Some(JwksSource::Inline(_)) => Ok(config),
        // A Spin instance lives for one request: no file to read, no cache to refresh.
        Some(_) => Err(ApiError::new(
            500,
            "configuration",
            "jwt_jwks must be the JWKS JSON itself in the Spin component",
        )),
    }
}

async fn build_handler(
    config: Config,
) -> Result<Handler<PostgresStore<SpinPg>, SpinEmbedHost>, ApiError> {
    let Some(primary) = config.database_url.clone() else {
        return Err(ApiError::new(
            503,
            "unavailable",
            "database_url is not configured (the Spin component has no embedded store)",
        ));
    };
    let client = SpinPg {
        primary: Lazy::new(primary),
        replica: pick_replica(&config.database_read_urls).map(Lazy::new),
    };
    let dialect = match config.dialect {
        Some(dialect) => dialect,
        // The driver's words go to the log under a request id, not to the client.
        None => detect_dialect(&client)
            .await
            .map_err(|e| ApiError::from(StoreError::from(e)))?
            .ok_or_else(|| {
                ApiError::new(
                    503,
                    "unavailable",
                    "neither ruvector nor pgvector is installed in the database",
                )
            })?,
    };
    let has_replicas = client.replica.is_some();
    let mut store = PostgresStore::new(client, dialect, config.dimensions, has_replicas);
    if config.target_recall > 0.0 {
        // No sampling here (one request per instance): the breadths native nodes learned.
        store = store.with_learned_breadth();
    }
    let mut handler = Handler::new(config, store, SpinEmbedHost);
    // Open to the internet unless the operator said so: refuse instead.
    handler.open_policy = OpenPolicy::Refuse;
    Ok(handler)
}

/// One replica per request, chosen at random, spreads reads across the replicas.
fn pick_replica(urls: &[String]) -> Option<String> {
    if urls.is_empty() {
        return None;
    }
    let random = std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish();
    urls.get(random as usize % urls.len()).cloned()
}

async fn read_request(request: Request) -> Result<edge_http::Request, ApiError> {
    let too_large = || {
        ApiError::new(
            413,
            "payload_too_large",
            format!("request body over {MAX_BODY_BYTES} bytes"),
        )
    };
    let (parts, body) = request.into_parts();
    let declared = parts
        .headers
        .get("content-length")
        .and_then(|v| v.to_str().ok()?.parse::<usize>().ok());
    if declared.is_some_and(|n| n > MAX_BODY_BYTES) {
        return Err(too_large());
    }
    let path_and_query = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    let mut edge = edge_http::Request::new(Method::parse(parts.method.as_str()), path_and_query);
    edge.headers = parts
        .headers
        .iter()
        .filter_map(|(k, v)| Some((k.as_str().to_owned(), v.to_str().ok()?.to_owned())))
        .collect();
    edge.body = Limited::new(body, MAX_BODY_BYTES)
        .collect()
        .await
        .map_err(|e| {
            if e.downcast_ref::<http_body_util::LengthLimitError>()
                .is_some()
            {
                too_large()
            } else {
                ApiError::bad_request(format!("could not read the request body: {e}"))
            }
        })?
        .to_bytes()
        .to_vec();
    Ok(edge)
}

fn to_spin(response: edge_http::Response) -> spin_sdk::http::Response<FullBody<Bytes>> {
    let mut spin = spin_sdk::http::Response::new(FullBody::new(Bytes::from(response.body)));
    *spin.status_mut() =
        StatusCode::from_u16(response.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    for (name, value) in &response.headers {
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) {
            spin.headers_mut().append(name, value);
        }
    }
    spin
}

/// A connection opened on first use.
struct Lazy {
    address: String,
    connection: RefCell<Option<Rc<pg::Connection>>>,
}

impl Lazy {
    fn new(address: String) -> Lazy {
        Lazy {
            address,
            connection: RefCell::new(None),
        }
    }

    async fn get(&self) -> Result<Rc<pg::Connection>, DbError> {
        if let Some(connection) = self.connection.borrow().clone() {
            return Ok(connection);
        }
        let opened = Rc::new(
            pg::Connection::open(self.address.as_str())
                .await
                .map_err(|e| db_error(&e))?,
        );
        Ok(self.connection.borrow_mut().get_or_insert(opened).clone())
    }
}

/// [`SqlClient`] over Spin's Postgres API (`spin:postgres/postgres@4.2.0`).
struct SpinPg {
    primary: Lazy,
    replica: Option<Lazy>,
}

impl SqlClient for SpinPg {
    async fn query(&self, route: Route, sql: &str, params: &[Param]) -> Result<Vec<Row>, DbError> {
        let lazy = match (route, &self.replica) {
            (Route::Read, Some(replica)) => replica,
            _ => &self.primary,
        };
        let connection = lazy.get().await?;
        let params: Vec<ParameterValue> = params
            .iter()
            .map(|p| match p {
                Some(text) => ParameterValue::Str(text.clone()),
                None => ParameterValue::DbNull,
            })
            .collect();
        let mut result = connection
            .query(sql, params)
            .await
            .map_err(|e| db_error(&e))?;
        let columns = result.columns().to_vec();
        let mut rows = Vec::new();
        while let Some(row) = result.next().await {
            let values = (0..columns.len())
                .map(|i| match &row[i] {
                    DbValue::Str(text) => Ok(Some(text.clone())),
                    DbValue::DbNull => Ok(None),
                    other => Err(DbError::Rejected(format!(
                        "column {i} ({}) is not text but {other:?}; select it as ::text",
                        columns[i].name
                    ))),
                })
                .collect::<Result<Row, DbError>>()?;
            rows.push(values);
        }
        result.result().await.map_err(|e| db_error(&e))?;
        Ok(rows)
    }

    async fn batch(&self, _sql: &str) -> Result<(), DbError> {
        Err(DbError::Rejected(
            "the Spin component does not run migrations; run `vecgate migrate`".into(),
        ))
    }
}

/// Connection failures and SQLSTATEs are classified as in the native host.
fn db_error(e: &pg::Error) -> DbError {
    match e {
        pg::Error::PgError(PgError::ConnectionFailed(m)) => DbError::Unavailable(m.clone()),
        pg::Error::PgError(PgError::QueryFailed(QueryError::DbError(db))) => {
            let message = format!("{} (SQLSTATE {})", db.message, db.code);
            DbError::from_sqlstate(&db.code, message)
        }
        other => DbError::Rejected(other.to_string()),
    }
}

/// [`EmbedHost`] over Spin: outbound HTTP (`wasi:http/handler@0.3.0`) for a remote provider,
/// and Spin's LLM interface (`fermyon:spin/llm@2.0.0`) for the local all-MiniLM-L6-v2.
struct SpinEmbedHost;

impl EmbedHost for SpinEmbedHost {
    async fn post_json(
        &self,
        url: &str,
        bearer: Option<&str>,
        body: Vec<u8>,
        timeout_ms: u64,
    ) -> Result<(u16, Vec<u8>), EmbedError> {
        // An explicit length: without it the body goes out chunked, which some providers reject.
        let mut builder = spin_sdk::http::Request::<()>::builder()
            .method("POST")
            .uri(url)
            .header("content-type", "application/json")
            .header("content-length", body.len());
        if let Some(key) = bearer {
            builder = builder.header("authorization", format!("Bearer {key}"));
        }
        // The error never shows the URL or the key: either may carry credentials.
        let request = builder
            .body(FullBody::new(Bytes::from(body)))
            .map_err(|_| EmbedError::Unavailable("invalid embedding_url".into()))?;
        let exchange = async {
            let response = spin_sdk::http::send(request)
                .await
                .map_err(|e| EmbedError::Unavailable(e.to_string()))?;
            let status = response.status().as_u16();
            let bytes = response
                .into_body()
                .bytes()
                .await
                .map_err(|e| EmbedError::Unavailable(e.to_string()))?;
            Ok((status, bytes.to_vec()))
        };
        within(timeout_ms, exchange).await.unwrap_or_else(|| {
            Err(EmbedError::Timeout(format!(
                "no answer within {timeout_ms} ms"
            )))
        })
    }

    async fn embed_local(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, EmbedError> {
        // A blocking import (the interface predates WASI 0.3), so `within` cannot cut it short.
        llm::generate_embeddings(llm::EmbeddingModel::AllMiniLmL6V2, texts)
            .map(|result| result.embeddings)
            .map_err(|e| EmbedError::Unavailable(llm_error(&e)))
    }
}

/// Spin's LLM errors, saying what a deployment has to fix.
fn llm_error(e: &llm::Error) -> String {
    let model = llm::EmbeddingModel::AllMiniLmL6V2;
    match e {
        llm::Error::ModelNotSupported => format!(
            "the Spin runtime does not provide the {model} embedding model to this component \
             (ai_models in spin.toml, and a Spin with that model)"
        ),
        llm::Error::RuntimeError(m) => format!("Spin's {model} failed: {m}"),
        llm::Error::InvalidInput(m) => format!("Spin's LLM interface refused the call: {m}"),
    }
}
