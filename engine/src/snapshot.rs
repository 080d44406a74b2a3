//! Publishing the routing snapshot, and each shard's view of it.
//!
//! The control side (start-up, SIGHUP, `POST /reload`) builds and validates
//! a complete [`Snapshot`] off the data path, then publishes it with one
//! pointer swap through crossbeam's epoch-based [`Atomic`] and bumps a
//! version number. A shard compares that version once per request (a plain
//! load of a cache line nobody writes between reloads) and, only when it
//! changed, clones the new `Arc` into its own [`SnapView`]. Requests hold an
//! `Rc` of the view they started with, so in-flight requests finish on the
//! old snapshot and no request ever touches a shared reference count.

use std::cell::{Cell, RefCell};
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use ahash::AHashMap;
use crossbeam_epoch::{self as epoch, Atomic, Owned};

use crate::balance::{GroupState, RetryBudget};
use crate::route::Snapshot;
use crate::stats::{RouteStats, ShardStatsTable};

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

/// One shard's view of the snapshot it serves from, with the shard's own
/// balancing state for its groups and retry budgets for its routes.
pub(crate) struct SnapView {
    pub(crate) snap: Arc<Snapshot>,
    /// Per group, in the snapshot's group order.
    pub(crate) groups: Box<[Rc<GroupState>]>,
    /// Per route, in the snapshot's route order.
    pub(crate) budgets: Box<[RetryBudget]>,
    /// Per route statistics (routes past the label cap share "other").
    pub(crate) route_stats: Box<[Rc<RouteStats>]>,
    /// Statistics of requests no route matched.
    pub(crate) unrouted: Rc<RouteStats>,
}

/// A shard's cached view, refreshed when the published version moves.
pub(crate) struct ShardView {
    published: Arc<Published>,
    local: RefCell<Rc<SnapView>>,
    version: Cell<u64>,
    /// Group state by name, carried across reloads.
    states: RefCell<AHashMap<Box<str>, Rc<GroupState>>>,
    seed: u64,
    /// This shard's labelled statistics.
    pub(crate) stats: ShardStatsTable,
}

// === impl ShardView ===

impl ShardView {
    pub(crate) fn new(published: Arc<Published>, seed: u64) -> ShardView {
        let snap = published.load();
        let version = snap.version;
        let mut states = AHashMap::new();
        let stats = ShardStatsTable::default();
        let view = build_view(snap, &mut states, seed, &stats);
        ShardView {
            published,
            local: RefCell::new(Rc::new(view)),
            version: Cell::new(version),
            states: RefCell::new(states),
            seed,
            stats,
        }
    }

    /// The snapshot a new request should use.
    #[inline]
    pub(crate) fn get(&self) -> Rc<SnapView> {
        if self.published.version() != self.version.get() {
            self.refresh();
        }
        self.local.borrow().clone()
    }

    /// The snapshot this shard last looked at, without a version check
    /// (for settings like limits, where the newest is as good as any).
    #[inline]
    pub(crate) fn current(&self) -> std::cell::Ref<'_, Rc<SnapView>> {
        self.local.borrow()
    }

    /// Upstream connections open on this shard, over every group.
    /// Per group and backend on this shard: in-flight requests, latency
    /// estimate (ns) and passive ejection.
    pub(crate) fn backend_states(&self) -> Vec<(Box<str>, SocketAddr, u32, u64, bool)> {
        let now = std::time::Instant::now();
        let states = self.states.borrow();
        states
            .iter()
            .flat_map(|(name, s)| {
                s.backends(now)
                    .into_iter()
                    .map(move |(a, f, e, j)| (name.clone(), a, f, e, j))
            })
            .collect()
    }

    pub(crate) fn upstream_connections(&self) -> usize {
        self.states.borrow().values().map(|s| s.conns.get()).sum()
    }

    #[cold]
    fn refresh(&self) {
        let snap = self.published.load();
        self.version.set(snap.version);
        let view = build_view(snap, &mut self.states.borrow_mut(), self.seed, &self.stats);
        *self.local.borrow_mut() = Rc::new(view);
    }
}

/// Builds a view, reusing (and rebuilding) the state of groups that stay
/// and dropping the state of groups that left.
fn build_view(
    snap: Arc<Snapshot>,
    states: &mut AHashMap<Box<str>, Rc<GroupState>>,
    seed: u64,
    stats: &ShardStatsTable,
) -> SnapView {
    let mut next = AHashMap::with_capacity(snap.groups.len());
    let mut group_stats = stats.groups.borrow_mut();
    let mut kept_stats = AHashMap::with_capacity(snap.groups.len());
    let groups = snap
        .groups
        .iter()
        .map(|g| {
            let gs = group_stats.remove(&g.name).unwrap_or_default();
            gs.max_backends.set(snap.metrics.max_backends);
            kept_stats.insert(g.name.clone(), gs.clone());
            let state = match states.remove(&g.name) {
                Some(s) => {
                    s.rebuild(g);
                    s
                }
                None => Rc::new(GroupState::new(g, seed, gs)),
            };
            next.insert(g.name.clone(), state.clone());
            state
        })
        .collect();
    *states = next;
    *group_stats = kept_stats;
    let budgets = snap.routes.iter().map(|_| RetryBudget::new()).collect();
    let (route_stats, unrouted) = route_stats(&snap, stats);
    SnapView {
        snap,
        groups,
        budgets,
        route_stats,
        unrouted,
    }
}

/// The statistics slot of each route: the first `max_routes` routes get
/// their own (kept across reloads by name), the rest share "other".
fn route_stats(
    snap: &Snapshot,
    stats: &ShardStatsTable,
) -> (Box<[Rc<RouteStats>]>, Rc<RouteStats>) {
    let mut table = stats.routes.borrow_mut();
    let mut kept = AHashMap::with_capacity(snap.routes.len().min(snap.metrics.max_routes) + 2);
    let mut slot = |name: &str| -> Rc<RouteStats> {
        let s = table
            .remove(name)
            .or_else(|| kept.get(name).cloned())
            .unwrap_or_default();
        kept.insert(Box::<str>::from(name), s.clone());
        s
    };
    let per_route = snap
        .routes
        .iter()
        .enumerate()
        .map(|(i, r)| {
            if i < snap.metrics.max_routes {
                slot(&r.name)
            } else {
                slot(OTHER)
            }
        })
        .collect();
    let unrouted = slot(UNROUTED);
    *table = kept;
    (per_route, unrouted)
}

/// The route label of routes past the label cap.
pub(crate) const OTHER: &str = "other";
/// The route label of requests no route matched.
pub(crate) const UNROUTED: &str = "unrouted";
