//! Which central database to run: ruvector (PostgreSQL 15) against native pgvector
//! (PostgreSQL 16), on the same data in one run, through `vecgate serve` (release build):
//! the 3,200 sample films, and synthetic clustered 384-d rows (`VECGATE_CENTRAL_ROWS`, default
//! 100,000).
//!
//! Per database and dataset it prints:
//! - the HNSW build time (`CREATE INDEX` with the migration's definition over the loaded table)
//!   and the bytes on disk of the index and of the whole table;
//! - search p50 / p99 through the edge for unfiltered queries and for a filter matching about 1%
//!   of the rows, one query at a time, with recall@10 taken from vecgate's own recall monitor
//!   (sample rate 1; each check is awaited before the next query, so checks never overlap the
//!   timed searches);
//! - wrk requests/s, p50 and p99 at concurrency 32 with bench/load.lua's mix
//!   (`VECGATE_CENTRAL_SECONDS` per run, default 10).
//!
//! - the start of a `--local-index` node on that database: from an empty data dir, then from
//!   its snapshot.
//!
//! Asserts nothing about speed. Run: `bash bench/central-db.sh`
//! (`VECGATE_CENTRAL_DATABASES=pgvector` for one database only; `VECGATE_CENTRAL_RUVECTOR_EF=400`
//! sets ruvector's `hnsw_ef_search` for its connections).

use std::io::Write;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use vecgate_tests::data::movies;
use vecgate_tests::server::{vecgate_release_bin, Server};
use vecgate_tests::suite::{key_env, Api, READ_KEY};
use vecgate_tests::synthetic::Rng;
use vecgate_tests::{assert_ruvector_installed, wrk, PgCluster};

const DIMS: usize = 384;
const QUERIES: usize = 200;

struct Item {
    id: String,
    content_id: Option<i64>,
    media_type: String,
    metadata: Value,
    vector: Vec<f32>,
}

impl Item {
    /// The `POST /v1/content` shape.
    fn to_json(&self) -> Value {
        json!({"id": self.id, "content_id": self.content_id, "media_type": self.media_type,
               "metadata": self.metadata, "vector": self.vector})
    }
}

struct Dataset {
    name: String,
    items: Vec<Item>,
    queries: Vec<Vec<f32>>,
    /// Matches about 1% of the items.
    selective_filter: Value,
    /// bench/load.lua's filtered searches.
    load_filters: Vec<Value>,
}

fn movies_dataset() -> Dataset {
    let m = movies();
    Dataset {
        name: format!("{} films", m.items.len()),
        items: m
            .items
            .iter()
            .enumerate()
            .map(|(i, item)| Item {
                id: m.ids[i].clone(),
                content_id: item["content_id"].as_i64(),
                media_type: item["media_type"].as_str().expect("media_type").to_owned(),
                metadata: item["metadata"].clone(),
                vector: m.vector(i).to_vec(),
            })
            .collect(),
        queries: (0..QUERIES)
            .map(|i| {
                // Each film's vector nudged: a query near the data that is not a stored row.
                let mut rng = Rng(i as u64 + 1);
                rng.unit_near(m.vector((i * 7919) % m.ids.len()), 0.02)
            })
            .collect(),
        selective_filter: json!({"genres": ["Western"]}),
        load_filters: vec![
            json!({"genres": ["Comedy"]}),
            json!({"year": {"$gte": 2000}}),
            json!({"genres": ["Western"]}),
        ],
    }
}

/// Rows around 1,000 random centres: clustered like real embeddings, so the HNSW has work.
fn synthetic_dataset(rows: usize) -> Dataset {
    let mut rng = Rng(0x5eed);
    let centers = rng.centers(1000, DIMS);
    let items = (0..rows)
        .map(|i| Item {
            id: format!("syn-{i}"),
            content_id: Some(i as i64),
            media_type: if i % 5 == 0 { "tv" } else { "movie" }.to_owned(),
            metadata: json!({"bucket": i % 100, "year": 1950 + i % 75}),
            vector: rng.unit_near(&centers[i % centers.len()], 0.35),
        })
        .collect();
    let queries = (0..QUERIES)
        .map(|i| rng.unit_near(&centers[(i * 37) % centers.len()], 0.35))
        .collect();
    Dataset {
        name: format!("{rows} synthetic"),
        items,
        queries,
        selective_filter: json!({"bucket": 7}),
        load_filters: vec![
            json!({"bucket": {"$lt": 50}}),
            json!({"year": {"$gte": 2000}}),
            json!({"bucket": 7}),
        ],
    }
}

struct Row {
    database: &'static str,
    dataset: String,
    build_s: f64,
    index_mb: f64,
    table_mb: f64,
    plain: Timing,
    filtered: Timing,
    load: wrk::WrkOutcome,
    /// `--local-index` start-up: from an empty data dir, and again from its snapshot.
    start_empty_s: f64,
    start_snapshot_s: f64,
}

struct Timing {
    p50_ms: f64,
    p99_ms: f64,
    recall: f64,
    checks: u64,
}

