//! Processes under test: start one pinned to a CPU in the foreground, wait
//! until its port accepts, stop it by its own PID.

use std::fs::File;
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rustix::process::{kill_process, Pid, Signal};

/// How long a stopped process gets between SIGTERM and SIGKILL.
pub const STOP_GRACE: Duration = Duration::from_secs(5);

/// A child process started with `taskset -c CPU` (taskset execs, so the
/// child's PID is the program's PID).
#[derive(Debug)]
pub struct Pinned {
    child: Child,
    name: String,
}

// === impl Pinned ===

impl Pinned {
    /// Starts `program args` on `cpu`, stdout and stderr to `log`.
    pub fn spawn(
        name: &str,
        cpu: usize,
        program: &Path,
        args: &[String],
        log: &Path,
    ) -> std::io::Result<Self> {
        Self::spawn_on(name, &cpu.to_string(), program, args, log)
    }

    /// Starts `program args` on the CPU list `cpus` (taskset syntax:
    /// `"0,1"`, `"0-3"`), stdout and stderr to `log`.
    pub fn spawn_on(
        name: &str,
        cpus: &str,
        program: &Path,
        args: &[String],
        log: &Path,
    ) -> std::io::Result<Self> {
        let out = File::create(log)?;
        let err = out.try_clone()?;
        let child = Command::new("taskset")
            .arg("-c")
            .arg(cpus)
            .arg(program)
            .args(args)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()?;
        Ok(Self {
            child,
            name: name.to_owned(),
        })
    }

    /// The process's PID.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The name given at spawn.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// `Some(exit description)` once the process has ended.
    pub fn exited(&mut self) -> Option<String> {
        match self.child.try_wait() {
            Ok(Some(status)) => Some(status.to_string()),
            Ok(None) => None,
            Err(e) => Some(e.to_string()),
        }
    }

    /// Waits until `addr` accepts a connection; fails if the process exits
    /// first or `timeout` passes.
    pub fn wait_ready(&mut self, addr: SocketAddr, timeout: Duration) -> Result<(), String> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.exited() {
                return Err(format!(
                    "{} exited before accepting on {addr} ({status})",
                    self.name
                ));
            }
            if port_accepts(addr) {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "{} did not accept on {addr} within {timeout:?}",
                    self.name
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGTERM, then SIGKILL after [`STOP_GRACE`]; reaps the process.
    pub fn stop(mut self) {
        self.signal_and_reap();
    }

    /// SIGTERM, a second SIGTERM after a second (a draining process exits
    /// on it), then SIGKILL once `grace` has passed; reaps the process.
    /// For slow processes such as one running under valgrind, which
    /// writes its profile only when the process exits by itself.
    pub fn stop_within(mut self, grace: Duration) -> bool {
        let started = Instant::now();
        let mut signalled = 0;
        while started.elapsed() < grace {
            if self.exited().is_some() {
                return true;
            }
            if signalled < 2 && started.elapsed() >= Duration::from_secs(signalled) {
                if let Some(pid) = Pid::from_raw(self.pid() as i32) {
                    let _ = kill_process(pid, Signal::TERM);
                }
                signalled += 1;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        false
    }

    fn signal_and_reap(&mut self) {
        if self.exited().is_some() {
            return;
        }
        if let Some(pid) = Pid::from_raw(self.pid() as i32) {
            let _ = kill_process(pid, Signal::TERM);
        }
        let deadline = Instant::now() + STOP_GRACE;
        while Instant::now() < deadline {
            if self.exited().is_some() {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Pinned {
    fn drop(&mut self) {
        self.signal_and_reap();
    }
}

/// True when something accepts TCP connections on `addr`.
pub fn port_accepts(addr: SocketAddr) -> bool {
    TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok()
}

/// Waits until nothing accepts on `addr` any more (after a stop).
pub fn wait_port_free(addr: SocketAddr, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    while port_accepts(addr) {
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    true
}

/// Runs a command and returns its stdout and stderr together, trimmed;
/// `None` when it cannot run.
pub fn output_of(program: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .ok()?;
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&out.stderr));
    Some(text.trim().to_owned())
}

/// Finds `program` on PATH (or as given when it contains a slash).
pub fn which(program: &str) -> Option<std::path::PathBuf> {
    if program.contains('/') {
        let path = std::path::PathBuf::from(program);
        return path.is_file().then_some(path);
    }
    let path = std::env::var_os("PATH")?;
    let mut dirs: Vec<_> = std::env::split_paths(&path).collect();
    dirs.extend(["/usr/sbin", "/sbin"].map(std::path::PathBuf::from));
    dirs.into_iter()
        .map(|dir| dir.join(program))
        .find(|p| p.is_file())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    #[test]
    fn port_checks() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        assert!(port_accepts(addr));
        drop(listener);
        assert!(wait_port_free(addr, Duration::from_secs(1)));
    }

    #[test]
    fn spawn_wait_and_stop() {
        let dir = std::env::temp_dir().join(format!("perf-tests-proc-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let sleep = which("sleep").unwrap();
        let mut child =
            Pinned::spawn("sleep", 0, &sleep, &["30".into()], &dir.join("log")).unwrap();
        assert!(child.exited().is_none());
        let unused = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let err = child
            .wait_ready(unused, Duration::from_millis(100))
            .unwrap_err();
        assert!(err.contains("did not accept"), "{err}");
        let started = Instant::now();
        child.stop();
        assert!(started.elapsed() < STOP_GRACE);
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn finds_programs() {
        assert!(which("sh").is_some());
        assert!(which("surely-not-a-program-xyz").is_none());
        assert!(output_of("echo", &["hi"]).is_some_and(|s| s == "hi"));
    }
}
