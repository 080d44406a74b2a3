//! The access store as the control thread sees it: polled for its revision
//! a few times a second (one indexed read), and, when the revision moved,
//! read whole and compiled into a [`Policy`] that the next snapshot
//! carries. A store that cannot be read keeps the last good policy
//! serving; the outage is counted, logged once, and caught up on when it
//! ends. Compiling 100k apps with a key each takes 59 ms, so a change
//! reaches every shard well within the second.

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use access::{Policy, SqliteStore, Store};

/// How often the store's revision is looked at.
pub(crate) const POLL_EVERY: Duration = Duration::from_millis(200);

/// The store's health, written by the control thread, read by `/stats`
/// and `/metrics`.
#[derive(Debug, Default)]
pub(crate) struct StoreStats {
    /// A store is configured.
    pub(crate) configured: AtomicBool,
    /// The last read worked.
    pub(crate) up: AtomicBool,
    /// Reads that failed.
    pub(crate) failures: AtomicU64,
    /// The revision the serving policy was compiled from.
    pub(crate) revision: AtomicU64,
    /// API keys in the serving policy.
    pub(crate) keys: AtomicU64,
}

/// The store and the revision last compiled.
pub(crate) struct StoreWatch {
    store: SqliteStore,
    compiled: u64,
    stats: Arc<StoreStats>,
}

// === impl StoreWatch ===

impl StoreWatch {
    /// Opens (creating it if needed) the store in `dir` and compiles what
    /// it holds: the first snapshot's policy.
    pub(crate) fn open(
        dir: &Path,
        stats: Arc<StoreStats>,
    ) -> Result<(StoreWatch, Arc<Policy>), String> {
        let fail = |e: &dyn std::fmt::Display| format!("{}: {e}", dir.display());
        std::fs::create_dir_all(dir).map_err(|e| fail(&e))?;
        let store = SqliteStore::open(dir).map_err(|e| fail(&e))?;
        let data = store.load().map_err(|e| fail(&e))?;
        let policy = Arc::new(Policy::compile(&data));
        stats.configured.store(true, Ordering::Relaxed);
        let mut watch = StoreWatch {
            store,
            compiled: 0,
            stats,
        };
        watch.serving(&policy);
        Ok((watch, policy))
    }

    /// A new policy when the store moved since the last one; `None` when it
    /// did not, or could not be read (the last policy keeps serving).
    pub(crate) fn poll(&mut self) -> Option<Arc<Policy>> {
        match self.read() {
            Ok(next) => {
                self.recovered();
                let policy = Arc::new(next?);
                self.serving(&policy);
                Some(policy)
            }
            Err(e) => {
                self.failed(&e);
                None
            }
        }
    }

    fn read(&self) -> Result<Option<Policy>, access::StoreError> {
        if self.store.revision()? == self.compiled {
            return Ok(None);
        }
        Ok(Some(Policy::compile(&self.store.load()?)))
    }

    fn serving(&mut self, policy: &Policy) {
        self.compiled = policy.revision;
        self.stats.up.store(true, Ordering::Relaxed);
        self.stats
            .revision
            .store(policy.revision, Ordering::Relaxed);
        self.stats
            .keys
            .store(policy.keys() as u64, Ordering::Relaxed);
    }

    fn recovered(&self) {
        if !self.stats.up.swap(true, Ordering::Relaxed) {
            eprintln!("coregate: the access store is readable again");
        }
    }

    fn failed(&self, e: &access::StoreError) {
        self.stats.failures.fetch_add(1, Ordering::Relaxed);
        if self.stats.up.swap(false, Ordering::Relaxed) {
            eprintln!(
                "coregate: cannot read the access store ({e}); still serving revision {}",
                self.compiled
            );
        }
    }
}