/// (sum of recall, checks done, checks skipped) from `/v1/stats`.
fn recall_totals(api: &Api) -> (f64, u64, u64) {
    let (status, stats) = api.call("GET", "/v1/stats", Some(READ_KEY), None);
    assert_eq!(status, 200, "{stats}");
    let recall = &stats["recall"];
    let samples = recall["samples"].as_u64().unwrap_or(0);
    let mean = recall["mean"].as_f64().unwrap_or(0.0);
    (
        mean * samples as f64,
        samples,
        recall["skipped"].as_u64().unwrap_or(0),
    )
}

/// Times each query through the edge, then waits for its recall check before the next one.
fn timed_searches(api: &Api, queries: &[Vec<f32>], filter: Option<&Value>) -> Timing {
    let (sum_before, done_before, skipped_before) = recall_totals(api);
    let mut ms = Vec::with_capacity(queries.len());
    for (i, q) in queries.iter().enumerate() {
        let mut body = json!({"vector": q, "k": 10});
        if let Some(f) = filter {
            body["filter"] = f.clone();
        }
        let start = Instant::now();
        let (status, v) = api.call("POST", "/v1/search", Some(READ_KEY), Some(&body));
        ms.push(start.elapsed().as_secs_f64() * 1e3);
        assert_eq!(status, 200, "{v}");
        let deadline = Instant::now() + Duration::from_secs(60);
        while recall_totals(api).1 < done_before + i as u64 + 1 {
            assert!(Instant::now() < deadline, "the recall check never finished");
            std::thread::sleep(Duration::from_millis(2));
        }
    }
    let (sum, done, skipped) = recall_totals(api);
    assert_eq!(skipped, skipped_before, "no recall check may be skipped");
    ms.sort_by(f64::total_cmp);
    Timing {
        p50_ms: vecgate_tests::percentile(&ms, 0.5),
        p99_ms: vecgate_tests::percentile(&ms, 0.99),
        recall: (sum - sum_before) / (done - done_before) as f64,
        checks: done - done_before,
    }
}

/// The items as CSV for `\copy content_vectors (id, vector, content_id, media_type, metadata)`.
fn write_csv(items: &[Item], path: &std::path::Path) {
    let mut out = std::io::BufWriter::new(std::fs::File::create(path).expect("create the CSV"));
    let quote = |s: &str| format!("\"{}\"", s.replace('"', "\"\""));
    for item in items {
        let content_id = item.content_id.map(|c| c.to_string()).unwrap_or_default();
        writeln!(
            out,
            "{},{},{},{},{}",
            quote(&item.id),
            quote(&vecgate_edge::sql::vector_literal(&item.vector)),
            content_id,
            item.media_type,
            quote(&item.metadata.to_string()),
        )
        .expect("write the CSV");
    }
    out.flush().expect("write the CSV");
}

