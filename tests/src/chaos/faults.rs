//! The faults the chaos run injects, and their schedule, drawn from the seed: every kind once in
//! a seeded order, then seeded picks until the time is up.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::load::Shared;
use super::topology::{Database, Dialect, Nodes, READER, SMALL_DISK_READER, WRITER};
use crate::proxy::Mode;
use crate::synthetic::Rng;
use crate::tmpfs::fill;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    /// SIGKILL of the primary (every server process), restarted after the hold.
    KillPrimary,
    /// The primary SIGKILLed and removed, the replica promoted; a new replica for the other slot.
    Promote,
    /// A node's connections to the database cut and refused for the hold.
    Partition,
    /// A node's connections to the database held open with no traffic for the hold.
    Stall,
    /// A reader cut off while writes go on, then kill -9 while it catches up, and restarted.
    KillReaderCatchingUp,
    /// A reader restarted while the primary is down: it starts from its snapshot.
    RestartReaderWhileDown,
    /// A reader cut off while the change feed is pruned past it: it rebuilds its copy.
    PruneFeed,
    /// The filesystem under a reader's data directory full for the hold.
    DiskFull,
}

pub const ALL: [Kind; 8] = [
    Kind::KillPrimary,
    Kind::Promote,
    Kind::Partition,
    Kind::Stall,
    Kind::KillReaderCatchingUp,
    Kind::RestartReaderWhileDown,
    Kind::PruneFeed,
    Kind::DiskFull,
];

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::KillPrimary => "SIGKILL primary",
            Kind::Promote => "promote replica",
            Kind::Partition => "cut node off",
            Kind::Stall => "stall node's connections",
            Kind::KillReaderCatchingUp => "kill -9 reader catching up",
            Kind::RestartReaderWhileDown => "restart reader, Postgres down",
            Kind::PruneFeed => "prune feed past reader",
            Kind::DiskFull => "full disk under reader",
        }
    }

    /// The kinds a database can have: no promotion without a replica.
    pub fn possible(dialect: Dialect) -> Vec<Kind> {
        ALL.into_iter()
            .filter(|k| *k != Kind::Promote || dialect == Dialect::Pgvector)
            .collect()
    }
}

/// One scheduled fault.
#[derive(Debug)]
pub struct Fault {
    pub kind: Kind,
    /// The node it is done to, where that is a choice.
    pub node: usize,
    pub hold: Duration,
    /// The pause before the next fault.
    pub gap: Duration,
}

/// The schedule: each possible kind once, in a seeded order, then seeded picks.
pub struct Schedule {
    rng: Rng,
    kinds: Vec<Kind>,
    first_round: Vec<Kind>,
}

impl Schedule {
    pub fn new(seed: u64, dialect: Dialect) -> Schedule {
        let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
        let kinds = Kind::possible(dialect);
        let mut first_round = kinds.clone();
        for i in (1..first_round.len()).rev() {
            first_round.swap(i, rng.below(i + 1));
        }
        first_round.reverse();
        Schedule {
            rng,
            kinds,
            first_round,
        }
    }

    /// Whether every kind has had its turn.
    pub fn covered(&self) -> bool {
        self.first_round.is_empty()
    }

    pub fn next_fault(&mut self) -> Fault {
        let kind = self
            .first_round
            .pop()
            .unwrap_or_else(|| self.kinds[self.rng.below(self.kinds.len())]);
        let node = match kind {
            Kind::Partition | Kind::Stall => self.rng.below(3),
            Kind::KillReaderCatchingUp | Kind::RestartReaderWhileDown => READER,
            Kind::DiskFull => SMALL_DISK_READER,
            Kind::PruneFeed => [READER, SMALL_DISK_READER][self.rng.below(2)],
            Kind::KillPrimary | Kind::Promote => WRITER,
        };
        Fault {
            kind,
            node,
            hold: Duration::from_millis(1_500 + self.rng.below(3_500) as u64),
            gap: Duration::from_millis(1_000 + self.rng.below(2_000) as u64),
        }
    }
}

/// What injecting a fault found, beyond what the clients saw.
#[derive(Default)]
pub struct Outcome {
    /// Acknowledged writes a promotion lost (asynchronous replication).
    pub writes_lost: u64,
    /// When the primary was killed for a promotion.
    pub promoted_at: Option<Instant>,
    pub problems: Vec<String>,
}

