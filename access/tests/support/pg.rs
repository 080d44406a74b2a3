#![allow(dead_code)]
#![allow(unreachable_pub, clippy::unwrap_used, clippy::expect_used)]

//! A real, private PostgreSQL server for one test: its own data directory
//! under /tmp, a free port on 127.0.0.1, trust auth, no fsync; stopped and
//! removed on drop. It never uses the system cluster. PostgreSQL refuses to
//! run as root, so as root the server runs as the `postgres` user (created
//! by the Debian package) and owns its directories. Every child process is
//! bounded in time and killed past its deadline.

use std::fs::{self, File};
use std::io::{Read, Seek, SeekFrom};
use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

/// What the fixture says when it finds no PostgreSQL binaries.
const NOT_INSTALLED: &str = "PostgreSQL is not installed: run .ci/test, which installs it";

/// The longest a server may take to start or stop.
const SERVER_TIMEOUT: Duration = Duration::from_secs(60);

/// The longest any other command (initdb, createdb, id) may take.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(120);

/// How many ports to try before giving up on starting.
const START_ATTEMPTS: usize = 3;

/// A private PostgreSQL server for one test: its own data directory, a free
/// port on 127.0.0.1, trust auth for local connections, stopped (fast
/// shutdown) and removed on drop.
pub struct Postgres {
    dir: tempfile::TempDir,
    bin: PathBuf,
    owner: Option<(u32, u32)>,
    port: u16,
    /// Serves TLS (`ssl=on`, `server.crt`/`server.key` in the data dir).
    tls: bool,
}

impl Postgres {
    /// Starts one. Panics with a clear message naming what is missing if
    /// PostgreSQL is not installed, never skips silently.
    pub fn start() -> Postgres {
        Postgres::start_with(None)
    }

    /// Starts one that also accepts TLS, with this certificate chain and
    /// key (PEM).
    pub fn start_tls(cert_pem: &str, key_pem: &str) -> Postgres {
        Postgres::start_with(Some((cert_pem, key_pem)))
    }

    fn start_with(tls: Option<(&str, &str)>) -> Postgres {
        let bin = find_bin();
        let owner = server_owner();
        let dir = make_dirs(owner);
        let mut pg = Postgres {
            dir,
            bin,
            owner,
            port: 0,
            tls: tls.is_some(),
        };
        pg.initdb();
        if let Some((cert, key)) = tls {
            for (name, pem) in [("server.crt", cert), ("server.key", key)] {
                let path = pg.data().join(name);
                fs::write(&path, pem).expect("write the server's TLS file");
                set_mode(&path, 0o600);
                give(&path, owner);
            }
        }
        pg.start_on_free_port();
        pg
    }

    /// Creates a database and returns its URL, e.g.
    /// `postgres://postgres@127.0.0.1:PORT/NAME`.
    pub fn database(&self, name: &str) -> String {
        let port = self.port.to_string();
        let args = ["-h", "127.0.0.1", "-p", &port, "-U", "postgres", name];
        let out = run(self.client("createdb", &args), COMMAND_TIMEOUT);
        assert!(out.ok, "createdb {name} failed: {}", out.text);
        self.url_of(name)
    }

    /// The URL of the default `postgres` database.
    pub fn url(&self) -> String {
        self.url_of("postgres")
    }

    /// Stops the server (`pg_ctl stop -m fast`), keeping the data directory,
    /// so a test can see an outage.
    pub fn stop(&self) {
        let out = self.pg_ctl_stop("fast");
        assert!(
            out.ok,
            "pg_ctl stop failed: {}\n{}",
            out.text,
            self.log_tail()
        );
    }

    /// Starts it again on the same port and data directory; waits until it
    /// accepts connections.
    pub fn restart(&self) {
        let out = self.pg_ctl_start();
        assert!(
            out.ok,
            "pg_ctl start failed: {}\n{}",
            out.text,
            self.log_tail()
        );
    }

    /// The port the server listens on, on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The URL of database `name` on this server.
    fn url_of(&self, name: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{name}", self.port)
    }

    /// The data directory.
    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// The directory for the server's unix socket.
    fn sock(&self) -> PathBuf {
        self.dir.path().join("sock")
    }

