//! The HTTP API (DESIGN.md "HTTP API"): routing, authentication, validation and JSON errors,
//! independent of the host. Hosts build a [`Handler`] once and call [`Handler::handle`].

pub mod auth;
mod cors;
pub mod error;
pub mod limits;
pub mod recall;
mod recommend;
mod requests;
pub mod token;

pub use requests::check_text;
mod routes;

use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::config::Config;
use crate::embed::{EmbedHost, Embedder};
use crate::http::{Method, Request, Response};
use crate::metrics::Metrics;
use crate::store::Store;

use auth::{Access, AuthFailure, Authenticator, Caller, Via};
use error::ApiError;

/// The OpenAPI document served at `/openapi.json`.
pub const OPENAPI_JSON: &str = include_str!("../../openapi.json");

/// Request bodies above this are refused with 413 (a 1,000-item batch of 768-d vectors as JSON
/// is about 8 MB).
pub const MAX_BODY_BYTES: usize = 16 * 1024 * 1024;
/// Bodies of every endpoint but the batch upsert.
pub const MAX_SMALL_BODY_BYTES: usize = 1024 * 1024;
/// Items in one `POST /v1/content`.
pub const MAX_BATCH_ITEMS: usize = requests::MAX_BATCH;

pub struct Handler<S, H> {
    pub config: Config,
    pub store: S,
    pub embedder: Embedder<H>,
    pub metrics: Metrics,
    pub recall: recall::RecallMonitor,
    pub auth: Authenticator,
    /// What an open server (no keys, no tokens, no `insecure_open`) does with a request.
    pub open_policy: OpenPolicy,
    /// Fetches the JWKS document again (a `jwt_jwks` URL), on a token with an unknown `kid`.
    pub jwks_refresh: Option<JwksRefresh>,
    last_jwks_refresh: Mutex<Option<Instant>>,
    limits: limits::RateLimits,
}

/// Fetches the JWKS document (native: from its URL).
pub type JwksRefresh =
    Box<dyn Fn() -> Pin<Box<dyn Future<Output = Result<String, String>> + Send>> + Send + Sync>;

/// An unknown `kid` refreshes the JWKS at most this often, so forged kids can't hammer the issuer.
const JWKS_REFRESH_INTERVAL: Duration = Duration::from_secs(10);

/// How a server with no credentials configured answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpenPolicy {
    /// `vecgate serve`: only requests whose `Host` is a loopback name (no DNS rebinding).
    LoopbackHosts,
    /// The Spin component: 503, it would be open to the internet.
    Refuse,
}

/// [`OPENAPI_JSON`] with `dimensions` as the `Vector` schema's exact length, so clients and
/// API fuzzers see the one vector size this server accepts. Built on request: a Spin component
/// is instantiated per request, so a precomputed copy would cost every request.
pub fn openapi_for(dimensions: usize) -> Vec<u8> {
    let mut spec: serde_json::Value =
        serde_json::from_str(OPENAPI_JSON).expect("openapi.json is valid JSON (unit-tested)");
    let vector = &mut spec["components"]["schemas"]["Vector"];
    vector["minItems"] = dimensions.into();
    vector["maxItems"] = dimensions.into();
    serde_json::to_vec_pretty(&spec).expect("a JSON value serializes")
}

/// A matched route: its template (the metrics label), what it needs, and its path parameter.
struct Route {
    template: &'static str,
    access: Access,
    id: Option<String>,
    action: Action,
    /// A preflight's answer: the route's methods.
    allow: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    Health,
    Metrics,
    OpenApi,
    Stats,
    Search,
    Candidates,
    Similar,
    GetContent,
    DeleteContent,
    UpsertContent,
    GetPreference,
    PutPreference,
    RecordEvent,
    Embed,
    Recommend,
    EraseUser,
    /// A CORS preflight (`OPTIONS`) of any route.
    Preflight,
}

