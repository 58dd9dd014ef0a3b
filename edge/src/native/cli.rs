//! The `vecgate` command line: `serve`, `migrate`, `import`, `prune-logs`.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use clap::{Args, Parser, Subcommand};

use vecgate_core::candidates::CandidateSet;
use vecgate_core::hnsw::Storage;
use vecgate_core::kernels;

use super::embed_host::{self, NativeEmbedHost};
use super::local_index::{LocalIndexStore, Start};
use super::pg::PgClient;
use super::rebuild::Rebuilder;
use super::server::{NativeHandler, ServerLimits};
use super::static_files::{self, StaticDirs};
use super::store::AnyStore;
use crate::api::recall::KeepBreadth;
use crate::api::Handler;
use crate::config::Config;
use crate::http::{Method, Request};
use crate::sql::breadth as sql_breadth;
use crate::sql::{migrate, Dialect};
use crate::store::embedded::files::write_atomic;
use crate::store::embedded::EmbeddedOptions;
use crate::store::postgres::PostgresStore;
use crate::store::{ContentItem, Store};
use vecgate_core::breadth::{BreadthControl, ClassBreadth, QueryClass};

/// The dimension of the bundled sample's vectors.
pub const SAMPLE_DIMENSIONS: usize = 384;

#[derive(Parser)]
#[command(name = "vecgate", version, about = "Vector search for Media Gateway")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    /// The SIMD kernels to run on (default: the fastest this CPU has, e.g. avx512+vnni); a
    /// slower one (avx2, scalar) rules a path out or compares paths. Err if the CPU lacks it.
    #[arg(long, global = true, env = "VECGATE_SIMD")]
    pub simd: Option<String>,
}

#[derive(Subcommand)]
pub enum Command {
    /// Serve the HTTP API (Postgres when a database URL is set, else the embedded store).
    Serve {
        #[arg(long, env = "VECGATE_ADDR", default_value = "127.0.0.1:8080")]
        addr: SocketAddr,
        #[command(flatten)]
        embedded: EmbeddedArgs,
        #[command(flatten)]
        local_index: LocalIndexArgs,
        #[command(flatten)]
        schema: SchemaArgs,
        #[command(flatten)]
        limits: LimitsArgs,
        /// Load the bundled 3,200-film sample (384 dimensions) into an empty embedded store.
        #[arg(long)]
        sample: bool,
        /// The demo page's files, served at `/`.
        #[arg(long, env = "VECGATE_WWW_DIR", default_value = "./www")]
        www_dir: PathBuf,
        /// The built npm package (`wasm/build.sh`), served at `/pkg/`.
        #[arg(long, env = "VECGATE_PKG_DIR", default_value = "./wasm/pkg")]
        pkg_dir: PathBuf,
        /// ruvector: auto (default) rebuilds the HNSW index after a database crash (one node at
        /// a time); off leaves that to other nodes or an operator, and only fences around it.
        #[arg(long, env = "VECGATE_INDEX_REBUILD", default_value = "auto", value_parser = ["auto", "off"])]
        index_rebuild: String,
        #[command(flatten)]
        config: ConfigArgs,
    },
    /// Apply pending database migrations (safe to run twice).
    Migrate {
        #[command(flatten)]
        config: ConfigArgs,
    },
    /// Delete search-log rows older than log_retention_days (default 30), once: for deployments
    /// with no long-running native node (a Spin-only edge), as a cron job.
    PruneLogs {
        #[command(flatten)]
        embedded: EmbeddedArgs,
        #[command(flatten)]
        schema: SchemaArgs,
        #[command(flatten)]
        config: ConfigArgs,
    },
    /// Exit 0 when the server at --addr answers /health with 200: a container's HEALTHCHECK
    /// (the image has no curl). An unspecified address (0.0.0.0) is asked on loopback.
    Healthcheck {
        #[arg(long, env = "VECGATE_ADDR", default_value = "127.0.0.1:8080")]
        addr: SocketAddr,
    },
    /// Load a JSONL file of content items (the `movies.jsonl` format) in batches.
    Import {
        file: PathBuf,
        #[arg(long, default_value_t = 500)]
        batch: usize,
        #[command(flatten)]
        embedded: EmbeddedArgs,
        #[command(flatten)]
        schema: SchemaArgs,
        #[command(flatten)]
        config: ConfigArgs,
    },
}

/// Where and how the embedded store (used when no database URL is set) keeps its data.
#[derive(Args, Clone)]
pub struct EmbeddedArgs {
    #[arg(long, env = "VECGATE_DATA_DIR", default_value = "./vecgate-data")]
    pub data_dir: PathBuf,
    /// Vector storage of the embedded index: f32 (exact) or int8 (4x smaller, approximate scores).
    #[arg(long, env = "VECGATE_EMBEDDED_STORAGE", default_value = "f32", value_parser = ["f32", "int8"])]
    pub embedded_storage: String,
    /// Threads that link imported and batch-upserted items into the embedded index (default:
    /// every core; 1 builds one item at a time).
    #[arg(long, env = "VECGATE_BUILD_THREADS", value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub build_threads: Option<u16>,
}

