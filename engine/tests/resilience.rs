//! No single bug takes everything down: a panic in one connection closes
//! that connection only, a panic in a shard's core exits the process with a
//! clear message, and reloads racing pending health checks are harmless.
//! Background work (health checks) is not starved by a busy data path.
//! The panics are injected with the test-only `fault-injection` feature.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use common::*;

#[test]
fn a_panic_closes_its_own_connection_and_the_shard_goes_on() {
    let origin = Origin::start();
    let gw = start_quick(&[origin.addr], 1);
    let addr = gw.local_addrs()[0];
    // A bystander with a request in flight on the same shard.
    let mut bystander = Client::connect(addr);
    bystander.send(b"GET /slow?ms=300 HTTP/1.1\r\nhost: t\r\n\r\n");
    thread::sleep(Duration::from_millis(50));

    let mut victim = Client::connect(addr);
    victim.send(
        b"GET / HTTP/1.1\r\nhost: t\r\nx-request-id: boom-1\r\nx-coregate-fault: panic\r\n\r\n",
    );
    assert!(
        victim.read(false).is_err(),
        "the panicking request got an answer"
    );

    let r = bystander.read(false).unwrap();
    assert_eq!((r.status, r.text().as_str()), (200, "slow"));
    for _ in 0..3 {
        let r = request(addr, b"GET / HTTP/1.1\r\nhost: t\r\n\r\n");
        assert_eq!(r.status, 200);
    }
    let panics: u64 = gw.stats().iter().map(|s| s.panics).sum();
    assert_eq!(panics, 1);
    // Every connection is closed now: none may stay counted as open.
    drop((bystander, victim));
    let deadline = Instant::now() + Duration::from_secs(5);
    let open = || -> u64 { gw.stats().iter().map(|s| s.active_connections).sum() };
    while open() > 0 && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(open(), 0, "a closed connection is still counted as open");
}

