//! Prometheus metrics in the text exposition format, kept in-process. No labels carry user
//! input other than the route template, so cardinality stays bounded and no secret can leak.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

/// Latency buckets in seconds.
const BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

#[derive(Debug, Default, Clone)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    sum: f64,
    count: u64,
}

impl Histogram {
    fn observe(&mut self, seconds: f64) {
        for (c, b) in self.counts.iter_mut().zip(BUCKETS) {
            if seconds <= b {
                *c += 1;
            }
        }
        self.sum += seconds;
        self.count += 1;
    }
}

#[derive(Debug, Default)]
struct Inner {
    /// (route, status) → count
    requests: BTreeMap<(&'static str, u16), u64>,
    /// route → request duration
    durations: BTreeMap<&'static str, Histogram>,
    /// stage ("total" | "store") → search latency
    search: BTreeMap<&'static str, Histogram>,
    embedding_errors: u64,
    /// search path ([`crate::store::SearchPath::label`]) → searches
    search_paths: BTreeMap<&'static str, u64>,
    /// why the native server shed load ("idle_connection_closed" | "connection_refused" |
    /// "request_refused") → times
    shed: BTreeMap<&'static str, u64>,
}

#[derive(Debug, Default)]
pub struct Metrics {
    inner: Mutex<Inner>,
    /// The Postgres store's index state, when there is one (`vecgate serve` attaches it).
    index: OnceLock<Arc<IndexHealth>>,
    /// Whether the last probe reached the database (a host with a database sets it).
    database_up: OnceLock<AtomicBool>,
}

/// The state of ruvector's HNSW index after a database crash (`sql::sentinel`), shared by the
/// store (which finds it suspect and fences around it) and the native rebuild task.
#[derive(Debug, Default)]
pub struct IndexHealth {
    suspect: AtomicBool,
    rebuilding: AtomicBool,
    suspect_searches: AtomicU64,
    refused_writes: AtomicU64,
    rebuilds: AtomicU64,
    rebuild_failures: AtomicU64,
    last_rebuild_ms: AtomicU64,
}

impl IndexHealth {
    /// Whether the last check found the index suspect (not yet rebuilt since a crash).
    pub fn suspect(&self) -> bool {
        self.suspect.load(Ordering::SeqCst)
    }

    /// Records a check's result; true when the state changed.
    pub fn set_suspect(&self, suspect: bool) -> bool {
        self.suspect.swap(suspect, Ordering::SeqCst) != suspect
    }

    pub fn set_rebuilding(&self, rebuilding: bool) {
        self.rebuilding.store(rebuilding, Ordering::SeqCst);
    }

    /// A search answered by the exact scan because the index was suspect.
    pub fn count_suspect_search(&self) {
        self.suspect_searches.fetch_add(1, Ordering::Relaxed);
    }

    /// A write refused (503) because the index was suspect.
    pub fn count_refused_write(&self) {
        self.refused_writes.fetch_add(1, Ordering::Relaxed);
    }

    /// This node rebuilt the index, in `seconds`.
    pub fn record_rebuild(&self, seconds: f64) {
        self.rebuilds.fetch_add(1, Ordering::SeqCst);
        self.last_rebuild_ms
            .store((seconds * 1e3).round() as u64, Ordering::SeqCst);
    }

    pub fn record_rebuild_failure(&self) {
        self.rebuild_failures.fetch_add(1, Ordering::SeqCst);
    }

