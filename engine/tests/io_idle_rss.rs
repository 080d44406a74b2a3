//! Memory per idle keep-alive connection: 10k connections, each served one
//! request and then idle. An idle connection holds no receive buffer (its
//! multishot recv stays armed without one), so its cost is the socket's
//! bookkeeping and the task waiting on it.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;
mod io_support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::sync::mpsc;

use common::raise_nofile;
use engine::io::RingConfig;
use io_support::*;

const CONNS: usize = 10_000;
const WARM: usize = 200;

fn rss_kib() -> usize {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    s.lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn open(addr: std::net::SocketAddr, n: usize) -> Vec<TcpStream> {
    (0..n)
        .map(|_| {
            let mut s = TcpStream::connect(addr).unwrap();
            s.write_all(b"x").unwrap();
            let mut b = [0u8; 1];
            s.read_exact(&mut b).unwrap();
            s
        })
        .collect()
}

/// The client half, run in a child process (so each process needs only
/// one end's fds): opens the connections, says "ready", waits for stdin.
#[test]
fn rss_client_helper() {
    let Ok(addr) = std::env::var("IO_RSS_CLIENT") else {
        return;
    };
    raise_nofile();
    let conns = open(addr.parse().unwrap(), CONNS);
    println!("\nready");
    std::io::stdout().flush().unwrap();
    let mut line = String::new();
    let _ = std::io::stdin().read_line(&mut line);
    drop(conns);
}

fn spawn_clients(addr: std::net::SocketAddr) -> std::process::Child {
    let exe = std::env::current_exe().unwrap();
    let mut child = Command::new(exe)
        .args([
            "--exact",
            "rss_client_helper",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("IO_RSS_CLIENT", addr.to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap()).lines();
    for line in out.by_ref() {
        if line.unwrap().trim() == "ready" {
            break;
        }
    }
    std::thread::spawn(move || out.for_each(drop));
    child
}

#[test]
fn rss_per_idle_connection_10k() {
    if std::env::var("IO_RSS_CLIENT").is_ok() {
        return;
    }
    let limit = raise_nofile();
    if limit < (CONNS + WARM + 512) as u64 {
        eprintln!(
            "SKIP: RLIMIT_NOFILE {limit} too low; ulimit -n {} needed",
            CONNS + WARM + 512
        );
        return;
    }
    let (addr_tx, addr_rx) = mpsc::channel();
    let (phase_tx, phase_rx) = mpsc::channel::<usize>();
    let (done_tx, done_rx) = mpsc::channel::<(usize, usize, bool)>();
    let server = std::thread::spawn(move || {
        run(move || async move {
            let ring = ring(RingConfig::default());
            addr_tx.send(echo_server(&ring)).unwrap();
            let mut marks = Vec::new();
            while marks.len() < 2 {
                match phase_rx.try_recv() {
                    Ok(_) => {
                        sleep_ms(300).await;
                        marks.push(rss_kib());
                    }
                    Err(_) => sleep_ms(20).await,
                }
            }
            let st = ring.stats();
            let no_buffers_held = st.buffers_free == st.buffers_total;
            eprintln!("idle: {st:?}");
            done_tx.send((marks[0], marks[1], no_buffers_held)).unwrap();
            ring.shutdown();
        })
    });
    let addr = addr_rx.recv().unwrap();
    let warm = open(addr, WARM);
    phase_tx.send(0).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(500));
    let mut child = spawn_clients(addr);
    phase_tx.send(1).unwrap();
    let (before, after, no_buffers_held) = done_rx.recv().unwrap();
    drop(child.stdin.take());
    let _ = child.wait();
    drop(warm);
    server.join().unwrap();
    let per_conn = (after.saturating_sub(before)) as f64 * 1024.0 / CONNS as f64;
    eprintln!("RSS {before} KiB -> {after} KiB with {CONNS} more idle connections: {per_conn:.0} bytes each");
    assert!(
        no_buffers_held,
        "idle connections must hold no receive buffer"
    );
    assert!(per_conn < 8192.0, "{per_conn:.0} bytes per idle connection");
}
