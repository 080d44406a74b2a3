//! The validated value the engine consumes. Plain data: tests and benches
//! build it in code (`Tuning { shards: 1, ..Tuning::default() }`).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::access::AccessConfig;
use crate::defaults::*;
use crate::observe::{AccessLog, LogDest, MetricsConfig, ReloadConfig};
use crate::route::{Route, RouteAction};
use crate::tls::TlsProfile;
use crate::upstream::{BackendAddr, UpstreamGroup};

/// Everything the engine needs to run, already validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tuning {
    /// Listening sockets; every shard binds each with `SO_REUSEPORT`.
    pub listen: Vec<SocketAddr>,
    /// Per listener, as long as `listen`: the index in `tls` of the profile
    /// it terminates TLS with; `None` is plain HTTP. See [`Tuning::listener_tls`].
    pub listen_tls: Vec<Option<usize>>,
    /// The `[tls.NAME]` profiles that listeners use, in name order (or the
    /// one `--tls-cert` makes).
    pub tls: Vec<TlsProfile>,
    /// Number of shards (one pinned executor each).
    pub shards: usize,
    /// CPU for shard `i` is `cpus[i]`; `None` lets the engine place shards.
    pub cpus: Option<Vec<usize>>,
    /// `listen(2)` backlog.
    pub backlog: i32,
    /// Open client connections allowed per shard.
    pub max_connections: usize,
    /// Admin endpoint; `None` disables it.
    pub admin: Option<SocketAddr>,
    /// Client and upstream timeouts.
    pub timeouts: Timeouts,
    /// Request size limits.
    pub limits: Limits,
    /// Whether runs of `/` in request paths become one before routing
    /// (nginx's `merge_slashes`); default `false`, as RFC 3986 keeps them.
    pub merge_slashes: bool,
    /// io_uring and buffer sizing.
    pub io: Io,
    /// Upstream connection pool.
    pub pool: Pool,
    /// Upstream groups; [`RouteAction::Proxy`] indexes into this.
    pub upstreams: Vec<UpstreamGroup>,
    /// Routes: by host tier, then highest `priority`, then the most specific
    /// path, then file order (see the config reference).
    pub routes: Vec<Route>,
    /// Caps on metric label values.
    pub metrics: MetricsConfig,
    /// The access log.
    pub access_log: AccessLog,
    /// Config reload.
    pub reload: ReloadConfig,
    /// The access store and its management API.
    pub access: AccessConfig,
    /// Redis, for limits counted across hosts.
    pub redis: Option<crate::rate_limits::RedisConfig>,
    /// The AI front end: providers, model aliases, prompt templates.
    pub ai: crate::ai::AiConfig,
    /// The response cache's host-wide settings.
    pub cache: crate::cache::CacheConfig,
    /// Where the routes and upstreams came from.
    pub source: ConfigSource,
}

/// Client and upstream timeouts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// Time to receive a full request head; 408 after.
    pub client_header: Duration,
    /// Idle time between two client body reads.
    pub client_body: Duration,
    /// Idle time of a kept-alive client connection between requests.
    pub client_keepalive: Duration,
    /// Time to establish an upstream connection.
    pub upstream_connect: Duration,
    /// Time to receive the upstream response head.
    pub upstream_header: Duration,
    /// Idle time between two upstream body reads.
    pub upstream_body: Duration,
    /// How long a pooled upstream connection may sit idle.
    pub upstream_idle: Duration,
    /// An Upgrade tunnel with no bytes either way for this long is closed.
    pub tunnel_idle: Duration,
    /// Longest wait for one send to a client to complete.
    pub client_send: Duration,
    /// Grace period for open connections on shutdown.
    pub drain: Duration,
}

/// Request size limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Request line plus headers, in bytes.
    pub max_head_bytes: usize,
    /// Number of request headers.
    pub max_headers: usize,
    /// Request target (path and query), in bytes.
    pub max_target_bytes: usize,
    /// Request body, in bytes; `u64::MAX` means unlimited.
    pub max_body_bytes: u64,
    /// Upstream response status line plus headers, in bytes.
    pub max_response_head_bytes: usize,
    /// Bytes per second a request body must average once `client_body` has
    /// passed since it started; 0: no minimum.
    pub client_body_min_rate: u64,
}

/// io_uring and buffer sizing, per shard.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Io {
    /// io_uring submission queue entries (a power of two).
    pub ring_entries: u32,
    /// Provided buffers (a power of two).
    pub buffers: u16,
    /// Bytes per provided buffer.
    pub buffer_size: u32,
    /// Bytes read but not yet consumed that one connection may hold.
    pub max_unread: usize,
    /// How long the io driver may block in its own ring after parking
    /// through the executor (zero: never).
    pub direct_wait: Duration,
}

