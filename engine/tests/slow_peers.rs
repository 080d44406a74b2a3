//! Peers that do not drain cannot starve a shard: 500 downloads that never
//! read and 200 uploads to an origin that never reads share one shard with
//! a normal client, which is still answered at once; slow uploaders and
//! slow readers are cut by their timeouts.

mod common;

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

use common::*;

fn gateway(origin: SocketAddr, sink: SocketAddr, extra: &str) -> tuning::Tuning {
    let mut t = config(&format!(
        "[server]\nlisten = [\"127.0.0.1:0\"]\nshards = 1\n{extra}\n\n\
         [upstreams.app]\nbackends = [\"{origin}\"]\n\n\
         [upstreams.sink]\nbackends = [\"{sink}\"]\n\n\
         [[routes]]\nname = \"upload\"\npath_prefix = \"/upload\"\nupstream = \"sink\"\n\n\
         [[routes]]\nname = \"app\"\nupstream = \"app\"\n"
    ));
    t.admin = None;
    t
}

/// Starts `t` with tight client timeouts: 1 s for body reads and sends.
fn start_tight(mut t: tuning::Tuning) -> engine::Server {
    t.timeouts.client_body = Duration::from_secs(1);
    t.timeouts.client_send = Duration::from_secs(1);
    start(t)
}

/// Opens `n` connections that each ask for a huge response and never read.
fn stalled_downloads(gw: SocketAddr, n: usize) -> Vec<TcpStream> {
    (0..n)
        .map(|_| {
            let mut s = TcpStream::connect(gw).unwrap();
            s.write_all(b"GET /big?n=200000000 HTTP/1.1\r\nhost: t\r\n\r\n")
                .unwrap();
            s
        })
        .collect()
}

/// Opens `n` uploads to the never-reading origin, each pushing body bytes
/// until its socket would block.
fn stalled_uploads(gw: SocketAddr, n: usize) -> Vec<TcpStream> {
    let block = vec![b'u'; 64 << 10];
    (0..n)
        .map(|_| {
            let mut s = TcpStream::connect(gw).unwrap();
            s.write_all(b"POST /upload HTTP/1.1\r\nhost: t\r\ncontent-length: 100000000\r\n\r\n")
                .unwrap();
            s.set_nonblocking(true).unwrap();
            let deadline = Instant::now() + Duration::from_secs(2);
            while Instant::now() < deadline {
                match s.write(&block) {
                    Ok(_) => {}
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                    Err(e) => panic!("upload write: {e}"),
                }
            }
            s
        })
        .collect()
}

/// Times a normal request on a fresh connection.
fn timed_get(gw: SocketAddr) -> Duration {
    let t = Instant::now();
    let r = request(gw, b"GET /hello HTTP/1.1\r\nhost: t\r\n\r\n");
    let took = t.elapsed();
    assert_eq!(r.status, 200, "{}", r.text());
    took
}

#[test]
fn five_hundred_stalled_downloads_and_two_hundred_stuck_uploads_starve_nobody() {
    let limit = raise_nofile();
    assert!(
        limit >= 4096,
        "RLIMIT_NOFILE {limit}: raise the hard limit to 4096"
    );
    let origin = Origin::start();
    let gw = start(gateway(origin.addr, black_hole(), ""));
    let addr = gw.local_addrs()[0];
    let downloads = stalled_downloads(addr, 500);
    let uploads = stalled_uploads(addr, 200);
    // Let every relay fill what it can.
    thread::sleep(Duration::from_secs(2));
    let mut times: Vec<Duration> = (0..7).map(|_| timed_get(addr)).collect();
    times.sort();
    assert!(
        times[3] < Duration::from_millis(100),
        "a normal client waited {times:?}"
    );
    let ring = &gw.stats()[0];
    assert!(
        ring.requests >= 700,
        "not every stalled request was read: {}",
        ring.requests
    );
    drop((downloads, uploads));
}

#[test]
fn a_byte_a_second_uploader_is_cut_by_the_minimum_rate() {
    let origin = Origin::start();
    let gw = start_tight(gateway(origin.addr, black_hole(), ""));
    let addr = gw.local_addrs()[0];
    let mut c = Client::connect(addr);
    c.send(b"POST /echo HTTP/1.1\r\nhost: t\r\ncontent-length: 1000\r\n\r\n");
    let started = Instant::now();
    let trickle = {
        let mut w = c.w.try_clone().unwrap();
        thread::spawn(move || {
            for _ in 0..20 {
                if w.write_all(b"x").is_err() {
                    return;
                }
                thread::sleep(Duration::from_millis(500));
            }
        })
    };
    let r = c.read(false).unwrap();
    assert_eq!(r.status, 408, "{}", r.text());
    assert!(
        started.elapsed() < Duration::from_secs(6),
        "cut after {:?}",
        started.elapsed()
    );
    trickle.join().unwrap();
    assert_eq!(origin.requests.load(std::sync::atomic::Ordering::SeqCst), 0);
}

#[test]
fn an_upload_above_the_minimum_rate_goes_through() {
    let origin = Origin::start();
    let gw = start_tight(gateway(origin.addr, black_hole(), ""));
    let mut c = Client::connect(gw.local_addrs()[0]);
    let body = pattern(40_000);
    c.send(
        format!(
            "POST /echo HTTP/1.1\r\nhost: t\r\ncontent-length: {}\r\n\r\n",
            body.len()
        )
        .as_bytes(),
    );
    // 2 KB every 100 ms: 20 KB/s for two seconds, twice client_body.
    for part in body.chunks(2000) {
        c.send(part);
        thread::sleep(Duration::from_millis(100));
    }
    let r = c.read(false).unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(checksum(&r.body), checksum(&body));
}

#[test]
fn a_client_that_stops_reading_is_closed_after_client_send() {
    let origin = Origin::start();
    let gw = start_tight(gateway(origin.addr, black_hole(), ""));
    let mut s = TcpStream::connect(gw.local_addrs()[0]).unwrap();
    s.write_all(b"GET /big?n=200000000 HTTP/1.1\r\nhost: t\r\n\r\n")
        .unwrap();
    // Read nothing for longer than client_send (1 s), then drain.
    thread::sleep(Duration::from_secs(3));
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut total = 0usize;
    let mut buf = vec![0u8; 1 << 16];
    loop {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => total += n,
        }
        assert!(total < 100_000_000, "the stalled client was never cut");
    }
    assert!(total > 0 && total < 100_000_000, "read {total}");
}
