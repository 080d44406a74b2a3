//! The side-by-side comparison (shared/BENCH.md): the origin and the load
//! generator on CPU 0, each proxy alone on CPU 1, identical loads,
//! interleaved A B C A B C …, every proxy restarted every round.

pub mod access;
pub mod instructions;
pub mod output;
pub mod peers;
pub mod plot;
pub mod runner;
pub mod scenarios;
pub mod setup;

use std::path::{Path, PathBuf};
use std::time::Duration;

use output::{Context, ProxyResult, ScenarioResult, Status};
use peers::{Kind, Origin, Proxy, LOAD_CPU, PROXY_CPU};
use runner::{Bench, Generator, Run, Timing};
use scenarios::{Load, Scenario};
use setup::Scratch;

/// Rounds per proxy by default (shared/BENCH.md: at least 5).
pub const DEFAULT_ROUNDS: usize = 5;
/// Measured run length by default.
pub const DEFAULT_DURATION: Duration = Duration::from_secs(10);
/// Warm-up before each measured run by default.
pub const DEFAULT_WARMUP: Duration = Duration::from_secs(3);
/// `--quick`: one round of this length per proxy and scenario.
pub const QUICK_DURATION: Duration = Duration::from_secs(2);
/// `--quick` warm-up.
pub const QUICK_WARMUP: Duration = Duration::from_millis(500);
/// Open-file limit the harness gives itself and its children.
const FD_LIMIT: u64 = 65_536;

/// What to run, validated.
#[derive(Debug, Clone)]
pub struct Options {
    /// One short round of every scenario, results in perf-tests/results/tmp/.
    pub quick: bool,
    /// apt-get install the peers first.
    pub install: bool,
    /// Scenario names; empty = all.
    pub scenarios: Vec<String>,
    /// Rounds per proxy.
    pub rounds: usize,
    /// Measured run length.
    pub duration: Duration,
    /// Warm-up length.
    pub warmup: Duration,
    /// Results folder; default perf-tests/results/ (its tmp/<time>/ with `quick`).
    pub out: Option<PathBuf>,
    /// Proxies to leave out.
    pub skip: Vec<String>,
    /// Do not run cargo build.
    pub no_build: bool,
    /// Count user-space instructions per request under callgrind instead
    /// of measuring CPU time (see [`instructions`]).
    pub instructions: bool,
    /// The command line, for the record.
    pub command: String,
}

/// What a finished comparison reports.
#[derive(Debug, Default)]
pub struct Verdict {
    /// Files written.
    pub files: Vec<PathBuf>,
    /// Problems that make the run a failure.
    pub failures: Vec<String>,
    /// Proxies that could not run.
    pub missing: Vec<String>,
}

/// Runs the comparison.
pub fn run(options: &Options) -> Result<Verdict, String> {
    if options.install {
        setup::install_peers()?;
    }
    let fd_limit = bench::loadgen::raise_fd_limit(FD_LIMIT);
    let mut verdict = Verdict::default();
    let selected = selection(options)?;
    let engine_build = build(options, selected.iter().any(Scenario::is_tls))?;
    let generator = Generator {
        binary: setup::release_dir().join("coregate-bench"),
    };
    let tls_generator = Generator {
        binary: setup::release_dir().join("tls-load"),
    };
    if !generator.binary.is_file() {
        return Err(format!(
            "{} is missing: cargo build --release -p bench",
            generator.binary.display()
        ));
    }
    let mut proxies = Proxy::all(&options.skip);
    if let (Err(e), Some(coregate)) = (
        &engine_build,
        proxies.iter_mut().find(|p| p.name == "coregate"),
    ) {
        let first_error = e
            .lines()
            .find(|l| l.starts_with("error"))
            .unwrap_or("see cargo's output");
        coregate.missing = Some(format!(
            "cargo build --release -p engine failed ({first_error})"
        ));
    }
    for proxy in proxies.iter().filter(|p| p.missing.is_some()) {
        eprintln!(
            "compare: {}: {}",
            proxy.name,
            proxy.missing.as_deref().unwrap_or_default()
        );
        verdict.missing.push(proxy.name.to_owned());
    }
    if proxies.iter().all(|p| p.missing.is_some()) {
        return Err("no proxy to measure".into());
    }
    let scratch = Scratch::create().map_err(|e| format!("scratch folder: {e}"))?;
    let tls = scratch.make_tls_material();
    let context = context(options);
    let out = out_dir(options, &context);
    let bench = Bench {
        scratch: &scratch,
        generator: &generator,
        tls_generator: &tls_generator,
        timing: timing(options),
        tls,
        fd_limit,
    };
    if options.instructions {
        let stem = free_stem(&out, &format!("{}-instructions", context.date));
        let (report, failed) = instructions::run(&bench, &proxies, &context, &out, &stem)?;
        print!("{}", std::fs::read_to_string(&report).unwrap_or_default());
        verdict.files.push(report);
        verdict.failures.extend(failed);
        return Ok(verdict);
    }
    if selected
        .iter()
        .any(|s| s.credential != scenarios::Credential::None)
    {
        seed_access(&proxies, &scratch);
    }
    let _redis = match selected.iter().any(|s| s.limit.redis()) {
        true => start_redis(&scratch),
        false => None,
    };
    for scenario in selected {
        let result = run_scenario(&bench, &scenario, &proxies, &context)?;
        check(&result, &mut verdict);
        print!("{}", result.markdown(None));
        let stem = free_stem(&out, &format!("{}-{}", context.date, scenario.name));
        verdict.files.extend(result.write(&out, &stem)?);
    }
    Ok(verdict)
}

