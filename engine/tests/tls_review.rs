//! TLS regressions from review: a session ticket from a listener without
//! client auth must not skip the client certificate on a listener that
//! requires one; a client-certificate subject header sent by a client
//! on a plain listener must not reach the origin; a reload that reorders
//! the listeners must not swap which socket speaks TLS; and an upstream
//! TLS connection closed without close_notify truncates the response.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;
#[path = "common/tls_support.rs"]
mod tls_support;

use std::io::{BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use common::*;
use rustls::{HandshakeKind, ServerConnection, StreamOwned};
use tls_support::*;

// === helpers ===

/// `client_auth` requiring a certificate from `pki`'s CA.
fn required_client_auth(pki: &Pki) -> String {
    format!(
        "client_auth = {{ ca = \"{}\", required = true, subject_header = \"x-client-subject\" }}\n",
        pki.ca.display()
    )
}

/// `coregate_errors_total` for `kind` (0 when the series is absent).
fn errors_of_kind(text: &str, kind: &str) -> f64 {
    let label = format!("kind=\"{kind}\"");
    text.lines()
        .filter(|l| l.starts_with("coregate_errors_total{") && l.contains(&label))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// One GET on a new connection made with `config`; the handshake kind
/// and the response (or the first error).
fn get_with(
    config: &Arc<rustls::ClientConfig>,
    addr: SocketAddr,
    name: &str,
    path: &str,
) -> (Option<HandshakeKind>, std::io::Result<Response>) {
    match handshake_with(config, addr, name) {
        Ok(mut s) => {
            let r = get(&mut s, path, "");
            // The response is read, so the tickets sent before it are
            // in the config's session store.
            (s.conn.handshake_kind(), r)
        }
        Err(e) => (None, Err(e)),
    }
}

// === 1. tickets are bound to their profile ===

/// Two TLS listeners with the same certificate and name: `open` without
/// client auth, `locked` requiring a client certificate. A ticket from
/// `locked` (with a certificate) still resumes on `locked`; a ticket from
/// `open` (no certificate) must not let a client onto `locked` without
/// one.
#[test]
fn a_ticket_from_a_listener_without_client_auth_does_not_skip_it_on_one_that_requires_it() {
    let pki = Pki::new("ticket-bind");
    let site = pki.leaf("site", &["bind.test"]);
    let alice = pki.client("alice", "client-one");
    let origin = Origin::start();
    let locked_addr = free_port();
    let gw = start(config(&format!(
        "[server]\nlisten = [{{ address = \"127.0.0.1:0\", tls = \"open\" }}, \
         {{ address = \"{locked_addr}\", tls = \"locked\" }}]\n\
         shards = 1\nadmin = \"off\"\n\n\
         [tls.open]\n{}\n\
         [tls.locked]\n{}{}\n\
         [upstreams.app]\nbackends = [\"{}\"]\n\n\
         [[routes]]\nupstream = \"app\"\n",
        cert_entry("open", &site),
        required_client_auth(&pki),
        cert_entry("locked", &site),
        origin.addr,
    )));
    let (open, locked) = (gw.local_addrs()[0], gw.local_addrs()[1]);

    // Within one profile resumption still works, and the resumed
    // connection still carries the certificate's subject.
    let with_cert = TlsClient::new(&pki.ca).with_cert(&alice).shared_config();
    let (kind, r) = get_with(&with_cert, locked, "bind.test", "/seen");
    let r = r.expect("locked, with a certificate, first connection");
    assert_eq!(r.status, 200);
    assert_eq!(kind, Some(HandshakeKind::Full));
    let (kind, r) = get_with(&with_cert, locked, "bind.test", "/seen");
    let r = r.expect("locked, with a certificate, resumed connection");
    assert_eq!(r.status, 200);
    assert_eq!(
        kind,
        Some(HandshakeKind::Resumed),
        "a ticket from `locked` resumes on `locked`"
    );
    assert_eq!(
        seen(&r.text(), "x-client-subject"),
        ["CN=client-one"],
        "{}",
        r.text()
    );

    // No certificate: a ticket from `open`, offered to `locked`.
    let no_cert = TlsClient::new(&pki.ca).shared_config();
    let (kind, r) = get_with(&no_cert, open, "bind.test", "/");
    let r = r.expect("open, no certificate");
    assert_eq!(r.status, 200);
    assert_eq!(kind, Some(HandshakeKind::Full));
    let before = origin.requests.load(Ordering::SeqCst);
    let (kind, r) = get_with(&no_cert, locked, "bind.test", "/seen");
    assert!(
        r.is_err(),
        "a client without a certificate got a response on `locked` \
         (handshake {kind:?}) with a ticket from `open`: {:?}",
        r.as_ref().map(|r| (r.status, r.text()))
    );
    assert_eq!(
        origin.requests.load(Ordering::SeqCst),
        before,
        "the origin saw a request from a client without a certificate"
    );
}

// === 2. the subject header on a plain listener ===

/// The subject header is set only from a verified certificate; a client
/// on the plain listener of the same server cannot send one through.
#[test]
fn a_subject_header_sent_on_a_plain_listener_does_not_reach_the_origin() {
    let pki = Pki::new("subject-plain");
    let site = pki.leaf("site", &["subject.test"]);
    let alice = pki.client("alice", "client-one");
    let origin = Origin::start();
    let plain = free_port();
    let gw = start(config(&format!(
        "[server]\nlisten = [{{ address = \"127.0.0.1:0\", tls = \"edge\" }}, \"{plain}\"]\n\
         shards = 1\nadmin = \"off\"\n\n\
         [tls.edge]\n{}{}\n\
         [upstreams.app]\nbackends = [\"{}\"]\n\n\
         [[routes]]\nupstream = \"app\"\n",
        required_client_auth(&pki),
        cert_entry("edge", &site),
        origin.addr,
    )));

    // The TLS listener sets it from the certificate (the forged one is dropped).
    let mut s = TlsClient::new(&pki.ca)
        .with_cert(&alice)
        .connect(gw.local_addrs()[0], "subject.test");
    let r = get(&mut s, "/seen", "x-client-subject: CN=admin\r\n").expect("GET over TLS");
    assert_eq!(r.status, 200);
    assert_eq!(
        seen(&r.text(), "x-client-subject"),
        ["CN=client-one"],
        "{}",
        r.text()
    );

    for (what, raw) in [
        (
            "lowercase",
            &b"GET /seen HTTP/1.1\r\nHost: x\r\nx-client-subject: CN=admin\r\n\r\n"[..],
        ),
        (
            "mixed case",
            &b"GET /seen HTTP/1.1\r\nHost: x\r\nX-Client-Subject: CN=admin\r\n\r\n"[..],
        ),
    ] {
        let r = request(gw.local_addrs()[1], raw);
        assert_eq!(r.status, 200, "{what}");
        let body = r.text();
        assert!(
            seen(&body, "x-client-subject").is_empty(),
            "{what}: the plain listener passed a client's own subject header on:\n{body}"
        );
        assert!(!body.contains("CN=admin"), "{what}:\n{body}");
    }
}

// === 3. a reload that reorders the listeners ===

fn reorder_config(first: &str, second: &str, site: &Issued, origin: SocketAddr) -> String {
    format!(
        "[server]\nlisten = [{first}, {second}]\nshards = 1\nadmin = \"off\"\n\n\
         [tls.edge]\n{}\n\
         [upstreams.app]\nbackends = [\"{origin}\"]\n\n\
         [[routes]]\nupstream = \"app\"\n",
        cert_entry("edge", site)
    )
}

/// A TLS GET on `tls` and a plain GET on `plain`: `Err` says which failed.
fn both_serve(client: &TlsClient, tls: SocketAddr, plain: SocketAddr) -> Result<(), String> {
    let r = client
        .handshake(tls, "reorder.test")
        .result
        .and_then(|mut s| get(&mut s, "/", ""));
    match r {
        Ok(r) if r.status == 200 => {}
        Ok(r) => return Err(format!("TLS on {tls}: status {}: {}", r.status, r.text())),
        Err(e) => return Err(format!("TLS on {tls}: {e}")),
    }
    let mut c = Client::connect(plain);
    c.r.get_ref()
        .set_read_timeout(Some(IO_TIMEOUT))
        .expect("timeout");
    c.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    match c.read(false) {
        Ok(r) if r.status == 200 => Ok(()),
        Ok(r) => Err(format!(
            "plain HTTP on {plain}: status {}: {}",
            r.status,
            r.text()
        )),
        Err(e) => Err(format!("plain HTTP on {plain}: {e}")),
    }
}

/// Each socket keeps its role after a reload that lists the same
/// listeners in another order, whether the reload is applied (the
/// running sockets keep their profiles) or refused.
#[test]
fn a_reload_that_reorders_listeners_keeps_each_socket_tls_or_plain() {
    let pki = Pki::new("reorder");
    let site = pki.leaf("site", &["reorder.test"]);
    let origin = Origin::start();
    let (a, b) = (free_port(), free_port());
    let tls_a = format!("{{ address = \"{a}\", tls = \"edge\" }}");
    let plain_b = format!("\"{b}\"");
    let gw = start(config(&reorder_config(
        &tls_a,
        &plain_b,
        &site,
        origin.addr,
    )));
    assert_eq!(gw.local_addrs(), [a, b]);
    let client = TlsClient::new(&pki.ca);
    both_serve(&client, a, b).expect("before the reload");

    let version = gw.snapshot_version();
    let res = gw.control().reload_with(config(&reorder_config(
        &plain_b,
        &tls_a,
        &site,
        origin.addr,
    )));
    match &res {
        Ok(r) => assert!(r.version > version, "{r:?}"),
        Err(e) => eprintln!("the reordering reload was refused: {e}"),
    }
    // A shard picks up a new snapshot on its next request, so check a few
    // rounds (each round's requests refresh it for the next).
    for round in 0..5 {
        if let Err(e) = both_serve(&client, a, b) {
            panic!("after the reordering reload ({res:?}), round {round}: {e}");
        }
        thread::sleep(Duration::from_millis(50));
    }
}

// === 4. upstream TLS truncation ===

/// A TLS origin that answers every connection's first request with a
/// close-delimited 200 and part of a body, then closes the TCP
/// connection without a close_notify. Counts the responses it sent.
fn truncating_tls_origin(id: &Issued) -> (SocketAddr, Arc<AtomicUsize>) {
    let config = origin_config(id);
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = l.local_addr().expect("addr");
    let sent = Arc::new(AtomicUsize::new(0));
    let sent2 = sent.clone();
    thread::spawn(move || {
        for tcp in l.incoming() {
            let Ok(tcp) = tcp else { continue };
            let (config, sent) = (config.clone(), sent2.clone());
            thread::spawn(move || {
                let _ = tcp.set_read_timeout(Some(IO_TIMEOUT));
                let _ = tcp.set_write_timeout(Some(IO_TIMEOUT));
                let Ok(conn) = ServerConnection::new(config) else {
                    return;
                };
                let mut r = BufReader::new(StreamOwned::new(conn, tcp));
                let Ok(Some(_req)) = read_request(&mut r) else {
                    return;
                };
                let s = r.get_mut();
                let mut out = b"HTTP/1.1 200 OK\r\nconnection: close\r\n\r\n".to_vec();
                out.extend_from_slice(&[b'x'; 500]);
                if s.write_all(&out).and_then(|_| s.flush()).is_err() {
                    return;
                }
                // Everything written reaches the socket...
                for _ in 0..100 {
                    if !s.conn.wants_write() {
                        break;
                    }
                    if s.conn.write_tls(&mut s.sock).is_err() {
                        return;
                    }
                }
                sent.fetch_add(1, Ordering::SeqCst);
                // ...then a FIN, with no close_notify before it.
                let _ = s.sock.shutdown(Shutdown::Write);
                // Drain until the gateway closes, so that closing here
                // sends no reset (bounded by the read timeout).
                let mut buf = [0u8; 4096];
                for _ in 0..1000 {
                    match s.sock.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(_) => {}
                    }
                }
            });
        }
    });
    (addr, sent)
}

/// Reads until EOF or an error, for at most 10 s; what was read and how
/// it ended (`Ok`: a clean EOF).
fn read_until_end(s: &mut TcpStream) -> (Vec<u8>, std::io::Result<()>) {
    let start = Instant::now();
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    while start.elapsed() < Duration::from_secs(10) {
        match s.read(&mut buf) {
            Ok(0) => return (out, Ok(())),
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return (out, Err(e)),
        }
    }
    (out, Err(std::io::Error::other("no end within 10 s")))
}

/// Over TLS, only close_notify marks the clean end of a close-delimited
/// body; a bare TCP close is a truncation (RFC 8446 6.1, RFC 9112 9.8).
/// An HTTP/1.1 client must not get the terminating chunk and an
/// HTTP/1.0 client must see an abortive close, and the error is counted
/// as `upstream_truncated`.
#[test]
fn an_upstream_tls_close_without_close_notify_truncates_the_response() {
    let pki = Pki::new("truncate");
    let origin_id = pki.leaf("origin", &["origin.test"]);
    let (origin, sent) = truncating_tls_origin(&origin_id);
    let gw = start(config(&format!(
        "[server]\nlisten = [\"127.0.0.1:0\"]\nshards = 1\nadmin = \"127.0.0.1:0\"\n\n\
         [upstreams.app]\nbackends = [\"{origin}\"]\n\
         [upstreams.app.tls]\nca = \"{}\"\nsni = \"origin.test\"\n\n\
         [[routes]]\nupstream = \"app\"\n",
        pki.ca.display(),
    )));
    let addr = gw.local_addrs()[0];

    // HTTP/1.1: the close-delimited body is sent chunked; a truncation
    // must not end with the last chunk.
    let mut c = Client::connect(addr);
    c.r.get_ref()
        .set_read_timeout(Some(IO_TIMEOUT))
        .expect("timeout");
    c.send(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n");
    let r = c.read(false);
    assert!(
        r.is_err(),
        "HTTP/1.1: a response the origin cut short (no close_notify) looks complete: {:?}",
        r.as_ref()
            .map(|r| (r.status, r.headers.clone(), r.body.len()))
    );
    assert_eq!(sent.load(Ordering::SeqCst), 1);

    // HTTP/1.0: the body is close-delimited to the client too; only an
    // abortive close tells it the body is incomplete.
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(IO_TIMEOUT)).expect("timeout");
    s.write_all(b"GET / HTTP/1.0\r\nHost: a\r\n\r\n")
        .expect("send");
    let (got, end) = read_until_end(&mut s);
    let text = String::from_utf8_lossy(&got);
    assert!(
        end.as_ref()
            .is_err_and(|e| e.kind() == std::io::ErrorKind::ConnectionReset),
        "HTTP/1.0: want a reset after the cut response, got {end:?} after {} bytes:\n{text}",
        got.len()
    );
    assert_eq!(sent.load(Ordering::SeqCst), 2);

    let start = Instant::now();
    let mut m = metrics(&gw);
    while errors_of_kind(&m, "upstream_truncated") < 2.0 && start.elapsed() < Duration::from_secs(5)
    {
        thread::sleep(Duration::from_millis(50));
        m = metrics(&gw);
    }
    assert_eq!(
        errors_of_kind(&m, "upstream_truncated"),
        2.0,
        "{}",
        m.lines()
            .filter(|l| l.starts_with("coregate_errors_total"))
            .collect::<Vec<_>>()
            .join("\n")
    );
}
