//! End-to-end proxying over 127.0.0.1 against a real origin started here.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::*;

#[test]
fn get_head_and_post() {
    let origin = Origin::start();
    let gw = start_quick(&[origin.addr], 1);
    let addr = gw.local_addrs()[0];

    let r = request(addr, b"GET / HTTP/1.1\r\nHost: a.test\r\n\r\n");
    assert_eq!(r.status, 200);
    assert_eq!(
        r.text(),
        format!("hello from origin {}", origin.addr.port())
    );

    let r = request(addr, b"HEAD / HTTP/1.1\r\nHost: a.test\r\n\r\n");
    assert_eq!(r.status, 200);
    assert!(r.body.is_empty());
    let expected = format!("hello from origin {}", origin.addr.port())
        .len()
        .to_string();
    assert_eq!(r.header("content-length"), Some(expected.as_str()));

    let r = request(
        addr,
        b"POST /echo HTTP/1.1\r\nHost: a.test\r\nContent-Length: 11\r\n\r\nhello world",
    );
    assert_eq!((r.status, r.text().as_str()), (200, "hello world"));
}

#[test]
fn forwarding_headers_are_set_and_hop_by_hop_removed() {
    let origin = Origin::start();
    let gw = start_quick(&[origin.addr], 1);
    let r = request(
        gw.local_addrs()[0],
        b"GET /seen HTTP/1.1\r\nHost: Shop.Test:8080\r\nConnection: keep-alive, x-secret\r\nX-Secret: 1\r\n\
          Keep-Alive: timeout=5\r\nTE: trailers\r\nProxy-Connection: keep-alive\r\nX-Forwarded-For: 10.0.0.1\r\n\
          X-Forwarded-Proto: https\r\nX-Custom: kept\r\n\r\n",
    );
    let seen = r.text();
    let has = |l: &str| seen.lines().any(|x| x.eq_ignore_ascii_case(l));
    assert!(has("Host: Shop.Test:8080"), "{seen}");
    assert!(has("X-Custom: kept"), "{seen}");
    assert!(has("x-forwarded-for: 10.0.0.1, 127.0.0.1"), "{seen}");
    assert!(has("x-forwarded-proto: http"), "{seen}");
    assert!(has("x-forwarded-host: Shop.Test:8080"), "{seen}");
    let lower = seen.to_ascii_lowercase();
    for gone in [
        "x-secret",
        "keep-alive:",
        "te:",
        "proxy-connection",
        "connection:",
    ] {
        assert!(!lower.contains(gone), "{gone} leaked upstream: {seen}");
    }
    let id = seen
        .lines()
        .find_map(|l| l.strip_prefix("x-request-id: "))
        .expect("a request id is generated");
    assert_eq!(id.len(), 32);
    assert!(id.bytes().all(|b| b.is_ascii_hexdigit()));

    let r = request(
        gw.local_addrs()[0],
        b"GET /seen HTTP/1.1\r\nHost: a\r\nX-Request-Id: abc-123\r\n\r\n",
    );
    assert!(
        r.text().lines().any(|l| l == "x-request-id: abc-123"),
        "{}",
        r.text()
    );
}

