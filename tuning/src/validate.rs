//! Flags plus an optional file → one [`Tuning`], or every problem found.
//!
//! Each setting is taken from its flag if given, else from the file, else
//! from its `DEFAULT_*`. Every value is checked where it was written, so an
//! error names the flag, or the file, line and field. Checking never stops at
//! the first problem: all of them are collected and reported together.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use toml::Spanned;

use crate::checker::{cast, non_negative, size_of, Checker, Given, Key};
use crate::cli::{parse_admin, Admin, Cli};
use crate::defaults::*;
use crate::error::{Location, TuningError};
use crate::file::{CpuSpec, FileConfig, ListenFile, Loaded};
use crate::host::Host;
use crate::tuning::{ConfigSource, Io, Limits, Pool, Timeouts, Tuning};
use crate::units::{body_limit, check_distinct, format_duration, parse_cpu_list, parse_duration};
use crate::{observing, routes};

/// Name under which errors in the embedded default config are reported.
const EMBEDDED_NAME: &str = "<embedded default.toml>";
/// Largest accepted shard count.
const MAX_SHARDS: u64 = 4096;

/// `--config` or `--upstream` or neither, flags on top, checked against this host.
pub(crate) fn from_cli(cli: &Cli, host: &Host) -> Result<Tuning, TuningError> {
    match (&cli.config, cli.upstream.is_empty()) {
        (Some(path), _) => {
            let loaded = Loaded::read(path)?;
            validate(cli, Some(&loaded), ConfigSource::File(path.clone()), host)
        }
        (None, false) => validate(cli, None, ConfigSource::Quick, host),
        (None, true) => {
            let loaded = Loaded::parse(EMBEDDED_NAME.into(), DEFAULT_TOML.to_owned())?;
            validate(cli, Some(&loaded), ConfigSource::Embedded, host)
        }
    }
}

/// A config file on its own, with no flags: what `coregate check` and reload use.
pub fn parse_file(path: &Path) -> Result<Tuning, TuningError> {
    let cli = Cli {
        config: Some(path.to_owned()),
        ..Cli::default()
    };
    from_cli(&cli, &Host::detect())
}

/// Config text on its own, reported under `name`: for tests and reload from memory.
pub fn parse_toml(name: impl Into<PathBuf>, text: &str) -> Result<Tuning, TuningError> {
    let name = name.into();
    let loaded = Loaded::parse(name.clone(), text.to_owned())?;
    validate(
        &Cli::default(),
        Some(&loaded),
        ConfigSource::File(name),
        &Host::detect(),
    )
}

/// The embedded default config with no flags.
pub(crate) fn embedded(host: &Host) -> Result<Tuning, TuningError> {
    from_cli(&Cli::default(), host)
}

/// `IP:port`; host names are refused rather than resolved.
pub(crate) fn parse_addr(text: &str) -> Result<SocketAddr, String> {
    text.trim().parse().map_err(|_| {
        format!("invalid address {text:?}: expected IP:port such as 127.0.0.1:8080 or [::1]:8080 (names are not resolved)")
    })
}

