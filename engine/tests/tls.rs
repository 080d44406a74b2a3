//! TLS end to end: termination (quick mode and config mode), SNI, session
//! resumption across shards, mutual TLS, certificate reloads under load,
//! what a TLS port does with plain HTTP, garbage and silent clients, TLS
//! to upstreams, and `coregate check` on certificates.
//!
//! Certificates are made here with rcgen (a test CA signing ECDSA P-256
//! and RSA leaves) and written to a temp directory. Some tests shell out
//! to `curl` and `openssl` (.ci/run installs both); without them they fail
//! with a message saying so.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;
#[path = "common/tls_support.rs"]
mod tls_support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use common::*;
use tls_support::*;

// === helpers ===

/// Panics with a clear message when `tool` is not on PATH.
fn require(tool: &str, version_arg: &str) {
    let ok = Command::new(tool)
        .arg(version_arg)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        ok,
        "this test needs `{tool}` on PATH (.ci/run installs it); it is not skipped"
    );
}

/// A gateway with a TLS listener (profile `edge`, written by the caller
/// as `tls`) and a plain one, both routed to `origin`, and an admin
/// listener.
fn gateway(tls: &str, origin: SocketAddr, shards: usize) -> engine::Server {
    // Two listeners cannot both say port 0.
    let plain = free_port();
    start(config(&format!(
        "[server]\nlisten = [{{ address = \"127.0.0.1:0\", tls = \"edge\" }}, \"{plain}\"]\n\
         shards = {shards}\nadmin = \"127.0.0.1:0\"\n\n\
         {tls}\n\
         [upstreams.app]\nbackends = [\"{origin}\"]\n\n\
         [[routes]]\nupstream = \"app\"\n"
    )))
}

fn tls_addr(gw: &engine::Server) -> SocketAddr {
    gw.local_addrs()[0]
}

fn plain_addr(gw: &engine::Server) -> SocketAddr {
    gw.local_addrs()[1]
}

/// The value of the series `series` (name and labels) in `text`.
fn metric(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.trim().parse().ok())
}

/// One GET of `path` on a new TLS connection to `addr` as `name`.
fn tls_get(client: &TlsClient, addr: SocketAddr, name: &str, path: &str, extra: &str) -> Response {
    let mut s = client.connect(addr, name);
    match get(&mut s, path, extra) {
        Ok(r) => r,
        Err(e) => panic!("GET {path} over TLS as {name:?} failed: {e}"),
    }
}

/// Kills the child process when dropped.
struct Reaper(Child);

