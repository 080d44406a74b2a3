//! Everything around the measurements: the scratch folder and configs, the
//! TLS material, builds, peer discovery and installation, machine facts.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde::{Deserialize, Serialize};

use crate::proc::{output_of, which};

/// The reference configs (copies of shared/bench/), with `@RUN@` for the
/// scratch folder.
pub const ORIGIN_CONF: &str = include_str!("../../configs/origin.conf");
/// nginx as the proxy under test.
pub const NGINX_PROXY_CONF: &str = include_str!("../../configs/nginx-proxy.conf");
/// haproxy as the proxy under test.
pub const HAPROXY_CFG: &str = include_str!("../../configs/haproxy.cfg");
/// The packages `--install` installs.
pub const APT_PACKAGES: &str = "nginx-light haproxy wrk valgrind redis-server";
/// Body size of the origin's /16k file.
const FILE_16K_BYTES: usize = 16384;

/// A scratch folder laid out as the reference configs expect.
#[derive(Debug)]
pub struct Scratch {
    /// Its root (`@RUN@`).
    pub root: PathBuf,
}

// === impl Scratch ===

impl Scratch {
    /// Creates `<tmp>/coregate-compare-<pid>` with run/, www/16k.txt and tls/.
    pub fn create() -> std::io::Result<Self> {
        let root = std::env::temp_dir().join(format!("coregate-compare-{}", std::process::id()));
        for dir in [
            "run/origin/tmp",
            "run/nginx-proxy/tmp",
            "run/haproxy",
            "www",
            "tls",
            "logs",
            "load",
        ] {
            std::fs::create_dir_all(root.join(dir))?;
        }
        let body: Vec<u8> = b"0123456789abcdef"
            .iter()
            .copied()
            .cycle()
            .take(FILE_16K_BYTES)
            .collect();
        std::fs::write(root.join("www/16k.txt"), body)?;
        Ok(Self { root })
    }

    /// Writes `template` with `@RUN@` replaced, under `name`; TLS listeners
    /// are removed when no certificate could be made, and `tweaks` are
    /// applied as (from, to) replacements.
    pub fn render(
        &self,
        name: &str,
        template: &str,
        tls: bool,
        tweaks: &[(String, String)],
    ) -> std::io::Result<PathBuf> {
        let mut text = template.replace("@RUN@", &self.root.display().to_string());
        if !tls {
            text = strip_tls(&text);
        }
        for (from, to) in tweaks {
            text = text.replace(from, to);
        }
        let path = self.root.join(name);
        std::fs::write(&path, text)?;
        Ok(path)
    }

    /// Makes a self-signed certificate for the TLS listeners with openssl;
    /// false when openssl is missing or fails.
    pub fn make_tls_material(&self) -> bool {
        let tls = self.root.join("tls");
        let made = Command::new("openssl")
            .args([
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:prime256v1",
                "-nodes",
            ])
            .arg("-keyout")
            .arg(tls.join("key.pem"))
            .arg("-out")
            .arg(tls.join("cert.pem"))
            .args(["-days", "2", "-subj", "/CN=127.0.0.1"])
            .output()
            .is_ok_and(|out| out.status.success());
        let joined = || -> std::io::Result<()> {
            let pem = [
                std::fs::read(tls.join("cert.pem"))?,
                std::fs::read(tls.join("key.pem"))?,
            ]
            .concat();
            std::fs::write(tls.join("haproxy.pem"), pem)
        };
        made && joined().is_ok()
    }

    /// A path inside the scratch folder.
    pub fn path(&self, relative: &str) -> PathBuf {
        self.root.join(relative)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

/// Drops the TLS listeners and their settings (nginx `ssl` lines, the
/// haproxy `fe_tls` frontend and `ssl-` globals).
pub fn strip_tls(config: &str) -> String {
    let mut out = String::with_capacity(config.len());
    let mut in_tls_frontend = false;
    for line in config.lines() {
        let trimmed = line.trim_start();
        if trimmed.starts_with("frontend fe_tls") {
            in_tls_frontend = true;
            continue;
        }
        if in_tls_frontend {
            if trimmed.is_empty() {
                in_tls_frontend = false;
            }
            continue;
        }
        if trimmed.starts_with("ssl")
            || trimmed.contains(" ssl ")
            || trimmed.starts_with("tune.ssl")
        {
            continue;
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

/// The machine, as a result must record it.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Machine {
    /// `nproc`.
    pub nproc: usize,
    /// CPU model from /proc/cpuinfo.
    pub cpu_model: String,
    /// `uname -r`.
    pub kernel: String,
    /// Total memory in GiB.
    pub memory_gib: f64,
    /// 1-minute load average when the batch started (other work on the host).
    pub loadavg_at_start: String,
}

// === impl Machine ===

impl Machine {
    /// Reads the current machine.
    pub fn current() -> Self {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu_model = cpuinfo
            .lines()
            .find_map(|l| {
                l.strip_prefix("model name")?
                    .split_once(':')
                    .map(|(_, v)| v.trim().to_owned())
            })
            .unwrap_or_default();
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        let mem_kb: f64 = meminfo
            .lines()
            .find_map(|l| {
                l.strip_prefix("MemTotal:")?
                    .split_whitespace()
                    .next()?
                    .parse()
                    .ok()
            })
            .unwrap_or(0.0);
        Self {
            nproc: std::thread::available_parallelism().map_or(0, usize::from),
            cpu_model,
            kernel: output_of("uname", &["-r"]).unwrap_or_default(),
            memory_gib: (mem_kb / 1024.0 / 1024.0 * 10.0).round() / 10.0,
            loadavg_at_start: std::fs::read_to_string("/proc/loadavg")
                .unwrap_or_default()
                .trim()
                .to_owned(),
        }
    }
}

/// The workspace root (this crate's parent).
pub fn workspace_root() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().unwrap_or(manifest).to_path_buf()
}

/// Where cargo puts release binaries: `$CARGO_TARGET_DIR/release` or
/// `<workspace>/target/release`.
pub fn release_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| workspace_root().join("target"), PathBuf::from);
    let target = if target.is_absolute() {
        target
    } else {
        workspace_root().join(target)
    };
    target.join("release")
}

/// `cargo build --release -p PACKAGE`; the error carries cargo's last lines.
pub fn cargo_build(package: &str) -> Result<(), String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    eprintln!("compare: cargo build --release -p {package}");
    let out = Command::new(cargo)
        .args(["build", "--release", "-p", package])
        .current_dir(workspace_root())
        .output()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    if out.status.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    let tail: Vec<&str> = stderr.lines().rev().take(15).collect();
    Err(tail.into_iter().rev().collect::<Vec<_>>().join("\n"))
}

