//! Requests timed one by one, for the fault and crash tests: what came back and how long it took.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::suite::{assert_no_secrets, Api, READ_KEY, WRITE_KEY};

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

/// Stream round: (batch, its upsert, the search after it).
pub type Round = (usize, Outcome, Outcome);

/// A client streaming batch upserts, each followed by a search, until stopped.
pub struct Stream {
    rounds: Arc<Mutex<Vec<Round>>>,
    stop: Arc<AtomicBool>,
    thread: JoinHandle<()>,
    patience: Duration,
}

impl Stream {
    /// Batches `first_batch`, `first_batch + 1`, …: `bodies(batch)` gives the upsert body and
    /// the search body. [`Stream::wait_for`] gives up after `patience`.
    pub fn start(
        base: &str,
        first_batch: usize,
        bodies: fn(usize) -> (Value, Value),
        patience: Duration,
    ) -> Stream {
        let rounds = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (rounds, stop, base) = (rounds.clone(), stop.clone(), base.to_owned());
            std::thread::spawn(move || {
                let api = Api::new(&base);
                let mut batch = first_batch;
                while !stop.load(Ordering::SeqCst) {
                    let (upsert_body, search_body) = bodies(batch);
                    let upsert = timed(
                        &api,
                        format!("batch {batch}"),
                        "POST",
                        "/v1/content",
                        WRITE_KEY,
                        &upsert_body,
                    );
                    let search = timed(
                        &api,
                        format!("search after batch {batch}"),
                        "POST",
                        "/v1/search",
                        READ_KEY,
                        &search_body,
                    );
                    rounds.lock().unwrap().push((batch, upsert, search));
                    batch += 1;
                    std::thread::sleep(Duration::from_millis(20));
                }
            })
        };
        Stream {
            rounds,
            stop,
            thread,
            patience,
        }
    }

    pub fn len(&self) -> usize {
        self.rounds.lock().unwrap().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Polls until `done` holds for the rounds from `from` on.
    pub fn wait_for(&self, what: &str, from: usize, done: impl Fn(&[Round]) -> bool) {
        let deadline = Instant::now() + self.patience;
        while !done(&self.rounds.lock().unwrap()[from..]) {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn finish(self) -> Vec<Round> {
        self.stop.store(true, Ordering::SeqCst);
        self.thread.join().expect("the stream thread panicked");
        Arc::try_unwrap(self.rounds).unwrap().into_inner().unwrap()
    }
}
