//! The `ai` benchmark (`perf-tests/run.sh --scenario ai`, binary
//! `ai-bench`): coregate's AI front end against the repo's mock provider,
//! on the shared/BENCH.md layout (mock and load on CPU 0, coregate alone on
//! CPU 1). Six scenarios: added latency at concurrency 1 (OpenAI and
//! Anthropic), added time to first token, CPU per translated SSE frame,
//! 10,000 concurrent streams (frames kept, RSS per stream), and requests per
//! second on one core with auth, a token quota and logging on. It prints a
//! markdown report and writes it to `perf-tests/results/YYYY-MM-DD-ai.md`.
//!
//! A full run takes about 2 minutes on the 2-core VM; `--quick` about 15 s.

pub mod client;
pub mod http;
pub mod latency;
pub mod load;
pub mod measure;
pub mod multi;
pub mod procs;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::ai::client::Budget;
use crate::ai::procs::{Binaries, Gateway, MockShape};
use crate::compare::setup::{self, Machine};

/// Every scenario, in the order they run.
pub const SCENARIOS: [&str; 6] = [
    "openai-c1",
    "anthropic-c1",
    "stream-ttft",
    "stream-cpu",
    "streams-10k",
    "rps-core",
];
/// Open files the load (10,000 streams) and coregate (twice that) need.
const FD_LIMIT: u64 = 65_536;
/// Descriptors coregate holds besides its connections.
const FD_HEADROOM: u64 = 256;

/// How long and how much each scenario runs.
#[derive(Debug, Clone, Copy)]
pub struct Sizes {
    /// Concurrency-1 requests per side.
    pub c1: Budget,
    /// Concurrency-1 warm-up per side.
    pub c1_warmup: Budget,
    /// Warm-up of the closed-loop scenarios.
    pub warmup: Duration,
    /// Counted window of the closed-loop scenarios.
    pub window: Duration,
    /// Streams of `streams-10k`.
    pub streams: usize,
    /// Words of its slow mock.
    pub slow_words: usize,
    /// Frame delay of its slow mock.
    pub slow_delay_ms: u64,
}

// === impl Sizes ===

impl Sizes {
    /// The full run (about 2 minutes).
    pub fn full() -> Self {
        Self {
            c1: Budget {
                count: 20_000,
                time: Duration::from_secs(10),
            },
            c1_warmup: Budget {
                count: 1_000,
                time: Duration::from_secs(1),
            },
            warmup: Duration::from_secs(2),
            window: Duration::from_secs(10),
            streams: 10_000,
            slow_words: 20,
            slow_delay_ms: 200,
        }
    }

    /// About a second per scenario, for a smoke test.
    pub fn quick() -> Self {
        Self {
            c1: Budget {
                count: 2_000,
                time: Duration::from_millis(500),
            },
            c1_warmup: Budget {
                count: 100,
                time: Duration::from_millis(100),
            },
            warmup: Duration::from_millis(200),
            window: Duration::from_secs(1),
            streams: 500,
            slow_words: 10,
            slow_delay_ms: 50,
        }
    }
}

/// One scenario's part of the report.
#[derive(Debug, Clone)]
pub struct Section {
    /// The scenario.
    pub name: String,
    /// Its markdown, under its heading.
    pub markdown: String,
    /// One line for stdout.
    pub summary: String,
}

/// What every scenario shares.
#[derive(Debug)]
pub struct Ctx {
    /// The binaries under test.
    pub bins: Binaries,
    /// The sizes.
    pub sizes: Sizes,
    /// The scratch folder.
    pub root: PathBuf,
    /// The open-file limit every process runs under.
    pub fd_limit: u64,
}

// === impl Ctx ===

impl Ctx {
    /// A fresh folder for one scenario.
    pub fn dir(&self, name: &str) -> Result<PathBuf, String> {
        let dir = self.root.join(name);
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        Ok(dir)
    }

    /// Starts `mocks` mocks (the backends of coregate's upstream `mock`) and
    /// a coregate for `name`, runs `body(coregate address, coregate pid)`,
    /// stops them all.
    pub fn with_pair(
        &self,
        name: &str,
        shape: MockShape,
        mocks: usize,
        gw: &Gateway,
        body: impl FnOnce(SocketAddr, u32) -> Result<Section, String>,
    ) -> Result<Section, String> {
        let dir = self.dir(name)?;
        let mut started = Vec::new();
        let mut out = Ok(());
        for i in 0..mocks.max(1) {
            match procs::start_mock_on(&self.bins, &dir, shape, i % 2) {
                Ok(m) => started.push(m),
                Err(e) => {
                    out = Err(e);
                    break;
                }
            }
        }
        let addrs: Vec<SocketAddr> = started.iter().map(|m| m.addr).collect();
        let out = out.and_then(|()| {
            procs::start_gateway(&self.bins, &dir, gw, &addrs).and_then(|g| {
                let res = body(g.addr, g.proc.pid());
                g.proc.stop();
                res
            })
        });
        for m in started {
            m.proc.stop();
        }
        out
    }
}

/// What the binary was asked.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// About a second per scenario.
    pub quick: bool,
    /// Scenarios to run (empty: all).
    pub only: Vec<String>,
    /// Use the release binaries already built.
    pub no_build: bool,
    /// Where the report goes (default perf-tests/results/).
    pub out: Option<PathBuf>,
    /// The command line, for the report.
    pub command: String,
}

