//! The many-connection scenarios: `stream-cpu` (coregate's CPU per
//! translated SSE frame, 64 streams of 200 words), `streams-10k` (10,000
//! slow streams at once: every frame delivered, RSS per stream) and
//! `rps-core` (AI requests per second on one core with auth, a token quota
//! and the access log on). Measured on the 2-core VM: see results/*-ai.md.

use std::net::SocketAddr;
use std::time::Duration;

use crate::ai::client;
use crate::ai::http::{Api, Call};
use crate::ai::latency::check;
use crate::ai::measure::{self, verdict, Cpu, Percentiles};
use crate::ai::multi::{self, Mark, Plan, Tally};
use crate::ai::procs::{self, Gateway, MockShape};
use crate::ai::{Ctx, Section};
use crate::compare::{access, scenarios::Credential};

/// Streams in `stream-cpu`.
const CPU_STREAMS: usize = 64;
/// Connections in `rps-core`.
const RPS_CONNS: usize = 32;
/// How often `streams-10k` reads coregate's RSS.
const RSS_EVERY: Duration = Duration::from_millis(50);
/// `streams-10k` opens this many streams every [`OPEN_EVERY`] (10,000/s):
/// small bursts, so that the mocks' listen queues (128, Rust's std) keep up.
const OPEN_BATCH: usize = 100;
/// See [`OPEN_BATCH`].
const OPEN_EVERY: Duration = Duration::from_millis(10);
/// The longest counted window of `streams-10k`.
const STREAMS_WINDOW: Duration = Duration::from_secs(90);

/// A streamed `claude/m` chat through coregate.
fn claude_stream(gw: SocketAddr, stream: bool, headers: &[String]) -> Vec<u8> {
    let call = Call {
        api: Api::OpenAi,
        prefix: "/ai",
        model: "claude/m",
        stream,
        headers,
    };
    call.bytes(gw)
}

/// Runs `plan` against coregate `pid`, with its CPU over the counted window.
fn with_cpu(plan: &Plan, pid: u32) -> Result<(Tally, Cpu), String> {
    let mut before = measure::cpu_now(pid);
    let mut cpu = Cpu::default();
    let tally = multi::run(plan, &mut |m| match m {
        Mark::Start => before = measure::cpu_now(pid),
        Mark::End => cpu = Cpu::since(pid, &before),
        Mark::Tick(_) => {}
    })?;
    Ok((tally, cpu))
}

/// `stream-cpu`: 64 closed-loop streams of 200 words, `claude/m`.
pub fn stream_cpu(ctx: &Ctx) -> Result<Section, String> {
    let shape = MockShape {
        words: 200,
        frame_delay_ms: 0,
    };
    let gw = Gateway {
        shards: 1,
        ..Gateway::default()
    };
    ctx.with_pair("stream-cpu", shape, 1, &gw, |gw_addr, pid| {
        let request = claude_stream(gw_addr, true, &[]);
        let (_, per_stream, done) = check(gw_addr, &request, "coregate")?;
        let plan = closed_loop(ctx, gw_addr, CPU_STREAMS, request);
        let (t, cpu) = with_cpu(&plan, pid)?;
        Ok(stream_cpu_section(&t, &cpu, per_stream, done))
    })
}

fn closed_loop(ctx: &Ctx, addr: SocketAddr, conns: usize, request: Vec<u8>) -> Plan {
    Plan {
        addr,
        conns,
        request,
        warmup: ctx.sizes.warmup,
        measure: ctx.sizes.window,
        repeat: true,
        open_batch: conns,
        open_every: Duration::ZERO,
    }
}

fn stream_cpu_section(t: &Tally, cpu: &Cpu, per_stream: u64, done: bool) -> Section {
    let secs = t.elapsed.as_secs_f64();
    let per_frame = (cpu.user_us + cpu.sys_us) / t.frames.max(1) as f64;
    let md = format!(
        "{CPU_STREAMS} concurrent streams, closed loop, `claude/m` (Anthropic events translated to OpenAI chunks); mock `--words 200` and load on CPU {}, coregate 1 shard on CPU {}, access log off. One stream is {per_stream} frames to the client ([DONE]: {done}).\n\n\
         | streams done | frames | frames/s | errors | coregate busy | CPU µs per frame: user / sys / total (schedstat) |\n|---|---|---|---|---|---|\n\
         | {} | {} | {:.0} | {} | {:.2} | {} |\n\n- CPU per translated SSE frame (user + sys): {per_frame:.3} µs {}\n",
        procs::LOAD_CPU,
        procs::PROXY_CPU,
        t.ok,
        t.frames,
        t.frames as f64 / secs.max(1e-9),
        t.connect_errors + t.errors + t.bad_status,
        cpu.busy(secs),
        cpu.per(t.frames),
        verdict(per_frame, 1.0, "µs"),
    );
    Section {
        name: "stream-cpu".into(),
        markdown: md,
        summary: format!(
            "{per_frame:.3} µs CPU per frame ({} user / sys / sched)",
            cpu.per(t.frames)
        ),
    }
}

