//! Upstream-side attacks that must never reach another client: late bytes
//! on pooled connections, unrequested 101s, h2c smuggling, truncated
//! responses that look complete, malformed bodies and oversized heads.
//! Each test drives real sockets against a scripted origin on 127.0.0.1.

mod common;

use std::io::{BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use common::*;

/// What a scripted origin saw: every request, in order.
type Log = Arc<Mutex<Vec<Seen>>>;

/// An origin whose answers come from `script(request, connection number,
/// writer)`; it returns whether to keep reading requests on the connection.
fn scripted<F>(script: F) -> (SocketAddr, Log)
where
    F: Fn(&Seen, usize, &mut TcpStream) -> bool + Send + Sync + 'static,
{
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    let log: Log = Arc::default();
    let (log2, script) = (log.clone(), Arc::new(script));
    let conns = Arc::new(AtomicUsize::new(0));
    thread::spawn(move || {
        for s in l.incoming() {
            let Ok(s) = s else { continue };
            let n = conns.fetch_add(1, Ordering::SeqCst) + 1;
            let (log, script) = (log2.clone(), script.clone());
            thread::spawn(move || {
                let mut w = s.try_clone().unwrap();
                let mut r = BufReader::new(s);
                while let Ok(Some(req)) = read_request(&mut r) {
                    log.lock().unwrap().push(req.clone());
                    if !script(&req, n, &mut w) {
                        return;
                    }
                }
            });
        }
    });
    (addr, log)
}

/// A 200 whose body is the request's path: who got which answer shows.
fn echo_path(w: &mut TcpStream, req: &Seen) {
    let body = req.target.as_bytes();
    let head = format!("HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n", body.len());
    w.write_all(head.as_bytes()).unwrap();
    w.write_all(body).unwrap();
}

/// Fresh clients, each of which must get its own path back.
fn assert_clients_get_their_own(gw: SocketAddr, tag: &str) {
    for i in 0..3 {
        let path = format!("/{tag}-{i}");
        let r = request(
            gw,
            format!("GET {path} HTTP/1.1\r\nhost: t\r\n\r\n").as_bytes(),
        );
        assert_eq!(r.status, 200, "{path}: {}", r.text());
        assert_eq!(r.text(), path, "a client got another response");
    }
}

fn quick(origin: SocketAddr) -> engine::Server {
    start_quick(&[origin], 1)
}

#[test]
fn late_bytes_on_an_idle_pooled_connection_never_reach_the_next_client() {
    for close_after in [false, true] {
        let (origin, _) = scripted(move |req, _, w| {
            echo_path(w, req);
            if req.target != "/first" {
                return true;
            }
            // 150 ms later, on the now idle connection, a stray response.
            thread::sleep(Duration::from_millis(150));
            let _ = w.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\nPOISON!");
            !close_after
        });
        let gw = quick(origin);
        let addr = gw.local_addrs()[0];
        let r = request(addr, b"GET /first HTTP/1.1\r\nhost: t\r\n\r\n");
        assert_eq!(r.text(), "/first");
        thread::sleep(Duration::from_millis(400));
        assert_clients_get_their_own(addr, if close_after { "closed" } else { "open" });
    }
}

#[test]
fn surplus_bytes_after_a_response_make_the_connection_unusable() {
    let (origin, _) = scripted(|req, _, w| {
        let body = req.target.as_bytes();
        let mut out =
            format!("HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n", body.len()).into_bytes();
        out.extend_from_slice(body);
        if req.target == "/extra" {
            out.extend_from_slice(b"HTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\nPOISON!");
        }
        w.write_all(&out).unwrap();
        true
    });
    let gw = quick(origin);
    let addr = gw.local_addrs()[0];
    assert_eq!(
        request(addr, b"GET /extra HTTP/1.1\r\nhost: t\r\n\r\n").text(),
        "/extra"
    );
    assert_clients_get_their_own(addr, "after-extra");
}

/// An origin that answers `/switch` with a 101 (switching to `proto`), then
/// echoes whatever comes; every other path gets its path back.
fn switching_origin(proto: &'static str) -> (SocketAddr, Log) {
    scripted(move |req, _, w| {
        if !req.target.contains("/switch") {
            echo_path(w, req);
            return true;
        }
        let head = format!(
            "HTTP/1.1 101 Switching Protocols\r\nconnection: upgrade\r\nupgrade: {proto}\r\n\r\n"
        );
        w.write_all(head.as_bytes()).unwrap();
        // Now a tunnel: anything that arrives is answered with tunnel bytes.
        let mut buf = [0u8; 4096];
        while let Ok(n) = w.read(&mut buf) {
            if n == 0 || w.write_all(b"TUNNEL-BYTES").is_err() {
                break;
            }
        }
        false
    })
}

#[test]
fn an_unrequested_101_is_a_502_and_its_connection_is_never_pooled() {
    let (origin, _) = switching_origin("websocket");
    let gw = quick(origin);
    let addr = gw.local_addrs()[0];
    let r = request(addr, b"GET /switch HTTP/1.1\r\nhost: t\r\n\r\n");
    assert_eq!(r.status, 502, "{}", r.text());
    assert_clients_get_their_own(addr, "after-101");
}

#[test]
fn upgrade_without_connection_upgrade_is_not_tunnelled() {
    let (origin, log) = switching_origin("websocket");
    let gw = quick(origin);
    let addr = gw.local_addrs()[0];
    let r = request(
        addr,
        b"GET /switch HTTP/1.1\r\nhost: t\r\nupgrade: websocket\r\n\r\n",
    );
    assert_eq!(r.status, 502, "{}", r.text());
    let seen = log.lock().unwrap()[0].clone();
    assert_eq!(
        seen.header("upgrade"),
        None,
        "the refused Upgrade was forwarded"
    );
    assert_clients_get_their_own(addr, "after-bare-upgrade");
}

#[test]
fn a_101_to_another_protocol_than_asked_is_a_502() {
    let (origin, _) = switching_origin("something-else");
    let gw = quick(origin);
    let addr = gw.local_addrs()[0];
    let r = request(
        addr,
        b"GET /switch HTTP/1.1\r\nhost: t\r\nconnection: upgrade\r\nupgrade: websocket\r\n\r\n",
    );
    assert_eq!(r.status, 502, "{}", r.text());
    assert_clients_get_their_own(addr, "after-other-101");
}

#[test]
fn an_allowed_websocket_upgrade_still_tunnels() {
    let (origin, _) = switching_origin("websocket");
    let gw = quick(origin);
    let addr = gw.local_addrs()[0];
    let mut c = Client::connect(addr);
    c.send(b"GET /switch HTTP/1.1\r\nhost: t\r\nconnection: upgrade\r\nupgrade: websocket\r\n\r\n");
    let r = c.read(true).unwrap();
    assert_eq!(r.status, 101);
    c.send(b"ping");
    let mut got = [0u8; 12];
    c.r.read_exact(&mut got).unwrap();
    assert_eq!(&got, b"TUNNEL-BYTES");
}

fn public_and_forbidden(origin: SocketAddr, upgrades: &str) -> tuning::Tuning {
    let mut t = config(&format!(
        "[server]\nlisten = [\"127.0.0.1:0\"]\nshards = 1\n\n\
         [upstreams.app]\nbackends = [\"{origin}\"]\n\n\
         [[routes]]\nname = \"public\"\npath_prefix = \"/public\"\nupstream = \"app\"\n{upgrades}\n\n\
         [[routes]]\nname = \"deny\"\nrespond = {{ status = 403, body = \"no\" }}\n"
    ));
    t.admin = None;
    t
}

#[test]
fn h2c_upgrades_are_served_as_plain_requests_and_cannot_smuggle() {
    let (origin, log) = switching_origin("h2c");
    let gw = start(public_and_forbidden(origin, ""));
    let addr = gw.local_addrs()[0];
    let mut c = Client::connect(addr);
    c.send(
        b"GET /public/x HTTP/1.1\r\nhost: t\r\nconnection: Upgrade, HTTP2-Settings\r\n\
          upgrade: h2c\r\nhttp2-settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n",
    );
    let r = c.read(false).unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.text(), "/public/x");
    // The next request on the same connection is routed: the catch-all.
    c.send(b"GET /private/secret HTTP/1.1\r\nhost: t\r\n\r\n");
    let r = c.read(false).unwrap();
    assert_eq!(r.status, 403, "{}", r.text());
    let seen = log.lock().unwrap().clone();
    assert_eq!(seen.len(), 1, "{seen:?}");
    for name in ["upgrade", "http2-settings"] {
        assert_eq!(seen[0].header(name), None, "{name} was forwarded");
    }
    // An origin that switches to h2c anyway gets a 502, not a tunnel.
    let r = request(
        addr,
        b"GET /public/switch HTTP/1.1\r\nhost: t\r\nconnection: Upgrade\r\nupgrade: h2c\r\n\r\n",
    );
    assert_eq!(r.status, 502, "{}", r.text());
}

