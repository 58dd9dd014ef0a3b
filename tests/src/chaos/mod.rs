//! The chaos run: real processes (a PostgreSQL primary with a streaming replica on pgvector, or
//! a lone ruvector primary; a writer `vecgate serve`; two `--local-index` readers), a client
//! load of writes, deletes, searches and events, and faults drawn from a seed. At the end it
//! checks exactly that nothing acknowledged was lost (but what an asynchronous promotion lost,
//! counted), that every reader holds the database's rows, that every answered search has one
//! search-log row, and that no process crashed or hung. `tests/tests/chaos.rs` runs it.

mod faults;
mod ledger;
mod load;
mod topology;

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub use topology::Dialect;

use crate::data::movies;
use crate::suite::{Api, READ_KEY};
use faults::{inject, Schedule};
use load::{key_of_logged, NodeView, QueryKey, Shared, SEED_ROWS};
use topology::{heal, Database, Nodes, WRITER};

pub struct Config {
    pub seed: u64,
    pub seconds: u64,
    pub dialect: Dialect,
}

/// What a run did and found.
#[derive(Default)]
pub struct Report {
    pub seed: u64,
    pub dialect: &'static str,
    pub seconds: f64,
    pub faults: BTreeMap<&'static str, u64>,
    pub requests: BTreeMap<String, u64>,
    pub errors: BTreeMap<String, u64>,
    pub writes_lost_by_promotion: u64,
    pub search_logs_lost_by_promotion: u64,
    pub rows_at_end: usize,
    pub violations: Vec<String>,
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "chaos run: {} seed {} for {:.0} s, {} rows at the end",
            self.dialect, self.seed, self.seconds, self.rows_at_end
        )?;
        let faults: u64 = self.faults.values().sum();
        writeln!(f, "  faults injected: {faults}")?;
        for (kind, n) in &self.faults {
            writeln!(f, "    {kind:<32} {n}")?;
        }
        let requests: u64 = self.requests.values().sum();
        writeln!(f, "  requests: {requests}")?;
        for (what, n) in &self.requests {
            writeln!(f, "    {what:<32} {n}")?;
        }
        let errors: u64 = self.errors.values().sum();
        writeln!(
            f,
            "  errors (JSON 503s, or a node the run had stopped): {errors}"
        )?;
        for (what, n) in &self.errors {
            writeln!(f, "    {what:<48} {n}")?;
        }
        writeln!(
            f,
            "  acknowledged writes lost by an asynchronous promotion: {}",
            self.writes_lost_by_promotion
        )?;
        writeln!(
            f,
            "  search-log rows lost by an asynchronous promotion: {}",
            self.search_logs_lost_by_promotion
        )?;
        writeln!(f, "  rows lost otherwise: 0 unless listed below")?;
        writeln!(f, "  violations: {}", self.violations.len())?;
        for v in self.violations.iter().take(20) {
            writeln!(f, "    {v}")?;
        }
        Ok(())
    }
}

/// Every row of the primary's `content_vectors`: id → vector.
fn content_rows(database: &Database) -> HashMap<String, Vec<f32>> {
    database
        .primary()
        .content_rows(topology::DATABASE)
        .into_iter()
        .collect()
}