impl Drop for Reaper {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

// === 1. quick mode ===

#[test]
fn quick_mode_binary_serves_https_to_curl() {
    require("curl", "--version");
    let pki = Pki::new("quick");
    let site = pki.leaf("site", &["quick.test"]);
    let origin = Origin::start();
    let listen = free_port();
    let _gw = Reaper(
        Command::new(coregate_bin())
            .args(["--listen", &listen.to_string()])
            .arg("--tls-cert")
            .arg(&site.cert)
            .arg("--tls-key")
            .arg(&site.key)
            .args(["--upstream", &origin.addr.to_string()])
            .args(["--admin", "off", "--shards", "1"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("coregate runs"),
    );
    wait_for_port(listen);
    let port = listen.port();
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "10", "--cacert"])
        .arg(&pki.ca)
        .args(["--resolve", &format!("quick.test:{port}:127.0.0.1")])
        .args(["-w", "\nstatus=%{http_code} scheme=%{scheme}"])
        .arg(format!("https://quick.test:{port}/"))
        .output()
        .expect("curl runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "curl failed: {}{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    let want = format!("hello from origin {}\nstatus=200 ", origin.addr.port());
    assert!(stdout.starts_with(&want), "{stdout}");
    assert!(
        stdout.to_ascii_lowercase().contains("scheme=https"),
        "{stdout}"
    );
}

// === 2. config mode, X-Forwarded-Proto ===

#[test]
fn rustls_client_is_served_and_origin_sees_https_while_plain_says_http() {
    let pki = Pki::new("xfp");
    let site = pki.leaf("site", &["site.test"]);
    let origin = Origin::start();
    let gw = gateway(
        &format!("[tls.edge]\n{}", cert_entry("edge", &site)),
        origin.addr,
        1,
    );
    let client = TlsClient::new(&pki.ca);

    let r = tls_get(&client, tls_addr(&gw), "site.test", "/", "");
    assert_eq!(r.status, 200);
    assert_eq!(
        r.text(),
        format!("hello from origin {}", origin.addr.port())
    );

    // A client's own X-Forwarded-Proto does not reach the origin.
    let r = tls_get(
        &client,
        tls_addr(&gw),
        "site.test",
        "/seen",
        "x-forwarded-proto: http\r\n",
    );
    assert_eq!(r.status, 200);
    assert_eq!(
        seen(&r.text(), "x-forwarded-proto"),
        ["https"],
        "{}",
        r.text()
    );

    let r = request(
        plain_addr(&gw),
        b"GET /seen HTTP/1.1\r\nHost: x\r\nx-forwarded-proto: https\r\n\r\n",
    );
    assert_eq!(r.status, 200);
    assert_eq!(
        seen(&r.text(), "x-forwarded-proto"),
        ["http"],
        "{}",
        r.text()
    );

    let t = total(&gw);
    assert_eq!(t.tls_handshakes, 2, "{t:?}");
    assert_eq!(t.tls_resumed, 0, "every connection had a fresh client");
    assert_eq!(
        t.tls13_aes128 + t.tls13_aes256 + t.tls13_chacha20,
        2,
        "rustls clients negotiate TLS 1.3: {t:?}"
    );
}

// === 3. SNI ===

#[test]
fn sni_picks_exact_wildcard_and_default_certificates_and_can_refuse_unknown_names() {
    let pki = Pki::new("sni");
    let a = pki.leaf("a", &["a.test"]);
    let b = pki.leaf("b", &["*.b.test"]);
    let c = pki.leaf_rsa("c", &["c.test"]);
    let origin = Origin::start();
    let certs = [&a, &b, &c].map(|id| cert_entry("edge", id)).concat();
    let gw = gateway(&format!("[tls.edge]\n{certs}"), origin.addr, 1);
    let client = TlsClient::new(&pki.ca);

    for (name, want, what) in [
        ("a.test", &a, "exact a.test"),
        ("x.b.test", &b, "wildcard *.b.test"),
        ("c.test", &c, "exact c.test (RSA)"),
    ] {
        let shake = client.handshake(tls_addr(&gw), name);
        assert_eq!(shake.presented.as_ref(), Some(&want.der), "{name}: {what}");
        let mut s = shake
            .result
            .unwrap_or_else(|e| panic!("{name}: handshake failed: {e}"));
        let r = get(&mut s, "/", "").expect("GET");
        assert_eq!(r.status, 200, "{name}");
    }
    // `*.b.test` covers one label only.
    let deep = client
        .clone()
        .any_name()
        .handshake(tls_addr(&gw), "y.x.b.test");
    assert_eq!(deep.presented.as_ref(), Some(&a.der), "y.x.b.test: default");
    // A name no certificate serves gets the first (default) certificate.
    let unknown = client
        .clone()
        .any_name()
        .handshake(tls_addr(&gw), "unknown.test");
    assert_eq!(unknown.presented.as_ref(), Some(&a.der), "unknown name");
    assert!(unknown.result.is_ok(), "the default is served, not refused");
    // Without `any_name` the client itself refuses the default for that name.
    assert!(client
        .handshake(tls_addr(&gw), "unknown.test")
        .result
        .is_err());
    assert_eq!(total(&gw).tls_fail_unknown_sni, 0);

    // unknown_sni = "refuse": the same name fails the handshake.
    let refusing = gateway(
        &format!("[tls.edge]\nunknown_sni = \"refuse\"\n{certs}"),
        origin.addr,
        1,
    );
    let shake = client
        .clone()
        .any_name()
        .handshake(tls_addr(&refusing), "unknown.test");
    assert!(shake.result.is_err(), "unknown.test was served");
    assert_eq!(shake.presented, None, "no certificate for an unknown name");
    wait_until(Duration::from_secs(5), "the unknown_sni failure", || {
        total(&refusing).tls_fail_unknown_sni == 1
    });
    let m = metrics(&refusing);
    assert_eq!(
        metric(
            &m,
            "coregate_tls_handshake_failures_total{shard=\"0\",reason=\"unknown_sni\"}"
        ),
        Some(1.0),
        "{m}"
    );
    // Known names are still served.
    let r = tls_get(&client, tls_addr(&refusing), "x.b.test", "/", "");
    assert_eq!(r.status, 200);
}

// === 4. resumption across shards ===

/// One `openssl s_client` GET; its stdout.
fn s_client(addr: SocketAddr, name: &str, ca: &Path, sess: (&str, &Path)) -> String {
    let mut child = Command::new("openssl")
        .args([
            "s_client",
            "-connect",
            &addr.to_string(),
            "-servername",
            name,
        ])
        .arg("-CAfile")
        .arg(ca)
        .args(["-tls1_3", "-ign_eof", "-verify_return_error", sess.0])
        .arg(sess.1)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("openssl runs");
    let req = format!("GET / HTTP/1.1\r\nHost: {name}\r\nConnection: close\r\n\r\n");
    let mut stdin = child.stdin.take().expect("stdin");
    stdin.write_all(req.as_bytes()).expect("request to openssl");
    drop(stdin);
    let start = Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(_)) => break,
            _ if start.elapsed() > Duration::from_secs(10) => {
                let _ = child.kill();
                panic!("openssl s_client did not finish in 10 s");
            }
            _ => thread::sleep(Duration::from_millis(5)),
        }
    }
    let mut out = String::new();
    child
        .stdout
        .take()
        .expect("stdout")
        .read_to_string(&mut out)
        .expect("openssl output");
    out
}

