//! Labelled, per-shard statistics, merged only when scraped.
//!
//! Each shard keeps plain `Cell` counters and its own HDR histograms per
//! route, upstream group and backend (no atomics, no locks). A scrape
//! (`GET /metrics`, `GET /stats`) asks every shard for a copy by message
//! passing: the admin thread rings the shard's doorbell, the shard answers
//! from its own thread, and the admin thread merges. The request path pays
//! a few increments and one histogram record.
//!
//! Cardinality is bounded: the first `max_routes` routes of the config get
//! their own series and the rest share `route="other"`; likewise backends
//! beyond `max_backends` per group.

use std::cell::{Cell, RefCell};
use std::net::SocketAddr;
use std::time::Duration;

use ahash::AHashMap;
use hdrhistogram::Histogram;

/// Highest latency recorded, in microseconds (one hour); higher values
/// are clamped.
const MAX_MICROS: u64 = 3_600_000_000;

/// A latency histogram in microseconds (2 significant figures: about 1%
/// precision, a few KiB each).
pub(crate) type Latency = Histogram<u64>;

fn new_latency() -> Latency {
    match Histogram::new_with_bounds(1, MAX_MICROS, 2) {
        Ok(h) => h,
        // Fixed, valid bounds: unreachable, and a fresh default would do.
        Err(_) => Histogram::new(2).unwrap_or_else(|_| std::process::abort()),
    }
}

/// A copy of a lazily created histogram, if it was created.
fn copy_latency(h: &RefCell<Option<Box<Latency>>>) -> Option<Latency> {
    h.borrow().as_deref().cloned()
}

/// Records `d` into a lazily created histogram.
pub(crate) fn record(h: &RefCell<Option<Box<Latency>>>, d: Duration) {
    let us = (d.as_micros() as u64).clamp(1, MAX_MICROS);
    let mut h = h.borrow_mut();
    let h = h.get_or_insert_with(|| Box::new(new_latency()));
    let _ = h.record(us);
}

/// The status classes labelled in metrics, indexed by [`status_class`]:
/// `none` for a request that got no response at all (status 0: the client
/// went away, the connection was reset, or its task panicked before a
/// status line was sent), then `1xx` to `5xx`.
pub(crate) const STATUS_CLASSES: [&str; CLASSES] = ["none", "1xx", "2xx", "3xx", "4xx", "5xx"];

/// How many status classes there are.
pub(crate) const CLASSES: usize = 6;

/// The index into [`STATUS_CLASSES`] of `status` (0: no response sent;
/// codes outside 100..=599 fold into the nearest class).
pub(crate) fn status_class(status: u16) -> usize {
    match status {
        0 => 0,
        s => usize::from((s / 100).clamp(1, 5)),
    }
}

/// One route's counters on one shard.
#[derive(Default)]
pub(crate) struct RouteStats {
    /// Requests by status class (see [`STATUS_CLASSES`]).
    pub(crate) by_class: [Cell<u64>; CLASSES],
    pub(crate) bytes_in: Cell<u64>,
    pub(crate) bytes_out: Cell<u64>,
    pub(crate) duration: RefCell<Option<Box<Latency>>>,
    /// Cached routes: requests by cache outcome (see `cache::OUTCOMES`).
    pub(crate) cache: [Cell<u64>; 6],
}

// === impl RouteStats ===

impl RouteStats {
    /// Counts a finished request.
    pub(crate) fn request(&self, status: u16, bytes_in: u64, bytes_out: u64, total: Duration) {
        bump(&self.by_class[status_class(status)], 1);
        bump(&self.bytes_in, bytes_in);
        bump(&self.bytes_out, bytes_out);
        record(&self.duration, total);
    }

    fn report(&self, name: &str) -> RouteReport {
        RouteReport {
            name: name.to_string(),
            by_class: std::array::from_fn(|i| self.by_class[i].get()),
            bytes_in: self.bytes_in.get(),
            bytes_out: self.bytes_out.get(),
            duration: copy_latency(&self.duration),
            cache: std::array::from_fn(|i| self.cache[i].get()),
        }
    }
}

/// One upstream group's counters on one shard.
#[derive(Default)]
pub(crate) struct GroupStats {
    pub(crate) connects: Cell<u64>,
    pub(crate) reuses: Cell<u64>,
    pub(crate) retries: Cell<u64>,
    pub(crate) failed_open: Cell<u64>,
    pub(crate) connect_time: RefCell<Option<Box<Latency>>>,
    pub(crate) header_time: RefCell<Option<Box<Latency>>>,
    /// Per backend: requests, failures, ejections.
    pub(crate) backends: RefCell<AHashMap<SocketAddr, BackendStats>>,
    pub(crate) max_backends: Cell<usize>,
}

/// One backend's counters on one shard.
#[derive(Default, Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub(crate) struct BackendStats {
    pub(crate) requests: u64,
    pub(crate) failures: u64,
    pub(crate) ejections: u64,
}

// === impl GroupStats ===