/// `apt-get update && apt-get install -y` the peers, wrk and valgrind.
pub fn install_peers() -> Result<(), String> {
    eprintln!("compare: apt-get update && apt-get install -y {APT_PACKAGES}");
    let script = format!(
        "apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y {APT_PACKAGES}"
    );
    let status = Command::new("sh")
        .args(["-c", &script])
        .status()
        .map_err(|e| e.to_string())?;
    status
        .success()
        .then_some(())
        .ok_or_else(|| format!("apt-get failed ({status})"))
}

/// The git commit of the workspace, with `-dirty` for uncommitted changes.
pub fn git_commit() -> String {
    let root = workspace_root();
    let root = root.to_string_lossy();
    let commit =
        output_of("git", &["-C", &root, "rev-parse", "HEAD"]).unwrap_or_else(|| "unknown".into());
    let dirty = output_of(
        "git",
        &["-C", &root, "status", "--porcelain", "--untracked-files=no"],
    )
    .is_some_and(|s| !s.is_empty());
    if dirty {
        format!("{commit}-dirty")
    } else {
        commit
    }
}

/// `nginx -v` and `haproxy -v` (first line), when installed.
pub fn peer_versions() -> Vec<(String, String)> {
    let mut versions = Vec::new();
    if let Some(nginx) = which("nginx") {
        versions.push((
            "nginx".into(),
            output_of(&nginx.to_string_lossy(), &["-v"]).unwrap_or_default(),
        ));
    }
    if let Some(haproxy) = which("haproxy") {
        let text = output_of(&haproxy.to_string_lossy(), &["-v"]).unwrap_or_default();
        versions.push((
            "haproxy".into(),
            text.lines().next().unwrap_or_default().to_owned(),
        ));
    }
    versions
}

/// UTC date and time of `secs` since the epoch: (`YYYY-MM-DD`, `HH:MM:SS`).
pub fn utc(secs: u64) -> (String, String) {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let date = format!("{year:04}-{month:02}-{day:02}");
    (
        date,
        format!("{:02}:{:02}:{:02}", rem / 3600, rem % 3600 / 60, rem % 60),
    )
}

/// Now, in UTC.
pub fn utc_now() -> (String, String) {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    utc(secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(utc(0), ("1970-01-01".into(), "00:00:00".into()));
        assert_eq!(utc(951_782_400), ("2000-02-29".into(), "00:00:00".into()));
        assert_eq!(utc(1_795_725_296), ("2026-11-26".into(), "20:34:56".into()));
    }

    #[test]
    fn tls_is_stripped() {
        let code = |text: &str| {
            text.lines()
                .filter(|l| !l.trim_start().starts_with('#'))
                .collect::<Vec<_>>()
                .join("\n")
        };
        let nginx = code(&strip_tls(NGINX_PROXY_CONF));
        assert!(nginx.contains("listen 127.0.0.1:8082"));
        assert!(!nginx.contains("8443") && !nginx.contains("ssl_certificate"));
        let haproxy = code(&strip_tls(HAPROXY_CFG));
        assert!(haproxy.contains("fe_plain") && haproxy.contains("be_origin"));
        assert!(!haproxy.contains("fe_tls") && !haproxy.contains("ssl-default"));
        assert!(!haproxy.contains("8444"));
    }

    #[test]
    fn scratch_renders_configs() {
        let scratch = Scratch::create().unwrap();
        let conf = scratch
            .render(
                "o.conf",
                ORIGIN_CONF,
                false,
                &[(
                    "worker_connections 8000".into(),
                    "worker_connections 9".into(),
                )],
            )
            .unwrap();
        let text = std::fs::read_to_string(conf).unwrap();
        assert!(!text.contains("@RUN@"));
        assert!(text.contains(&scratch.root.display().to_string()));
        assert!(text.contains("worker_connections 9;"));
        assert_eq!(
            std::fs::metadata(scratch.path("www/16k.txt"))
                .unwrap()
                .len(),
            16384
        );
        let root = scratch.root.clone();
        drop(scratch);
        assert!(!root.exists());
    }

    #[test]
    fn machine_facts() {
        let machine = Machine::current();
        assert!(machine.nproc >= 1);
        assert!(!machine.kernel.is_empty());
    }
}
