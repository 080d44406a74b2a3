//! `GET /metrics`: the Prometheus text exposition format (version 0.0.4).
//!
//! Latencies are exposed as Prometheus *histograms* (cumulative `le`
//! buckets read from the merged HDR histograms), not summaries: bucket
//! counts add up across instances and shards, so `histogram_quantile` over
//! a fleet is meaningful, while pre-computed quantiles cannot be averaged.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::Ordering;
use std::time::Duration;

use crate::admin::shared::Shared;
use crate::observe::metrics::{ShardMetrics, ShardStats};
use crate::observe::stats::{
    BackendStats, GroupReport, Latency, ShardReport, AI_FIELDS, CLASSES, STATUS_CLASSES,
};
use crate::snapshot::route::Snapshot;

mod tls;
mod upstreams;

use upstreams::{backends, groups};

/// Bucket bounds, in seconds: 100 µs to 60 s.
const BUCKETS: [f64; 18] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0, 30.0, 60.0,
];

/// How long a scrape waits for the shards.
const SCRAPE_TIMEOUT: Duration = Duration::from_secs(2);

/// Renders every metric.
pub(crate) fn render(shared: &Shared) -> String {
    let reports = shared.scrapers.collect(SCRAPE_TIMEOUT);
    let mut out = String::with_capacity(64 << 10);
    shard_counters(&mut out, &shared.metrics);
    requests(&mut out, &reports);
    listeners(&mut out, shared, &reports);
    apps(&mut out, shared, &reports);
    ai_calls(&mut out, shared, &reports);
    limits(&mut out, &reports);
    redis(&mut out, shared);
    route_bytes(&mut out, &reports);
    route_cache(&mut out, shared, &reports);
    upstream_connections(&mut out, &reports);
    kinds(&mut out, &reports);
    durations(&mut out, &reports);
    groups(&mut out, &reports);
    backends(&mut out, shared, &reports);
    control(&mut out, shared, &reports);
    tls::tls(&mut out, shared);
    out
}

fn help(out: &mut String, name: &str, kind: &str, text: &str) {
    let _ = writeln!(out, "# HELP {name} {text}\n# TYPE {name} {kind}");
}