#[test]
fn a_session_ticket_from_one_shard_resumes_on_any_shard() {
    require("openssl", "version");
    let pki = Pki::new("resume");
    let site = pki.leaf("site", &["resume.test"]);
    let origin = Origin::start();
    let gw = gateway(
        &format!("[tls.edge]\n{}", cert_entry("edge", &site)),
        origin.addr,
        2,
    );
    let addr = tls_addr(&gw);
    let body = format!("hello from origin {}", origin.addr.port());
    for i in 0..20 {
        let sess = pki.dir.join(format!("sess-{i}.pem"));
        let first = s_client(addr, "resume.test", &pki.ca, ("-sess_out", &sess));
        assert!(first.contains("New, TLSv1.3"), "pair {i}, first:\n{first}");
        assert!(first.contains(&body), "pair {i}, first:\n{first}");
        let second = s_client(addr, "resume.test", &pki.ca, ("-sess_in", &sess));
        assert!(
            second.contains("Reused, TLSv1.3"),
            "pair {i}, second:\n{second}"
        );
        assert!(second.contains(&body), "pair {i}, second:\n{second}");
    }
    // Each connection lands on a shard by the SO_REUSEPORT hash of its
    // 4-tuple (a new source port each time), so the second of a pair
    // reaches the shard that issued its ticket only half the time: 20
    // resumptions out of 20 would happen with probability 2^-20 if a
    // ticket resumed only on its own shard. Both shards' counters being
    // > 0 fails spuriously only if all 20 resumptions hashed to one shard
    // (probability 2^-19).
    let per_shard: Vec<u64> = gw.stats().iter().map(|s| s.tls_resumed).collect();
    assert_eq!(per_shard.iter().sum::<u64>(), 20, "{per_shard:?}");
    assert!(per_shard.iter().all(|&n| n > 0), "{per_shard:?}");
    assert_eq!(total(&gw).tls_handshakes, 40);
}

// === 5. mutual TLS ===