/// The core: merge flags over `file` over defaults, and check everything.
pub(crate) fn validate(
    cli: &Cli,
    file: Option<&Loaded>,
    source: ConfigSource,
    host: &Host,
) -> Result<Tuning, TuningError> {
    let empty = FileConfig::default();
    let raw = file.map_or(&empty, |f| &f.raw);
    let mut c = Checker::new(file);
    let server = server(&mut c, cli, raw, host);
    let timeouts = timeouts(&mut c, cli, raw);
    let limits = limits(&mut c, cli, raw);
    let io = io(&mut c, cli, raw);
    let max_idle = c.int(
        cli.upstream_max_idle,
        Key::MAX_IDLE,
        raw.pool.max_idle.as_ref(),
        0..=u32::MAX.into(),
    );
    let pool = Pool {
        max_idle: cast(max_idle, DEFAULT_UPSTREAM_MAX_IDLE),
    };
    let metrics = observing::metrics(&mut c, cli, raw);
    let access_log = observing::access_log(&mut c, cli, raw);
    let reload = observing::reload(&mut c, cli, raw, &source);
    let (listen_tls, tls) =
        crate::tls_profiles::listeners(&mut c, cli, raw, &source, &server.listen_tls);
    let (upstreams, routes, ai) = match source {
        ConfigSource::Quick => {
            check_quick(&mut c, &cli.upstream);
            let (groups, routes) = routes::quick(&cli.upstream);
            (groups, routes, crate::ai::AiConfig::default())
        }
        _ => routes::from_file(&mut c, raw),
    };
    let taken: Vec<SocketAddr> = server.listen.iter().copied().chain(server.admin).collect();
    let access = crate::access::access(&mut c, cli, raw, &taken);
    crate::access::check_services(&mut c, raw, &access);
    let routes = crate::access::quick_service(&mut c, cli, &source, &access, routes);
    let routes = crate::rate_limits::quick(&mut c, cli, &source, routes);
    let routes = crate::cache::quick(&mut c, cli, &source, routes);
    let cache = crate::cache::config(&mut c, cli, raw);
    let policies: Vec<_> = routes.iter().flat_map(|r| &r.limits).collect();
    let redis = crate::rate_limits::redis(&mut c, cli, raw, &policies);
    let tuning = Tuning {
        listen: server.listen,
        listen_tls,
        tls,
        shards: server.shards,
        cpus: server.cpus,
        backlog: server.backlog,
        max_connections: server.max_connections,
        admin: server.admin,
        timeouts,
        limits,
        merge_slashes: merge_slashes(&mut c, cli, raw),
        io,
        pool,
        upstreams,
        routes,
        metrics,
        access_log,
        reload,
        access,
        redis,
        ai,
        cache,
        source,
    };
    c.finish(tuning)
}

/// `--merge-slashes` / `server.merge_slashes`; the flag can only turn it on.
fn merge_slashes(c: &mut Checker<'_>, cli: &Cli, raw: &FileConfig) -> bool {
    let given = c.pick(
        cli.merge_slashes.then_some(true),
        Key::MERGE_SLASHES,
        raw.server.merge_slashes.as_ref(),
        |&b| Ok(b),
    );
    given.is_some_and(|g| g.value)
}

/// `[server]` settings once merged.
struct Server {
    listen: Vec<SocketAddr>,
    /// Each listener's `tls` profile name, as written.
    listen_tls: Vec<Option<Spanned<String>>>,
    shards: usize,
    cpus: Option<Vec<usize>>,
    backlog: i32,
    max_connections: usize,
    admin: Option<SocketAddr>,
}

fn server(c: &mut Checker<'_>, cli: &Cli, raw: &FileConfig, host: &Host) -> Server {
    let s = &raw.server;
    let shards = c.int(cli.shards, Key::SHARDS, s.shards.as_ref(), 1..=MAX_SHARDS);
    let cpus = cpus(c, cli, raw, host);
    let (shards, cpus) = shards_and_cpus(c, shards, cpus, host);
    let backlog = c.int(
        cli.backlog,
        Key::BACKLOG,
        s.backlog.as_ref(),
        1..=i32::MAX as u64,
    );
    let max_conns = c.int(
        cli.max_connections,
        Key::MAX_CONNECTIONS,
        s.max_connections.as_ref(),
        1..=u32::MAX.into(),
    );
    let (listen, listen_tls) = listen(c, cli, raw);
    let admin = admin(c, cli, raw, &listen);
    Server {
        listen: match listen.is_empty() {
            true => vec![DEFAULT_LISTEN],
            false => listen.into_iter().map(|g| g.value).collect(),
        },
        listen_tls: match listen_tls.is_empty() {
            true => vec![None],
            false => listen_tls,
        },
        admin,
        shards,
        cpus,
        backlog: cast(backlog, DEFAULT_BACKLOG),
        max_connections: cast(max_conns, DEFAULT_MAX_CONNECTIONS),
    }
}

