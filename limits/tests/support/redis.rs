#![allow(dead_code)]
#![allow(unreachable_pub, clippy::unwrap_used, clippy::expect_used)]

//! A real, private Redis server for one test: its own temp directory, a
//! free port on 127.0.0.1, no persistence; killed on drop. If `redis-server`
//! is missing it is installed with apt-get (never a silent skip). Every
//! child process is bounded in time and killed past its deadline.

use std::fs::{self, File};
use std::io::{Read, Seek, SeekFrom, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::thread;
use std::time::{Duration, Instant};

/// The longest a server may take to start answering.
const SERVER_TIMEOUT: Duration = Duration::from_secs(30);

/// The longest apt-get may take.
const INSTALL_TIMEOUT: Duration = Duration::from_secs(600);

/// How many ports to try before giving up on starting.
const START_ATTEMPTS: usize = 3;

/// A private Redis server; killed on drop, its directory removed.
pub struct Redis {
    dir: tempfile::TempDir,
    bin: PathBuf,
    port: u16,
    password: Option<String>,
    /// Certificate and key files, when it serves TLS only.
    tls: Option<(PathBuf, PathBuf)>,
    child: Option<Child>,
}

impl Redis {
    /// Starts one without a password.
    pub fn start() -> Redis {
        Redis::start_with(None, None)
    }

    /// Starts one that requires `password` (`--requirepass`).
    pub fn start_with_password(password: &str) -> Redis {
        Redis::start_with(Some(password), None)
    }

    /// Starts one that speaks only TLS, with this certificate and key (PEM).
    pub fn start_tls(cert_pem: &str, key_pem: &str) -> Redis {
        Redis::start_with(None, Some((cert_pem, key_pem)))
    }

    fn start_with(password: Option<&str>, tls: Option<(&str, &str)>) -> Redis {
        let dir = tempfile::Builder::new()
            .prefix("coregate-redis-")
            .tempdir_in("/tmp")
            .expect("create a tempdir under /tmp");
        let tls = tls.map(|(cert, key)| {
            let (c, k) = (dir.path().join("server.crt"), dir.path().join("server.key"));
            fs::write(&c, cert).expect("write the server certificate");
            fs::write(&k, key).expect("write the server key");
            (c, k)
        });
        let mut redis = Redis {
            dir,
            bin: find_or_install(),
            port: 0,
            password: password.map(str::to_owned),
            tls,
            child: None,
        };
        redis.start_on_free_port();
        redis
    }

    /// The port it listens on, on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `redis://127.0.0.1:PORT` (with the password, if any), or `rediss://`
    /// for a TLS server.
    pub fn url(&self) -> String {
        let scheme = if self.tls.is_some() {
            "rediss"
        } else {
            "redis"
        };
        match &self.password {
            Some(p) => format!("{scheme}://:{p}@127.0.0.1:{}", self.port),
            None => format!("{scheme}://127.0.0.1:{}", self.port),
        }
    }

    /// Kills the server (SIGKILL), so a test can see an outage.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again on the same port; waits until it answers.
    pub fn restart(&mut self) {
        self.stop();
        let deadline = Instant::now() + SERVER_TIMEOUT;
        while Instant::now() < deadline {
            if self.spawn_and_wait().is_ok() {
                return;
            }
            thread::sleep(Duration::from_millis(100));
        }
        panic!(
            "redis-server did not restart on port {}: {}",
            self.port,
            self.log_tail()
        );
    }

    /// Runs one command on a plain server over raw RESP and returns the
    /// raw reply text.
    pub fn command(&self, args: &[&str]) -> String {
        let mut stream = self.connect().expect("connect to redis-server");
        if let Some(p) = &self.password {
            stream.write_all(&resp(&["AUTH", p])).unwrap();
            read_reply(&mut stream).expect("AUTH reply");
        }
        stream.write_all(&resp(args)).unwrap();
        read_reply(&mut stream).expect("reply")
    }

    /// Tries ports until the server starts on one.
    fn start_on_free_port(&mut self) {
        let mut last = String::new();
        for _ in 0..START_ATTEMPTS {
            self.port = free_port();
            match self.spawn_and_wait() {
                Ok(()) => return,
                Err(e) => last = e,
            }
        }
        panic!("redis-server did not start after {START_ATTEMPTS} tries: {last}");
    }

    /// Spawns the server and waits until it answers PING (or, for TLS, logs
    /// that it is ready and accepts TCP); kills it on failure.
    fn spawn_and_wait(&mut self) -> Result<(), String> {
        let log = self.dir.path().join("log");
        let _ = fs::remove_file(&log);
        let mut child = self.command_line(&log).spawn().map_err(|e| e.to_string())?;
        let deadline = Instant::now() + SERVER_TIMEOUT;
        loop {
            if self.answers() {
                self.child = Some(child);
                return Ok(());
            }
            if let Ok(Some(status)) = child.try_wait() {
                return Err(format!(
                    "redis-server exited: {status}\n{}",
                    self.log_tail()
                ));
            }
            if Instant::now() >= deadline {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "redis-server not ready in time\n{}",
                    self.log_tail()
                ));
            }
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// `redis-server` with this port, dir, password and TLS files.
    fn command_line(&self, log: &Path) -> Command {
        let mut cmd = Command::new(&self.bin);
        let port = self.port.to_string();
        match &self.tls {
            Some((cert, key)) => {
                cmd.args([
                    "--port",
                    "0",
                    "--tls-port",
                    &port,
                    "--tls-auth-clients",
                    "no",
                ]);
                cmd.arg("--tls-cert-file")
                    .arg(cert)
                    .arg("--tls-key-file")
                    .arg(key);
            }
            None => {
                cmd.args(["--port", &port]);
            }
        }
        cmd.args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]);
        cmd.arg("--dir")
            .arg(self.dir.path())
            .arg("--logfile")
            .arg(log);
        if let Some(p) = &self.password {
            cmd.args(["--requirepass", p]);
        }
        cmd.stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0);
        cmd
    }

    /// Whether the server is up: PING answered (plain), or ready logged and
    /// the port accepting (TLS).
    fn answers(&self) -> bool {
        if self.tls.is_some() {
            let log = fs::read_to_string(self.dir.path().join("log")).unwrap_or_default();
            return log.contains("Ready to accept connections") && self.connect().is_ok();
        }
        let Ok(mut stream) = self.connect() else {
            return false;
        };
        // With a password PING answers -NOAUTH, which still proves it is up.
        stream.write_all(&resp(&["PING"])).is_ok()
            && read_reply(&mut stream)
                .is_some_and(|r| r.starts_with("+PONG") || r.starts_with("-NOAUTH"))
    }

    fn connect(&self) -> std::io::Result<TcpStream> {
        let stream = TcpStream::connect(("127.0.0.1", self.port))?;
        stream.set_read_timeout(Some(Duration::from_secs(2)))?;
        Ok(stream)
    }

    /// The last lines of the server log, for failure messages.
    fn log_tail(&self) -> String {
        let text = fs::read_to_string(self.dir.path().join("log")).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        let tail = lines[lines.len().saturating_sub(30)..].join("\n");
        format!("--- redis log (last lines) ---\n{tail}")
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.stop();
    }
}

