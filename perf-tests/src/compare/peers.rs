//! The proxies under test and the origin behind them: how each is found,
//! configured and started.

use std::net::SocketAddr;
use std::path::PathBuf;

use crate::compare::setup::{self, Scratch};
use crate::proc::{which, Pinned};

/// The CPU the origin and the load generator run on.
pub const LOAD_CPU: usize = 0;
/// The CPU the proxy under test runs on, alone.
pub const PROXY_CPU: usize = 1;
/// The origin's port (reference origin.conf).
pub const ORIGIN_ADDR: &str = "127.0.0.1:8081";

/// Which proxy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// coregate, 1 shard.
    Coregate,
    /// nginx, 1 worker.
    Nginx,
    /// haproxy, 1 thread.
    Haproxy,
    /// The raw io_uring byte forwarder (perf-tests/floor): no HTTP at all,
    /// the floor any proxy's cost per request is read against.
    Floor,
}

/// A proxy under test.
#[derive(Debug, Clone)]
pub struct Proxy {
    /// Which one.
    pub kind: Kind,
    /// Its name in reports.
    pub name: &'static str,
    /// Where it listens.
    pub addr: SocketAddr,
    /// Where it terminates TLS in the TLS scenarios.
    pub tls_addr: SocketAddr,
    /// Its binary, when found.
    pub binary: Option<PathBuf>,
    /// Why it cannot run, when it cannot.
    pub missing: Option<String>,
}

/// Settings that differ per scenario.
#[derive(Debug, Clone, Copy, Default)]
pub struct Tweaks {
    /// Raise connection limits for this many idle client connections.
    pub many_connections: Option<usize>,
    /// The open-file limit the proxies inherit.
    pub fd_limit: u64,
    /// TLS certificate available (otherwise TLS listeners are removed).
    pub tls: bool,
    /// A TLS scenario: coregate gets `--tls-cert`/`--tls-key`, and nginx
    /// and haproxy get session tickets turned on.
    pub tls_scenario: bool,
    /// nginx without its master process (`--instructions`: valgrind then
    /// profiles the one process that serves).
    pub single_process: bool,
    /// The `access` scenario: coregate (not coregate-b) serves the route
    /// as the seeded store's service, checking every request's key.
    pub access: bool,
    /// The `limits` scenarios: coregate (not coregate-b) gets this policy.
    pub limit: crate::compare::scenarios::Limit,
    /// The `cache` scenarios: every proxy caches, the origin says how long.
    pub cache: bool,
}

/// The `cache` scenarios' nginx: a `proxy_cache` zone in the run
/// directory (the origin's `Cache-Control` sets the lifetime, as for
/// coregate), with `proxy_cache_lock` as coregate coalesces misses; and
/// the origin's `Cache-Control` (both nginx configs get these: each
/// replacement matches in one of them only).
const NGINX_CACHE: [(&str, &str); 3] = [
    (
        "    upstream origin {",
        "    proxy_cache_path cache levels=1:2 keys_zone=bench:16m max_size=256m inactive=60m use_temp_path=off;\n    upstream origin {",
    ),
    (
        "            proxy_buffering on;         # nginx default",
        "            proxy_buffering on;         # nginx default\n            proxy_cache bench;\n            proxy_cache_lock on;",
    ),
    (
        "    keepalive_requests 100000000;      # never close keep-alive conns during a run",
        "    keepalive_requests 100000000;      # never close keep-alive conns during a run\n    add_header Cache-Control \"public, max-age=600\";",
    ),
];

/// The `cache` scenarios' haproxy: its in-memory cache on the backend.
const HAPROXY_CACHE: [(&str, &str); 1] = [
    (
        "\nbackend be_origin\n",
        "\ncache bench\n    total-max-size 256\n    max-object-size 1048576\n    max-age 600\n\nbackend be_origin\n    http-request cache-use bench\n    http-response cache-store bench\n",
    ),
];

/// Connections a proxy may need beyond the held ones (warm-up, upstream).
pub const CONNECTION_HEADROOM: usize = 64;

// === impl Tweaks ===