#[test]
fn client_certificates_are_required_verified_and_their_subject_passed_on() {
    let pki = Pki::new("mtls");
    let site = pki.leaf("site", &["mtls.test"]);
    let alice = pki.client("alice", "client-one");
    let other_ca = Pki::new("mtls-other");
    let stranger = other_ca.client("eve", "client-eve");
    let origin = Origin::start();
    let profile = |required: bool| {
        format!(
            "[tls.edge]\nclient_auth = {{ ca = \"{}\", required = {required}, subject_header = \"x-client-subject\" }}\n{}",
            pki.ca.display(),
            cert_entry("edge", &site)
        )
    };
    let forged = "x-client-subject: forged\r\n";

    let gw = gateway(&profile(true), origin.addr, 1);
    let with_cert = TlsClient::new(&pki.ca).with_cert(&alice);
    let r = tls_get(&with_cert, tls_addr(&gw), "mtls.test", "/seen", forged);
    assert_eq!(r.status, 200);
    let body = r.text();
    assert_eq!(seen(&body, "x-client-subject"), ["CN=client-one"], "{body}");
    assert!(!body.contains("forged"), "{body}");

    // No certificate: under TLS 1.3 the client finishes its side first and
    // learns of the refusal from the alert, so the exchange as a whole
    // must fail and never reach the origin.
    let before = origin.requests.load(Ordering::SeqCst);
    for (client, what) in [
        (TlsClient::new(&pki.ca), "no client certificate"),
        (
            TlsClient::new(&pki.ca).with_cert(&stranger),
            "a certificate from another CA",
        ),
    ] {
        let shake = client.handshake(tls_addr(&gw), "mtls.test");
        if let Ok(mut s) = shake.result {
            let r = get(&mut s, "/seen", "");
            assert!(r.is_err(), "{what}: got a response {r:?}");
        }
    }
    assert_eq!(origin.requests.load(Ordering::SeqCst), before);
    wait_until(
        Duration::from_secs(5),
        "two refused client certificates",
        || {
            let t = total(&gw);
            t.tls_fail_client_cert + t.tls_fail_bad_certificate == 2
        },
    );
    // A missing certificate and one from another CA are both the client's.
    assert_eq!(total(&gw).tls_fail_client_cert, 2, "{:?}", total(&gw));
    assert_eq!(total(&gw).tls_fail_bad_certificate, 0, "{:?}", total(&gw));

    // required = false: no certificate is fine, and no subject is passed
    // (a forged one is still dropped); a certificate still gives one.
    let optional = gateway(&profile(false), origin.addr, 1);
    let r = tls_get(
        &TlsClient::new(&pki.ca),
        tls_addr(&optional),
        "mtls.test",
        "/seen",
        forged,
    );
    assert_eq!(r.status, 200);
    assert!(
        seen(&r.text(), "x-client-subject").is_empty(),
        "{}",
        r.text()
    );
    assert!(!r.text().contains("forged"), "{}", r.text());
    let r = tls_get(&with_cert, tls_addr(&optional), "mtls.test", "/seen", "");
    assert_eq!(seen(&r.text(), "x-client-subject"), ["CN=client-one"]);
}

// === 6. certificate reload ===