    /// The server log, beside the data directory.
    fn log(&self) -> PathBuf {
        self.dir.path().join("log")
    }

    /// Creates the cluster: superuser `postgres`, trust auth, UTF-8.
    fn initdb(&self) {
        let mut cmd = self.server_cmd("initdb");
        cmd.arg("-D").arg(self.data());
        cmd.args([
            "-U",
            "postgres",
            "--auth=trust",
            "-E",
            "UTF8",
            "--locale=C",
            "--no-sync",
        ]);
        let out = run(cmd, COMMAND_TIMEOUT);
        assert!(out.ok, "initdb failed: {}", out.text);
    }

    /// Starts on a fresh free port, trying another if the port was taken.
    fn start_on_free_port(&mut self) {
        let mut last = String::new();
        for _ in 0..START_ATTEMPTS {
            self.port = free_port();
            let out = self.pg_ctl_start();
            if out.ok {
                return;
            }
            last = format!("{}\n{}", out.text, self.log_tail());
        }
        panic!("PostgreSQL did not start after {START_ATTEMPTS} tries: {last}");
    }

    /// `pg_ctl start -w` on this port and data directory.
    fn pg_ctl_start(&self) -> Output {
        let opts = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off \
             -c full_page_writes=off -c synchronous_commit=off -c ssl={}",
            self.port,
            self.sock().display(),
            if self.tls { "on" } else { "off" }
        );
        let mut cmd = self.pg_ctl();
        cmd.arg("-l").arg(self.log()).args(["-o", &opts, "start"]);
        run(cmd, SERVER_TIMEOUT + Duration::from_secs(10))
    }

    /// `pg_ctl stop -m MODE`, waiting for the server to go.
    fn pg_ctl_stop(&self, mode: &str) -> Output {
        let mut cmd = self.pg_ctl();
        cmd.args(["-m", mode, "stop"]);
        run(cmd, SERVER_TIMEOUT + Duration::from_secs(10))
    }

    /// `pg_ctl` on the data directory, waiting (`-w`) up to SERVER_TIMEOUT.
    fn pg_ctl(&self) -> Command {
        let mut cmd = self.server_cmd("pg_ctl");
        let secs = SERVER_TIMEOUT.as_secs().to_string();
        cmd.arg("-D").arg(self.data()).args(["-w", "-t", &secs]);
        cmd
    }

    /// A server-side program, run as `postgres` when we are root.
    fn server_cmd(&self, program: &str) -> Command {
        let path = self.bin.join(program);
        let mut cmd = match self.owner {
            Some(_) => {
                let mut c = Command::new("runuser");
                c.args(["-u", "postgres", "--"]).arg(path);
                c
            }
            None => Command::new(path),
        };
        cmd.current_dir(self.dir.path());
        cmd
    }

    /// A client program (createdb), run directly: trust auth needs no user.
    fn client(&self, program: &str, args: &[&str]) -> Command {
        let mut cmd = Command::new(self.bin.join(program));
        cmd.args(args).current_dir(self.dir.path());
        cmd.env("PGCONNECT_TIMEOUT", "10");
        cmd
    }

    /// The last lines of the server log, for failure messages.
    fn log_tail(&self) -> String {
        let text = fs::read_to_string(self.log()).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        let tail = lines[lines.len().saturating_sub(30)..].join("\n");
        format!("--- server log (last lines) ---\n{tail}")
    }
}

impl Drop for Postgres {
    /// Stops the server at once (`-m immediate`); the TempDir then removes
    /// the data directory.
    fn drop(&mut self) {
        if self.data().join("postmaster.pid").exists() {
            let _ = self.pg_ctl_stop("immediate");
        }
    }
}

/// The bin directory of the newest PostgreSQL under /usr/lib/postgresql, or
/// the one holding `initdb` on PATH; panics if there is none.
fn find_bin() -> PathBuf {
    let mut found: Vec<(u32, PathBuf)> = fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let version = e.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").is_file().then_some((version, bin))
        })
        .collect();
    found.sort();
    found
        .pop()
        .map(|(_, bin)| bin)
        .or_else(bin_on_path)
        .unwrap_or_else(|| {
            panic!("{NOT_INSTALLED} (no /usr/lib/postgresql/*/bin/initdb, no initdb on PATH)")
        })
}

