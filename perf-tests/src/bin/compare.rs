//! `compare`: the side-by-side benchmark of coregate, nginx and haproxy.
//!
//! ```text
//! cargo run --release -p perf-tests --bin compare -- [--quick] [--install] [--scenario NAME] [--rounds N] [--instructions]
//! ```

use std::path::PathBuf;
use std::process::ExitCode;

use bench::scenario::parse_duration;
use clap::Parser;
use perf_tests::compare::{self, Options};

/// Runs the shared/BENCH.md protocol: origin + load generator on CPU 0, each
/// proxy alone on CPU 1, identical loads, interleaved rounds.
#[derive(Debug, Parser)]
#[command(name = "compare")]
struct Cli {
    /// One short round of every scenario (CI smoke test): asserts every proxy
    /// answered correctly and the files were written; results go to perf-tests/results/tmp/.
    #[arg(long)]
    quick: bool,
    /// apt-get update && apt-get install -y nginx-light haproxy wrk valgrind first.
    #[arg(long)]
    install: bool,
    /// Scenario to run (repeatable): headline, body16k, fixed-rate,
    /// fixed-rate-20k, conn-per-request, idle10k, tls-keepalive, tls-resumed, tls-full,
    /// idle10k-tls, tls (the four TLS ones), or all [default: all; with
    /// --quick, all but the TLS ones].
    #[arg(long = "scenario")]
    scenarios: Vec<String>,
    /// Rounds per proxy (at least 5 for numbers worth reporting).
    #[arg(long, default_value_t = compare::DEFAULT_ROUNDS)]
    rounds: usize,
    /// Measured run length.
    #[arg(long, default_value = "10s")]
    duration: String,
    /// Warm-up before each measured run.
    #[arg(long, default_value = "3s")]
    warmup: String,
    /// Results folder [default: perf-tests/results/, or its tmp/<time>/ with --quick].
    #[arg(long)]
    out: Option<PathBuf>,
    /// Leave a proxy out (repeatable): coregate, nginx, haproxy.
    #[arg(long)]
    skip: Vec<String>,
    /// Use the release binaries already built.
    #[arg(long)]
    no_build: bool,
    /// Count user-space instructions per request of every proxy under
    /// callgrind (100 B keep-alive; deterministic, immune to host noise)
    /// instead of measuring CPU time. Needs valgrind.
    #[arg(long)]
    instructions: bool,
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let cli = Cli::parse();
    let options = match options(cli, &args) {
        Ok(options) => options,
        Err(e) => {
            eprintln!("compare: {e}");
            return ExitCode::from(2);
        }
    };
    match compare::run(&options) {
        Ok(verdict) => report(&verdict, options.quick),
        Err(e) => {
            eprintln!("compare: {e}");
            ExitCode::FAILURE
        }
    }
}

fn options(cli: Cli, args: &[String]) -> Result<Options, String> {
    if cli.rounds == 0 {
        return Err("--rounds must be at least 1".into());
    }
    Ok(Options {
        quick: cli.quick,
        install: cli.install,
        scenarios: cli.scenarios,
        rounds: cli.rounds,
        duration: parse_duration(&cli.duration).map_err(|e| e.to_string())?,
        warmup: parse_duration(&cli.warmup).map_err(|e| e.to_string())?,
        out: cli.out,
        skip: cli.skip,
        no_build: cli.no_build,
        instructions: cli.instructions,
        command: format!(
            "cargo run --release -p perf-tests --bin compare -- {}",
            args.join(" ")
        )
        .trim_end()
        .to_owned(),
    })
}

fn report(verdict: &compare::Verdict, quick: bool) -> ExitCode {
    for file in &verdict.files {
        eprintln!("compare: wrote {}", file.display());
    }
    for name in &verdict.missing {
        eprintln!("compare: note: {name} was not measured (missing)");
    }
    let missing_files = verdict.files.iter().filter(|f| !f.is_file()).count();
    if verdict.failures.is_empty() && missing_files == 0 && !verdict.files.is_empty() {
        eprintln!(
            "compare: {} every proxy that ran answered correctly",
            if quick {
                "quick smoke run passed:"
            } else {
                "done:"
            }
        );
        return ExitCode::SUCCESS;
    }
    for failure in &verdict.failures {
        eprintln!("compare: FAILED: {failure}");
    }
    ExitCode::FAILURE
}