impl Tweaks {
    /// Config replacements for nginx: room for every client connection and
    /// one upstream connection each, within the open-file limit.
    fn nginx(&self) -> Vec<(String, String)> {
        let mut tweaks = self.tls_tickets_nginx();
        if self.cache {
            tweaks.extend(NGINX_CACHE.map(|(a, b)| (a.to_owned(), b.to_owned())));
        }
        if self.single_process {
            tweaks.push(("master_process on;".into(), "master_process off;".into()));
        }
        let Some(n) = self.many_connections else {
            return tweaks;
        };
        tweaks.extend([
            (
                "worker_connections 8000".into(),
                format!("worker_connections {}", 2 * (n + CONNECTION_HEADROOM)),
            ),
            (
                "worker_rlimit_nofile 16384".into(),
                format!("worker_rlimit_nofile {}", self.fd_limit),
            ),
        ]);
        tweaks
    }

    /// Session tickets on in the TLS scenarios. The reference configs
    /// (shared/bench/) turn resumption off in both peers; coregate's rustls
    /// issues tickets, and `tls-resumed` needs them, so in every TLS
    /// scenario all peers issue stateless tickets (nginx with its session
    /// cache still off, haproxy with `tune.ssl.cachesize 0`) and only the
    /// client decides whether a handshake resumes. That keeps the servers
    /// identical between `tls-resumed` and `tls-full`, and in `tls-full`
    /// each peer pays for issuing the tickets, as on a first visit.
    fn tls_tickets_nginx(&self) -> Vec<(String, String)> {
        match self.tls_scenario {
            true => vec![(
                "ssl_session_tickets off;".into(),
                "ssl_session_tickets on;".into(),
            )],
            false => Vec::new(),
        }
    }

    /// Config replacements for haproxy, which refuses to start unless the
    /// open-file limit is at least 2 x maxconn (+ a few).
    fn haproxy(&self) -> Vec<(String, String)> {
        let mut tweaks = Vec::new();
        if self.cache {
            tweaks.extend(HAPROXY_CACHE.map(|(a, b)| (a.to_owned(), b.to_owned())));
        }
        if self.tls_scenario {
            // See tls_tickets_nginx: tickets on, like the other peers.
            tweaks.push((
                "alpn http/1.1 no-tls-tickets".into(),
                "alpn http/1.1".into(),
            ));
        }
        if let Some(n) = self.many_connections {
            tweaks.push((
                "maxconn 8000".into(),
                format!("maxconn {}", n + CONNECTION_HEADROOM),
            ));
        }
        tweaks
    }
}

/// Most idle connections every proxy can hold under `fd_limit`: haproxy
/// needs 2 x maxconn + about 20 descriptors.
pub fn idle_capacity(fd_limit: u64) -> usize {
    let maxconn = fd_limit.saturating_sub(32) / 2;
    (maxconn as usize).saturating_sub(CONNECTION_HEADROOM)
}

// === impl Proxy ===

impl Proxy {
    /// The three proxies, in interleaving order, with their binaries looked up.
    pub fn all(skip: &[String]) -> Vec<Self> {
        let coregate = setup::release_dir().join("coregate");
        let coregate = coregate.is_file().then_some(coregate);
        let floor = setup::release_dir().join("io-floor");
        let floor = floor.is_file().then_some(floor);
        let entries = [
            (
                Kind::Coregate,
                "coregate",
                "127.0.0.1:8085",
                "127.0.0.1:8085",
                coregate,
                "coregate is not built (cargo build --release -p engine)",
            ),
            (
                Kind::Nginx,
                "nginx",
                "127.0.0.1:8082",
                "127.0.0.1:8443",
                which("nginx"),
                "nginx is not installed: apt-get install -y nginx-light, or rerun with --install",
            ),
            (
                Kind::Haproxy,
                "haproxy",
                "127.0.0.1:8083",
                "127.0.0.1:8444",
                which("haproxy"),
                "haproxy is not installed: apt-get install -y haproxy, or rerun with --install",
            ),
            (
                Kind::Floor,
                "io-floor",
                "127.0.0.1:8087",
                "127.0.0.1:8087",
                floor,
                "the raw forwarder is not built (cargo build --release -p io-floor)",
            ),
        ];
        // An A/B variant of coregate, interleaved like the others, when
        // COREGATE_B_ARGS gives its extra flags (e.g. `--io-direct-wait 0ms`).
        // COREGATE_B_BIN runs another coregate binary as the variant (an
        // older commit's build, for instance).
        let variant = std::env::var_os("COREGATE_B_ARGS").map(|_| {
            let binary = std::env::var_os("COREGATE_B_BIN")
                .map(PathBuf::from)
                .or_else(|| entries[0].4.clone());
            (
                Kind::Coregate,
                "coregate-b",
                "127.0.0.1:8086",
                "127.0.0.1:8086",
                binary,
                entries[0].5,
            )
        });
        let [first, rest @ ..] = entries;
        std::iter::once(first)
            .chain(variant)
            .chain(rest)
            .map(|(kind, name, addr, tls_addr, binary, why)| {
                let missing = if skip.iter().any(|s| s == name) {
                    Some("skipped with --skip".to_owned())
                } else {
                    binary.is_none().then(|| why.to_owned())
                };
                let parse = |a: &str| {
                    a.parse()
                        .unwrap_or_else(|_| unreachable!("constant address"))
                };
                Self {
                    kind,
                    name,
                    addr: parse(addr),
                    tls_addr: parse(tls_addr),
                    binary,
                    missing,
                }
            })
            .collect()
    }

