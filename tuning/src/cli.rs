//! Command-line flags (clap derive). Every option is also a config-file
//! field; a flag given on the command line overrides the file.
//!
//! Numbers stay wide (`u64`) here so that flags and file fields go through
//! the same range checks in [`validate`](crate::validate), with the same messages.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, Subcommand};

use crate::observe::LogDest;
use crate::units::{parse_body_limit, parse_cpu_list, parse_duration, parse_size};

/// coregate: a shard-per-core HTTP/1.1 edge gateway.
///
/// With neither --config nor --upstream it serves a built-in welcome page on
/// 127.0.0.1:8080. --upstream is quick mode: one catch-all route,
/// round-robin over the given backends. --config is config mode: a TOML
/// file; flags override the file's global values. Per-route and per-upstream
/// settings (path, method and header matching, priorities, balancing
/// algorithms, circuit breakers, health checks, outlier ejection, rewrites,
/// header changes, timeout overrides, retries) exist only in the file.
/// --tls-cert and --tls-key make every listener HTTPS in quick mode and the
/// embedded default; in a file, listeners name a [tls.NAME] profile.
#[derive(Debug, Clone, Default, PartialEq, Eq, Parser)]
#[command(
    name = "coregate",
    version,
    args_conflicts_with_subcommands = true,
    after_help = EXAMPLES
)]
pub struct Cli {
    /// Config file (TOML); flags override its values
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Listen address, repeatable [default: 127.0.0.1:8080]
    #[arg(long, value_name = "ADDR")]
    pub listen: Vec<SocketAddr>,

    /// Quick mode: proxy everything round-robin to this backend, repeatable
    #[arg(long, value_name = "ADDR", conflicts_with = "config")]
    pub upstream: Vec<SocketAddr>,

    /// Admin endpoint address, or "off" [default: 127.0.0.1:9901]
    #[arg(long, value_name = "ADDR|off", value_parser = parse_admin)]
    pub admin: Option<Admin>,

    /// Certificate chain (PEM) served on every listener, repeatable, paired with --tls-key by order; the first is the default (quick mode and the embedded default; with --config use [tls.NAME])
    #[arg(long, value_name = "FILE", help_heading = "TLS")]
    pub tls_cert: Vec<PathBuf>,

    /// Private key (PEM) of the --tls-cert at the same position, repeatable
    #[arg(long, value_name = "FILE", help_heading = "TLS")]
    pub tls_key: Vec<PathBuf>,

    /// Number of shards [default: one per usable CPU, or one per --cpus entry]
    #[arg(long, value_name = "N", help_heading = "Shards")]
    pub shards: Option<u64>,

    /// Pin shard i to the i-th CPU listed, e.g. 1,3 or 0-3 [default: the usable CPUs in order]
    #[arg(long, value_name = "LIST", value_parser = parse_cpu_flag, help_heading = "Shards")]
    pub cpus: Option<CpuList>,

    /// listen(2) backlog [default: 4096]
    #[arg(long, value_name = "N", help_heading = "Shards")]
    pub backlog: Option<u64>,

    /// Open client connections per shard [default: 16384]
    #[arg(long, value_name = "N", help_heading = "Shards")]
    pub max_connections: Option<u64>,

    /// Time to receive a request head, then 408 [default: 10s]
    #[arg(long, value_name = "DUR", value_parser = parse_duration, help_heading = "Timeouts")]
    pub client_header_timeout: Option<Duration>,

    /// Idle time between client body reads [default: 60s]
    #[arg(long, value_name = "DUR", value_parser = parse_duration, help_heading = "Timeouts")]
    pub client_body_timeout: Option<Duration>,

    /// Idle time of a kept-alive client connection [default: 75s]
    #[arg(long, value_name = "DUR", value_parser = parse_duration, help_heading = "Timeouts")]
    pub client_keepalive_timeout: Option<Duration>,

    /// Time to connect to a backend [default: 5s]
    #[arg(long, value_name = "DUR", value_parser = parse_duration, help_heading = "Timeouts")]
    pub upstream_connect_timeout: Option<Duration>,

    /// Time to receive a backend's response head [default: 60s]
    #[arg(long, value_name = "DUR", value_parser = parse_duration, help_heading = "Timeouts")]
    pub upstream_header_timeout: Option<Duration>,

