//! [`SqlClient`] over tokio-postgres: a primary and optional read replicas, each with a small
//! pool of lazily (re)connected connections, so vecgate starts while Postgres is down and
//! recovers by itself after Postgres restarts.
//!
//! Every statement goes out with `query_typed` and all parameters typed `text`: one round trip,
//! no server-side prepared statement to go stale, and a custom plan for each execution.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::{Mutex, MutexGuard};
use tokio_postgres::types::{ToSql, Type};
use tokio_postgres::Client;

use tokio_postgres_rustls::MakeRustlsConnect;

use super::tls::{describe, hosts, PgTarget};
use crate::sql::{guard_passed, DbError, Param, Route, Row, Scope, SqlClient};

/// Pool and timeout settings for [`PgClient`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PgOptions {
    /// Connections per URL.
    pub pool_size: usize,
    /// How long opening one connection may take.
    pub connect_timeout: Duration,
    /// How long one statement (or batch) may take, including waiting for a free connection.
    pub statement_timeout: Duration,
}

impl Default for PgOptions {
    fn default() -> Self {
        PgOptions {
            pool_size: 8,
            connect_timeout: Duration::from_secs(5),
            statement_timeout: Duration::from_secs(30),
        }
    }
}

/// Postgres through tokio-postgres, over TLS as each URL's `sslmode` says (`super::tls`).
pub struct PgClient {
    primary: Pool,
    replicas: Vec<Pool>,
    next_replica: AtomicUsize,
    statement_timeout: Duration,
}

impl PgClient {
    /// A client for `primary` and the read replicas `replicas`, with [`PgOptions::default`].
    /// Connects lazily: this fails only for a malformed URL, never because Postgres is down.
    pub fn new(primary: &str, replicas: &[String]) -> Result<PgClient, DbError> {
        PgClient::with_options(primary, replicas, PgOptions::default())
    }

    pub fn with_options(
        primary: &str,
        replicas: &[String],
        options: PgOptions,
    ) -> Result<PgClient, DbError> {
        let primary = Pool::new("primary", primary, &options)?;
        let replicas = replicas
            .iter()
            .enumerate()
            .map(|(i, url)| Pool::new(&format!("read replica {}", i + 1), url, &options))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(PgClient {
            primary,
            replicas,
            next_replica: AtomicUsize::new(0),
            statement_timeout: options.statement_timeout,
        })
    }

    /// Runs `SELECT 1` on the primary.
    pub async fn ping(&self) -> Result<(), DbError> {
        self.query(Route::Write, "SELECT 1::text", &[])
            .await
            .map(drop)
    }

    /// The pool a statement runs on: replicas round-robin for reads, else the primary.
    fn pool(&self, route: Route) -> &Pool {
        match route {
            Route::Read if !self.replicas.is_empty() => {
                let i = self.next_replica.fetch_add(1, Ordering::Relaxed) % self.replicas.len();
                &self.replicas[i]
            }
            _ => &self.primary,
        }
    }

    async fn run<T>(
        &self,
        route: Route,
        work: impl AsyncFnOnce(&mut Conn) -> Result<T, tokio_postgres::Error>,
    ) -> Result<T, DbError> {
        let pool = self.pool(route);
        let attempt = async {
            let mut in_flight = InFlight {
                slot: pool.acquire().await,
                tls: &pool.target.tls,
                finished: false,
            };
            let conn = pool.connected(&mut in_flight.slot).await?;
            let result = work(conn).await;
            let closed = conn.client.is_closed();
            in_flight.finished = true;
            result.map_err(|e| {
                let error = classify(&e);
                if matches!(error, DbError::Unavailable(_)) || closed {
                    // Broken or terminated: the next user of this slot reconnects.
                    *in_flight.slot = None;
                }
                error
            })
        };
        tokio::time::timeout(self.statement_timeout, attempt)
            .await
            .unwrap_or_else(|_| {
                Err(DbError::Unavailable(format!(
                    "{}: no answer within {:?}",
                    pool.name, self.statement_timeout
                )))
            })
    }
}

/// A slot in use. Dropped before the statement finished (the caller timed out), it cancels the
/// statement on the server and discards the connection, so no stray work or half-read reply
/// is left for the next user.
struct InFlight<'a> {
    slot: MutexGuard<'a, Slot>,
    tls: &'a MakeRustlsConnect,
    finished: bool,
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        if self.finished {
            return;
        }
        if let (Some(conn), Ok(runtime)) = (self.slot.take(), tokio::runtime::Handle::try_current())
        {
            let cancel = conn.client.cancel_token();
            let tls = self.tls.clone();
            runtime.spawn(async move {
                let _ = cancel.cancel_query(tls).await;
            });
        }
    }
}