/// Upstream connection pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pool {
    /// Idle connections kept per shard per backend; 0 disables pooling.
    pub max_idle: usize,
}

/// Where routes and upstreams came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigSource {
    /// The embedded `default.toml` (neither `--config` nor `--upstream`).
    Embedded,
    /// Quick mode: `--upstream` flags.
    Quick,
    /// A config file.
    File(PathBuf),
}

// === impl Tuning ===

impl Tuning {
    /// Flags, plus the file they name, validated against the CPUs this
    /// process may use. Quick mode if `--upstream` is given, the embedded
    /// default if neither `--config` nor `--upstream` is.
    pub fn from_cli(cli: crate::Cli) -> Result<Tuning, crate::TuningError> {
        crate::validate::from_cli(&cli, &crate::host::Host::detect())
    }

    /// The embedded default config, with no flags applied.
    pub fn embedded_default() -> Tuning {
        match crate::validate::embedded(&crate::host::Host::detect()) {
            Ok(tuning) => tuning,
            Err(_) => {
                // `default.toml` is checked by tests; fall back to the same value in code.
                debug_assert!(false, "embedded default.toml does not validate");
                Tuning::default()
            }
        }
    }

    /// Quick mode: one group `default` with `upstreams`, one catch-all proxy route.
    pub fn quick(listen: Vec<SocketAddr>, upstreams: Vec<SocketAddr>) -> Tuning {
        let backends = upstreams
            .into_iter()
            .map(|address| BackendAddr { address, weight: 1 })
            .collect();
        Tuning {
            listen_tls: vec![None; listen.len()],
            listen,
            upstreams: vec![UpstreamGroup::new(QUICK_GROUP, backends)],
            routes: vec![Route::catch_all(
                QUICK_GROUP,
                RouteAction::Proxy { group: 0 },
            )],
            source: ConfigSource::Quick,
            ..Tuning::default()
        }
    }
}

// === impl Tuning (listeners) ===

impl Tuning {
    /// The TLS profile of listener `i` (`listen[i]`); `None` for plain HTTP,
    /// including a listener past the end of `listen_tls` (a value built in
    /// code with more `listen` entries than `listen_tls`).
    pub fn listener_tls(&self, i: usize) -> Option<&TlsProfile> {
        let profile = self.listen_tls.get(i).copied().flatten()?;
        self.tls.get(profile)
    }

    /// `127.0.0.1:8080`, or `https://127.0.0.1:8443` for a TLS listener.
    fn listener_text(&self, i: usize, addr: &SocketAddr) -> String {
        match self.listener_tls(i) {
            Some(_) => format!("https://{addr}"),
            None => addr.to_string(),
        }
    }
}

// === impl Tuning (summary) ===

impl Tuning {
    /// One line for startup logs and `coregate check`: listeners, shards,
    /// upstreams, routes, admin.
    pub fn summary(&self) -> String {
        let listen: Vec<String> = self
            .listen
            .iter()
            .enumerate()
            .map(|(i, addr)| self.listener_text(i, addr))
            .collect();
        let placement = match &self.cpus {
            Some(cpus) => format!(" on CPUs {}", crate::units::format_cpu_list(cpus)),
            None => String::new(),
        };
        let backends: usize = self.upstreams.iter().map(|g| g.backends.len()).sum();
        let admin = self
            .admin
            .map_or_else(|| "off".to_owned(), |a| a.to_string());
        format!(
            "listen {}; {}{placement}; {} ({}); {}; admin {admin}{}",
            listen.join(", "),
            plural(self.shards, "shard"),
            plural(self.upstreams.len(), "upstream group"),
            plural(backends, "backend"),
            plural(self.routes.len(), "route"),
            self.summary_extras(),
        )
    }

    /// `; access log stdout (sample 0.1, errors only); watching the config`,
    /// each part only when it is on.
    fn summary_extras(&self) -> String {
        let log = &self.access_log;
        let mut out = String::new();
        if log.is_enabled() {
            let dest = match &log.dest {
                LogDest::File(path) => path.display().to_string(),
                _ => "stdout".to_owned(),
            };
            let mut notes = Vec::new();
            if log.sample < 1.0 {
                notes.push(format!("sample {}", log.sample));
            }
            if log.errors_only {
                notes.push("errors only".to_owned());
            }
            out.push_str(&format!("; access log {dest}"));
            if !notes.is_empty() {
                out.push_str(&format!(" ({})", notes.join(", ")));
            }
        }
        if self.reload.watch {
            out.push_str("; watching the config file");
        }
        out
    }
}

fn plural(n: usize, what: &str) -> String {
    match n {
        1 => format!("1 {what}"),
        _ => format!("{n} {what}s"),
    }
}

