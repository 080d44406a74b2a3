//! A scenario's batch result: summaries, ratios against nginx, and the
//! JSON, Markdown and SVG files.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::compare::plot::{self, Series};
use crate::compare::runner::Run;
use crate::compare::scenarios::Scenario;
use crate::compare::setup::Machine;
use crate::stats::{ratio, Spread};

/// Where a proxy stands after the batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Every run answered correctly.
    Ok,
    /// Not installed, not built, or skipped.
    Missing,
    /// At least one run failed or saw errors.
    Failed,
}

/// Medians with min–max over a proxy's successful runs.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Summary {
    /// Requests per second.
    pub rps: Option<Spread>,
    /// Proxy CPU µs per request (/proc/PID/stat).
    pub cpu_us_per_req: Option<Spread>,
    /// User-space share of it (utime).
    pub user_us_per_req: Option<Spread>,
    /// Kernel share of it (stime).
    pub sys_us_per_req: Option<Spread>,
    /// The same from schedstat.
    pub cpu_us_per_req_schedstat: Option<Spread>,
    /// Proxy CPU busy fraction.
    pub proxy_busy: Option<Spread>,
    /// Load CPU busy fraction (all processes).
    pub load_cpu_busy: Option<Spread>,
    /// Proxy CPU busy fraction, all processes.
    pub proxy_cpu_busy: Option<Spread>,
    /// p50 µs.
    pub p50_us: Option<Spread>,
    /// p99 µs.
    pub p99_us: Option<Spread>,
    /// p99.9 µs.
    pub p999_us: Option<Spread>,
    /// p99.99 µs.
    pub p9999_us: Option<Spread>,
    /// Peak RSS, MiB.
    pub peak_rss_mib: Option<Spread>,
    /// RSS per idle connection, bytes.
    pub rss_per_conn_bytes: Option<Spread>,
}

// === impl Summary ===

impl Summary {
    fn of(runs: &[Run]) -> Self {
        let good: Vec<&Run> = runs
            .iter()
            .filter(|r| r.error.is_none() && r.requests > 0)
            .collect();
        let spread = |f: &dyn Fn(&Run) -> Option<f64>| Spread::of(good.iter().filter_map(|r| f(r)));
        Self {
            rps: spread(&|r| Some(r.rps)),
            cpu_us_per_req: spread(&|r| r.cpu_us_per_req),
            user_us_per_req: spread(&|r| r.user_us_per_req),
            sys_us_per_req: spread(&|r| Some(r.cpu_us_per_req? - r.user_us_per_req?)),
            cpu_us_per_req_schedstat: spread(&|r| r.cpu_us_per_req_schedstat),
            proxy_busy: spread(&|r| r.proxy_busy),
            load_cpu_busy: spread(&|r| r.load_cpu_busy),
            proxy_cpu_busy: spread(&|r| r.proxy_cpu_busy),
            p50_us: spread(&|r| Some(r.p50_us)),
            p99_us: spread(&|r| Some(r.p99_us)),
            p999_us: spread(&|r| Some(r.p999_us)),
            p9999_us: spread(&|r| Some(r.p9999_us)),
            peak_rss_mib: spread(&|r| Some(r.peak_rss_kib as f64 / 1024.0)),
            rss_per_conn_bytes: spread(&|r| r.rss_per_conn_bytes),
        }
    }
}

/// Medians divided by nginx's medians from the same batch.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Ratios {
    /// Requests per second.
    pub rps: Option<f64>,
    /// CPU µs per request: the headline metric (lower is better).
    pub cpu_us_per_req: Option<f64>,
    /// User-space CPU µs per request.
    pub user_us_per_req: Option<f64>,
    /// p50.
    pub p50_us: Option<f64>,
    /// p99.
    pub p99_us: Option<f64>,
    /// Peak RSS.
    pub peak_rss_mib: Option<f64>,
    /// RSS per idle connection.
    pub rss_per_conn_bytes: Option<f64>,
}

// === impl Ratios ===

