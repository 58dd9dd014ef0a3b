//! Resynchronising in place: when the change feed can't continue a node's copy (changes after
//! it were pruned while the node was cut off, or the database was restored or replaced), the
//! node builds a fresh copy beside the old one, keeps answering from the old one meanwhile
//! (`/health` says it is stale, and why), and switches by rewriting `replica.json`. No restart.
//!
//! The fresh copy is read as the first load is: the feed's head first, then every row; the
//! changes committed during the read come after that head and are applied again once the copy
//! is live, which sets each row to the state it already has. One snapshot transaction would
//! give the same copy, but would hold a connection and the database's xmin for the whole read.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::feed::{feed_extent, load_all, Follower};
use crate::store::embedded::EmbeddedStore;

/// The two directory names a copy alternates between.
pub(super) const COPIES: [&str; 2] = ["index", "index-resync"];
const RETRY_AFTER: Duration = Duration::from_secs(2);

/// Rebuilds the follower's copy from the database and switches to it; retries until it has.
pub async fn rebuild_in_place(follower: &Follower, why: &str) {
    eprintln!(
        "vecgate: WARNING local index: {why}; rebuilding its copy in the background, answering \
         from the old one (stale) meanwhile"
    );
    if let Ok(mut reason) = follower.state.rebuilding.lock() {
        *reason = Some(why.to_owned());
    }
    let started = Instant::now();
    loop {
        match build_and_switch(follower).await {
            Ok(rows) => {
                eprintln!(
                    "vecgate: local index: rebuilt its copy ({rows} rows, {:.1} s) and switched \
                     to it",
                    started.elapsed().as_secs_f64()
                );
                break;
            }
            Err(e) => {
                eprintln!(
                    "vecgate: WARNING local index: rebuilding its copy failed ({e}); retrying"
                );
                tokio::time::sleep(RETRY_AFTER).await;
            }
        }
    }
    if let Ok(mut reason) = follower.state.rebuilding.lock() {
        *reason = None;
    }
}

async fn build_and_switch(follower: &Follower) -> Result<usize, String> {
    let old = follower
        .position
        .lock()
        .map_err(|_| "position lock poisoned")?
        .copy
        .clone();
    let next = if old == COPIES[0] {
        COPIES[1]
    } else {
        COPIES[0]
    };
    let next_dir = follower.root.join(next);
    if next_dir.exists() {
        std::fs::remove_dir_all(&next_dir)
            .map_err(|e| format!("clearing {}: {e}", next_dir.display()))?;
    }
    let extent = feed_extent(&follower.client)
        .await
        .map_err(|e| format!("reading the change feed: {e}"))?;
    let fresh = EmbeddedStore::open(&next_dir, follower.options)?;
    let loaded = match load_all(&follower.client, &fresh, follower.options.dims).await {
        Ok(rows) => fresh.snapshot().map(|()| rows),
        Err(e) => Err(format!("reading the rows: {e}")),
    };
    // Said in /health and vecgate_storage_full: the copy can't be rebuilt until there is room.
    let full = loaded.is_err() && (fresh.storage_full() || no_room(&follower.root));
    follower
        .state
        .rebuild_disk_full
        .store(full, Ordering::Relaxed);
    let rows = loaded?;
    // From here a restart opens the fresh copy, at the head read before its rows.
    follower.record(|p| {
        p.database_id = extent.database_id.clone();
        p.applied_seq = extent.head;
        p.copy = next.to_owned();
        p.last_change = None;
    })?;
    let state = &follower.state;
    let stale = follower.copy.replace(fresh);
    state.applied_seq.store(extent.head, Ordering::Release);
    state.head_seq.store(extent.head, Ordering::Relaxed);
    state.resyncs_total.fetch_add(1, Ordering::Relaxed);
    state.advanced.notify_waiters();
    let stale_dir = stale.dir().to_owned();
    // Searches still holding the old copy finish on it; its files go now (open ones stay
    // readable until closed).
    drop(stale);
    if let Err(e) = std::fs::remove_dir_all(&stale_dir) {
        eprintln!(
            "vecgate: WARNING cannot remove the old copy {}: {e}",
            stale_dir.display()
        );
    }
    Ok(rows)
}

/// Whether the filesystem under `dir` has no block left (a snapshot's write failed there).
fn no_room(dir: &std::path::Path) -> bool {
    rustix::fs::statvfs(dir).is_ok_and(|fs| fs.f_bavail == 0)
}
