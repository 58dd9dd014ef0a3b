//! Everything vecgate says to Postgres: the SQL-client seam both hosts implement, the two vector
//! dialects, the filter compiler and the migrations.
//!
//! Conventions that keep one SQL text valid for tokio-postgres and for Spin's pg API:
//! every parameter is sent as text (or NULL) and cast in SQL (`$1::text::ruvector`,
//! `$2::text::int`), and every selected column is cast to text (`vector::text`,
//! `metadata::text`). No value or key is ever spliced into SQL text.

pub mod breadth;
pub mod filter;
pub mod migrate;
pub mod sentinel;

use std::fmt;

/// A SQL parameter: text or NULL. Cast it in SQL to the type you need.
pub type Param = Option<String>;
/// A result row: one text value (or NULL) per selected column.
pub type Row = Vec<Option<String>>;

/// Why a database call failed.
#[derive(Debug, Clone, PartialEq)]
pub enum DbError {
    /// Could not connect, the connection broke, or the call timed out: retry later (HTTP 503).
    Unavailable(String),
    /// The statement was rejected (constraint, type error, bad input that reached SQL).
    Rejected(String),
    /// The database role lacks a privilege (SQLSTATE 42501): a node given the read-only role
    /// was asked to write.
    Denied(String),
}

impl DbError {
    /// The error of a statement the server failed with `sqlstate`, as both hosts classify it.
    pub fn from_sqlstate(sqlstate: &str, message: String) -> DbError {
        if is_transient_sqlstate(sqlstate) {
            DbError::Unavailable(message)
        } else if sqlstate == "42501" {
            DbError::Denied(message)
        } else {
            DbError::Rejected(message)
        }
    }
}

impl fmt::Display for DbError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DbError::Unavailable(m) => write!(f, "database unavailable: {m}"),
            DbError::Rejected(m) => write!(f, "database rejected the statement: {m}"),
            DbError::Denied(m) => write!(f, "the database role may not do this: {m}"),
        }
    }
}

impl std::error::Error for DbError {}

/// Whether a SQLSTATE means "not now" rather than "wrong": connection exceptions (08),
/// insufficient resources (53), operator intervention (57: shutdown, cancel, starting up) and
/// system errors (58). Both hosts map these to [`DbError::Unavailable`].
pub fn is_transient_sqlstate(code: &str) -> bool {
    matches!(code.get(..2), Some("08" | "53" | "57" | "58"))
}

/// Which connection a statement should use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// The primary.
    Write,
    /// A read replica when configured, else the primary.
    Read,
}

/// The seam between the SQL that vecgate builds and the host's Postgres driver.
#[allow(async_fn_in_trait)]
pub trait SqlClient {
    /// Runs one statement and returns its rows (empty for statements without RETURNING).
    async fn query(&self, route: Route, sql: &str, params: &[Param]) -> Result<Vec<Row>, DbError>;

    /// Runs several `;`-separated statements without parameters, in one round trip
    /// (migrations). Hosts that cannot do this return `DbError::Rejected`.
    async fn batch(&self, sql: &str) -> Result<(), DbError>;

    /// Runs `sql` as `scope` says: only behind its guard (`Ok(None)`, and `sql` never sent,
    /// when the guard fails), and in a transaction of its own after its settings statement, so
    /// settings made with `set_config(…, true)` hold for `sql` alone and one pooled connection
    /// serves statements that need different ones.
    ///
    /// Guard and statement must use the same connection: the guard vouches for the server
    /// incarnation that connection talks to (see [`sentinel`]). A client may remember a pass
    /// for the life of the connection, since a crash restart of the server ends every
    /// connection. This default runs each part through [`SqlClient::query`] (`BEGIN`, settings,
    /// statement, `COMMIT`: a round trip each), which is right for a client with one connection
    /// per route (Spin's, opened per request); a pooled client must override it.
    async fn query_scoped(
        &self,
        route: Route,
        scope: &Scope<'_>,
        sql: &str,
        params: &[Param],
    ) -> Result<Option<Vec<Row>>, DbError> {
        if let Some(guard) = scope.guard {
            let passed = self.query(route, guard, &[]).await?;
            if !guard_passed(&passed) {
                return Ok(None);
            }
        }
        let Some((settings, settings_params)) = scope.settings else {
            return self.query(route, sql, params).await.map(Some);
        };
        self.query(route, "BEGIN", &[]).await?;
        let result = async {
            self.query(route, settings, settings_params).await?;
            self.query(route, sql, params).await
        }
        .await;
        let end = if result.is_ok() { "COMMIT" } else { "ROLLBACK" };
        let ended = self.query(route, end, &[]).await;
        let rows = result?;
        ended?;
        Ok(Some(rows))
    }
}