/// Injects `fault` and waits for its hold; the database and nodes are back in service after.
pub fn inject(
    fault: &Fault,
    database: &mut Database,
    nodes: &Nodes,
    shared: &Arc<Shared>,
) -> Outcome {
    let mut outcome = Outcome::default();
    let node = &nodes.all[fault.node];
    match fault.kind {
        Kind::KillPrimary => {
            database.primary_mut().crash();
            std::thread::sleep(fault.hold);
            database.primary_mut().start_again();
        }
        Kind::Promote => promote(database, nodes, shared, &mut outcome),
        Kind::Partition | Kind::Stall => {
            let mode = if fault.kind == Kind::Stall {
                Mode::Stall
            } else {
                Mode::Refuse
            };
            node.set_proxies(mode);
            std::thread::sleep(fault.hold);
            node.set_proxies(Mode::Pass);
        }
        Kind::KillReaderCatchingUp => {
            node.set_proxies(Mode::Refuse);
            std::thread::sleep(fault.hold);
            node.set_proxies(Mode::Pass);
            // Into the catch-up of what was written meanwhile.
            std::thread::sleep(Duration::from_millis(
                50 + fault.hold.as_millis() as u64 % 250,
            ));
            node.kill9();
            if !node.start(Duration::from_secs(120)) {
                outcome
                    .problems
                    .push(format!("{} did not start again after kill -9", node.name));
            }
        }
        Kind::RestartReaderWhileDown => {
            database.primary_mut().crash();
            if let Err(e) = node.stop() {
                outcome.problems.push(e);
            }
            let listening = node.start(fault.hold + Duration::from_secs(10));
            if !listening {
                outcome.problems.push(format!(
                    "{} did not start from its snapshot with Postgres down:\n{}",
                    node.name,
                    node.output()
                ));
            }
            std::thread::sleep(fault.hold);
            database.primary_mut().start_again();
            if !listening && !node.finish_start(Duration::from_secs(120)) {
                outcome
                    .problems
                    .push(format!("{} never started", node.name));
            }
        }
        Kind::PruneFeed => {
            node.set_proxies(Mode::Refuse);
            std::thread::sleep(fault.hold);
            database.psql(
                "DELETE FROM content_changes WHERE seq < (SELECT max(seq) FROM content_changes)",
            );
            node.set_proxies(Mode::Pass);
        }
        Kind::DiskFull => {
            fill(&nodes.ballast());
            // The node must feel it: the copy can't apply the writes going on.
            let api = crate::suite::Api::new(&node.base.read().unwrap());
            let felt = Instant::now() + fault.hold;
            while api.metric("vecgate_storage_full") == 0.0 && Instant::now() < felt {
                std::thread::sleep(Duration::from_millis(50));
            }
            if api.metric("vecgate_storage_full") == 0.0 {
                outcome.problems.push(format!(
                    "{} never reported its full disk (vecgate_storage_full)",
                    node.name
                ));
            }
            std::thread::sleep(felt.saturating_duration_since(Instant::now()));
            let _ = std::fs::remove_file(nodes.ballast());
        }
    }
    outcome
}

/// Kills the primary, promotes the replica, and reads what the new primary kept of every
/// acknowledged write (writes paused meanwhile); then a new replica for the old slot.
fn promote(database: &mut Database, nodes: &Nodes, shared: &Arc<Shared>, outcome: &mut Outcome) {
    let killed = Instant::now();
    shared.promotion.lock().unwrap().since = Some(killed);
    outcome.promoted_at = Some(killed);
    let old_slot = database.fail_over();
    {
        let _paused = shared.writes.write().unwrap();
        let rows = super::content_rows(database);
        let now = Instant::now();
        let mut ledger = shared.ledger.lock().unwrap();
        let known: Vec<String> = ledger.ids().map(str::to_owned).collect();
        for id in known {
            let held = rows.get(&id).map(|v| Arc::new(v.clone()));
            match ledger.compare(&id, held.as_deref().map(Vec::as_slice)) {
                super::ledger::Held::AsAcknowledged => {}
                super::ledger::Held::Lost => outcome.writes_lost += 1,
                super::ledger::Held::Foreign => outcome.problems.push(format!(
                    "after the promotion {id} holds a vector nobody wrote"
                )),
            }
            // What the new primary holds is now what was acknowledged.
            ledger.rebase(&id, held, killed, now);
        }
    }
    let deferred = {
        let mut promotion = shared.promotion.lock().unwrap();
        promotion.since = None;
        std::mem::take(&mut promotion.deferred)
    };
    for answer in &deferred {
        shared.check(answer);
    }
    let port = database.replace_standby(old_slot);
    nodes.repoint(old_slot, port);
}
