//! Configuration, with the same names on every host (DESIGN.md): Spin application variables,
//! native flags (`--database-url`) or environment variables (`VECGATE_DATABASE_URL`).

use crate::sql::Dialect;

/// Every setting vecgate reads, by its configuration name.
pub const NAMES: &[&str] = &[
    "database_url",
    "database_read_urls",
    "dialect",
    "dimensions",
    "api_keys_read",
    "api_keys_write",
    "api_keys_admin",
    "embedding_url",
    "embedding_model",
    "embedding_api_key",
    "request_timeout_ms",
    "local_model",
    "embedding_fallback",
    "recall_sample_rate",
];

/// Settings that hold secrets; never logged or exported.
pub const SECRET_NAMES: &[&str] = &[
    "database_url",
    "database_read_urls",
    "api_keys_read",
    "api_keys_write",
    "api_keys_admin",
    "embedding_api_key",
];

pub const DEFAULT_DIMENSIONS: usize = 768;
pub const DEFAULT_EMBEDDING_MODEL: &str = "text-embedding-3-small";
pub const DEFAULT_REQUEST_TIMEOUT_MS: u64 = 10_000;
pub const DEFAULT_RECALL_SAMPLE_RATE: f64 = 0.01;

/// An API key and what it may do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKey {
    pub secret: String,
    pub role: Role,
    /// `secret@user-id` scopes a key to one user's preference vector.
    pub user: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    Read,
    Write,
    /// Write, plus reading any user's preference vector.
    Admin,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub database_url: Option<String>,
    pub database_read_urls: Vec<String>,
    /// `None`: detected from the installed extension.
    pub dialect: Option<Dialect>,
    pub dimensions: usize,
    pub api_keys: Vec<ApiKey>,
    pub embedding_url: Option<String>,
    pub embedding_model: String,
    pub embedding_api_key: Option<String>,
    pub request_timeout_ms: u64,
    /// `local_model`: text queries use the host's all-MiniLM-L6-v2 when no `embedding_url` is
    /// set (`on`, the default; `off` turns text queries off then).
    pub local_model: bool,
    /// `embedding_fallback = local`: when the remote provider fails, use the local model.
    pub embedding_fallback_local: bool,
    /// `recall_sample_rate`: the share of searches re-run exactly, off the request path, to
    /// measure recall (0 turns the monitor off).
    pub recall_sample_rate: f64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            database_url: None,
            database_read_urls: Vec::new(),
            dialect: None,
            dimensions: DEFAULT_DIMENSIONS,
            api_keys: Vec::new(),
            embedding_url: None,
            embedding_model: DEFAULT_EMBEDDING_MODEL.into(),
            embedding_api_key: None,
            request_timeout_ms: DEFAULT_REQUEST_TIMEOUT_MS,
            local_model: true,
            embedding_fallback_local: false,
            recall_sample_rate: DEFAULT_RECALL_SAMPLE_RATE,
        }
    }
}

