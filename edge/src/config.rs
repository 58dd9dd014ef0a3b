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
    "target_recall",
    "max_ef",
    "exact_when_unreachable",
    "search_ef",
    "jwt_secret",
    "jwt_jwks",
    "jwt_issuer",
    "jwt_audience",
    "jwt_leeway_s",
    "jwt_role_claim",
    "cors_origins",
    "insecure_open",
    "metrics_public",
    "log_retention_days",
    "rate_limit_search",
    "rate_limit_write",
    "rate_limit_embed",
];

/// Settings that hold secrets; never logged or exported.
pub const SECRET_NAMES: &[&str] = &[
    "database_url",
    "database_read_urls",
    "api_keys_read",
    "api_keys_write",
    "api_keys_admin",
    "embedding_api_key",
    "jwt_secret",
];

pub const DEFAULT_DIMENSIONS: usize = 768;
pub const DEFAULT_EMBEDDING_MODEL: &str = "text-embedding-3-small";
pub const DEFAULT_REQUEST_TIMEOUT_MS: u64 = 10_000;
pub const DEFAULT_RECALL_SAMPLE_RATE: f64 = 0.01;
pub const DEFAULT_TARGET_RECALL: f64 = 0.95;
/// ruvector's own limit; far beyond what an HNSW needs for 0.99 on real embeddings.
pub const DEFAULT_MAX_EF: usize = 1000;
pub const DEFAULT_JWT_LEEWAY_S: u64 = 30;
pub const DEFAULT_LOG_RETENTION_DAYS: f64 = 30.0;
/// Text embeddings per second per caller: the model's CPU is the scarce thing.
pub const DEFAULT_RATE_LIMIT_EMBED: u32 = 20;

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
    /// Write, plus acting for any user (their preference, events, logs and erasure).
    Admin,
}

impl Role {
    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "read" => Some(Role::Read),
            "write" => Some(Role::Write),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }
}

/// How user tokens (JWTs) are verified.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TokenConfig {
    /// `jwt_secret`: HS256 tokens are accepted, signed with this.
    pub hs256_secret: Option<String>,
    /// `jwt_issuer`: required `iss`.
    pub issuer: Option<String>,
    /// `jwt_audience`: required `aud`.
    pub audience: Option<String>,
    /// `jwt_leeway_s`: clock skew allowed on `exp` and `nbf`.
    pub leeway_s: u64,
    /// `jwt_role_claim`: the claim (a name, or a dotted path) holding `read`, `write` or `admin`;
    /// without it, or with another value, a token's role is read.
    pub role_claim: Option<String>,
}

