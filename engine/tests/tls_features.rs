//! TLS features without tests elsewhere: OCSP stapling from a file,
//! `versions` and `ciphers` in a profile, active health checks of
//! backends reached over TLS, session tickets sealed with key files
//! shared by two hosts, the TLS fields of the access log and ALPN,
//! client certificates presented to upstreams, and quick mode with two
//! certificates.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;
#[path = "common/tls_support.rs"]
mod tls_support;

use std::io::{BufReader, Write};
use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU16, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::thread;
use std::time::Duration;

use common::*;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::server::WebPkiClientVerifier;
use rustls::{
    CipherSuite, ClientConfig, DigitallySignedStruct, HandshakeKind, ProtocolVersion, ServerConfig,
    ServerConnection, SignatureScheme, StreamOwned, SupportedProtocolVersion,
};
use tls_support::*;

// === helpers ===

/// The aws-lc-rs provider, limited to `suites` when given.
fn provider(suites: Option<&[CipherSuite]>) -> Arc<CryptoProvider> {
    let mut p = rustls::crypto::aws_lc_rs::default_provider();
    if let Some(wanted) = suites {
        p.cipher_suites.retain(|s| wanted.contains(&s.suite()));
        assert_eq!(
            p.cipher_suites.len(),
            wanted.len(),
            "unknown suite in {wanted:?}"
        );
    }
    Arc::new(p)
}

/// Where an [`OcspRecorder`] saves the stapled response.
type Stapled = Arc<OnceLock<Vec<u8>>>;

/// Saves the `ocsp_response` the server stapled (empty: none), then
/// verifies the certificate with webpki. One handshake per config, so
/// this runs once.
#[derive(Debug)]
struct OcspRecorder {
    inner: Arc<WebPkiServerVerifier>,
    stapled: Stapled,
}

