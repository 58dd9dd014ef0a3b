//! API errors and their JSON shape: `{"error": {"code", "message"}}`.

use serde_json::json;

use crate::embed::EmbedError;
use crate::http::Response;
use crate::store::StoreError;

#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    pub status: u16,
    pub code: &'static str,
    pub message: String,
    /// The `Allow` header of a 405: the route's methods.
    pub allow: Option<String>,
    /// `Retry-After` seconds (429, and 503s that know when to come back).
    pub retry_after: Option<u64>,
    /// What went wrong underneath (driver or provider text): for the server log only, under the
    /// request id the client is given.
    pub detail: Option<String>,
}

impl ApiError {
    pub fn new(status: u16, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
            allow: None,
            retry_after: None,
            detail: None,
        }
    }

    /// A 5xx whose cause is logged, not shown.
    pub fn hidden(status: u16, code: &'static str, message: &str, detail: String) -> ApiError {
        ApiError {
            detail: Some(detail),
            ..ApiError::new(status, code, message)
        }
    }

    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(400, "invalid_request", message)
    }

    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(404, "not_found", message)
    }

    pub fn into_response(self) -> Response {
        let response = Response::json(
            self.status,
            &json!({"error": {"code": self.code, "message": self.message}}),
        );
        let response = match self.retry_after {
            Some(s) => response.with_header("retry-after", s.to_string()),
            None => response,
        };
        match self.allow {
            Some(allow) => response.with_header("allow", allow),
            None => response,
        }
    }

    /// The response, and for a server-side failure a request id that names it in the server
    /// log, where the detail goes (never to the client).
    pub fn into_logged_response(self) -> Response {
        if self.status < 500 {
            return self.into_response();
        }
        let id = request_id();
        eprintln!(
            "vecgate: request {id}: {} {}: {}",
            self.status,
            self.code,
            self.detail.as_deref().unwrap_or(&self.message)
        );
        Response::json(
            self.status,
            &json!({"error": {"code": self.code, "message": self.message, "request_id": id}}),
        )
        .with_header("x-request-id", id)
    }
}

impl From<vecgate_core::Error> for ApiError {
    fn from(e: vecgate_core::Error) -> Self {
        ApiError::bad_request(e.to_string())
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Unavailable(m) => ApiError::new(503, "unavailable", m),
            StoreError::Backend(m) => ApiError::hidden(
                503,
                "unavailable",
                "the database could not answer; retry later (the server log has the cause under \
                 this request id)",
                m,
            ),
            StoreError::NotFound(m) => ApiError::not_found(m),
            StoreError::Conflict(m) => ApiError::new(409, "conflict", m),
            StoreError::Invalid(m) => ApiError::bad_request(m),
            // Internal details go to the server log, not to clients.
            StoreError::Internal(m) => ApiError::hidden(500, "internal", "internal error", m),
            // 503 rather than 507: what a client does is the same (retry later), and every
            // write already documents 503.
            StoreError::StorageFull(m) => ApiError::new(503, "storage_full", m),
        }
    }
}

impl From<EmbedError> for ApiError {
    fn from(e: EmbedError) -> Self {
        let message = e.to_string();
        match e {
            EmbedError::NotConfigured => ApiError::bad_request(message),
            EmbedError::Timeout(_) => ApiError::new(504, "embedding_timeout", message),
            EmbedError::Unavailable(_) => ApiError::new(502, "embedding_unavailable", message),
        }
    }
}

/// 16 hex digits, unpredictable enough to name one request in the log.
fn request_id() -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0),
    );
    format!("{:016x}", h.finish())
}
