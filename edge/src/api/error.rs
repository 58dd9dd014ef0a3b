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
}

impl ApiError {
    pub fn new(status: u16, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
            allow: None,
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
        match self.allow {
            Some(allow) => response.with_header("allow", allow),
            None => response,
        }
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
            StoreError::NotFound(m) => ApiError::not_found(m),
            StoreError::Conflict(m) => ApiError::new(409, "conflict", m),
            StoreError::Invalid(m) => ApiError::bad_request(m),
            // Internal details go to the server log, not to clients.
            StoreError::Internal(m) => {
                eprintln!("vecgate: internal store error: {m}");
                ApiError::new(500, "internal", "internal error")
            }
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