fn measure(database: &'static str, data: &Dataset, csv: &std::path::Path) -> Row {
    let pg = match database {
        "ruvector" => PgCluster::start(),
        _ => PgCluster::start_pgvector(),
    };
    let db = "central";
    let mut url = pg.create_database(db);
    // VECGATE_CENTRAL_RUVECTOR_EF: ruvector's search breadth, per connection (sql/RUVECTOR.md).
    if let (Ok(ef), "ruvector") = (std::env::var("VECGATE_CENTRAL_RUVECTOR_EF"), database) {
        url.push_str(&format!("?options=-c%20ruvector.hnsw_ef_search%3D{ef}"));
    }
    let mut env = key_env();
    env.extend([
        ("VECGATE_DATABASE_URL", url),
        ("VECGATE_MIGRATE", "true".to_owned()),
        ("VECGATE_DIALECT", database.to_owned()),
        ("VECGATE_DIMENSIONS", DIMS.to_string()),
        ("VECGATE_RECALL_SAMPLE_RATE", "1".to_owned()),
    ]);
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    // Serving runs the migrations: the schema, the index definition and the search settings.
    let server = Server::start_bin(&vecgate_release_bin(), &[], &env);
    let api = Api::new(&server.base);

    let index = "content_vectors_vector_hnsw";
    let build_s = pg.copy_content(db, "id, vector, content_id, media_type, metadata", csv);
    let size = |relation: &str, function: &str| -> f64 {
        let bytes: f64 = pg
            .psql(db, &format!("SELECT {function}('{relation}')"))
            .trim()
            .parse()
            .expect("a size");
        bytes / 1e6
    };
    let index_mb = size(index, "pg_relation_size");
    let table_mb = size("content_vectors", "pg_total_relation_size");
    println!(
        "[{database} / {}] index built in {build_s:.1} s: {index_mb:.1} MB (table with indexes \
         {table_mb:.1} MB)",
        data.name
    );

    let plain = timed_searches(&api, &data.queries, None);
    let filtered = timed_searches(&api, &data.queries, Some(&data.selective_filter));
    println!(
        "[{database} / {}] unfiltered p50 {:.2} ms, recall {:.3}; 1% filter p50 {:.2} ms, recall {:.3}",
        data.name, plain.p50_ms, plain.recall, filtered.p50_ms, filtered.recall
    );
    drop(server);

    // The load without the recall monitor, as production would run it.
    let mut env = env.clone();
    env.retain(|(k, _)| *k != "VECGATE_RECALL_SAMPLE_RATE");
    env.push(("VECGATE_RECALL_SAMPLE_RATE", "0"));
    let server = Server::start_bin(&vecgate_release_bin(), &[], &env);
    let requests = std::env::temp_dir().join(format!("vecgate-central-{}.tsv", std::process::id()));
    // The cycle visits 512 requests: a few thousand items give it variety enough.
    let sample: Vec<Value> = data.items.iter().take(4096).map(Item::to_json).collect();
    std::fs::write(&requests, wrk::request_lines(&sample, &data.load_filters))
        .expect("write the request cycle");
    let load = wrk::run(database, &server.base, &requests, seconds());
    let _ = std::fs::remove_file(&requests);
    assert_eq!(
        load.errors, 0,
        "[{database}] errors under load: {}",
        load.error_detail
    );
    drop(server);

    // A read node's start: the full copy, then a restart from the snapshot it wrote.
    let data_dir = vecgate_tests::empty_temp_dir(&format!("central-local-{database}"));
    let mut local_env = env.clone();
    let dir = data_dir.display().to_string();
    local_env.extend([
        ("VECGATE_LOCAL_INDEX", "true"),
        ("VECGATE_DATA_DIR", dir.as_str()),
    ]);
    let timed_start = || {
        let start = Instant::now();
        let node = Server::start_bin(&vecgate_release_bin(), &[], &local_env);
        (start.elapsed().as_secs_f64(), node)
    };
    let (start_empty_s, node) = timed_start();
    node.kill9();
    let (start_snapshot_s, node) = timed_start();
    drop(node);
    let _ = std::fs::remove_dir_all(&data_dir);
    println!(
        "[{database} / {}] --local-index start: {start_empty_s:.1} s from an empty data dir, \
         {start_snapshot_s:.1} s from its snapshot",
        data.name
    );
    Row {
        database,
        dataset: data.name.clone(),
        build_s,
        index_mb,
        table_mb,
        plain,
        filtered,
        load,
        start_empty_s,
        start_snapshot_s,
    }
}

fn seconds() -> u64 {
    std::env::var("VECGATE_CENTRAL_SECONDS")
        .ok()
        .map(|v| {
            v.parse()
                .expect("VECGATE_CENTRAL_SECONDS is a whole number")
        })
        .unwrap_or(10)
}

fn main() {
    assert_ruvector_installed();
    let rows: usize = std::env::var("VECGATE_CENTRAL_ROWS")
        .ok()
        .map(|v| v.parse().expect("VECGATE_CENTRAL_ROWS is a whole number"))
        .unwrap_or(100_000);
    // VECGATE_CENTRAL_DATABASES=pgvector skips ruvector (its 100k build takes about 24 minutes).
    let databases: Vec<&'static str> = match std::env::var("VECGATE_CENTRAL_DATABASES") {
        Ok(list) => ["ruvector", "pgvector"]
            .into_iter()
            .filter(|d| list.split(',').any(|x| x.trim() == *d))
            .collect(),
        Err(_) => vec!["ruvector", "pgvector"],
    };
    assert!(
        !databases.is_empty(),
        "VECGATE_CENTRAL_DATABASES names neither ruvector nor pgvector"
    );
    let mut table = Vec::new();
    for data in [movies_dataset(), synthetic_dataset(rows)] {
        let csv = std::env::temp_dir().join(format!("vecgate-central-{}.csv", std::process::id()));
        write_csv(&data.items, &csv);
        for &database in &databases {
            table.push(measure(database, &data, &csv));
        }
        let _ = std::fs::remove_file(&csv);
    }
    println!(
        "\n| data | database | HNSW build s | index MB | table MB | search p50 / p99 ms | recall@10 | \
         1% filter p50 / p99 ms | recall@10 | load req/s | load p50 / p99 ms | \
         --local-index start s (empty / snapshot) |"
    );
    println!("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for r in &table {
        println!(
            "| {} | {} | {:.1} | {:.1} | {:.1} | {:.2} / {:.2} | {:.3} ({} checks) | {:.2} / {:.2} | \
             {:.3} ({} checks) | {:.0} | {:.2} / {:.2} | {:.1} / {:.1} |",
            r.dataset,
            r.database,
            r.build_s,
            r.index_mb,
            r.table_mb,
            r.plain.p50_ms,
            r.plain.p99_ms,
            r.plain.recall,
            r.plain.checks,
            r.filtered.p50_ms,
            r.filtered.p99_ms,
            r.filtered.recall,
            r.filtered.checks,
            r.load.per_second(),
            r.load.p50_ms,
            r.load.p99_ms,
            r.start_empty_s,
            r.start_snapshot_s,
        );
    }
}