impl Ratios {
    fn against(value: &Summary, nginx: &Summary) -> Self {
        Self {
            rps: ratio(value.rps.as_ref(), nginx.rps.as_ref()),
            cpu_us_per_req: ratio(value.cpu_us_per_req.as_ref(), nginx.cpu_us_per_req.as_ref()),
            user_us_per_req: ratio(
                value.user_us_per_req.as_ref(),
                nginx.user_us_per_req.as_ref(),
            ),
            p50_us: ratio(value.p50_us.as_ref(), nginx.p50_us.as_ref()),
            p99_us: ratio(value.p99_us.as_ref(), nginx.p99_us.as_ref()),
            peak_rss_mib: ratio(value.peak_rss_mib.as_ref(), nginx.peak_rss_mib.as_ref()),
            rss_per_conn_bytes: ratio(
                value.rss_per_conn_bytes.as_ref(),
                nginx.rss_per_conn_bytes.as_ref(),
            ),
        }
    }
}

/// One proxy's runs in a batch.
#[derive(Debug, Clone, Serialize)]
pub struct ProxyResult {
    /// coregate, nginx or haproxy.
    pub name: String,
    /// Ok, missing or failed.
    pub status: Status,
    /// Why it is missing or failed.
    pub note: Option<String>,
    /// Every round.
    pub runs: Vec<Run>,
    /// Medians with min–max.
    pub summary: Summary,
    /// Against nginx.
    pub ratio_vs_nginx: Ratios,
}

// === impl ProxyResult ===

impl ProxyResult {
    /// A proxy that could not run at all.
    pub fn missing(name: &str, why: &str) -> Self {
        Self::new(name, Status::Missing, Some(why.to_owned()), Vec::new())
    }

    /// A proxy's measured rounds.
    pub fn measured(name: &str, runs: Vec<Run>) -> Self {
        let failed = runs.iter().find(|r| !r.answered_correctly());
        let note = failed.map(|r| match &r.error {
            Some(e) => format!("round {}: {e}", r.round),
            None => {
                let load = r.load.as_ref();
                let codes = load
                    .map(|l| format!("{:?}", l.non_2xx_codes))
                    .unwrap_or_default();
                let errors = load.map(|l| format!("{:?}", l.errors)).unwrap_or_default();
                format!(
                    "round {}: {} requests, {} errors {errors}, {} non-2xx {codes}",
                    r.round, r.requests, r.errors, r.non_2xx
                )
            }
        });
        let status = if note.is_some() {
            Status::Failed
        } else {
            Status::Ok
        };
        Self::new(name, status, note, runs)
    }

    fn new(name: &str, status: Status, note: Option<String>, runs: Vec<Run>) -> Self {
        let summary = Summary::of(&runs);
        Self {
            name: name.to_owned(),
            status,
            note,
            runs,
            summary,
            ratio_vs_nginx: Ratios::default(),
        }
    }
}

/// What every result records besides the numbers.
#[derive(Debug, Clone, Serialize)]
pub struct Context {
    /// UTC date.
    pub date: String,
    /// UTC time the batch started.
    pub time_utc: String,
    /// Git commit of the workspace.
    pub commit: String,
    /// The machine.
    pub machine: Machine,
    /// The command line.
    pub command: String,
    /// `nginx -v`, `haproxy -v`.
    pub peers: Vec<(String, String)>,
    /// The origin.
    pub origin: String,
    /// Who runs where.
    pub layout: String,
    /// Rounds per proxy.
    pub rounds: usize,
    /// Warm-up per run, seconds.
    pub warmup_s: f64,
    /// Measured run, seconds.
    pub duration_s: f64,
    /// `--quick` smoke run.
    pub quick: bool,
    /// Anything that changed the protocol for this batch.
    pub notes: Vec<String>,
}

/// One scenario's batch.
#[derive(Debug, Clone, Serialize)]
pub struct ScenarioResult {
    /// Date, commit, machine, command, peers.
    #[serde(flatten)]
    pub context: Context,
    /// The scenario.
    pub scenario: Scenario,
    /// Why the scenario was skipped.
    pub skipped: Option<String>,
    /// Per proxy, in interleaving order.
    pub proxies: Vec<ProxyResult>,
}

// === impl ScenarioResult ===