/// Where the JWKS of RS256/ES256/EdDSA tokens comes from (`jwt_jwks`).
#[derive(Debug, Clone, PartialEq)]
pub enum JwksSource {
    /// The JSON document itself (every host), parsed once, here.
    Inline(jsonwebtoken::jwk::JwkSet),
    /// A file (native only).
    File(String),
    /// An `https://` (or `http://`) URL, fetched and refreshed on an unknown `kid` (native only).
    Url(String),
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
    /// `target_recall`: the recall@k each class of search is kept at, by choosing its breadth
    /// from the monitor's measurements (0 turns the control off: fixed breadths).
    pub target_recall: f64,
    /// `max_ef`: the largest breadth the control may choose.
    pub max_ef: usize,
    /// `exact_when_unreachable`: a class that misses `target_recall` at `max_ef` is searched
    /// exactly instead (slower, but at the target).
    pub exact_when_unreachable: bool,
    /// `search_ef`: with `target_recall` 0, the breadth every search uses (hand-tuned); `None`:
    /// each backend's own.
    pub search_ef: Option<usize>,
    pub tokens: TokenConfig,
    pub jwks: Option<JwksSource>,
    /// `cors_origins`: exact origins (`https://app.example.com`) allowed to call from a
    /// browser, or `*`. Empty: no CORS headers at all.
    pub cors_origins: Vec<String>,
    /// `insecure_open`: with no keys or tokens configured, serve anyone on any address (without
    /// it an open server answers on loopback only, and a Spin component refuses).
    pub insecure_open: bool,
    /// `metrics_public`: `/metrics` without a key.
    pub metrics_public: bool,
    /// `log_retention_days`: search-log rows older than this are deleted (0 keeps them).
    pub log_retention_days: f64,
    /// `rate_limit_search`, `rate_limit_write`, `rate_limit_embed`: requests per second per
    /// caller (0: no limit), answered 429 with `Retry-After` beyond it.
    pub rate_limit_search: u32,
    pub rate_limit_write: u32,
    pub rate_limit_embed: u32,
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
            target_recall: DEFAULT_TARGET_RECALL,
            max_ef: DEFAULT_MAX_EF,
            exact_when_unreachable: false,
            search_ef: None,
            tokens: TokenConfig {
                leeway_s: DEFAULT_JWT_LEEWAY_S,
                ..TokenConfig::default()
            },
            jwks: None,
            cors_origins: Vec::new(),
            insecure_open: false,
            metrics_public: false,
            log_retention_days: DEFAULT_LOG_RETENTION_DAYS,
            rate_limit_search: 0,
            rate_limit_write: 0,
            rate_limit_embed: DEFAULT_RATE_LIMIT_EMBED,
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

fn flag(name: &str, value: Option<String>) -> Result<bool, String> {
    match non_empty(value).as_deref() {
        None | Some("off" | "false" | "0") => Ok(false),
        Some("on" | "true" | "1") => Ok(true),
        Some(v) => Err(format!("{name} must be true or false, got {v:?}")),
    }
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
        if let Some(t) = non_empty(get("target_recall")) {
            c.target_recall = t
                .parse()
                .ok()
                .filter(|t: &f64| (0.0..=1.0).contains(t))
                .ok_or_else(|| {
                    format!("target_recall must be a number in 0..=1 (0: off), got {t:?}")
                })?;
        }
        if let Some(m) = non_empty(get("max_ef")) {
            c.max_ef = m
                .parse()
                .ok()
                .filter(|m: &usize| (10..=100_000).contains(m))
                .ok_or_else(|| {
                    format!("max_ef must be a whole number in 10..=100000, got {m:?}")
                })?;
        }
        c.exact_when_unreachable = flag("exact_when_unreachable", get("exact_when_unreachable"))?;
        if let Some(ef) = non_empty(get("search_ef")) {
            c.search_ef = Some(
                ef.parse()
                    .ok()
                    .filter(|ef: &usize| (1..=100_000).contains(ef))
                    .ok_or_else(|| {
                        format!("search_ef must be a whole number in 1..=100000, got {ef:?}")
                    })?,
            );
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
        c.tokens.hs256_secret = non_empty(get("jwt_secret"));
        if c.tokens.hs256_secret.as_ref().is_some_and(|s| s.len() < 32) {
            return Err(
                "jwt_secret must be at least 32 characters (RFC 7518: HS256 keys of 256 bits)"
                    .into(),
            );
        }
        c.tokens.issuer = non_empty(get("jwt_issuer"));
        c.tokens.audience = non_empty(get("jwt_audience"));
        c.tokens.role_claim = non_empty(get("jwt_role_claim"));
        if let Some(l) = non_empty(get("jwt_leeway_s")) {
            c.tokens.leeway_s =
                l.parse().ok().filter(|l| *l <= 600).ok_or_else(|| {
                    format!("jwt_leeway_s must be an integer in 0..=600, got {l:?}")
                })?;
        }
        c.jwks = match non_empty(get("jwt_jwks")) {
            None => None,
            Some(v) if v.starts_with('{') => {
                Some(JwksSource::Inline(crate::api::token::parse_jwks(&v)?))
            }
            Some(v) if v.starts_with("https://") || v.starts_with("http://") => {
                Some(JwksSource::Url(v))
            }
            Some(v) => Some(JwksSource::File(v)),
        };
        c.cors_origins = list(get("cors_origins"));
        for origin in &c.cors_origins {
            let ok = origin == "*"
                || ((origin.starts_with("https://") || origin.starts_with("http://"))
                    && !origin
                        .trim_end_matches('/')
                        .contains(|ch: char| ch.is_whitespace())
                    && !origin[origin.find("://").unwrap_or(0) + 3..].contains('/'));
            if !ok {
                return Err(format!(
                    "cors_origins: {origin:?} is not an origin (scheme://host[:port], or *)"
                ));
            }
        }
        c.insecure_open = flag("insecure_open", get("insecure_open"))?;
        c.metrics_public = flag("metrics_public", get("metrics_public"))?;
        if let Some(d) = non_empty(get("log_retention_days")) {
            c.log_retention_days = d
                .parse()
                .ok()
                .filter(|d: &f64| d.is_finite() && *d >= 0.0)
                .ok_or_else(|| {
                    format!("log_retention_days must be a number of days ≥ 0, got {d:?}")
                })?;
        }
        for (name, field) in [
            ("rate_limit_search", &mut c.rate_limit_search),
            ("rate_limit_write", &mut c.rate_limit_write),
            ("rate_limit_embed", &mut c.rate_limit_embed),
        ] {
            if let Some(v) = non_empty(get(name)) {
                *field = v.parse().map_err(|_| {
                    format!(
                        "{name} must be a whole number of requests per second (0: off), got {v:?}"
                    )
                })?;
            }
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

    /// Whether requests must carry a key or token. With neither configured the API is open:
    /// on loopback only for `vecgate serve`, refused by the Spin component, unless
    /// `insecure_open` says otherwise.
    pub fn auth_required(&self) -> bool {
        !self.api_keys.is_empty() || self.tokens_configured()
    }

    /// Whether user tokens (JWTs) are accepted.
    pub fn tokens_configured(&self) -> bool {
        self.tokens.hs256_secret.is_some() || self.jwks.is_some()
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
        let c = Config::from_lookup(lookup(&[
            ("target_recall", "0.99"),
            ("max_ef", "500"),
            ("exact_when_unreachable", "true"),
            ("search_ef", "120"),
        ]))
        .unwrap();
        assert_eq!(
            (
                c.target_recall,
                c.max_ef,
                c.exact_when_unreachable,
                c.search_ef
            ),
            (0.99, 500, true, Some(120))
        );
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
            ("jwt_secret", "short"),
            ("jwt_leeway_s", "-3"),
            ("jwt_jwks", "{not json"),
            ("cors_origins", "example.com"),
            ("cors_origins", "https://example.com/path"),
            ("insecure_open", "yes please"),
            ("log_retention_days", "-1"),
            ("rate_limit_search", "lots"),
            ("rate_limit_embed", "-2"),
            ("target_recall", "1.5"),
            ("max_ef", "3"),
            ("exact_when_unreachable", "sometimes"),
            ("search_ef", "0"),
        ] {
            let err = Config::from_lookup(lookup(&[(k, v)])).unwrap_err();
            assert!(err.contains(k), "{err}");
        }
    }
}
