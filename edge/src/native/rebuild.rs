//! Rebuilds ruvector's HNSW index after a database crash (`sql::sentinel`), once, however many
//! nodes run: the node that gets the advisory lock rebuilds, the others wait and resume when
//! the sentinel is filled again.
//!
//! It runs on a connection of its own, not the pool: the pool's statements time out, and a
//! rebuild takes minutes on a large table (sql/RUVECTOR.md, "After a crash"). The connection
//! stays open while the index is good; when it breaks (the server went away) the task
//! reconnects and checks again, so a crash is noticed and repaired without waiting for a
//! request.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio_postgres::error::SqlState;
use tokio_postgres::Client;

use crate::metrics::IndexHealth;
use crate::sql::sentinel;

/// How long a rebuild step may wait for a table lock before it gives up and retries later.
/// While the swap waits, new queries on the table queue behind it; this bounds that too.
const LOCK_TIMEOUT: Duration = Duration::from_secs(3);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Tries of the swap that may time out on its lock before the rebuild counts as failed.
const SWAP_ATTEMPTS: u32 = 20;
/// A progress line this often while the index builds.
const PROGRESS_EVERY: Duration = Duration::from_secs(10);

/// What one check found.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Checked {
    /// The sentinel is filled: the index is good.
    Good,
    /// This node rebuilt the index.
    Rebuilt { seconds: f64 },
    /// Another node holds the rebuild lock.
    Busy,
}

/// Why a check failed.
#[derive(Debug)]
pub enum Failure {
    /// The database could not be reached or the connection broke: retry when it is back.
    Unavailable(String),
    /// The rebuild itself failed (a lock timeout, an error from the server).
    Rebuild(String),
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Unavailable(m) => write!(f, "database unavailable: {m}"),
            Failure::Rebuild(m) => write!(f, "rebuild failed: {m}"),
        }
    }
}

pub struct Rebuilder {
    url: String,
    health: Arc<IndexHealth>,
}

impl Rebuilder {
    /// `url`: the primary. `health`: the store's ([`crate::store::postgres::PostgresStore::index_health`]).
    pub fn new(url: &str, health: Arc<IndexHealth>) -> Rebuilder {
        Rebuilder {
            url: url.to_owned(),
            health,
        }
    }

    /// Watches and repairs the index for the life of the process.
    pub fn spawn(self) {
        tokio::spawn(async move { self.run().await });
    }