/// `streams-10k`: many slow streams at once through a 2-shard coregate.
pub fn streams_10k(ctx: &Ctx) -> Result<Section, String> {
    let shape = MockShape {
        words: ctx.sizes.slow_words,
        frame_delay_ms: ctx.sizes.slow_delay_ms,
    };
    let n = ctx.sizes.streams;
    // Per shard, and SO_REUSEPORT need not split evenly: each shard may take
    // every stream, so each is allowed all of them.
    let gw = Gateway {
        shards: 2,
        max_connections: n.max(procs::COREGATE_DEFAULT_MAX_CONNECTIONS),
        ..Gateway::default()
    };
    let mocks = procs::mocks_needed(n + 1, ctx.fd_limit);
    ctx.with_pair("streams-10k", shape, mocks, &gw, |gw_addr, pid| {
        let request = claude_stream(gw_addr, true, &[]);
        let probe = std::thread::spawn({
            let request = request.clone();
            move || client::probe_within(gw_addr, &request, STREAMS_WINDOW)
        });
        let (t, rss) = many_streams(ctx, gw_addr, pid, request)?;
        let probe = probe.join().map_err(|_| "the probe panicked")?;
        let setup = Setup {
            mocks,
            max_connections: gw.max_connections,
        };
        Ok(streams_section(ctx, &t, &rss, &probe, &setup))
    })
}

/// How `streams-10k` was set up.
struct Setup {
    mocks: usize,
    max_connections: usize,
}

/// RSS readings of a `streams-10k` run, KiB.
struct Rss {
    before: u64,
    peak: u64,
    open_at_peak: usize,
    max_open: usize,
}

fn many_streams(
    ctx: &Ctx,
    addr: SocketAddr,
    pid: u32,
    request: Vec<u8>,
) -> Result<(Tally, Rss), String> {
    let n = ctx.sizes.streams;
    let plan = Plan {
        addr,
        conns: n,
        request,
        warmup: Duration::ZERO,
        measure: STREAMS_WINDOW,
        repeat: false,
        open_batch: OPEN_BATCH,
        open_every: OPEN_EVERY,
    };
    let mut rss = Rss {
        before: measure::rss_kib(pid),
        peak: 0,
        open_at_peak: 0,
        max_open: 0,
    };
    let mut last = std::time::Instant::now();
    let tally = multi::run(&plan, &mut |m| {
        if let Mark::Tick(open) = m {
            rss.max_open = rss.max_open.max(open);
            if last.elapsed() >= RSS_EVERY {
                last = std::time::Instant::now();
                let now = measure::rss_kib(pid);
                if now > rss.peak {
                    (rss.peak, rss.open_at_peak) = (now, open);
                }
            }
        }
    })?;
    Ok((tally, rss))
}