pub fn run(config: &Config) -> Report {
    let started = Instant::now();
    let mut report = Report {
        seed: config.seed,
        dialect: config.dialect.name(),
        ..Report::default()
    };
    println!(
        "chaos: {} seed {} for {} s (re-run: bash scripts/chaos.sh {} {} {})",
        config.dialect.name(),
        config.seed,
        config.seconds,
        config.seconds,
        config.seed,
        config.dialect.name()
    );
    let phase = |what: &str| println!("chaos: +{:>6.1} s  {what}", started.elapsed().as_secs_f64());
    let mut database = Database::start(config.dialect);
    phase("database up");
    let nodes = Nodes::new(&database, config.seed);
    let writer = &nodes.all[WRITER];
    assert!(
        writer.start(Duration::from_secs(120)),
        "the writer did not start:\n{}",
        writer.output()
    );
    let shared = Arc::new(Shared::new(nodes.all.iter().map(NodeView::of).collect()));
    phase("writer up");
    load_seed_rows(&shared);
    phase("seed rows written");
    for reader in &nodes.all[1..] {
        assert!(
            reader.start(Duration::from_secs(120)),
            "{} did not start:\n{}",
            reader.name,
            reader.output()
        );
    }

    phase("readers up");
    let threads: Vec<std::thread::JoinHandle<()>> = [
        load::staleness,
        load::writes,
        load::searches,
        load::searches,
        load::events,
    ]
    .into_iter()
    .enumerate()
    .map(|(i, work)| {
        let shared = shared.clone();
        let seed = config.seed.wrapping_add(i as u64 * 7919);
        std::thread::spawn(move || work(&shared, seed))
    })
    .collect();

    let mut schedule = Schedule::new(config.seed, config.dialect);
    let mut promotions = Vec::new();
    let deadline = started + Duration::from_secs(config.seconds);
    while Instant::now() < deadline || !schedule.covered() {
        let fault = schedule.next_fault();
        println!(
            "chaos: +{:>6.1} s  {} ({}) for {:?}",
            started.elapsed().as_secs_f64(),
            fault.kind.name(),
            nodes.all[fault.node].name,
            fault.hold
        );
        let outcome = inject(&fault, &mut database, &nodes, &shared);
        *report.faults.entry(fault.kind.name()).or_default() += 1;
        report.writes_lost_by_promotion += outcome.writes_lost;
        promotions.extend(outcome.promoted_at);
        for problem in outcome.problems {
            shared.violation(problem);
        }
        for node in &nodes.all {
            if let Some(crash) = node.crashed() {
                shared.violation(crash);
                return finish(report, &shared, started);
            }
        }
        std::thread::sleep(fault.gap);
    }

    shared.stop.store(true, Ordering::Release);
    for thread in threads {
        if thread.join().is_err() {
            shared.violation("a client thread panicked".into());
        }
    }
    phase("load stopped");
    heal(&nodes);
    converge(&database, &nodes, &shared, &mut report, &promotions);
    phase("checked");
    for node in &nodes.all {
        if let Some(crash) = node.crashed() {
            shared.violation(crash);
        }
        let output = node.output();
        if output.contains("panicked") {
            shared.violation(format!("{} panicked:\n{output}", node.name));
        }
    }
    finish(report, &shared, started)
}

fn finish(mut report: Report, shared: &Shared, started: Instant) -> Report {
    shared.stop.store(true, Ordering::Release);
    let counts = std::mem::take(&mut *shared.counts.lock().unwrap());
    report.requests = counts.requests;
    report.errors = counts.errors;
    report.violations.extend(counts.violations);
    report.seconds = started.elapsed().as_secs_f64();
    report
}

/// The first films, through the writer, before the readers copy them.
fn load_seed_rows(shared: &Shared) {
    let client = reqwest::blocking::Client::new();
    let m = movies();
    for chunk in (0..SEED_ROWS).collect::<Vec<_>>().chunks(250) {
        let items: Vec<(String, Arc<Vec<f32>>)> = chunk
            .iter()
            .map(|&i| (m.ids[i].clone(), Arc::new(m.vector(i).to_vec())))
            .collect();
        assert!(
            load::upsert(shared, &client, WRITER, "seed", &items),
            "loading the seed rows failed"
        );
    }
}