impl ScenarioResult {
    /// Assembles the batch and fills in the ratios against nginx.
    pub fn new(
        context: Context,
        scenario: Scenario,
        skipped: Option<String>,
        mut proxies: Vec<ProxyResult>,
    ) -> Self {
        let nginx = proxies
            .iter()
            .find(|p| p.name == "nginx")
            .map(|p| p.summary.clone());
        if let Some(nginx) = nginx {
            for proxy in &mut proxies {
                proxy.ratio_vs_nginx = Ratios::against(&proxy.summary, &nginx);
            }
        }
        Self {
            context,
            scenario,
            skipped,
            proxies,
        }
    }

    /// Writes `<stem>.md` and `<stem>.svg` in `dir`, and the raw samples as
    /// `raw/<stem>.json` (kept out of the source tree by .gitignore);
    /// returns the paths written.
    pub fn write(&self, dir: &Path, stem: &str) -> Result<Vec<PathBuf>, String> {
        let raw = dir.join("raw");
        std::fs::create_dir_all(&raw).map_err(|e| format!("create {}: {e}", raw.display()))?;
        let json = raw.join(format!("{stem}.json"));
        let md = dir.join(format!("{stem}.md"));
        let svg = dir.join(format!("{stem}.svg"));
        let text = serde_json::to_string_pretty(self).map_err(|e| e.to_string())?;
        std::fs::write(&json, text).map_err(|e| format!("write {}: {e}", json.display()))?;
        let mut written = vec![json];
        let series = self.latency_series();
        let plotted = !series.is_empty() && self.scenario.idle().is_none();
        if plotted {
            plot::draw(
                &svg,
                &format!("{}: latency by percentile", self.scenario.name),
                &series,
            )?;
        }
        std::fs::write(
            &md,
            self.markdown(plotted.then(|| svg.file_name()).flatten()),
        )
        .map_err(|e| format!("write {}: {e}", md.display()))?;
        written.push(md);
        if plotted {
            written.push(svg);
        }
        Ok(written)
    }

    /// Per proxy, the median over rounds of each spectrum point.
    fn latency_series(&self) -> Vec<Series> {
        self.proxies
            .iter()
            .filter_map(|proxy| {
                let spectra: Vec<&Vec<(f64, f64)>> = proxy
                    .runs
                    .iter()
                    .filter(|r| r.error.is_none())
                    .filter_map(|r| r.load.as_ref().map(|l| &l.latency.spectrum))
                    .filter(|s| !s.is_empty())
                    .collect();
                let first = spectra.first()?;
                let points = (0..first.len())
                    .map(|i| {
                        let median =
                            Spread::of(spectra.iter().filter_map(|s| s.get(i).map(|p| p.1)));
                        (first[i].0, median.map_or(0.0, |m| m.median))
                    })
                    .collect();
                Some(Series {
                    label: proxy.name.clone(),
                    points,
                })
            })
            .collect()
    }

    /// The Markdown report.
    pub fn markdown(&self, svg: Option<&std::ffi::OsStr>) -> String {
        let c = &self.context;
        let mut out = format!(
            "# {}: coregate vs nginx vs haproxy\n\n{}\n\n",
            self.scenario.name, self.scenario.description
        );
        provenance(&mut out, c);
        let origin = if c.origin.is_empty() {
            "not started"
        } else {
            &c.origin
        };
        let _ = writeln!(out, "- layout: {}; origin: {origin}", c.layout);
        let _ = writeln!(out, "- runs: {} round(s) per proxy, interleaved, each {:.1} s warm-up + {:.1} s measured{}\n", c.rounds, c.warmup_s, c.duration_s, if c.quick { " (quick smoke run: no timing conclusions)" } else { "" });
        for note in &c.notes {
            let _ = writeln!(out, "- **note:** {note}");
        }
        if !c.notes.is_empty() {
            out.push('\n');
        }
        if let Some(why) = &self.skipped {
            let _ = writeln!(out, "**Skipped:** {why}");
            return out;
        }
        if self.scenario.idle().is_some() {
            self.idle_table(&mut out);
        } else {
            self.load_table(&mut out);
        }
        out.push_str("\nValues are median (min–max) over the rounds; ×nginx is the ratio of medians against nginx in this batch. Differences under about 5% are a tie (shared/BENCH.md). CPU µs/req is the proxy's utime+stime (all processes and threads) per completed request, user µs/req its utime alone and sys µs/req its stime; busy is its CPU time ÷ wall time; CPU0 / CPU1 busy are the medians of each CPU's busy fraction from /proc/stat, all processes (CPU1 above the proxy's busy means other work shared its CPU). io-floor is the raw io_uring byte forwarder (perf-tests/floor, no HTTP): the floor in this batch.\n");
        for proxy in self.proxies.iter().filter(|p| p.note.is_some()) {
            let _ = writeln!(
                out,
                "\n- **{}** ({:?}): {}",
                proxy.name,
                proxy.status,
                proxy.note.as_deref().unwrap_or_default()
            );
        }
        if let Some(svg) = svg {
            let _ = writeln!(out, "\n![latency by percentile]({})", svg.to_string_lossy());
        }
        out
    }