fn streams_section(
    ctx: &Ctx,
    t: &Tally,
    rss: &Rss,
    probe: &Result<(u16, u64, bool, String), String>,
    setup: &Setup,
) -> Section {
    let n = ctx.sizes.streams as u64;
    // The probe (one more stream, alone on its connection) says how many
    // frames a whole stream has; failing that, the commonest complete shape.
    let (expected, probe_note) = match probe {
        Ok((200, frames, true, _)) => (*frames, String::new()),
        other => {
            let why = match other {
                Ok((_, _, _, answer)) => answer.clone(),
                Err(e) => e.clone(),
            };
            let common = t
                .shapes
                .iter()
                .filter(|((_, done), _)| *done)
                .max_by_key(|(_, c)| **c)
                .map_or(0, |((f, _), _)| *f);
            (common, format!("\n- The probe stream failed ({why}); a whole stream is taken to be the commonest shape, {common} frames.\n"))
        }
    };
    let whole = t.shapes.get(&(expected, true)).copied().unwrap_or(0);
    let shapes: Vec<String> = t
        .shapes
        .iter()
        .map(|((f, d), c)| format!("{c} × {f} frames{}", if *d { " + [DONE]" } else { "" }))
        .collect();
    let per_stream = rss.peak.saturating_sub(rss.before) as f64 / rss.open_at_peak.max(1) as f64;
    let dropped = if whole == n {
        "**no frame dropped**".to_owned()
    } else {
        format!("**{} of {n} streams incomplete**", n - whole)
    };
    let mut md = format!(
        "{n} concurrent streamed `claude/m` calls{}, opened {OPEN_BATCH} per {} ms; {} mock{} (`--words {} --frame-delay-ms {}`, round robin behind coregate's upstream `mock`, on CPUs 0 and 1 in turn: one mock holds 3 descriptors per connection, so one alone would run out of descriptors at about {} connections, and its thread per connection naps in 10 ms slices, about 1M wakeups/s at 10,000 streams, which saturates both CPUs and stretches the streams); the load on CPU {}; coregate **2 shards on CPUs 0 and 1**, `server.max_connections = {}` per shard (coregate's default is {}). One stream is {expected} frames + [DONE].\n\n\
         | streams | complete ({expected} frames + [DONE]) | connect errors | errors | not 200 | unfinished | most open at once | RSS before KiB | RSS peak KiB | open at peak | RSS per stream KiB |\n|---|---|---|---|---|---|---|---|---|---|---|\n\
         | {n} | {whole} | {} | {} | {} | {} | {} | {} | {} | {} | {per_stream:.1} |\n\n- Frames per stream seen: {}\n- {dropped}; RSS per stream {per_stream:.1} KiB {}\n",
        capped(ctx),
        OPEN_EVERY.as_millis(),
        setup.mocks,
        if setup.mocks == 1 { "" } else { "s" },
        ctx.sizes.slow_words,
        ctx.sizes.slow_delay_ms,
        ctx.fd_limit.saturating_sub(64) / procs::MOCK_FDS_PER_CONN,
        procs::LOAD_CPU,
        setup.max_connections,
        procs::COREGATE_DEFAULT_MAX_CONNECTIONS,
        t.connect_errors,
        t.errors,
        t.bad_status,
        t.unfinished,
        rss.max_open,
        rss.before,
        rss.peak,
        rss.open_at_peak,
        if shapes.is_empty() { "none".to_owned() } else { shapes.join(", ") },
        verdict(per_stream, 16.0, "KiB"),
    );
    let d = Percentiles::of(&t.hist);
    md.push_str(&format!(
        "- Stream duration (open to [DONE] or the error answer): p50 {:.2} s, p99 {:.2} s, max {:.2} s (a stream that waited in a listen queue shows here)\n",
        d.p50 / 1e6,
        d.p99 / 1e6,
        t.hist.max() as f64 / 1e9,
    ));
    md.push_str(&failures_md(t));
    md.push_str(&probe_note);
    Section {
        name: "streams-10k".into(),
        markdown: md,
        summary: format!(
            "{whole}/{n} streams complete ({} connect errors, {} errors, {} not 200), {per_stream:.1} KiB RSS per stream",
            t.connect_errors, t.errors, t.bad_status
        ),
    }
}

/// The failed streams: non-200 answers by status with their first bodies,
/// and connection failures by cause.
fn failures_md(t: &Tally) -> String {
    let mut md = String::new();
    if !t.bad_by_status.is_empty() {
        let by: Vec<String> = t
            .bad_by_status
            .iter()
            .map(|(s, c)| format!("{c} × {s}"))
            .collect();
        md.push_str(&format!("- Answers not 200: {}\n", by.join(", ")));
        for e in &t.bad_examples {
            md.push_str(&format!("  - `{e}`\n"));
        }
    }
    if !t.failures.is_empty() {
        let by: Vec<String> = t
            .failures
            .iter()
            .map(|(why, c)| format!("{c} × {why}"))
            .collect();
        md.push_str(&format!("- Connection failures: {}\n", by.join(", ")));
    }
    md
}

/// Why the stream count is below 10,000, if it is.
fn capped(ctx: &Ctx) -> String {
    let cap = crate::ai::stream_capacity(ctx.fd_limit);
    if ctx.sizes.streams < cap {
        return String::new();
    }
    format!(
        " (**not 10,000**: the open-file hard limit here is {} and cannot be raised, and coregate holds 2 descriptors per stream)",
        ctx.fd_limit
    )
}

