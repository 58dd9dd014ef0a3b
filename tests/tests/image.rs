//! The container image, built by `deploy/build-image.sh` and run with podman (offline, runc,
//! `deploy/containers.conf`), as an operator would: read-only, a named volume on /data, the
//! HEALTHCHECK, free-text search with the model inside, a clean stop on SIGTERM, and the same
//! data after a restart on the same volume.

use std::path::PathBuf;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use serde_json::json;
use vecgate_tests::free_port;
use vecgate_tests::suite::{Api, READ_KEY, WRITE_KEY};

const TAG: &str = "localhost/vecgate:test";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn podman(args: &[&str]) -> Output {
    Command::new("podman")
        .args(args)
        .env("CONTAINERS_CONF", root().join("deploy/containers.conf"))
        .output()
        .unwrap_or_else(|e| panic!("podman is needed (scripts/install-deps.sh): {e}"))
}

fn podman_ok(args: &[&str]) -> String {
    let out = podman(args);
    assert!(
        out.status.success(),
        "podman {args:?} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// Builds the image once per test process (both tests use it).
fn build_image() {
    static BUILT: std::sync::OnceLock<()> = std::sync::OnceLock::new();
    BUILT.get_or_init(|| {
        let built = Command::new("bash")
            .arg(root().join("deploy/build-image.sh"))
            .arg(TAG)
            .output()
            .expect("run deploy/build-image.sh");
        let printed = String::from_utf8_lossy(&built.stdout).into_owned()
            + &String::from_utf8_lossy(&built.stderr);
        assert!(built.status.success(), "the image build failed:\n{printed}");
        eprintln!("{}", printed.trim());
    });
}

/// Removes the test's containers and volume, whatever happened.
struct Cleanup {
    containers: Vec<String>,
    volume: String,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        for c in &self.containers {
            let _ = podman(&["rm", "-f", "-t", "0", c]);
        }
        let _ = podman(&["volume", "rm", "-f", &self.volume]);
    }
}

/// What the container printed, stdout and stderr.
fn logs(name: &str) -> String {
    let out = podman(&["logs", name]);
    String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
}

/// Runs the image detached: read-only, the volume on /data, on the host's loopback, with the
/// test's keys and `env` (`NAME=value`).
fn run(name: &str, volume: &str, port: u16, env: &[String], args: &[&str]) {
    let mut settings = vec![
        format!("VECGATE_ADDR=127.0.0.1:{port}"),
        format!("VECGATE_API_KEYS_READ={READ_KEY}"),
        format!("VECGATE_API_KEYS_WRITE={WRITE_KEY}"),
    ];
    settings.extend_from_slice(env);
    let mount = format!("{volume}:/data");
    let mut all = vec![
        "run",
        "-d",
        "--name",
        name,
        "--read-only",
        "--network",
        "host",
        "-v",
        &mount,
    ];
    for setting in &settings {
        all.extend(["-e", setting.as_str()]);
    }
    all.extend([TAG, "serve"]);
    all.extend_from_slice(args);
    podman_ok(&all);
}

/// Runs the image's HEALTHCHECK until it passes (podman schedules it with systemd timers, which
/// a machine without systemd lacks, so the test runs it as the scheduler would).
fn wait_healthy(name: &str) {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        if podman(&["healthcheck", "run", name]).status.success() {
            let status = podman_ok(&["inspect", "--format", "{{.State.Health.Status}}", name]);
            assert_eq!(status, "healthy");
            return;
        }
        let running = podman_ok(&["inspect", "--format", "{{.State.Running}}", name]);
        assert!(
            Instant::now() < deadline && running == "true",
            "{name} never became healthy (running: {running}); its log:\n{}",
            logs(name)
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}

fn toy_story_search(api: &Api) -> Vec<String> {
    let found = api.search(json!({
        "text": "animated film for kids about toys",
        "k": 3,
        "include": ["metadata"]
    }));
    found["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            r["metadata"]["title"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        })
        .collect()
}

#[test]
fn the_image_serves_read_only_stops_cleanly_and_keeps_its_data() {
    build_image();

    let config = podman_ok(&[
        "image",
        "inspect",
        "--format",
        "{{.Config.User}} {{.Config.Healthcheck.Test}} {{.Config.Volumes}} {{.Config.ExposedPorts}}",
        TAG,
    ]);
    assert!(
        config.starts_with("65532:65532 ")
            && config.contains("healthcheck")
            && config.contains("/data")
            && config.contains("8080"),
        "a non-root user, a HEALTHCHECK, the /data volume and the port: {config}"
    );

    let id = std::process::id();
    let (first, second) = (
        format!("vecgate-test-{id}-a"),
        format!("vecgate-test-{id}-b"),
    );
    let volume = format!("vecgate-test-{id}");
    let _cleanup = Cleanup {
        containers: vec![first.clone(), second.clone()],
        volume: volume.clone(),
    };
    podman_ok(&["volume", "create", &volume]);

    let port = free_port();
    let started = Instant::now();
    run(&first, &volume, port, &[], &["--sample"]);
    wait_healthy(&first);
    eprintln!("healthy after {:?}", started.elapsed());
    let api = Api::new(&format!("http://127.0.0.1:{port}"));
    let titles = toy_story_search(&api);
    assert!(
        titles.iter().filter(|t| t.starts_with("Toy Story")).count() >= 2,
        "free text through the model inside the image: {titles:?}"
    );

    let stopping = Instant::now();
    podman_ok(&["stop", "-t", "10", &first]);
    let took = stopping.elapsed();
    let exit = podman_ok(&["inspect", "--format", "{{.State.ExitCode}}", &first]);
    let log = logs(&first);
    assert_eq!(exit, "0", "a clean exit on SIGTERM; its log:\n{log}");
    assert!(took < Duration::from_secs(10), "stopped in {took:?}");
    eprintln!("stopped in {took:?}");
    assert!(log.contains("stopped cleanly"), "{log}");

    let port = free_port();
    run(&second, &volume, port, &[], &[]);
    wait_healthy(&second);
    let api = Api::new(&format!("http://127.0.0.1:{port}"));
    let (_, stats) = api.call("GET", "/v1/stats", Some(READ_KEY), None);
    assert_eq!(stats["content_count"], 3200, "the same data: {stats}");
    assert_eq!(toy_story_search(&api), titles);
}

/// `deploy/compose.yaml`'s topology with the image: `migrate` as the owner, `deploy/roles.sql`,
/// a writer as `vecgate_app` and a `--local-index` reader as `vecgate_reader`, on a real
/// PostgreSQL with pgvector (started on the host: images can't be pulled here).
#[test]
fn the_image_runs_the_compose_topology_against_postgres() {
    build_image();
    let pg = vecgate_tests::PgCluster::start_pgvector();
    let owner_url = pg.create_database("vecgate");
    let as_role = |role: &str| owner_url.replacen("postgres@", &format!("{role}@"), 1);

    let id = std::process::id();
    let (writer, reader) = (
        format!("vecgate-test-{id}-w"),
        format!("vecgate-test-{id}-r"),
    );
    let volume = format!("vecgate-test-{id}-reader");
    let _cleanup = Cleanup {
        containers: vec![writer.clone(), reader.clone()],
        volume: volume.clone(),
    };
    let database = format!("VECGATE_DATABASE_URL={owner_url}");
    podman_ok(&[
        "run",
        "--rm",
        "--read-only",
        "--network",
        "host",
        "-e",
        &database,
        TAG,
        "migrate",
    ]);
    let roles = std::fs::read_to_string(root().join("deploy/roles.sql")).unwrap();
    pg.psql("vecgate", &roles);

    let start = |name: &str, role: &str, port: u16, args: &[&str]| {
        let database = format!("VECGATE_DATABASE_URL={}", as_role(role));
        run(name, &volume, port, &[database], args);
        wait_healthy(name);
        Api::new(&format!("http://127.0.0.1:{port}"))
    };
    let writing = start(&writer, "vecgate_app", free_port(), &[]);
    let movies = vecgate_tests::data::movies();
    let (status, body) = writing.call(
        "POST",
        "/v1/content",
        Some(WRITE_KEY),
        Some(&json!({ "items": &movies.items[..200] })),
    );
    assert_eq!(status, 200, "{body}");
    let reading = start(&reader, "vecgate_reader", free_port(), &["--local-index"]);
    let (_, stats) = reading.call("GET", "/v1/stats", Some(READ_KEY), None);
    assert_eq!(stats["backend"], "local_index", "{stats}");
    assert_eq!(stats["content_count"], 200, "{stats}");
    let found = reading.search(json!({"vector": movies.items[42]["vector"], "k": 1}));
    assert_eq!(found["results"][0]["id"], movies.items[42]["id"], "{found}");
    // The reader's role can't write: the write is refused, and nothing changed.
    let (status, body) = reading.call(
        "DELETE",
        &format!("/v1/content/{}", movies.items[42]["id"].as_str().unwrap()),
        Some(WRITE_KEY),
        None,
    );
    assert_eq!(status, 503, "{body}");
    let (_, stats) = writing.call("GET", "/v1/stats", Some(READ_KEY), None);
    assert_eq!(stats["content_count"], 200, "{stats}");
}
