//! The chaos run's processes: a PostgreSQL primary (with a streaming replica on pgvector), one
//! writer `vecgate serve`, two `--local-index` readers, and a proxy per node and database host.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use crate::proxy::{Mode, Proxy};
use crate::server::Server;
use crate::suite::key_env;
use crate::tmpfs::Tmpfs;
use crate::{assert_ruvector_installed, empty_temp_dir, PgCluster};

pub const DATABASE: &str = "chaos";
pub const DIMS: usize = 384;
/// A reader's copy may be this stale while it reports itself healthy.
pub const MAX_LAG_MS: u64 = 2_000;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dialect {
    /// PostgreSQL 16 with pgvector: its HNSW is WAL-logged, so a replica can be promoted.
    Pgvector,
    /// PostgreSQL 15 with ruvector: its index does not replicate, so no replica.
    Ruvector,
}

impl Dialect {
    pub fn name(self) -> &'static str {
        match self {
            Dialect::Pgvector => "pgvector",
            Dialect::Ruvector => "ruvector",
        }
    }
}

/// The database: host slots behind every node's proxies. Slot `primary` takes writes; on
/// pgvector the other slot is its streaming replica.
pub struct Database {
    pub dialect: Dialect,
    slots: Vec<Option<PgCluster>>,
    pub primary: usize,
}

impl Database {
    pub fn start(dialect: Dialect) -> Database {
        let primary = match dialect {
            Dialect::Pgvector => PgCluster::start_pgvector(),
            Dialect::Ruvector => {
                assert_ruvector_installed();
                PgCluster::start()
            }
        };
        primary.create_database(DATABASE);
        // Acknowledged means in the WAL: a SIGKILLed primary keeps every acknowledged write.
        primary.enable_synchronous_commit();
        let replica = (dialect == Dialect::Pgvector).then(|| primary.start_replica());
        let mut slots = vec![Some(primary)];
        if let Some(replica) = replica {
            slots.push(Some(replica));
        }
        Database {
            dialect,
            slots,
            primary: 0,
        }
    }

    pub fn slot_count(&self) -> usize {
        self.slots.len()
    }

    pub fn primary(&self) -> &PgCluster {
        self.slots[self.primary].as_ref().expect("a primary")
    }

    pub fn primary_mut(&mut self) -> &mut PgCluster {
        self.slots[self.primary].as_mut().expect("a primary")
    }

    pub fn port_of(&self, slot: usize) -> u16 {
        self.slots[slot].as_ref().map_or(1, PgCluster::port)
    }

    /// SIGKILLs the primary, removes it, and promotes the replica; returns the old primary's
    /// slot, which is empty until [`Database::replace_standby`].
    pub fn fail_over(&mut self) -> usize {
        let old = self.primary;
        self.slots[old].as_mut().expect("a primary").crash();
        self.slots[old] = None;
        let new = 1 - old;
        let promoted = self.slots[new].as_ref().expect("a replica");
        promoted.promote();
        promoted.enable_synchronous_commit();
        self.primary = new;
        old
    }

    /// A new streaming replica of the primary in `slot`; its port.
    pub fn replace_standby(&mut self, slot: usize) -> u16 {
        let replica = self.primary().start_replica();
        let port = replica.port();
        self.slots[slot] = Some(replica);
        port
    }

    pub fn psql(&self, sql: &str) -> String {
        self.primary().psql(DATABASE, sql)
    }
}

/// One `vecgate serve` and the proxies it reaches the database through (one per host slot).
pub struct Node {
    pub name: &'static str,
    pub proxies: Vec<Proxy>,
    env: Vec<(&'static str, String)>,
    server: Mutex<Option<Server>>,
    /// The current address; it changes with each restart (port 0).
    pub base: RwLock<String>,
    /// Set while the runner has stopped the process on purpose.
    pub down: AtomicBool,
    /// Bumped at every stop and start: a request sent before one may fail for that reason.
    pub generation: AtomicU64,
}

impl Node {
    /// A node whose URL lists every host slot through its own proxies,
    /// `target_session_attrs=read-write`.
    pub fn new(
        name: &'static str,
        database: &Database,
        local_index: Option<PathBuf>,
        first: bool,
    ) -> Node {
        let proxies: Vec<Proxy> = (0..database.slot_count())
            .map(|slot| Proxy::start(database.port_of(slot)))
            .collect();
        let hosts: Vec<String> = proxies
            .iter()
            .map(|p| format!("127.0.0.1:{}", p.port()))
            .collect();
        let url = format!(
            "postgres://postgres@{}/{DATABASE}?target_session_attrs=read-write",
            hosts.join(",")
        );
        let mut env = key_env();
        env.extend([
            ("VECGATE_DATABASE_URL", url),
            ("VECGATE_DIALECT", database.dialect.name().to_owned()),
            ("VECGATE_DIMENSIONS", DIMS.to_string()),
            ("VECGATE_RECALL_SAMPLE_RATE", "0".to_owned()),
            ("VECGATE_LOCAL_MODEL", "off".to_owned()),
            ("VECGATE_MIGRATE", first.to_string()),
        ]);
        if let Some(dir) = &local_index {
            env.extend([
                ("VECGATE_LOCAL_INDEX", "true".to_owned()),
                ("VECGATE_DATA_DIR", dir.display().to_string()),
                ("VECGATE_MAX_LAG_MS", MAX_LAG_MS.to_string()),
            ]);
        }
        Node {
            name,
            proxies,
            env,
            server: Mutex::new(None),
            base: RwLock::new(String::new()),
            down: AtomicBool::new(true),
            generation: AtomicU64::new(0),
        }
    }