    fn render(&self, out: &mut String) {
        let flag = |b: &AtomicBool| u8::from(b.load(Ordering::SeqCst));
        let n = |c: &AtomicU64| c.load(Ordering::SeqCst);
        let metrics: [(&str, &str, &str, String); 7] = [
            (
                "vecgate_index_suspect",
                "gauge",
                "1 while the vector index is suspect after a database crash: searches take the exact scan, writes get 503.",
                flag(&self.suspect).to_string(),
            ),
            (
                "vecgate_index_rebuild_in_progress",
                "gauge",
                "1 while this node rebuilds the vector index.",
                flag(&self.rebuilding).to_string(),
            ),
            (
                "vecgate_index_rebuilds_total",
                "counter",
                "Rebuilds of the vector index completed by this node.",
                n(&self.rebuilds).to_string(),
            ),
            (
                "vecgate_index_rebuild_failures_total",
                "counter",
                "Rebuild attempts of this node that failed (they are retried).",
                n(&self.rebuild_failures).to_string(),
            ),
            (
                "vecgate_index_last_rebuild_seconds",
                "gauge",
                "How long this node's last rebuild of the vector index took.",
                (n(&self.last_rebuild_ms) as f64 / 1e3).to_string(),
            ),
            (
                "vecgate_index_suspect_searches_total",
                "counter",
                "Searches answered by the exact scan because the vector index was suspect.",
                n(&self.suspect_searches).to_string(),
            ),
            (
                "vecgate_index_suspect_writes_refused_total",
                "counter",
                "Writes refused (503) because the vector index was suspect.",
                n(&self.refused_writes).to_string(),
            ),
        ];
        for (name, kind, help, value) in metrics {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}"
            );
        }
    }
}

impl Metrics {
    pub fn record_request(&self, route: &'static str, status: u16, seconds: f64) {
        if let Ok(mut m) = self.inner.lock() {
            *m.requests.entry((route, status)).or_default() += 1;
            m.durations.entry(route).or_default().observe(seconds);
        }
    }

    /// One search: its total time in the handler and the part spent in the store.
    pub fn record_search(&self, total_seconds: f64, store_seconds: f64, path: &'static str) {
        if let Ok(mut m) = self.inner.lock() {
            *m.search_paths.entry(path).or_default() += 1;
            m.search.entry("total").or_default().observe(total_seconds);
            m.search.entry("store").or_default().observe(store_seconds);
        }
    }

    /// Shows `index` in [`Metrics::render`] from now on (the first one attached stays).
    pub fn attach_index(&self, index: Arc<IndexHealth>) {
        let _ = self.index.set(index);
    }

    /// The native server closed an idle connection, or refused a connection or a request, at
    /// its `max_connections` / `max_in_flight` cap.
    pub fn record_shed(&self, reason: &'static str) {
        if let Ok(mut m) = self.inner.lock() {
            *m.shed.entry(reason).or_default() += 1;
        }
    }

    pub fn record_embedding_error(&self) {
        if let Ok(mut m) = self.inner.lock() {
            m.embedding_errors += 1;
        }
    }

    pub fn render(&self) -> String {
        let Ok(m) = self.inner.lock() else {
            return String::new();
        };
        let mut out = String::new();
        out.push_str("# HELP vecgate_requests_total HTTP requests by route template and status.\n");
        out.push_str("# TYPE vecgate_requests_total counter\n");
        for ((route, status), n) in &m.requests {
            let _ = writeln!(
                out,
                "vecgate_requests_total{{route=\"{route}\",status=\"{status}\"}} {n}"
            );
        }
        out.push_str(
            "# HELP vecgate_request_duration_seconds HTTP request latency by route template.\n",
        );
        out.push_str("# TYPE vecgate_request_duration_seconds histogram\n");
        for (route, h) in &m.durations {
            write_histogram(
                &mut out,
                "vecgate_request_duration_seconds",
                "route",
                route,
                h,
            );
        }
        out.push_str(
            "# HELP vecgate_search_duration_seconds Search latency: total in the handler, and the store (database or index) part.\n",
        );
        out.push_str("# TYPE vecgate_search_duration_seconds histogram\n");
        for (stage, h) in &m.search {
            write_histogram(
                &mut out,
                "vecgate_search_duration_seconds",
                "stage",
                stage,
                h,
            );
        }
        out.push_str(
            "# HELP vecgate_search_path_total Searches by what answered them: the index, or an exact scan after the index fell short.\n",
        );
        out.push_str("# TYPE vecgate_search_path_total counter\n");
        // Every path, 0 until used, so that rates and alerts see the series from the start.
        for path in crate::store::SearchPath::ALL.map(crate::store::SearchPath::label) {
            let n = m.search_paths.get(path).copied().unwrap_or(0);
            let _ = writeln!(out, "vecgate_search_path_total{{path=\"{path}\"}} {n}");
        }
        out.push_str(
            "# HELP vecgate_embedding_errors_total Failed calls to the embedding provider.\n",
        );
        out.push_str("# TYPE vecgate_embedding_errors_total counter\n");
        let _ = writeln!(out, "vecgate_embedding_errors_total {}", m.embedding_errors);
        if !m.shed.is_empty() {
            out.push_str(
                "# HELP vecgate_load_shed_total Connections closed or refused, and requests refused, at the server's caps.\n",
            );
            out.push_str("# TYPE vecgate_load_shed_total counter\n");
            for (reason, n) in &m.shed {
                let _ = writeln!(out, "vecgate_load_shed_total{{reason=\"{reason}\"}} {n}");
            }
        }
        if let Some(index) = self.index.get() {
            index.render(&mut out);
        }
        if let Some(up) = self.database_up.get() {
            let _ = writeln!(
                out,
                "# HELP vecgate_database_up 1 when the last probe (every 5 s) reached Postgres.\n\
                 # TYPE vecgate_database_up gauge\nvecgate_database_up {}",
                u8::from(up.load(Ordering::SeqCst))
            );
        }
        out
    }