/// How [`SqlClient::query_scoped`] runs a statement.
#[derive(Debug, Clone, Copy, Default)]
pub struct Scope<'a> {
    /// A statement without parameters whose first column is `'true'` or `'false'`: the
    /// statement runs only where it answered `'true'`.
    pub guard: Option<&'a str>,
    /// A statement (and its parameters) that sets what the statement runs with through
    /// `set_config(name, value, true)`: both run in one transaction.
    pub settings: Option<(&'a str, &'a [Param])>,
}

/// Whether a guard's answer (first column of the first row) is `'true'`.
pub fn guard_passed(rows: &[Row]) -> bool {
    rows.first()
        .and_then(|r| r.first())
        .and_then(|v| v.as_deref())
        == Some("true")
}

/// The vector extension in the database.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Dialect {
    /// ruvector-postgres: type `ruvector(n)`, opclass `ruvector_cosine_ops`, `ruvector.ef_search`.
    Ruvector,
    /// pgvector: type `vector(n)`, opclass `vector_cosine_ops`, `hnsw.ef_search`.
    Pgvector,
}

impl Dialect {
    pub fn parse(s: &str) -> Option<Dialect> {
        match s.to_ascii_lowercase().as_str() {
            "ruvector" => Some(Dialect::Ruvector),
            "pgvector" | "vector" => Some(Dialect::Pgvector),
            _ => None,
        }
    }

    /// The SQL type name of a vector column.
    pub fn vector_type(self) -> &'static str {
        match self {
            Dialect::Ruvector => "ruvector",
            Dialect::Pgvector => "vector",
        }
    }

    /// The HNSW operator class for cosine distance.
    pub fn cosine_opclass(self) -> &'static str {
        match self {
            Dialect::Ruvector => "ruvector_cosine_ops",
            Dialect::Pgvector => "vector_cosine_ops",
        }
    }

    /// The name of the extension (`CREATE EXTENSION …`).
    pub fn extension(self) -> &'static str {
        match self {
            Dialect::Ruvector => "ruvector",
            Dialect::Pgvector => "vector",
        }
    }
}

/// Formats a vector as the text both extensions read: `[0.1,0.2,…]`.
pub fn vector_literal(v: &[f32]) -> String {
    let mut s = String::with_capacity(v.len() * 10 + 2);
    s.push('[');
    for (i, x) in v.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        // `{}` on f32 prints the shortest text that reads back to the same f32.
        s.push_str(&x.to_string());
    }
    s.push(']');
    s
}

/// Parses `[0.1,0.2,…]` (the text output of both extensions).
pub fn parse_vector_literal(s: &str) -> Option<Vec<f32>> {
    let inner = s.trim().strip_prefix('[')?.strip_suffix(']')?;
    if inner.trim().is_empty() {
        return Some(Vec::new());
    }
    // Sized up front: a 384-d vector is ~3.5 KB of text, and growing by doubling showed up in
    // the edge's search profile.
    let mut out = Vec::with_capacity(inner.len() / 8 + 1);
    for x in inner.split(',') {
        out.push(x.trim().parse().ok()?);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vector_literal_round_trips() {
        let v = vec![0.1f32, -2.5e-7, 3.0, f32::MIN_POSITIVE];
        assert_eq!(parse_vector_literal(&vector_literal(&v)).unwrap(), v);
        assert_eq!(parse_vector_literal("[]").unwrap(), Vec::<f32>::new());
        assert!(parse_vector_literal("[1,x]").is_none());
        assert!(parse_vector_literal("1,2").is_none());
    }
}