fn list(value: Option<String>) -> Vec<String> {
    value
        .map(|v| {
            v.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

fn non_empty(value: Option<String>) -> Option<String> {
    value.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty())
}

impl Config {
    /// Reads every setting through `get(name)`; unset and empty values take their defaults.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Config, String> {
        let mut c = Config {
            database_url: non_empty(get("database_url")),
            database_read_urls: list(get("database_read_urls")),
            embedding_url: non_empty(get("embedding_url")),
            embedding_api_key: non_empty(get("embedding_api_key")),
            ..Config::default()
        };
        if let Some(d) = non_empty(get("dialect")) {
            c.dialect = Some(
                Dialect::parse(&d)
                    .ok_or_else(|| format!("dialect must be ruvector or pgvector, got {d:?}"))?,
            );
        }
        if let Some(d) = non_empty(get("dimensions")) {
            c.dimensions = d
                .parse()
                .ok()
                .filter(|d| (1..=16_000).contains(d))
                .ok_or_else(|| format!("dimensions must be an integer in 1..=16000, got {d:?}"))?;
        }
        if let Some(m) = non_empty(get("embedding_model")) {
            c.embedding_model = m;
        }
        if let Some(t) = non_empty(get("request_timeout_ms")) {
            c.request_timeout_ms = t.parse().ok().filter(|t| *t > 0).ok_or_else(|| {
                format!("request_timeout_ms must be a positive integer, got {t:?}")
            })?;
        }
        if let Some(v) = non_empty(get("local_model")) {
            c.local_model = match v.as_str() {
                "on" | "true" | "1" => true,
                "off" | "false" | "0" => false,
                _ => return Err(format!("local_model must be on or off, got {v:?}")),
            };
        }
        if let Some(v) = non_empty(get("embedding_fallback")) {
            c.embedding_fallback_local = match v.as_str() {
                "local" => true,
                "none" => false,
                _ => {
                    return Err(format!(
                        "embedding_fallback must be local or none, got {v:?}"
                    ))
                }
            };
        }
        if let Some(r) = non_empty(get("recall_sample_rate")) {
            c.recall_sample_rate = r
                .parse()
                .ok()
                .filter(|r: &f64| (0.0..=1.0).contains(r))
                .ok_or_else(|| {
                    format!("recall_sample_rate must be a number in 0..=1, got {r:?}")
                })?;
        }
        if c.embedding_fallback_local && c.embedding_url.is_none() {
            return Err(
                "embedding_fallback needs embedding_url (the local model is already the default)"
                    .into(),
            );
        }
        for (name, role) in [
            ("api_keys_read", Role::Read),
            ("api_keys_write", Role::Write),
            ("api_keys_admin", Role::Admin),
        ] {
            for entry in list(get(name)) {
                let (secret, user) = match entry.split_once('@') {
                    Some((s, u)) => (s.to_owned(), Some(u.to_owned())),
                    None => (entry, None),
                };
                if secret.len() < 8 {
                    return Err(format!("{name}: keys must be at least 8 characters"));
                }
                c.api_keys.push(ApiKey { secret, role, user });
            }
        }
        Ok(c)
    }

    /// Whether requests must carry a key. With no keys configured the API is open, which
    /// `vecgate serve` warns about at start.
    pub fn auth_required(&self) -> bool {
        !self.api_keys.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn lookup(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn defaults_and_parsing() {
        let c = Config::from_lookup(lookup(&[])).unwrap();
        assert_eq!(c, Config::default());
        assert!(!c.auth_required());
        let c = Config::from_lookup(lookup(&[
            ("database_url", "postgres://x"),
            ("database_read_urls", "postgres://r1, postgres://r2,"),
            ("dialect", "pgvector"),
            ("dimensions", "384"),
            ("api_keys_read", "readkey-1,readkey-2@user-7"),
            ("api_keys_write", "writekey-1"),
        ]))
        .unwrap();
        assert_eq!(c.database_read_urls, vec!["postgres://r1", "postgres://r2"]);
        assert_eq!(c.dialect, Some(Dialect::Pgvector));
        assert_eq!(c.dimensions, 384);
        assert_eq!(c.api_keys.len(), 3);
        assert_eq!(c.api_keys[1].user.as_deref(), Some("user-7"));
        assert_eq!(c.api_keys[2].role, Role::Write);
        assert!(c.auth_required());
        assert!(c.local_model && !c.embedding_fallback_local);
        let c = Config::from_lookup(lookup(&[
            ("embedding_url", "http://127.0.0.1:1/v1"),
            ("embedding_fallback", "local"),
            ("local_model", "off"),
        ]))
        .unwrap();
        assert!(!c.local_model && c.embedding_fallback_local);
        let err = Config::from_lookup(lookup(&[("embedding_fallback", "local")])).unwrap_err();
        assert!(err.contains("embedding_url"), "{err}");
    }

    #[test]
    fn bad_values_are_errors() {
        for (k, v) in [
            ("dialect", "mysql"),
            ("dimensions", "0"),
            ("dimensions", "abc"),
            ("api_keys_read", "short"),
            ("request_timeout_ms", "-1"),
            ("local_model", "maybe"),
            ("embedding_fallback", "remote"),
            ("recall_sample_rate", "1.5"),
            ("recall_sample_rate", "often"),
        ] {
            let err = Config::from_lookup(lookup(&[(k, v)])).unwrap_err();
            assert!(err.contains(k), "{err}");
        }
    }
}
