//! The processes of the ai scenarios: the release builds, the `ai-mock`
//! provider pinned to CPU 0, and coregate with an AI route (providers
//! `openai`, `claude` and `gemini` on the mock, keys in files) pinned to
//! CPU 1, or to CPUs 0 and 1 with two shards. A mock plus a coregate start
//! in about 0.3 s.

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::compare::setup;
use crate::proc::Pinned;

/// The CPU of the mock and the load generator.
pub const LOAD_CPU: usize = 0;
/// The CPU of coregate (one shard).
pub const PROXY_CPU: usize = 1;
/// The keys the mock takes, and coregate's key files hold.
pub const OPENAI_KEY: &str = "sk-bench-openai-0123456789";
/// The Anthropic key.
pub const ANTHROPIC_KEY: &str = "sk-ant-bench-0123456789";
/// The Gemini key.
pub const GEMINI_KEY: &str = "AIzaBench0123456789";
/// How long a process gets to open its port.
const READY: Duration = Duration::from_secs(20);
/// Descriptors `ai-mock` holds per connection: the accepted socket and two
/// clones (one kept to close it on stop, one for its reader); measured.
pub const MOCK_FDS_PER_CONN: u64 = 3;
/// Descriptors a mock holds besides its connections.
const MOCK_FD_HEADROOM: u64 = 64;
/// `server.max_connections` written when a scenario does not ask (per shard).
const MAX_CONNECTIONS: usize = 30_000;
/// coregate's own default `server.max_connections` (tuning/src/defaults.rs), per shard.
pub const COREGATE_DEFAULT_MAX_CONNECTIONS: usize = 16_384;

/// The binaries under test.
#[derive(Debug, Clone)]
pub struct Binaries {
    /// coregate.
    pub coregate: PathBuf,
    /// The mock provider.
    pub mock: PathBuf,
}

/// Builds (unless `no_build`) and finds the release binaries.
pub fn binaries(no_build: bool) -> Result<Binaries, String> {
    if !no_build {
        for package in ["engine", "ai-mock"] {
            setup::cargo_build(package).map_err(|e| format!("cannot build {package}:\n{e}"))?;
        }
    }
    let dir = setup::release_dir();
    let found = |name: &str| {
        let path = dir.join(name);
        if path.is_file() {
            return Ok(path);
        }
        Err(format!(
            "{} is missing (cargo build --release -p engine -p ai-mock)",
            path.display()
        ))
    };
    Ok(Binaries {
        coregate: found("coregate")?,
        mock: found("ai-mock")?,
    })
}

/// Mocks needed to hold `conns` upstream connections at once under the
/// open-file limit, each filled to at most 80 % of what its descriptors allow
/// (one mock holds (20000 - 64) / 3 = 6645 at the 20,000 limit: beyond that
/// its accepts fail with EMFILE and the rest wait in its listen queue of 128,
/// where coregate's upstream connects time out: the 502 `no provider
/// answered` of the 2026-12-03 runs).
pub fn mocks_needed(conns: usize, fd_limit: u64) -> usize {
    let per_mock = fd_limit.saturating_sub(MOCK_FD_HEADROOM) / MOCK_FDS_PER_CONN * 4 / 5;
    (conns as u64).div_ceil(per_mock.max(1)).max(1) as usize
}

/// A loopback address nobody listens on right now.
pub fn free_addr() -> Result<SocketAddr, String> {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map_err(|e| format!("no free port: {e}"))
}

/// How a mock paces and sizes its answers.
#[derive(Debug, Clone, Copy)]
pub struct MockShape {
    /// Words per reply (one stream frame each).
    pub words: usize,
    /// Pause before each frame.
    pub frame_delay_ms: u64,
}

/// A running mock.
#[derive(Debug)]
pub struct MockProc {
    /// Its process.
    pub proc: Pinned,
    /// Where it listens.
    pub addr: SocketAddr,
}

/// Starts `ai-mock` on [`LOAD_CPU`] and waits for its port.
pub fn start_mock(bins: &Binaries, dir: &Path, shape: MockShape) -> Result<MockProc, String> {
    start_mock_on(bins, dir, shape, LOAD_CPU)
}

/// Starts `ai-mock` on `cpu` and waits for its port.
pub fn start_mock_on(
    bins: &Binaries,
    dir: &Path,
    shape: MockShape,
    cpu: usize,
) -> Result<MockProc, String> {
    let addr = free_addr()?;
    let mut args = vec![
        "--listen".to_owned(),
        addr.to_string(),
        "--words".to_owned(),
        shape.words.to_string(),
        "--frame-delay-ms".to_owned(),
        shape.frame_delay_ms.to_string(),
    ];
    for key in [OPENAI_KEY, ANTHROPIC_KEY, GEMINI_KEY] {
        args.extend(["--key".to_owned(), key.to_owned()]);
    }
    let log = dir.join(format!("mock-{}.log", addr.port()));
    let mut proc = Pinned::spawn("ai-mock", cpu, &bins.mock, &args, &log)
        .map_err(|e| format!("cannot start ai-mock: {e}"))?;
    proc.wait_ready(addr, READY)?;
    Ok(MockProc { proc, addr })
}

/// What coregate runs with.
#[derive(Debug, Clone, Default)]
pub struct Gateway {
    /// Shards; they run on CPUs 1 (one shard) or 0 and 1 (two).
    pub shards: usize,
    /// An access log file, or none.
    pub access_log: Option<PathBuf>,
    /// Config text added at the end (limit policies, `[access]`).
    pub extra: String,
    /// Lines added to the AI route (`service`, `rate_limits`).
    pub route: String,
    /// `server.max_connections` (per shard); 0 writes 30,000.
    pub max_connections: usize,
}