impl EmbeddedArgs {
    fn options(&self, dims: usize) -> EmbeddedOptions {
        EmbeddedOptions {
            dims,
            storage: match self.embedded_storage.as_str() {
                "int8" => Storage::Int8 {
                    keep_f32_for_rescore: false,
                },
                _ => Storage::F32,
            },
            build_threads: self.build_threads.map(usize::from),
        }
    }
}

/// What one client, or many, may hold of the server.
#[derive(Args, Clone)]
pub struct LimitsArgs {
    /// Open connections at most; at the cap the oldest idle connection is closed to make room,
    /// and when none is idle a new one gets 503.
    #[arg(long, env = "VECGATE_MAX_CONNECTIONS", default_value_t = 1024, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_connections: u32,
    /// Requests answered at once at most; beyond it, 503 with Retry-After.
    #[arg(long, env = "VECGATE_MAX_IN_FLIGHT", default_value_t = 256, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_in_flight: u32,
    /// Time a client has to send a request's head, and again its body (slow clients are cut off).
    #[arg(long, env = "VECGATE_CLIENT_TIMEOUT_MS", default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub client_timeout_ms: u64,
}

/// Whether a command may change the database's schema.
#[derive(Args, Clone, Default)]
pub struct SchemaArgs {
    /// Apply pending migrations first, as `vecgate migrate` does; needs a role that may alter the
    /// schema. Without it a database whose schema is behind is refused, so the command can run
    /// with a role that has only the DML it needs.
    #[arg(long, env = "VECGATE_MIGRATE", value_parser = clap::builder::BoolishValueParser::new())]
    pub migrate: bool,
}

/// Read scale-out: answer reads from a local copy of the central database's index.
#[derive(Args, Clone)]
pub struct LocalIndexArgs {
    /// Keep a live copy of the database's content in memory (under --data-dir/local-index/),
    /// fed by its change feed, and answer searches, similar and content reads from it.
    /// Writes still go to the database. Needs --database-url.
    #[arg(long, env = "VECGATE_LOCAL_INDEX", value_parser = clap::builder::BoolishValueParser::new())]
    pub local_index: bool,
    /// With --local-index: /health answers 503 when the copy is staler than this.
    #[arg(long, env = "VECGATE_MAX_LAG_MS", default_value_t = 10_000)]
    pub max_lag_ms: u64,
}

/// The bundled sample: the shared movie set as an int8 candidate set (`edge/sample/`).
pub const SAMPLE: &[u8] = include_bytes!("../../sample/movies.vgcs");

