//! Edge over ruvector-postgres: search latency through `vecgate serve` against the same SQL sent
//! directly, ruvector's own query time, and batch-upsert throughput against COPY.
//! Prints figures and same-run ratios; asserts nothing about speed.
//! Run: `cargo bench -p vecgate-tests --bench edge_postgres`

use std::io::Write;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::json;
use tokio_postgres::types::{to_sql_checked, IsNull, ToSql, Type};
use vecgate_edge::native::pg::PgClient;
use vecgate_edge::sql::Dialect;
use vecgate_edge::store::postgres::PostgresStore;
use vecgate_edge::store::{SearchBreadth, SearchLog, SearchQuery};
use vecgate_tests::data::movies;
use vecgate_tests::server::{vecgate_release_bin, Server};
use vecgate_tests::suite::Api;
use vecgate_tests::{assert_ruvector_installed, connect, PgCluster, PG_BIN};

const ROUNDS: usize = 25;

/// A vector in ruvector's binary wire format (`ruvector_recv`: u16 dimensions, then f32 bits,
/// big-endian), to compare with sending it as text.
#[derive(Debug)]
struct BinaryRuvector<'a>(&'a [f32]);

impl ToSql for BinaryRuvector<'_> {
    fn to_sql(
        &self,
        _: &Type,
        out: &mut tokio_postgres::types::private::BytesMut,
    ) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        out.extend_from_slice(&(self.0.len() as u16).to_be_bytes());
        for x in self.0 {
            out.extend_from_slice(&x.to_bits().to_be_bytes());
        }
        Ok(IsNull::No)
    }

    fn accepts(ty: &Type) -> bool {
        ty.name() == "ruvector"
    }

    to_sql_checked!();
}

fn percentile(samples: &mut [Duration], p: f64) -> f64 {
    samples.sort();
    let i = ((samples.len() as f64 - 1.0) * p).round() as usize;
    samples[i].as_secs_f64() * 1e3
}

