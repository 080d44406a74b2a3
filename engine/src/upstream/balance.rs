//! Per-shard balancing state: selectors, passive outlier ejection, circuit
//! breaker counters and retry budgets.
//!
//! All of it is shard-local (`Cell`/`RefCell`), keyed by group name so that
//! it survives reloads for the groups and backends that stay; the active
//! health verdicts are the only cross-shard input, read from the snapshot's
//! atomics that a single checker writes.

use std::cell::{Cell, RefCell};
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use balancer::{BackendSet, Eligibility, Outlier, Selector, Transition};

use crate::snapshot::route::Group;

/// One group's state on one shard.
pub(crate) struct GroupState {
    set: RefCell<Arc<BackendSet>>,
    selector: RefCell<Selector>,
    outlier: RefCell<Outlier>,
    /// Per backend: the group's successful-active-check count when the
    /// backend was last ejected; a higher count now lifts the ejection.
    ejected_at: RefCell<Vec<u64>>,
    /// Requests to this group in flight on this shard (circuit breaker).
    pub(crate) pending: Rc<Cell<usize>>,
    /// Upstream connections open to this group on this shard, pooled ones
    /// included (circuit breaker).
    pub(crate) conns: Rc<Cell<usize>>,
    /// Labelled statistics of this group on this shard.
    pub(crate) stats: Rc<crate::observe::stats::GroupStats>,
}

/// A backend picked for one request.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Picked {
    pub(crate) idx: usize,
    pub(crate) addr: SocketAddr,
    pub(crate) failed_open: bool,
}

// === impl GroupState ===

impl GroupState {
    pub(crate) fn new(
        g: &Group,
        seed: u64,
        stats: Rc<crate::observe::stats::GroupStats>,
    ) -> GroupState {
        GroupState {
            stats,
            selector: RefCell::new(Selector::new(&g.set, seed)),
            outlier: RefCell::new(Outlier::new(g.outlier, g.set.len())),
            set: RefCell::new(g.set.clone()),
            ejected_at: RefCell::new(snapshot_checks(g)),
            pending: Rc::new(Cell::new(0)),
            conns: Rc::new(Cell::new(0)),
        }
    }

    /// Moves the state onto a reloaded group: backends that stay keep their
    /// in-flight counts, latency estimates and ejections.
    pub(crate) fn rebuild(&self, g: &Group) {
        let old = self.set.replace(g.set.clone());
        self.selector.borrow_mut().rebuild(&old, &g.set);
        let mut outlier = self.outlier.borrow_mut();
        outlier.rebuild(&old, &g.set);
        outlier.reconfigure(g.outlier);
        *self.ejected_at.borrow_mut() = snapshot_checks(g);
    }

    /// Picks a backend that is healthy, not ejected and not `exclude`
    /// (a retry avoids the backend that just failed), failing open when
    /// none is.
    pub(crate) fn pick(
        &self,
        g: &Group,
        hash: Option<u64>,
        exclude: Option<usize>,
        now: Instant,
    ) -> Option<Picked> {
        let outlier = self.outlier.borrow();
        let ejected_at = self.ejected_at.borrow();
        let usable = Usable {
            group: g,
            outlier: &outlier,
            ejected_at: &ejected_at,
            now,
            exclude,
        };
        let mut sel = self.selector.borrow_mut();
        let mut pick = sel.pick(&g.set, &usable, hash, now)?;
        if pick.failed_open && exclude.is_some() {
            // Only the excluded backend was usable: better it than none.
            let again = Usable {
                exclude: None,
                ..usable
            };
            pick = sel.pick(&g.set, &again, hash, now)?;
        }
        sel.on_start(pick.idx);
        Some(Picked {
            idx: pick.idx,
            addr: g.addr(pick.idx)?,
            failed_open: pick.failed_open,
        })
    }

    /// Records the end of a request to `addr`: frees its in-flight slot,
    /// feeds the latency estimate and the outlier detector. Returns an
    /// ejection or return transition, if one happened.
    pub(crate) fn end(
        &self,
        g: &Group,
        addr: SocketAddr,
        latency: Duration,
        ok: bool,
        now: Instant,
    ) -> Option<Transition> {
        let idx = self.set.borrow().index_of(addr)?;
        self.selector.borrow_mut().on_end(idx, latency, now);
        let t = self.outlier.borrow_mut().record(idx, ok, now);
        if t == Some(Transition::Unhealthy) {
            self.mark_ejected(g, idx);
        }
        t
    }

    /// Remembers the active-check count at which backend `idx` was
    /// ejected, so that a later passing check can lift the ejection.
    fn mark_ejected(&self, g: &Group, idx: usize) {
        let checks = checks_passed(g, idx, Ordering::Acquire);
        if let Some(at) = self.ejected_at.borrow_mut().get_mut(idx) {
            *at = checks;
        }
    }
}

// === impl GroupState ===