/// The embedded default, built in code: every `DEFAULT_*`, one shard per
/// usable CPU, and the welcome route.
impl Default for Tuning {
    fn default() -> Self {
        Tuning {
            listen: vec![DEFAULT_LISTEN],
            listen_tls: vec![None],
            tls: Vec::new(),
            shards: crate::host::Host::detect().cpu_count(),
            cpus: None,
            backlog: DEFAULT_BACKLOG,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            admin: Some(DEFAULT_ADMIN),
            timeouts: Timeouts::default(),
            limits: Limits::default(),
            merge_slashes: false,
            io: Io::default(),
            pool: Pool::default(),
            upstreams: Vec::new(),
            routes: vec![Route::catch_all("welcome", RouteAction::welcome())],
            metrics: MetricsConfig::default(),
            access_log: AccessLog::default(),
            reload: ReloadConfig::default(),
            access: AccessConfig::default(),
            redis: None,
            ai: crate::ai::AiConfig::default(),
            cache: crate::cache::CacheConfig::default(),
            source: ConfigSource::Embedded,
        }
    }
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            client_header: DEFAULT_CLIENT_HEADER_TIMEOUT,
            client_body: DEFAULT_CLIENT_BODY_TIMEOUT,
            client_keepalive: DEFAULT_CLIENT_KEEPALIVE_TIMEOUT,
            upstream_connect: DEFAULT_UPSTREAM_CONNECT_TIMEOUT,
            upstream_header: DEFAULT_UPSTREAM_HEADER_TIMEOUT,
            upstream_body: DEFAULT_UPSTREAM_BODY_TIMEOUT,
            upstream_idle: DEFAULT_UPSTREAM_IDLE_TIMEOUT,
            drain: DEFAULT_DRAIN_TIMEOUT,
            tunnel_idle: DEFAULT_TUNNEL_IDLE_TIMEOUT,
            client_send: DEFAULT_CLIENT_SEND_TIMEOUT,
        }
    }
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_head_bytes: DEFAULT_MAX_HEAD_BYTES,
            max_headers: DEFAULT_MAX_HEADERS,
            max_target_bytes: DEFAULT_MAX_TARGET_BYTES,
            max_response_head_bytes: DEFAULT_MAX_RESPONSE_HEAD_BYTES,
            client_body_min_rate: DEFAULT_CLIENT_BODY_MIN_RATE,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
        }
    }
}

impl Default for Io {
    fn default() -> Self {
        Io {
            ring_entries: DEFAULT_IO_RING_ENTRIES,
            buffers: DEFAULT_IO_BUFFERS,
            buffer_size: DEFAULT_IO_BUFFER_SIZE,
            max_unread: DEFAULT_IO_MAX_UNREAD,
            direct_wait: DEFAULT_IO_DIRECT_WAIT,
        }
    }
}

impl Default for Pool {
    fn default() -> Self {
        Pool {
            max_idle: DEFAULT_UPSTREAM_MAX_IDLE,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::route::HostMatch;

    #[test]
    fn summary_reads_well() {
        let mut t = Tuning::quick(
            vec!["127.0.0.1:8080".parse().unwrap()],
            vec!["127.0.0.1:9000".parse().unwrap()],
        );
        t.shards = 2;
        t.cpus = Some(vec![2, 3]);
        assert_eq!(
            t.summary(),
            "listen 127.0.0.1:8080; 2 shards on CPUs 2-3; 1 upstream group (1 backend); 1 route; admin 127.0.0.1:9901"
        );
        t.access_log.dest = LogDest::Stdout;
        t.access_log.sample = 0.1;
        t.access_log.errors_only = true;
        t.reload.watch = true;
        assert!(t.summary().ends_with(
            "admin 127.0.0.1:9901; access log stdout (sample 0.1, errors only); watching the config file"
        ));
        t.access_log.dest = LogDest::File("/var/log/a.log".into());
        t.access_log.sample = 1.0;
        t.access_log.errors_only = false;
        t.reload.watch = false;
        assert!(t.summary().ends_with("; access log /var/log/a.log"));
    }

    #[test]
    fn quick_has_one_group_and_catch_all() {
        let up: SocketAddr = "127.0.0.1:9000".parse().unwrap();
        let t = Tuning::quick(vec!["127.0.0.1:0".parse().unwrap()], vec![up]);
        assert_eq!(t.upstreams[0].name, "default");
        assert_eq!(
            t.upstreams[0].backends,
            vec![BackendAddr {
                address: up,
                weight: 1
            }]
        );
        assert_eq!(t.routes.len(), 1);
        assert_eq!(t.routes[0].action, RouteAction::Proxy { group: 0 });
        assert_eq!(t.routes[0].host, HostMatch::Any);
        assert_eq!(t.source, ConfigSource::Quick);
    }
}