#[test]
fn certificates_reload_under_load_without_a_failed_request_and_a_bad_key_is_refused() {
    let pki = Pki::new("reload");
    let one = pki.leaf("one", &["reload.test"]);
    let two = pki.leaf("two", &["reload.test"]);
    let live = Issued {
        cert: pki.dir.join("live.pem"),
        key: pki.dir.join("live.key"),
        der: one.der.clone(),
    };
    std::fs::copy(&one.cert, &live.cert).expect("copy");
    std::fs::copy(&one.key, &live.key).expect("copy");
    let origin = Origin::start();
    let gw = gateway(
        &format!("[tls.edge]\n{}", cert_entry("edge", &live)),
        origin.addr,
        1,
    );
    let addr = tls_addr(&gw);
    let client = TlsClient::new(&pki.ca);
    let version = gw.snapshot_version();

    // Load: a new connection and one request each, until told to stop
    // (at most 20 s or 5000 requests).
    let stop = Arc::new(AtomicBool::new(false));
    let load = {
        let (stop, client) = (stop.clone(), client.clone());
        let (d1, d2) = (one.der.clone(), two.der.clone());
        thread::spawn(move || {
            let start = Instant::now();
            let (mut ok, mut failed, mut saw) = (0u32, Vec::new(), [0u32; 2]);
            while !stop.load(Ordering::SeqCst)
                && start.elapsed() < Duration::from_secs(20)
                && ok + (failed.len() as u32) < 5000
            {
                let shake = client.handshake(addr, "reload.test");
                let res = shake
                    .result
                    .and_then(|mut s| get(&mut s, "/", "connection: close\r\n"));
                match res {
                    Ok(r) if r.status == 200 => ok += 1,
                    Ok(r) => failed.push(format!("status {}", r.status)),
                    Err(e) => failed.push(e.to_string()),
                }
                match shake.presented {
                    Some(c) if c == d1 => saw[0] += 1,
                    Some(c) if c == d2 => saw[1] += 1,
                    other => failed.push(format!("presented {other:?}")),
                }
            }
            (ok, failed, saw)
        })
    };
    let presents =
        |want: &Issued| client.handshake(addr, "reload.test").presented.as_ref() == Some(&want.der);
    thread::sleep(Duration::from_millis(300));
    assert!(presents(&one));

    // The control thread polls the files once a second.
    replace_file(&two.key, &live.key);
    replace_file(&two.cert, &live.cert);
    wait_until(Duration::from_secs(10), "the new certificate", || {
        presents(&two)
    });
    thread::sleep(Duration::from_millis(300));
    stop.store(true, Ordering::SeqCst);
    let (ok, failed, saw) = load.join().expect("load thread");
    assert!(failed.is_empty(), "{} failed: {failed:?}", failed.len());
    assert!(ok >= 20, "only {ok} requests");
    assert!(saw[0] > 0 && saw[1] > 0, "certificates seen: {saw:?}");
    assert!(gw.snapshot_version() > version);

    // A key that does not parse: the reload is refused, the old pair serves.
    let failed_reloads =
        || metric(&metrics(&gw), "coregate_reloads_total{result=\"failed\"}").unwrap_or(-1.0);
    let refused = failed_reloads();
    replace_with(
        b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
        &live.key,
    );
    wait_until(Duration::from_secs(10), "the refused reload", || {
        failed_reloads() > refused
    });
    for _ in 0..3 {
        assert!(
            presents(&two),
            "after a bad key, the old certificate serves"
        );
    }
    let r = tls_get(&client, addr, "reload.test", "/", "");
    assert_eq!(r.status, 200);
    let err = gw.control().reload_tls().expect_err("a broken key reloads");
    assert!(
        err.to_string().contains(&live.key.display().to_string()),
        "{err}"
    );
}

// === 7, 8, 9. what a TLS port does with non-TLS clients ===

fn simple_gateway(tag: &str, extra: &str) -> (Pki, engine::Server, Origin) {
    let pki = Pki::new(tag);
    let site = pki.leaf("site", &["edge.test"]);
    let origin = Origin::start();
    let gw = gateway(
        &format!("[tls.edge]\n{extra}{}", cert_entry("edge", &site)),
        origin.addr,
        1,
    );
    (pki, gw, origin)
}

fn raw(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(IO_TIMEOUT)).expect("timeout");
    s
}

/// One read, retried when a signal interrupts it (a few times at most).
fn read_once(s: &mut TcpStream, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut tries = 0;
    loop {
        match s.read(buf) {
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted && tries < 10 => tries += 1,
            other => return other,
        }
    }
}

fn assert_served(pki: &Pki, gw: &engine::Server) {
    let r = tls_get(&TlsClient::new(&pki.ca), tls_addr(gw), "edge.test", "/", "");
    assert_eq!(r.status, 200);
}

