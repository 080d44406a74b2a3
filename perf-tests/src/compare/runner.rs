//! One measurement: start a proxy, warm it, load it with coregate-bench from
//! the load CPU, read its CPU time and memory from /proc, stop it.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use bench::Report;
use serde::{Deserialize, Serialize};

use crate::compare::peers::{Proxy, Tweaks, LOAD_CPU, PROXY_CPU};
use crate::compare::scenarios::{Load, Scenario, DEFAULT_CONNECTIONS};
use crate::compare::setup::Scratch;
use crate::proc::{wait_port_free, Pinned};
use crate::procfs::{busy_between, cpu_jiffies, process_tree, sum_status_kb, CpuSample};
use crate::tls_load::{handshakes_of, Handshakes, Mode};

/// Time a proxy gets to accept after its start.
const READY_TIMEOUT: Duration = Duration::from_secs(10);
/// How long idle connections are held; RSS is read one second in.
const HOLD: Duration = Duration::from_secs(4);
/// Slack a generator gets past its planned run time before it is killed.
const GENERATOR_SLACK: Duration = Duration::from_secs(60);
/// Most time `idle10k-tls` gets to open its TLS connections.
const IDLE_OPENING: Duration = Duration::from_secs(60);
/// What coregate-bench and tls-load print once their held connections are all open.
const HOLD_MARKER: &str = "connections open and idle";

/// Run lengths.
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    /// Warm-up load before each measured run.
    pub warmup: Duration,
    /// Measured run.
    pub duration: Duration,
}

/// One proxy's measurement in one round.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Run {
    /// Round number, from 1.
    pub round: usize,
    /// Why the run failed, if it did.
    pub error: Option<String>,
    /// Complete responses in the measured run.
    pub requests: u64,
    /// Failed requests (connect, read, write, timeout, parse, closed).
    pub errors: u64,
    /// Responses that were not 2xx.
    pub non_2xx: u64,
    /// Responses per second.
    pub rps: f64,
    /// Latency percentiles, µs.
    pub p50_us: f64,
    /// 99th.
    pub p99_us: f64,
    /// 99.9th.
    pub p999_us: f64,
    /// 99.99th.
    pub p9999_us: f64,
    /// Proxy CPU µs per request, utime + stime from /proc/PID/stat.
    pub cpu_us_per_req: Option<f64>,
    /// Of that, user space (utime) alone.
    pub user_us_per_req: Option<f64>,
    /// The same from /proc/PID/task/*/schedstat.
    pub cpu_us_per_req_schedstat: Option<f64>,
    /// Proxy CPU time ÷ wall time of the measured run.
    pub proxy_busy: Option<f64>,
    /// Busy fraction of the load CPU (origin + generator + anything else).
    pub load_cpu_busy: Option<f64>,
    /// Busy fraction of the proxy CPU, all processes: above `proxy_busy`
    /// means other work shared the proxy's CPU.
    pub proxy_cpu_busy: Option<f64>,
    /// Peak RSS (VmHWM) summed over the proxy's processes, KiB.
    pub peak_rss_kib: u64,
    /// RSS growth per held idle connection, bytes (idle10k).
    pub rss_per_conn_bytes: Option<f64>,
    /// Connections held idle (idle10k).
    pub held_connections: Option<u64>,
    /// Full TLS handshakes in the measured run (TLS scenarios).
    pub tls_full_handshakes: Option<u64>,
    /// Resumed TLS handshakes in the measured run (TLS scenarios).
    pub tls_resumed_handshakes: Option<u64>,
    /// The generator's full report of the measured run.
    pub load: Option<Report>,
}

// === impl Run ===

impl Run {
    fn failed(round: usize, error: String) -> Self {
        Self {
            round,
            error: Some(error),
            ..Self::default()
        }
    }

    /// True when the proxy answered every request with a 2xx.
    pub fn answered_correctly(&self) -> bool {
        self.error.is_none() && self.requests > 0 && self.errors == 0 && self.non_2xx == 0
    }

