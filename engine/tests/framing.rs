//! Framing is normalised on the way through: one Content-Length, valid chunk
//! extensions only, no framing or routing fields in trailers, bodies below
//! 2^63 bytes. Origins here are scripted: they write fixed bytes and report
//! the raw bytes they received.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use common::*;

/// An origin that answers every request with `pieces`, written one by one
/// with a pause in between (so they reach coregate in separate receive
/// buffers), then closes. Each request as received, raw, goes to `got`.
struct Scripted {
    addr: SocketAddr,
    got: Receiver<Vec<u8>>,
    connections: Arc<AtomicUsize>,
}

impl Scripted {
    fn start(pieces: &[&[u8]]) -> Scripted {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let (tx, got) = channel();
        let connections = Arc::new(AtomicUsize::new(0));
        let (pieces, conns) = (
            pieces.iter().map(|p| p.to_vec()).collect::<Vec<_>>(),
            connections.clone(),
        );
        thread::spawn(move || {
            for s in l.incoming() {
                let Ok(s) = s else { continue };
                conns.fetch_add(1, Ordering::SeqCst);
                let (tx, pieces) = (tx.clone(), pieces.clone());
                thread::spawn(move || serve_scripted(s, &tx, &pieces));
            }
        });
        Scripted {
            addr,
            got,
            connections,
        }
    }

    /// The next request the origin received, raw.
    fn request(&self) -> String {
        let raw = self
            .got
            .recv_timeout(Duration::from_secs(10))
            .expect("the origin got a request");
        String::from_utf8_lossy(&raw).into_owned()
    }
}

fn serve_scripted(mut s: TcpStream, tx: &Sender<Vec<u8>>, pieces: &[Vec<u8>]) {
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.set_nodelay(true).unwrap();
    let Some(raw) = read_raw_request(&mut s) else {
        return;
    };
    let _ = tx.send(raw);
    for (i, p) in pieces.iter().enumerate() {
        if i > 0 {
            thread::sleep(Duration::from_millis(30));
        }
        if s.write_all(p).is_err() {
            return;
        }
    }
}

/// Reads a request head and its body (Content-Length, or chunked up to the
/// blank line that ends the trailer section).
fn read_raw_request(s: &mut TcpStream) -> Option<Vec<u8>> {
    let mut raw = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        if let Some(end) = find(&raw, b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&raw[..end]).to_ascii_lowercase();
            let body = &raw[end + 4..];
            let whole = if head.contains("transfer-encoding: chunked") {
                body.ends_with(b"\r\n\r\n") || body == b"0\r\n\r\n"
            } else {
                let n = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length: "))
                    .map_or(0, |v| v.trim().parse().unwrap_or(0));
                body.len() >= n
            };
            if whole {
                return Some(raw);
            }
        }
        match s.read(&mut buf) {
            Ok(0) | Err(_) => return None,
            Ok(n) => raw.extend_from_slice(&buf[..n]),
        }
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Sends `raw` and reads everything until coregate closes the connection.
fn exchange(addr: SocketAddr, pieces: &[&[u8]]) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    s.set_nodelay(true).unwrap();
    for (i, p) in pieces.iter().enumerate() {
        if i > 0 {
            thread::sleep(Duration::from_millis(30));
        }
        s.write_all(p).unwrap();
    }
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

fn count_lines(text: &str, prefix: &str) -> usize {
    text.lines()
        .filter(|l| l.to_ascii_lowercase().starts_with(prefix))
        .count()
}

const GET_CLOSE: &[u8] = b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n";

#[test]
fn repeated_response_content_length_is_forwarded_once() {
    for head in [
        &b"HTTP/1.1 200 OK\r\nContent-Length: 5, 5\r\n\r\nhello"[..],
        b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello",
    ] {
        let origin = Scripted::start(&[head]);
        let gw = start_quick(&[origin.addr], 1);
        let r = request(gw.local_addrs()[0], b"GET / HTTP/1.1\r\nHost: a\r\n\r\n");
        assert_eq!((r.status, r.text().as_str()), (200, "hello"));
        let lengths: Vec<&str> = r
            .headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case("content-length"))
            .map(|(_, v)| v.as_str())
            .collect();
        assert_eq!(lengths, ["5"], "{:?}", r.headers);
    }
}

#[test]
fn repeated_request_content_length_reaches_the_origin_once() {
    for cl in [
        "Content-Length: 4\r\nContent-Length: 4",
        "Content-Length: 4, 4",
    ] {
        let origin = Scripted::start(&[b"HTTP/1.1 204 No Content\r\n\r\n"]);
        let gw = start_quick(&[origin.addr], 1);
        let raw = format!("POST /up HTTP/1.1\r\nHost: a\r\n{cl}\r\n\r\nabcd");
        let r = request(gw.local_addrs()[0], raw.as_bytes());
        assert_eq!(r.status, 204);
        let seen = origin.request();
        assert_eq!(count_lines(&seen, "content-length"), 1, "{seen}");
        assert!(seen.contains("content-length: 4\r\n"), "{seen}");
        assert!(seen.ends_with("\r\n\r\nabcd"), "{seen}");
    }
}