    /// Records whether a probe of the database succeeded (`vecgate_database_up`).
    pub fn set_database_up(&self, up: bool) {
        self.database_up
            .get_or_init(|| AtomicBool::new(up))
            .store(up, Ordering::SeqCst);
    }
}

fn write_histogram(out: &mut String, name: &str, label: &str, value: &str, h: &Histogram) {
    for (b, c) in BUCKETS.iter().zip(h.counts) {
        let _ = writeln!(out, "{name}_bucket{{{label}=\"{value}\",le=\"{b}\"}} {c}");
    }
    let _ = writeln!(
        out,
        "{name}_bucket{{{label}=\"{value}\",le=\"+Inf\"}} {}",
        h.count
    );
    let _ = writeln!(out, "{name}_sum{{{label}=\"{value}\"}} {}", h.sum);
    let _ = writeln!(out, "{name}_count{{{label}=\"{value}\"}} {}", h.count);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_and_cumulative_histograms() {
        let m = Metrics::default();
        m.record_request("/v1/search", 200, 0.003);
        m.record_request("/v1/search", 200, 0.2);
        m.record_request("/v1/search", 400, 0.0001);
        m.record_search(0.004, 0.001, "index");
        m.record_search(0.004, 0.001, "exact_fallback");
        m.record_search(0.004, 0.001, "index");
        let text = m.render();
        assert!(text.contains("vecgate_requests_total{route=\"/v1/search\",status=\"200\"} 2"));
        assert!(text.contains("vecgate_requests_total{route=\"/v1/search\",status=\"400\"} 1"));
        assert!(text.contains(
            "vecgate_request_duration_seconds_bucket{route=\"/v1/search\",le=\"0.005\"} 2"
        ));
        assert!(text.contains(
            "vecgate_request_duration_seconds_bucket{route=\"/v1/search\",le=\"+Inf\"} 3"
        ));
        assert!(text.contains("vecgate_search_duration_seconds_count{stage=\"store\"} 3"));
        assert!(text.contains("vecgate_search_path_total{path=\"index\"} 2"));
        assert!(text.contains("vecgate_search_path_total{path=\"exact_fallback\"} 1"));
        assert!(text
            .contains("vecgate_search_duration_seconds_bucket{stage=\"total\",le=\"0.0025\"} 0"));
        assert!(!text.contains("vecgate_index_"), "no index state attached");
    }

    #[test]
    fn renders_the_attached_index_state() {
        let m = Metrics::default();
        let index = Arc::new(IndexHealth::default());
        m.attach_index(index.clone());
        assert!(m.render().contains("\nvecgate_index_suspect 0\n"));
        assert!(index.set_suspect(true));
        assert!(!index.set_suspect(true), "no change");
        index.count_suspect_search();
        index.count_refused_write();
        index.count_refused_write();
        index.record_rebuild(1.25);
        let text = m.render();
        for line in [
            "vecgate_index_suspect 1",
            "vecgate_index_rebuild_in_progress 0",
            "vecgate_index_rebuilds_total 1",
            "vecgate_index_last_rebuild_seconds 1.25",
            "vecgate_index_suspect_searches_total 1",
            "vecgate_index_suspect_writes_refused_total 2",
            "# TYPE vecgate_index_rebuilds_total counter",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} missing:\n{text}");
        }
    }
}