/// The admin address, which may not take a listener's port: the one of the
/// two that was written down gets the error.
fn admin(
    c: &mut Checker<'_>,
    cli: &Cli,
    raw: &FileConfig,
    listen: &[Given<SocketAddr>],
) -> Option<SocketAddr> {
    let given = c.pick(cli.admin, Key::ADMIN, raw.server.admin.as_ref(), |t| {
        parse_admin(t)
    });
    let listen_values: Vec<SocketAddr> = match listen.is_empty() {
        true => vec![DEFAULT_LISTEN],
        false => listen.iter().map(|g| g.value).collect(),
    };
    let given = c.accept(given, |admin| match admin {
        Admin::At(a) if listen_values.iter().any(|l| same_socket(a, l)) => {
            Err(format!("{a} is also a listen address"))
        }
        _ => Ok(()),
    });
    let written = cli.admin.is_some() || raw.server.admin.is_some();
    if !written {
        for l in listen
            .iter()
            .filter(|l| same_socket(&l.value, &DEFAULT_ADMIN))
        {
            let message = format!(
                "{} takes the admin endpoint's default address {DEFAULT_ADMIN}: move it with --admin, or --admin off",
                l.value
            );
            c.fail_given(l, message);
        }
    }
    match given.map_or(Admin::At(DEFAULT_ADMIN), |g| g.value) {
        Admin::Off => None,
        Admin::At(addr) => Some(addr),
    }
}

/// Whether binding both would clash: one port, and one IP or a wildcard.
fn same_socket(a: &SocketAddr, b: &SocketAddr) -> bool {
    a.port() != 0
        && a.port() == b.port()
        && (a.ip() == b.ip() || a.ip().is_unspecified() || b.ip().is_unspecified())
}

/// `--upstream` given twice with one address.
fn check_quick(c: &mut Checker<'_>, upstreams: &[SocketAddr]) {
    for (i, addr) in upstreams.iter().enumerate() {
        if upstreams[..i].contains(addr) {
            let message = format!("{addr} is listed twice");
            c.fail(Location::CommandLine, "--upstream", message);
        }
    }
}

/// Listen addresses as given (empty when none was: the default applies),
/// and beside each the TLS profile it names.
fn listen(
    c: &mut Checker<'_>,
    cli: &Cli,
    raw: &FileConfig,
) -> (Vec<Given<SocketAddr>>, Vec<Option<Spanned<String>>>) {
    let (given, tls) = if !cli.listen.is_empty() {
        let field = format!("--{}", Key::LISTEN.flag);
        let at = |&value| Given {
            value,
            location: Location::CommandLine,
            field: field.clone(),
        };
        let given: Vec<_> = cli.listen.iter().map(at).collect();
        let tls = vec![None; given.len()];
        (given, tls)
    } else if let Some(list) = &raw.server.listen {
        file_listen(c, list)
    } else {
        (Vec::new(), Vec::new())
    };
    for (i, g) in given.iter().enumerate() {
        if given[..i].iter().any(|earlier| earlier.value == g.value) {
            c.fail_given(g, format!("{} is listed twice", g.value));
        }
    }
    (given, tls)
}

/// `server.listen`: `"IP:port"` or `{ address = "IP:port", tls = "NAME" }`.
fn file_listen(
    c: &mut Checker<'_>,
    list: &Spanned<Vec<Spanned<ListenFile>>>,
) -> (Vec<Given<SocketAddr>>, Vec<Option<Spanned<String>>>) {
    if list.get_ref().is_empty() {
        let message = "no listen addresses: give at least one, e.g. [\"127.0.0.1:8080\"]";
        c.fail_at(list.span(), Key::LISTEN.field, message);
    }
    let (mut given, mut tls) = (Vec::new(), Vec::new());
    for (i, item) in list.get_ref().iter().enumerate() {
        let field = format!("{}[{i}]", Key::LISTEN.field);
        let (address, span, profile) = match item.get_ref() {
            ListenFile::Address(text) => (text, item.span(), None),
            ListenFile::Table(t) => (t.address.get_ref(), t.address.span(), t.tls.clone()),
        };
        match parse_addr(address) {
            Ok(value) => {
                given.push(Given {
                    value,
                    location: c.at(span),
                    field,
                });
                tls.push(profile);
            }
            Err(message) => c.fail_at(span, field, message),
        }
    }
    (given, tls)
}