impl GroupStats {
    /// Updates one backend's counters (backends past the cap fold into
    /// the unspecified address, reported as `backend="other"`).
    pub(crate) fn backend(&self, addr: SocketAddr, f: impl FnOnce(&mut BackendStats)) {
        let mut map = self.backends.borrow_mut();
        let key = self.backend_key(&map, addr);
        f(map.entry(key).or_default());
    }

    /// The key `addr`'s counters live under: its own while under the cap
    /// (or already present), the unspecified address past it.
    fn backend_key(
        &self,
        map: &AHashMap<SocketAddr, BackendStats>,
        addr: SocketAddr,
    ) -> SocketAddr {
        if map.contains_key(&addr) || map.len() < self.max_backends.get() {
            addr
        } else {
            SocketAddr::from(([0, 0, 0, 0], 0))
        }
    }

    fn report(&self, name: &str) -> GroupReport {
        GroupReport {
            name: name.to_string(),
            connects: self.connects.get(),
            reuses: self.reuses.get(),
            retries: self.retries.get(),
            failed_open: self.failed_open.get(),
            connect_time: copy_latency(&self.connect_time),
            header_time: copy_latency(&self.header_time),
            backends: self.backend_reports(),
        }
    }

    /// A copy of every backend's counters.
    fn backend_reports(&self) -> Vec<(SocketAddr, BackendStats)> {
        let map = self.backends.borrow();
        map.iter().map(|(a, s)| (*a, *s)).collect()
    }
}

/// Adds `n` to a shard-local counter.
#[inline]
pub(crate) fn bump(c: &Cell<u64>, n: u64) {
    c.set(c.get().wrapping_add(n));
}

/// A shard's labelled statistics, keyed by name so they survive reloads.
#[derive(Default)]
pub(crate) struct ShardStatsTable {
    pub(crate) routes: RefCell<AHashMap<Box<str>, std::rc::Rc<RouteStats>>>,
    pub(crate) groups: RefCell<AHashMap<Box<str>, std::rc::Rc<GroupStats>>>,
    pub(crate) parse_errors: RefCell<AHashMap<&'static str, u64>>,
    pub(crate) errors: RefCell<AHashMap<&'static str, u64>>,
    /// Requests by listener (index into the listen addresses) and status
    /// class (see [`STATUS_CLASSES`]).
    pub(crate) listeners: RefCell<Vec<[u64; CLASSES]>>,
    /// Requests by calling app (store id; 0 for apps past the cap) and
    /// status class.
    pub(crate) apps: RefCell<AHashMap<i64, [u64; CLASSES]>>,
    /// Limit decisions by policy: admitted, limited, failed open, failed
    /// closed.
    pub(crate) limits: RefCell<AHashMap<Box<str>, [u64; 4]>>,
    /// AI calls by app (as `apps`; -1 without one) and provider: calls,
    /// input, output, cached and reasoning tokens, cost (millionths of a
    /// dollar).
    pub(crate) ai: RefCell<AHashMap<i64, Vec<AiCounts>>>,
}

/// One provider's AI numbers for one app.
pub(crate) type AiCounts = (Box<str>, [u64; AI_FIELDS]);

/// The numbers kept per app and provider of AI calls.
pub(crate) const AI_FIELDS: usize = 6;

/// Apps with a series of their own per shard; the rest count as "other".
pub(crate) const MAX_APPS: usize = 100;

// === impl ShardStatsTable ===

impl ShardStatsTable {
    /// Counts a rate-limit decision of policy `name` (its names come from
    /// the config, so the series stay bounded).
    pub(crate) fn limit(&self, name: &str, outcome: crate::limit::admit::Outcome) {
        let mut limits = self.limits.borrow_mut();
        let slot = match limits.get_mut(name) {
            Some(slot) => slot,
            None => limits.entry(name.into()).or_insert([0; 4]),
        };
        slot[outcome as usize] += 1;
    }

    /// Counts a response to app `app`.
    pub(crate) fn app(&self, app: i64, status: u16) {
        let mut apps = self.apps.borrow_mut();
        let key = match apps.len() < MAX_APPS || apps.contains_key(&app) {
            true => app,
            false => 0,
        };
        apps.entry(key).or_insert([0; CLASSES])[status_class(status)] += 1;
    }

    /// Counts an AI call of `app` (`None`: no credential) answered by
    /// `provider` (names come from the config: bounded).
    pub(crate) fn ai(&self, app: Option<i64>, provider: &str, u: &::ai::Usage, cost: u64) {
        let mut ai = self.ai.borrow_mut();
        let app = app.unwrap_or(-1);
        let key = match ai.len() < MAX_APPS || ai.contains_key(&app) {
            true => app,
            false => 0,
        };
        let list = ai.entry(key).or_default();
        let at = match list.iter().position(|(p, _)| &**p == provider) {
            Some(i) => i,
            None => {
                list.push((provider.into(), [0; AI_FIELDS]));
                list.len() - 1
            }
        };
        let n = &mut list[at].1;
        for (slot, v) in n
            .iter_mut()
            .zip([1, u.input, u.output, u.cached, u.reasoning, cost])
        {
            *slot += v;
        }
    }