#[test]
fn plain_http_on_the_tls_port_gets_a_plain_400_and_a_close() {
    let (pki, gw, _origin) = simple_gateway("plain", "");
    let mut s = raw(tls_addr(&gw));
    s.write_all(b"GET / HTTP/1.1\r\nHost: edge.test\r\n\r\n")
        .expect("send");
    let mut out = Vec::new();
    s.read_to_end(&mut out)
        .expect("a 400, then a close (not a reset or a hang)");
    let text = String::from_utf8_lossy(&out);
    assert!(text.starts_with("HTTP/1.1 400 "), "{text}");
    assert!(text.contains("connection: close"), "{text}");
    assert!(
        text.ends_with("The plain HTTP request was sent to a TLS port.\n"),
        "{text}"
    );
    assert_eq!(total(&gw).tls_fail_plain_http, 1);
    assert_served(&pki, &gw);
}

#[test]
fn garbage_on_the_tls_port_gets_an_alert_or_a_close_never_a_hang() {
    let (pki, gw, _origin) = simple_gateway("garbage", "");
    let junk: Vec<u8> = pattern(59).iter().map(|b| b | 0x80).collect();
    // A handshake record whose body is junk.
    let mut bad_hello = vec![0x16, 0x03, 0x01, 0x00, 59];
    bad_hello.extend_from_slice(&junk);
    // A handshake record longer than any record may be.
    let mut oversized = vec![0x16, 0x03, 0x01, 0xff, 0xff];
    oversized.extend_from_slice(&junk);
    // Application data before any handshake.
    let mut early_data = vec![0x17, 0x03, 0x03, 0x00, 59];
    early_data.extend_from_slice(&junk);
    for (what, bytes) in [
        ("bad hello", bad_hello),
        ("oversized", oversized),
        ("early data", early_data),
    ] {
        assert_eq!(bytes.len(), 64);
        let mut s = raw(tls_addr(&gw));
        s.write_all(&bytes).expect("send");
        let start = Instant::now();
        let mut buf = [0u8; 64];
        match read_once(&mut s, &mut buf) {
            Ok(0) => {}
            Ok(_) => assert_eq!(buf[0], 0x15, "{what}: not an alert record: {buf:?}"),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
            Err(e) => panic!("{what}: no alert or close after {:?}: {e}", start.elapsed()),
        }
    }
    wait_until(Duration::from_secs(5), "three protocol failures", || {
        let t = total(&gw);
        t.tls_fail_protocol + t.tls_fail_closed >= 3
    });
    assert!(total(&gw).tls_fail_protocol >= 1, "{:?}", total(&gw));
    assert_eq!(total(&gw).tls_handshakes, 0);
    assert_served(&pki, &gw);
}

#[test]
fn the_handshake_timeout_closes_silent_clients_even_five_hundred_at_once() {
    raise_nofile();
    let (pki, gw, _origin) = simple_gateway("timeout", "handshake_timeout = \"300ms\"\n");
    let closed = |s: &mut TcpStream| {
        let mut b = [0u8; 1];
        match read_once(s, &mut b) {
            Ok(0) => Ok(()),
            Ok(_) => Err("sent bytes".to_string()),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => Ok(()),
            Err(e) => Err(e.to_string()),
        }
    };
    let start = Instant::now();
    let mut s = raw(tls_addr(&gw));
    closed(&mut s).expect("closed by the handshake timeout");
    let took = start.elapsed();
    assert!(
        took >= Duration::from_millis(250) && took < Duration::from_secs(3),
        "closed after {took:?}"
    );
    wait_until(Duration::from_secs(2), "the timeout count", || {
        total(&gw).tls_fail_timeout == 1
    });

    let start = Instant::now();
    let mut silent: Vec<TcpStream> = (0..500).map(|_| raw(tls_addr(&gw))).collect();
    // A normal client is served while they wait.
    assert_served(&pki, &gw);
    for (i, s) in silent.iter_mut().enumerate() {
        if let Err(e) = closed(s) {
            panic!(
                "silent connection {i} not closed after {:?}: {e}",
                start.elapsed()
            );
        }
    }
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "{:?}",
        start.elapsed()
    );
    wait_until(Duration::from_secs(2), "501 timeouts", || {
        total(&gw).tls_fail_timeout == 501
    });
    assert_eq!(total(&gw).tls_handshakes, 1);
}

// === 10. TLS to upstreams ===