/// The directory on PATH that holds `initdb` and `pg_ctl`, if any.
fn bin_on_path() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .find(|dir| dir.join("initdb").is_file() && dir.join("pg_ctl").is_file())
}

/// The uid and gid the server must run as: `postgres` when we are root
/// (PostgreSQL refuses root), none otherwise.
fn server_owner() -> Option<(u32, u32)> {
    if id(&["-u"]) != 0 {
        return None;
    }
    let uid = id(&["-u", "postgres"]);
    let gid = id(&["-g", "postgres"]);
    Some((uid, gid))
}

/// Runs `id ARGS` and parses the number it prints.
fn id(args: &[&str]) -> u32 {
    let mut cmd = Command::new("id");
    cmd.args(args);
    let out = run(cmd, COMMAND_TIMEOUT);
    assert!(
        out.ok,
        "id {args:?} failed (is there a `postgres` user?): {}",
        out.text
    );
    out.stdout.trim().parse().expect("id prints a number")
}

/// Creates the tempdir under /tmp (0755), with `data` and `sock` (0700) and
/// an empty `log`, all owned by the server user.
fn make_dirs(owner: Option<(u32, u32)>) -> tempfile::TempDir {
    let dir = tempfile::Builder::new()
        .prefix("coregate-pg-")
        .tempdir_in("/tmp")
        .expect("create a tempdir under /tmp");
    set_mode(dir.path(), 0o755);
    for sub in ["data", "sock"] {
        let path = dir.path().join(sub);
        fs::create_dir(&path).expect("create a PostgreSQL directory");
        set_mode(&path, 0o700);
        give(&path, owner);
    }
    let log = dir.path().join("log");
    File::create(&log).expect("create the server log");
    give(&log, owner);
    dir
}

/// Sets a path's permission bits.
fn set_mode(path: &Path, mode: u32) {
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).expect("chmod");
}

/// Hands a path to the server user, if there is one.
fn give(path: &Path, owner: Option<(u32, u32)>) {
    if let Some((uid, gid)) = owner {
        std::os::unix::fs::chown(path, Some(uid), Some(gid)).expect("chown to postgres");
    }
}

/// A free port on 127.0.0.1, as the kernel hands it out.
fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    listener.local_addr().expect("local address").port()
}

/// What a finished (or killed) command left.
struct Output {
    ok: bool,
    stdout: String,
    /// Status, stderr and stdout together, for messages.
    text: String,
}

/// Runs a command to completion within `timeout`, killing its whole process
/// group past it. Output goes to anonymous files, not pipes, so a server
/// that inherits them cannot keep us waiting.
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
    let status = wait_until(&mut child, Instant::now() + timeout);
    let stdout = read_all(&mut out);
    let text = match status {
        Some(s) => format!(
            "{shown}: {s}\nstderr: {}\nstdout: {stdout}",
            read_all(&mut err)
        ),
        None => format!(
            "{shown}: killed after {timeout:?}\nstderr: {}",
            read_all(&mut err)
        ),
    };
    Output {
        ok: status.is_some_and(|s| s.success()),
        stdout,
        text,
    }
}

/// Waits for the child until the deadline; past it, kills its process group
/// and returns None.
fn wait_until(
    child: &mut std::process::Child,
    deadline: Instant,
) -> Option<std::process::ExitStatus> {
    loop {
        if let Some(status) = child.try_wait().expect("wait for a child") {
            return Some(status);
        }
        if Instant::now() >= deadline {
            let group = format!("-{}", child.id());
            let _ = Command::new("kill").args(["-KILL", "--", &group]).status();
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        thread::sleep(Duration::from_millis(20));
    }
}

/// Reads a whole capture file from its start.
fn read_all(file: &mut File) -> String {
    let mut text = String::new();
    file.seek(SeekFrom::Start(0)).expect("rewind capture");
    let _ = file.read_to_string(&mut text);
    text
}