    fn load_table(&self, out: &mut String) {
        out.push_str("| proxy | status | req/s | CPU µs/req | ×nginx CPU | user µs/req | ×nginx user | sys µs/req | busy | CPU0 / CPU1 busy | p50 µs | p99 µs | p99.9 µs | p99.99 µs | peak RSS MiB |\n");
        out.push_str("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n");
        for p in &self.proxies {
            let s = &p.summary;
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} / {} | {} | {} | {} | {} | {} |",
                p.name,
                status_text(p.status),
                cell(s.rps.as_ref(), 0),
                cell(s.cpu_us_per_req.as_ref(), 2),
                ratio_cell(p.ratio_vs_nginx.cpu_us_per_req),
                cell(s.user_us_per_req.as_ref(), 2),
                ratio_cell(p.ratio_vs_nginx.user_us_per_req),
                cell(s.sys_us_per_req.as_ref(), 2),
                cell(s.proxy_busy.as_ref(), 2),
                median_cell(s.load_cpu_busy.as_ref(), 2),
                median_cell(s.proxy_cpu_busy.as_ref(), 2),
                cell(s.p50_us.as_ref(), 0),
                cell(s.p99_us.as_ref(), 0),
                cell(s.p999_us.as_ref(), 0),
                cell(s.p9999_us.as_ref(), 0),
                cell(s.peak_rss_mib.as_ref(), 1),
            );
        }
    }

    fn idle_table(&self, out: &mut String) {
        out.push_str("| proxy | status | RSS per idle connection (bytes) | ×nginx | peak RSS MiB | connections held |\n");
        out.push_str("|---|---|---|---|---|---|\n");
        for p in &self.proxies {
            let held = Spread::of(
                p.runs
                    .iter()
                    .filter_map(|r| r.held_connections.map(|h| h as f64)),
            );
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} | {} |",
                p.name,
                status_text(p.status),
                cell(p.summary.rss_per_conn_bytes.as_ref(), 0),
                ratio_cell(p.ratio_vs_nginx.rss_per_conn_bytes),
                cell(p.summary.peak_rss_mib.as_ref(), 1),
                cell(held.as_ref(), 0),
            );
        }
    }
}

fn status_text(status: Status) -> &'static str {
    match status {
        Status::Ok => "ok",
        Status::Missing => "missing",
        Status::Failed => "**failed**",
    }
}

fn cell(spread: Option<&Spread>, decimals: usize) -> String {
    spread.map_or_else(|| "—".to_owned(), |s| s.display(decimals))
}

fn median_cell(spread: Option<&Spread>, decimals: usize) -> String {
    spread.map_or_else(|| "—".to_owned(), |s| format!("{:.*}", decimals, s.median))
}

fn ratio_cell(ratio: Option<f64>) -> String {
    ratio.map_or_else(|| "—".to_owned(), |r| format!("{r:.2}"))
}