    /// Idle time between backend body reads [default: 60s]
    #[arg(long, value_name = "DUR", value_parser = parse_duration, help_heading = "Timeouts")]
    pub upstream_body_timeout: Option<Duration>,

    /// Upgrade tunnels (WebSocket...) with no bytes either way for this long are closed [default: 1h]
    #[arg(long, value_name = "DUR", value_parser = parse_duration, help_heading = "Timeouts")]
    pub tunnel_idle_timeout: Option<Duration>,

    /// How long a pooled backend connection may idle [default: 60s]
    #[arg(long, value_name = "DUR", value_parser = parse_duration, help_heading = "Timeouts")]
    pub upstream_idle_timeout: Option<Duration>,

    /// Longest wait for one send to a client; slower readers are closed [default: 60s]
    #[arg(long, value_name = "DUR", value_parser = parse_duration, help_heading = "Timeouts")]
    pub client_send_timeout: Option<Duration>,

    /// Grace period for open connections on shutdown [default: 30s]
    #[arg(long, value_name = "DUR", value_parser = parse_duration, help_heading = "Timeouts")]
    pub drain_timeout: Option<Duration>,

    /// Request line plus headers, in bytes (16k-style sizes accepted) [default: 16384]
    #[arg(long, value_name = "BYTES", value_parser = parse_size, help_heading = "Request limits")]
    pub max_head_bytes: Option<u64>,

    /// Request headers per request [default: 100]
    #[arg(long, value_name = "N", help_heading = "Request limits")]
    pub max_headers: Option<u64>,

    /// Request target (path and query), in bytes [default: 8192]
    #[arg(long, value_name = "BYTES", value_parser = parse_size, help_heading = "Request limits")]
    pub max_target_bytes: Option<u64>,

    /// Upstream response status line plus headers, in bytes; more is a 502 [default: 16384]
    #[arg(long, value_name = "BYTES", value_parser = parse_size, help_heading = "Request limits")]
    pub max_response_head_bytes: Option<u64>,

    /// Request body bytes per second a client must average after client-body-timeout; 0 = off [default: 512]
    #[arg(long, value_name = "BYTES", value_parser = parse_size, help_heading = "Request limits")]
    pub client_body_min_rate: Option<u64>,

    /// Request body, e.g. 10m or 1g; 0 = unlimited [default: unlimited]
    #[arg(long, value_name = "BYTES", value_parser = parse_body_limit, help_heading = "Request limits")]
    pub max_body_bytes: Option<u64>,

    /// io_uring entries per shard, a power of two [default: 1024]
    #[arg(long, value_name = "N", help_heading = "I/O and pooling")]
    pub io_ring_entries: Option<u64>,

    /// Provided read buffers per shard, a power of two [default: 1024]
    #[arg(long, value_name = "N", help_heading = "I/O and pooling")]
    pub io_buffers: Option<u64>,

    /// Bytes per provided read buffer [default: 16384]
    #[arg(long, value_name = "BYTES", value_parser = parse_size, help_heading = "I/O and pooling")]
    pub io_buffer_size: Option<u64>,

    /// Bytes read but not yet consumed, per connection [default: 262144]
    #[arg(long, value_name = "BYTES", value_parser = parse_size, help_heading = "I/O and pooling")]
    pub io_max_unread: Option<u64>,

    /// After the shard's io driver parks through the executor, how long it
    /// then waits for socket events in its own ring (one syscall per wake-up);
    /// the executor's timers may run this late. 0ms = off [default: 5ms]
    #[arg(long, value_name = "DUR", value_parser = parse_duration, help_heading = "I/O and pooling")]
    pub io_direct_wait: Option<Duration>,

    /// Pooled idle connections per shard per backend, 0 = no pooling [default: 256]
    #[arg(long, value_name = "N", help_heading = "I/O and pooling")]
    pub upstream_max_idle: Option<u64>,

    /// Directory of the embedded access store (teams, services, apps,
    /// credentials, subscriptions), created if missing [default: none]
    #[arg(long, value_name = "DIR", help_heading = "Access")]
    pub data_dir: Option<std::path::PathBuf>,