#[test]
fn chunked_bodies_both_ways() {
    let origin = Origin::start();
    let gw = start_quick(&[origin.addr], 1);
    let addr = gw.local_addrs()[0];
    let mut c = Client::connect(addr);
    c.send(b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n");
    let r = c.read(false).unwrap();
    assert_eq!((r.status, r.text().as_str()), (200, "hello world"));

    let r = c.get("/chunked?n=5000");
    assert_eq!(r.header("transfer-encoding"), Some("chunked"));
    assert_eq!(r.body, pattern(5000));
    // Still usable afterwards: the chunked body ended where it should.
    assert_eq!(c.get("/").status, 200);
}

#[test]
fn close_delimited_response_is_rechunked_for_keep_alive_clients() {
    let origin = Origin::start();
    let gw = start_quick(&[origin.addr], 1);
    let mut c = Client::connect(gw.local_addrs()[0]);
    let r = c.get("/close?n=70000");
    assert_eq!(r.header("transfer-encoding"), Some("chunked"));
    assert_eq!(r.body, pattern(70000));
    assert_eq!(c.get("/").status, 200, "the client connection stays open");

    // An HTTP/1.0 client gets the close-delimited body as is.
    let r = request(gw.local_addrs()[0], b"GET /close?n=3000 HTTP/1.0\r\n\r\n");
    assert_eq!(r.body, pattern(3000));
    // ...and a chunked body de-chunked.
    let r = request(gw.local_addrs()[0], b"GET /chunked?n=3000 HTTP/1.0\r\n\r\n");
    assert_eq!(r.header("transfer-encoding"), None);
    assert_eq!(r.body, pattern(3000));
}

#[test]
fn a_100_mib_body_each_way_keeps_its_checksum() {
    let origin = Origin::start();
    let gw = start_quick(&[origin.addr], 1);
    let addr = gw.local_addrs()[0];
    let n = 100 << 20;

    let mut c = Client::connect(addr);
    c.send(format!("GET /big?n={n} HTTP/1.1\r\nHost: a\r\n\r\n").as_bytes());
    let r = c.read(false).unwrap();
    assert_eq!(r.body.len(), n);
    let block = pattern(64 << 10);
    let expected: Vec<u8> = block.iter().copied().cycle().take(n).collect();
    assert_eq!(checksum(&r.body), checksum(&expected));

    let upload = pattern(n);
    let s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let mut w = s.try_clone().unwrap();
    let writer = std::thread::spawn(move || {
        w.write_all(
            format!("POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: {n}\r\n\r\n").as_bytes(),
        )
        .unwrap();
        w.write_all(&upload).unwrap();
    });
    let mut c = Client {
        w: s.try_clone().unwrap(),
        r: std::io::BufReader::new(s),
    };
    let r = c.read(false).unwrap();
    writer.join().unwrap();
    assert_eq!(r.body.len(), n);
    assert_eq!(checksum(&r.body), checksum(&pattern(n)));
}

#[test]
fn pipelined_requests_are_answered_in_order() {
    let origin = Origin::start();
    let gw = start_quick(&[origin.addr], 1);
    let mut c = Client::connect(gw.local_addrs()[0]);
    c.send(
        b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\none\
          GET /status?code=204 HTTP/1.1\r\nHost: a\r\n\r\n\
          POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\ntwo\r\n0\r\n\r\n\
          GET /chunked?n=10 HTTP/1.1\r\nHost: a\r\n\r\n",
    );
    assert_eq!(c.read(false).unwrap().text(), "one");
    assert_eq!(c.read(false).unwrap().status, 204);
    assert_eq!(c.read(false).unwrap().text(), "two");
    assert_eq!(c.read(false).unwrap().body, pattern(10));
}

#[test]
fn http_1_0_without_host_gets_one_upstream() {
    let origin = Origin::start();
    let gw = start_quick(&[origin.addr], 1);
    let r = request(gw.local_addrs()[0], b"GET /seen HTTP/1.0\r\n\r\n");
    assert_eq!(r.status, 200);
    let seen = r.text();
    assert!(seen.starts_with("GET /seen HTTP/1.1"), "{seen}");
    assert!(seen.lines().any(|l| l == "host: default"), "{seen}");
}

#[test]
fn http_1_0_with_and_without_keep_alive() {
    let origin = Origin::start();
    let gw = start_quick(&[origin.addr], 1);
    let mut c = Client::connect(gw.local_addrs()[0]);
    c.send(b"GET / HTTP/1.0\r\n\r\n");
    let r = c.read(false).unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(r.header("connection"), Some("close"));
    assert!(c.is_closed());

    let mut c = Client::connect(gw.local_addrs()[0]);
    c.send(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    let r = c.read(false).unwrap();
    assert_eq!(r.header("connection"), Some("keep-alive"));
    c.send(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    assert_eq!(c.read(false).unwrap().status, 200);
}

#[test]
fn keep_alive_reuses_one_upstream_connection() {
    let origin = Origin::start();
    let gw = start_quick(&[origin.addr], 1);
    let mut c = Client::connect(gw.local_addrs()[0]);
    for _ in 0..200 {
        assert_eq!(c.get("/").status, 200);
    }
    // Sequential requests on one client connection reuse one upstream
    // connection; separate client connections reuse it too.
    for _ in 0..20 {
        assert_eq!(
            request(gw.local_addrs()[0], b"GET / HTTP/1.1\r\nHost: a\r\n\r\n").status,
            200
        );
    }
    assert_eq!(
        origin.requests.load(std::sync::atomic::Ordering::SeqCst),
        220
    );
    assert_eq!(
        origin.connections.load(std::sync::atomic::Ordering::SeqCst),
        1
    );
    let stats: u64 = gw.stats().iter().map(|s| s.upstream_reuses).sum();
    assert_eq!(stats, 219);
}

#[test]
fn two_shards_both_accept() {
    let origin = Origin::start();
    let gw = start_quick(&[origin.addr], 2);
    let addr = gw.local_addrs()[0];
    // SO_REUSEPORT hashes the 4-tuple, so many short connections reach both.
    for _ in 0..200 {
        assert_eq!(
            request(
                addr,
                b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"
            )
            .status,
            200
        );
    }
    let stats = gw.stats();
    assert_eq!(stats.len(), 2);
    let total: u64 = stats.iter().map(|s| s.accepted).sum();
    assert_eq!(total, 200);
    assert!(
        stats.iter().all(|s| s.accepted > 0),
        "each shard accepts: {stats:?}"
    );
    assert_eq!(stats.iter().map(|s| s.requests).sum::<u64>(), 200);
}

#[test]
fn upgrade_tunnels_both_ways() {
    let origin = Origin::start();
    let gw = start_quick(&[origin.addr], 1);
    let mut c = Client::connect(gw.local_addrs()[0]);
    c.send(b"GET /ws HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n");
    let r = c.read(true).unwrap();
    assert_eq!(r.status, 101);
    assert_eq!(r.header("upgrade"), Some("websocket"));
    for msg in [&b"ping"[..], &[7u8; 100_000][..]] {
        c.send(msg);
        let mut back = vec![0; msg.len()];
        c.r.read_exact(&mut back).unwrap();
        assert_eq!(back, msg);
    }
    c.w.shutdown(std::net::Shutdown::Write).unwrap();
    assert!(c.is_closed(), "the tunnel closes when the client does");
}

/// Upstream bytes that arrive with the 101 reach the client.
#[test]
fn tunnel_carries_data_sent_with_the_101() {
    let origin = Origin::start();
    let gw = start_quick(&[origin.addr], 1);
    let mut c = Client::connect(gw.local_addrs()[0]);
    c.send(
        b"GET /ws-hello HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n",
    );
    assert_eq!(c.read(true).unwrap().status, 101);
    let mut hello = [0u8; 5];
    c.r.read_exact(&mut hello).expect("server-first bytes");
    assert_eq!(&hello, b"hello");
}

/// An interim response and the final one in the same packet: the interim
/// one is skipped and the final one relayed whole.
#[test]
fn interim_response_in_the_same_read_as_the_final_one() {
    let origin = Origin::start();
    let gw = start_quick(&[origin.addr], 1);
    let addr = gw.local_addrs()[0];
    for _ in 0..3 {
        let r = request(addr, b"GET /interim HTTP/1.1\r\nHost: a\r\n\r\n");
        assert_eq!((r.status, r.text().as_str()), (200, "final"));
    }
}

/// A tunnel that moves bytes stays open past `tunnel_idle`; one that goes
/// quiet is closed on both sides after it, and counted.
#[test]
fn idle_tunnel_is_closed_after_tunnel_idle() {
    let origin = Origin::start();
    let mut t = quick_tuning(&[origin.addr]);
    t.timeouts.tunnel_idle = Duration::from_millis(400);
    let gw = start(t);
    let mut c = Client::connect(gw.local_addrs()[0]);
    c.send(b"GET /ws HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n");
    assert_eq!(c.read(true).unwrap().status, 101);
    for _ in 0..6 {
        std::thread::sleep(Duration::from_millis(150));
        c.send(b"ping");
        let mut back = [0u8; 4];
        c.r.read_exact(&mut back)
            .expect("an active tunnel stays open");
        assert_eq!(&back, b"ping");
    }
    let quiet = Instant::now();
    assert!(c.is_closed(), "the idle tunnel is closed");
    let waited = quiet.elapsed();
    assert!(
        waited >= Duration::from_millis(350) && waited < Duration::from_secs(3),
        "closed after {waited:?}"
    );
    let closed: u64 = gw.stats().iter().map(|s| s.tunnel_timeouts).sum();
    assert_eq!(closed, 1);
}

#[test]
fn expect_100_continue() {
    let origin = Origin::start();
    let gw = start_quick(&[origin.addr], 1);
    let mut c = Client::connect(gw.local_addrs()[0]);
    c.send(b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n");
    let interim = c.read(true).unwrap();
    assert_eq!(interim.status, 100);
    c.send(b"body");
    let r = c.read(false).unwrap();
    assert_eq!((r.status, r.text().as_str()), (200, "body"));
}

#[test]
fn connect_is_405_and_absolute_form_is_accepted() {
    let origin = Origin::start();
    let gw = start_quick(&[origin.addr], 1);
    let addr = gw.local_addrs()[0];
    let r = request(
        addr,
        b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n",
    );
    assert_eq!(r.status, 405);
    assert!(r.header("allow").is_some());

    let r = request(
        addr,
        b"GET http://Abs.Test/seen?q=1 HTTP/1.1\r\nHost: other\r\n\r\n",
    );
    let seen = r.text();
    assert!(seen.starts_with("GET /seen?q=1 HTTP/1.1"), "{seen}");
    assert!(seen.lines().any(|l| l == "host: Abs.Test"), "{seen}");
}

#[test]
fn parser_rejections_reach_the_wire() {
    let origin = Origin::start();
    let gw = start_quick(&[origin.addr], 1);
    let addr = gw.local_addrs()[0];
    let long_target = format!("GET /{} HTTP/1.1\r\nHost: a\r\n\r\n", "a".repeat(9000));
    let many_headers = format!(
        "GET / HTTP/1.1\r\nHost: a\r\n{}\r\n",
        "X-A: b\r\n".repeat(200)
    );
    let cases: Vec<(&str, Vec<u8>, u16)> = vec![
        ("cl+te", b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n".to_vec(), 400),
        ("two cl", b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd".to_vec(), 400),
        ("bad cl", b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +3\r\n\r\nabc".to_vec(), 400),
        ("te not chunked", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n".to_vec(), 400),
        ("1.0 te", b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n".to_vec(), 400),
        ("bad chunk size", b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n".to_vec(), 400),
        ("bare lf chunk", b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\nhello\r\n0\r\n\r\n".to_vec(), 400),
        ("obs-fold", b"GET / HTTP/1.1\r\nHost: a\r\nX-A: b\r\n c\r\n\r\n".to_vec(), 400),
        ("space before colon", b"GET / HTTP/1.1\r\nHost : a\r\n\r\n".to_vec(), 400),
        ("bad method", b"G(T / HTTP/1.1\r\nHost: a\r\n\r\n".to_vec(), 400),
        ("version", b"GET / HTTP/2.0\r\nHost: a\r\n\r\n".to_vec(), 505),
        ("headers", many_headers.into_bytes(), 431),
        ("target", long_target.into_bytes(), 414),
    ];
    for (name, raw, status) in cases {
        let r = request(addr, &raw);
        assert_eq!(r.status, status, "{name}");
        assert!(r.text().contains("request-id: "), "{name}: {}", r.text());
        assert_eq!(r.header("connection"), Some("close"), "{name}");
    }
    // NUL in a header value
    let r = request(addr, b"GET / HTTP/1.1\r\nHost: a\r\nX-A: b\0c\r\n\r\n");
    assert_eq!(r.status, 400);
    // Nothing malformed reached the origin.
    assert_eq!(origin.requests.load(std::sync::atomic::Ordering::SeqCst), 0);
}

#[test]
fn slow_client_gets_408() {
    let origin = Origin::start();
    let mut t = quick_tuning(&[origin.addr]);
    t.shards = 1;
    t.timeouts.client_header = Duration::from_millis(500);
    let gw = start(t);
    let mut c = Client::connect(gw.local_addrs()[0]);
    let started = Instant::now();
    c.send(b"GET / HTTP/1.1\r\nHost: a\r\n");
    // Trickle a byte now and then: the deadline covers the whole head.
    for _ in 0..3 {
        std::thread::sleep(Duration::from_millis(150));
        let _ = c.w.write_all(b"X");
    }
    let r = c.read(false).unwrap();
    assert_eq!(r.status, 408);
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(c.is_closed());
}

#[test]
fn upstream_refused_is_502_and_slow_upstream_is_504() {
    let dead = free_port();
    let gw = start_quick(&[dead], 1);
    let r = request(gw.local_addrs()[0], b"GET / HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_eq!(r.status, 502);

    let origin = Origin::start();
    let mut t = quick_tuning(&[origin.addr]);
    t.shards = 1;
    t.timeouts.upstream_header = Duration::from_millis(300);
    let gw = start(t);
    let r = request(
        gw.local_addrs()[0],
        b"GET /slow?ms=2000 HTTP/1.1\r\nHost: a\r\n\r\n",
    );
    assert_eq!(r.status, 504);
    assert_eq!(
        r.header("x-coregate-error"),
        Some("upstream_header_timeout")
    );
}

#[test]
fn upstream_connect_timeout_is_504() {
    // A listener with a full backlog that never accepts: SYNs go unanswered.
    let l = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    l.bind(
        &"127.0.0.1:0"
            .parse::<std::net::SocketAddr>()
            .unwrap()
            .into(),
    )
    .unwrap();
    l.listen(0).unwrap();
    let addr = l.local_addr().unwrap().as_socket().unwrap();
    let _fillers: Vec<TcpStream> = (0..4)
        .filter_map(|_| TcpStream::connect_timeout(&addr, Duration::from_millis(200)).ok())
        .collect();
    let mut t = quick_tuning(&[addr]);
    t.shards = 1;
    t.timeouts.upstream_connect = Duration::from_millis(300);
    let gw = start(t);
    let r = request(gw.local_addrs()[0], b"GET / HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_eq!(r.status, 504);
}

#[test]
fn upstream_reset_mid_response_closes_the_client() {
    let origin = Origin::start();
    let gw = start_quick(&[origin.addr], 1);
    let mut c = Client::connect(gw.local_addrs()[0]);
    c.send(b"GET /reset HTTP/1.1\r\nHost: a\r\n\r\n");
    let r = c.read(false);
    assert!(r.is_err(), "a truncated body must not look complete: {r:?}");
}

#[test]
fn stale_pooled_connection_is_retried_transparently() {
    let origin = Origin::start();
    let gw = start_quick(&[origin.addr], 1);
    let addr = gw.local_addrs()[0];
    // `/bye` answers as if keep-alive, then the origin closes: the pooled
    // connection is stale, and the next request must not see it.
    for _ in 0..20 {
        assert_eq!(
            request(addr, b"GET /bye HTTP/1.1\r\nHost: a\r\n\r\n").status,
            200
        );
        assert_eq!(
            request(addr, b"GET / HTTP/1.1\r\nHost: a\r\n\r\n").status,
            200
        );
    }
}

#[test]
fn curl_through_the_gateway() {
    let origin = Origin::start();
    let gw = start_quick(&[origin.addr], 1);
    let url = format!("http://{}/echo", gw.local_addrs()[0]);
    let out = std::process::Command::new("curl")
        .args([
            "-sS",
            "--max-time",
            "10",
            "-i",
            "--data-binary",
            "from curl",
            &url,
        ])
        .output()
        .expect("curl is installed (.ci/run installs it)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(text.ends_with("from curl"), "{text}");
}