/// The date, commit, machine, command and peers lines every report opens
/// with.
pub fn provenance(out: &mut String, c: &Context) {
    let _ = writeln!(
        out,
        "- date: {} {} UTC, commit `{}`",
        c.date, c.time_utc, c.commit
    );
    let m = &c.machine;
    let _ = writeln!(
        out,
        "- machine: {} CPUs ({}), kernel {}, {} GiB; load average at start: {}",
        m.nproc, m.cpu_model, m.kernel, m.memory_gib, m.loadavg_at_start
    );
    let _ = writeln!(out, "- command: `{}`", c.command);
    let peers: Vec<String> = c.peers.iter().map(|(_, v)| v.clone()).collect();
    let _ = writeln!(
        out,
        "- peers: {}",
        if peers.is_empty() {
            "none installed".into()
        } else {
            peers.join("; ")
        }
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compare::scenarios;
    use bench::report::{Latency, Report};

    fn run(round: usize, rps: f64, cpu: f64) -> Run {
        let spectrum = (0..=50)
            .map(|i| {
                (
                    100.0 * (1.0 - 10f64.powf(-f64::from(i) / 10.0)),
                    rps / 1e3 + f64::from(i),
                )
            })
            .collect();
        let load = Report {
            requests: 1000,
            rps,
            latency: Latency {
                p50_us: 500.0,
                spectrum,
                ..Latency::default()
            },
            ..Report::default()
        };
        Run {
            round,
            requests: 1000,
            rps,
            p50_us: 500.0,
            cpu_us_per_req: Some(cpu),
            peak_rss_kib: 4096,
            load: Some(load),
            ..Run::default()
        }
    }

    fn context() -> Context {
        Context {
            date: "2026-11-26".into(),
            time_utc: "12:00:00".into(),
            commit: "abc".into(),
            machine: Machine::default(),
            command: "compare".into(),
            peers: vec![("nginx".into(), "nginx version: nginx/1.22.1".into())],
            origin: "nginx".into(),
            layout: "x".into(),
            rounds: 3,
            warmup_s: 1.0,
            duration_s: 2.0,
            quick: false,
            notes: vec!["a note".into()],
        }
    }

    #[test]
    fn ratios_and_files() {
        let nginx = ProxyResult::measured(
            "nginx",
            vec![run(1, 80e3, 12.0), run(2, 82e3, 11.0), run(3, 78e3, 13.0)],
        );
        let haproxy = ProxyResult::measured(
            "haproxy",
            vec![run(1, 70e3, 15.0), run(2, 72e3, 14.0), run(3, 75e3, 13.5)],
        );
        let coregate = ProxyResult::missing("coregate", "not built");
        let result = ScenarioResult::new(
            context(),
            scenarios::all()[0].clone(),
            None,
            vec![coregate, nginx, haproxy],
        );
        let haproxy = &result.proxies[2];
        assert_eq!(haproxy.summary.cpu_us_per_req.unwrap().median, 14.0);
        assert!((haproxy.ratio_vs_nginx.cpu_us_per_req.unwrap() - 14.0 / 12.0).abs() < 1e-9);
        assert_eq!(result.proxies[0].status, Status::Missing);
        let dir = std::env::temp_dir().join(format!("perf-tests-output-{}", std::process::id()));
        let written = result.write(&dir, "2026-11-26-headline").unwrap();
        assert_eq!(written.len(), 3);
        let md = std::fs::read_to_string(&written[1]).unwrap();
        assert!(
            md.contains("| nginx | ok | 80000 (78000–82000) | 12.00 (11.00–13.00) | 1.00 |"),
            "{md}"
        );
        assert!(md.contains("| coregate | missing |"));
        let json: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&written[0]).unwrap()).unwrap();
        assert_eq!(json["commit"], "abc");
        assert_eq!(json["scenario"]["name"], "headline");
        assert_eq!(json["proxies"][1]["summary"]["rps"]["median"], 80000.0);
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn a_run_with_errors_fails_the_proxy() {
        let mut bad = run(2, 1.0, 1.0);
        bad.errors = 3;
        let result = ProxyResult::measured("haproxy", vec![run(1, 1.0, 1.0), bad]);
        assert_eq!(result.status, Status::Failed);
        assert!(result.note.unwrap().contains("3 errors"));
    }

    #[test]
    fn skipped_scenario_has_no_table() {
        let result = ScenarioResult::new(
            context(),
            scenarios::all()[5].clone(),
            Some("no TLS yet".into()),
            vec![],
        );
        let md = result.markdown(None);
        assert!(md.contains("**Skipped:** no TLS yet") && !md.contains("| proxy |"));
    }
}