    /// PostgreSQL URL of a store shared by several gateway hosts, instead
    /// of --data-dir (a password here shows in `ps`: prefer the file's
    /// access.store) [default: none]
    #[arg(long, value_name = "URL", help_heading = "Access")]
    pub store: Option<String>,

    /// Quick mode: the store's service that guards the catch-all route
    /// (callers need its credential and an approved subscription); with
    /// --config, routes name their service in the file [default: none]
    #[arg(long, value_name = "NAME", help_heading = "Access")]
    pub service: Option<String>,

    /// Quick mode: a limit policy on the catch-all route, written as the
    /// file's inline table, e.g. '{ rate = "100/s", burst = 20, key = "ip" }'
    /// (repeatable; see the config reference's limit policies) [default: none]
    #[arg(long, value_name = "TABLE", help_heading = "Limits")]
    pub rate_limit: Vec<String>,

    /// Redis of the limits counted across hosts (`global`), as `redis.url`:
    /// redis://[:password@]host:port[/db] or rediss:// (a password here
    /// shows in `ps`: prefer the file) [default: none]
    #[arg(long, value_name = "URL", help_heading = "Limits")]
    pub redis: Option<String>,

    /// Quick mode: cache the catch-all route's responses, with the file's
    /// route table, e.g. '{ default_ttl = "60s", max_object_bytes = "1m" }'
    /// ('{}' follows the origin's Cache-Control only) [default: no cache]
    #[arg(long, value_name = "TABLE", help_heading = "Cache")]
    pub cache: Option<String>,

    /// Memory budget of the whole host's response cache, as `cache.memory`
    /// [default: 256m]
    #[arg(long, value_name = "BYTES", help_heading = "Cache")]
    pub cache_memory: Option<String>,

    /// Address of the management API (`/api/v1`), or `off`
    /// [default: 127.0.0.1:9902 with --data-dir, else off]
    #[arg(long, value_name = "ADDR|off", value_parser = parse_admin, help_heading = "Access")]
    pub api: Option<Admin>,

    /// File holding the management API's root token (or set
    /// COREGATE_API_TOKEN); required when the API listens beyond loopback
    #[arg(long, value_name = "FILE", help_heading = "Access")]
    pub api_token_file: Option<std::path::PathBuf>,

    /// Reload the config file when it changes (config mode only) [default: off]
    #[arg(long, help_heading = "Config")]
    pub watch_config: bool,

    /// Merge runs of `/` in request paths before routing, as nginx does
    /// [default: off]
    #[arg(long, help_heading = "Config")]
    pub merge_slashes: bool,

    /// Turn off per-route/backend statistics and latency histograms (the
    /// simple counters stay) [default: on]
    #[arg(long, help_heading = "Observability")]
    pub metrics_off: bool,

    /// Route label values kept in metrics; the rest fold into "other" [default: 100]
    #[arg(long, value_name = "N", help_heading = "Observability")]
    pub metrics_max_routes: Option<u64>,

    /// Backend label values kept in metrics; the rest fold into "other" [default: 100]
    #[arg(long, value_name = "N", help_heading = "Observability")]
    pub metrics_max_backends: Option<u64>,

    /// Access log: a file path, "stdout" or "off" [default: off]
    #[arg(long, value_name = "PATH|stdout|off", value_parser = LogDest::parse, help_heading = "Observability")]
    pub access_log: Option<LogDest>,

    /// Fraction of requests logged, 0 to 1 [default: 1]
    #[arg(long, value_name = "FRACTION", value_parser = parse_sample, help_heading = "Observability")]
    pub access_log_sample: Option<Sample>,

    /// Log only 4xx/5xx responses and coregate's own errors
    #[arg(long, help_heading = "Observability")]
    pub access_log_errors_only: bool,

    /// Access log lines buffered per shard before dropping [default: 8192]
    #[arg(long, value_name = "N", help_heading = "Observability")]
    pub access_log_queue: Option<u64>,

    /// Query strings longer than this are truncated in the log [default: 256]
    #[arg(long, value_name = "BYTES", value_parser = parse_size, help_heading = "Observability")]
    pub access_log_max_query: Option<u64>,