impl Action {
    /// The rate-limit class of the route, if it has one.
    fn class(self) -> Option<limits::RouteClass> {
        use limits::RouteClass;
        use Action::*;
        match self {
            Search | Candidates | Similar | Recommend => Some(RouteClass::Search),
            UpsertContent | DeleteContent | PutPreference | RecordEvent | EraseUser => {
                Some(RouteClass::Write)
            }
            Embed => Some(RouteClass::Embed),
            _ => None,
        }
    }

    /// The largest body the route accepts.
    fn body_limit(self) -> usize {
        match self {
            Action::UpsertContent => MAX_BODY_BYTES,
            _ => MAX_SMALL_BODY_BYTES,
        }
    }

    /// Whether the request carries a JSON body (and so must say `Content-Type: application/json`).
    fn takes_json(self) -> bool {
        use Action::*;
        matches!(
            self,
            Search | Candidates | Embed | Recommend | UpsertContent | PutPreference | RecordEvent
        )
    }
}

type Methods = &'static [(Method, Access, Action)];

fn route(method: Method, path: &str) -> Result<Route, ApiError> {
    use Access::*;
    use Action::*;
    use Method::{Delete, Get, Post, Put};
    let segments: Vec<&str> = path.trim_end_matches('/').split('/').skip(1).collect();
    let (template, id, methods): (&'static str, Option<&str>, Methods) = match segments.as_slice() {
        ["health"] => ("/health", None, &[(Get, Public, Health)]),
        ["metrics"] => ("/metrics", None, &[(Get, Access::Metrics, Action::Metrics)]),
        ["openapi.json"] => ("/openapi.json", None, &[(Get, Public, OpenApi)]),
        ["v1", "stats"] => ("/v1/stats", None, &[(Get, Read, Stats)]),
        ["v1", "search"] => ("/v1/search", None, &[(Post, Read, Search)]),
        ["v1", "recommend"] => ("/v1/recommend", None, &[(Post, Read, Recommend)]),
        ["v1", "candidates"] => ("/v1/candidates", None, &[(Post, Read, Candidates)]),
        ["v1", "embed"] => ("/v1/embed", None, &[(Post, Read, Embed)]),
        ["v1", "content"] => ("/v1/content", None, &[(Post, Write, UpsertContent)]),
        ["v1", "content", id] => (
            "/v1/content/{id}",
            Some(id),
            &[(Get, Read, GetContent), (Delete, Write, DeleteContent)],
        ),
        ["v1", "content", id, "similar"] => (
            "/v1/content/{id}/similar",
            Some(id),
            &[(Get, Read, Similar)],
        ),
        ["v1", "users", id] => ("/v1/users/{id}", Some(id), &[(Delete, User, EraseUser)]),
        ["v1", "users", id, "preference"] => (
            "/v1/users/{id}/preference",
            Some(id),
            &[(Get, User, GetPreference), (Put, User, PutPreference)],
        ),
        ["v1", "users", id, "events"] => (
            "/v1/users/{id}/events",
            Some(id),
            &[(Post, User, RecordEvent)],
        ),
        _ => return Err(ApiError::not_found("no such route")),
    };
    let allowed = || {
        methods
            .iter()
            .map(|(m, _, _)| method_name(*m))
            .collect::<Vec<_>>()
            .join(", ")
    };
    if method == Method::Options {
        return Ok(Route {
            template,
            access: Access::Public,
            id: None,
            action: Preflight,
            allow: Some(allowed()),
        });
    }
    let &(_, access, action) = methods
        .iter()
        .find(|(m, _, _)| *m == method)
        .ok_or_else(|| ApiError {
            // RFC 9110: a 405 lists the methods the route does allow.
            allow: Some(allowed()),
            ..ApiError::new(
                405,
                "method_not_allowed",
                "method not allowed on this route",
            )
        })?;
    let id = id.map(crate::http::percent_decode);
    if let Some(id) = &id {
        requests::check_id("path id", id)?;
    }
    Ok(Route {
        template,
        access,
        id,
        action,
        allow: None,
    })
}

