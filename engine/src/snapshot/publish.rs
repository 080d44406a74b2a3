//! Publishing the routing snapshot to every shard.
//!
//! The control side (start-up, SIGHUP, `POST /reload`) builds and validates
//! a complete [`Snapshot`] off the data path, then publishes it with one
//! pointer swap through crossbeam's epoch-based [`Atomic`] and bumps a
//! version number, which a shard compares once per request (a plain load of
//! a cache line nobody writes between reloads).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crossbeam_epoch::{self as epoch, Atomic, Owned};

use super::route::Snapshot;

/// The current snapshot, shared by every shard and the control side.
pub(crate) struct Published {
    current: Atomic<Arc<Snapshot>>,
    version: AtomicU64,
}

// === impl Published ===

impl Published {
    pub(crate) fn new(first: Snapshot) -> Published {
        let version = first.version;
        Published {
            current: Atomic::new(Arc::new(first)),
            version: AtomicU64::new(version),
        }
    }

    /// The version of the current snapshot.
    #[inline]
    pub(crate) fn version(&self) -> u64 {
        self.version.load(Ordering::Acquire)
    }

    /// A counted reference to the current snapshot.
    pub(crate) fn load(&self) -> Arc<Snapshot> {
        let guard = epoch::pin();
        let shared = self.current.load(Ordering::Acquire, &guard);
        // SAFETY: `current` is never null (set in `new`, only ever swapped
        // for another non-null pointer), and the pointee stays alive while
        // `guard` is pinned because replaced pointers are destroyed through
        // `defer_destroy`, which waits for every pinned guard.
        #[allow(unsafe_code)]
        let arc = unsafe { shared.deref() };
        arc.clone()
    }

    /// Publishes `next` (whose version must be higher) and returns it.
    pub(crate) fn publish(&self, next: Snapshot) -> Arc<Snapshot> {
        let version = next.version;
        let next = Arc::new(next);
        let guard = epoch::pin();
        let old = self
            .current
            .swap(Owned::new(next.clone()), Ordering::AcqRel, &guard);
        // SAFETY: `old` was just unlinked, so no new reader can reach it;
        // readers that loaded it before the swap hold a pinned guard, and
        // `defer_destroy` frees it only after all of them have unpinned.
        #[allow(unsafe_code)]
        unsafe {
            guard.defer_destroy(old);
        }
        self.version.store(version, Ordering::Release);
        next
    }
}