/// The settings of DESIGN.md, as flags or `VECGATE_*` environment variables.
#[derive(Args, Clone, Default)]
pub struct ConfigArgs {
    #[arg(long, env = "VECGATE_DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,
    /// Comma-separated read-replica URLs.
    #[arg(long, env = "VECGATE_DATABASE_READ_URLS", hide_env_values = true)]
    pub database_read_urls: Option<String>,
    /// ruvector or pgvector; detected from the database when unset.
    #[arg(long, env = "VECGATE_DIALECT")]
    pub dialect: Option<String>,
    /// Vector dimensions (default 768).
    #[arg(long, env = "VECGATE_DIMENSIONS")]
    pub dimensions: Option<String>,
    /// Comma-separated read keys (`key` or `key@user-id`).
    #[arg(long, env = "VECGATE_API_KEYS_READ", hide_env_values = true)]
    pub api_keys_read: Option<String>,
    #[arg(long, env = "VECGATE_API_KEYS_WRITE", hide_env_values = true)]
    pub api_keys_write: Option<String>,
    #[arg(long, env = "VECGATE_API_KEYS_ADMIN", hide_env_values = true)]
    pub api_keys_admin: Option<String>,
    /// OpenAI-compatible embeddings endpoint, e.g. https://api.openai.com/v1
    #[arg(long, env = "VECGATE_EMBEDDING_URL")]
    pub embedding_url: Option<String>,
    #[arg(long, env = "VECGATE_EMBEDDING_MODEL")]
    pub embedding_model: Option<String>,
    #[arg(long, env = "VECGATE_EMBEDDING_API_KEY", hide_env_values = true)]
    pub embedding_api_key: Option<String>,
    #[arg(long, env = "VECGATE_REQUEST_TIMEOUT_MS")]
    pub request_timeout_ms: Option<String>,
    /// on (default): text queries use the local all-MiniLM-L6-v2 when no embedding URL is set.
    #[arg(long, env = "VECGATE_LOCAL_MODEL")]
    pub local_model: Option<String>,
    /// local: fall back to the local model when the embedding provider fails.
    #[arg(long, env = "VECGATE_EMBEDDING_FALLBACK")]
    pub embedding_fallback: Option<String>,
    /// Share of searches re-run exactly in the background to measure recall (default 0.01; 0: off).
    #[arg(long, env = "VECGATE_RECALL_SAMPLE_RATE")]
    pub recall_sample_rate: Option<String>,
    /// HS256 user tokens: the shared secret (at least 32 characters).
    #[arg(long, env = "VECGATE_JWT_SECRET", hide_env_values = true)]
    pub jwt_secret: Option<String>,
    /// RS256/ES256/EdDSA user tokens: the JWKS, as inline JSON, a file, or an https:// URL
    /// (fetched at start and again on an unknown kid).
    #[arg(long, env = "VECGATE_JWT_JWKS")]
    pub jwt_jwks: Option<String>,
    /// Required `iss` of user tokens.
    #[arg(long, env = "VECGATE_JWT_ISSUER")]
    pub jwt_issuer: Option<String>,
    /// Required `aud` of user tokens.
    #[arg(long, env = "VECGATE_JWT_AUDIENCE")]
    pub jwt_audience: Option<String>,
    /// Clock skew allowed on exp/nbf, in seconds (default 30).
    #[arg(long, env = "VECGATE_JWT_LEEWAY_S")]
    pub jwt_leeway_s: Option<String>,
    /// The claim holding a token's role (read, write or admin); default: every token reads.
    #[arg(long, env = "VECGATE_JWT_ROLE_CLAIM")]
    pub jwt_role_claim: Option<String>,
    /// Comma-separated origins browsers may call from (https://app.example.com), or *.
    #[arg(long, env = "VECGATE_CORS_ORIGINS")]
    pub cors_origins: Option<String>,
    /// With no keys or tokens configured: serve anyone, on any address. Insecure.
    #[arg(long, env = "VECGATE_INSECURE_OPEN", num_args = 0..=1, default_missing_value = "true")]
    pub insecure_open: Option<String>,
    /// /metrics without a key.
    #[arg(long, env = "VECGATE_METRICS_PUBLIC", num_args = 0..=1, default_missing_value = "true")]
    pub metrics_public: Option<String>,
    /// Days search-log rows are kept (default 30; 0 keeps them).
    #[arg(long, env = "VECGATE_LOG_RETENTION_DAYS")]
    pub log_retention_days: Option<String>,
    /// Searches (search, candidates, similar, recommend) per second per caller; 0 (default): no limit.
    /// Recall@k each class of search is kept at (default 0.95; 0: fixed breadths).
    #[arg(long, env = "VECGATE_TARGET_RECALL")]
    pub target_recall: Option<String>,
    /// The largest search breadth the recall target may choose (default 1000).
    #[arg(long, env = "VECGATE_MAX_EF")]
    pub max_ef: Option<String>,
    /// Search a class exactly when it misses target_recall at max_ef (default false).
    #[arg(long, env = "VECGATE_EXACT_WHEN_UNREACHABLE", num_args = 0..=1, default_missing_value = "true")]
    pub exact_when_unreachable: Option<String>,
    /// With target_recall 0: the breadth every search uses (default: each backend's own).
    #[arg(long, env = "VECGATE_SEARCH_EF")]
    pub search_ef: Option<String>,
    #[arg(long, env = "VECGATE_RATE_LIMIT_SEARCH")]
    pub rate_limit_search: Option<String>,
    /// Writes per second per caller; 0 (default): no limit.
    #[arg(long, env = "VECGATE_RATE_LIMIT_WRITE")]
    pub rate_limit_write: Option<String>,
    /// POST /v1/embed calls per second per caller (default 20; 0: no limit).
    #[arg(long, env = "VECGATE_RATE_LIMIT_EMBED")]
    pub rate_limit_embed: Option<String>,
    /// Where the local model's model.onnx and tokenizer.json are
    /// (default ~/.cache/vecgate/models/all-minilm-l6-v2; `bash scripts/install-model.sh`).
    #[arg(long, env = "VECGATE_MODEL_DIR")]
    pub model_dir: Option<PathBuf>,
}