    fn take_load(&mut self, report: Report) {
        self.requests = report.requests;
        self.errors = report.errors.total();
        self.non_2xx = report.status.non_2xx();
        self.rps = report.rps;
        self.p50_us = report.latency.p50_us;
        self.p99_us = report.latency.p99_us;
        self.p999_us = report.latency.p999_us;
        self.p9999_us = report.latency.p9999_us;
        self.held_connections = report.held_connections;
        self.load = Some(report);
    }
}

/// Runs coregate-bench pinned to the load CPU.
#[derive(Debug)]
pub struct Generator {
    /// The coregate-bench binary.
    pub binary: PathBuf,
}

// === impl Generator ===

impl Generator {
    fn command(&self, args: &[String]) -> Command {
        let mut command = Command::new("taskset");
        command
            .arg("-c")
            .arg(LOAD_CPU.to_string())
            .arg(&self.binary)
            .args(args)
            .stdin(Stdio::null());
        command
    }

    /// Runs to the end and returns the JSON report.
    pub fn run(&self, args: &[String], json: &Path, planned: Duration) -> Result<Report, String> {
        let child = self
            .command(args)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn();
        let child = child.map_err(|e| format!("cannot start coregate-bench: {e}"))?;
        finish(child, json, planned)
    }

    /// Starts a `--hold` run and returns once all connections are open.
    pub fn start_hold(&self, args: &[String]) -> Result<Child, String> {
        let mut child = self
            .command(args)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn();
        let child_ref = child
            .as_mut()
            .map_err(|e| format!("cannot start coregate-bench: {e}"))?;
        let stderr = child_ref.stderr.take().ok_or("no stderr")?;
        let mut lines = BufReader::new(stderr).lines();
        let seen = lines
            .by_ref()
            .map_while(Result::ok)
            .any(|line| line.contains(HOLD_MARKER));
        let mut child = child.map_err(|e| e.to_string())?;
        if !seen {
            let _ = child.kill();
            let _ = child.wait();
            return Err("coregate-bench ended before holding its connections".into());
        }
        Ok(child)
    }
}

/// Waits for a generator (killing it past `planned` + slack), then reads its JSON.
fn finish(mut child: Child, json: &Path, planned: Duration) -> Result<Report, String> {
    let deadline = Instant::now() + planned + GENERATOR_SLACK;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return Err("coregate-bench overran its run and was killed".into());
            }
        }
    };
    let mut stderr = String::new();
    if let Some(mut pipe) = child.stderr.take() {
        let _ = std::io::Read::read_to_string(&mut pipe, &mut stderr);
    }
    if !status.success() {
        return Err(format!(
            "coregate-bench failed ({status}): {}",
            stderr.trim()
        ));
    }
    let text =
        std::fs::read_to_string(json).map_err(|e| format!("no report {}: {e}", json.display()))?;
    serde_json::from_str(&text).map_err(|e| format!("bad report {}: {e}", json.display()))
}

/// The generator's arguments for a scenario against `proxy`.
pub fn load_args(
    scenario: &Scenario,
    proxy: &Proxy,
    duration: Duration,
    json: &Path,
) -> Vec<String> {
    match scenario.load {
        Load::Tls(mode) => return tls_load_args(scenario, proxy, duration, json, mode),
        Load::TlsIdle(_) => {
            // -d bounds the opening of the connections (TLS handshakes).
            let mut args = tls_load_args(scenario, proxy, IDLE_OPENING, json, Mode::KeepAlive);
            let url = args.pop().unwrap_or_default();
            args.extend(["--hold".into(), format!("{}ms", HOLD.as_millis()), url]);
            return args;
        }
        _ => {}
    }
    let url = format!("http://{}{}", proxy.addr, scenario.path);
    let mut args = vec![
        "--json".to_owned(),
        json.display().to_string(),
        "--timeout".into(),
        "5s".into(),
    ];
    match scenario.load {
        Load::Idle(connections) => {
            args.extend([
                "-c".into(),
                connections.to_string(),
                "--hold".into(),
                format!("{}ms", HOLD.as_millis()),
            ]);
            args[3] = "30s".into(); // opening 10k connections may take a few SYN retries
        }
        _ => args.extend([
            "-c".into(),
            scenario.connections.to_string(),
            "-d".into(),
            format!("{}ms", duration.as_millis()),
        ]),
    }
    match scenario.load {
        Load::Rate(rate) => args.extend(["--rate".into(), rate.to_string()]),
        Load::ConnPerRequest => args.push("--close".into()),
        _ => {}
    }
    if let Some(header) = crate::compare::access::header(scenario.credential) {
        args.extend(["-H".into(), header]);
    }
    args.push(url);
    args
}