    async fn run(self) {
        let mut held: Option<Client> = None;
        let mut said_unavailable = false;
        let mut said_busy = false;
        loop {
            let client = match held.take().filter(|c| !c.is_closed()) {
                Some(client) => client,
                None => match self.connect().await {
                    Ok(client) => client,
                    Err(e) => {
                        if !said_unavailable {
                            eprintln!("vecgate: index check: {e}; retrying");
                            said_unavailable = true;
                        }
                        tokio::time::sleep(Duration::from_secs(1)).await;
                        continue;
                    }
                },
            };
            said_unavailable = false;
            match self.check(&client).await {
                Ok(Checked::Good) => {
                    said_busy = false;
                    if self.health.set_suspect(false) {
                        eprintln!("vecgate: the vector index is good again (rebuilt elsewhere)");
                    }
                    // Idle until a request finds the index suspect or the server goes away.
                    while !self.health.suspect() && !client.is_closed() {
                        tokio::time::sleep(Duration::from_millis(500)).await;
                    }
                    held = Some(client);
                }
                Ok(Checked::Rebuilt { seconds }) => {
                    said_busy = false;
                    self.health.set_suspect(false);
                    eprintln!(
                        "vecgate: rebuilt the vector index in {seconds:.1} s; index searches \
                         and writes resume"
                    );
                    held = Some(client);
                }
                Ok(Checked::Busy) => {
                    if !said_busy {
                        eprintln!(
                            "vecgate: another vecgate is rebuilding the vector index; waiting"
                        );
                        said_busy = true;
                    }
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    held = Some(client);
                }
                Err(Failure::Unavailable(m)) => {
                    eprintln!("vecgate: index check: database unavailable ({m}); retrying");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
                Err(Failure::Rebuild(m)) => {
                    self.health.record_rebuild_failure();
                    eprintln!(
                        "vecgate: WARNING could not rebuild the vector index: {m}; \
                         retrying in 5 s"
                    );
                    tokio::time::sleep(Duration::from_secs(5)).await;
                }
            }
        }
    }

    /// Checks (and rebuilds when needed) until the index is good: for `vecgate import`,
    /// whose writes would otherwise be refused.
    pub async fn until_good(&self) -> Result<Checked, Failure> {
        let client = self.connect().await?;
        let mut said = false;
        loop {
            match self.check(&client).await? {
                Checked::Busy => {
                    if !said {
                        eprintln!(
                            "vecgate: waiting for another vecgate to rebuild the vector index"
                        );
                        said = true;
                    }
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
                done => return Ok(done),
            }
        }
    }

    async fn connect(&self) -> Result<Client, Failure> {
        let connecting = crate::native::tls::connect(&self.url);
        let (client, connection) = tokio::time::timeout(CONNECT_TIMEOUT, connecting)
            .await
            .map_err(|_| Failure::Unavailable("connect timed out".into()))?
            .map_err(Failure::Unavailable)?;
        tokio::spawn(async move {
            let _ = connection.await;
        });
        // No statement timeout: the build takes as long as it takes. Lock waits are bounded.
        client
            .batch_execute(&format!(
                "SET application_name = 'vecgate index rebuild'; SET statement_timeout = 0; \
                 SET lock_timeout = '{}ms'",
                LOCK_TIMEOUT.as_millis()
            ))
            .await
            .map_err(|e| unavailable_or(e, Failure::Rebuild))?;
        Ok(client)
    }

    /// One check on `client`: the sentinel, and a rebuild under the advisory lock if it is empty.
    pub async fn check(&self, client: &Client) -> Result<Checked, Failure> {
        // Cheap and lock-free first: the common case is a good index.
        if sentinel_filled(client).await? {
            return Ok(Checked::Good);
        }
        let locked: bool = client
            .query_one(
                "SELECT pg_try_advisory_lock($1)",
                &[&sentinel::REBUILD_LOCK_KEY],
            )
            .await
            .map_err(|e| unavailable_or(e, Failure::Rebuild))?
            .get(0);
        if !locked {
            return Ok(Checked::Busy);
        }
        self.health.set_rebuilding(true);
        let result = self.rebuild_locked(client).await;
        self.health.set_rebuilding(false);
        // Closing the connection would release the lock too.
        let _ = client
            .query(
                "SELECT pg_advisory_unlock($1)",
                &[&sentinel::REBUILD_LOCK_KEY],
            )
            .await;
        result
    }

    async fn rebuild_locked(&self, client: &Client) -> Result<Checked, Failure> {
        // Checked again under the lock: another node may have finished just now.
        if sentinel_filled(client).await? {
            return Ok(Checked::Good);
        }
        self.health.set_suspect(true);
        let rows: i64 = client
            .query_one("SELECT count(id) FROM content_vectors", &[])
            .await
            .map_err(|e| unavailable_or(e, Failure::Rebuild))?
            .get(0);
        eprintln!(
            "vecgate: rebuilding the vector index after a database crash ({rows} rows; searches \
             use the exact scan meanwhile, writes get 503)"
        );
        let started = Instant::now();
        if let Err(e) = client.batch_execute(sentinel::DROP_LEFTOVER).await {
            return Err(rebuild_error(client, e, "drop a leftover index").await);
        }
        let build = client.batch_execute(sentinel::BUILD);
        tokio::pin!(build);
        let mut progress =
            tokio::time::interval_at(tokio::time::Instant::now() + PROGRESS_EVERY, PROGRESS_EVERY);
        loop {
            tokio::select! {
                built = &mut build => match built {
                    Ok(()) => break,
                    Err(e) => return Err(rebuild_error(client, e, "build the new index").await),
                },
                _ = progress.tick() => eprintln!(
                    "vecgate: still rebuilding the vector index ({:.0} s, {rows} rows)",
                    started.elapsed().as_secs_f64()
                ),
            }
        }
        // The swap waits for the searches in flight (a full scan each while the index is
        // suspect); under steady traffic that may take a few tries. The build is not redone.
        let mut attempt = 1;
        while let Err(e) = client.batch_execute(sentinel::SWAP).await {
            let _ = client.batch_execute("ROLLBACK").await;
            if e.code() != Some(&SqlState::LOCK_NOT_AVAILABLE) || attempt == SWAP_ATTEMPTS {
                return Err(rebuild_error(client, e, "swap the new index in").await);
            }
            attempt += 1;
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        let seconds = started.elapsed().as_secs_f64();
        self.health.record_rebuild(seconds);
        Ok(Checked::Rebuilt { seconds })
    }
}

async fn sentinel_filled(client: &Client) -> Result<bool, Failure> {
    let answer: String = client
        .query_one(sentinel::GUARD, &[])
        .await
        .map_err(|e| unavailable_or(e, Failure::Rebuild))?
        .get(0);
    Ok(answer == "true")
}

/// A broken connection is `Unavailable`; anything else is made by `other`.
fn unavailable_or(e: tokio_postgres::Error, other: fn(String) -> Failure) -> Failure {
    let transient = e
        .as_db_error()
        .is_none_or(|db| crate::sql::is_transient_sqlstate(db.code().code()));
    if e.is_closed() || transient {
        Failure::Unavailable(e.to_string())
    } else {
        other(describe(&e))
    }
}

/// A failed step; a lock timeout names the backends holding locks on the table.
async fn rebuild_error(client: &Client, e: tokio_postgres::Error, step: &str) -> Failure {
    if e.is_closed() || e.as_db_error().is_none() {
        return Failure::Unavailable(format!("{step}: {e}"));
    }
    let mut message = format!("{step}: {}", describe(&e));
    if e.code() == Some(&SqlState::LOCK_NOT_AVAILABLE) {
        let holders: Vec<String> = client
            .query(sentinel::LOCK_HOLDERS, &[])
            .await
            .unwrap_or_default()
            .iter()
            .map(|r| {
                let col = |i: usize| r.try_get::<_, String>(i).unwrap_or_default();
                format!(
                    "pid {} ({}, {}, {} s: {})",
                    col(0),
                    col(1),
                    col(2),
                    col(3),
                    col(4)
                )
            })
            .collect();
        message.push_str(&format!(
            "; waited {LOCK_TIMEOUT:?} for a lock on content_vectors, held by: {}. A backend \
             stuck in the broken index ignores cancel and terminate: end it with kill -9 (the \
             server restarts) or an immediate shutdown",
            holders.join("; ")
        ));
    }
    Failure::Rebuild(message)
}

fn describe(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{} (SQLSTATE {})", db.message(), db.code().code()),
        None => e.to_string(),
    }
}