/// With the faults over: waits for every reader to be healthy and caught up, then checks the
/// rows, the readers' copies and the search logs exactly.
fn converge(
    database: &Database,
    nodes: &Nodes,
    shared: &Shared,
    report: &mut Report,
    promotions: &[Instant],
) {
    let deadline = Instant::now() + Duration::from_secs(180);
    for node in &nodes.all[1..] {
        let api = Api::new(&node.base.read().unwrap());
        loop {
            let healthy = api.call("GET", "/health", None, None).0 == 200;
            let (_, stats) = api.call("GET", "/v1/stats", Some(READ_KEY), None);
            let caught_up = stats["local_index"]["behind_changes"] == 0;
            let flushed = api.metric("vecgate_search_logs_buffered") == 0.0;
            if healthy && caught_up && flushed {
                break;
            }
            if Instant::now() > deadline {
                shared.violation(format!(
                    "{} did not converge in 180 s (healthy {healthy}, caught up {caught_up}, \
                     logs flushed {flushed}): {stats}",
                    node.name
                ));
                return;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        let dropped = api.metric("vecgate_search_logs_dropped_total");
        if dropped > 0.0 {
            shared.violation(format!("{} dropped {dropped} search-log rows", node.name));
        }
    }

    let step = Instant::now();
    let rows = content_rows(database);
    report.rows_at_end = rows.len();
    {
        let ledger = shared.ledger.lock().unwrap();
        for id in ledger.ids() {
            let held = rows.get(id).map(Vec::as_slice);
            match ledger.compare(id, held) {
                ledger::Held::AsAcknowledged => {}
                ledger::Held::Lost => shared.violation(format!(
                    "an acknowledged write of {id} is missing from the database"
                )),
                ledger::Held::Foreign => shared.violation(format!(
                    "the database holds a vector of {id} that nobody wrote"
                )),
            }
        }
        for id in rows.keys() {
            if ledger.compare(id, rows.get(id).map(Vec::as_slice)) == ledger::Held::Foreign {
                shared.violation(format!("the database holds {id}, which nobody wrote"));
            }
        }
    }

    println!("chaos: ledger checked in {:?}", step.elapsed());
    for node in &nodes.all[1..] {
        let api = Api::new(&node.base.read().unwrap());
        if let Err(e) = crate::suite::same_rows(&api, rows.iter()) {
            shared.violation(format!(
                "{}'s copy differs from the database: {e}",
                node.name
            ));
        }
    }

    println!("chaos: copies checked in {:?}", step.elapsed());
    check_search_logs(database, shared, report, promotions);
    println!("chaos: search logs checked in {:?}", step.elapsed());
}

/// How long before a promotion a search may have been answered and its search-log row still be
/// lost with the old primary: the standby's lag (seconds after a restart of the primary, which
/// it reconnects to after `wal_retrieve_retry_interval`) plus a reader's buffering through the
/// faults before.
const LOSABLE_BEFORE_PROMOTION: Duration = Duration::from_secs(30);

/// Every search answered 200 has exactly one search-log row (unless an asynchronous promotion
/// lost it: answered shortly before one, and counted); no search has two.
fn check_search_logs(
    database: &Database,
    shared: &Shared,
    report: &mut Report,
    promotions: &[Instant],
) {
    let mut rows: HashMap<QueryKey, u64> = HashMap::new();
    for line in database
        // The key's coordinates come first: a long run logs too many vectors to read whole.
        .psql(
            "SELECT left(query_vector::text, 640) FROM vector_search_logs \
             WHERE query_vector IS NOT NULL",
        )
        .lines()
        .filter(|l| !l.is_empty())
    {
        if let Some(key) = key_of_logged(line) {
            *rows.entry(key).or_default() += 1;
        }
    }
    let searches = shared.searches.lock().unwrap();
    let mut missing = Vec::new();
    for search in searches.iter() {
        let n = rows.get(&search.key).copied().unwrap_or(0);
        if n > 1 {
            shared.violation(format!(
                "a search on {} has {n} search-log rows",
                shared.nodes[search.node].name
            ));
        } else if n == 0 && search.ok {
            let before_a_promotion = promotions.iter().any(|&killed| {
                search.received <= killed && killed - search.received <= LOSABLE_BEFORE_PROMOTION
            });
            if before_a_promotion {
                report.search_logs_lost_by_promotion += 1;
            } else {
                missing.push(shared.nodes[search.node].name);
            }
        }
    }
    if !missing.is_empty() {
        let mut by_node: BTreeMap<&str, u64> = BTreeMap::new();
        for node in missing {
            *by_node.entry(node).or_default() += 1;
        }
        shared.violation(format!(
            "searches answered 200 with no search-log row, by node: {by_node:?} (of {})",
            searches.len()
        ));
    }
}

/// The runs `VECGATE_CHAOS_RUNS` names (`pgvector:1,ruvector:3`), or `default`.
pub fn runs_from_env(default: &str) -> Vec<(Dialect, u64)> {
    std::env::var("VECGATE_CHAOS_RUNS")
        .unwrap_or_else(|_| default.to_owned())
        .split(',')
        .filter(|s| !s.trim().is_empty())
        .map(|run| {
            let (dialect, seed) = run.trim().split_once(':').unwrap_or(("pgvector", run));
            let dialect = match dialect {
                "ruvector" => Dialect::Ruvector,
                "pgvector" => Dialect::Pgvector,
                other => panic!("VECGATE_CHAOS_RUNS: unknown dialect {other}"),
            };
            let seed = seed
                .trim()
                .parse()
                .unwrap_or_else(|_| panic!("VECGATE_CHAOS_RUNS: bad seed in {run}"));
            (dialect, seed)
        })
        .collect()
}