    /// Where the load of `scenario` goes.
    pub fn listen(&self, tls_scenario: bool) -> SocketAddr {
        match tls_scenario {
            true => self.tls_addr,
            false => self.addr,
        }
    }

    /// Why this proxy cannot run the TLS scenarios, if it cannot: coregate
    /// before TLS termination lands has no `--tls-cert` flag.
    pub fn tls_unsupported(&self) -> Option<String> {
        if self.kind != Kind::Coregate {
            return None;
        }
        let binary = self.binary.as_ref()?;
        let help = std::process::Command::new(binary)
            .arg("--help")
            .output()
            .map(|out| String::from_utf8_lossy(&out.stdout).into_owned())
            .unwrap_or_default();
        (!help.contains("--tls-cert")).then(|| {
            format!(
                "{} has no --tls-cert flag yet (TLS termination not built in): TLS scenarios skipped",
                binary.display()
            )
        })
    }

    /// Starts it pinned to [`PROXY_CPU`], in the foreground.
    pub fn start(&self, scratch: &Scratch, tweaks: Tweaks) -> Result<Pinned, String> {
        let (binary, args) = self.command(scratch, tweaks)?;
        self.spawn(scratch, &binary, &args)
    }

    /// Its binary and arguments (its config written to `scratch`).
    pub fn command(
        &self,
        scratch: &Scratch,
        tweaks: Tweaks,
    ) -> Result<(PathBuf, Vec<String>), String> {
        let binary = self
            .binary
            .clone()
            .ok_or_else(|| format!("{} is missing", self.name))?;
        let args = self
            .args(scratch, tweaks)
            .map_err(|e| format!("cannot write the {} config: {e}", self.name))?;
        Ok((binary, args))
    }

    /// Runs `program args` on [`PROXY_CPU`] with this proxy's log (the
    /// program may wrap the proxy, as valgrind does).
    pub fn spawn(
        &self,
        scratch: &Scratch,
        program: &std::path::Path,
        args: &[String],
    ) -> Result<Pinned, String> {
        let log = scratch.path(&format!("logs/{}.log", self.name));
        Pinned::spawn(self.name, PROXY_CPU, program, args, &log)
            .map_err(|e| format!("cannot start {}: {e}", self.name))
    }