/// Escapes a label value.
fn esc(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// One per-shard series: name, type, help text and how to read it.
type ShardRow = (
    &'static str,
    &'static str,
    &'static str,
    fn(&ShardStats) -> u64,
);

/// A counter summed over a label: name, help text and how to read it.
type Row<T> = (&'static str, &'static str, fn(&T) -> u64);

/// The per-shard series read from the shards' own counters.
const SHARD_ROWS: [ShardRow; 9] = [
    (
        "coregate_connections_active",
        "gauge",
        "Client connections open now.",
        |s| s.active_connections,
    ),
    (
        "coregate_connections_idle",
        "gauge",
        "Client connections idle between keep-alive requests.",
        |s| s.idle_connections,
    ),
    (
        "coregate_connections_accepted_total",
        "counter",
        "Client connections accepted.",
        |s| s.accepted,
    ),
    (
        "coregate_connections_refused_total",
        "counter",
        "Connections refused at max_connections.",
        |s| s.refused,
    ),
    (
        "coregate_bytes_received_total",
        "counter",
        "Bytes read from clients.",
        |s| s.bytes_in,
    ),
    (
        "coregate_bytes_sent_total",
        "counter",
        "Bytes written to clients.",
        |s| s.bytes_out,
    ),
    (
        "coregate_tunnels_total",
        "counter",
        "Upgrade tunnels opened (after a 101).",
        |s| s.tunnels,
    ),
    (
        "coregate_tunnel_idle_timeouts_total",
        "counter",
        "Upgrade tunnels closed after tunnel_idle with no bytes either way.",
        |s| s.tunnel_timeouts,
    ),
    (
        "coregate_panics_total",
        "counter",
        "Connections closed by a panic in their task (the shard went on).",
        |s| s.panics,
    ),
];

fn shard_counters(out: &mut String, m: &[ShardMetrics]) {
    let stats: Vec<_> = m.iter().map(ShardMetrics::snapshot).collect();
    for (name, kind, text, get) in SHARD_ROWS {
        help(out, name, kind, text);
        for (shard, s) in stats.iter().enumerate() {
            let _ = writeln!(out, "{name}{{shard=\"{shard}\"}} {}", get(s));
        }
    }
}

fn requests(out: &mut String, reports: &[ShardReport]) {
    help(
        out,
        "coregate_requests_total",
        "counter",
        "Requests handled, by shard, route and status class (\"none\": no response was sent).",
    );
    for r in reports {
        let mut routes: Vec<_> = r.routes.iter().collect();
        routes.sort_by(|a, b| a.name.cmp(&b.name));
        for route in routes {
            for (class, n) in STATUS_CLASSES.iter().zip(route.by_class) {
                if n > 0 {
                    let _ = writeln!(
                        out,
                        "coregate_requests_total{{shard=\"{}\",route=\"{}\",status_class=\"{class}\"}} {n}",
                        r.shard,
                        esc(&route.name)
                    );
                }
            }
        }
    }
}

fn listeners(out: &mut String, shared: &Shared, reports: &[ShardReport]) {
    let name = "coregate_listener_requests_total";
    help(
        out,
        name,
        "counter",
        "Requests handled, by shard, listen address and status class (\"none\": no response was sent).",
    );
    for r in reports {
        for (i, counts) in r.listeners.iter().enumerate() {
            let addr = listener_label(shared, i);
            for (class, n) in STATUS_CLASSES.iter().zip(counts) {
                if *n > 0 {
                    let _ = writeln!(
                        out,
                        "{name}{{shard=\"{}\",listener=\"{addr}\",status_class=\"{class}\"}} {n}",
                        r.shard
                    );
                }
            }
        }
    }
}

/// Requests by calling app and team, merged over the shards (each shard
/// keeps at most `MAX_APPS` apps; the rest are `app="other"`).
fn apps(out: &mut String, shared: &Shared, reports: &[ShardReport]) {
    let name = "coregate_app_requests_total";
    help(
        out,
        name,
        "counter",
        "Requests of callers a credential identified, by app, team and status class.",
    );
    let policy = shared.published.load().access.clone();
    let mut merged: BTreeMap<(String, String), [u64; CLASSES]> = BTreeMap::new();
    for (id, counts) in reports.iter().flat_map(|r| &r.apps) {
        let names = policy
            .consumer(*id)
            .map(|c| (c.app_name.to_string(), c.team_name.to_string()));
        let key = names.unwrap_or_else(|| ("other".into(), "other".into()));
        let slot = merged.entry(key).or_insert([0; CLASSES]);
        slot.iter_mut().zip(counts).for_each(|(a, b)| *a += b);
    }
    for ((app, team), counts) in merged {
        for (class, n) in STATUS_CLASSES.iter().zip(counts) {
            if n > 0 {
                let (app, team) = (esc(&app), esc(&team));
                let _ = writeln!(
                    out,
                    "{name}{{app=\"{app}\",team=\"{team}\",status_class=\"{class}\"}} {n}"
                );
            }
        }
    }
}

/// AI calls, tokens and cost by app, team and provider, merged over the
/// shards (bounded as the app series are).
fn ai_calls(out: &mut String, shared: &Shared, reports: &[ShardReport]) {
    let policy = shared.published.load().access.clone();
    let mut merged: BTreeMap<(String, String, String), [u64; AI_FIELDS]> = BTreeMap::new();
    for (id, provider, n) in reports.iter().flat_map(|r| &r.ai) {
        let (app, team) = match *id {
            -1 => ("none".to_owned(), "none".to_owned()),
            id => policy
                .consumer(id)
                .map(|c| (c.app_name.to_string(), c.team_name.to_string()))
                .unwrap_or_else(|| ("other".into(), "other".into())),
        };
        let slot = merged
            .entry((app, team, provider.to_string()))
            .or_insert([0; AI_FIELDS]);
        slot.iter_mut().zip(n).for_each(|(a, b)| *a += b);
    }
    let calls = "coregate_ai_requests_total";
    help(
        out,
        calls,
        "counter",
        "AI calls a provider answered, by app, team and provider.",
    );
    for ((app, team, p), n) in &merged {
        let (app, team, p) = (esc(app), esc(team), esc(p));
        let _ = writeln!(
            out,
            "{calls}{{app=\"{app}\",team=\"{team}\",provider=\"{p}\"}} {}",
            n[0]
        );
    }
    let tokens = "coregate_ai_tokens_total";
    help(out, tokens, "counter", "Tokens of AI calls by app, team, provider and type (cached and reasoning are parts of input and output).");
    for ((app, team, p), n) in &merged {
        let (app, team, p) = (esc(app), esc(team), esc(p));
        for (kind, v) in ["input", "output", "cached", "reasoning"]
            .iter()
            .zip(&n[1..5])
        {
            let _ = writeln!(
                out,
                "{tokens}{{app=\"{app}\",team=\"{team}\",provider=\"{p}\",type=\"{kind}\"}} {v}"
            );
        }
    }
    let cost = "coregate_ai_cost_microdollars_total";
    help(
        out,
        cost,
        "counter",
        "Cost of AI calls at the configured prices, in millionths of a dollar.",
    );
    for ((app, team, p), n) in &merged {
        let (app, team, p) = (esc(app), esc(team), esc(p));
        let _ = writeln!(
            out,
            "{cost}{{app=\"{app}\",team=\"{team}\",provider=\"{p}\"}} {}",
            n[5]
        );
    }
}

/// Rate-limit decisions by policy, merged over the shards.
fn limits(out: &mut String, reports: &[ShardReport]) {
    let name = "coregate_ratelimit_requests_total";
    help(
        out,
        name,
        "counter",
        "Requests a rate-limit policy counted, by policy and result.",
    );
    let mut merged: BTreeMap<&str, [u64; 4]> = BTreeMap::new();
    for (policy, counts) in reports.iter().flat_map(|r| &r.limits) {
        let slot = merged.entry(policy).or_insert([0; 4]);
        for (s, c) in slot.iter_mut().zip(counts) {
            *s += c;
        }
    }
    const RESULTS: [&str; 4] = ["admitted", "limited", "failed_open", "failed_closed"];
    for (policy, counts) in merged {
        let p = esc(policy);
        for (result, n) in RESULTS.iter().zip(counts) {
            // Failures only once there are some: most hosts have no Redis.
            if *result == "admitted" || *result == "limited" || n > 0 {
                let _ = writeln!(out, "{name}{{policy=\"{p}\",result=\"{result}\"}} {n}");
            }
        }
    }
}

/// The Redis of global limits, when there is one.
fn redis(out: &mut String, shared: &Shared) {
    let Some(r) = shared.published.load().redis.clone() else {
        return;
    };
    help(
        out,
        "coregate_redis_up",
        "gauge",
        "Whether the last exchange with the Redis of global limits worked.",
    );
    let _ = writeln!(out, "coregate_redis_up {}", u8::from(r.up()));
    let name = "coregate_redis_failures_total";
    help(
        out,
        name,
        "counter",
        "Failed connects, lost connections and timed-out requests to Redis.",
    );
    let _ = writeln!(out, "{name} {}", r.failures());
}

/// The label of listener `i`: its address, or its index when unknown.
fn listener_label(shared: &Shared, i: usize) -> String {
    shared
        .listen
        .get(i)
        .map_or_else(|| i.to_string(), |a| a.to_string())
}

/// Requests of cached routes by cache outcome, and the store's bytes.
fn route_cache(out: &mut String, shared: &Shared, reports: &[ShardReport]) {
    let mut by_route: BTreeMap<&str, [u64; 6]> = BTreeMap::new();
    for route in reports.iter().flat_map(|r| &r.routes) {
        if route.cache.iter().all(|&n| n == 0) {
            continue;
        }
        let t = by_route.entry(&route.name).or_default();
        t.iter_mut().zip(route.cache).for_each(|(t, n)| *t += n);
    }
    let name = "coregate_cache_requests_total";
    let text = "Requests of cached routes, by route and cache result (hit, stale, revalidated, collapsed, miss, pass).";
    help(out, name, "counter", text);
    for (route, counts) in &by_route {
        for (o, n) in crate::cache::OUTCOMES.iter().zip(counts) {
            let (route, result) = (esc(route), o.as_str());
            let _ = writeln!(out, "{name}{{route=\"{route}\",result=\"{result}\"}} {n}");
        }
    }
    let (bytes, capacity, urls) = shared.published.load().cache.usage();
    let gauges = [
        (
            "coregate_cache_bytes",
            "Bytes the response cache holds.",
            bytes,
        ),
        (
            "coregate_cache_capacity_bytes",
            "The response cache's memory budget.",
            capacity,
        ),
        (
            "coregate_cache_urls",
            "URLs the response cache holds (variants together).",
            urls as u64,
        ),
    ];
    for (name, text, v) in gauges {
        help(out, name, "gauge", text);
        let _ = writeln!(out, "{name} {v}");
    }
}

fn route_bytes(out: &mut String, reports: &[ShardReport]) {
    let by_route = route_byte_totals(reports);
    let rows: [Row<(u64, u64)>; 2] = [
        (
            "coregate_route_bytes_received_total",
            "Request bytes read from clients, by route.",
            |t| t.0,
        ),
        (
            "coregate_route_bytes_sent_total",
            "Response bytes written to clients, by route.",
            |t| t.1,
        ),
    ];
    for (name, text, get) in rows {
        help(out, name, "counter", text);
        for (route, t) in &by_route {
            let _ = writeln!(out, "{name}{{route=\"{}\"}} {}", esc(route), get(t));
        }
    }
}

/// Every route's bytes received and sent, summed over the shards.
fn route_byte_totals(reports: &[ShardReport]) -> BTreeMap<&str, (u64, u64)> {
    let mut by_route: BTreeMap<&str, (u64, u64)> = BTreeMap::new();
    for route in reports.iter().flat_map(|r| &r.routes) {
        let t = by_route.entry(&route.name).or_default();
        t.0 += route.bytes_in;
        t.1 += route.bytes_out;
    }
    by_route
}

fn upstream_connections(out: &mut String, reports: &[ShardReport]) {
    let name = "coregate_upstream_connections";
    help(
        out,
        name,
        "gauge",
        "Upstream connections open, by shard and state (active or idle in the pool).",
    );
    for r in reports {
        let active = r.upstream_open.saturating_sub(r.upstream_idle);
        let _ = writeln!(
            out,
            "{name}{{shard=\"{}\",state=\"active\"}} {active}",
            r.shard
        );
        let _ = writeln!(
            out,
            "{name}{{shard=\"{}\",state=\"idle\"}} {}",
            r.shard, r.upstream_idle
        );
    }
}

fn kinds(out: &mut String, reports: &[ShardReport]) {
    kind_counter(
        out,
        "coregate_errors_total",
        "Requests that ended in a coregate error, by kind.",
        kind_totals(reports, |r| &r.errors),
    );
    kind_counter(
        out,
        "coregate_parse_errors_total",
        "Requests rejected by the HTTP parser, by kind.",
        kind_totals(reports, |r| &r.parse_errors),
    );
}

/// One count-by-kind table of the reports, summed over the shards.
fn kind_totals(
    reports: &[ShardReport],
    table: fn(&ShardReport) -> &[(&'static str, u64)],
) -> BTreeMap<&'static str, u64> {
    let mut totals = BTreeMap::new();
    for (k, v) in reports.iter().flat_map(table) {
        *totals.entry(*k).or_default() += v;
    }
    totals
}

/// A counter by kind: its help lines, then one series per kind.
fn kind_counter(out: &mut String, name: &str, text: &str, totals: BTreeMap<&str, u64>) {
    help(out, name, "counter", text);
    for (k, v) in totals {
        let _ = writeln!(out, "{name}{{kind=\"{k}\"}} {v}");
    }
}

fn merge(into: &mut Option<Latency>, h: &Option<Latency>) {
    if let Some(h) = h {
        match into {
            Some(m) => {
                let _ = m.add(h);
            }
            None => *into = Some(h.clone()),
        }
    }
}

fn histogram(out: &mut String, name: &str, label: &str, value: &str, h: &Latency) {
    let value = esc(value);
    let mut cumulative = 0;
    for (le, n) in BUCKETS.iter().zip(bucket_counts(h)) {
        cumulative += n;
        let _ = writeln!(
            out,
            "{name}_bucket{{{label}=\"{value}\",le=\"{le}\"}} {cumulative}"
        );
    }
    let count = h.len();
    let sum = h.mean() * count as f64 / 1e6;
    let _ = writeln!(
        out,
        "{name}_bucket{{{label}=\"{value}\",le=\"+Inf\"}} {count}"
    );
    let _ = writeln!(out, "{name}_sum{{{label}=\"{value}\"}} {sum}");
    let _ = writeln!(out, "{name}_count{{{label}=\"{value}\"}} {count}");
}

/// How many recorded values fall in each bucket (not cumulative).
fn bucket_counts(h: &Latency) -> [u64; BUCKETS.len()] {
    // One pass over the recorded values, not one range query per bucket.
    let mut counts = [0u64; BUCKETS.len()];
    for v in h.iter_recorded() {
        let secs = h.highest_equivalent(v.value_iterated_to()) as f64 / 1e6;
        if let Some(i) = BUCKETS.iter().position(|&le| secs <= le) {
            counts[i] += v.count_since_last_iteration();
        }
    }
    counts
}

/// Every route's duration histogram, merged over the shards.
fn route_durations(reports: &[ShardReport]) -> BTreeMap<&str, Option<Latency>> {
    let mut by_route: BTreeMap<&str, Option<Latency>> = BTreeMap::new();
    for route in reports.iter().flat_map(|r| &r.routes) {
        merge(by_route.entry(&route.name).or_default(), &route.duration);
    }
    by_route
}

fn durations(out: &mut String, reports: &[ShardReport]) {
    let by_route = route_durations(reports);
    let name = "coregate_request_duration_seconds";
    help(
        out,
        name,
        "histogram",
        "Time from request head received to response sent, by route.",
    );
    for (route, h) in by_route {
        if let Some(h) = h {
            histogram(out, name, "route", route, &h);
        }
    }
}

/// Configuration reloads, by result.
fn reloads(out: &mut String, shared: &Shared) {
    help(
        out,
        "coregate_reloads_total",
        "counter",
        "Configuration reloads, by result.",
    );
    let ok = shared.reloads.ok.load(Ordering::Relaxed);
    let failed = shared.reloads.failed.load(Ordering::Relaxed);
    let _ = writeln!(out, "coregate_reloads_total{{result=\"ok\"}} {ok}");
    let _ = writeln!(out, "coregate_reloads_total{{result=\"failed\"}} {failed}");
}

/// The access store: whether it reads, failed reads, the revision served.
fn store(out: &mut String, shared: &Shared) {
    let s = &shared.store;
    if !s.configured.load(Ordering::Relaxed) {
        return;
    }
    let gauges = [
        (
            "coregate_store_up",
            "gauge",
            "1 if the last read of the access store worked.",
            u64::from(s.up.load(Ordering::Relaxed)),
        ),
        (
            "coregate_store_failures_total",
            "counter",
            "Reads of the access store that failed.",
            s.failures.load(Ordering::Relaxed),
        ),
        (
            "coregate_store_revision",
            "gauge",
            "The store revision the serving access policy was compiled from.",
            s.revision.load(Ordering::Relaxed),
        ),
        (
            "coregate_access_keys",
            "gauge",
            "API keys in the serving access policy.",
            s.keys.load(Ordering::Relaxed),
        ),
    ];
    for (name, kind, text, value) in gauges {
        help(out, name, kind, text);
        let _ = writeln!(out, "{name} {value}");
    }
}

fn control(out: &mut String, shared: &Shared, reports: &[ShardReport]) {
    reloads(out, shared);
    store(out, shared);
    help(
        out,
        "coregate_snapshot_version",
        "gauge",
        "Version of the routing snapshot being served.",
    );
    let _ = writeln!(
        out,
        "coregate_snapshot_version {}",
        shared.published.version()
    );
    shards(out, shared, reports);
}

/// Access-log drops and how many shards run and answered the scrape.
fn shards(out: &mut String, shared: &Shared, reports: &[ShardReport]) {
    help(
        out,
        "coregate_access_log_dropped_total",
        "counter",
        "Access-log lines dropped because the queue was full.",
    );
    let dropped: u64 = reports.iter().map(|r| r.access_log_dropped).sum();
    let _ = writeln!(out, "coregate_access_log_dropped_total {dropped}");
    help(
        out,
        "coregate_shards",
        "gauge",
        "Shards (pinned executors) running.",
    );
    let _ = writeln!(out, "coregate_shards {}", shared.metrics.len());
    help(
        out,
        "coregate_shards_reporting",
        "gauge",
        "Shards that answered this scrape.",
    );
    let _ = writeln!(out, "coregate_shards_reporting {}", reports.len());
}