#[test]
fn a_route_with_no_upgrades_serves_websocket_requests_plainly() {
    let (origin, log) = switching_origin("websocket");
    let gw = start(public_and_forbidden(origin, "upgrades = []"));
    let addr = gw.local_addrs()[0];
    let r = request(
        addr,
        b"GET /public/plain HTTP/1.1\r\nhost: t\r\nconnection: upgrade\r\nupgrade: websocket\r\n\r\n",
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(log.lock().unwrap()[0].header("upgrade"), None);
}

#[test]
fn a_chunked_response_cut_short_is_reset_for_an_http10_client() {
    let (origin, _) = scripted(|_, _, w| {
        let _ = w.write_all(
            b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n100\r\npartial",
        );
        false
    });
    let gw = quick(origin);
    let mut s = TcpStream::connect(gw.local_addrs()[0]).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(b"GET /cut HTTP/1.0\r\nhost: t\r\n\r\n")
        .unwrap();
    let mut got = Vec::new();
    let end = s.read_to_end(&mut got);
    let text = String::from_utf8_lossy(&got);
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    let err = end.expect_err("a clean close makes a cut response look complete");
    assert_eq!(err.kind(), std::io::ErrorKind::ConnectionReset, "{err}");
}

#[test]
fn a_malformed_first_chunk_or_trailer_is_a_502() {
    let (origin, _) = scripted(|req, _, w| {
        let body: &[u8] = match req.target.as_str() {
            "/bad-chunk" => b"zz\r\nhello\r\n0\r\n\r\n",
            _ => b"5\r\nhello\r\n0\r\nno colon here\r\n\r\n",
        };
        let mut out = b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n".to_vec();
        out.extend_from_slice(body);
        let _ = w.write_all(&out);
        false
    });
    let gw = quick(origin);
    let addr = gw.local_addrs()[0];
    for path in ["/bad-chunk", "/bad-trailer"] {
        let r = request(
            addr,
            format!("GET {path} HTTP/1.1\r\nhost: t\r\n\r\n").as_bytes(),
        );
        assert_eq!(r.status, 502, "{path}: {}", r.text());
        assert_eq!(r.header("x-coregate-error"), Some("upstream_bad_response"));
    }
}

#[test]
fn the_response_head_limit_is_a_setting() {
    let (origin, _) = scripted(|_, _, w| {
        let filler = "a".repeat(3000);
        let out = format!("HTTP/1.1 200 OK\r\nx-filler: {filler}\r\ncontent-length: 2\r\n\r\nok");
        w.write_all(out.as_bytes()).unwrap();
        true
    });
    for (limit, want) in [(2048, 502), (4096, 200)] {
        let mut t = quick_tuning(&[origin]);
        t.limits.max_response_head_bytes = limit;
        let gw = start(t);
        let r = request(gw.local_addrs()[0], b"GET / HTTP/1.1\r\nhost: t\r\n\r\n");
        assert_eq!(r.status, want, "limit {limit}: {}", r.text());
    }
}