impl ConfigArgs {
    pub fn config(&self) -> Result<Config, String> {
        Config::from_lookup(|name| {
            match name {
                "database_url" => &self.database_url,
                "database_read_urls" => &self.database_read_urls,
                "dialect" => &self.dialect,
                "dimensions" => &self.dimensions,
                "api_keys_read" => &self.api_keys_read,
                "api_keys_write" => &self.api_keys_write,
                "api_keys_admin" => &self.api_keys_admin,
                "embedding_url" => &self.embedding_url,
                "embedding_model" => &self.embedding_model,
                "embedding_api_key" => &self.embedding_api_key,
                "request_timeout_ms" => &self.request_timeout_ms,
                "local_model" => &self.local_model,
                "embedding_fallback" => &self.embedding_fallback,
                "recall_sample_rate" => &self.recall_sample_rate,
                "target_recall" => &self.target_recall,
                "max_ef" => &self.max_ef,
                "exact_when_unreachable" => &self.exact_when_unreachable,
                "search_ef" => &self.search_ef,
                "jwt_secret" => &self.jwt_secret,
                "jwt_jwks" => &self.jwt_jwks,
                "jwt_issuer" => &self.jwt_issuer,
                "jwt_audience" => &self.jwt_audience,
                "jwt_leeway_s" => &self.jwt_leeway_s,
                "jwt_role_claim" => &self.jwt_role_claim,
                "cors_origins" => &self.cors_origins,
                "insecure_open" => &self.insecure_open,
                "metrics_public" => &self.metrics_public,
                "log_retention_days" => &self.log_retention_days,
                "rate_limit_search" => &self.rate_limit_search,
                "rate_limit_write" => &self.rate_limit_write,
                "rate_limit_embed" => &self.rate_limit_embed,
                _ => return None,
            }
            .clone()
        })
    }
}

type Fallible<T> = Result<T, Box<dyn std::error::Error>>;

/// The embedding host for `config`, with the local model loaded when the configuration uses it
/// (the default provider, or the fallback). Its dimension must be the configured one.
pub fn embed_host(config: &Config, args: &ConfigArgs) -> Fallible<NativeEmbedHost> {
    let uses_local = match config.embedding_url {
        None => config.local_model,
        Some(_) => config.embedding_fallback_local,
    };
    if !uses_local {
        return Ok(NativeEmbedHost::remote_only());
    }
    let dir = args
        .model_dir
        .clone()
        .unwrap_or_else(embed_host::default_model_dir);
    Ok(NativeEmbedHost::with_local_model(&dir, config.dimensions)?)
}

/// Connects, detects the dialect, checks the schema (or, with `migrate`, applies pending
/// migrations), and returns the store.
pub async fn postgres_store(
    config: &mut Config,
    url: &str,
    migrate: bool,
) -> Fallible<PostgresStore<PgClient>> {
    let client = PgClient::new(url, &config.database_read_urls)?;
    client.ping().await?;
    let dialect = match config.dialect {
        Some(d) => d,
        None => migrate::detect_dialect(&client).await?.ok_or(
            "the database has neither ruvector nor pgvector available; install one or set --dialect",
        )?,
    };
    config.dialect = Some(dialect);
    let applied = if migrate {
        migrate::migrate(&client, dialect, config.dimensions).await?
    } else {
        migrate::check(&client, dialect, config.dimensions).await?;
        Vec::new()
    };
    for m in &applied {
        eprintln!("vecgate: applied migration {m}");
    }
    // Fresh sessions: database-level settings a migration set (0005) reach only new ones.
    let client = if applied.is_empty() {
        client
    } else {
        PgClient::new(url, &config.database_read_urls)?
    };
    Ok(PostgresStore::new(
        client,
        dialect,
        config.dimensions,
        !config.database_read_urls.is_empty(),
    ))
}

pub async fn open_store(
    config: &mut Config,
    embedded: &EmbeddedArgs,
    schema: &SchemaArgs,
) -> Fallible<AnyStore> {
    match config.database_url.clone() {
        Some(url) => Ok(AnyStore::Postgres(
            postgres_store(config, &url, schema.migrate).await?,
        )),
        None => Ok(AnyStore::embedded(
            &embedded.data_dir,
            embedded.options(config.dimensions),
        )?),
    }
}

const LOCAL_INDEX_NEEDS_DATABASE: &str = "--local-index keeps a copy of a central database: \
     it needs --database-url (or VECGATE_DATABASE_URL)";

/// How often a `--local-index` node that can't start yet asks the database again.
const UNREACHABLE_RETRY: std::time::Duration = std::time::Duration::from_secs(2);