fn method_name(method: Method) -> &'static str {
    match method {
        Method::Get => "GET, HEAD",
        Method::Post => "POST",
        Method::Put => "PUT",
        Method::Delete => "DELETE",
        Method::Options | Method::Other => "",
    }
}

impl<S: Store, H: EmbedHost> Handler<S, H> {
    pub fn new(config: Config, store: S, http: H) -> Self {
        Self::with_embedder(config, store, |config| Embedder::new(http, config))
    }

    /// With an embedder built from the configuration by `make` (e.g. with known phrases).
    pub fn with_embedder(
        config: Config,
        store: S,
        make: impl FnOnce(&Config) -> Embedder<H>,
    ) -> Self {
        let embedder = make(&config);
        let backend = match (&config.database_url, config.dialect) {
            (None, _) => "embedded",
            (Some(_), Some(crate::sql::Dialect::Ruvector)) => "ruvector",
            (Some(_), Some(crate::sql::Dialect::Pgvector)) => "pgvector",
            (Some(_), None) => "postgres",
        };
        let tokens = config.tokens_configured().then(|| {
            // A file's or URL's keys are installed by the native host once it has read them.
            let jwks = match &config.jwks {
                Some(crate::config::JwksSource::Inline(set)) => set.clone(),
                _ => jsonwebtoken::jwk::JwkSet { keys: Vec::new() },
            };
            token::TokenVerifier::new(config.tokens.clone(), jwks)
        });
        Handler {
            recall: recall::RecallMonitor::new(config.recall_sample_rate, backend)
                .with_fixed_ef(config.search_ef),
            auth: Authenticator::new(&config, tokens),
            open_policy: OpenPolicy::LoopbackHosts,
            jwks_refresh: None,
            last_jwks_refresh: Mutex::new(None),
            limits: limits::RateLimits::new(&config),
            config,
            store,
            embedder,
            metrics: Metrics::default(),
        }
    }

    /// When a search started now must be done: the request's timeout.
    fn deadline(&self) -> Option<Instant> {
        Some(Instant::now() + Duration::from_millis(self.config.request_timeout_ms))
    }

    /// Answers one request. Never panics on any input.
    pub async fn handle(&self, req: Request) -> Response {
        self.handle_with(req, false).await
    }

    /// Answers a request the process makes itself (`serve --sample`, `import`): validated like
    /// any other, but not authenticated, since the operator who runs the command holds the keys.
    pub async fn handle_internal(&self, req: Request) -> Response {
        self.handle_with(req, true).await
    }

    async fn handle_with(&self, req: Request, internal: bool) -> Response {
        let start = Instant::now();
        let (template, result) = match route(req.method, &req.path) {
            Ok(r) => (r.template, self.dispatch(&req, r, internal).await),
            Err(e) => ("other", Err(e)),
        };
        let response = result.unwrap_or_else(|e| e.into_logged_response());
        let response = cors::decorate(&self.config.cors_origins, &req, response);
        self.metrics
            .record_request(template, response.status, start.elapsed().as_secs_f64());
        response
    }

    /// The caller behind `req`: open, internal, a key, or a token (refreshing the JWKS once on
    /// an unknown `kid`).
    async fn caller(&self, req: &Request, internal: bool) -> Result<Caller, ApiError> {
        if internal {
            return Ok(Caller::admin(Via::Internal));
        }
        if self.auth.is_open() && !self.config.insecure_open {
            self.check_open(req)?;
        }
        match self.auth.authenticate(req) {
            Ok(caller) => Ok(caller),
            Err(AuthFailure::Refused(e)) => Err(e),
            Err(AuthFailure::UnknownKey) => {
                self.refresh_jwks().await;
                match self.auth.authenticate(req) {
                    Ok(caller) => Ok(caller),
                    Err(AuthFailure::Refused(e)) => Err(e),
                    Err(AuthFailure::UnknownKey) => Err(ApiError::new(
                        401,
                        "unauthorized",
                        token::TokenError::UnknownKey.message(),
                    )),
                }
            }
        }
    }