#[test]
fn upstream_tls_verifies_the_origin_and_pools_its_connection() {
    let pki = Pki::new("upstream");
    let rogue = Pki::new("upstream-rogue");
    let origin_id = pki.leaf("origin", &["origin.test"]);
    let good = TlsOrigin::start(&origin_id);
    let bad = TlsOrigin::start(&origin_id);
    let gw = start(config(&format!(
        "[server]\nlisten = [\"127.0.0.1:0\"]\nshards = 1\nadmin = \"off\"\n\n\
         [upstreams.good]\nbackends = [\"{}\"]\n\
         [upstreams.good.tls]\nca = \"{}\"\nsni = \"origin.test\"\n\n\
         [upstreams.bad]\nbackends = [\"{}\"]\n\
         [upstreams.bad.tls]\nca = \"{}\"\nsni = \"origin.test\"\n\n\
         [[routes]]\npath_prefix = \"/bad\"\nupstream = \"bad\"\n\n\
         [[routes]]\nupstream = \"good\"\n",
        good.addr,
        pki.ca.display(),
        bad.addr,
        rogue.ca.display(),
    )));
    let addr = gw.local_addrs()[0];
    let mut c = Client::connect(addr);
    for i in 0..2 {
        let r = c.get("/");
        assert_eq!(r.status, 200, "request {i}: {}", r.text());
        assert_eq!(r.text(), TLS_ORIGIN_BODY);
    }
    assert_eq!(good.requests.load(Ordering::SeqCst), 2);
    assert_eq!(
        good.connections.load(Ordering::SeqCst),
        1,
        "the second request reuses the pooled TLS connection"
    );
    let t = total(&gw);
    assert_eq!(t.upstream_tls_handshakes, 1, "{t:?}");
    assert_eq!(t.upstream_reuses, 1, "{t:?}");

    // The rogue CA did not sign the origin's certificate.
    let r = request(addr, b"GET /bad HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(r.status, 502, "{}", r.text());
    assert_eq!(
        r.header("x-coregate-error"),
        Some("upstream_tls_certificate")
    );
    assert_eq!(bad.requests.load(Ordering::SeqCst), 0);
    assert!(total(&gw).upstream_tls_failures >= 1);
}

// === 11. coregate check ===

fn check(dir: &Path, tls: &str) -> (Option<i32>, String) {
    let file = dir.join("check.toml");
    std::fs::write(
        &file,
        format!(
            "[server]\nlisten = [{{ address = \"127.0.0.1:8443\", tls = \"edge\" }}]\n\n{tls}\n\
             [upstreams.app]\nbackends = [\"127.0.0.1:9000\"]\n\n[[routes]]\nupstream = \"app\"\n"
        ),
    )
    .expect("write config");
    let out = Command::new(coregate_bin())
        .args(["check", "--config"])
        .arg(&file)
        .output()
        .expect("coregate check runs");
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.code(), text)
}

#[test]
fn check_names_a_key_that_does_not_match_and_warns_of_a_near_expiry() {
    let pki = Pki::new("check");
    let site = pki.leaf("site", &["check.test"]);
    let other = pki.leaf("other", &["check.test"]);
    let mismatched = Issued {
        key: other.key.clone(),
        ..site.clone()
    };
    let (code, out) = check(
        &pki.dir,
        &format!("[tls.edge]\n{}", cert_entry("edge", &mismatched)),
    );
    assert_ne!(code, Some(0), "{out}");
    assert!(out.contains(&other.key.display().to_string()), "{out}");
    assert!(out.contains("does not match"), "{out}");

    let soon = pki.leaf_expiring("soon", "check.test", 3 * 86_400 + 3_600);
    let (code, out) = check(
        &pki.dir,
        &format!("[tls.edge]\n{}", cert_entry("edge", &soon)),
    );
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("expires in 3 days"), "{out}");
    assert!(out.contains(&soon.cert.display().to_string()), "{out}");

    let (code, out) = check(
        &pki.dir,
        &format!("[tls.edge]\n{}", cert_entry("edge", &site)),
    );
    assert_eq!(code, Some(0), "{out}");
    assert!(!out.contains("warning"), "{out}");
}
