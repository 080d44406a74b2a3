//! A shard's view of the published snapshot.
//!
//! A shard compares the published version once per request and, only when
//! it changed, clones the new `Arc` into its own [`SnapView`], together with
//! the shard's own balancing state, retry budgets and statistics for it.
//! Requests hold an `Rc` of the view they started with, so in-flight
//! requests finish on the old snapshot and no request ever touches a shared
//! reference count.

use std::cell::{Cell, RefCell};
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::Arc;

use ahash::AHashMap;

use crate::observe::stats::{RouteStats, ShardStatsTable};
use crate::snapshot::{Published, Snapshot};
use crate::upstream::{GroupState, RetryBudget};

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