    /// Counts a coregate error of `kind`.
    pub(crate) fn error(&self, kind: &'static str, parse: bool) {
        *self.errors.borrow_mut().entry(kind).or_default() += 1;
        if parse {
            *self.parse_errors.borrow_mut().entry(kind).or_default() += 1;
        }
    }

    /// Counts a response on listener `idx`.
    pub(crate) fn listener(&self, idx: usize, status: u16) {
        let mut l = self.listeners.borrow_mut();
        if l.len() <= idx {
            l.resize(idx + 1, [0; CLASSES]);
        }
        l[idx][status_class(status)] += 1;
    }

    /// A copy of everything, for a scrape.
    pub(crate) fn report(&self, shard: usize) -> ShardReport {
        ShardReport {
            shard,
            routes: self.route_reports(),
            groups: self.group_reports(),
            parse_errors: copy_counts(&self.parse_errors),
            errors: copy_counts(&self.errors),
            access_log_dropped: 0,
            listeners: self.listeners.borrow().clone(),
            apps: self.apps.borrow().iter().map(|(k, v)| (*k, *v)).collect(),
            ai: self
                .ai
                .borrow()
                .iter()
                .flat_map(|(app, list)| list.iter().map(|(p, n)| (*app, p.clone(), *n)))
                .collect(),
            limits: self
                .limits
                .borrow()
                .iter()
                .map(|(k, v)| (k.clone(), *v))
                .collect(),
            backends: Vec::new(),
            upstream_open: 0,
            upstream_idle: 0,
        }
    }

    /// A copy of every route's numbers.
    fn route_reports(&self) -> Vec<RouteReport> {
        let routes = self.routes.borrow();
        routes.iter().map(|(n, s)| s.report(n)).collect()
    }

    /// A copy of every group's numbers.
    fn group_reports(&self) -> Vec<GroupReport> {
        let groups = self.groups.borrow();
        groups.iter().map(|(n, s)| s.report(n)).collect()
    }
}

/// A copy of a count-by-kind table.
fn copy_counts(m: &RefCell<AHashMap<&'static str, u64>>) -> Vec<(&'static str, u64)> {
    m.borrow().iter().map(|(k, v)| (*k, *v)).collect()
}

/// One route's numbers in a scrape.
#[derive(Clone)]
pub(crate) struct RouteReport {
    pub(crate) name: String,
    pub(crate) by_class: [u64; CLASSES],
    pub(crate) bytes_in: u64,
    pub(crate) bytes_out: u64,
    pub(crate) duration: Option<Latency>,
    pub(crate) cache: [u64; 6],
}

/// One group's numbers in a scrape.
#[derive(Clone)]
pub(crate) struct GroupReport {
    pub(crate) name: String,
    pub(crate) connects: u64,
    pub(crate) reuses: u64,
    pub(crate) retries: u64,
    pub(crate) failed_open: u64,
    pub(crate) connect_time: Option<Latency>,
    pub(crate) header_time: Option<Latency>,
    pub(crate) backends: Vec<(SocketAddr, BackendStats)>,
}

/// One shard's answer to a scrape.
pub(crate) struct ShardReport {
    pub(crate) shard: usize,
    pub(crate) routes: Vec<RouteReport>,
    pub(crate) groups: Vec<GroupReport>,
    pub(crate) parse_errors: Vec<(&'static str, u64)>,
    pub(crate) errors: Vec<(&'static str, u64)>,
    pub(crate) access_log_dropped: u64,
    /// Requests by listener index and status class.
    pub(crate) listeners: Vec<[u64; CLASSES]>,
    /// Requests by app id (0: past the cap) and status class.
    pub(crate) apps: Vec<(i64, [u64; CLASSES])>,
    /// AI calls by app id (-1: none, 0: past the cap) and provider.
    pub(crate) ai: Vec<(i64, Box<str>, [u64; AI_FIELDS])>,
    /// Limit decisions by policy: admitted, limited, failed open, failed
    /// closed.
    pub(crate) limits: Vec<(Box<str>, [u64; 4])>,
    /// Per group and backend: in-flight requests, latency estimate (ns),
    /// passively ejected.
    pub(crate) backends: Vec<(Box<str>, SocketAddr, u32, u64, bool)>,
    /// Upstream connections open on this shard, pooled idle ones included.
    pub(crate) upstream_open: u64,
    /// Of those, idle in the pool.
    pub(crate) upstream_idle: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_response_has_its_own_class() {
        let classes: Vec<&str> = [0, 101, 200, 304, 404, 503, 999]
            .iter()
            .map(|&s| STATUS_CLASSES[status_class(s)])
            .collect();
        assert_eq!(classes, ["none", "1xx", "2xx", "3xx", "4xx", "5xx", "5xx"]);
    }
}
