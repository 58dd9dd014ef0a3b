//! The chaos run (`vecgate_tests::chaos`): real processes, a seeded fault schedule, and exact
//! checks at the end. CI runs the bounded version: three seeds of 60 s, two on pgvector (with a
//! replica to promote) and one on ruvector. `bash scripts/chaos.sh [seconds] [seed] [dialect]`
//! runs longer or replays a seed. Needs root (a tmpfs for the full-disk fault).

use vecgate_tests::chaos::{self, Config};

#[test]
fn a_seeded_chaos_run_loses_nothing_acknowledged_and_converges() {
    let seconds = std::env::var("VECGATE_CHAOS_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(60);
    let mut failed = Vec::new();
    for (dialect, seed) in chaos::runs_from_env("pgvector:1,pgvector:2,ruvector:3") {
        let report = chaos::run(&Config {
            seed,
            seconds,
            dialect,
        });
        println!("{report}");
        if !report.violations.is_empty() {
            failed.push(format!("{} seed {seed}", dialect.name()));
        }
    }
    assert!(failed.is_empty(), "chaos runs with violations: {failed:?}");
}