#[test]
fn differing_content_lengths_are_rejected_both_ways() {
    let origin = Scripted::start(&[b"HTTP/1.1 200 OK\r\nContent-Length: 5, 6\r\n\r\nhello"]);
    let gw = start_quick(&[origin.addr], 1);
    let addr = gw.local_addrs()[0];
    let r = request(addr, b"GET / HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_eq!(r.status, 502);
    let r = request(
        addr,
        b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nContent-Length: 5\r\n\r\nabcd",
    );
    assert_eq!(r.status, 400);
}

#[test]
fn content_length_past_i64_max_is_rejected() {
    let origin =
        Scripted::start(&[b"HTTP/1.1 200 OK\r\nContent-Length: 18446744073709551615\r\n\r\nhello"]);
    let gw = start_quick(&[origin.addr], 1);
    let addr = gw.local_addrs()[0];
    for cl in ["18446744073709551615", "9223372036854775808"] {
        let raw = format!("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: {cl}\r\n\r\nabcd");
        assert_eq!(request(addr, raw.as_bytes()).status, 400, "{cl}");
    }
    assert_eq!(origin.connections.load(Ordering::SeqCst), 0);
    let r = request(addr, b"GET / HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_eq!(r.status, 502);
}

#[test]
fn bad_chunk_extensions_in_requests_are_400_and_never_forwarded() {
    let origin = Scripted::start(&[b"HTTP/1.1 204 No Content\r\n\r\n"]);
    let gw = start_quick(&[origin.addr], 1);
    let addr = gw.local_addrs()[0];
    for ext in ["5;a=\"b", "5;", "5;a=b c", "5;=x"] {
        let raw = format!(
            "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n{ext}\r\nhello\r\n0\r\n\r\n"
        );
        assert_eq!(request(addr, raw.as_bytes()).status, 400, "{ext}");
    }
    assert_eq!(origin.connections.load(Ordering::SeqCst), 0);
    // Well-formed extensions, BWS included, pass untouched.
    let raw = b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5 ;a=b;c=\"d\\\"e\"\r\nhello\r\n0\r\n\r\n";
    assert_eq!(request(addr, raw).status, 204);
    assert!(origin
        .request()
        .ends_with("\r\n\r\n5 ;a=b;c=\"d\\\"e\"\r\nhello\r\n0\r\n\r\n"));
}

#[test]
fn bad_chunk_extension_from_the_origin_is_502() {
    let origin = Scripted::start(&[
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;a=\"b\r\nhello\r\n0\r\n\r\n",
    ]);
    let gw = start_quick(&[origin.addr], 1);
    let r = request(gw.local_addrs()[0], b"GET / HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_eq!(r.status, 502);
}

#[test]
fn bad_chunk_extension_after_the_head_went_out_aborts_the_client() {
    let origin = Scripted::start(&[
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n",
        b"5;\r\nworld\r\n0\r\n\r\n",
    ]);
    let gw = start_quick(&[origin.addr], 1);
    let got = exchange(gw.local_addrs()[0], &[GET_CLOSE]);
    assert!(got.starts_with("HTTP/1.1 200"), "{got}");
    assert!(
        got.ends_with("5\r\nhello\r\n"),
        "cut after the good chunk: {got}"
    );
}

const TRAILERS: &str = "Content-Length: 1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nX-Ok: 1\r\nSet-Cookie: s=1\r\n\r\n";

/// Asserts that the body after the head carries only the legitimate trailer.
fn assert_filtered(got: &str) {
    let body = &got[got.find("\r\n\r\n").expect("a head") + 4..];
    assert!(body.ends_with("0\r\nX-Ok: 1\r\n\r\n"), "{got:?}");
    for gone in ["content-length", "host", "transfer-encoding", "set-cookie"] {
        assert_eq!(count_lines(body, gone), 0, "{gone} in trailers: {got:?}");
    }
}

#[test]
fn forbidden_response_trailers_are_dropped() {
    let body = format!("5;e=1\r\nhello\r\n0\r\n{TRAILERS}");
    let head = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
    // All at once (body bytes arrive with the head) ...
    let whole = format!("{head}{body}");
    let origin = Scripted::start(&[whole.as_bytes()]);
    let gw = start_quick(&[origin.addr], 1);
    let got = exchange(gw.local_addrs()[0], &[GET_CLOSE]);
    assert!(got.contains("\r\n\r\n5;e=1\r\nhello\r\n0\r\n"), "{got:?}");
    assert_filtered(&got);
    // ... and with the trailer section split across receive buffers.
    let (a, b) = body.split_at(body.find("Length").unwrap());
    let (b, c) = b.split_at(b.find("Ok").unwrap());
    let origin = Scripted::start(&[head.as_bytes(), a.as_bytes(), b.as_bytes(), c.as_bytes()]);
    let gw = start_quick(&[origin.addr], 1);
    let got = exchange(gw.local_addrs()[0], &[GET_CLOSE]);
    assert!(got.contains("hello\r\n0\r\n"), "{got:?}");
    assert_filtered(&got);
}

#[test]
fn forbidden_request_trailers_are_dropped() {
    let head =
        "POST /up HTTP/1.1\r\nHost: a\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n";
    let body = format!("5\r\nhello\r\n0\r\n{TRAILERS}");
    let whole = format!("{head}{body}");
    let (a, b) = body.split_at(body.find("Host").unwrap());
    let (b, c) = b.split_at(b.find("\r\n\r\n").unwrap() + 3);
    let splits: [&[&[u8]]; 2] = [
        &[whole.as_bytes()],
        &[head.as_bytes(), a.as_bytes(), b.as_bytes(), c.as_bytes()],
    ];
    for pieces in splits {
        let origin = Scripted::start(&[b"HTTP/1.1 204 No Content\r\n\r\n"]);
        let gw = start_quick(&[origin.addr], 1);
        let got = exchange(gw.local_addrs()[0], pieces);
        assert!(got.starts_with("HTTP/1.1 204"), "{got}");
        let seen = origin.request();
        assert!(seen.contains("\r\n\r\n5\r\nhello\r\n0\r\n"), "{seen:?}");
        assert_filtered(&seen);
    }
}