    /// An open server answers only what a browser on another site can't reach.
    fn check_open(&self, req: &Request) -> Result<(), ApiError> {
        match self.open_policy {
            OpenPolicy::Refuse => Err(ApiError::new(
                503,
                "not_configured",
                "no API keys or user tokens are configured, so this server would be open to \
                 anyone: set api_keys_read/api_keys_write/api_keys_admin or jwt_secret/jwt_jwks \
                 (or insecure_open = true to serve everyone)",
            )),
            OpenPolicy::LoopbackHosts => {
                let host = req.header("host").unwrap_or_default();
                let name = match host.rsplit_once(':') {
                    Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
                    _ => host,
                };
                if matches!(name, "localhost" | "127.0.0.1" | "[::1]") {
                    Ok(())
                } else {
                    Err(ApiError::new(
                        403,
                        "host_not_allowed",
                        "this server has no keys configured and answers only requests for \
                         localhost, 127.0.0.1 or [::1]",
                    ))
                }
            }
        }
    }

    async fn refresh_jwks(&self) {
        let (Some(fetch), Some(verifier)) = (&self.jwks_refresh, &self.auth.tokens) else {
            return;
        };
        {
            let Ok(mut last) = self.last_jwks_refresh.lock() else {
                return;
            };
            if last.is_some_and(|t| t.elapsed() < JWKS_REFRESH_INTERVAL) {
                return;
            }
            *last = Some(Instant::now());
        }
        match fetch().await.and_then(|doc| token::parse_jwks(&doc)) {
            Ok(jwks) => verifier.set_jwks(jwks),
            Err(e) => eprintln!("vecgate: WARNING could not refresh jwt_jwks: {e}"),
        }
    }

    /// Whether a request may go on to send its body, judged on its head alone: the route exists,
    /// the caller is who it says and may use the route (and the path's user), and the declared
    /// `Content-Length` is within the route's limit. `Ok` gives that limit; `Err` the answer
    /// (decorated and counted as [`Handler::handle`]'s are). Hosts that stream bodies (native)
    /// call it before reading one, so an unauthenticated or oversized body is never read.
    pub async fn admit(&self, req: &Request) -> Result<usize, Response> {
        let start = Instant::now();
        let (template, checked) = match route(req.method, &req.path) {
            Ok(r) => (r.template, self.admit_route(req, &r).await),
            Err(e) => ("other", Err(e)),
        };
        checked.map_err(|e| {
            let response = cors::decorate(&self.config.cors_origins, req, e.into_logged_response());
            self.metrics
                .record_request(template, response.status, start.elapsed().as_secs_f64());
            response
        })
    }

    async fn admit_route(&self, req: &Request, r: &Route) -> Result<usize, ApiError> {
        let limit = r.action.body_limit();
        let declared = req
            .header("content-length")
            .and_then(|v| v.trim().parse::<u64>().ok());
        if declared.is_some_and(|n| n > limit as u64) {
            return Err(too_large(limit));
        }
        if r.action != Action::Preflight {
            self.route_caller(req, r, false)
                .await?
                .check(r.access, r.id.as_deref())?;
        }
        Ok(limit)
    }

    /// Who is asking for route `r`: anonymous on a public route, else the authenticated caller.
    async fn route_caller(
        &self,
        req: &Request,
        r: &Route,
        internal: bool,
    ) -> Result<Caller, ApiError> {
        let public = r.access == Access::Public
            || (r.access == Access::Metrics && self.config.metrics_public);
        if !public {
            return self.caller(req, internal).await;
        }
        if !internal && self.auth.is_open() && !self.config.insecure_open {
            self.check_open(req)?;
        }
        Ok(Caller::anonymous())
    }