    /// Starts the process; waits up to `within` for it to listen. `false` if it did not yet
    /// (a reader with no trusted copy waits for the database): call [`Node::finish_start`].
    pub fn start(&self, within: Duration) -> bool {
        let env: Vec<(&str, &str)> = self.env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        *self.server.lock().unwrap() = Some(Server::spawn(&[], &env));
        self.finish_start(within)
    }

    pub fn finish_start(&self, within: Duration) -> bool {
        let mut server = self.server.lock().unwrap();
        let server = server.as_mut().expect("spawned");
        if !server.listening_within(within) {
            return false;
        }
        *self.base.write().unwrap() = server.base.clone();
        self.generation.fetch_add(1, Ordering::AcqRel);
        self.down.store(false, Ordering::Release);
        true
    }

    /// Marks the node down before anything is done to its process.
    fn going_down(&self) {
        self.down.store(true, Ordering::Release);
        self.generation.fetch_add(1, Ordering::AcqRel);
    }

    pub fn kill9(&self) {
        self.going_down();
        if let Some(server) = self.server.lock().unwrap().take() {
            server.kill9();
        }
    }

    /// SIGTERM, and waits for a clean exit; the output so far if it does not exit cleanly.
    pub fn stop(&self) -> Result<(), String> {
        self.going_down();
        let Some(mut server) = self.server.lock().unwrap().take() else {
            return Ok(());
        };
        server.terminate();
        match server.wait_exit(Duration::from_secs(30)) {
            Some(status) if status.success() => Ok(()),
            other => Err(format!(
                "{} did not stop cleanly ({other:?}):\n{}",
                self.name,
                server.output()
            )),
        }
    }

    pub fn set_proxies(&self, mode: Mode) {
        for proxy in &self.proxies {
            proxy.set(mode);
        }
    }

    /// If the process exited on its own: how, with what it printed.
    pub fn crashed(&self) -> Option<String> {
        let mut server = self.server.lock().unwrap();
        let server = server.as_mut()?;
        let status = server.wait_exit(Duration::ZERO)?;
        Some(format!(
            "{} exited on its own ({status}):\n{}",
            self.name,
            server.output()
        ))
    }

    pub fn output(&self) -> String {
        self.server
            .lock()
            .unwrap()
            .as_mut()
            .map(Server::output)
            .unwrap_or_default()
    }
}

/// The nodes: the writer (no copy of its own) and two readers; the second reader's data
/// directory is on a small tmpfs, for the full-disk fault.
pub struct Nodes {
    pub all: Vec<Arc<Node>>,
    pub small_disk: Tmpfs,
}

pub const WRITER: usize = 0;
pub const READER: usize = 1;
pub const SMALL_DISK_READER: usize = 2;

impl Nodes {
    pub fn new(database: &Database, seed: u64) -> Nodes {
        let small_disk = Tmpfs::mount(&format!("chaos-disk-{seed}"), "96m");
        let reader_dir = empty_temp_dir(&format!("chaos-reader-{seed}"));
        let all = vec![
            Node::new("writer", database, None, true),
            Node::new("reader-a", database, Some(reader_dir), false),
            Node::new(
                "reader-b",
                database,
                Some(small_disk.path().join("data")),
                false,
            ),
        ]
        .into_iter()
        .map(Arc::new)
        .collect();
        Nodes { all, small_disk }
    }

    pub fn ballast(&self) -> PathBuf {
        self.small_disk.path().join("ballast")
    }

    /// Points every node's proxy for `slot` at `port`.
    pub fn repoint(&self, slot: usize, port: u16) {
        for node in &self.all {
            node.proxies[slot].set_upstream(port);
        }
    }
}

/// Sends traffic through unless the test says otherwise.
pub fn heal(nodes: &Nodes) {
    for node in &nodes.all {
        node.set_proxies(Mode::Pass);
    }
    let _ = std::fs::remove_file(nodes.ballast());
}
