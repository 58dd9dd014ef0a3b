//! CORS for browsers on other origins (`cors_origins`). Credentials travel in the
//! `Authorization` header, never in cookies, so `Access-Control-Allow-Credentials` is never
//! sent and `*` can't expose a cookie-authenticated session.

use crate::http::{Request, Response};

use super::error::ApiError;

const ALLOW_HEADERS: &str = "Authorization, Content-Type, If-None-Match";
const EXPOSE_HEADERS: &str = "ETag, Retry-After, X-Vecgate-Count, X-Request-Id";
const MAX_AGE_S: &str = "600";

/// The `Access-Control-Allow-Origin` value for `origin`, when it is allowed.
fn allowed<'a>(origins: &'a [String], origin: &'a str) -> Option<&'a str> {
    if origins.iter().any(|o| o == "*") {
        Some("*")
    } else {
        origins.iter().any(|o| o == origin).then_some(origin)
    }
}

/// Adds the CORS headers to a response (nothing when no origins are configured).
pub fn decorate(origins: &[String], req: &Request, response: Response) -> Response {
    if origins.is_empty() {
        return response;
    }
    let response = response.with_header("vary", "Origin");
    match req.header("origin").and_then(|o| allowed(origins, o)) {
        Some(value) => response
            .with_header("access-control-allow-origin", value)
            .with_header("access-control-expose-headers", EXPOSE_HEADERS),
        None => response,
    }
}

/// The answer to an `OPTIONS` request for a route whose methods are `allow`.
pub fn preflight(origins: &[String], req: &Request, allow: &str) -> Response {
    let origin = req.header("origin");
    match origin {
        Some(o) if allowed(origins, o).is_none() => ApiError::new(
            403,
            "origin_not_allowed",
            "this origin is not in cors_origins",
        )
        .into_response(),
        Some(_) => Response::bytes(204, "text/plain", Vec::new())
            .with_header("allow", allow)
            .with_header(
                "access-control-allow-methods",
                allow.replace("HEAD", "HEAD, OPTIONS"),
            )
            .with_header("access-control-allow-headers", ALLOW_HEADERS)
            .with_header("access-control-max-age", MAX_AGE_S),
        None => Response::bytes(204, "text/plain", Vec::new()).with_header("allow", allow),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::Method;

    fn req(origin: Option<&str>) -> Request {
        let mut r = Request::new(Method::Options, "/v1/search");
        if let Some(o) = origin {
            r.headers.push(("origin".into(), o.into()));
        }
        r
    }

    #[test]
    fn only_listed_origins_are_allowed() {
        let origins = vec!["https://app.example".to_owned()];
        let ok = decorate(
            &origins,
            &req(Some("https://app.example")),
            Response::bytes(200, "x", vec![]),
        );
        assert_eq!(
            ok.header("access-control-allow-origin"),
            Some("https://app.example")
        );
        assert_eq!(ok.header("vary"), Some("Origin"));
        let other = decorate(
            &origins,
            &req(Some("https://evil.example")),
            Response::bytes(200, "x", vec![]),
        );
        assert_eq!(other.header("access-control-allow-origin"), None);
        let none = decorate(
            &[],
            &req(Some("https://app.example")),
            Response::bytes(200, "x", vec![]),
        );
        assert_eq!(
            (
                none.header("vary"),
                none.header("access-control-allow-origin")
            ),
            (None, None)
        );
        assert_eq!(
            preflight(&origins, &req(Some("https://evil.example")), "POST").status,
            403
        );
        let pre = preflight(&origins, &req(Some("https://app.example")), "POST");
        assert_eq!(pre.status, 204);
        assert!(pre
            .header("access-control-allow-headers")
            .unwrap()
            .contains("Authorization"));
        let any = decorate(
            &["*".to_owned()],
            &req(Some("https://x.example")),
            Response::bytes(200, "x", vec![]),
        );
        assert_eq!(any.header("access-control-allow-origin"), Some("*"));
    }
}
