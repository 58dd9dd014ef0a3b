//! Requests timed one by one, for the fault and crash tests: what came back and how long it took.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::suite::{assert_no_secrets, Api};

/// One request's outcome, timed.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub what: String,
    pub status: u16,
    pub body: Value,
    pub started: Instant,
    pub elapsed: Duration,
}

/// Sends one request with `key` and times it; `what` names it in assertion messages.
pub fn timed(
    api: &Api,
    what: String,
    method: &str,
    path: &str,
    key: &str,
    body: &Value,
) -> Outcome {
    let started = Instant::now();
    let (status, body) = api.call(method, path, Some(key), Some(body));
    Outcome {
        what,
        status,
        body,
        started,
        elapsed: started.elapsed(),
    }
}

/// Answered within `limit`, with 200 or a 503 carrying a JSON error, and no secret in the body.
pub fn assert_fast_200_or_503(o: &Outcome, limit: Duration) {
    assert!(
        o.elapsed <= limit,
        "{} took {:?} (limit {limit:?})",
        o.what,
        o.elapsed
    );
    match o.status {
        200 => {}
        503 => assert!(
            o.body["error"]["message"].is_string(),
            "{}: a 503 without a JSON error: {}",
            o.what,
            o.body
        ),
        other => panic!("{}: status {other}: {}", o.what, o.body),
    }
    assert_no_secrets(&o.body.to_string());
}
