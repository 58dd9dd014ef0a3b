//! Prometheus metrics in the text exposition format, kept in-process. No labels carry user
//! input other than the route template, so cardinality stays bounded and no secret can leak.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;

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
    /// search path ("index" | "exact_fallback") → searches
    search_paths: BTreeMap<&'static str, u64>,
}

#[derive(Debug, Default)]
pub struct Metrics {
    inner: Mutex<Inner>,
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
        for (path, n) in &m.search_paths {
            let _ = writeln!(out, "vecgate_search_path_total{{path=\"{path}\"}} {n}");
        }
        out.push_str(
            "# HELP vecgate_embedding_errors_total Failed calls to the embedding provider.\n",
        );
        out.push_str("# TYPE vecgate_embedding_errors_total counter\n");
        let _ = writeln!(out, "vecgate_embedding_errors_total {}", m.embedding_errors);
        out
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
    }
}