fn cpus(
    c: &mut Checker<'_>,
    cli: &Cli,
    raw: &FileConfig,
    host: &Host,
) -> Option<Given<Vec<usize>>> {
    let given = c.pick(
        cli.cpus.clone().map(|l| l.0),
        Key::CPUS,
        raw.server.cpus.as_ref(),
        cpu_spec,
    );
    c.accept(given, |cpus| {
        if cpus.is_empty() {
            return Err("empty CPU list: omit it to let coregate place shards".to_owned());
        }
        let outside: Vec<String> = cpus
            .iter()
            .filter(|&&cpu| !host.allows(cpu))
            .map(ToString::to_string)
            .collect();
        match outside.is_empty() {
            true => Ok(()),
            false => Err(format!(
                "CPU {} not available to this process (usable: {})",
                outside.join(", "),
                host.describe()
            )),
        }
    })
}

/// Shards default to one per listed CPU, else one per usable CPU; more
/// shards than listed CPUs is an error. `cpus` is cut to `shards` entries.
fn shards_and_cpus(
    c: &mut Checker<'_>,
    shards: Option<Given<u64>>,
    cpus: Option<Given<Vec<usize>>>,
    host: &Host,
) -> (usize, Option<Vec<usize>>) {
    let shards = shards.map(|g| (cast(Some(g.clone()), 1usize), g));
    match (shards, cpus) {
        (Some((n, g)), Some(mut list)) => {
            if n > list.value.len() {
                let message = format!(
                    "{n} shards but only {} CPUs listed in {}",
                    list.value.len(),
                    list.field
                );
                c.fail_given(&g, message);
            }
            list.value.truncate(n);
            (n, Some(list.value))
        }
        (None, Some(list)) => (list.value.len(), Some(list.value)),
        (Some((n, _)), None) => (n, None),
        (None, None) => (host.cpu_count(), None),
    }
}

fn timeouts(c: &mut Checker<'_>, cli: &Cli, raw: &FileConfig) -> Timeouts {
    let t = &raw.timeouts;
    Timeouts {
        client_header: c.duration(
            cli.client_header_timeout,
            Key::CLIENT_HEADER,
            t.client_header.as_ref(),
            DEFAULT_CLIENT_HEADER_TIMEOUT,
            false,
        ),
        client_body: c.duration(
            cli.client_body_timeout,
            Key::CLIENT_BODY,
            t.client_body.as_ref(),
            DEFAULT_CLIENT_BODY_TIMEOUT,
            false,
        ),
        client_keepalive: c.duration(
            cli.client_keepalive_timeout,
            Key::CLIENT_KEEPALIVE,
            t.client_keepalive.as_ref(),
            DEFAULT_CLIENT_KEEPALIVE_TIMEOUT,
            false,
        ),
        upstream_connect: c.duration(
            cli.upstream_connect_timeout,
            Key::UPSTREAM_CONNECT,
            t.upstream_connect.as_ref(),
            DEFAULT_UPSTREAM_CONNECT_TIMEOUT,
            false,
        ),
        upstream_header: c.duration(
            cli.upstream_header_timeout,
            Key::UPSTREAM_HEADER,
            t.upstream_header.as_ref(),
            DEFAULT_UPSTREAM_HEADER_TIMEOUT,
            false,
        ),
        upstream_body: c.duration(
            cli.upstream_body_timeout,
            Key::UPSTREAM_BODY,
            t.upstream_body.as_ref(),
            DEFAULT_UPSTREAM_BODY_TIMEOUT,
            false,
        ),
        upstream_idle: c.duration(
            cli.upstream_idle_timeout,
            Key::UPSTREAM_IDLE,
            t.upstream_idle.as_ref(),
            DEFAULT_UPSTREAM_IDLE_TIMEOUT,
            false,
        ),
        tunnel_idle: c.duration(
            cli.tunnel_idle_timeout,
            Key::TUNNEL_IDLE,
            t.tunnel_idle.as_ref(),
            DEFAULT_TUNNEL_IDLE_TIMEOUT,
            false,
        ),
        client_send: c.duration(
            cli.client_send_timeout,
            Key::CLIENT_SEND,
            t.client_send.as_ref(),
            DEFAULT_CLIENT_SEND_TIMEOUT,
            false,
        ),
        drain: c.duration(
            cli.drain_timeout,
            Key::DRAIN,
            t.drain.as_ref(),
            DEFAULT_DRAIN_TIMEOUT,
            true,
        ),
    }
}