/// Redis for the `limits-lease` and `limits-exact` scenarios, on the load
/// CPU, without persistence; `None` (those runs then fail open, which the
/// report shows as no Redis round trips) when it cannot start.
fn start_redis(scratch: &Scratch) -> Option<crate::proc::Pinned> {
    let bin = ["/usr/bin/redis-server", "/usr/local/bin/redis-server"]
        .into_iter()
        .map(std::path::PathBuf::from)
        .find(|p| p.exists());
    let Some(bin) = bin else {
        eprintln!("compare: no redis-server (apt-get install redis-server): the limits-lease and limits-exact runs count nothing in Redis");
        return None;
    };
    let port = scenarios::REDIS_ADDR.rsplit(':').next().unwrap_or("6399");
    let args = [
        "--port",
        port,
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "no",
    ]
    .map(str::to_owned);
    let log = scratch.path("logs/redis.log");
    match crate::proc::Pinned::spawn("redis", LOAD_CPU, &bin, &args, &log) {
        Ok(p) => {
            let addr = scenarios::REDIS_ADDR.parse().ok()?;
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
            while !crate::proc::port_accepts(addr) && std::time::Instant::now() < deadline {
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
            Some(p)
        }
        Err(e) => {
            eprintln!("compare: cannot start redis-server: {e}");
            None
        }
    }
}

/// The `access` scenario's store, made with the coregate under test (a
/// failure leaves coregate's runs of that scenario failing with 401s).
fn seed_access(proxies: &[Proxy], scratch: &Scratch) {
    let Some(coregate) = proxies.iter().find(|p| p.name == "coregate") else {
        return;
    };
    let Some(binary) = coregate
        .binary
        .as_deref()
        .filter(|_| coregate.missing.is_none())
    else {
        return;
    };
    let dir = access::data_dir(scratch);
    if let Err(e) = access::seed(binary, &dir, peers::ORIGIN_ADDR) {
        eprintln!("compare: cannot make the access scenario's store: {e}");
    }
}

/// The scenarios to run: those named, or all (all but the TLS ones with
/// `--quick`, see [`scenarios::quick_default`]).
fn selection(options: &Options) -> Result<Vec<Scenario>, String> {
    match options.quick && options.scenarios.is_empty() {
        true => scenarios::select(&scenarios::quick_default()),
        false => scenarios::select(&options.scenarios),
    }
}

/// Builds the generators (coregate-bench required, tls-load when a TLS
/// scenario runs: without it those are skipped) and the engine (optional).
fn build(options: &Options, tls: bool) -> Result<Result<(), String>, String> {
    if options.no_build {
        return Ok(Ok(()));
    }
    setup::cargo_build("bench").map_err(|e| format!("cannot build coregate-bench:\n{e}"))?;
    if tls {
        if let Err(e) = setup::cargo_build("perf-tests") {
            eprintln!("compare: cannot build tls-load, the TLS scenarios will be skipped:\n{e}");
        }
    }
    if let Err(e) = setup::cargo_build("io-floor") {
        eprintln!("compare: cannot build the raw forwarder, the floor will be missing:\n{e}");
    }
    let engine = setup::cargo_build("engine");
    if let Err(e) = &engine {
        eprintln!("compare: engine build failed, coregate will be reported missing:\n{e}");
    }
    Ok(engine)
}

fn timing(options: &Options) -> Timing {
    match options.quick {
        true => Timing {
            warmup: QUICK_WARMUP,
            duration: QUICK_DURATION,
        },
        false => Timing {
            warmup: options.warmup,
            duration: options.duration,
        },
    }
}

fn context(options: &Options) -> Context {
    let (date, time_utc) = setup::utc_now();
    let timing = timing(options);
    Context {
        date,
        time_utc,
        commit: setup::git_commit(),
        machine: setup::Machine::current(),
        command: options.command.clone(),
        peers: setup::peer_versions(),
        origin: String::new(),
        layout: format!("origin and coregate-bench (1 thread) on CPU {LOAD_CPU}, the proxy alone on CPU {PROXY_CPU}"),
        rounds: if options.quick { 1 } else { options.rounds },
        warmup_s: timing.warmup.as_secs_f64(),
        duration_s: timing.duration.as_secs_f64(),
        quick: options.quick,
        notes: Vec::new(),
    }
}

fn out_dir(options: &Options, context: &Context) -> PathBuf {
    if let Some(out) = &options.out {
        return out.clone();
    }
    let results = setup::workspace_root().join("perf-tests").join("results");
    match options.quick {
        true => results.join("tmp").join(format!(
            "{}-{}",
            context.date,
            context.time_utc.replace(':', "")
        )),
        false => results,
    }
}

/// `stem`, or `stem-2`, `stem-3`, … when an earlier batch took it.
fn free_stem(dir: &Path, stem: &str) -> String {
    let taken =
        |s: &str| dir.join(format!("{s}.json")).exists() || dir.join(format!("{s}.md")).exists();
    if !taken(stem) {
        return stem.to_owned();
    }
    (2..)
        .map(|n| format!("{stem}-{n}"))
        .find(|s| !taken(s))
        .unwrap_or_else(|| stem.to_owned())
}

fn run_scenario(
    bench: &Bench<'_>,
    scenario: &Scenario,
    proxies: &[Proxy],
    context: &Context,
) -> Result<ScenarioResult, String> {
    let mut context = context.clone();
    if let Some(why) = unrunnable(bench, scenario) {
        eprintln!("compare: {}: skipped: {why}", scenario.name);
        return Ok(ScenarioResult::new(
            context,
            scenario.clone(),
            Some(why),
            Vec::new(),
        ));
    }
    let proxies = &for_scenario(proxies, scenario);
    if scenario.is_tls() {
        context.layout = context.layout.replace("coregate-bench", "tls-load");
    }
    let scenario = &capped(scenario, bench.fd_limit, &mut context);
    let origin = Origin::start(
        bench.scratch,
        &bench.generator.binary,
        scenario.body_size,
        bench.tweaks(scenario),
    )
    .map_err(|e| format!("origin: {e}"))?;
    context.origin = origin.describe();
    debug_assert!(origin.serves(scenario.body_size));
    let mut runs: Vec<Vec<Run>> = vec![Vec::new(); proxies.len()];
    for round in 1..=context.rounds {
        for (index, proxy) in proxies
            .iter()
            .enumerate()
            .filter(|(_, p)| p.missing.is_none())
        {
            let run = bench.measure(proxy, scenario, round);
            eprintln!(
                "compare: {} round {round}/{} {}: {}",
                scenario.name,
                context.rounds,
                proxy.name,
                one_line(&run)
            );
            runs[index].push(run);
        }
    }
    origin.stop();
    let results = proxies
        .iter()
        .zip(runs)
        .map(|(proxy, runs)| match &proxy.missing {
            Some(why) => ProxyResult::missing(proxy.name, why),
            None => ProxyResult::measured(proxy.name, runs),
        })
        .collect();
    Ok(ScenarioResult::new(
        context,
        scenario.clone(),
        None,
        results,
    ))
}

/// Why the scenario cannot run at all, if it cannot.
fn unrunnable(bench: &Bench<'_>, scenario: &Scenario) -> Option<String> {
    match scenario.load {
        Load::Skipped(why) => Some(why.to_owned()),
        _ if scenario.is_tls() && !bench.tls => {
            Some("openssl could not make the test certificate (is openssl installed?)".into())
        }
        _ if scenario.is_tls() && !bench.tls_generator.binary.is_file() => Some(format!(
            "{} is missing: cargo build --release -p perf-tests",
            bench.tls_generator.binary.display()
        )),
        _ => None,
    }
}

/// The proxies with those that cannot run `scenario` marked missing, with
/// the reason printed: a coregate without TLS termination in the TLS
/// scenarios is reported, not failed, so nginx and haproxy still run.
fn for_scenario(proxies: &[Proxy], scenario: &Scenario) -> Vec<Proxy> {
    let mut proxies = proxies.to_vec();
    if !matches!(scenario.load, Load::Closed | Load::Rate(_)) {
        // The raw forwarder relays keep-alive traffic only: it has no
        // close handling to measure new connections by, and it is a
        // fixed-size table, not a reference for held connections.
        for proxy in proxies.iter_mut().filter(|p| p.kind == Kind::Floor) {
            proxy.missing = Some("a reference for keep-alive load only".into());
        }
    }
    if !scenario.is_tls() {
        return proxies;
    }
    for proxy in proxies.iter_mut().filter(|p| p.missing.is_none()) {
        if let Some(why) = proxy.tls_unsupported() {
            eprintln!("compare: {} / {}: {why}", scenario.name, proxy.name);
            proxy.missing = Some(why);
        }
    }
    proxies
}

/// Lowers the idle connection count to what the open-file limit allows
/// every proxy (haproxy needs 2 x maxconn), and says so in the notes.
fn capped(scenario: &Scenario, fd_limit: u64, context: &mut Context) -> Scenario {
    let Some(wanted) = scenario.idle() else {
        return scenario.clone();
    };
    let capacity = peers::idle_capacity(fd_limit);
    if capacity >= wanted {
        return scenario.clone();
    }
    let note = format!(
        "idle connections lowered from {wanted} to {capacity}: the open-file hard limit is {fd_limit} and cannot be raised here (haproxy needs 2 x maxconn)"
    );
    eprintln!("compare: {note}");
    context.notes.push(note);
    Scenario {
        load: match scenario.load {
            Load::TlsIdle(_) => Load::TlsIdle(capacity),
            _ => Load::Idle(capacity),
        },
        connections: capacity,
        ..scenario.clone()
    }
}

fn one_line(run: &Run) -> String {
    if let Some(e) = &run.error {
        return format!("FAILED: {e}");
    }
    let mut line = format!(
        "{:.0} req/s, {} responses, {} errors, {} non-2xx, p50 {:.0} µs, p99 {:.0} µs",
        run.rps, run.requests, run.errors, run.non_2xx, run.p50_us, run.p99_us
    );
    if let (Some(cpu), Some(busy)) = (run.cpu_us_per_req, run.proxy_busy) {
        line.push_str(&format!(", proxy {cpu:.2} µs/req CPU (busy {busy:.2})"));
    }
    if let (Some(cpu0), Some(cpu1)) = (run.load_cpu_busy, run.proxy_cpu_busy) {
        line.push_str(&format!(", CPU0/CPU1 busy {cpu0:.2}/{cpu1:.2}"));
    }
    if let (Some(full), Some(resumed)) = (run.tls_full_handshakes, run.tls_resumed_handshakes) {
        line.push_str(&format!(", TLS handshakes {full} full / {resumed} resumed"));
    }
    if let Some(rss) = run.rss_per_conn_bytes {
        line.push_str(&format!(", {rss:.0} B RSS per idle connection"));
    }
    line
}

/// Records every proxy that ran but did not answer correctly.
fn check(result: &ScenarioResult, verdict: &mut Verdict) {
    for proxy in result.proxies.iter().filter(|p| p.status == Status::Failed) {
        let note = proxy.note.as_deref().unwrap_or("failed");
        verdict
            .failures
            .push(format!("{} / {}: {note}", result.scenario.name, proxy.name));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stems_do_not_overwrite() {
        let dir = std::env::temp_dir().join(format!("perf-tests-stem-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        assert_eq!(free_stem(&dir, "d-headline"), "d-headline");
        std::fs::write(dir.join("d-headline.json"), "{}").unwrap();
        assert_eq!(free_stem(&dir, "d-headline"), "d-headline-2");
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn failed_runs_line() {
        assert!(one_line(&Run {
            error: Some("boom".into()),
            ..Run::default()
        })
        .contains("FAILED: boom"));
        let ok = Run {
            rps: 10.0,
            cpu_us_per_req: Some(1.5),
            proxy_busy: Some(0.9),
            ..Run::default()
        };
        assert!(one_line(&ok).contains("1.50 µs/req"));
    }
}
