//! The `coregate` binary: flags and config in, a running gateway out.
//!
//! This is the only place `anyhow` is used: everything below it returns
//! typed errors.

use std::process::ExitCode;
use std::thread;

use anyhow::Context as _;
use clap::Parser as _;
use engine::Server;
use mimalloc::MiMalloc;
use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;
use tuning::{Cli, Command, ConfigSource, Tuning};

#[global_allocator]
static GLOBAL: MiMalloc = MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let res = match cli.command.clone() {
        Some(Command::Check { config }) => check(&config),
        None => run(cli),
    };
    match res {
        Ok(code) => code,
        Err(e) => {
            eprintln!("coregate: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// `coregate check --config FILE`: every error, with file, line and field.
fn check(path: &std::path::Path) -> anyhow::Result<ExitCode> {
    match tuning::parse_file(path) {
        Ok(t) => {
            println!("{}: ok ({})", path.display(), t.summary());
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            eprintln!("{e}");
            Ok(ExitCode::FAILURE)
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let t = Tuning::from_cli(cli)?;
    let source = match &t.source {
        ConfigSource::Embedded => "embedded default config".to_string(),
        ConfigSource::Quick => "quick mode".to_string(),
        ConfigSource::File(p) => p.display().to_string(),
    };
    let summary = t.summary();
    let server = Server::start(t)?;
    for addr in server.local_addrs() {
        println!("coregate: listening on http://{addr} ({source})");
    }
    println!("coregate: {summary}");
    let mut signals = Signals::new([SIGTERM, SIGINT]).context("installing signal handlers")?;
    let stop = server.stop_handle();
    thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            let mut seen = 0;
            for sig in signals.forever() {
                seen += 1;
                if seen > 1 {
                    eprintln!("coregate: second signal, exiting now");
                    std::process::exit(1);
                }
                eprintln!("coregate: signal {sig}, draining");
                stop.stop();
            }
        })
        .context("starting the signal thread")?;
    server.wait()?;
    eprintln!("coregate: stopped");
    Ok(ExitCode::SUCCESS)
}