/// `args` as a RESP array of bulk strings.
fn resp(args: &[&str]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        out.extend_from_slice(format!("${}\r\n{a}\r\n", a.len()).as_bytes());
    }
    out
}

/// Reads one short reply (one read is enough for the replies used here).
fn read_reply(stream: &mut TcpStream) -> Option<String> {
    let mut buf = [0u8; 4096];
    let n = stream.read(&mut buf).ok()?;
    (n > 0).then(|| String::from_utf8_lossy(&buf[..n]).into_owned())
}

/// The redis-server binary, installed once per test binary if missing.
fn find_or_install() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        if let Some(bin) = find_bin() {
            return bin;
        }
        eprintln!("redis-server not found: installing it with apt-get");
        let install = || run(apt(&["install", "-y", "redis-server"]), INSTALL_TIMEOUT);
        let first = install();
        if !first.ok {
            let update = run(apt(&["update"]), INSTALL_TIMEOUT);
            assert!(update.ok, "apt-get update failed: {}", update.text);
            let second = install();
            assert!(
                second.ok,
                "apt-get install redis-server failed: {}",
                second.text
            );
        }
        find_bin().unwrap_or_else(|| panic!("redis-server still missing after apt-get install"))
    })
    .clone()
}

/// `redis-server` on PATH or in /usr/bin.
fn find_bin() -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/bin"), PathBuf::from("/usr/local/bin")])
        .map(|dir| dir.join("redis-server"))
        .find(|bin| bin.is_file())
}

/// `apt-get ARGS`, non-interactive.
fn apt(args: &[&str]) -> Command {
    let mut cmd = Command::new("apt-get");
    cmd.args(args).env("DEBIAN_FRONTEND", "noninteractive");
    cmd
}

/// A free port on 127.0.0.1, as the kernel hands it out.
fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    listener.local_addr().expect("local address").port()
}

/// What a finished (or killed) command left.
struct Output {
    ok: bool,
    /// Status, stderr and stdout together, for messages.
    text: String,
}

/// Runs a command to completion within `timeout`, killing its process group
/// past it. Output goes to anonymous files, not pipes.
fn run(mut cmd: Command, timeout: Duration) -> Output {
    let mut out = tempfile::tempfile().expect("tempfile for stdout");
    let mut err = tempfile::tempfile().expect("tempfile for stderr");
    cmd.stdin(Stdio::null())
        .stdout(out.try_clone().expect("dup stdout file"))
        .stderr(err.try_clone().expect("dup stderr file"))
        .process_group(0);
    let shown = format!("{cmd:?}");
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {shown}: {e}"));
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for a child") {
            break Some(status);
        }
        if Instant::now() >= deadline {
            let group = format!("-{}", child.id());
            let _ = Command::new("kill").args(["-KILL", "--", &group]).status();
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        thread::sleep(Duration::from_millis(50));
    };
    let text = format!(
        "{shown}: {status:?}\nstderr: {}\nstdout: {}",
        read_all(&mut err),
        read_all(&mut out)
    );
    Output {
        ok: status.is_some_and(|s| s.success()),
        text,
    }
}

/// Reads a whole capture file from its start.
fn read_all(file: &mut File) -> String {
    let mut text = String::new();
    file.seek(SeekFrom::Start(0)).expect("rewind capture");
    let _ = file.read_to_string(&mut text);
    text
}