/// The access store and policy `rps-core` runs with: (gateway, header, what was on).
fn rps_gateway(
    ctx: &Ctx,
    dir: &std::path::Path,
    mock: SocketAddr,
) -> (Gateway, Vec<String>, String) {
    let quota = "[[rate_limits]]\nname = \"tpd\"\nquota = \"1000000000/day\"\nunit = \"tokens\"\nkey = \"route\"\n";
    let mut gw = Gateway {
        shards: 1,
        access_log: Some(dir.join("access.log")),
        extra: quota.to_owned(),
        route: "rate_limits = [\"tpd\"]".to_owned(),
        ..Gateway::default()
    };
    let data = dir.join("access");
    let seeded = access::seed(&ctx.bins.coregate, &data, &mock.to_string());
    let header = access::header(Credential::Key).filter(|_| seeded.is_ok());
    let Some(header) = header else {
        let why = seeded.err().unwrap_or_default();
        return (gw, Vec::new(), format!("token quota `tpd` and access log on; **auth off** (the access store could not be seeded: {why})"));
    };
    gw.extra.push_str(&format!(
        "\n[access]\ndata_dir = \"{}\"\napi = \"off\"\n",
        data.display()
    ));
    gw.route.push_str("\nservice = \"bench\"");
    let on = "auth on (access store service `bench`, an app key in `x-api-key` checked on every request), token quota `tpd` (1e9 tokens/day, key `route`, reserved and settled per call) and the access log to a file".to_owned();
    (gw, vec![header], on)
}

/// `rps-core`: closed loop, 32 connections, non-streamed `claude/m`, one shard.
pub fn rps_core(ctx: &Ctx) -> Result<Section, String> {
    let shape = MockShape {
        words: 8,
        frame_delay_ms: 0,
    };
    let dir = ctx.dir("rps-core")?;
    let mock = procs::start_mock(&ctx.bins, &dir, shape)?;
    let (gw, headers, on) = rps_gateway(ctx, &dir, mock.addr);
    let log = dir.join("access.log");
    let out = procs::start_gateway(&ctx.bins, &dir, &gw, &[mock.addr]).and_then(|g| {
        let request = claude_stream(g.addr, false, &headers);
        let res = check(g.addr, &request, "coregate").and_then(|_| {
            let plan = closed_loop(ctx, g.addr, RPS_CONNS, request);
            with_cpu(&plan, g.proc.pid())
        });
        g.proc.stop();
        res
    });
    mock.proc.stop();
    let (t, cpu) = out?;
    Ok(rps_section(&t, &cpu, &on, &log))
}

fn rps_section(t: &Tally, cpu: &Cpu, on: &str, log: &std::path::Path) -> Section {
    let secs = t.elapsed.as_secs_f64();
    let rps = t.ok as f64 / secs.max(1e-9);
    let lines = std::fs::read_to_string(log).map_or(0, |s| s.lines().count());
    let p = Percentiles::of(&t.hist);
    let md = format!(
        "{RPS_CONNS} connections, closed loop, non-streamed OpenAI chat to `claude/m` (translated to Anthropic Messages and back); coregate 1 shard on CPU {}; mock (8 words) and load on CPU {}. On: {on}. Access log lines written: {lines}.\n\n\
         | requests | req/s | not 200 | errors | p50 µs | p99 µs | coregate busy | CPU µs per request: user / sys / total (schedstat) |\n|---|---|---|---|---|---|---|---|\n\
         | {} | {rps:.0} | {} | {} | {:.0} | {:.0} | {:.2} | {} |\n\n\
         - CPU 0 (mock + load) is the bottleneck when coregate's busy fraction is well under 1: req/s then understates one core's capacity, and the CPU per request is the figure to read (1e6 / total µs per request = the rate one busy core would serve).\n",
        procs::PROXY_CPU,
        procs::LOAD_CPU,
        t.ok,
        t.bad_status,
        t.connect_errors + t.errors,
        p.p50,
        p.p99,
        cpu.busy(secs),
        cpu.per(t.ok),
    );
    let per = (cpu.user_us + cpu.sys_us) / t.ok.max(1) as f64;
    Section {
        name: "rps-core".into(),
        markdown: md,
        summary: format!(
            "{rps:.0} req/s, {per:.1} µs CPU per request ({} user / sys / sched)",
            cpu.per(t.ok)
        ),
    }
}
