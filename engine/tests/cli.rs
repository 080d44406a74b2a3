//! The `coregate` binary as an operator runs it: start-up, signals, errors.

mod common;

use std::io::Read;
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use common::*;

fn spawn(args: &[&str]) -> Child {
    Command::new(coregate_bin())
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("coregate runs")
}

fn wait_exit(child: &mut Child, limit: Duration) -> Option<std::process::ExitStatus> {
    let start = Instant::now();
    while start.elapsed() < limit {
        if let Ok(Some(st)) = child.try_wait() {
            return Some(st);
        }
        thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    None
}

fn stderr_of(child: &mut Child) -> String {
    let mut s = String::new();
    if let Some(e) = child.stderr.as_mut() {
        let _ = e.read_to_string(&mut s);
    }
    s
}

fn sigterm(child: &Child) {
    let pid = child.id().to_string();
    let st = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    assert!(st.success());
}

#[test]
fn sigterm_drains_in_flight_requests_then_exits_0() {
    let origin = Origin::start();
    let listen = free_port();
    let mut child = spawn(&[
        "--listen",
        &listen.to_string(),
        "--upstream",
        &origin.addr.to_string(),
        "--shards",
        "1",
        "--admin",
        "off",
    ]);
    wait_for_port(listen);
    let inflight =
        thread::spawn(move || request(listen, b"GET /slow?ms=1500 HTTP/1.1\r\nHost: a\r\n\r\n"));
    thread::sleep(Duration::from_millis(400));
    sigterm(&child);
    let r = inflight.join().unwrap();
    assert_eq!((r.status, r.text().as_str()), (200, "slow"));
    let st = wait_exit(&mut child, Duration::from_secs(10)).expect("coregate exits after draining");
    assert!(
        st.success(),
        "exit status {st:?}: {}",
        stderr_of(&mut child)
    );
    assert!(
        std::net::TcpStream::connect(listen).is_err(),
        "no longer accepting"
    );
}

#[test]
fn port_in_use_is_a_clear_error() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let mut child = spawn(&[
        "--listen",
        &addr,
        "--upstream",
        "127.0.0.1:9",
        "--admin",
        "off",
    ]);
    let st = wait_exit(&mut child, Duration::from_secs(10)).expect("exits");
    let err = stderr_of(&mut child);
    assert!(!st.success());
    assert!(
        err.contains(&addr) && err.contains("another process holds this port"),
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn admin_port_in_use_names_the_admin_flag() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let admin = taken.local_addr().unwrap().to_string();
    let mut child = spawn(&[
        "--listen",
        "127.0.0.1:0",
        "--upstream",
        "127.0.0.1:9",
        "--shards",
        "1",
        "--admin",
        &admin,
    ]);
    let st = wait_exit(&mut child, Duration::from_secs(10)).expect("exits");
    let err = stderr_of(&mut child);
    assert!(!st.success());
    assert!(
        err.contains(&admin) && err.contains("another process holds this port"),
        "{err}"
    );
    assert!(
        err.contains("--admin") && err.contains("server.admin"),
        "{err}"
    );
    assert!(!err.contains("--listen"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn unknown_cpu_is_a_clear_error() {
    let mut child = spawn(&[
        "--listen",
        "127.0.0.1:0",
        "--upstream",
        "127.0.0.1:9",
        "--cpus",
        "4095",
        "--admin",
        "off",
    ]);
    let st = wait_exit(&mut child, Duration::from_secs(10)).expect("exits");
    let err = stderr_of(&mut child);
    assert!(!st.success());
    assert!(err.contains("4095"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn check_accepts_a_good_config_and_names_line_and_field_of_a_bad_one() {
    let dir = std::env::temp_dir().join(format!("coregate-check-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let good = dir.join("good.toml");
    std::fs::write(
        &good,
        "[server]\nlisten = [\"127.0.0.1:8080\"]\n\n[upstreams.app]\nbackends = [\"127.0.0.1:9000\"]\n\n[[routes]]\nupstream = \"app\"\n",
    )
    .unwrap();
    let out = Command::new(coregate_bin())
        .args(["check", "--config"])
        .arg(&good)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let bad = dir.join("bad.toml");
    std::fs::write(
        &bad,
        "[server]\nlisten = [\"127.0.0.1:8080\"]\n\n[upstreams.app]\nbackends = [\"127.0.0.1:9000\"]\n\n[[routes]]\nupstream = \"apps\"\n",
    )
    .unwrap();
    let out = Command::new(coregate_bin())
        .args(["check", "--config"])
        .arg(&bad)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bad.toml:8"), "{err}");
    assert!(err.contains("upstream"), "{err}");
}

#[test]
fn embedded_default_answers_with_a_welcome() {
    let mut t = tuning::Tuning::embedded_default();
    t.listen = vec!["127.0.0.1:0".parse().unwrap()];
    t.shards = 1;
    t.cpus = None;
    t.admin = None;
    let gw = start(t);
    let r = request(
        gw.local_addrs()[0],
        b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n",
    );
    assert_eq!(r.status, 200);
    assert!(r.text().contains("--upstream"), "{}", r.text());
}

#[test]
fn quick_mode_binary_proxies() {
    let origin = Origin::start();
    let listen = free_port();
    let mut child = spawn(&[
        "--listen",
        &listen.to_string(),
        "--upstream",
        &origin.addr.to_string(),
        "--shards",
        "2",
        "--admin",
        "off",
    ]);
    wait_for_port(listen);
    let r = request(listen, b"GET / HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_eq!(r.status, 200);
    sigterm(&child);
    let st = wait_exit(&mut child, Duration::from_secs(10)).expect("exits");
    assert!(st.success());
}