impl SqlClient for PgClient {
    async fn query(&self, route: Route, sql: &str, params: &[Param]) -> Result<Vec<Row>, DbError> {
        let typed = typed(params);
        let rows = self
            .run(route, async |conn: &mut Conn| {
                conn.client.query_typed(sql, &typed).await
            })
            .await?;
        text_rows(&rows)
    }

    async fn batch(&self, sql: &str) -> Result<(), DbError> {
        self.run(Route::Write, async |conn: &mut Conn| {
            let result = conn.client.batch_execute(sql).await;
            if result.is_err() {
                // A failed `BEGIN; …; COMMIT;` leaves the session in an aborted transaction;
                // roll it back so the pooled connection is clean for the next user.
                let _ = conn.client.batch_execute("ROLLBACK").await;
            }
            result
        })
        .await
    }

    /// The guard runs once per pooled connection: a pass is remembered until the connection
    /// breaks (a crash restart of the server breaks them all), a failure is not. `BEGIN`, the
    /// settings, the statement and `COMMIT` go out pipelined: one round trip, as without them.
    async fn query_scoped(
        &self,
        route: Route,
        scope: &Scope<'_>,
        sql: &str,
        params: &[Param],
    ) -> Result<Option<Vec<Row>>, DbError> {
        let typed_params = typed(params);
        let rows = self
            .run(route, async |conn: &mut Conn| {
                if let Some(guard) = scope.guard {
                    if conn.passed_guard.as_deref() != Some(guard) {
                        let answer = conn.client.query_typed(guard, &[]).await?;
                        let answer: Vec<Row> = answer
                            .iter()
                            .map(|r| vec![r.try_get::<_, Option<String>>(0).ok().flatten()])
                            .collect();
                        if !guard_passed(&answer) {
                            return Ok(None);
                        }
                        conn.passed_guard = Some(guard.to_owned());
                    }
                }
                let Some((settings, settings_params)) = scope.settings else {
                    return conn.client.query_typed(sql, &typed_params).await.map(Some);
                };
                let settings_params = typed(settings_params);
                let client = &conn.client;
                // `biased`: polled in this order, so sent in this order. A failed statement
                // aborts the transaction and the COMMIT then rolls it back, leaving the
                // connection clean.
                let (begin, set, rows, commit) = tokio::join!(
                    biased;
                    client.batch_execute("BEGIN"),
                    client.query_typed(settings, &settings_params),
                    client.query_typed(sql, &typed_params),
                    client.batch_execute("COMMIT"),
                );
                begin?;
                set?;
                let rows = rows?;
                commit?;
                Ok(Some(rows))
            })
            .await?;
        rows.as_deref().map(text_rows).transpose()
    }
}

/// Every parameter typed `text` (see the module comment).
fn typed(params: &[Param]) -> Vec<(&(dyn ToSql + Sync), Type)> {
    params
        .iter()
        .map(|p| (p as &(dyn ToSql + Sync), Type::TEXT))
        .collect()
}

fn text_rows(rows: &[tokio_postgres::Row]) -> Result<Vec<Row>, DbError> {
    rows.iter()
        .map(|row| {
            (0..row.len())
                .map(|i| {
                    row.try_get::<_, Option<String>>(i).map_err(|e| {
                        DbError::Rejected(format!(
                            "column {i} ({}) is not text; select it as ::text: {e}",
                            row.columns()[i].name()
                        ))
                    })
                })
                .collect()
        })
        .collect()
}

/// The connections to one URL.
struct Pool {
    name: String,
    target: PgTarget,
    connect_timeout: Duration,
    slots: Vec<Mutex<Slot>>,
    next: AtomicUsize,
}

/// A pooled connection, `None` until first use and after it broke.
type Slot = Option<Conn>;

/// One open connection and the guard it passed (see [`SqlClient::query_guarded`]).
struct Conn {
    client: Client,
    passed_guard: Option<String>,
}