    async fn dispatch(
        &self,
        req: &Request,
        r: Route,
        internal: bool,
    ) -> Result<Response, ApiError> {
        if r.action == Action::Preflight {
            return Ok(cors::preflight(
                &self.config.cors_origins,
                req,
                r.allow.as_deref().unwrap_or_default(),
            ));
        }
        let caller = self.route_caller(req, &r, internal).await?;
        let limit = r.action.body_limit();
        if req.body.len() > limit {
            return Err(too_large(limit));
        }
        if r.action.takes_json() && !internal && !is_json(req) {
            return Err(ApiError::new(
                415,
                "unsupported_media_type",
                "the body must be JSON, sent with Content-Type: application/json",
            ));
        }
        caller.check(r.access, r.id.as_deref())?;
        if let (Some(class), false) = (r.action.class(), internal) {
            self.limits
                .check(class, &caller.rate_key(req.remote))
                .map_err(|wait| ApiError {
                    retry_after: Some(wait.as_secs_f64().ceil().max(1.0) as u64),
                    ..ApiError::new(
                        429,
                        "rate_limited",
                        "too many requests of this kind from this caller; retry after the \
                         Retry-After seconds",
                    )
                })?;
        }
        let id = r.id.as_deref().unwrap_or_default();
        match r.action {
            Action::Preflight => unreachable!("answered above"),
            Action::Health => self.health().await,
            Action::Metrics => {
                let mut text = self.metrics.render();
                self.recall.render(&mut text);
                self.store.render_metrics(&mut text);
                Ok(Response::bytes(
                    200,
                    "text/plain; version=0.0.4",
                    text.into_bytes(),
                ))
            }
            Action::OpenApi => Ok(Response::bytes(
                200,
                "application/json",
                openapi_for(self.config.dimensions),
            )),
            Action::Stats => self.stats().await,
            Action::Search => self.search(req, &caller).await,
            Action::Candidates => self.candidates(req, &caller).await,
            Action::Similar => self.similar(req, id, &caller).await,
            Action::GetContent => self.get_content(id).await,
            Action::DeleteContent => self.delete_content(id).await,
            Action::UpsertContent => self.upsert_content(req).await,
            Action::GetPreference => self.get_preference(id).await,
            Action::PutPreference => self.put_preference(req, id).await,
            Action::RecordEvent => self.record_event(req, id).await,
            Action::EraseUser => self.erase_user(id).await,
            Action::Embed => self.embed(req).await,
            Action::Recommend => self.recommend(req, &caller).await,
        }
    }
}

fn too_large(limit: usize) -> ApiError {
    ApiError::new(
        413,
        "payload_too_large",
        format!("request body over {limit} bytes"),
    )
}

/// `Content-Type: application/json`, with or without parameters (`; charset=utf-8`).
fn is_json(req: &Request) -> bool {
    req.header("content-type").is_some_and(|v| {
        v.split(';')
            .next()
            .is_some_and(|t| t.trim().eq_ignore_ascii_case("application/json"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_served_spec_states_the_configured_dimension() {
        let spec: serde_json::Value = serde_json::from_slice(&openapi_for(384)).unwrap();
        let vector = &spec["components"]["schemas"]["Vector"];
        assert_eq!(
            (vector["minItems"].as_u64(), vector["maxItems"].as_u64()),
            (Some(384), Some(384))
        );
        assert_eq!(
            spec["paths"],
            serde_json::from_str::<serde_json::Value>(OPENAPI_JSON).unwrap()["paths"]
        );
    }

    #[test]
    fn a_wrong_method_lists_the_allowed_ones() {
        let err = route(Method::Post, "/v1/content/movie-1")
            .err()
            .expect("405");
        assert_eq!(
            (err.status, err.allow.as_deref()),
            (405, Some("GET, HEAD, DELETE"))
        );
        let response = err.into_response();
        assert_eq!(response.header("allow"), Some("GET, HEAD, DELETE"));
    }
}
