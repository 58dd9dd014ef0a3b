//! The chaos run's clients: writes (inserts, updates, deletes), searches and watch events, each
//! answer checked as it comes, while the faults go on.

use std::collections::{BTreeMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use reqwest::blocking::Client;
use serde_json::{json, Value};

use super::ledger::Ledger;
use super::topology::{Node, READER, SMALL_DISK_READER, WRITER};
use crate::data::movies;
use crate::suite::{ADMIN_KEY, READ_KEY, WRITE_KEY};
use crate::synthetic::Rng;

/// The first coordinates of a query, multiples of 1/64 (exact in any printing of the vector):
/// they tell its search-log row apart from every other search's.
pub const KEY_DIMS: usize = 24;
pub type QueryKey = [i8; KEY_DIMS];

/// A request that takes this long is a hang.
const HUNG_AFTER: Duration = Duration::from_secs(60);
/// How often the readers are asked how stale their copies are.
const STALENESS_POLL: Duration = Duration::from_millis(100);
/// Slack for turning a reader's wall-clock lag into this process's clock.
const CLOCK_SLACK: Duration = Duration::from_millis(250);
/// Rows the load keeps the table near: inserts and deletes balance around it.
const ROWS_TARGET: usize = 1_500;
/// The seed rows: films, never deleted (events refer to them).
pub const SEED_ROWS: usize = 1_000;

/// One search, for the search-log check at the end.
pub struct SearchRecord {
    pub key: QueryKey,
    pub node: usize,
    pub ok: bool,
    pub received: Instant,
}

/// A search answer, to check against the ledger.
pub struct Answer {
    node: usize,
    query: Vec<f32>,
    k: usize,
    exact: bool,
    from: Instant,
    received: Instant,
    results: Vec<(String, f32)>,
}

/// A promotion under way: until the runner has read what the new primary kept, the ledger can't
/// tell a lost write from a wrong answer, so answers wait.
#[derive(Default)]
pub struct Promotion {
    pub since: Option<Instant>,
    pub deferred: Vec<Answer>,
}

/// What every thread shares.
pub struct Shared {
    pub ledger: Mutex<Ledger>,
    /// Writes hold it shared; a failover holds it alone while it reads what the database kept.
    pub writes: RwLock<()>,
    pub nodes: Vec<NodeView>,
    pub stop: AtomicBool,
    pub counts: Mutex<Counts>,
    /// Per node: (when asked, when its copy last held every change), from its own report.
    pub staleness: Vec<Mutex<VecDeque<(Instant, Instant)>>>,
    pub searches: Mutex<Vec<SearchRecord>>,
    pub keys: Mutex<HashSet<QueryKey>>,
    pub promotion: Mutex<Promotion>,
}

/// What the clients see of a node.
pub struct NodeView {
    pub name: &'static str,
    base: Arc<dyn Fn() -> (String, u64, bool) + Send + Sync>,
}

impl NodeView {
    pub fn of(node: &Arc<Node>) -> NodeView {
        let node = node.clone();
        NodeView {
            name: node.name,
            base: Arc::new(move || {
                (
                    node.base.read().unwrap().clone(),
                    node.generation.load(Ordering::Acquire),
                    node.down.load(Ordering::Acquire),
                )
            }),
        }
    }
}

#[derive(Default)]
pub struct Counts {
    pub requests: BTreeMap<String, u64>,
    pub errors: BTreeMap<String, u64>,
    pub violations: Vec<String>,
}

impl Shared {
    pub fn new(nodes: Vec<NodeView>) -> Shared {
        Shared {
            ledger: Mutex::new(Ledger::default()),
            writes: RwLock::new(()),
            nodes,
            stop: AtomicBool::new(false),
            counts: Mutex::new(Counts::default()),
            staleness: (0..3).map(|_| Mutex::new(VecDeque::new())).collect(),
            searches: Mutex::new(Vec::new()),
            keys: Mutex::new(HashSet::new()),
            promotion: Mutex::new(Promotion::default()),
        }
    }

    /// Checks a search answer against the ledger.
    pub fn check(&self, answer: &Answer) {
        let checked = self.ledger.lock().unwrap().check_answer(
            &answer.query,
            answer.k,
            answer.exact,
            answer.from,
            answer.received,
            &answer.results,
        );
        if let Err(wrong) = checked {
            self.violation(format!(
                "{} answered a wrong {}search: {wrong}",
                self.nodes[answer.node].name,
                if answer.exact { "exact " } else { "" }
            ));
        }
    }

    pub fn violation(&self, what: String) {
        eprintln!("chaos: VIOLATION {what}");
        self.counts.lock().unwrap().violations.push(what);
    }

    fn count(&self, what: &str) {
        *self
            .counts
            .lock()
            .unwrap()
            .requests
            .entry(what.to_owned())
            .or_default() += 1;
    }

    fn error(&self, what: String) {
        *self.counts.lock().unwrap().errors.entry(what).or_default() += 1;
    }

    /// The earliest moment whose state an answer of `node`, sent at `sent` and received at
    /// `received`, may show. The writer reads the database itself. A reader's copy only moves
    /// forward (a restart reopens the same copy): it is at least as new as the node said it was
    /// (`vecgate_local_index_lag_seconds`, the staleness it documents) when last asked before
    /// the search, and at any later asking while the search ran.
    fn oldest_allowed(&self, node: usize, sent: Instant, received: Instant) -> Instant {
        if node == WRITER {
            return sent;
        }
        let reports = self.staleness[node].lock().unwrap();
        let before = reports.iter().rev().find(|(asked, _)| *asked <= sent);
        let during = reports
            .iter()
            .filter(|(asked, _)| *asked > sent && *asked <= received);
        let held = before
            .into_iter()
            .chain(during)
            .map(|(_, held)| *held)
            .min();
        // Never asked yet: as old as the run.
        let held = held.or_else(|| reports.front().map(|(_, held)| *held));
        held.map_or(sent, |held| held.checked_sub(CLOCK_SLACK).unwrap_or(held))
            .min(sent)
    }

    /// Sends one request to `node`; the answer if it was a 200. A JSON 503 is counted as an
    /// error of its kind; a refused connection while the runner has the node down, as a
    /// restart; anything else is a violation.
    fn request(
        &self,
        client: &Client,
        node: usize,
        what: &str,
        route: (&str, &str),
        key: &str,
        body: Option<&Value>,
    ) -> Option<Value> {
        let (method, path) = route;
        let view = &self.nodes[node];
        let (base, generation, down) = (view.base)();
        if down {
            self.error(format!(
                "{what}: not sent, {} stopped by the run",
                view.name
            ));
            std::thread::sleep(Duration::from_millis(20));
            return None;
        }
        self.count(what);
        let started = Instant::now();
        let mut request = client
            .request(method.parse().unwrap(), format!("{base}{path}"))
            .bearer_auth(key);
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = match request.send() {
            Ok(r) => r,
            Err(e) => {
                let (_, now_generation, now_down) = (view.base)();
                if now_down || now_generation != generation {
                    self.error(format!("{what}: cut, {} stopped by the run", view.name));
                } else if e.is_timeout() {
                    self.violation(format!(
                        "{what} to {} hung for {:?}",
                        view.name,
                        started.elapsed()
                    ));
                } else {
                    self.violation(format!("{what} to {}: {e}", view.name));
                }
                return None;
            }
        };
        let status = response.status().as_u16();
        let text = response.text().unwrap_or_default();
        let body: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        match status {
            200 => Some(body),
            503 if body["error"]["message"].is_string() => {
                let code = body["error"]["code"].as_str().unwrap_or("unavailable");
                self.error(format!("{what}: 503 {code} from the {}", view.name));
                None
            }
            _ => {
                self.violation(format!(
                    "{what} to {}: {status} {}",
                    view.name,
                    text.chars().take(300).collect::<String>()
                ));
                None
            }
        }
    }
}

fn client() -> Client {
    Client::builder()
        .timeout(HUNG_AFTER)
        .build()
        .expect("http client")
}

/// A vector near film `i`'s, the same length (seeded noise).
fn near_film(rng: &mut Rng, i: usize) -> Vec<f32> {
    let m = movies();
    rng.unit_near(m.vector(i % m.ids.len()), 0.04)
}

/// Writes: inserts of new ids, updates and deletes of ids certainly there, through the writer
/// (most) and the readers (which pass them on to the database). The table stays near
/// [`ROWS_TARGET`] rows.
pub fn writes(shared: &Shared, seed: u64) {
    let client = client();
    let mut rng = Rng(seed ^ 0x5772_17e5);
    let mut next_id = 0usize;
    while !shared.stop.load(Ordering::Acquire) {
        let node = match rng.below(10) {
            0 => READER,
            1 => SMALL_DISK_READER,
            _ => WRITER,
        };
        let live = shared.ledger.lock().unwrap().live_count();
        let roll = rng.below(100);
        // Inserts carry two items on average, deletes one.
        let (insert, update) = if live < ROWS_TARGET {
            (45, 75)
        } else {
            (15, 55)
        };
        let _held = shared.writes.read().unwrap();
        if roll < insert {
            let items: Vec<(String, Arc<Vec<f32>>)> = (0..1 + rng.below(3))
                .map(|_| {
                    next_id += 1;
                    let film = rng.below(movies().ids.len());
                    (
                        format!("chaos-{next_id}"),
                        Arc::new(near_film(&mut rng, film)),
                    )
                })
                .collect();
            upsert(shared, &client, node, "insert", &items);
        } else {
            let picked = {
                let ledger = shared.ledger.lock().unwrap();
                ledger
                    .pick_live(rng.below(usize::MAX >> 1))
                    .map(str::to_owned)
            };
            // Seed films stay: events refer to them.
            let Some(id) = picked.filter(|id| id.starts_with("chaos-")) else {
                drop(_held);
                std::thread::sleep(Duration::from_millis(10));
                continue;
            };
            if roll < update {
                let film = rng.below(movies().ids.len());
                let vector = Arc::new(near_film(&mut rng, film));
                upsert(shared, &client, node, "update", &[(id, vector)]);
            } else {
                shared
                    .ledger
                    .lock()
                    .unwrap()
                    .begin(&id, None, Instant::now());
                let path = format!("/v1/content/{id}");
                let ok = shared
                    .request(&client, node, "delete", ("DELETE", &path), WRITE_KEY, None)
                    .is_some();
                shared
                    .ledger
                    .lock()
                    .unwrap()
                    .settle(&id, ok, Instant::now());
            }
        }
        drop(_held);
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// `POST /v1/content` of `items`, recorded in the ledger before it is sent and after.
pub fn upsert(
    shared: &Shared,
    client: &Client,
    node: usize,
    what: &str,
    items: &[(String, Arc<Vec<f32>>)],
) -> bool {
    let now = Instant::now();
    {
        let mut ledger = shared.ledger.lock().unwrap();
        for (id, vector) in items {
            ledger.begin(id, Some(vector.clone()), now);
        }
    }
    let body = json!({"items": items.iter().map(|(id, vector)| json!({
        "id": id, "media_type": "movie", "metadata": {"title": id}, "vector": **vector,
    })).collect::<Vec<_>>()});
    let ok = shared
        .request(
            client,
            node,
            what,
            ("POST", "/v1/content"),
            WRITE_KEY,
            Some(&body),
        )
        .is_some();
    let now = Instant::now();
    let mut ledger = shared.ledger.lock().unwrap();
    for (id, _) in items {
        ledger.settle(id, ok, now);
    }
    ok
}

/// Searches on every node, half of them exact, each answer checked against the ledger.
pub fn searches(shared: &Shared, seed: u64) {
    let client = client();
    let mut rng = Rng(seed ^ 0x5ea7_c4e5);
    let k = 10;
    while !shared.stop.load(Ordering::Acquire) {
        let node = rng.below(shared.nodes.len());
        let (query, key) = unique_query(shared, &mut rng);
        let exact = rng.chance(0.5);
        let sent = Instant::now();
        let answer = shared.request(
            &client,
            node,
            "search",
            ("POST", "/v1/search"),
            READ_KEY,
            Some(&json!({"vector": query, "k": k, "exact": exact})),
        );
        let received = Instant::now();
        if let Some(answer) = &answer {
            let results: Vec<(String, f32)> = answer["results"]
                .as_array()
                .map(|rs| {
                    rs.iter()
                        .map(|r| {
                            (
                                r["id"].as_str().unwrap_or_default().to_owned(),
                                r["score"].as_f64().unwrap_or(f64::NAN) as f32,
                            )
                        })
                        .collect()
                })
                .unwrap_or_default();
            let answer = Answer {
                node,
                query,
                k,
                exact,
                from: shared.oldest_allowed(node, sent, received),
                received,
                results,
            };
            let mut promotion = shared.promotion.lock().unwrap();
            if promotion.since.is_some() {
                promotion.deferred.push(answer);
            } else {
                drop(promotion);
                shared.check(&answer);
            }
        }
        shared.searches.lock().unwrap().push(SearchRecord {
            key,
            node,
            ok: answer.is_some(),
            received,
        });
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// A query near a film whose first [`KEY_DIMS`] coordinates, rounded to 1/64, no other query
/// of the run has.
fn unique_query(shared: &Shared, rng: &mut Rng) -> (Vec<f32>, QueryKey) {
    loop {
        let film = rng.below(movies().ids.len());
        let mut query = near_film(rng, film);
        let mut key = [0i8; KEY_DIMS];
        for (x, k) in query.iter_mut().zip(key.iter_mut()) {
            *k = (*x * 64.0).round().clamp(-127.0, 127.0) as i8;
            *x = f32::from(*k) / 64.0;
        }
        if shared.keys.lock().unwrap().insert(key) {
            return (query, key);
        }
    }
}

/// The key of a logged query vector, from its text form (`[0.015625,-0.03125,…]`).
pub fn key_of_logged(text: &str) -> Option<QueryKey> {
    let mut key = [0i8; KEY_DIMS];
    let mut values = text.trim().trim_start_matches('[').split(',');
    for k in key.iter_mut() {
        let x: f32 = values.next()?.trim().trim_end_matches(']').parse().ok()?;
        *k = (x * 64.0).round() as i8;
    }
    Some(key)
}

/// Watch events for a few users, on seed films, through every node.
pub fn events(shared: &Shared, seed: u64) {
    let client = client();
    let mut rng = Rng(seed ^ 0xe7e7_7e7e);
    let films = &movies().ids;
    while !shared.stop.load(Ordering::Acquire) {
        let node = rng.below(shared.nodes.len());
        let user = format!("chaos-user-{}", rng.below(20));
        let body = json!({
            "content_id": films[rng.below(SEED_ROWS)],
            "completion": 0.2 + 0.8 * (rng.next_f32() + 1.0) / 2.0,
            "duration_ratio": 1.0,
        });
        let path = format!("/v1/users/{user}/events");
        let answer = shared.request(
            &client,
            node,
            "event",
            ("POST", &path),
            ADMIN_KEY,
            Some(&body),
        );
        if let Some(answer) = answer {
            if !answer["confidence"].is_number() {
                shared.violation(format!("an event's answer has no preference: {answer}"));
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Asks each reader, every [`STALENESS_POLL`], how stale its copy is.
pub fn staleness(shared: &Shared, _seed: u64) {
    let client = Client::builder()
        .timeout(Duration::from_secs(2))
        .build()
        .expect("http client");
    while !shared.stop.load(Ordering::Acquire) {
        for node in [READER, SMALL_DISK_READER] {
            let (base, _, down) = (shared.nodes[node].base)();
            if down {
                continue;
            }
            let asked = Instant::now();
            let lag = client
                .get(format!("{base}/metrics"))
                .bearer_auth(READ_KEY)
                .send()
                .and_then(|r| r.text())
                .ok()
                .and_then(|metrics| {
                    metrics.lines().find_map(|l| {
                        l.strip_prefix("vecgate_local_index_lag_seconds ")?
                            .parse::<f64>()
                            .ok()
                    })
                });
            if let Some(lag) = lag.filter(|l| l.is_finite() && *l >= 0.0) {
                let held = asked
                    .checked_sub(Duration::from_secs_f64(lag))
                    .unwrap_or(asked);
                let mut reports = shared.staleness[node].lock().unwrap();
                reports.push_back((asked, held));
                // A few minutes back is all a search can need.
                while reports.len() > 6_000 {
                    reports.pop_front();
                }
            }
        }
        std::thread::sleep(STALENESS_POLL);
    }
}
