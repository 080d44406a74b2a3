//! `coregate-bench`: HTTP/1.1 load generator and benchmark origin.
//!
//! ```text
//! coregate-bench -c 64 -d 10s http://127.0.0.1:8082/
//! coregate-bench --rate 40000 -c 64 -d 10s --json out.json http://127.0.0.1:8082/
//! coregate-bench origin --listen 127.0.0.1:8081 --body-size 100
//! ```

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use bench::scenario::{self, RequestSpec, Scenario, Stop};
use bench::{loadgen, origin, BenchError, Report};
use clap::{Args, Parser, Subcommand};

/// HTTP/1.1 load generator (closed or open loop) and benchmark origin.
#[derive(Debug, Parser)]
#[command(
    name = "coregate-bench",
    version,
    args_conflicts_with_subcommands = true,
    subcommand_negates_reqs = true
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    load: LoadArgs,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve a fixed response (N body bytes, keep-alive) to every request.
    Origin {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:8081")]
        listen: SocketAddr,
        /// Response body size in bytes.
        #[arg(long, default_value_t = 100)]
        body_size: usize,
        /// Serving threads (SO_REUSEPORT listeners).
        #[arg(long, default_value_t = 1)]
        threads: usize,
    },
}

#[derive(Debug, Args)]
struct LoadArgs {
    /// Target, e.g. http://127.0.0.1:8082/
    #[arg(required = true)]
    url: Option<String>,
    /// Connections to keep open.
    #[arg(short, long, default_value_t = scenario::DEFAULT_CONNECTIONS)]
    connections: usize,
    /// Run length, e.g. 10s, 500ms, 2m.
    #[arg(short, long, conflicts_with = "requests")]
    duration: Option<String>,
    /// Stop after this many requests (answered or failed).
    #[arg(short = 'n', long)]
    requests: Option<u64>,
    /// Worker threads, one epoll loop each.
    #[arg(short, long, default_value_t = 1)]
    threads: usize,
    /// Open loop: total requests per second, spread evenly; latency counts
    /// from each request's intended send time.
    #[arg(short = 'R', long)]
    rate: Option<f64>,
    /// Send `Connection: close` and use a new connection for every request.
    #[arg(long)]
    close: bool,
    /// Request method.
    #[arg(short, long, default_value = "GET")]
    method: String,
    /// Extra header, `Name: value` (repeatable).
    #[arg(short = 'H', long = "header")]
    headers: Vec<String>,
    /// Request body size in bytes (sent with Content-Length).
    #[arg(long, default_value_t = 0)]
    body_size: usize,
    /// Request path (repeatable, cycled); default: the URL's path.
    #[arg(long = "path")]
    paths: Vec<String>,
    /// A request slower than this counts as a timeout error.
    #[arg(long, default_value = "5s")]
    timeout: String,
    /// Send one request per connection, then hold them all idle this long.
    #[arg(long)]
    hold: Option<String>,
    /// Also write the report as JSON to this file.
    #[arg(long)]
    json: Option<std::path::PathBuf>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Some(Command::Origin {
            listen,
            body_size,
            threads,
        }) => origin::serve_forever(listen, body_size, threads),
        None => run_load(&cli.load),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("coregate-bench: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run_load(args: &LoadArgs) -> Result<(), BenchError> {
    let scenario = Arc::new(build_scenario(args)?);
    let outcome = loadgen::run(&scenario, true)?;
    let mut report = Report::new(&scenario, &outcome.stats, outcome.elapsed);
    if let Some(hold) = scenario.hold {
        report.held_connections = Some(outcome.held.len() as u64);
        eprintln!(
            "coregate-bench: {} connections open and idle, holding {hold:?}",
            outcome.held.len()
        );
        std::thread::sleep(hold);
    }
    print!("{}", report.table());
    if let Some(path) = &args.json {
        std::fs::write(path, report.to_json())
            .map_err(|e| BenchError::io("write", path.display(), e))?;
    }
    Ok(())
}

fn build_scenario(args: &LoadArgs) -> Result<Scenario, BenchError> {
    let url = args.url.as_deref().unwrap_or_default();
    let target = scenario::parse_url(url)?;
    let invalid = |why: &str| Err(BenchError::InvalidOptions(why.to_owned()));
    if args.connections == 0 || args.threads == 0 || args.threads > args.connections {
        return invalid("need at least one connection per thread");
    }
    if args
        .rate
        .is_some_and(|rate| !(rate > 0.0 && rate.is_finite()))
    {
        return invalid("--rate must be a positive number");
    }
    let hold = args
        .hold
        .as_deref()
        .map(scenario::parse_duration)
        .transpose()?;
    if hold.is_some() && (args.rate.is_some() || args.requests.is_some() || args.close) {
        return invalid("--hold sends one request per connection: no --rate, -n or --close");
    }
    let stop = match (args.requests, &args.duration) {
        (Some(n), _) => Stop::Requests(n),
        (None, Some(text)) => Stop::After(scenario::parse_duration(text)?),
        (None, None) => Stop::After(scenario::DEFAULT_DURATION),
    };
    let paths = if args.paths.is_empty() {
        vec![target.path.clone()]
    } else {
        args.paths.clone()
    };
    let headers = args
        .headers
        .iter()
        .map(|h| scenario::check_header(h))
        .collect::<Result<_, _>>()?;
    let spec = RequestSpec {
        method: args.method.clone(),
        authority: target.authority.clone(),
        paths,
        headers,
        body_size: args.body_size,
        close: args.close,
    };
    Ok(Scenario {
        addr: target.addr,
        url: format!("http://{}{}", target.authority, spec.paths[0]),
        connections: args.connections,
        threads: args.threads,
        stop,
        rate: args.rate,
        close: args.close,
        no_body: args.method.eq_ignore_ascii_case("HEAD"),
        timeout: scenario::parse_duration(&args.timeout)?.max(Duration::from_millis(1)),
        hold,
        requests: spec.build(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scenario(args: &[&str]) -> Result<Scenario, BenchError> {
        let cli = Cli::try_parse_from(["coregate-bench"].iter().chain(args)).unwrap();
        build_scenario(&cli.load)
    }

    #[test]
    fn defaults_and_options() {
        let plain = scenario(&["http://127.0.0.1:8082/x"]).unwrap();
        assert_eq!((plain.connections, plain.threads), (64, 1));
        assert_eq!(plain.stop, Stop::After(scenario::DEFAULT_DURATION));
        assert!(plain.requests[0].starts_with(b"GET /x HTTP/1.1\r\nHost: 127.0.0.1:8082\r\n"));
        let open = scenario(&[
            "-R",
            "5000",
            "-n",
            "100",
            "--close",
            "-m",
            "HEAD",
            "http://127.0.0.1:1/",
        ])
        .unwrap();
        assert_eq!(
            (open.rate, open.stop, open.close, open.no_body),
            (Some(5000.0), Stop::Requests(100), true, true)
        );
        let paths = scenario(&["--path", "/a", "--path", "/b", "http://127.0.0.1:1/"]).unwrap();
        assert_eq!(paths.requests.len(), 2);
    }

    #[test]
    fn bad_combinations_are_refused() {
        assert!(scenario(&["-c", "1", "-t", "2", "http://127.0.0.1:1/"]).is_err());
        assert!(scenario(&["-R", "0", "http://127.0.0.1:1/"]).is_err());
        assert!(scenario(&["--hold", "1s", "-R", "10", "http://127.0.0.1:1/"]).is_err());
        assert!(scenario(&["-H", "bad header", "http://127.0.0.1:1/"]).is_err());
        assert!(Cli::try_parse_from([
            "coregate-bench",
            "-d",
            "1s",
            "-n",
            "5",
            "http://127.0.0.1:1/"
        ])
        .is_err());
    }

    #[test]
    fn origin_subcommand() {
        let cli = Cli::try_parse_from([
            "coregate-bench",
            "origin",
            "--listen",
            "127.0.0.1:0",
            "--body-size",
            "7",
        ])
        .unwrap();
        assert!(matches!(
            cli.command,
            Some(Command::Origin { body_size: 7, .. })
        ));
    }
}