impl GroupState {
    /// Per backend on this shard: address, in-flight requests, latency
    /// estimate (ns) and whether it is passively ejected now.
    pub(crate) fn backends(&self, now: Instant) -> Vec<(SocketAddr, u32, u64, bool)> {
        let set = self.set.borrow();
        let sel = self.selector.borrow();
        let outlier = self.outlier.borrow();
        set.backends()
            .iter()
            .enumerate()
            .map(|(i, b)| {
                (
                    b.addr,
                    sel.in_flight(i),
                    sel.ewma_ns(i, now),
                    outlier.is_ejected(i, now),
                )
            })
            .collect()
    }
}

/// Backend `idx`'s count of successful active checks (0 if out of range).
fn checks_passed(g: &Group, idx: usize, order: Ordering) -> u64 {
    g.checks_ok.get(idx).map_or(0, |n| n.load(order))
}

fn snapshot_checks(g: &Group) -> Vec<u64> {
    g.checks_ok
        .iter()
        .map(|n| n.load(Ordering::Acquire))
        .collect()
}

/// The backends a pick may use.
struct Usable<'a> {
    group: &'a Group,
    outlier: &'a Outlier,
    ejected_at: &'a [u64],
    now: Instant,
    exclude: Option<usize>,
}

impl Eligibility for Usable<'_> {
    #[inline]
    fn is_eligible(&self, idx: usize) -> bool {
        let healthy = self
            .group
            .healthy
            .get(idx)
            .is_some_and(|h| h.load(Ordering::Relaxed));
        Some(idx) != self.exclude && healthy && !self.is_ejected(idx)
    }
}

// === impl Usable ===

impl Usable<'_> {
    /// Passively ejected, and no active check has passed since.
    fn is_ejected(&self, idx: usize) -> bool {
        if !self.outlier.is_ejected(idx, self.now) {
            return false;
        }
        let checks = checks_passed(self.group, idx, Ordering::Relaxed);
        checks <= self.ejected_at.get(idx).copied().unwrap_or(0)
    }
}

/// A retry budget (linkerd/Envoy style): each request deposits
/// `percent / 100` of a retry, the budget also refills `min_per_second`
/// per second, and a retry spends one. Retries therefore stay a bounded
/// fraction of traffic and cannot amplify an outage.
#[derive(Debug)]
pub(crate) struct RetryBudget {
    tokens: Cell<f64>,
    last: Cell<Option<Instant>>,
}

// === impl RetryBudget ===

impl RetryBudget {
    pub(crate) fn new() -> RetryBudget {
        RetryBudget {
            tokens: Cell::new(0.0),
            last: Cell::new(None),
        }
    }

    /// Counts one request towards the budget.
    pub(crate) fn deposit(&self, percent: u32, min_per_second: u32, now: Instant) {
        let refill = self.refill(min_per_second, now);
        let cap = f64::from(min_per_second).max(10.0) + 100.0 * f64::from(percent) / 100.0;
        let t = self.tokens.get() + refill + f64::from(percent) / 100.0;
        self.tokens.set(t.min(cap));
    }

    /// Tokens refilled since the previous request (a full second's worth
    /// for the first one), marking `now` as the latest request.
    fn refill(&self, min_per_second: u32, now: Instant) -> f64 {
        match self.last.replace(Some(now)) {
            Some(last) => {
                now.saturating_duration_since(last).as_secs_f64() * f64::from(min_per_second)
            }
            None => f64::from(min_per_second),
        }
    }

    /// Takes one retry if the budget has it.
    pub(crate) fn withdraw(&self) -> bool {
        let t = self.tokens.get();
        if t >= 1.0 {
            self.tokens.set(t - 1.0);
            true
        } else {
            false
        }
    }
}

/// Decrements a counter when dropped (a pending request, an open
/// connection).
pub(crate) struct Held(Rc<Cell<usize>>);

// === impl Held ===

impl Held {
    pub(crate) fn new(c: &Rc<Cell<usize>>) -> Held {
        c.set(c.get() + 1);
        Held(c.clone())
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        self.0.set(self.0.get().saturating_sub(1));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budget_allows_a_fraction_of_requests() {
        let b = RetryBudget::new();
        let t0 = Instant::now();
        // The first deposit includes one second's worth of min_per_second.
        b.deposit(20, 0, t0);
        assert!(!b.withdraw());
        for _ in 0..100 {
            b.deposit(20, 0, t0);
        }
        let mut retries = 0;
        while b.withdraw() {
            retries += 1;
        }
        assert_eq!(retries, 20);
    }

    #[test]
    fn budget_refills_per_second() {
        let b = RetryBudget::new();
        let t0 = Instant::now();
        b.deposit(0, 10, t0);
        let mut n = 0;
        while b.withdraw() {
            n += 1;
        }
        assert_eq!(n, 10);
        b.deposit(0, 10, t0 + Duration::from_millis(500));
        let mut n = 0;
        while b.withdraw() {
            n += 1;
        }
        assert_eq!(n, 5);
    }

    #[test]
    fn held_counts_down_on_drop() {
        let c = Rc::new(Cell::new(0));
        let a = Held::new(&c);
        let b = Held::new(&c);
        assert_eq!(c.get(), 2);
        drop(a);
        drop(b);
        assert_eq!(c.get(), 0);
    }
}