/// `tls-load`'s arguments: the same connections and run length against the
/// proxy's TLS listener.
fn tls_load_args(
    scenario: &Scenario,
    proxy: &Proxy,
    duration: Duration,
    json: &Path,
    mode: Mode,
) -> Vec<String> {
    vec![
        "--json".to_owned(),
        json.display().to_string(),
        "--timeout".into(),
        "5s".into(),
        "--mode".into(),
        mode.as_str().into(),
        "-c".into(),
        scenario.connections.to_string(),
        "-d".into(),
        format!("{}ms", duration.as_millis()),
        format!("https://{}{}", proxy.tls_addr, scenario.path),
    ]
}

/// Why a TLS run did not measure what its mode says, if it did not: the
/// resumed scenario must mostly resume (only each connection slot's first
/// handshake is full), the full one never.
fn tls_mode_error(mode: Mode, handshakes: Handshakes) -> Option<String> {
    let Handshakes { full, resumed } = handshakes;
    match mode {
        Mode::Resumed if resumed < full => Some(format!(
            "TLS sessions were not resumed ({full} full handshakes, {resumed} resumed): does the proxy issue session tickets?"
        )),
        Mode::Full if resumed > 0 => Some(format!(
            "{resumed} handshakes were resumed in the full-handshake scenario"
        )),
        _ => None,
    }
}

/// Everything a measurement needs besides the proxy.
#[derive(Debug)]
pub struct Bench<'a> {
    /// Scratch folder (configs, logs, load reports).
    pub scratch: &'a Scratch,
    /// The load generator.
    pub generator: &'a Generator,
    /// The TLS scenarios' load generator (`tls-load`).
    pub tls_generator: &'a Generator,
    /// Run lengths.
    pub timing: Timing,
    /// TLS material exists.
    pub tls: bool,
    /// The open-file limit the proxies inherit.
    pub fd_limit: u64,
}

// === impl Bench ===