fn main() {
    assert_ruvector_installed();
    let m = movies();
    let pg = PgCluster::start();
    let url = pg.create_database("bench");
    let dims = m.dims.to_string();
    let server = Server::start_bin(
        &vecgate_release_bin(),
        &[],
        &[
            ("VECGATE_DATABASE_URL", url.as_str()),
            ("VECGATE_MIGRATE", "true"),
            ("VECGATE_DIMENSIONS", dims.as_str()),
        ],
    );
    let api = Api::new(&server.base);

    // Batch upsert through the API, 1,000 items per request.
    let start = Instant::now();
    for chunk in m.items.chunks(1000) {
        let (status, v) = api.call(
            "POST",
            "/v1/content",
            None,
            Some(&json!({ "items": chunk })),
        );
        assert_eq!(status, 200, "{v}");
    }
    let upsert = start.elapsed();

    // COPY of the same rows into an identically migrated database.
    let copy_url = pg.create_database("bench_copy");
    let migrate = Command::new(vecgate_release_bin())
        .args([
            "migrate",
            "--database-url",
            &copy_url,
            "--dimensions",
            &dims,
        ])
        .output()
        .expect("run vecgate migrate");
    assert!(
        migrate.status.success(),
        "{}",
        String::from_utf8_lossy(&migrate.stderr)
    );
    let tsv = std::env::temp_dir().join(format!("vecgate-copy-{}.tsv", std::process::id()));
    {
        let mut f = std::io::BufWriter::new(std::fs::File::create(&tsv).unwrap());
        for (i, item) in m.items.iter().enumerate() {
            let v = vecgate_core::kernels::normalize(m.vector(i)).unwrap();
            let metadata = item["metadata"].to_string().replace('\\', "\\\\");
            writeln!(
                f,
                "{}\t{}\t{}\t{}\t{}",
                m.ids[i],
                item["content_id"],
                item["media_type"].as_str().unwrap(),
                metadata,
                vecgate_edge::sql::vector_literal(&v)
            )
            .unwrap();
        }
    }
    std::fs::set_permissions(&tsv, std::os::unix::fs::PermissionsExt::from_mode(0o644)).unwrap();
    let psql = |sql: &str| {
        let out = Command::new(format!("{PG_BIN}/psql"))
            .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", &copy_url, "-c", sql])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let start = Instant::now();
    psql(&format!(
        "\\copy content_vectors (id, content_id, media_type, metadata, vector) FROM '{}'",
        tsv.display()
    ));
    let copy = start.elapsed();
    let _ = std::fs::remove_file(&tsv);

    // Searches: the same statements through the edge and directly.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let direct = rt.block_on(connect(&url));
    let store = PostgresStore::new(
        PgClient::new(&url, &[]).unwrap(),
        Dialect::Ruvector,
        m.dims,
        false,
    );
    let queries: Vec<Vec<f32>> = m
        .queries
        .iter()
        .map(|(_, v)| vecgate_core::kernels::normalize(v).unwrap())
        .collect();
    let (mut edge, mut sql, mut bare, mut binary) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let by_text = rt
        .block_on(direct.prepare(
            "SELECT id FROM content_vectors ORDER BY vector <=> $1::text::ruvector LIMIT 10",
        ))
        .unwrap();
    let by_binary = rt
        .block_on(direct.prepare("SELECT id FROM content_vectors ORDER BY vector <=> $1 LIMIT 10"))
        .unwrap();
    // Where the edge's time goes: the server's own histograms (sums and counts), read around the
    // measured rounds, against the client's round trip and the direct statement.
    let server_stage = |series: &str| api.metric(series);
    let mut before = None;
    for round in 0..ROUNDS + 1 {
        if round == 1 {
            before = Some(ServerTimes::read(&server_stage));
        }
        for q in &queries {
            let t = Instant::now();
            api.search(json!({"vector": q, "k": 10}));
            let e = t.elapsed();

            let query = SearchQuery {
                vector: q.clone(),
                k: 10,
                threshold: None,
                filter: None,
                exclude_id: None,
                include_metadata: false,
                include_vector: false,
                log: Some(SearchLog {
                    user_id: None,
                    search_type: "vector",
                    filter: None,
                    query_vector: Some(q.clone()),
                }),
                breadth: SearchBreadth::Backend,
                deadline: None,
            };
            let (statement, params) = store.search_statement(&query, false);
            // One round trip with text parameters, as the edge's client sends it.
            let typed: Vec<(&(dyn ToSql + Sync), Type)> = params
                .iter()
                .map(|p| (p as &(dyn ToSql + Sync), Type::TEXT))
                .collect();
            let t = Instant::now();
            rt.block_on(direct.query_typed(statement.as_str(), &typed))
                .unwrap();
            let s = t.elapsed();

            let literal = vecgate_edge::sql::vector_literal(q);
            let t = Instant::now();
            rt.block_on(direct.query(&by_text, &[&literal])).unwrap();
            let b = t.elapsed();
            let t = Instant::now();
            rt.block_on(direct.query(&by_binary, &[&BinaryRuvector(q)]))
                .unwrap();
            let bin = t.elapsed();
            if round > 0 {
                edge.push(e);
                sql.push(s);
                bare.push(b);
                binary.push(bin);
            }
        }
    }
    let times = ServerTimes::read(&server_stage).minus(&before.expect("read after round 0"));
    let mean =
        |d: &[Duration]| d.iter().map(Duration::as_secs_f64).sum::<f64>() * 1e3 / d.len() as f64;
    let (edge_mean, sql_mean) = (mean(&edge), mean(&sql));
    let n = edge.len();
    let (e50, e99) = (percentile(&mut edge, 0.5), percentile(&mut edge, 0.99));
    let (s50, s99) = (percentile(&mut sql, 0.5), percentile(&mut sql, 0.99));
    let (b50, b99) = (percentile(&mut bare, 0.5), percentile(&mut bare, 0.99));
    let (n50, n99) = (percentile(&mut binary, 0.5), percentile(&mut binary, 0.99));
    let rate = |d: Duration| m.items.len() as f64 / d.as_secs_f64();
    println!(
        "edge over ruvector-postgres: {} items x {} dims, {n} searches per path (k=10)",
        m.items.len(),
        m.dims
    );
    println!("{:<52} {:>9} {:>9}", "search path", "p50 ms", "p99 ms");
    println!(
        "{:<52} {:>9.3} {:>9.3}",
        "vecgate serve (HTTP, JSON, rescoring, log row)", e50, e99
    );
    println!(
        "{:<52} {:>9.3} {:>9.3}",
        "same SQL statement sent directly (tokio-postgres)", s50, s99
    );
    println!(
        "{:<52} {:>9.3} {:>9.3}",
        "ruvector alone, vector as text ($1::text::ruvector)", b50, b99
    );
    println!(
        "{:<52} {:>9.3} {:>9.3}",
        "ruvector alone, vector in binary (ruvector_recv)", n50, n99
    );
    println!("ratio text / binary vector parameter p50: {:.2}", b50 / n50);
    println!(
        "ratio edge p50 / direct p50 (target <= 1.2): {:.2}",
        e50 / s50
    );
    println!(
        "where the edge's time goes (means over the {} measured searches, ms):",
        times.searches
    );
    let request = times.request_ms();
    let store = times.store_ms();
    let handler = times.handler_ms();
    for (part, ms) in [
        (
            "client and HTTP (round trip - server request time)",
            edge_mean - request,
        ),
        ("auth, routing, response JSON", request - handler),
        ("request body, validation, metrics", handler - store),
        ("store: statement, round trip, rescoring", store),
        ("  of which the direct statement's round trip", sql_mean),
        (
            "  of which the store's own work (store - direct)",
            store - sql_mean,
        ),
        ("edge round trip (mean)", edge_mean),
    ] {
        println!("  {part:<52} {ms:>8.3}");
    }
    println!(
        "batch upsert through the API: {:.0} items/s ({:.2} s)",
        rate(upsert),
        upsert.as_secs_f64()
    );
    println!(
        "COPY of the same rows (psql \\copy):  {:.0} items/s ({:.2} s)",
        rate(copy),
        copy.as_secs_f64()
    );
    println!(
        "ratio upsert / COPY (target >= 0.5): {:.2}",
        rate(upsert) / rate(copy)
    );
    drop(server);
}

/// Sums and counts of the server's search histograms (seconds).
struct ServerTimes {
    searches: f64,
    request: f64,
    total: f64,
    store: f64,
}

impl ServerTimes {
    fn read(metric: &dyn Fn(&str) -> f64) -> ServerTimes {
        ServerTimes {
            searches: metric(r#"vecgate_search_duration_seconds_count{stage="total"}"#),
            request: metric(r#"vecgate_request_duration_seconds_sum{route="/v1/search"}"#),
            total: metric(r#"vecgate_search_duration_seconds_sum{stage="total"}"#),
            store: metric(r#"vecgate_search_duration_seconds_sum{stage="store"}"#),
        }
    }

    fn minus(&self, earlier: &ServerTimes) -> ServerTimes {
        ServerTimes {
            searches: self.searches - earlier.searches,
            request: self.request - earlier.request,
            total: self.total - earlier.total,
            store: self.store - earlier.store,
        }
    }

    fn request_ms(&self) -> f64 {
        self.request * 1e3 / self.searches
    }

    fn handler_ms(&self) -> f64 {
        self.total * 1e3 / self.searches
    }

    fn store_ms(&self) -> f64 {
        self.store * 1e3 / self.searches
    }
}