fn limits(c: &mut Checker<'_>, cli: &Cli, raw: &FileConfig) -> Limits {
    let l = &raw.limits;
    let head = c.size(
        cli.max_head_bytes,
        Key::MAX_HEAD_BYTES,
        l.max_head_bytes.as_ref(),
        MIN_HEAD_BYTES as u64..=MAX_IO_BUFFER_SIZE.into(),
    );
    let headers = c.int(
        cli.max_headers,
        Key::MAX_HEADERS,
        l.max_headers.as_ref(),
        1..=MAX_HEADERS_LIMIT as u64,
    );
    let target = c.size(
        cli.max_target_bytes,
        Key::MAX_TARGET_BYTES,
        l.max_target_bytes.as_ref(),
        MIN_TARGET_BYTES as u64..=MAX_IO_BUFFER_SIZE.into(),
    );
    let body = c.pick(
        cli.max_body_bytes,
        Key::MAX_BODY_BYTES,
        l.max_body_bytes.as_ref(),
        |raw| size_of(raw).map(body_limit),
    );
    let response_head = c.size(
        cli.max_response_head_bytes,
        Key::MAX_RESPONSE_HEAD_BYTES,
        l.max_response_head_bytes.as_ref(),
        // The parser keeps header offsets in 16 bits.
        MIN_HEAD_BYTES as u64..=u64::from(u16::MAX),
    );
    let min_rate = c.size(
        cli.client_body_min_rate,
        Key::CLIENT_BODY_MIN_RATE,
        l.client_body_min_rate.as_ref(),
        0..=1 << 40,
    );
    let max_head_bytes = cast(head, DEFAULT_MAX_HEAD_BYTES);
    if let Some(t) = target.as_ref().filter(|t| t.value > max_head_bytes as u64) {
        c.fail_given(
            t,
            format!(
                "{} is larger than max_head_bytes ({max_head_bytes})",
                t.value
            ),
        );
    }
    Limits {
        max_head_bytes,
        max_headers: cast(headers, DEFAULT_MAX_HEADERS),
        max_target_bytes: cast(target, DEFAULT_MAX_TARGET_BYTES),
        max_body_bytes: body.map_or(DEFAULT_MAX_BODY_BYTES, |g| g.value),
        max_response_head_bytes: cast(response_head, DEFAULT_MAX_RESPONSE_HEAD_BYTES),
        client_body_min_rate: min_rate.map_or(DEFAULT_CLIENT_BODY_MIN_RATE, |g| g.value),
    }
}

fn io(c: &mut Checker<'_>, cli: &Cli, raw: &FileConfig) -> Io {
    let r = &raw.io;
    let ring = c.power_of_two(
        cli.io_ring_entries,
        Key::RING_ENTRIES,
        r.ring_entries.as_ref(),
        8..=MAX_RING_ENTRIES.into(),
    );
    let buffers = c.power_of_two(
        cli.io_buffers,
        Key::BUFFERS,
        r.buffers.as_ref(),
        1..=MAX_IO_BUFFERS.into(),
    );
    let size = c.size(
        cli.io_buffer_size,
        Key::BUFFER_SIZE,
        r.buffer_size.as_ref(),
        MIN_IO_BUFFER_SIZE.into()..=MAX_IO_BUFFER_SIZE.into(),
    );
    let unread = c.size(
        cli.io_max_unread,
        Key::MAX_UNREAD,
        r.max_unread.as_ref(),
        MIN_IO_BUFFER_SIZE.into()..=1 << 30,
    );
    let buffer_size = cast(size, DEFAULT_IO_BUFFER_SIZE);
    if let Some(u) = unread.as_ref().filter(|u| u.value < u64::from(buffer_size)) {
        c.fail_given(
            u,
            format!(
                "{} is smaller than one read buffer (buffer_size {buffer_size})",
                u.value
            ),
        );
    }
    let direct_wait = c.pick(
        cli.io_direct_wait,
        Key::DIRECT_WAIT,
        r.direct_wait.as_ref(),
        |text| parse_duration(text),
    );
    let direct_wait = c.accept(direct_wait, |d| match *d <= MAX_IO_DIRECT_WAIT {
        true => Ok(()),
        false => Err(format!(
            "must be at most {}",
            format_duration(MAX_IO_DIRECT_WAIT)
        )),
    });
    Io {
        direct_wait: direct_wait.map_or(DEFAULT_IO_DIRECT_WAIT, |g| g.value),
        ring_entries: cast(ring, DEFAULT_IO_RING_ENTRIES),
        buffers: cast(buffers, DEFAULT_IO_BUFFERS),
        buffer_size,
        max_unread: cast(unread, DEFAULT_IO_MAX_UNREAD),
    }
}