/// Runs the benchmark; returns the report's path.
pub fn run(opts: &Options) -> Result<PathBuf, String> {
    for name in &opts.only {
        if !SCENARIOS.contains(&name.as_str()) {
            return Err(format!(
                "unknown scenario {name} (known: {})",
                SCENARIOS.join(", ")
            ));
        }
    }
    let bins = procs::binaries(opts.no_build)?;
    let machine = Machine::current();
    pin_to_load_cpu()?;
    let fd_limit = bench::loadgen::raise_fd_limit(FD_LIMIT);
    let mut sizes = if opts.quick {
        Sizes::quick()
    } else {
        Sizes::full()
    };
    sizes.streams = sizes.streams.min(stream_capacity(fd_limit));
    let root = std::env::temp_dir().join(format!("coregate-ai-bench-{}", std::process::id()));
    std::fs::create_dir_all(&root).map_err(|e| format!("{}: {e}", root.display()))?;
    let ctx = Ctx {
        bins,
        sizes,
        root,
        fd_limit,
    };
    let sections = run_all(&ctx, opts);
    let _ = std::fs::remove_dir_all(&ctx.root);
    let report = report(opts, &machine, &sections, fd_limit);
    write_report(opts, &report)
}

/// Streams coregate can carry under the open-file limit: two descriptors
/// each (client and upstream), less room for its rings, listeners and logs.
pub fn stream_capacity(fd_limit: u64) -> usize {
    (fd_limit.saturating_sub(FD_HEADROOM) / 2) as usize
}

/// The load runs on CPU 0, beside the mock (the children set their own CPUs).
fn pin_to_load_cpu() -> Result<(), String> {
    pin_to(procs::LOAD_CPU)
}

/// Pins the calling thread (and the threads it starts) to `cpu`.
pub fn pin_to(cpu: usize) -> Result<(), String> {
    let mut set = rustix::thread::CpuSet::new();
    set.set(cpu);
    rustix::thread::sched_setaffinity(None, &set)
        .map_err(|e| format!("cannot pin to CPU {cpu}: {e}"))
}

/// A scenario's body.
type Scenario = fn(&Ctx) -> Result<Section, String>;

/// Every chosen scenario; a failed one becomes a section saying why.
fn run_all(ctx: &Ctx, opts: &Options) -> Vec<Section> {
    let runs: [(&str, Scenario); 6] = [
        ("openai-c1", latency::openai_c1),
        ("anthropic-c1", latency::anthropic_c1),
        ("stream-ttft", latency::stream_ttft),
        ("stream-cpu", load::stream_cpu),
        ("streams-10k", load::streams_10k),
        ("rps-core", load::rps_core),
    ];
    let mut out = Vec::new();
    for (name, f) in runs {
        if !opts.only.is_empty() && !opts.only.iter().any(|o| o == name) {
            continue;
        }
        eprintln!("ai-bench: {name} ...");
        let section = f(ctx).unwrap_or_else(|e| Section {
            name: name.to_owned(),
            markdown: format!("**Failed:** {e}\n"),
            summary: format!("FAILED: {}", e.lines().next().unwrap_or_default()),
        });
        println!("{name}: {}", section.summary);
        out.push(section);
    }
    out
}

/// The whole markdown report.
fn report(opts: &Options, m: &Machine, sections: &[Section], fd_limit: u64) -> String {
    let (date, time) = setup::utc_now();
    let load_end = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let mode = if opts.quick {
        "quick (about 1 s per scenario: a smoke test, not numbers to quote)"
    } else {
        "full"
    };
    let mut md = format!(
        "# AI front end benchmark, {date}\n\n\
         - date: {date} {time} UTC; commit {}\n- machine: {} CPUs, {}, {} GiB, kernel {}; load average at start {}, at the end {} (other work on the host moves the p99s most)\n\
         - command: `{}` ({mode})\n- layout (shared/BENCH.md): `ai-mock` (ai/mock) and the load generator (perf-tests/src/ai/, a Rust HTTP/1.1 keep-alive client) on CPU 0, coregate on CPU 1 unless said; loopback only; open-file limit {fd_limit}\n\
         - CPU is read from /proc/PID/stat (utime, stime; {} ticks/s) and /proc/PID/task/*/schedstat; RSS from /proc/PID/status\n\n\
         ## Summary\n\n",
        setup::git_commit(),
        m.nproc,
        m.cpu_model,
        m.memory_gib,
        m.kernel,
        m.loadavg_at_start,
        load_end.trim(),
        opts.command,
        crate::procfs::ticks_per_second(),
    );
    for s in sections {
        md.push_str(&format!("- **{}**: {}\n", s.name, s.summary));
    }
    for s in sections {
        md.push_str(&format!("\n## {}\n\n{}", s.name, s.markdown));
    }
    md
}

/// Writes `perf-tests/results/YYYY-MM-DD-ai.md` (quick runs: under the
/// ignored `results/tmp/`).
fn write_report(opts: &Options, report: &str) -> Result<PathBuf, String> {
    let results = setup::workspace_root().join("perf-tests/results");
    let default = if opts.quick {
        results.join("tmp")
    } else {
        results
    };
    let dir = opts.out.clone().unwrap_or(default);
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let (date, _) = setup::utc_now();
    let path = dir.join(format!("{date}-ai.md"));
    std::fs::write(&path, report).map_err(|e| format!("{}: {e}", path.display()))?;
    println!("\n{report}");
    Ok(path)
}
