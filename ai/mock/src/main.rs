//! The mock as a process for benchmarks: parses flags, starts the mock,
//! prints `listening on ADDR` and serves until killed.

use std::io::Write;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use ai_mock::{Mock, MockConfig};

const USAGE: &str = "usage: ai-mock [--listen 127.0.0.1:PORT] [--frame-delay-ms N] [--words N] \
                     [--key K]... [--revoked K]...";

/// Reads the flags into a config.
fn parse(args: impl Iterator<Item = String>) -> Result<MockConfig, String> {
    let mut cfg = MockConfig::default();
    let mut args = args;
    while let Some(flag) = args.next() {
        if flag == "--help" || flag == "-h" {
            return Err(USAGE.to_string());
        }
        let value = args
            .next()
            .ok_or_else(|| format!("{flag} needs a value\n{USAGE}"))?;
        let bad = |what: &str| format!("{flag}: {what}: {value:?}\n{USAGE}");
        match flag.as_str() {
            "--listen" => {
                cfg.listen = Some(
                    value
                        .parse::<SocketAddr>()
                        .map_err(|_| bad("not an address"))?,
                )
            }
            "--frame-delay-ms" => {
                let ms = value.parse::<u64>().map_err(|_| bad("not a number"))?;
                cfg.frame_delay = Duration::from_millis(ms);
            }
            "--words" => cfg.words = value.parse::<usize>().map_err(|_| bad("not a number"))?,
            "--key" => cfg.keys.push(value),
            "--revoked" => cfg.revoked.push(value),
            _ => return Err(format!("unknown flag {flag}\n{USAGE}")),
        }
    }
    Ok(cfg)
}

fn main() -> ExitCode {
    let cfg = match parse(std::env::args().skip(1)) {
        Ok(cfg) => cfg,
        Err(msg) => {
            eprintln!("{msg}");
            return ExitCode::from(2);
        }
    };
    let mock = match Mock::start(cfg) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("ai-mock: cannot listen: {e}");
            return ExitCode::from(1);
        }
    };
    let mut out = std::io::stdout();
    if writeln!(out, "listening on {}", mock.addr())
        .and_then(|()| out.flush())
        .is_err()
    {
        return ExitCode::from(1);
    }
    loop {
        std::thread::park();
    }
}