    fn args(&self, scratch: &Scratch, tweaks: Tweaks) -> std::io::Result<Vec<String>> {
        Ok(match self.kind {
            Kind::Coregate => {
                let listen = self.addr.to_string();
                let flags = [
                    "--listen",
                    &listen,
                    "--upstream",
                    ORIGIN_ADDR,
                    "--shards",
                    "1",
                    "--cpus",
                    "1",
                    "--admin",
                    "off",
                ];
                let mut args = flags.map(str::to_owned).to_vec();
                if tweaks.tls_scenario {
                    // The same certificate as nginx and haproxy (ECDSA P-256).
                    for (flag, file) in
                        [("--tls-cert", "tls/cert.pem"), ("--tls-key", "tls/key.pem")]
                    {
                        args.push(flag.to_owned());
                        args.push(scratch.path(file).display().to_string());
                    }
                }
                if tweaks.access && self.name == "coregate" {
                    let dir = crate::compare::access::data_dir(scratch);
                    args.extend(["--data-dir".to_owned(), dir.display().to_string()]);
                    let service = crate::compare::access::SERVICE.to_owned();
                    args.extend(["--service".to_owned(), service]);
                    args.extend(["--api".to_owned(), "off".to_owned()]);
                }
                if self.name == "coregate" {
                    args.extend(tweaks.limit.flags());
                }
                if tweaks.cache {
                    args.extend(["--cache".to_owned(), "{}".to_owned()]);
                }
                // Extra coregate flags for A/B runs (e.g. `--metrics-off`);
                // the `coregate-b` variant takes COREGATE_B_ARGS instead.
                let var = match self.name {
                    "coregate-b" => "COREGATE_B_ARGS",
                    _ => "COREGATE_EXTRA_ARGS",
                };
                if let Ok(extra) = std::env::var(var) {
                    args.extend(extra.split_whitespace().map(str::to_owned));
                }
                args
            }
            Kind::Nginx => {
                let conf = scratch.render(
                    "nginx-proxy.conf",
                    setup::NGINX_PROXY_CONF,
                    tweaks.tls,
                    &tweaks.nginx(),
                )?;
                nginx_args(&conf, scratch, "nginx-proxy")
            }
            Kind::Haproxy => {
                let conf = scratch.render(
                    "haproxy.cfg",
                    setup::HAPROXY_CFG,
                    tweaks.tls,
                    &tweaks.haproxy(),
                )?;
                vec!["-db".into(), "-f".into(), conf.display().to_string()]
            }
            Kind::Floor => vec![self.addr.to_string(), ORIGIN_ADDR.into(), "multi".into()],
        })
    }

    /// The proxy's log, for error messages.
    pub fn log_tail(&self, scratch: &Scratch) -> String {
        let text = std::fs::read_to_string(scratch.path(&format!("logs/{}.log", self.name)))
            .unwrap_or_default();
        let lines: Vec<&str> = text.lines().rev().take(5).collect();
        lines.into_iter().rev().collect::<Vec<_>>().join(" | ")
    }
}

/// `-c CONF -p PREFIX -e ERRORLOG` for an nginx run under `run/NAME/`.
fn nginx_args(conf: &std::path::Path, scratch: &Scratch, name: &str) -> Vec<String> {
    let prefix = scratch.path(&format!("run/{name}/"));
    vec![
        "-c".into(),
        conf.display().to_string(),
        "-p".into(),
        prefix.display().to_string(),
        "-e".into(),
        prefix.join("error.log").display().to_string(),
    ]
}

/// The origin behind every proxy, pinned to [`LOAD_CPU`].
#[derive(Debug)]
pub enum Origin {
    /// nginx with the reference origin.conf (both paths).
    Nginx(Pinned),
    /// coregate-bench's built-in origin, one body size (nginx missing).
    Builtin(Pinned, usize),
}

// === impl Origin ===

impl Origin {
    /// Starts nginx with origin.conf, or the built-in origin serving
    /// `body_size` bytes when nginx is not installed.
    pub fn start(
        scratch: &Scratch,
        bench: &std::path::Path,
        body_size: usize,
        tweaks: Tweaks,
    ) -> Result<Self, String> {
        let addr: SocketAddr = ORIGIN_ADDR
            .parse()
            .unwrap_or_else(|_| unreachable!("constant address"));
        let log = scratch.path("logs/origin.log");
        let mut origin = match which("nginx") {
            Some(nginx) => {
                let conf = scratch
                    .render(
                        "origin.conf",
                        setup::ORIGIN_CONF,
                        tweaks.tls,
                        &tweaks.nginx(),
                    )
                    .map_err(|e| e.to_string())?;
                let args = nginx_args(&conf, scratch, "origin");
                Self::Nginx(
                    Pinned::spawn("origin (nginx)", LOAD_CPU, &nginx, &args, &log)
                        .map_err(|e| e.to_string())?,
                )
            }
            None => {
                let args = [
                    "origin",
                    "--listen",
                    ORIGIN_ADDR,
                    "--body-size",
                    &body_size.to_string(),
                ]
                .map(str::to_owned);
                let pinned = Pinned::spawn("origin (coregate-bench)", LOAD_CPU, bench, &args, &log)
                    .map_err(|e| e.to_string())?;
                Self::Builtin(pinned, body_size)
            }
        };
        origin
            .process()
            .wait_ready(addr, std::time::Duration::from_secs(10))?;
        Ok(origin)
    }