impl Bench<'_> {
    /// Measures `proxy` under `scenario` once.
    pub fn measure(&self, proxy: &Proxy, scenario: &Scenario, round: usize) -> Run {
        let tweaks = self.tweaks(scenario);
        let mut process = match self.start(proxy, tweaks, proxy.listen(scenario.is_tls())) {
            Ok(process) => process,
            Err(e) => return Run::failed(round, e),
        };
        let result = match scenario.load {
            Load::Idle(_) | Load::TlsIdle(_) => self.idle(&process, proxy, scenario),
            _ => self.load(&process, proxy, scenario),
        };
        let exited = process.exited();
        process.stop();
        wait_port_free(proxy.listen(scenario.is_tls()), Duration::from_secs(5));
        let mut run = result.unwrap_or_else(|e| Run::failed(round, e));
        if let (Some(status), None) = (exited, &run.error) {
            run.error = Some(format!(
                "{} exited during the run ({status}): {}",
                proxy.name,
                proxy.log_tail(self.scratch)
            ));
        }
        run.round = round;
        run
    }

    /// Config changes the scenario needs.
    pub fn tweaks(&self, scenario: &Scenario) -> Tweaks {
        let many_connections = scenario.idle();
        Tweaks {
            many_connections,
            fd_limit: self.fd_limit,
            tls: self.tls,
            tls_scenario: scenario.is_tls(),
            single_process: false,
            access: scenario.credential != crate::compare::scenarios::Credential::None,
            limit: scenario.limit,
            cache: scenario.cache,
        }
    }

    fn generator(&self, scenario: &Scenario) -> &Generator {
        match scenario.load {
            Load::Tls(_) | Load::TlsIdle(_) => self.tls_generator,
            _ => self.generator,
        }
    }

    fn start(&self, proxy: &Proxy, tweaks: Tweaks, addr: SocketAddr) -> Result<Pinned, String> {
        if !wait_port_free(addr, Duration::from_secs(2)) {
            return Err(format!("{addr} is already taken by another process"));
        }
        let mut process = proxy.start(self.scratch, tweaks)?;
        match process.wait_ready(addr, READY_TIMEOUT) {
            Ok(()) => Ok(process),
            Err(e) => Err(format!("{e}: {}", proxy.log_tail(self.scratch))),
        }
    }

    fn json(&self, proxy: &Proxy, what: &str) -> PathBuf {
        self.scratch
            .path(&format!("load/{}-{what}.json", proxy.name))
    }

    fn warm_up(&self, proxy: &Proxy, scenario: &Scenario) -> Result<(), String> {
        let json = self.json(proxy, "warmup");
        let warm = match scenario.load {
            Load::TlsIdle(_) => Scenario {
                load: Load::Tls(Mode::KeepAlive),
                connections: DEFAULT_CONNECTIONS,
                ..scenario.clone()
            },
            Load::Idle(_) => Scenario {
                load: Load::Closed,
                connections: DEFAULT_CONNECTIONS,
                ..scenario.clone()
            },
            _ => scenario.clone(),
        };
        let args = load_args(&warm, proxy, self.timing.warmup, &json);
        self.generator(scenario)
            .run(&args, &json, self.timing.warmup)
            .map(drop)
    }

    fn load(&self, process: &Pinned, proxy: &Proxy, scenario: &Scenario) -> Result<Run, String> {
        self.warm_up(proxy, scenario)?;
        let json = self.json(proxy, "measured");
        let args = load_args(scenario, proxy, self.timing.duration, &json);
        let before = CpuSample::of(&process_tree(process.pid()));
        let cpus_before = cpu_jiffies();
        let started = Instant::now();
        let report = self
            .generator(scenario)
            .run(&args, &json, self.timing.duration)?;
        let wall = started.elapsed();
        let cpus_after = cpu_jiffies();
        let tree = process_tree(process.pid());
        let after = CpuSample::of(&tree);
        let mut run = Run {
            peak_rss_kib: sum_status_kb(&tree, "VmHWM"),
            load_cpu_busy: busy_between(&cpus_before, &cpus_after, LOAD_CPU),
            proxy_cpu_busy: busy_between(&cpus_before, &cpus_after, PROXY_CPU),
            ..Run::default()
        };
        if report.requests > 0 {
            let requests = report.requests as f64;
            run.cpu_us_per_req = Some(after.micros_since(&before) / requests);
            run.user_us_per_req = Some(after.user_micros_since(&before) / requests);
            run.cpu_us_per_req_schedstat = Some(after.sched_micros_since(&before) / requests);
            run.proxy_busy = Some(after.sched_micros_since(&before) / 1e6 / wall.as_secs_f64());
        }
        run.take_load(report);
        if let Load::Tls(mode) = scenario.load {
            let text = std::fs::read_to_string(&json).unwrap_or_default();
            let handshakes = handshakes_of(&text).unwrap_or_default();
            run.tls_full_handshakes = Some(handshakes.full);
            run.tls_resumed_handshakes = Some(handshakes.resumed);
            run.error = tls_mode_error(mode, handshakes);
        }
        Ok(run)
    }

    fn idle(&self, process: &Pinned, proxy: &Proxy, scenario: &Scenario) -> Result<Run, String> {
        self.warm_up(proxy, scenario)?;
        let tree = process_tree(process.pid());
        let rss_before = sum_status_kb(&tree, "VmRSS");
        let json = self.json(proxy, "measured");
        let args = load_args(scenario, proxy, self.timing.duration, &json);
        let child = self.generator(scenario).start_hold(&args)?;
        std::thread::sleep(Duration::from_secs(1));
        let tree = process_tree(process.pid());
        let rss_held = sum_status_kb(&tree, "VmRSS");
        let peak = sum_status_kb(&tree, "VmHWM");
        let report = finish(child, &json, HOLD)?;
        let mut run = Run {
            peak_rss_kib: peak,
            ..Run::default()
        };
        if let Some(held) = report.held_connections.filter(|&n| n > 0) {
            run.rss_per_conn_bytes =
                Some(rss_held.saturating_sub(rss_before) as f64 * 1024.0 / held as f64);
        }
        run.take_load(report);
        Ok(run)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compare::scenarios;

    fn proxy() -> Proxy {
        Proxy::all(&[])
            .into_iter()
            .find(|p| p.name == "nginx")
            .unwrap()
    }

    #[test]
    fn generator_arguments() {
        let all = scenarios::all();
        let json = Path::new("/tmp/x.json");
        let headline = load_args(&all[0], &proxy(), Duration::from_secs(10), json);
        assert_eq!(headline[headline.len() - 1], "http://127.0.0.1:8082/");
        assert!(headline
            .windows(2)
            .any(|w| w[0] == "-d" && w[1] == "10000ms"));
        let rate = load_args(&all[2], &proxy(), Duration::from_secs(1), json);
        assert!(rate.windows(2).any(|w| w[0] == "--rate" && w[1] == "40000"));
        let half = load_args(&all[3], &proxy(), Duration::from_secs(1), json);
        assert!(half.windows(2).any(|w| w[0] == "--rate" && w[1] == "20000"));
        let named = |name: &str| all.iter().find(|s| s.name == name).unwrap();
        assert!(load_args(
            named("conn-per-request"),
            &proxy(),
            Duration::from_secs(1),
            json
        )
        .contains(&"--close".to_owned()));
        let idle = load_args(named("idle10k"), &proxy(), Duration::from_secs(1), json);
        assert!(idle.windows(2).any(|w| w[0] == "-c" && w[1] == "10000"));
        assert!(idle.contains(&"--hold".to_owned()) && !idle.contains(&"-d".to_owned()));
        let full = all.iter().find(|s| s.name == "tls-full").unwrap();
        let tls = load_args(full, &proxy(), Duration::from_secs(1), json);
        assert_eq!(tls[tls.len() - 1], "https://127.0.0.1:8443/");
        assert!(tls.windows(2).any(|w| w[0] == "--mode" && w[1] == "full"));
        let idle = all.iter().find(|s| s.name == "idle10k-tls").unwrap();
        let idle = load_args(idle, &proxy(), Duration::from_secs(1), json);
        assert!(idle.windows(2).any(|w| w[0] == "-c" && w[1] == "10000"));
        assert!(idle
            .windows(2)
            .any(|w| w[0] == "--hold" && w[1] == "4000ms"));
        assert_eq!(idle.iter().filter(|a| *a == "-c").count(), 1);
        assert_eq!(idle[idle.len() - 1], "https://127.0.0.1:8443/");
    }

    #[test]
    fn tls_modes_are_checked() {
        let hs = |full, resumed| Handshakes { full, resumed };
        assert!(tls_mode_error(Mode::Resumed, hs(64, 5000)).is_none());
        assert!(tls_mode_error(Mode::Resumed, hs(5000, 0)).is_some());
        assert!(tls_mode_error(Mode::Full, hs(5000, 0)).is_none());
        assert!(tls_mode_error(Mode::Full, hs(5000, 1)).is_some());
        assert!(tls_mode_error(Mode::KeepAlive, hs(64, 0)).is_none());
    }

    #[test]
    fn correctness_check() {
        let mut run = Run {
            requests: 10,
            ..Run::default()
        };
        assert!(run.answered_correctly());
        run.non_2xx = 1;
        assert!(!run.answered_correctly());
        assert!(!Run::failed(1, "x".into()).answered_correctly());
    }
}