    /// What to do instead of running.
    #[command(subcommand)]
    pub command: Option<Command>,
}

const EXAMPLES: &str = "\
Examples:
  coregate --upstream 127.0.0.1:9000 --upstream 127.0.0.1:9001
  coregate --listen 0.0.0.0:8443 --tls-cert site.pem --tls-key site.key --upstream 127.0.0.1:9000
  coregate --config /etc/coregate.toml --shards 4 --cpus 2-5
  coregate check --config /etc/coregate.toml

Durations: 500ms, 10s, 2m, 1h. Sizes: bytes, or 16k, 10m, 1g.";

/// Subcommands.
#[derive(Debug, Clone, PartialEq, Eq, Subcommand)]
pub enum Command {
    /// Validate a config file: exit 0, or print every error (file:line: field: message) and exit 1
    Check {
        /// The config file to check.
        #[arg(long, value_name = "FILE")]
        config: PathBuf,
    },
    /// Summarise JSON access logs: traffic, errors, latency and AI tokens and cost over time, per route, upstream, status, consumer, app, team, AI provider or model
    #[command(after_help = REPORT_EXAMPLES)]
    Report {
        /// Access log files, one JSON object per line; "-" reads stdin
        #[arg(value_name = "ACCESS_LOG", required = true)]
        logs: Vec<PathBuf>,

        /// Skip lines before WHEN: an RFC 3339 time, or a duration before the newest line (1h, 30m)
        #[arg(long, value_name = "WHEN")]
        since: Option<String>,

        /// Skip lines at or after WHEN: an RFC 3339 time, or a duration before the newest line
        #[arg(long, value_name = "WHEN")]
        until: Option<String>,

        /// Break traffic down by this field (app is the consumer; provider and model are "-" on non-AI requests)
        #[arg(long, value_name = "FIELD", default_value = "route",
              value_parser = ["route", "upstream", "status", "consumer", "app", "team", "provider", "model"])]
        by: String,

        /// Width of a time bucket, e.g. 1m, 5m, 1h
        #[arg(long, value_name = "DUR", default_value = "1m", value_parser = parse_duration)]
        bucket: Duration,

        /// Keys shown per bucket, by request count (the total row is always shown)
        #[arg(long, value_name = "N", default_value_t = 5)]
        top: usize,

        /// Output format
        #[arg(long, value_name = "FORMAT", default_value = "md", value_parser = ["md", "json"])]
        format: String,

        /// Also draw request rate and p99 latency over time into this SVG file
        #[arg(long, value_name = "FILE")]
        svg: Option<PathBuf>,

        /// Write the report here instead of stdout
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
}

const REPORT_EXAMPLES: &str = "\
Examples:
  coregate report /var/log/coregate/access.log --since 1h --bucket 5m
  coregate report a.log b.log --by upstream --format json --out report.json
  tail -n 100000 access.log | coregate report - --by status --svg report.svg
  coregate report access.log --by team --bucket 1h    # AI tokens and cost per team

WHEN is an RFC 3339 time (2026-11-26T13:00:00Z) or a duration such as 30m,
counted back from the newest line in the logs (so old logs work too; stdin
needs an RFC 3339 time).";

/// `--admin`: an address, or `off`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admin {
    /// No admin endpoint.
    Off,
    /// Serve the admin endpoint here.
    At(SocketAddr),
}

/// `--access-log-sample`: a finite number, range-checked in validation
/// (so flag and file share one message).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample(pub f64);

/// Never NaN: the flag parser refuses it.
impl Eq for Sample {}

fn parse_sample(text: &str) -> Result<Sample, String> {
    match text.trim().parse::<f64>() {
        Ok(f) if f.is_finite() => Ok(Sample(f)),
        _ => Err(format!(
            "invalid fraction {text:?}: expected a number from 0 to 1, e.g. 0.1"
        )),
    }
}

/// `--cpus`: CPU numbers in shard order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CpuList(pub Vec<usize>);

fn parse_cpu_flag(text: &str) -> Result<CpuList, String> {
    parse_cpu_list(text).map(CpuList)
}