    /// True when this origin serves `body_size` bytes on every path needed.
    pub fn serves(&self, body_size: usize) -> bool {
        match self {
            Self::Nginx(_) => true,
            Self::Builtin(_, size) => *size == body_size,
        }
    }

    /// What it is, for the report.
    pub fn describe(&self) -> String {
        match self {
            Self::Nginx(_) => {
                format!("nginx 1 worker (perf-tests/configs/origin.conf) on CPU {LOAD_CPU}")
            }
            Self::Builtin(_, size) => {
                format!("coregate-bench origin ({size}-byte body; nginx missing) on CPU {LOAD_CPU}")
            }
        }
    }

    fn process(&mut self) -> &mut Pinned {
        match self {
            Self::Nginx(p) | Self::Builtin(p, _) => p,
        }
    }

    /// Stops it.
    pub fn stop(self) {
        match self {
            Self::Nginx(p) | Self::Builtin(p, _) => p.stop(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn idle_capacity_fits_haproxy() {
        assert_eq!(idle_capacity(65_536), 32_688);
        let capped = idle_capacity(20_000);
        assert!(
            2 * (capped + CONNECTION_HEADROOM) + 20 <= 20_000,
            "{capped}"
        );
        assert_eq!(idle_capacity(10), 0);
    }

    #[test]
    fn tweaks_rewrite_limits() {
        let none = Tweaks::default();
        assert!(none.nginx().is_empty() && none.haproxy().is_empty());
        let many = Tweaks {
            many_connections: Some(10_000),
            fd_limit: 65_536,
            tls: false,
            tls_scenario: false,
            single_process: false,
            access: false,
            limit: Default::default(),
            cache: false,
        };
        assert_eq!(many.haproxy()[0].1, "maxconn 10064");
        assert_eq!(many.nginx()[1].1, "worker_rlimit_nofile 65536");
        let text = setup::HAPROXY_CFG.replace(&many.haproxy()[0].0, &many.haproxy()[0].1);
        assert_eq!(text.matches("maxconn 10064").count(), 3);
    }

    #[test]
    fn cache_scenarios_turn_every_cache_on() {
        let cache = Tweaks {
            cache: true,
            ..Tweaks::default()
        };
        let apply = |text: &str, tweaks: Vec<(String, String)>| {
            tweaks
                .iter()
                .fold(text.to_owned(), |t, (from, to)| t.replace(from, to))
        };
        let nginx = apply(setup::NGINX_PROXY_CONF, cache.nginx());
        assert!(nginx.contains("proxy_cache_path cache ") && nginx.contains("proxy_cache bench;"));
        let origin = apply(setup::ORIGIN_CONF, cache.nginx());
        assert!(origin.contains("add_header Cache-Control \"public, max-age=600\";"));
        let haproxy = apply(setup::HAPROXY_CFG, cache.haproxy());
        assert!(
            haproxy.contains("http-request cache-use bench"),
            "{haproxy}"
        );
    }

    #[test]
    fn tls_scenarios_turn_tickets_on() {
        let tls = Tweaks {
            tls: true,
            tls_scenario: true,
            ..Tweaks::default()
        };
        let apply = |text: &str, tweaks: Vec<(String, String)>| {
            tweaks
                .iter()
                .fold(text.to_owned(), |t, (from, to)| t.replace(from, to))
        };
        let nginx = apply(setup::NGINX_PROXY_CONF, tls.nginx());
        assert!(nginx.contains("ssl_session_tickets on;") && !nginx.contains("tickets off"));
        let haproxy = apply(setup::HAPROXY_CFG, tls.haproxy());
        assert!(haproxy.contains("bind 127.0.0.1:8444") && !haproxy.contains("1.1 no-tls-tickets"));
        assert!(Tweaks::default().nginx().is_empty());
    }

    #[test]
    fn instructions_run_nginx_without_its_master() {
        let single = Tweaks {
            single_process: true,
            ..Tweaks::default()
        };
        let mut nginx = setup::NGINX_PROXY_CONF.to_owned();
        for (from, to) in single.nginx() {
            nginx = nginx.replace(&from, &to);
        }
        assert!(nginx.contains("master_process off;") && !nginx.contains("master_process on;"));
    }
}