impl Pool {
    fn new(name: &str, url: &str, options: &PgOptions) -> Result<Pool, DbError> {
        // The parse error never echoes the URL, so no password reaches logs or responses.
        let mut target = PgTarget::parse(url)
            .map_err(|e| DbError::Rejected(format!("invalid database URL ({name}): {e}")))?;
        if target.config.get_application_name().is_none() {
            target.config.application_name("vecgate");
        }
        target.config.connect_timeout(options.connect_timeout);
        Ok(Pool {
            name: format!("{name} {}", hosts(&target.config)),
            target,
            connect_timeout: options.connect_timeout,
            slots: (0..options.pool_size.max(1))
                .map(|_| Mutex::new(None))
                .collect(),
            next: AtomicUsize::new(0),
        })
    }

    /// A free slot if there is one, else waits for the next slot in turn.
    async fn acquire(&self) -> MutexGuard<'_, Slot> {
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        let n = self.slots.len();
        for i in 0..n {
            if let Ok(guard) = self.slots[(start + i) % n].try_lock() {
                return guard;
            }
        }
        self.slots[start % n].lock().await
    }

    /// The slot's connection, (re)connecting when it is missing or closed.
    async fn connected<'a>(&self, slot: &'a mut Slot) -> Result<&'a mut Conn, DbError> {
        if slot.as_ref().is_some_and(|c| c.client.is_closed()) {
            *slot = None;
        }
        if slot.is_none() {
            *slot = Some(Conn {
                client: self.connect().await?,
                passed_guard: None,
            });
        }
        Ok(slot.as_mut().expect("slot was just filled"))
    }

    async fn connect(&self) -> Result<Client, DbError> {
        let connecting = self.target.config.connect(self.target.tls.clone());
        let (client, connection) = tokio::time::timeout(self.connect_timeout, connecting)
            .await
            .map_err(|_| {
                DbError::Unavailable(format!(
                    "{}: connect timed out after {:?}",
                    self.name, self.connect_timeout
                ))
            })?
            .map_err(|e| DbError::Unavailable(format!("{}: {}", self.name, describe(&e))))?;
        // The connection task ends when the socket closes; `Client::is_closed` then reports it.
        tokio::spawn(async move {
            let _ = connection.await;
        });
        Ok(client)
    }
}

/// SQL errors are `Rejected` (with the server's message and SQLSTATE), except those that mean
/// "the database cannot serve you right now"; driver and network errors are `Unavailable`.
fn classify(e: &tokio_postgres::Error) -> DbError {
    match e.as_db_error() {
        Some(db) => {
            let message = format!("{} (SQLSTATE {})", db.message(), db.code().code());
            DbError::from_sqlstate(db.code().code(), message)
        }
        None if e.is_closed()
            || std::error::Error::source(e).is_some_and(|s| s.is::<std::io::Error>()) =>
        {
            DbError::Unavailable(e.to_string())
        }
        // Parameter or result conversion: a bug in the statement, not an outage.
        None => DbError::Rejected(e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio_postgres::error::SqlState;

    fn is_transient(code: &SqlState) -> bool {
        crate::sql::is_transient_sqlstate(code.code())
    }

    #[test]
    fn transient_sqlstates_are_unavailable_classes() {
        assert!(is_transient(&SqlState::ADMIN_SHUTDOWN));
        assert!(is_transient(&SqlState::CANNOT_CONNECT_NOW));
        assert!(is_transient(&SqlState::QUERY_CANCELED));
        assert!(is_transient(&SqlState::TOO_MANY_CONNECTIONS));
        assert!(is_transient(&SqlState::CONNECTION_FAILURE));
        assert!(!is_transient(&SqlState::UNIQUE_VIOLATION));
        assert!(!is_transient(&SqlState::SYNTAX_ERROR));
        assert!(!is_transient(&SqlState::INVALID_TEXT_REPRESENTATION));
    }

    #[test]
    fn construction_is_lazy_and_rejects_malformed_urls_without_echoing_them() {
        // Nothing listens on port 1; construction must not try.
        assert!(PgClient::new("postgres://u:secret@127.0.0.1:1/db", &[]).is_ok());
        let error = PgClient::new("postgres://u:secret@127.0.0.1:notaport/db", &[])
            .err()
            .expect("malformed URL is rejected");
        assert!(matches!(error, DbError::Rejected(_)), "{error:?}");
        assert!(!error.to_string().contains("secret"), "{error}");
    }

    #[tokio::test]
    async fn an_unreachable_database_is_unavailable() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("free port");
        let client = PgClient::new(
            &format!("postgres://postgres@127.0.0.1:{port}/postgres"),
            &[],
        )
        .unwrap();
        let error = client.ping().await.expect_err("nothing listens there");
        assert!(matches!(error, DbError::Unavailable(_)), "{error:?}");
    }
}
