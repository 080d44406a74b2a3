//! `tls-load`: HTTP/1.1 over TLS 1.3 load, keep-alive or a new connection
//! per request with or without session resumption (see `perf_tests::tls_load`).
//!
//! ```text
//! tls-load --mode full -c 64 -d 10s --json out.json https://127.0.0.1:8443/
//! ```

use std::path::PathBuf;
use std::process::ExitCode;

use bench::scenario::parse_duration;
use clap::Parser;
use perf_tests::tls_load::{self, Mode, Plan};

/// Closed-loop HTTPS load, bounded by time and by request count.
#[derive(Debug, Parser)]
#[command(name = "tls-load")]
struct Cli {
    /// keep-alive, resumed (new connection per request, session tickets) or
    /// full (new connection per request, full handshake every time).
    #[arg(long, default_value = "keep-alive")]
    mode: String,
    /// Concurrent connections.
    #[arg(short = 'c', long, default_value_t = 64)]
    connections: usize,
    /// Threads (each with its own epoll and share of the connections).
    #[arg(short = 't', long, default_value_t = 1)]
    threads: usize,
    /// Run length.
    #[arg(short = 'd', long, default_value = "10s")]
    duration: String,
    /// Stop after this many responses too.
    #[arg(short = 'n', long)]
    requests: Option<u64>,
    /// A request slower than this counts as a timeout error.
    #[arg(long, default_value = "5s")]
    timeout: String,
    /// Keep-alive only: one request per connection, then hold every
    /// connection idle this long (-d bounds the opening).
    #[arg(long)]
    hold: Option<String>,
    /// Write the report as JSON here.
    #[arg(long)]
    json: Option<PathBuf>,
    /// https://IP:PORT/path
    url: String,
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tls-load: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<(), String> {
    let (addr, host, path) = Plan::target(&cli.url)?;
    if cli.connections == 0 {
        return Err("-c must be at least 1".into());
    }
    let plan = Plan {
        url: cli.url.clone(),
        addr,
        host,
        path,
        connections: cli.connections,
        threads: cli.threads,
        duration: parse_duration(&cli.duration).map_err(|e| e.to_string())?,
        max_requests: cli.requests,
        timeout: parse_duration(&cli.timeout).map_err(|e| e.to_string())?,
        mode: Mode::parse(&cli.mode)?,
        hold: cli
            .hold
            .as_deref()
            .map(parse_duration)
            .transpose()
            .map_err(|e| e.to_string())?,
    };
    let _ = bench::loadgen::raise_fd_limit(cli.connections as u64 + 64);
    let report = tls_load::run(&plan)?;
    print!("{}", report.report.table());
    println!(
        "  tls        {}: {} full handshakes, {} resumed",
        plan.mode.as_str(),
        report.handshakes.full,
        report.handshakes.resumed
    );
    if let Some(path) = &cli.json {
        let text = serde_json::to_string_pretty(&report).map_err(|e| e.to_string())?;
        std::fs::write(path, text).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    Ok(())
}