/// A running coregate.
#[derive(Debug)]
pub struct GatewayProc {
    /// Its process.
    pub proc: Pinned,
    /// Where it serves.
    pub addr: SocketAddr,
}

/// The config file's text.
pub fn config(
    gw: &Gateway,
    mocks: &[SocketAddr],
    listen: SocketAddr,
    admin: SocketAddr,
    dir: &Path,
) -> Result<String, String> {
    let key = |name: &str, key: &str| -> Result<String, String> {
        let path = dir.join(name);
        std::fs::write(&path, format!("{key}\n"))
            .map_err(|e| format!("{}: {e}", path.display()))?;
        Ok(path.display().to_string())
    };
    let cpus = if gw.shards > 1 { "[0, 1]" } else { "[1]" };
    let log = gw.access_log.as_ref().map_or_else(String::new, |p| {
        format!("[access_log]\npath = \"{}\"\n", p.display())
    });
    Ok(format!(
        r#"[server]
listen = ["{listen}"]
admin = "{admin}"
shards = {shards}
cpus = {cpus}
max_connections = {max_connections}

[timeouts]
drain = "1s"
upstream_connect = "30s"

{log}
[upstreams.mock]
backends = [{backends}]

[[ai.providers]]
name = "openai"
kind = "openai"
upstream = "mock"
keys = [ {{ id = "main", file = "{k1}" }} ]

[[ai.providers]]
name = "claude"
kind = "anthropic"
upstream = "mock"
keys = [ {{ id = "main", file = "{k2}" }} ]

[[ai.providers]]
name = "gemini"
kind = "gemini"
upstream = "mock"
keys = [ {{ id = "main", file = "{k3}" }} ]

[[routes]]
path_prefix = "/plain"
upstream = "mock"
strip_prefix = true

[[routes]]
path_prefix = "/ai"
ai = {{ }}
{route}
{extra}
"#,
        shards = gw.shards.max(1),
        max_connections = if gw.max_connections == 0 {
            MAX_CONNECTIONS
        } else {
            gw.max_connections
        },
        backends = mocks
            .iter()
            .map(|m| format!("\"{m}\""))
            .collect::<Vec<_>>()
            .join(", "),
        k1 = key("openai.key", OPENAI_KEY)?,
        k2 = key("claude.key", ANTHROPIC_KEY)?,
        k3 = key("gemini.key", GEMINI_KEY)?,
        route = gw.route,
        extra = gw.extra,
    ))
}

/// Writes the config under `dir` and starts coregate pinned like its shards.
pub fn start_gateway(
    bins: &Binaries,
    dir: &Path,
    gw: &Gateway,
    mocks: &[SocketAddr],
) -> Result<GatewayProc, String> {
    let (listen, admin) = (free_addr()?, free_addr()?);
    let text = config(gw, mocks, listen, admin, dir)?;
    let path = dir.join("coregate.toml");
    std::fs::write(&path, text).map_err(|e| format!("{}: {e}", path.display()))?;
    let cpus = if gw.shards > 1 {
        "0,1".to_owned()
    } else {
        PROXY_CPU.to_string()
    };
    let args = vec!["--config".to_owned(), path.display().to_string()];
    let log = dir.join("coregate.log");
    let mut proc = Pinned::spawn_on("coregate", &cpus, &bins.coregate, &args, &log)
        .map_err(|e| format!("cannot start coregate: {e}"))?;
    if let Err(e) = proc.wait_ready(listen, READY) {
        let tail = std::fs::read_to_string(&log).unwrap_or_default();
        return Err(format!("{e}\n{}", last_lines(&tail, 10)));
    }
    Ok(GatewayProc { proc, addr: listen })
}

/// The last `n` lines of a text.
pub fn last_lines(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().rev().take(n).collect();
    lines.into_iter().rev().collect::<Vec<_>>().join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_has_the_three_providers() {
        let dir = std::env::temp_dir().join(format!("ai-bench-cfg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let a: SocketAddr = "127.0.0.1:1".parse().unwrap();
        let gw = Gateway {
            shards: 2,
            route: "rate_limits = [\"tpd\"]".into(),
            ..Gateway::default()
        };
        let text = config(&gw, &[a, a], a, a, &dir).unwrap();
        for want in [
            "kind = \"anthropic\"",
            "kind = \"gemini\"",
            "cpus = [0, 1]",
            "rate_limits = [\"tpd\"]",
            "backends = [\"127.0.0.1:1\", \"127.0.0.1:1\"]",
            "max_connections = 30000",
            "path_prefix = \"/plain\"\nupstream = \"mock\"\nstrip_prefix = true",
        ] {
            assert!(text.contains(want), "{want}");
        }
        assert!(!text.contains(OPENAI_KEY), "keys stay in files");
        assert!(!text.contains("[access_log]"));
        let ai = text.find("path_prefix = \"/ai\"").unwrap();
        assert!(
            text.find("rate_limits = [\"tpd\"]").unwrap() > ai,
            "route lines go to /ai"
        );
        assert_eq!(mocks_needed(9872, 20_000), 2);
        assert_eq!(mocks_needed(64, 20_000), 1);
        let _ = std::fs::remove_dir_all(dir);
    }
}
