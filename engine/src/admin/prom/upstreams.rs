//! The upstream side of `/metrics`: per group request, retry and
//! connection counters and latency histograms, per backend counters and
//! health, each summed over every shard's report.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;

use super::*;

#[derive(Default)]
struct GroupTotals {
    connects: u64,
    reuses: u64,
    retries: u64,
    failed_open: u64,
    connect: Option<Latency>,
    header: Option<Latency>,
}

pub(super) fn groups(out: &mut String, reports: &[ShardReport]) {
    let totals = group_totals(reports);
    group_counters(out, &totals);
    group_histograms(out, &totals);
}

/// Every group's counters and histograms, merged over the shards.
fn group_totals(reports: &[ShardReport]) -> BTreeMap<&str, GroupTotals> {
    let mut totals: BTreeMap<&str, GroupTotals> = BTreeMap::new();
    for g in reports.iter().flat_map(|r| &r.groups) {
        totals.entry(&g.name).or_default().add(g);
    }
    totals
}

// === impl GroupTotals ===

impl GroupTotals {
    /// Adds one shard's numbers of the group.
    fn add(&mut self, g: &GroupReport) {
        self.connects += g.connects;
        self.reuses += g.reuses;
        self.retries += g.retries;
        self.failed_open += g.failed_open;
        merge(&mut self.connect, &g.connect_time);
        merge(&mut self.header, &g.header_time);
    }
}

/// The per-group upstream counters.
const GROUP_ROWS: [Row<GroupTotals>; 4] = [
    (
        "coregate_upstream_connects_total",
        "New upstream connections.",
        |t| t.connects,
    ),
    (
        "coregate_upstream_reuses_total",
        "Requests sent on a pooled connection.",
        |t| t.reuses,
    ),
    (
        "coregate_upstream_retries_total",
        "Requests retried.",
        |t| t.retries,
    ),
    (
        "coregate_upstream_failed_open_total",
        "Picks made with no healthy backend (the group failed open).",
        |t| t.failed_open,
    ),
];

fn group_counters(out: &mut String, totals: &BTreeMap<&str, GroupTotals>) {
    for (name, text, get) in GROUP_ROWS {
        help(out, name, "counter", text);
        for (g, t) in totals {
            let _ = writeln!(out, "{name}{{group=\"{}\"}} {}", esc(g), get(t));
        }
    }
}

/// A latency histogram per group: name, help text and which one.
type HistRow = (
    &'static str,
    &'static str,
    fn(&GroupTotals) -> &Option<Latency>,
);

fn group_histograms(out: &mut String, totals: &BTreeMap<&str, GroupTotals>) {
    let rows: [HistRow; 2] = [
        (
            "coregate_upstream_connect_duration_seconds",
            "Time to connect to a backend, by group.",
            |t| &t.connect,
        ),
        (
            "coregate_upstream_header_duration_seconds",
            "Time from request sent to response head received, by group.",
            |t| &t.header,
        ),
    ];
    for (name, text, get) in rows {
        help(out, name, "histogram", text);
        for (g, t) in totals {
            if let Some(h) = get(t) {
                histogram(out, name, "group", g, h);
            }
        }
    }
}

fn backend_label(a: &SocketAddr) -> String {
    if a.port() == 0 {
        "other".to_string()
    } else {
        a.to_string()
    }
}

pub(super) fn backends(out: &mut String, shared: &Shared, reports: &[ShardReport]) {
    health(out, &shared.published.load());
    backend_counters(out, &backend_totals(reports));
}

/// The active health verdicts and transitions, from the snapshot.
fn health(out: &mut String, snap: &Snapshot) {
    help(
        out,
        "coregate_backend_healthy",
        "gauge",
        "Active health verdict (1 healthy, 0 not).",
    );
    for g in snap.groups.iter() {
        for (b, h) in g.set.backends().iter().zip(g.healthy.iter()) {
            let v = u8::from(h.load(Ordering::Relaxed));
            let _ = writeln!(
                out,
                "coregate_backend_healthy{{group=\"{}\",backend=\"{}\"}} {v}",
                esc(&g.name),
                b.addr
            );
        }
    }
    help(
        out,
        "coregate_health_transitions_total",
        "counter",
        "Active health-check transitions.",
    );
    for g in snap.groups.iter() {
        for (b, n) in g.set.backends().iter().zip(g.transitions.iter()) {
            let v = n.load(Ordering::Relaxed);
            let _ = writeln!(
                out,
                "coregate_health_transitions_total{{group=\"{}\",backend=\"{}\"}} {v}",
                esc(&g.name),
                b.addr
            );
        }
    }
}

/// Every backend's counters, by group and backend label, merged over the
/// shards.
fn backend_totals(reports: &[ShardReport]) -> BTreeMap<(&str, String), BackendStats> {
    let mut per: BTreeMap<(&str, String), BackendStats> = BTreeMap::new();
    for g in reports.iter().flat_map(|r| &r.groups) {
        for (a, s) in &g.backends {
            add_backend(per.entry((&g.name, backend_label(a))).or_default(), s);
        }
    }
    per
}

/// Adds one shard's counters of a backend to its total.
fn add_backend(total: &mut BackendStats, s: &BackendStats) {
    total.requests += s.requests;
    total.failures += s.failures;
    total.ejections += s.ejections;
}

/// The per-backend counters.
const BACKEND_ROWS: [Row<BackendStats>; 3] = [
    (
        "coregate_backend_requests_total",
        "Requests sent to a backend.",
        |s| s.requests,
    ),
    (
        "coregate_backend_failures_total",
        "Requests that failed at a backend.",
        |s| s.failures,
    ),
    (
        "coregate_backend_ejections_total",
        "Passive outlier ejections (summed over shards).",
        |s| s.ejections,
    ),
];

fn backend_counters(out: &mut String, per: &BTreeMap<(&str, String), BackendStats>) {
    for (name, text, get) in BACKEND_ROWS {
        help(out, name, "counter", text);
        for ((g, b), s) in per {
            let _ = writeln!(
                out,
                "{name}{{group=\"{}\",backend=\"{}\"}} {}",
                esc(g),
                esc(b),
                get(s)
            );
        }
    }
}