/// The Postgres store with a local copy of its index in front (`--local-index`). With the
/// database unreachable it starts from its snapshot if that is a copy of this database (the
/// schema is checked once the database answers); without such a copy it waits for the database.
async fn open_local_index(
    config: &mut Config,
    embedded: &EmbeddedArgs,
    local: &LocalIndexArgs,
    schema: &SchemaArgs,
) -> Fallible<AnyStore> {
    let url = config
        .database_url
        .clone()
        .ok_or(LOCAL_INDEX_NEEDS_DATABASE)?;
    let options = embedded.options(config.dimensions);
    let mut waiting = false;
    // One client for the probes: it reconnects by itself.
    let probe = PgClient::new(&url, &[])?;
    let (remote, how) = loop {
        let unreachable = match probe.ping().await {
            Ok(()) => None,
            Err(e @ crate::sql::DbError::Unavailable(_)) => Some(e),
            Err(e) => return Err(e.into()),
        };
        let Some(unreachable) = unreachable else {
            let remote = postgres_store(config, &url, schema.migrate).await?;
            break (remote, Start::Online);
        };
        match LocalIndexStore::trusted_copy(&embedded.data_dir, &url, config.dimensions) {
            Ok(position) => {
                let dialect = position
                    .dialect
                    .expect("a trusted copy records its dialect");
                if config.dialect.is_some_and(|d| d != dialect) {
                    return Err(format!(
                        "the local index's copy is of a {} database, not {}",
                        dialect.extension(),
                        config.dialect.map_or("", |d| d.extension())
                    )
                    .into());
                }
                config.dialect = Some(dialect);
                check_schema_when_reachable(config.clone(), url.clone(), schema.migrate);
                let remote = PostgresStore::new(
                    PgClient::new(&url, &config.database_read_urls)?,
                    dialect,
                    config.dimensions,
                    !config.database_read_urls.is_empty(),
                );
                break (remote, Start::Offline(position));
            }
            Err(why) => {
                if !waiting {
                    eprintln!(
                        "vecgate: local index: the database is unreachable ({unreachable}), and \
                         no copy of it here can be trusted ({why}); waiting for the database"
                    );
                    waiting = true;
                }
                tokio::time::sleep(UNREACHABLE_RETRY).await;
            }
        }
    };
    let store = LocalIndexStore::start(
        &url,
        remote,
        &embedded.data_dir,
        options,
        std::time::Duration::from_millis(local.max_lag_ms),
        std::time::Duration::from_millis(config.request_timeout_ms),
        how,
    )
    .await?;
    Ok(AnyStore::LocalIndex(store))
}

/// For a node started without its database: once the database answers, checks (or with
/// `migrate`, brings up to date) its schema, as a start with it would have.
fn check_schema_when_reachable(mut config: Config, url: String, migrate: bool) {
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(UNREACHABLE_RETRY).await;
            match postgres_store(&mut config, &url, migrate).await {
                Ok(_) => {
                    eprintln!("vecgate: the database answers; its schema is as this node needs");
                    return;
                }
                Err(e)
                    if e.downcast_ref::<crate::sql::DbError>()
                        .is_some_and(|e| matches!(e, crate::sql::DbError::Unavailable(_))) => {}
                Err(e) => {
                    eprintln!("vecgate: ERROR the database's schema: {e}");
                    return;
                }
            }
        }
    });
}

/// The sample's items, in `POST /v1/content` form.
pub fn sample_items() -> Fallible<Vec<ContentItem>> {
    let set = CandidateSet::from_bytes(SAMPLE)?;
    (0..set.len())
        .map(|i| {
            let meta = set.metadata(i).cloned().unwrap_or_default();
            Ok(ContentItem {
                id: set.ids()[i].clone(),
                content_id: meta["content_id"].as_i64(),
                media_type: serde_json::from_value(meta["media_type"].clone())?,
                metadata: meta["metadata"].clone(),
                vector: set.vector(i).to_vec(),
                text: None,
            })
        })
        .collect()
}

/// Loads the sample through the API handler (validated like any upsert).
async fn load_sample(handler: &NativeHandler) -> Fallible<usize> {
    let items = sample_items()?;
    if items
        .first()
        .is_some_and(|i| i.vector.len() != handler.config.dimensions)
    {
        return Err(format!(
            "the sample has 384-dimensional vectors; start with --dimensions 384 (got {})",
            handler.config.dimensions
        )
        .into());
    }
    for chunk in items.chunks(crate::api::MAX_BATCH_ITEMS) {
        let mut req = Request::new(Method::Post, "/v1/content");
        req.body = serde_json::to_vec(&serde_json::json!({ "items": chunk }))?;
        let response = handler.handle_internal(req).await;
        if response.status != 200 {
            return Err(format!(
                "loading the sample: {}",
                String::from_utf8_lossy(&response.body)
            )
            .into());
        }
    }
    Ok(items.len())
}

/// A server without keys or tokens stays on loopback, and says so loudly, unless the operator
/// asked for `insecure_open`.
fn check_open_bind(config: &Config, addr: SocketAddr) -> Fallible<()> {
    if config.auth_required() {
        return Ok(());
    }
    if config.insecure_open {
        eprintln!(
            "vecgate: WARNING insecure_open: no API keys or user tokens are configured and the API \
             is open to anyone who can reach {addr}"
        );
        return Ok(());
    }
    if !addr.ip().is_loopback() {
        return Err(format!(
            "no API keys or user tokens are configured, so vecgate serves only on loopback \
             (127.0.0.1 or [::1]), not {addr}: configure api_keys_* or jwt_*, or pass \
             --insecure-open to serve everyone"
        )
        .into());
    }
    eprintln!(
        "vecgate: WARNING OPEN MODE: no API keys or user tokens are configured; anyone on this \
         machine can read and write everything (loopback only, Host must be localhost)"
    );
    Ok(())
}

