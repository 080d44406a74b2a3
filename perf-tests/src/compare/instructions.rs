//! `--instructions`: user-space instructions per request under callgrind,
//! for every proxy on the 100 B keep-alive load. Deterministic where CPU
//! time is not: host noise, frequency and neighbours do not change an
//! instruction count, and this machine has no hardware counters.
//!
//! Each proxy runs twice under `valgrind --tool=callgrind`, once for
//! [`LOW`] and once for [`HIGH`] requests; the difference of the two totals
//! divided by `HIGH - LOW` is the cost of a request with start-up, warm-up
//! and shutdown cancelled out. Only user space is counted: callgrind sees
//! no kernel instructions.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::compare::output::{provenance, Context};
use crate::compare::peers::Kind;
use crate::compare::peers::{Origin, Proxy, Tweaks};
use crate::compare::runner::Bench;
use crate::compare::scenarios::{self, Scenario};
use crate::proc::which;

/// Requests of the short run.
pub const LOW: u64 = 2_000;
/// Requests of the long run.
pub const HIGH: u64 = 12_000;
/// Keep-alive connections of both runs.
const CONNECTIONS: usize = 8;
/// Start-up under valgrind is slow.
const READY: Duration = Duration::from_secs(120);
/// How long a proxy under valgrind gets to exit and write its profile.
const EXIT_GRACE: Duration = Duration::from_secs(60);

/// One proxy's counts.
#[derive(Debug, Clone)]
pub struct Count {
    /// The proxy.
    pub name: &'static str,
    /// Instructions per request, or why there is none.
    pub per_request: Result<f64, String>,
}

/// Measures every proxy that is not missing and writes the report to
/// `out/<stem>.md`; returns its path and the proxies that failed.
pub fn run(
    bench: &Bench<'_>,
    proxies: &[Proxy],
    context: &Context,
    out: &Path,
    stem: &str,
) -> Result<(PathBuf, Vec<String>), String> {
    let valgrind =
        which("valgrind").ok_or("valgrind is not installed: apt-get install -y valgrind")?;
    let scenario = headline()?;
    let origin = Origin::start(
        bench.scratch,
        &bench.generator.binary,
        scenario.body_size,
        bench.tweaks(&scenario),
    )
    .map_err(|e| format!("origin: {e}"))?;
    let counts: Vec<Count> = proxies
        .iter()
        // The raw forwarder has no signal handling to exit by, and its
        // user space is next to nothing: it is a CPU-time reference only.
        .filter(|p| p.missing.is_none() && p.kind != Kind::Floor)
        .map(|p| Count {
            name: p.name,
            per_request: per_request(bench, &valgrind, p, &scenario)
                .map_err(|e| e.replace('\n', " ")),
        })
        .collect();
    origin.stop();
    for c in &counts {
        eprintln!("compare: instructions {}: {:?}", c.name, c.per_request);
    }
    std::fs::create_dir_all(out).map_err(|e| e.to_string())?;
    let path = out.join(format!("{stem}.md"));
    std::fs::write(&path, markdown(context, &counts)).map_err(|e| e.to_string())?;
    let failed = counts
        .iter()
        .filter_map(|c| Some(format!("{}: {}", c.name, c.per_request.as_ref().err()?)))
        .collect();
    Ok((path, failed))
}

fn headline() -> Result<Scenario, String> {
    let mut scenario = scenarios::select(&["headline".to_owned()])?
        .into_iter()
        .next()
        .ok_or("no headline scenario")?;
    scenario.connections = CONNECTIONS;
    Ok(scenario)
}

/// `(instructions at HIGH - instructions at LOW) / (HIGH - LOW)`.
fn per_request(
    bench: &Bench<'_>,
    valgrind: &Path,
    proxy: &Proxy,
    scenario: &Scenario,
) -> Result<f64, String> {
    let low = total(bench, valgrind, proxy, scenario, LOW)?;
    let high = total(bench, valgrind, proxy, scenario, HIGH)?;
    Ok((high as f64 - low as f64) / (HIGH - LOW) as f64)
}