impl ServerCertVerifier for OcspRecorder {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let _ = self.stapled.set(ocsp_response.to_vec());
        self.inner
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// A client config trusting `ca`, speaking only `versions` and (when
/// given) only `suites`, that records the stapled OCSP response. rustls
/// clients always send `status_request`, so a server with a response
/// staples it.
fn client_config(
    ca: &Path,
    versions: &[&'static SupportedProtocolVersion],
    suites: Option<&[CipherSuite]>,
) -> (Arc<ClientConfig>, Stapled) {
    let provider = provider(suites);
    let inner = WebPkiServerVerifier::builder_with_provider(roots(ca), provider.clone())
        .build()
        .expect("verifier");
    let stapled: Stapled = Arc::default();
    let verifier = OcspRecorder {
        inner,
        stapled: stapled.clone(),
    };
    let mut config = ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(versions)
        .expect("versions")
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    (Arc::new(config), stapled)
}

const TLS13_ONLY: &[&SupportedProtocolVersion] = &[&rustls::version::TLS13];
const TLS12_ONLY: &[&SupportedProtocolVersion] = &[&rustls::version::TLS12];

/// A handshake and one GET with `config`; the stream (for its
/// negotiated parameters) and the response's status.
fn shake_and_get(
    config: &Arc<ClientConfig>,
    addr: SocketAddr,
    name: &str,
) -> std::io::Result<(TlsStream, u16)> {
    let mut s = handshake_with(config, addr, name)?;
    let r = get(&mut s, "/", "")?;
    Ok((s, r.status))
}

// === 1. OCSP stapling ===

/// A DER OCSPResponse: `successful`, with a basic response whose bytes
/// are a 24-byte marker (clients here do not parse it; the server must
/// staple it byte for byte).
fn ocsp_der(marker: u8) -> Vec<u8> {
    let mut der = vec![
        0x30, 0x2c, // OCSPResponse SEQUENCE
        0x0a, 0x01, 0x00, // responseStatus successful
        0xa0, 0x27, // [0] responseBytes
        0x30, 0x25, // ResponseBytes SEQUENCE
        0x06, 0x09, 0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x30, 0x01,
        0x01, // id-pkix-ocsp-basic
        0x04, 0x18, // OCTET STRING, 24 bytes
    ];
    der.extend((0..24u8).map(|i| marker ^ i));
    der
}

fn ocsp_config(a: &Issued, ocsp: &Path, b: &Issued, origin: SocketAddr) -> tuning::Tuning {
    config(&format!(
        "[server]\nlisten = [{{ address = \"127.0.0.1:0\", tls = \"edge\" }}]\n\
         shards = 1\nadmin = \"off\"\n\n\
         [tls.edge]\n{}\n{}\n\
         [upstreams.app]\nbackends = [\"{origin}\"]\n\n\
         [[routes]]\nupstream = \"app\"\n",
        cert_entry_with("edge", a, &format!("ocsp = \"{}\"\n", ocsp.display())),
        cert_entry_with("edge", b, ""),
    ))
}

/// What a handshake as `name` with `versions` got stapled.
fn stapled(
    ca: &Path,
    versions: &[&'static SupportedProtocolVersion],
    addr: SocketAddr,
    name: &str,
) -> Vec<u8> {
    let (config, stapled) = client_config(ca, versions, None);
    let (_, status) = shake_and_get(&config, addr, name).expect("handshake and GET");
    assert_eq!(status, 200);
    let got = stapled.get().cloned();
    got.expect("the certificate was verified")
}

/// The response in a certificate's `ocsp` file is stapled, unchanged,
/// in TLS 1.3 and TLS 1.2 handshakes, only for that certificate. Catches:
/// `ocsp` not loaded or not attached to the certified key, stapling
/// only in one TLS version, the bytes altered, another certificate's
/// response stapled.
#[test]
fn an_ocsp_file_is_stapled_byte_for_byte_and_only_for_its_certificate() {
    let pki = Pki::new("ocsp");
    let a = pki.leaf("a", &["a.test"]);
    let b = pki.leaf("b", &["b.test"]);
    let ocsp = pki.dir.join("a.ocsp.der");
    let der = ocsp_der(0x5a);
    std::fs::write(&ocsp, &der).expect("write OCSP");
    let origin = Origin::start();
    let gw = start(ocsp_config(&a, &ocsp, &b, origin.addr));
    let addr = gw.local_addrs()[0];

    assert_eq!(stapled(&pki.ca, TLS13_ONLY, addr, "a.test"), der, "TLS 1.3");
    assert_eq!(stapled(&pki.ca, TLS12_ONLY, addr, "a.test"), der, "TLS 1.2");
    assert!(
        stapled(&pki.ca, TLS13_ONLY, addr, "b.test").is_empty(),
        "b.test has no ocsp file, yet got a response stapled"
    );
}

/// An `ocsp` file that is not DER (here the PEM of a certificate) is
/// refused, naming the file: by `coregate check`, at start and on a
/// reload (which then leaves the running response in place). Catches
/// a server that staples garbage, or fails without saying which file.
#[test]
fn an_ocsp_file_that_is_not_der_is_refused_naming_the_file() {
    let pki = Pki::new("ocsp-bad");
    let a = pki.leaf("a", &["a.test"]);
    let b = pki.leaf("b", &["b.test"]);
    let good = pki.dir.join("good.ocsp.der");
    let der = ocsp_der(0x33);
    std::fs::write(&good, &der).expect("write OCSP");
    // A PEM file starts with '-', not with a DER SEQUENCE (0x30).
    let bad = pki.dir.join("bad.ocsp.pem");
    std::fs::copy(&a.cert, &bad).expect("copy");
    let bad_name = bad.display().to_string();
    let origin = Origin::start();

    // coregate check
    let file = pki.dir.join("check.toml");
    let text = format!(
        "[server]\nlisten = [{{ address = \"127.0.0.1:8443\", tls = \"edge\" }}]\n\n\
         [tls.edge]\n{}\n{}\n\
         [upstreams.app]\nbackends = [\"127.0.0.1:9000\"]\n\n[[routes]]\nupstream = \"app\"\n",
        cert_entry_with("edge", &a, &format!("ocsp = \"{bad_name}\"\n")),
        cert_entry_with("edge", &b, ""),
    );
    std::fs::write(&file, text).expect("write config");
    let out = Command::new(coregate_bin())
        .args(["check", "--config"])
        .arg(&file)
        .output()
        .expect("coregate check runs");
    let said =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert_ne!(out.status.code(), Some(0), "check passed:\n{said}");
    assert!(
        said.contains(&bad_name),
        "check does not name {bad_name}:\n{said}"
    );

    // start
    match engine::Server::start(ocsp_config(&a, &bad, &b, origin.addr)) {
        Ok(_) => panic!("a server started with a PEM file as its OCSP response"),
        Err(e) => assert!(e.to_string().contains(&bad_name), "{e}"),
    }

    // reload
    let gw = start(ocsp_config(&a, &good, &b, origin.addr));
    let addr = gw.local_addrs()[0];
    match gw
        .control()
        .reload_with(ocsp_config(&a, &bad, &b, origin.addr))
    {
        Ok(r) => panic!("a reload to a PEM OCSP file was applied: {r:?}"),
        Err(e) => assert!(e.to_string().contains(&bad_name), "{e}"),
    }
    assert_eq!(
        stapled(&pki.ca, TLS13_ONLY, addr, "a.test"),
        der,
        "after the refused reload"
    );
}

// === 2. versions and cipher suites ===

/// `versions = ["1.2"]`: a TLS 1.3-only client is refused (counted as
/// `incompatible`) and a TLS 1.2 client is served and counted as TLS 1.2.
/// `ciphers = ["TLS13_CHACHA20_POLY1305_SHA256"]`: a client that prefers
/// AES still gets ChaCha20, a client offering only AES is refused, and
/// the handshake is counted as `tls13_chacha20`. Catches: `versions` or
/// `ciphers` ignored (the safe defaults would negotiate TLS 1.3 and
/// AES-256 with these clients), and handshakes counted under the wrong
/// version or suite.
#[test]
fn a_profile_serves_only_its_versions_and_cipher_suites() {
    let pki = Pki::new("versions");
    let site = pki.leaf("site", &["site.test"]);
    let origin = Origin::start();
    let chacha_addr = free_port();
    let gw = start(config(&format!(
        "[server]\nlisten = [{{ address = \"127.0.0.1:0\", tls = \"old\" }}, \
         {{ address = \"{chacha_addr}\", tls = \"chacha\" }}]\n\
         shards = 1\nadmin = \"off\"\n\n\
         [tls.old]\nversions = [\"1.2\"]\n{}\n\
         [tls.chacha]\nversions = [\"1.3\"]\nciphers = [\"TLS13_CHACHA20_POLY1305_SHA256\"]\n{}\n\
         [upstreams.app]\nbackends = [\"{}\"]\n\n\
         [[routes]]\nupstream = \"app\"\n",
        cert_entry_with("old", &site, ""),
        cert_entry_with("chacha", &site, ""),
        origin.addr,
    )));
    let old = gw.local_addrs()[0];
    assert_eq!(gw.local_addrs()[1], chacha_addr);

    // TLS 1.2 only.
    let (tls13, _) = client_config(&pki.ca, TLS13_ONLY, None);
    let r = shake_and_get(&tls13, old, "site.test");
    assert!(
        r.is_err(),
        "a TLS 1.3-only client was served by a 1.2-only profile: {:?}",
        r.map(|(s, _)| s.conn.protocol_version())
    );
    wait_until(Duration::from_secs(5), "the refusal to be counted", || {
        total(&gw).tls_fail_incompatible == 1
    });
    let (tls12, _) = client_config(&pki.ca, TLS12_ONLY, None);
    let (s, status) = shake_and_get(&tls12, old, "site.test").expect("TLS 1.2 client");
    assert_eq!(status, 200);
    assert_eq!(s.conn.protocol_version(), Some(ProtocolVersion::TLSv1_2));
    let t = total(&gw);
    assert_eq!(t.tls_handshakes, 1, "{t:?}");
    assert_eq!(
        t.tls12_aes128 + t.tls12_aes256 + t.tls12_chacha20,
        1,
        "{t:?}"
    );
    assert_eq!(
        t.tls13_aes128 + t.tls13_aes256 + t.tls13_chacha20,
        0,
        "{t:?}"
    );

    // ChaCha20 only: rustls clients list AES-256 and AES-128 first.
    let (any, _) = client_config(&pki.ca, TLS13_ONLY, None);
    let (s, status) = shake_and_get(&any, chacha_addr, "site.test").expect("default client");
    assert_eq!(status, 200);
    assert_eq!(
        s.conn.negotiated_cipher_suite().map(|c| c.suite()),
        Some(CipherSuite::TLS13_CHACHA20_POLY1305_SHA256)
    );
    let t = total(&gw);
    assert_eq!(t.tls_handshakes, 2, "{t:?}");
    assert_eq!(t.tls13_chacha20, 1, "{t:?}");
    assert_eq!(t.tls13_aes128 + t.tls13_aes256, 0, "{t:?}");

    let aes = [
        CipherSuite::TLS13_AES_256_GCM_SHA384,
        CipherSuite::TLS13_AES_128_GCM_SHA256,
    ];
    let (aes_only, _) = client_config(&pki.ca, TLS13_ONLY, Some(&aes));
    let r = shake_and_get(&aes_only, chacha_addr, "site.test");
    assert!(
        r.is_err(),
        "an AES-only client was served by a ChaCha20-only profile: {:?}",
        r.map(|(s, _)| s.conn.negotiated_cipher_suite())
    );
    wait_until(Duration::from_secs(5), "the refusal to be counted", || {
        total(&gw).tls_fail_incompatible == 2
    });
    assert_eq!(total(&gw).tls_handshakes, 2);
}

// === 3. health checks over TLS ===

/// A TLS origin whose every response has the status in `status`;
/// `checks` counts the health-check requests it read (so the check got
/// through the handshake).
struct HealthOrigin {
    addr: SocketAddr,
    status: Arc<AtomicU16>,
    checks: Arc<AtomicUsize>,
}

impl HealthOrigin {
    fn start(id: &Issued) -> HealthOrigin {
        let config = origin_config(id);
        let l = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = l.local_addr().expect("addr");
        let status = Arc::new(AtomicU16::new(200));
        let checks = Arc::new(AtomicUsize::new(0));
        let (status2, checks2) = (status.clone(), checks.clone());
        thread::spawn(move || {
            for tcp in l.incoming() {
                let Ok(tcp) = tcp else { continue };
                let (config, status, checks) = (config.clone(), status2.clone(), checks2.clone());
                thread::spawn(move || {
                    let _ = tcp.set_read_timeout(Some(IO_TIMEOUT));
                    let _ = tcp.set_write_timeout(Some(IO_TIMEOUT));
                    let Ok(conn) = ServerConnection::new(config) else {
                        return;
                    };
                    let mut r = BufReader::new(StreamOwned::new(conn, tcp));
                    while let Ok(Some(req)) = read_request(&mut r) {
                        if req.header("user-agent") == Some("coregate-health-check") {
                            checks.fetch_add(1, Ordering::SeqCst);
                        }
                        let code = status.load(Ordering::SeqCst);
                        let resp = format!("HTTP/1.1 {code} X\r\ncontent-length: 2\r\n\r\nok");
                        let w = r.get_mut();
                        if w.write_all(resp.as_bytes())
                            .and_then(|_| w.flush())
                            .is_err()
                        {
                            return;
                        }
                    }
                });
            }
        });
        HealthOrigin {
            addr,
            status,
            checks,
        }
    }
}

/// The `healthy` flag of each group's only backend, from `/upstreams`.
fn healthy(admin: SocketAddr) -> Vec<(String, bool)> {
    let text = request(admin, b"GET /upstreams HTTP/1.1\r\nHost: a\r\n\r\n").text();
    let v: serde_json::Value = serde_json::from_str(&text).expect("upstreams JSON");
    v.as_array()
        .expect("a list of groups")
        .iter()
        .map(|g| {
            let name = g["name"].as_str().unwrap().to_string();
            (name, g["backends"][0]["healthy"] == true)
        })
        .collect()
}

fn is_healthy(admin: SocketAddr, group: &str) -> bool {
    healthy(admin)
        .into_iter()
        .find(|(g, _)| g == group)
        .map(|(_, h)| h)
        .expect("group listed")
}

/// `coregate_health_transitions_total` of `group`'s backend.
fn transitions(gw: &engine::Server, group: &str) -> f64 {
    let admin = gw.admin_addr().expect("admin listener");
    let text = request(admin, b"GET /metrics HTTP/1.1\r\nHost: admin\r\n\r\n").text();
    let prefix = format!("coregate_health_transitions_total{{group=\"{group}\"");
    text.lines()
        .filter(|l| l.starts_with(&prefix))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// A group reached over TLS is health-checked over TLS: its origin reads
/// the checks (after a verified handshake), a 503 takes the backend out
/// and a 200 brings it back; a group whose origin's certificate comes
/// from another CA is taken out and never comes back, its origin never
/// reading a check. Catches: checks dialled in plain TCP (the TLS
/// origin would read none and the good backend would go down), checks
/// that skip certificate verification (the rogue backend would stay
/// up), and verdicts not following the status.
#[test]
fn health_checks_of_a_tls_group_run_over_verified_tls() {
    let pki = Pki::new("health");
    let rogue = Pki::new("health-rogue");
    let good = HealthOrigin::start(&pki.leaf("origin", &["origin.test"]));
    let bad = HealthOrigin::start(&rogue.leaf("origin", &["origin.test"]));
    let group = |name: &str, backend: SocketAddr| {
        format!(
            "[upstreams.{name}]\nbackends = [\"{backend}\"]\n\
             [upstreams.{name}.tls]\nca = \"{}\"\nsni = \"origin.test\"\n\
             [upstreams.{name}.health_check]\npath = \"/healthz\"\ninterval = \"150ms\"\n\
             timeout = \"140ms\"\nrise = 2\nfall = 2\n\n",
            pki.ca.display()
        )
    };
    let gw = start(config(&format!(
        "[server]\nlisten = [\"127.0.0.1:0\"]\nshards = 1\nadmin = \"127.0.0.1:0\"\n\n\
         {}{}\
         [[routes]]\npath_prefix = \"/bad\"\nupstream = \"bad\"\n\n\
         [[routes]]\nupstream = \"good\"\n",
        group("good", good.addr),
        group("bad", bad.addr),
    )));
    let admin = gw.admin_addr().expect("admin listener");
    let limit = Duration::from_secs(5);

    wait_until(limit, "the rogue backend to be marked unhealthy", || {
        !is_healthy(admin, "bad")
    });
    wait_until(limit, "three checks read by the good origin", || {
        good.checks.load(Ordering::SeqCst) >= 3
    });
    assert!(is_healthy(admin, "good"), "{:?}", healthy(admin));
    assert_eq!(transitions(&gw, "good"), 0.0);

    good.status.store(503, Ordering::SeqCst);
    wait_until(limit, "a 503 to take the good backend out", || {
        !is_healthy(admin, "good")
    });
    good.status.store(200, Ordering::SeqCst);
    wait_until(limit, "a 200 to bring the good backend back", || {
        is_healthy(admin, "good")
    });
    assert_eq!(transitions(&gw, "good"), 2.0);

    // All along (well over `rise` checks), the rogue backend stayed out.
    assert!(!is_healthy(admin, "bad"), "{:?}", healthy(admin));
    assert_eq!(transitions(&gw, "bad"), 1.0, "down once, never back up");
    assert_eq!(
        bad.checks.load(Ordering::SeqCst),
        0,
        "a check reached an origin whose certificate does not verify"
    );
}

// === 4. ticket key files across hosts ===

/// A ticket key file of 80 random bytes.
fn key_file(dir: &Path, name: &str) -> std::path::PathBuf {
    let mut key = [0u8; 80];
    aws_lc_rs::rand::fill(&mut key).expect("random");
    let path = dir.join(name);
    std::fs::write(&path, key).expect("write key file");
    path
}

/// A gateway with one TLS listener, profile `edge` serving `site`,
/// tickets sealed with `key`.
fn ticket_gateway(site: &Issued, key: &Path, origin: SocketAddr) -> engine::Server {
    start(config(&format!(
        "[server]\nlisten = [{{ address = \"127.0.0.1:0\", tls = \"edge\" }}]\n\
         shards = 1\nadmin = \"off\"\n\n\
         [tls.edge]\nticket_key_files = [\"{}\"]\n{}\n\
         [upstreams.app]\nbackends = [\"{origin}\"]\n\n\
         [[routes]]\nupstream = \"app\"\n",
        key.display(),
        cert_entry_with("edge", site, ""),
    )))
}

/// One GET on a new connection with `config` (whose session store keeps
/// the tickets); the handshake kind.
fn kind_of_get(config: &Arc<ClientConfig>, addr: SocketAddr) -> Option<HandshakeKind> {
    let mut s = handshake_with(config, addr, "tickets.test").expect("handshake");
    // Reading the response reads the tickets sent before it.
    let r = get(&mut s, "/", "").expect("GET");
    assert_eq!(r.status, 200);
    s.conn.handshake_kind()
}

/// Two hosts whose profiles seal tickets with the same key file resume
/// each other's sessions; a host with another key file does not.
/// Catches: key files ignored (each host would use its own in-memory
/// keys, so B would not resume A's ticket), and tickets opened with a
/// key they were not sealed with.
#[test]
fn a_ticket_sealed_with_a_shared_key_file_resumes_on_another_host() {
    let pki = Pki::new("ticket-files");
    let site = pki.leaf("site", &["tickets.test"]);
    let shared = key_file(&pki.dir, "shared.key");
    let other = key_file(&pki.dir, "other.key");
    let origin = Origin::start();
    let a = ticket_gateway(&site, &shared, origin.addr);
    let b = ticket_gateway(&site, &shared, origin.addr);
    let c = ticket_gateway(&site, &other, origin.addr);
    let client = TlsClient::new(&pki.ca);

    let config = client.shared_config();
    assert_eq!(
        kind_of_get(&config, a.local_addrs()[0]),
        Some(HandshakeKind::Full)
    );
    assert_eq!(
        kind_of_get(&config, b.local_addrs()[0]),
        Some(HandshakeKind::Resumed),
        "a ticket from A (same key file) does not resume on B"
    );
    assert_eq!(total(&b).tls_resumed, 1);

    let config = client.shared_config();
    assert_eq!(
        kind_of_get(&config, a.local_addrs()[0]),
        Some(HandshakeKind::Full)
    );
    assert_eq!(
        kind_of_get(&config, c.local_addrs()[0]),
        Some(HandshakeKind::Full),
        "a ticket from A resumed on C, whose key file differs"
    );
    let t = total(&c);
    assert_eq!((t.tls_handshakes, t.tls_resumed), (1, 0), "{t:?}");
}

// === 5. access log and ALPN ===

/// The access log's lines, parsed.
fn log_lines(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad line {l:?}: {e}")))
        .collect()
}

/// The line of the request whose `x-request-id` was `id`, once written.
fn log_line(path: &Path, id: &str) -> serde_json::Value {
    let mut found = None;
    wait_until(
        Duration::from_secs(5),
        &format!("the log line of {id}"),
        || {
            found = log_lines(path).into_iter().find(|l| l["id"] == id);
            found.is_some()
        },
    );
    found.expect("found")
}

/// A client config offering `alpn`, with its own session store (so
/// connections made with it may resume each other's sessions).
fn alpn_config(client: &TlsClient, alpn: &[&[u8]]) -> Arc<ClientConfig> {
    let mut config = Arc::unwrap_or_clone(client.shared_config());
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Arc::new(config)
}

/// A GET with request id `id` on a new connection made with `config`;
/// the stream and the response's status.
fn get_with_id(
    config: &Arc<ClientConfig>,
    addr: SocketAddr,
    id: &str,
) -> std::io::Result<(TlsStream, u16)> {
    let mut s = handshake_with(config, addr, "a.test")?;
    let r = get(&mut s, "/", &format!("x-request-id: {id}\r\n"))?;
    Ok((s, r.status))
}

/// A TLS listener's access-log lines say `tls` (the version),
/// `tls_resumed` and `sni`; a plain listener's say null. The default
/// profile negotiates `http/1.1` with a client that also offers `h2`,
/// and refuses (counted as incompatible) a client offering only `h2`.
/// Catches: the TLS summary not reaching the log, `tls_resumed` not
/// following the handshake, `sni` logged on plain connections, `h2`
/// chosen without an HTTP/2 server behind it, a client with no common
/// protocol served anyway or counted under another reason.
#[test]
fn the_access_log_records_tls_version_resumption_and_sni_and_alpn_is_http1() {
    let pki = Pki::new("alpn-log");
    let site = pki.leaf("site", &["a.test"]);
    let log = pki.dir.join("access.log");
    let origin = Origin::start();
    let plain = free_port();
    let gw = start(config(&format!(
        "[server]\nlisten = [{{ address = \"127.0.0.1:0\", tls = \"edge\" }}, \"{plain}\"]\n\
         shards = 1\nadmin = \"off\"\n\n\
         [access_log]\npath = \"{}\"\n\n\
         [tls.edge]\n{}\n\
         [upstreams.app]\nbackends = [\"{}\"]\n\n\
         [[routes]]\nupstream = \"app\"\n",
        log.display(),
        cert_entry_with("edge", &site, ""),
        origin.addr,
    )));
    let addr = gw.local_addrs()[0];
    assert_eq!(gw.local_addrs()[1], plain);
    let client = TlsClient::new(&pki.ca);

    // h2 and http/1.1 offered: http/1.1 chosen.
    let both = alpn_config(&client, &[b"h2", b"http/1.1"]);
    let (s, status) = get_with_id(&both, addr, "tls-full").expect("h2 + http/1.1 client");
    assert_eq!(status, 200);
    assert_eq!(s.conn.alpn_protocol(), Some(&b"http/1.1"[..]));
    assert_eq!(s.conn.handshake_kind(), Some(HandshakeKind::Full));
    let l = log_line(&log, "tls-full");
    assert_eq!(l["status"], 200, "{l}");
    assert_eq!(l["tls"], "TLSv1.3", "{l}");
    assert_eq!(l["tls_resumed"], false, "{l}");
    assert_eq!(l["sni"], "a.test", "{l}");

    // The same config again offers the ticket of the first connection.
    let (s, status) = get_with_id(&both, addr, "tls-resumed").expect("resuming client");
    assert_eq!(status, 200);
    assert_eq!(s.conn.handshake_kind(), Some(HandshakeKind::Resumed));
    let l = log_line(&log, "tls-resumed");
    assert_eq!(l["tls"], "TLSv1.3", "{l}");
    assert_eq!(l["tls_resumed"], true, "{l}");
    assert_eq!(l["sni"], "a.test", "{l}");

    // Only h2 offered: no common protocol.
    let h2 = alpn_config(&client, &[b"h2"]);
    let r = get_with_id(&h2, addr, "h2-only");
    assert!(
        r.is_err(),
        "an h2-only client was served: {:?}",
        r.map(|(s, _)| s.conn.alpn_protocol().map(|p| p.to_vec()))
    );
    wait_until(Duration::from_secs(5), "the refusal to be counted", || {
        total(&gw).tls_fail_incompatible == 1
    });

    // A plain request.
    let r = request(
        plain,
        b"GET / HTTP/1.1\r\nHost: a.test\r\nX-Request-Id: plain-1\r\n\r\n",
    );
    assert_eq!(r.status, 200);
    let l = log_line(&log, "plain-1");
    assert_eq!(l["tls"], serde_json::Value::Null, "{l}");
    assert_eq!(l["sni"], serde_json::Value::Null, "{l}");
    assert!(
        log_lines(&log).iter().all(|l| l["id"] != "h2-only"),
        "a refused handshake logged a request"
    );
}

// === 6. client certificates to upstreams ===

/// A TLS origin (certificate `id`) that requires a client certificate
/// signed by `ca`; `seen` keeps the verified client certificate of the
/// first connection that sent a request.
struct MtlsOrigin {
    addr: SocketAddr,
    requests: Arc<AtomicUsize>,
    seen: Arc<OnceLock<CertificateDer<'static>>>,
}

impl MtlsOrigin {
    fn start(id: &Issued, ca: &Path) -> MtlsOrigin {
        let provider = provider(None);
        let verifier = WebPkiClientVerifier::builder_with_provider(roots(ca), provider.clone())
            .build()
            .expect("client verifier");
        let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&id.cert)
            .expect("cert file")
            .map(|c| c.expect("cert PEM"))
            .collect();
        let key = PrivateKeyDer::from_pem_file(&id.key).expect("key file");
        let config = Arc::new(
            ServerConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .expect("versions")
                .with_client_cert_verifier(verifier)
                .with_single_cert(chain, key)
                .expect("origin cert"),
        );
        let l = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = l.local_addr().expect("addr");
        let requests = Arc::new(AtomicUsize::new(0));
        let seen = Arc::new(OnceLock::new());
        let (requests2, seen2) = (requests.clone(), seen.clone());
        thread::spawn(move || {
            for tcp in l.incoming() {
                let Ok(tcp) = tcp else { continue };
                let (config, requests, seen) = (config.clone(), requests2.clone(), seen2.clone());
                thread::spawn(move || {
                    let _ = tcp.set_read_timeout(Some(IO_TIMEOUT));
                    let _ = tcp.set_write_timeout(Some(IO_TIMEOUT));
                    let Ok(conn) = ServerConnection::new(config) else {
                        return;
                    };
                    let mut r = BufReader::new(StreamOwned::new(conn, tcp));
                    let mut first = true;
                    while let Ok(Some(_req)) = read_request(&mut r) {
                        if first {
                            first = false;
                            let peer = r.get_ref().conn.peer_certificates();
                            if let Some(leaf) = peer.and_then(|p| p.first()) {
                                let _ = seen.set(leaf.clone().into_owned());
                            }
                        }
                        requests.fetch_add(1, Ordering::SeqCst);
                        let resp = format!(
                            "HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n{TLS_ORIGIN_BODY}",
                            TLS_ORIGIN_BODY.len()
                        );
                        let w = r.get_mut();
                        if w.write_all(resp.as_bytes())
                            .and_then(|_| w.flush())
                            .is_err()
                        {
                            return;
                        }
                    }
                });
            }
        });
        MtlsOrigin {
            addr,
            requests,
            seen,
        }
    }
}

/// A gateway with group `mtls` (client certificate `client`, route `/`)
/// and group `nocert` (no client certificate, route `/nocert`), both
/// verifying `origin` as `origin.test` with `pki`'s CA.
fn mtls_gateway(pki: &Pki, client: &Issued, origin: SocketAddr) -> engine::Server {
    start(config(&format!(
        "[server]\nlisten = [\"127.0.0.1:0\"]\nshards = 1\nadmin = \"off\"\n\n\
         [upstreams.mtls]\nbackends = [\"{0}\"]\n\
         [upstreams.mtls.tls]\nca = \"{1}\"\nsni = \"origin.test\"\ncert = \"{2}\"\nkey = \"{3}\"\n\n\
         [upstreams.nocert]\nbackends = [\"{0}\"]\n\
         [upstreams.nocert.tls]\nca = \"{1}\"\nsni = \"origin.test\"\n\n\
         [[routes]]\npath_prefix = \"/nocert\"\nupstream = \"nocert\"\n\n\
         [[routes]]\nupstream = \"mtls\"\n",
        origin,
        pki.ca.display(),
        client.cert.display(),
        client.key.display(),
    )))
}

/// A group with `cert` and `key` in its `tls` table presents that client
/// certificate to an origin that requires one, and gets 200. Catches:
/// `cert`/`key` not loaded into the upstream client config, and another
/// certificate presented.
#[test]
fn an_upstream_group_presents_its_client_certificate() {
    let pki = Pki::new("upstream-mtls");
    let client_id = pki.client("gateway", "coregate gateway");
    let origin = MtlsOrigin::start(&pki.leaf("origin", &["origin.test"]), &pki.ca);
    let gw = mtls_gateway(&pki, &client_id, origin.addr);
    let addr = gw.local_addrs()[0];

    let r = request(addr, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(r.status, 200, "{:?} {}", r.headers, r.text());
    assert_eq!(r.text(), TLS_ORIGIN_BODY);
    assert_eq!(origin.requests.load(Ordering::SeqCst), 1);
    assert_eq!(
        origin.seen.get(),
        Some(&client_id.der),
        "the origin did not see the group's client certificate"
    );
    assert_eq!(total(&gw).upstream_tls_handshakes, 1);
}

/// The same origin refuses a group without `cert`/`key`: 502 with
/// `x-coregate-error: upstream_tls_handshake`, no request reaching the
/// origin. Catches a refused client certificate reported as something
/// other than a handshake failure.
/// In TLS 1.3 the origin's refusal (a certificate_required alert) arrives
/// only after the gateway's side of the handshake ended, on the first read.
#[test]
fn an_upstream_refusing_a_missing_client_certificate_is_a_tls_handshake_error() {
    let pki = Pki::new("upstream-mtls-none");
    let client_id = pki.client("gateway", "coregate gateway");
    let origin = MtlsOrigin::start(&pki.leaf("origin", &["origin.test"]), &pki.ca);
    let gw = mtls_gateway(&pki, &client_id, origin.addr);
    let addr = gw.local_addrs()[0];

    let r = request(addr, b"GET /nocert HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(r.status, 502, "{}", r.text());
    assert_eq!(r.header("x-coregate-error"), Some("upstream_tls_handshake"));
    assert_eq!(
        origin.requests.load(Ordering::SeqCst),
        0,
        "a request without a client certificate reached the origin"
    );
    assert!(origin.seen.get().is_none());
}

// === 7. quick mode with two certificates ===

/// Kills the child process when dropped.
struct Reaper(std::process::Child);

impl Drop for Reaper {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `--tls-cert`/`--tls-key` given twice: each certificate is served for
/// its name and an unknown name gets the first. Catches: only the first
/// (or the last) pair loaded, pairs mismatched, and a default other than
/// the first pair.
#[test]
fn quick_mode_serves_each_of_two_certificates_and_the_first_by_default() {
    let pki = Pki::new("quick-two");
    let a = pki.leaf("a", &["a.test"]);
    let b = pki.leaf("b", &["b.test"]);
    let origin = Origin::start();
    let listen = free_port();
    let _gw = Reaper(
        Command::new(coregate_bin())
            .args(["--listen", &listen.to_string()])
            .arg("--tls-cert")
            .arg(&a.cert)
            .arg("--tls-key")
            .arg(&a.key)
            .arg("--tls-cert")
            .arg(&b.cert)
            .arg("--tls-key")
            .arg(&b.key)
            .args(["--upstream", &origin.addr.to_string()])
            .args(["--admin", "off", "--shards", "1"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("coregate runs"),
    );
    wait_for_port(listen);
    let client = TlsClient::new(&pki.ca).any_name();
    for (name, want, which) in [
        ("a.test", &a, "A"),
        ("b.test", &b, "B"),
        ("unknown.test", &a, "A (the default)"),
    ] {
        let shake = client.handshake(listen, name);
        let mut s = shake
            .result
            .unwrap_or_else(|e| panic!("handshake as {name}: {e}"));
        assert_eq!(
            shake.presented.as_ref(),
            Some(&want.der),
            "{name} did not get certificate {which}"
        );
        let r = get(&mut s, "/", "").expect("GET");
        assert_eq!(r.status, 200, "{name}");
    }
}