/// Probes the database every 5 s for `vecgate_database_up` (Postgres and local-index nodes).
fn spawn_database_probe(handler: Arc<NativeHandler>) {
    if matches!(handler.store, AnyStore::Embedded(_)) {
        return;
    }
    tokio::spawn(async move {
        loop {
            let up = match &handler.store {
                AnyStore::Postgres(s) => s.health().await.is_ok(),
                AnyStore::LocalIndex(s) => s.database_health().await.is_ok(),
                AnyStore::Embedded(_) => return,
            };
            handler.metrics.set_database_up(up);
            tokio::time::sleep(std::time::Duration::from_secs(5)).await;
        }
    });
}

/// How often search-log retention runs.
const RETENTION_INTERVAL: std::time::Duration = std::time::Duration::from_secs(600);

/// Deletes search-log rows past `log_retention_days`, at start and every ten minutes.
fn spawn_log_retention(handler: Arc<NativeHandler>) {
    let days = handler.config.log_retention_days;
    if days <= 0.0 {
        return;
    }
    tokio::spawn(async move {
        loop {
            match handler.store.prune_search_logs(days).await {
                Ok(0) => {}
                Ok(n) => eprintln!(
                    "vecgate: retention deleted {n} search-log rows older than {days} days"
                ),
                Err(e) => eprintln!("vecgate: WARNING search-log retention failed: {e}"),
            }
            tokio::time::sleep(RETENTION_INTERVAL).await;
        }
    });
}

async fn healthcheck(mut addr: SocketAddr) -> Fallible<()> {
    if addr.ip().is_unspecified() {
        addr.set_ip(match addr {
            SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
            SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
        });
    }
    let response = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(3))
        .build()?
        .get(format!("http://{addr}/health"))
        .send()
        .await?;
    let status = response.status();
    let body = response.text().await.unwrap_or_default();
    if status.is_success() {
        println!("{body}");
        Ok(())
    } else {
        Err(format!("/health answered {status}: {body}").into())
    }
}

