//! `ai-bench`: the AI front end benchmark (`perf-tests/run.sh --scenario ai`).
//!
//! ```text
//! cargo run --release -p perf-tests --bin ai-bench -- [--quick] [--only NAME]... [--no-build] [--out DIR]
//! ```
//!
//! Scenarios: openai-c1, anthropic-c1, stream-ttft, stream-cpu, streams-10k,
//! rps-core (see perf_tests::ai). The report goes to stdout and to
//! perf-tests/results/YYYY-MM-DD-ai.md; a full run takes about 2 minutes.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use perf_tests::ai::{self, Options};

/// coregate's AI front end against the mock provider, on the
/// shared/BENCH.md layout: mock and load on CPU 0, coregate on CPU 1.
#[derive(Debug, Parser)]
#[command(name = "ai-bench")]
struct Cli {
    /// About one second per scenario (a smoke test); the report goes to
    /// perf-tests/results/tmp/.
    #[arg(long)]
    quick: bool,
    /// Accepted for run.sh (`--scenario ai`): `ai` runs every scenario,
    /// any other value names one of them.
    #[arg(long = "scenario")]
    scenarios: Vec<String>,
    /// Run only this scenario (repeatable): openai-c1, anthropic-c1,
    /// stream-ttft, stream-cpu, streams-10k, rps-core.
    #[arg(long)]
    only: Vec<String>,
    /// Use the release binaries already built.
    #[arg(long)]
    no_build: bool,
    /// Results folder [default: perf-tests/results/].
    #[arg(long)]
    out: Option<PathBuf>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let mut only = cli.only;
    only.extend(cli.scenarios.into_iter().filter(|s| s != "ai"));
    let args: Vec<String> = std::env::args().skip(1).collect();
    let opts = Options {
        quick: cli.quick,
        only,
        no_build: cli.no_build,
        out: cli.out,
        command: format!("perf-tests/run.sh {}", args.join(" ")),
    };
    match ai::run(&opts) {
        Ok(path) => {
            println!("report written to {}", path.display());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("ai-bench: {e}");
            ExitCode::FAILURE
        }
    }
}