fn cpu_spec(raw: &CpuSpec) -> Result<Vec<usize>, String> {
    match raw {
        CpuSpec::Text(text) => parse_cpu_list(text),
        CpuSpec::List(list) => {
            let cpus = list
                .iter()
                .map(|&n| {
                    non_negative(n).and_then(|n| usize::try_from(n).map_err(|e| e.to_string()))
                })
                .collect::<Result<Vec<_>, _>>()?;
            check_distinct(&cpus)?;
            Ok(cpus)
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    fn run(args: &[&str], host: &Host) -> Result<Tuning, TuningError> {
        let cli =
            Cli::try_parse_from(std::iter::once("coregate").chain(args.iter().copied())).unwrap();
        from_cli(&cli, host)
    }

    #[test]
    fn shards_default_to_usable_cpus() {
        let t = run(&[], &Host::with_cpu_count(3)).unwrap();
        assert_eq!((t.shards, t.cpus), (3, None));
    }

    #[test]
    fn shards_default_to_listed_cpus() {
        let t = run(&["--cpus", "3,1"], &Host::with_cpus(vec![1, 3])).unwrap();
        assert_eq!((t.shards, t.cpus), (2, Some(vec![3, 1])));
    }

    #[test]
    fn fewer_shards_than_cpus_uses_the_first() {
        let t = run(
            &["--cpus", "0-3", "--shards", "2"],
            &Host::with_cpu_count(4),
        )
        .unwrap();
        assert_eq!((t.shards, t.cpus), (2, Some(vec![0, 1])));
    }

    #[test]
    fn more_shards_than_cpus_is_an_error() {
        let err = run(
            &["--cpus", "0-1", "--shards", "3"],
            &Host::with_cpu_count(4),
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "command line: --shards: 3 shards but only 2 CPUs listed in --cpus"
        );
    }

    #[test]
    fn cpus_outside_the_affinity_mask() {
        let err = run(&["--cpus", "0-3"], &Host::with_cpus(vec![2, 3, 4])).unwrap_err();
        assert_eq!(
            err.to_string(),
            "command line: --cpus: CPU 0, 1 not available to this process (usable: 2-4)"
        );
    }

    #[test]
    fn file_cpus_checked_against_host() {
        let text = "[server]\ncpus = [1]\n[[routes]]\nrespond = {}\n";
        let loaded = Loaded::parse("c.toml".into(), text.into()).unwrap();
        let source = ConfigSource::File("c.toml".into());
        let err = validate(
            &Cli::default(),
            Some(&loaded),
            source.clone(),
            &Host::with_cpu_count(1),
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "c.toml:2: server.cpus: CPU 1 not available to this process (usable: 0)"
        );
        assert!(validate(
            &Cli::default(),
            Some(&loaded),
            source,
            &Host::with_cpu_count(2)
        )
        .is_ok());
    }

    #[test]
    fn every_flag_error_is_reported() {
        let err = run(
            &[
                "--shards",
                "0",
                "--io-buffers",
                "3",
                "--max-headers",
                "0",
                "--client-body-timeout",
                "0s",
            ],
            &Host::with_cpu_count(2),
        )
        .unwrap_err();
        let fields: Vec<&str> = err.errors().iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "--shards",
                "--client-body-timeout",
                "--max-headers",
                "--io-buffers"
            ]
        );
    }

    #[test]
    fn admin_may_not_take_a_listen_port() {
        let host = Host::with_cpu_count(1);
        let err = run(&["--listen", "0.0.0.0:9901"], &host).unwrap_err();
        assert_eq!(
            err.to_string(),
            "command line: --listen: 0.0.0.0:9901 takes the admin endpoint's default address \
             127.0.0.1:9901: move it with --admin, or --admin off"
        );
        let err = run(
            &["--listen", "0.0.0.0:9901", "--admin", "127.0.0.1:9901"],
            &host,
        )
        .unwrap_err();
        assert_eq!(err.errors().len(), 1, "{err}");
        let err = run(&["--admin", "127.0.0.1:8080"], &host).unwrap_err();
        assert_eq!(
            err.to_string(),
            "command line: --admin: 127.0.0.1:8080 is also a listen address"
        );
        assert!(run(&["--listen", "0.0.0.0:9901", "--admin", "off"], &host).is_ok());
        assert!(run(
            &["--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0"],
            &host
        )
        .is_ok());
    }

    #[test]
    fn quick_mode_refuses_a_repeated_backend() {
        let args = ["--upstream", "127.0.0.1:1", "--upstream", "127.0.0.1:1"];
        let err = run(&args, &Host::with_cpu_count(1)).unwrap_err();
        assert_eq!(
            err.to_string(),
            "command line: --upstream: 127.0.0.1:1 is listed twice"
        );
    }

    /// `default.toml`'s commented lines, uncommented, state every default.
    #[test]
    fn default_toml_comments_match_the_defaults() {
        let uncommented: String = DEFAULT_TOML
            .lines()
            .map(|line| match line.strip_prefix("# ") {
                Some(rest) if rest.starts_with('[') || rest.split(' ').nth(1) == Some("=") => rest,
                _ => line,
            })
            .map(|line| format!("{line}\n"))
            .collect();
        let loaded = Loaded::parse("uncommented.toml".into(), uncommented).unwrap();
        let source = ConfigSource::File("uncommented.toml".into());
        let t = validate(
            &Cli::default(),
            Some(&loaded),
            source,
            &Host::with_cpu_count(2),
        )
        .unwrap();
        let d = Tuning::default();
        assert_eq!(
            (&t.listen, t.admin, t.backlog, t.max_connections),
            (&d.listen, d.admin, d.backlog, d.max_connections)
        );
        assert_eq!(
            (t.timeouts, t.limits, t.io, t.pool),
            (d.timeouts, d.limits, d.io, d.pool)
        );
        assert_eq!((t.shards, t.cpus), (2, Some(vec![0, 1])));
        assert_eq!(
            (t.metrics, &t.access_log, t.reload),
            (d.metrics, &d.access_log, d.reload)
        );
        let group = &t.upstreams[0];
        assert_eq!(group.backends.len(), 2);
        assert_eq!(
            group.algorithm,
            crate::Algorithm::default_for(&group.backends)
        );
        assert_eq!((group.max_connections, group.max_pending), (None, None));
        let check = crate::HealthCheck {
            host: Some("health.internal".into()),
            ..crate::HealthCheck::new("/healthz")
        };
        assert_eq!(group.health_check, Some(check));
        assert_eq!(group.outlier, crate::Outlier::default());
        let tls = crate::UpstreamTls {
            sni: Some("api.internal".into()),
            ca: Some("origin-ca.pem".into()),
            cert: Some("client.pem".into()),
            key: Some("client.key".into()),
            ..crate::UpstreamTls::default()
        };
        assert_eq!(group.tls, Some(tls));
        // The profile is checked, but no listener names it.
        assert_eq!((&t.listen_tls, &t.tls), (&d.listen_tls, &d.tls));
        assert_eq!(t.routes.len(), 2);
        let r = &t.routes[0];
        let route_defaults = crate::Route::catch_all("x", r.action.clone());
        assert_eq!(
            (r.priority, &r.hash_key, &r.rewrite, r.retries),
            (
                0,
                &crate::HashKey::ClientIp,
                &crate::Rewrite::None,
                route_defaults.retries
            )
        );
        assert_eq!(
            r.timeouts,
            crate::RouteTimeouts {
                upstream_connect: Some(d.timeouts.upstream_connect),
                upstream_header: Some(d.timeouts.upstream_header),
                upstream_body: Some(d.timeouts.upstream_body),
            }
        );
        assert_eq!(t.routes[1], d.routes[0]);
    }

    #[test]
    fn addresses() {
        assert_eq!(parse_addr("[::1]:80"), Ok("[::1]:80".parse().unwrap()));
        assert!(parse_addr("localhost:80")
            .unwrap_err()
            .contains("names are not resolved"));
    }
}