pub async fn run(cli: Cli) -> Fallible<()> {
    if let Some(name) = &cli.simd {
        kernels::use_path(kernels::KernelPath::parse(name)?)?;
    }
    match cli.command {
        Command::Serve {
            addr,
            embedded,
            local_index,
            schema,
            limits,
            sample,
            www_dir,
            pkg_dir,
            index_rebuild,
            config,
        } => {
            let dimensions_given = config.dimensions.is_some();
            let args = config;
            let mut config = args.config()?;
            if sample && !dimensions_given {
                config.dimensions = SAMPLE_DIMENSIONS;
            }
            if local_index.local_index && config.database_url.is_none() {
                return Err(LOCAL_INDEX_NEEDS_DATABASE.into());
            }
            check_open_bind(&config, addr)?;
            let host = embed_host(&config, &args)?;
            let store = if local_index.local_index {
                open_local_index(&mut config, &embedded, &local_index, &schema).await?
            } else {
                open_store(&mut config, &embedded, &schema).await?
            };
            let jwks = super::jwks::load(&config).await?;
            let backend = store.describe();
            let mut handler = Handler::new(config, store, host);
            super::jwks::install(&mut handler, jwks);
            let handler = Arc::new(handler);
            spawn_log_retention(handler.clone());
            spawn_database_probe(handler.clone());
            watch_index(&handler, index_rebuild == "auto");
            keep_recall_target(&handler).await;
            if handler.config.recall_sample_rate > 0.0 {
                spawn_recall_worker(handler.clone());
            }
            if sample {
                let empty = handler.store.stats().await.map(|s| s.content_count == 0)?;
                if empty {
                    let n = load_sample(&handler).await?;
                    eprintln!("vecgate: loaded the {n}-film sample");
                }
            }
            let listener = tokio::net::TcpListener::bind(addr).await?;
            let local = listener.local_addr()?;
            println!(
                "vecgate listening on http://{local} ({backend}; {} kernels)",
                kernels::active_backend()
            );
            if sample {
                println!(
                    "try: curl -s http://{local}/v1/search -H 'Content-Type: application/json' -d '{{\"text\": \"animated film for kids about toys\", \"k\": 4, \"include\": [\"metadata\"]}}'"
                );
                println!("demo page: http://{local}/");
            } else {
                println!("try: curl -s http://{local}/v1/stats");
            }
            let pages = static_files::fallback(
                StaticDirs {
                    www: www_dir,
                    pkg: pkg_dir,
                    models: Some(
                        args.model_dir
                            .clone()
                            .unwrap_or_else(embed_host::default_model_dir),
                    ),
                },
                SAMPLE,
            );
            // Requests can't outlive their timeout: that, and a second more, is the drain.
            let drain = std::time::Duration::from_millis(handler.config.request_timeout_ms + 1_000);
            let shutdown = async {
                shutdown_signal().await;
                eprintln!(
                    "vecgate: shutting down: no new connections; finishing the requests in \
                     flight (up to {drain:?}; a second signal exits at once)"
                );
                tokio::spawn(async {
                    shutdown_signal().await;
                    eprintln!("vecgate: second signal: exiting now");
                    std::process::exit(130);
                });
            };
            let server_limits = ServerLimits {
                max_connections: limits.max_connections as usize,
                max_in_flight: limits.max_in_flight as usize,
                client_timeout: std::time::Duration::from_millis(limits.client_timeout_ms),
                drain,
            };
            super::server::serve(listener, handler.clone(), pages, shutdown, server_limits).await?;
            match &handler.store {
                AnyStore::Embedded(store) => store.snapshot()?,
                AnyStore::LocalIndex(store) => {
                    let left = store.drain_search_logs(drain).await;
                    if left > 0 {
                        eprintln!(
                            "vecgate: WARNING {left} search-log rows could not reach the database \
                             before exit"
                        );
                    }
                    store.snapshot()?
                }
                AnyStore::Postgres(_) => {}
            }
            eprintln!("vecgate: stopped cleanly");
            Ok(())
        }
        Command::Healthcheck { addr } => healthcheck(addr).await,
        Command::Migrate { config } => {
            let mut config = config.config()?;
            let url = config
                .database_url
                .clone()
                .ok_or("migrate needs --database-url (or VECGATE_DATABASE_URL)")?;
            let client = PgClient::new(&url, &[])?;
            client.ping().await?;
            let dialect: Dialect = match config.dialect {
                Some(d) => d,
                None => migrate::detect_dialect(&client)
                    .await?
                    .ok_or("neither ruvector nor pgvector is available in this database")?,
            };
            config.dialect = Some(dialect);
            let applied = migrate::migrate(&client, dialect, config.dimensions).await?;
            if applied.is_empty() {
                println!(
                    "schema is up to date ({dialect:?}, {} dimensions)",
                    config.dimensions
                );
            }
            for m in applied {
                println!("applied {m}");
            }
            Ok(())
        }
        Command::PruneLogs {
            embedded,
            schema,
            config,
        } => {
            let mut config = config.config()?;
            let days = config.log_retention_days;
            if days <= 0.0 {
                return Err("log_retention_days is 0: search logs are kept".into());
            }
            let store = open_store(&mut config, &embedded, &schema).await?;
            let n = store.prune_search_logs(days).await?;
            println!("deleted {n} search-log rows older than {days} days");
            Ok(())
        }
        Command::Import {
            file,
            batch,
            embedded,
            schema,
            config,
        } => {
            let args = config;
            let mut config = args.config()?;
            let host = embed_host(&config, &args)?;
            let store = open_store(&mut config, &embedded, &schema).await?;
            if let (AnyStore::Postgres(s), Some(url)) = (&store, &config.database_url) {
                if s.guards_index() {
                    // After a crash the index must be rebuilt before anything can be written.
                    Rebuilder::new(url, s.index_health())
                        .until_good()
                        .await
                        .map_err(|e| format!("checking the vector index: {e}"))?;
                }
            }
            let handler = Handler::new(config, store, host);
            super::import::import(&handler, &file, batch).await?;
            if let AnyStore::Embedded(store) = &handler.store {
                store.snapshot()?;
            }
            Ok(())
        }
    }
}

/// On Postgres: the index state in `/metrics`, and on ruvector (when `rebuild`) the task that
/// rebuilds its HNSW index after a database crash.
fn watch_index(handler: &NativeHandler, rebuild: bool) {
    let store = match &handler.store {
        AnyStore::Postgres(store) => store,
        // Its writes go to the central index too: the same fence and rebuild apply.
        AnyStore::LocalIndex(local) => local.remote(),
        AnyStore::Embedded(_) => return,
    };
    let Some(url) = &handler.config.database_url else {
        return;
    };
    handler.metrics.attach_index(store.index_health());
    if store.guards_index() && rebuild {
        Rebuilder::new(url, store.index_health()).spawn();
    }
}