/// Instructions of one whole run of `requests` requests under callgrind,
/// summed over the proxy's processes (nginx's master and worker).
fn total(
    bench: &Bench<'_>,
    valgrind: &Path,
    proxy: &Proxy,
    scenario: &Scenario,
    requests: u64,
) -> Result<u64, String> {
    let dir = bench
        .scratch
        .path(&format!("callgrind/{}-{requests}", proxy.name));
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let tweaks = Tweaks {
        single_process: true,
        ..Tweaks::default()
    };
    let (binary, args) = proxy.command(bench.scratch, tweaks)?;
    let mut wrapped = vec![
        "--tool=callgrind".to_owned(),
        format!("--callgrind-out-file={}/callgrind.%p", dir.display()),
        binary.display().to_string(),
    ];
    wrapped.extend(args);
    let mut process = proxy.spawn(bench.scratch, valgrind, &wrapped)?;
    process.wait_ready(proxy.addr, READY)?;
    let json = bench.scratch.path(&format!("load/{}-ir.json", proxy.name));
    let report = load(bench, proxy, scenario, requests, &json);
    if !process.stop_within(EXIT_GRACE) {
        return Err(format!("{} did not exit under valgrind", proxy.name));
    }
    let report = report?;
    if report.requests != requests || report.status.non_2xx() != 0 {
        return Err(format!(
            "{}: {} of {requests} requests answered, {} not 2xx",
            proxy.name,
            report.requests,
            report.status.non_2xx()
        ));
    }
    sum_totals(&dir)
}

/// Exactly `requests` requests over [`CONNECTIONS`] connections.
fn load(
    bench: &Bench<'_>,
    proxy: &Proxy,
    scenario: &Scenario,
    requests: u64,
    json: &Path,
) -> Result<bench::Report, String> {
    let args = [
        "--json".to_owned(),
        json.display().to_string(),
        "--timeout".into(),
        "30s".into(),
        "-c".into(),
        CONNECTIONS.to_string(),
        "-n".into(),
        requests.to_string(),
        format!("http://{}{}", proxy.addr, scenario.path),
    ];
    // Bounds the generator's wait; the count ends the run.
    bench.generator.run(&args, json, Duration::from_secs(600))
}

/// Sums the `totals:` line of every callgrind file in `dir`.
fn sum_totals(dir: &Path) -> Result<u64, String> {
    let mut sum = 0;
    let mut files = 0;
    for entry in std::fs::read_dir(dir).map_err(|e| e.to_string())? {
        let path = entry.map_err(|e| e.to_string())?.path();
        let text = std::fs::read_to_string(&path).map_err(|e| e.to_string())?;
        sum += totals_of(&text).ok_or_else(|| format!("no totals in {}", path.display()))?;
        files += 1;
    }
    match files {
        0 => Err(format!("callgrind wrote nothing in {}", dir.display())),
        _ => Ok(sum),
    }
}

/// The `totals:` (or `summary:`) event count of a callgrind file.
fn totals_of(text: &str) -> Option<u64> {
    let line = text
        .lines()
        .find(|l| l.starts_with("totals:"))
        .or_else(|| text.lines().find(|l| l.starts_with("summary:")))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn markdown(c: &Context, counts: &[Count]) -> String {
    let mut out = String::from("# instructions: user-space instructions per request\n\n");
    let _ = writeln!(
        out,
        "100-byte body, {CONNECTIONS} keep-alive connections, each proxy under `valgrind --tool=callgrind`; (instructions of a {HIGH}-request run - those of a {LOW}-request run) / {}\n",
        HIGH - LOW
    );
    provenance(&mut out, c);
    out.push('\n');
    out.push_str("| proxy | instructions per request | ×nginx |\n|---|---|---|\n");
    let nginx = counts
        .iter()
        .find(|c| c.name == "nginx")
        .and_then(|c| c.per_request.as_ref().ok().copied());
    for count in counts {
        let (value, ratio) = match (&count.per_request, nginx) {
            (Ok(v), Some(n)) if n > 0.0 => (format!("{v:.0}"), format!("{:.2}", v / n)),
            (Ok(v), _) => (format!("{v:.0}"), "—".into()),
            (Err(e), _) => (format!("failed: {e}"), "—".into()),
        };
        let _ = writeln!(out, "| {} | {value} | {ratio} |", count.name);
    }
    out.push_str("\nCallgrind counts user-space instructions only (the proxy's own code, libc and the allocator); kernel work is not in these numbers. Deterministic up to scheduling: reruns agree to about 1%.\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn totals_are_read_from_a_callgrind_file() {
        let text = "version: 1\nevents: Ir\nsummary: 448013654\ntotals: 448013825\n";
        assert_eq!(totals_of(text), Some(448_013_825));
        assert_eq!(totals_of("events: Ir\nsummary: 12\n"), Some(12));
        assert_eq!(totals_of("events: Ir\n"), None);
    }
}
