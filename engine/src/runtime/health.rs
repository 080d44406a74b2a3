//! Active HTTP health checks, run once per host (on shard 0), whose
//! verdicts reach every shard through the snapshot's per-backend atomics.
//!
//! Each checked backend gets `GET <path>` on a fresh connection every
//! `interval`; a response within `timeout` whose status is expected counts
//! as a success. haproxy-style `rise`/`fall` thresholds turn results into
//! transitions. Verdicts are keyed by group name and backend address, so a
//! reload keeps the verdicts of backends that stay.

use std::cell::RefCell;
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use ahash::AHashMap;
use balancer::{ActiveHealth, Transition};
use bytes::BytesMut;
use parser::Method;
use tuning::HealthCheck;

use crate::ctx::ShardCtx;
use crate::shard;
use crate::snapshot::route::Group;
use crate::snapshot::tls::GroupTls;
use crate::upstream::dial::dial;

/// How often the checker looks for due checks.
const TICK: Duration = Duration::from_millis(50);

/// One group's checker state.
struct GroupChecks {
    version: u64,
    verdicts: ActiveHealth,
    next_due: Vec<Instant>,
    busy: Vec<bool>,
}

/// A finished check: group, snapshot version it was started under, the
/// backend's address, and the verdict.
type Results = Rc<RefCell<Vec<(Box<str>, u64, SocketAddr, bool)>>>;

/// Runs the checks of every group that has a `health_check`, until the
/// shard drains.
pub(crate) async fn run(ctx: Rc<ShardCtx>) {
    let mut groups: AHashMap<Box<str>, GroupChecks> = AHashMap::new();
    let results: Results = Rc::new(RefCell::new(Vec::new()));
    while !ctx.draining.get() {
        let view = ctx.snap();
        let snap = &view.snap;
        let now = Instant::now();
        // Follow reloads first, so that results are applied to state sized
        // for the snapshot they are looked up in.
        groups.retain(|name, _| {
            snap.groups
                .iter()
                .any(|g| g.name == *name && g.health_check.is_some())
        });
        for g in snap.groups.iter() {
            let Some(hc) = &g.health_check else { continue };
            groups
                .entry(g.name.clone())
                .or_insert_with(|| GroupChecks::new(g, hc, snap.version, now))
                .follow(g, hc, snap.version, now);
        }
        let done: Vec<_> = results.borrow_mut().drain(..).collect();
        for (name, version, addr, ok) in done {
            let g = snap.groups.iter().find(|g| g.name == name);
            if let (Some(g), Some(state)) = (g, groups.get_mut(&name)) {
                state.apply(g, version, addr, ok);
            }
        }
        for g in snap.groups.iter() {
            if let Some(state) = groups.get_mut(&g.name) {
                state.start_due(&ctx, g, &results, now);
            }
        }
        drop(view);
        shard::sleep(TICK).await;
    }
}

// === impl GroupChecks ===

impl GroupChecks {
    fn new(g: &Group, hc: &HealthCheck, version: u64, now: Instant) -> GroupChecks {
        let mut verdicts = ActiveHealth::with_initial(g.set.len(), hc.rise, hc.fall, true);
        // Start from the verdicts the snapshot carries (a reload keeps them).
        for (i, h) in g.healthy.iter().enumerate() {
            if !h.load(Ordering::Acquire) {
                for _ in 0..hc.fall {
                    verdicts.record(i, false);
                }
            }
        }
        GroupChecks {
            version,
            verdicts,
            next_due: vec![now; g.set.len()],
            busy: vec![false; g.set.len()],
        }
    }

    /// Applies one check's verdict. A check started under another snapshot
    /// is ignored: its backend may have moved or gone, and its slot was
    /// reset when the state followed the reload.
    fn apply(&mut self, g: &Group, version: u64, addr: SocketAddr, ok: bool) {
        if version != self.version {
            return;
        }
        let Some(idx) = g.set.index_of(addr) else {
            return;
        };
        let Some(busy) = self.busy.get_mut(idx) else {
            return;
        };
        *busy = false;
        if ok {
            if let Some(n) = g.checks_ok.get(idx) {
                n.fetch_add(1, Ordering::Release);
            }
        }
        if let Some(t) = self.verdicts.record(idx, ok) {
            publish(g, idx, t);
        }
    }

    /// Starts the checks that are due and not already running.
    fn start_due(&mut self, ctx: &ShardCtx, g: &Group, results: &Results, now: Instant) {
        let Some(hc) = &g.health_check else { return };
        let slots = self.busy.iter_mut().zip(self.next_due.iter_mut());
        for (idx, (busy, due)) in slots.enumerate() {
            if *busy || now < *due {
                continue;
            }
            let Some(addr) = g.addr(idx) else { continue };
            *busy = true;
            *due = now + hc.interval;
            let (ring, results) = (ctx.ring.clone(), results.clone());
            let (name, hc, version) = (g.name.clone(), hc.clone(), self.version);
            let tls = g.tls.clone();
            let failed = results.clone();
            let (failed_name, failed_version) = (name.clone(), version);
            shard::spawn_guarded(
                async move {
                    let ok = check(&ring, addr, &hc, tls.as_ref()).await;
                    results.borrow_mut().push((name, version, addr, ok));
                },
                move |msg| {
                    eprintln!("coregate: health check of {addr} panicked: {msg}");
                    failed
                        .borrow_mut()
                        .push((failed_name, failed_version, addr, false));
                },
            );
        }
    }

    /// Rebuilds the state after a reload changed the group.
    fn follow(&mut self, g: &Group, hc: &HealthCheck, version: u64, now: Instant) {
        if self.version != version {
            *self = GroupChecks::new(g, hc, version, now);
        }
    }
}

/// Stores a transition where every shard sees it.
fn publish(g: &Group, idx: usize, t: Transition) {
    let healthy = matches!(t, Transition::Healthy);
    if let Some(flag) = g.healthy.get(idx) {
        flag.store(healthy, Ordering::Release);
    }
    if let Some(n) = g.transitions.get(idx) {
        n.fetch_add(1, Ordering::Relaxed);
    }
    let addr = g.addr(idx).map(|a| a.to_string()).unwrap_or_default();
    let verdict = if healthy { "healthy" } else { "unhealthy" };
    eprintln!(
        "coregate: health: group {} backend {addr} is now {verdict}",
        g.name
    );
}

/// One check: connect, `GET path`, read the status line.
async fn check(
    ring: &crate::io::Ring,
    addr: SocketAddr,
    hc: &HealthCheck,
    tls: Option<&GroupTls>,
) -> bool {
    let probe = async {
        let mut conn = dial(ring, addr, tls).await.ok()?;
        let host = hc.host.clone().unwrap_or_else(|| addr.to_string());
        let req = format!(
            "GET {} HTTP/1.1\r\nhost: {host}\r\nuser-agent: coregate-health-check\r\nconnection: close\r\n\r\n",
            hc.path
        );
        conn.send(bytes::Bytes::from(req)).await.ok()?;
        let mut buf = BytesMut::with_capacity(1024);
        let limits = parser::Limits::default();
        loop {
            let data = conn.recv().await.ok()??;
            buf.extend_from_slice(&data);
            if let Some(head) = parser::parse_response(&mut buf, &limits, Method::Get).ok()? {
                if head.status() >= 200 {
                    return Some(hc.expects(head.status()));
                }
            }
        }
    };
    matches!(shard::timeout(hc.timeout, probe).await, Ok(Some(true)))
}