/// `off` or an `IP:port`.
pub(crate) fn parse_admin(text: &str) -> Result<Admin, String> {
    if text.eq_ignore_ascii_case("off") {
        return Ok(Admin::Off);
    }
    crate::validate::parse_addr(text).map(Admin::At)
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;
    use crate::defaults::*;
    use crate::units::format_duration;

    #[test]
    fn clap_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn help_shows_every_default() {
        let help = Cli::command().render_help().to_string();
        let d = |d: Duration| format!("[default: {}]", format_duration(d));
        let expected = [
            format!("[default: {DEFAULT_LISTEN}]"),
            format!("[default: {DEFAULT_BACKLOG}]"),
            format!("[default: {DEFAULT_MAX_CONNECTIONS}]"),
            format!("[default: {DEFAULT_ADMIN}]"),
            d(DEFAULT_CLIENT_HEADER_TIMEOUT),
            d(DEFAULT_CLIENT_BODY_TIMEOUT),
            d(DEFAULT_CLIENT_KEEPALIVE_TIMEOUT),
            d(DEFAULT_UPSTREAM_CONNECT_TIMEOUT),
            d(DEFAULT_UPSTREAM_HEADER_TIMEOUT),
            d(DEFAULT_DRAIN_TIMEOUT),
            d(DEFAULT_TUNNEL_IDLE_TIMEOUT),
            d(DEFAULT_CLIENT_SEND_TIMEOUT),
            format!("[default: {DEFAULT_MAX_RESPONSE_HEAD_BYTES}]"),
            format!("[default: {DEFAULT_CLIENT_BODY_MIN_RATE}]"),
            format!("[default: {DEFAULT_UPSTREAM_MAX_IDLE}]"),
            format!("[default: {DEFAULT_MAX_HEAD_BYTES}]"),
            format!("[default: {DEFAULT_MAX_HEADERS}]"),
            format!("[default: {DEFAULT_MAX_TARGET_BYTES}]"),
            format!("[default: {DEFAULT_IO_RING_ENTRIES}]"),
            format!("[default: {DEFAULT_IO_BUFFERS}]"),
            format!("[default: {DEFAULT_IO_BUFFER_SIZE}]"),
            format!("[default: {DEFAULT_IO_MAX_UNREAD}]"),
            d(DEFAULT_IO_DIRECT_WAIT),
            format!("[default: {DEFAULT_METRICS_MAX_ROUTES}]"),
            format!("[default: {DEFAULT_ACCESS_LOG_SAMPLE}]"),
            format!("[default: {DEFAULT_ACCESS_LOG_QUEUE}]"),
            format!("[default: {DEFAULT_ACCESS_LOG_MAX_QUERY}]"),
            "[default: off]".to_owned(),
        ];
        for text in expected {
            assert!(help.contains(&text), "help lacks {text}:\n{help}");
        }
        // The duration defaults that share a value must each be stated.
        let dur_lines = help
            .lines()
            .filter(|l| l.contains("[default: 60s]"))
            .count();
        assert_eq!(dur_lines, 5, "{help}");
    }

    #[test]
    fn reference_doc_names_every_flag() {
        let doc = include_str!("docs/config.md");
        for arg in Cli::command().get_arguments() {
            let Some(long) = arg.get_long() else { continue };
            assert!(
                doc.contains(&format!("`--{long}")),
                "docs/config.md lacks --{long}"
            );
        }
    }

    #[test]
    fn every_option_has_one_line_help() {
        for arg in Cli::command().get_arguments() {
            let help = arg.get_help().map(ToString::to_string).unwrap_or_default();
            assert!(
                !help.is_empty() && !help.contains('\n'),
                "--{} help: {help:?}",
                arg.get_id()
            );
        }
    }

    #[test]
    fn parses_flags() {
        let cli = Cli::try_parse_from([
            "coregate",
            "--listen",
            "127.0.0.1:1",
            "--listen",
            "[::1]:2",
            "--cpus",
            "0-1",
            "--admin",
            "off",
            "--client-header-timeout",
            "500ms",
            "--max-body-bytes",
            "0",
            "--io-buffer-size",
            "32k",
        ])
        .unwrap();
        assert_eq!(cli.listen.len(), 2);
        assert_eq!(cli.cpus, Some(CpuList(vec![0, 1])));
        assert_eq!(cli.admin, Some(Admin::Off));
        assert_eq!(cli.client_header_timeout, Some(Duration::from_millis(500)));
        assert_eq!(cli.max_body_bytes, Some(u64::MAX));
        assert_eq!(cli.io_buffer_size, Some(32 * 1024));
    }

    #[test]
    fn help_says_group_and_route_settings_are_file_only() {
        let help = Cli::command().render_long_help().to_string();
        assert!(help.contains("exist only in the file"), "{help}");
    }

    #[test]
    fn parses_observability_flags() {
        let cli = Cli::try_parse_from([
            "coregate",
            "--access-log",
            "/tmp/a.log",
            "--access-log-sample",
            "0.1",
            "--access-log-errors-only",
            "--watch-config",
        ])
        .unwrap();
        assert_eq!(cli.access_log, Some(LogDest::File("/tmp/a.log".into())));
        assert_eq!(cli.access_log_sample, Some(Sample(0.1)));
        assert!(cli.access_log_errors_only && cli.watch_config);
        assert!(Cli::try_parse_from(["coregate", "--access-log-sample", "inf"]).is_err());
    }

    #[test]
    fn check_subcommand() {
        let cli = Cli::try_parse_from(["coregate", "check", "--config", "x.toml"]).unwrap();
        assert_eq!(
            cli.command,
            Some(Command::Check {
                config: "x.toml".into()
            })
        );
        assert!(Cli::try_parse_from(["coregate", "check"]).is_err());
    }

    #[test]
    fn report_subcommand() {
        let cli = Cli::try_parse_from([
            "coregate", "report", "a.log", "-", "--since", "1h", "--by", "upstream", "--bucket",
            "5m", "--top", "3", "--format", "json", "--svg", "r.svg",
        ])
        .unwrap();
        let Some(Command::Report {
            logs,
            since,
            until,
            by,
            bucket,
            top,
            format,
            svg,
            out,
        }) = cli.command
        else {
            panic!("not a report: {cli:?}");
        };
        assert_eq!(logs, [PathBuf::from("a.log"), PathBuf::from("-")]);
        assert_eq!((since.as_deref(), until), (Some("1h"), None));
        assert_eq!((by.as_str(), format.as_str(), top), ("upstream", "json", 3));
        assert_eq!(bucket, Duration::from_secs(300));
        assert_eq!((svg, out), (Some("r.svg".into()), None));
    }

    #[test]
    fn report_defaults_and_refusals() {
        let cli = Cli::try_parse_from(["coregate", "report", "a.log"]).unwrap();
        let Some(Command::Report {
            by,
            bucket,
            top,
            format,
            ..
        }) = cli.command
        else {
            panic!("not a report: {cli:?}");
        };
        assert_eq!((by.as_str(), format.as_str(), top), ("route", "md", 5));
        assert_eq!(bucket, Duration::from_secs(60));
        for by in ["app", "team", "provider", "model"] {
            let cli = Cli::try_parse_from(["coregate", "report", "a.log", "--by", by]).unwrap();
            let Some(Command::Report { by: got, .. }) = cli.command else {
                panic!("not a report: {cli:?}");
            };
            assert_eq!(got, by);
        }
        for args in [
            &["report"][..],
            &["report", "a.log", "--by", "host"],
            &["report", "a.log", "--format", "csv"],
            &["report", "a.log", "--bucket", "60"],
        ] {
            let r = Cli::try_parse_from(std::iter::once(&"coregate").chain(args));
            assert!(r.is_err(), "{args:?}");
        }
    }

    #[test]
    fn upstream_conflicts_with_config() {
        let r = Cli::try_parse_from([
            "coregate",
            "--config",
            "a.toml",
            "--upstream",
            "127.0.0.1:1",
        ]);
        assert!(r.is_err());
    }

    #[test]
    fn bad_flag_values_are_refused_by_clap() {
        for args in [
            ["--client-body-timeout", "10"],
            ["--listen", "localhost:80"],
            ["--cpus", "3-1"],
            ["--admin", "nope"],
            ["--max-body-bytes", "1x"],
        ] {
            let r = Cli::try_parse_from(std::iter::once("coregate").chain(args));
            assert!(r.is_err(), "{args:?}");
        }
    }
}
