//! The `vecgate` command line: `serve`, `migrate`, `import`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use clap::{Args, Parser, Subcommand};

use super::http_client::ReqwestPost;
use super::pg::PgClient;
use super::store::AnyStore;
use crate::api::Handler;
use crate::config::Config;
use crate::http::{Method, Request};
use crate::sql::{migrate, Dialect};
use crate::store::postgres::PostgresStore;

#[derive(Parser)]
#[command(name = "vecgate", version, about = "Vector search for Media Gateway")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Serve the HTTP API (Postgres when a database URL is set, else the embedded store).
    Serve {
        #[arg(long, env = "VECGATE_ADDR", default_value = "127.0.0.1:8080")]
        addr: SocketAddr,
        #[arg(long, env = "VECGATE_DATA_DIR", default_value = "./vecgate-data")]
        data_dir: PathBuf,
        #[command(flatten)]
        config: ConfigArgs,
    },
    /// Apply pending database migrations (safe to run twice).
    Migrate {
        #[command(flatten)]
        config: ConfigArgs,
    },
    /// Load a JSONL file of content items (the `movies.jsonl` format) in batches.
    Import {
        file: PathBuf,
        #[arg(long, default_value_t = 500)]
        batch: usize,
        #[arg(long, env = "VECGATE_DATA_DIR", default_value = "./vecgate-data")]
        data_dir: PathBuf,
        #[command(flatten)]
        config: ConfigArgs,
    },
}

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
                _ => return None,
            }
            .clone()
        })
    }
}

type Fallible<T> = Result<T, Box<dyn std::error::Error>>;

/// Connects, detects the dialect, applies pending migrations, and returns the store.
pub async fn postgres_store(config: &mut Config, url: &str) -> Fallible<PostgresStore<PgClient>> {
    let client = PgClient::new(url, &config.database_read_urls)?;
    client.ping().await?;
    let dialect = match config.dialect {
        Some(d) => d,
        None => migrate::detect_dialect(&client).await?.ok_or(
            "the database has neither ruvector nor pgvector available; install one or set --dialect",
        )?,
    };
    config.dialect = Some(dialect);
    let applied = migrate::migrate(&client, dialect, config.dimensions).await?;
    for m in applied {
        eprintln!("vecgate: applied migration {m}");
    }
    Ok(PostgresStore::new(
        client,
        dialect,
        config.dimensions,
        !config.database_read_urls.is_empty(),
    ))
}

pub async fn open_store(config: &mut Config, data_dir: &std::path::Path) -> Fallible<AnyStore> {
    match config.database_url.clone() {
        Some(url) => Ok(AnyStore::Postgres(postgres_store(config, &url).await?)),
        None => AnyStore::embedded(config, data_dir),
    }
}

pub async fn run(cli: Cli) -> Fallible<()> {
    match cli.command {
        Command::Serve {
            addr,
            data_dir,
            config,
        } => {
            let mut config = config.config()?;
            let store = open_store(&mut config, &data_dir).await?;
            if !config.auth_required() {
                eprintln!(
                    "vecgate: WARNING no API keys configured; the API is open to anyone who can reach {addr}"
                );
            }
            let backend = store.describe();
            let handler = Arc::new(Handler::new(config, store, ReqwestPost::default()));
            let listener = tokio::net::TcpListener::bind(addr).await?;
            let local = listener.local_addr()?;
            println!("vecgate listening on http://{local} ({backend})");
            println!(
                "try: curl -s http://{local}/v1/stats"
            );
            super::server::serve(listener, handler, Arc::new(|_: &Request| None)).await?;
            Ok(())
        }
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
                println!("schema is up to date ({dialect:?}, {} dimensions)", config.dimensions);
            }
            for m in applied {
                println!("applied {m}");
            }
            Ok(())
        }
        Command::Import {
            file,
            batch,
            data_dir,
            config,
        } => {
            let mut config = config.config()?;
            let store = open_store(&mut config, &data_dir).await?;
            let handler = Handler::new(config, store, ReqwestPost::default());
            import(&handler, &file, batch).await
        }
    }
}

/// Sends the file's items through the API handler in-process, so an import is validated exactly
/// like `POST /v1/content`, batch by batch, each batch all or nothing.
pub async fn import(
    handler: &Handler<AnyStore, ReqwestPost>,
    file: &std::path::Path,
    batch: usize,
) -> Fallible<()> {
    use std::io::BufRead;
    let batch = batch.clamp(1, crate::api::MAX_BATCH_ITEMS);
    let total = std::fs::metadata(file)
        .map_err(|e| format!("cannot read {}: {e}", file.display()))?
        .len();
    let reader = std::io::BufReader::new(std::fs::File::open(file)?);
    let bar = indicatif::ProgressBar::new(total).with_style(
        indicatif::ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {wide_bar} {bytes}/{total_bytes} {msg}",
        )?,
    );
    let mut lines: Vec<String> = Vec::with_capacity(batch);
    let mut imported = 0usize;
    let mut line_no = 0usize;
    let send = async |lines: &mut Vec<String>, first_line: usize| -> Fallible<usize> {
        let body = format!("{{\"items\":[{}]}}", lines.join(","));
        let mut req = Request::new(Method::Post, "/v1/content");
        req.body = body.into_bytes();
        let response = handler.handle(req).await;
        lines.clear();
        if response.status != 200 {
            return Err(format!(
                "batch starting at line {first_line} rejected ({}): {}",
                response.status,
                String::from_utf8_lossy(&response.body)
            )
            .into());
        }
        let v: serde_json::Value = serde_json::from_slice(&response.body)?;
        Ok(v["upserted"].as_u64().unwrap_or(0) as usize)
    };
    let mut batch_start = 1;
    for line in reader.lines() {
        let line = line?;
        line_no += 1;
        bar.inc(line.len() as u64 + 1);
        if line.trim().is_empty() {
            continue;
        }
        if lines.is_empty() {
            batch_start = line_no;
        }
        lines.push(line);
        if lines.len() == batch {
            imported += send(&mut lines, batch_start).await?;
            bar.set_message(format!("{imported} items"));
        }
    }
    if !lines.is_empty() {
        imported += send(&mut lines, batch_start).await?;
    }
    bar.finish_with_message(format!("{imported} items"));
    println!("imported {imported} items from {}", file.display());
    Ok(())
}