/// Each class of search gets the breadth learned toward `target_recall`, kept across restarts:
/// on the embedded store and a `--local-index` node in the data directory, on Postgres in
/// `vecgate_search_breadth` (where the Spin component reads it too).
async fn keep_recall_target(handler: &Arc<NativeHandler>) {
    let config = &handler.config;
    if config.target_recall <= 0.0 {
        return;
    }
    if config.recall_sample_rate <= 0.0 {
        eprintln!(
            "vecgate: WARNING target_recall needs recall_sample_rate > 0 to measure recall; \
             search breadths stay fixed"
        );
        return;
    }
    let (start_ef, min_ef, max_ef) = match &handler.store {
        AnyStore::Embedded(_) | AnyStore::LocalIndex(_) => (
            vecgate_core::hnsw::HnswConfig::new(config.dimensions).ef_search,
            10,
            config.max_ef,
        ),
        AnyStore::Postgres(store) => {
            let max_ef = config.max_ef.min(sql_breadth::MAX_EF);
            if config.max_ef > max_ef {
                eprintln!(
                    "vecgate: max_ef {} is above what {} searches with; using {max_ef}",
                    config.max_ef,
                    store.dialect().extension()
                );
            }
            match store.dialect() {
                Dialect::Ruvector => (
                    sql_breadth::RUVECTOR_MIN_EF,
                    sql_breadth::RUVECTOR_MIN_EF,
                    max_ef,
                ),
                Dialect::Pgvector => (sql_breadth::PGVECTOR_START_EF, 10, max_ef),
            }
        }
    };
    let mut control = BreadthControl::new(config.target_recall, start_ef, min_ef, max_ef);
    let keep: KeepBreadth = match &handler.store {
        AnyStore::Embedded(store) => keep_in_file(&mut control, store.dir()),
        AnyStore::LocalIndex(store) => keep_in_file(&mut control, store.dir()),
        AnyStore::Postgres(store) => {
            match store.learned_breadths().await {
                Ok(learned) => control.restore(learned),
                Err(e) => eprintln!(
                    "vecgate: WARNING cannot read the learned search breadths ({e}); \
                     learning afresh"
                ),
            }
            keep_in_database(handler.clone(), config.target_recall)
        }
    };
    handler
        .recall
        .enable_breadth(control, keep, config.exact_when_unreachable);
}

/// Restores what `dir` kept, and keeps it there at each change.
fn keep_in_file(control: &mut BreadthControl, dir: &std::path::Path) -> KeepBreadth {
    let path = dir.join(BREADTH_FILE);
    match std::fs::read(&path) {
        Ok(bytes) => match serde_json::from_slice::<Vec<(QueryClass, ClassBreadth)>>(&bytes) {
            Ok(learned) => control.restore(learned),
            Err(e) => eprintln!("vecgate: WARNING ignoring {}: {e}", path.display()),
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => eprintln!("vecgate: WARNING cannot read {}: {e}", path.display()),
    }
    Box::new(move |classes: &BTreeMap<QueryClass, ClassBreadth>| {
        let learned: Vec<_> = classes.iter().collect();
        let written = serde_json::to_vec_pretty(&learned)
            .map_err(|e| e.to_string())
            .and_then(|bytes| write_atomic(&path, &bytes));
        if let Err(e) = written {
            eprintln!("vecgate: WARNING cannot save {}: {e}", path.display());
        }
    })
}

/// Keeps each change in `vecgate_search_breadth`, from a task of its own: changes come from the
/// recall worker, which must not wait on the database, and a burst of them is written once.
fn keep_in_database(handler: Arc<NativeHandler>, target: f64) -> KeepBreadth {
    let (changed, mut changes) = tokio::sync::watch::channel(BTreeMap::new());
    tokio::spawn(async move {
        while changes.changed().await.is_ok() {
            let classes = changes.borrow_and_update().clone();
            let AnyStore::Postgres(store) = &handler.store else {
                return;
            };
            for (class, state) in &classes {
                if let Err(e) = store.keep_breadth(*class, state, target).await {
                    eprintln!("vecgate: WARNING cannot keep the learned search breadth: {e}");
                    break;
                }
            }
        }
    });
    Box::new(move |classes: &BTreeMap<QueryClass, ClassBreadth>| {
        changed.send_replace(classes.clone());
    })
}

/// What the recall target learned, in the data directory.
const BREADTH_FILE: &str = "search-breadth.json";

/// Runs the recall monitor's checks one at a time, off the request path, for the life of the
/// process, and tells the breadth control how large the index is.
fn spawn_recall_worker(handler: Arc<NativeHandler>) {
    handler.recall.enable_worker();
    /// How often a Postgres node counts the rows (one `count(id)`).
    const COUNT_EVERY: std::time::Duration = std::time::Duration::from_secs(10);
    tokio::spawn(async move {
        let mut last_count: Option<std::time::Instant> = None;
        loop {
            match &handler.store {
                AnyStore::Embedded(store) => handler.recall.observe_index_size(store.len()),
                AnyStore::LocalIndex(store) => handler.recall.observe_index_size(store.len()),
                AnyStore::Postgres(store) => {
                    if last_count.is_none_or(|at| at.elapsed() >= COUNT_EVERY) {
                        last_count = Some(std::time::Instant::now());
                        if let Ok(items) = store.content_count().await {
                            handler.recall.observe_index_size(items as usize);
                        }
                    }
                }
            }
            if !handler.run_recall_check().await {
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
        }
    });
}

/// Resolves on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => return std::future::pending().await,
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}