#[test]
fn a_panic_in_a_shard_core_exits_the_process_non_zero() {
    let origin = Origin::start();
    let listen = free_port();
    let mut child = Command::new(coregate_bin())
        .args([
            "--listen",
            &listen.to_string(),
            "--shards",
            "1",
            "--admin",
            "off",
        ])
        .args(["--upstream", &origin.addr.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for_port(listen);
    let r = request(
        listen,
        b"GET / HTTP/1.1\r\nhost: t\r\nx-coregate-fault: core\r\n\r\n",
    );
    assert_eq!(r.status, 200);
    // The next accepted connection makes the accept loop panic.
    let _ = TcpStream::connect(listen);
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(Instant::now() < deadline, "coregate kept running");
        thread::sleep(Duration::from_millis(20));
    };
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert_eq!(status.code(), Some(engine::CORE_PANIC_EXIT), "{err}");
    assert!(err.contains("accept loop panicked"), "{err}");
}

fn health_config(app: &[String], hc: &[String]) -> tuning::Tuning {
    let check = "health_check = { path = \"/\", interval = \"100ms\", timeout = \"80ms\" }";
    let mut t = config(&format!(
        "[server]\nlisten = [\"127.0.0.1:0\"]\nshards = 1\n\n\
         [upstreams.app]\nbackends = [{}]\n{check}\n\n\
         [upstreams.hc]\nbackends = [{}]\n{check}\n\n\
         [[routes]]\nname = \"hc\"\npath_prefix = \"/hc\"\nupstream = \"hc\"\n\n\
         [[routes]]\nname = \"app\"\nupstream = \"app\"\n",
        app.join(", "),
        hc.join(", ")
    ));
    t.admin = None;
    t
}

#[test]
fn reloads_racing_pending_health_checks_fail_nothing() {
    let (o1, o2) = (Origin::start(), Origin::start());
    let stuck = black_hole();
    let q = |a: std::net::SocketAddr| format!("\"{a}\"");
    // Backend lists that grow, shrink and reorder while checks are pending
    // (the stuck backend's checks always are).
    let shapes = [
        (vec![q(o1.addr)], vec![q(stuck)]),
        (
            vec![q(o2.addr), q(o1.addr)],
            vec![q(o1.addr), q(o2.addr), q(stuck)],
        ),
        (vec![q(o1.addr), q(o2.addr)], vec![q(stuck), q(o2.addr)]),
        (vec![q(o2.addr)], vec![q(o2.addr), q(stuck), q(o1.addr)]),
    ];
    let first = health_config(&shapes[0].0, &shapes[0].1);
    let gw = start(first);
    let addr = gw.local_addrs()[0];
    let stop = Arc::new(AtomicBool::new(false));
    let served = Arc::new(AtomicUsize::new(0));
    let load = {
        let (stop, served) = (stop.clone(), served.clone());
        thread::spawn(move || {
            let mut c = Client::connect(addr);
            while !stop.load(Ordering::Relaxed) && served.load(Ordering::Relaxed) < 1_000_000 {
                let r = c.get("/");
                assert_eq!(r.status, 200, "{}", r.text());
                served.fetch_add(1, Ordering::Relaxed);
            }
        })
    };
    let control = gw.control();
    for i in 0..100 {
        let (app, hc) = &shapes[i % shapes.len()];
        let mut t = health_config(app, hc);
        t.listen = vec![addr];
        control.reload_with(t).unwrap();
        thread::sleep(Duration::from_millis(15 + (i as u64 * 7) % 40));
    }
    stop.store(true, Ordering::Relaxed);
    load.join().expect("a request failed during the reloads");
    assert!(served.load(Ordering::Relaxed) > 100);
    assert_eq!(gw.snapshot_version(), 101);
    // The shard (and its health checker) is still alive.
    let r = request(addr, b"GET / HTTP/1.1\r\nhost: t\r\n\r\n");
    assert_eq!(r.status, 200);
    let mut s = TcpStream::connect(addr).unwrap();
    s.write_all(b"GET / HTTP/1.1\r\nhost: t\r\nconnection: close\r\n\r\n")
        .unwrap();
}

#[test]
fn health_checks_run_while_pipelined_clients_keep_the_shard_busy() {
    // The health state of `backend` in upstream `group`, from the admin view.
    let healthy = |admin: std::net::SocketAddr, group: &str, backend: std::net::SocketAddr| {
        let ups = request(admin, b"GET /upstreams HTTP/1.1\r\nHost: a\r\n\r\n").text();
        let v: serde_json::Value = serde_json::from_str(&ups).unwrap();
        let g = v
            .as_array()
            .unwrap()
            .iter()
            .find(|g| g["name"] == group)
            .unwrap_or_else(|| panic!("no upstream {group}: {ups}"));
        let b = g["backends"]
            .as_array()
            .unwrap()
            .iter()
            .find(|b| b["address"] == backend.to_string())
            .unwrap_or_else(|| panic!("no backend {backend}: {ups}"));
        b["healthy"] == true
    };
    let app = Origin::start();
    let mut hc = Killable::start();
    let hc_addr = hc.addr;
    let mut t = health_config(&[format!("\"{}\"", app.addr)], &[format!("\"{hc_addr}\"")]);
    t.admin = Some("127.0.0.1:0".parse().unwrap());
    let gw = start(t);
    let addr = gw.local_addrs()[0];
    let admin = gw.admin_addr().unwrap();
    // Four clients, each keeping 16 requests in flight on one connection,
    // on the shard that also runs the health checker.
    const DEPTH: usize = 16;
    let stop = Arc::new(AtomicBool::new(false));
    let served = Arc::new(AtomicUsize::new(0));
    let load: Vec<_> = (0..4)
        .map(|_| {
            let (stop, served) = (stop.clone(), served.clone());
            thread::spawn(move || {
                let mut c = Client::connect(addr);
                let batch = b"GET / HTTP/1.1\r\nhost: t\r\n\r\n".repeat(DEPTH);
                while !stop.load(Ordering::Relaxed) && served.load(Ordering::Relaxed) < 5_000_000 {
                    c.send(&batch);
                    for _ in 0..DEPTH {
                        let r = c.read(false).unwrap();
                        assert_eq!(r.status, 200, "{}", r.text());
                    }
                    served.fetch_add(DEPTH, Ordering::Relaxed);
                }
            })
        })
        .collect();
    while served.load(Ordering::Relaxed) < 1000 {
        thread::sleep(Duration::from_millis(10));
    }
    hc.kill();
    let before = served.load(Ordering::Relaxed);
    // The checker marks the killed backend down while the load goes on
    // (fall = 3 checks 100 ms apart; the bound is generous for a loaded host).
    let deadline = Instant::now() + Duration::from_secs(20);
    while healthy(admin, "hc", hc_addr) {
        assert!(Instant::now() < deadline, "the health checker starved");
        thread::sleep(Duration::from_millis(20));
    }
    let during = served.load(Ordering::Relaxed) - before;
    stop.store(true, Ordering::Relaxed);
    for l in load {
        l.join().expect("a pipelined request failed");
    }
    assert!(during > 0, "no request was served while the checks ran");
}
