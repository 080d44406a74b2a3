//! TLS fixtures: a test CA that signs leaf and client certificates (files
//! in a temp directory), a blocking rustls client that records the
//! certificate the server presented, and a TLS origin server.
#![allow(dead_code, unreachable_pub, missing_docs)]

use std::io::{self, BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::thread;
use std::time::{Duration, SystemTime};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::{Resumption, WebPkiServerVerifier};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName, UnixTime};
use rustls::{
    CertificateError, ClientConfig, ClientConnection, DigitallySignedStruct, RootCertStore,
    ServerConfig, ServerConnection, SignatureScheme, StreamOwned,
};

use crate::common::{read_request, Response};

/// A blocking TLS client stream.
pub type TlsStream = StreamOwned<ClientConnection, TcpStream>;

/// How long any test socket waits for a read or write.
pub const IO_TIMEOUT: Duration = Duration::from_secs(5);

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

/// A fresh directory under the system temp dir.
pub fn temp_dir(tag: &str) -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let n = N.fetch_add(1, Ordering::SeqCst);
    let dir = std::env::temp_dir().join(format!("coregate-tls-{tag}-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

/// A certificate and key written to files.
#[derive(Debug, Clone)]
pub struct Issued {
    pub cert: PathBuf,
    pub key: PathBuf,
    /// The leaf, DER.
    pub der: CertificateDer<'static>,
}

/// A CA with its own directory (removed when the `Pki` is dropped).
pub struct Pki {
    pub dir: PathBuf,
    /// The CA certificate (PEM file).
    pub ca: PathBuf,
    ca_cert: rcgen::Certificate,
    ca_key: KeyPair,
}

fn dn(cn: &str) -> DistinguishedName {
    let mut d = DistinguishedName::new();
    d.push(DnType::CommonName, cn);
    d
}

impl Pki {
    pub fn new(tag: &str) -> Pki {
        let dir = temp_dir(tag);
        let ca_key = KeyPair::generate().expect("CA key");
        let mut p = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        p.distinguished_name = dn(&format!("coregate test CA {tag}"));
        p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        p.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let ca_cert = p.self_signed(&ca_key).expect("CA cert");
        let ca = dir.join("ca.pem");
        std::fs::write(&ca, ca_cert.pem()).expect("write CA");
        Pki {
            dir,
            ca,
            ca_cert,
            ca_key,
        }
    }

    fn sign(&self, stem: &str, p: CertificateParams, key: &KeyPair) -> Issued {
        let cert = p
            .signed_by(key, &self.ca_cert, &self.ca_key)
            .expect("sign leaf");
        let (cert_path, key_path) = (
            self.dir.join(format!("{stem}.pem")),
            self.dir.join(format!("{stem}.key")),
        );
        std::fs::write(&cert_path, cert.pem()).expect("write cert");
        std::fs::write(&key_path, key.serialize_pem()).expect("write key");
        Issued {
            cert: cert_path,
            key: key_path,
            der: cert.der().clone(),
        }
    }

    fn server_params(names: &[&str]) -> CertificateParams {
        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        let mut p = CertificateParams::new(names.clone()).expect("leaf params");
        p.distinguished_name = dn(&names[0]);
        p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        p
    }

    /// An ECDSA P-256 server certificate for `names`.
    pub fn leaf(&self, stem: &str, names: &[&str]) -> Issued {
        let key = KeyPair::generate().expect("leaf key");
        self.sign(stem, Self::server_params(names), &key)
    }

    /// An RSA-2048 server certificate for `names`.
    pub fn leaf_rsa(&self, stem: &str, names: &[&str]) -> Issued {
        let rsa =
            aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).expect("RSA key");
        let der = aws_lc_rs::encoding::AsDer::<aws_lc_rs::encoding::Pkcs8V1Der<'_>>::as_der(&rsa)
            .expect("RSA key as PKCS#8");
        let pkcs8 = PrivatePkcs8KeyDer::from(der.as_ref().to_vec());
        let key = KeyPair::from_pkcs8_der_and_sign_algo(&pkcs8, &rcgen::PKCS_RSA_SHA256)
            .expect("RSA key for rcgen");
        self.sign(stem, Self::server_params(names), &key)
    }

    /// A server certificate for `name` that expires `secs` from now.
    pub fn leaf_expiring(&self, stem: &str, name: &str, secs: u64) -> Issued {
        let key = KeyPair::generate().expect("leaf key");
        let mut p = Self::server_params(&[name]);
        let now = SystemTime::now();
        p.not_before = (now - Duration::from_secs(86_400)).into();
        p.not_after = (now + Duration::from_secs(secs)).into();
        self.sign(stem, p, &key)
    }

    /// A client certificate whose subject is `CN=<cn>`.
    pub fn client(&self, stem: &str, cn: &str) -> Issued {
        let key = KeyPair::generate().expect("client key");
        let mut p = CertificateParams::new(Vec::<String>::new()).expect("client params");
        p.distinguished_name = dn(cn);
        p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        self.sign(stem, p, &key)
    }

    /// The CA as trust anchors.
    pub fn roots(&self) -> Arc<RootCertStore> {
        roots(&self.ca)
    }
}

impl Drop for Pki {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

pub fn roots(ca: &Path) -> Arc<RootCertStore> {
    let mut store = RootCertStore::empty();
    for der in CertificateDer::pem_file_iter(ca).expect("CA file") {
        store.add(der.expect("CA PEM")).expect("CA anchor");
    }
    Arc::new(store)
}

fn chain(path: &Path) -> Vec<CertificateDer<'static>> {
    CertificateDer::pem_file_iter(path)
        .expect("cert file")
        .map(|c| c.expect("cert PEM"))
        .collect()
}

fn key(path: &Path) -> PrivateKeyDer<'static> {
    PrivateKeyDer::from_pem_file(path).expect("key file")
}

/// Replaces `to` with a copy of `from` atomically (a temp file, then a rename).
pub fn replace_file(from: &Path, to: &Path) {
    let tmp = to.with_extension("tmp-swap");
    std::fs::copy(from, &tmp).expect("copy");
    std::fs::rename(&tmp, to).expect("rename");
}

/// Writes `bytes` to `to` atomically.
pub fn replace_with(bytes: &[u8], to: &Path) {
    let tmp = to.with_extension("tmp-swap");
    std::fs::write(&tmp, bytes).expect("write");
    std::fs::rename(&tmp, to).expect("rename");
}

// === client ===

/// Saves the end-entity certificate the server presented, then verifies
/// it with webpki. `any_name` lets a certificate for another name through
/// (to see which certificate an unknown SNI name gets).
#[derive(Debug)]
struct Recorder {
    inner: Arc<WebPkiServerVerifier>,
    seen: Presented,
    any_name: bool,
}

/// Where a [`Recorder`] saves the certificate.
type Presented = Arc<OnceLock<CertificateDer<'static>>>;

impl ServerCertVerifier for Recorder {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        // One handshake per config, so this is the only certificate.
        let _ = self.seen.set(end_entity.clone().into_owned());
        let res = self
            .inner
            .verify_server_cert(end_entity, intermediates, server_name, ocsp, now);
        match res {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) if self.any_name => Ok(ServerCertVerified::assertion()),
            other => other,
        }
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

/// A TLS client that trusts one CA. Every connection gets a fresh
/// `ClientConfig`, so none resumes a session and every handshake shows the
/// server's certificate.
#[derive(Clone)]
pub struct TlsClient {
    roots: Arc<RootCertStore>,
    auth: Option<(PathBuf, PathBuf)>,
    any_name: bool,
}

/// A finished (or failed) handshake: the stream, and the certificate the
/// server presented (if it got that far).
pub struct Shake {
    pub result: io::Result<TlsStream>,
    pub presented: Option<CertificateDer<'static>>,
}

impl TlsClient {
    pub fn new(ca: &Path) -> TlsClient {
        TlsClient {
            roots: roots(ca),
            auth: None,
            any_name: false,
        }
    }

    /// Presents this client certificate.
    pub fn with_cert(mut self, id: &Issued) -> TlsClient {
        self.auth = Some((id.cert.clone(), id.key.clone()));
        self
    }

    /// Accepts a certificate issued for another name.
    pub fn any_name(mut self) -> TlsClient {
        self.any_name = true;
        self
    }

    fn config(&self) -> (Arc<ClientConfig>, Presented) {
        let inner = WebPkiServerVerifier::builder_with_provider(self.roots.clone(), provider())
            .build()
            .expect("verifier");
        let seen = Arc::new(OnceLock::new());
        let verifier = Recorder {
            inner,
            seen: seen.clone(),
            any_name: self.any_name,
        };
        let builder = ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .expect("versions")
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(verifier));
        let mut config = match &self.auth {
            Some((c, k)) => builder
                .with_client_auth_cert(chain(c), key(k))
                .expect("client cert"),
            None => builder.with_no_client_auth(),
        };
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        (Arc::new(config), seen)
    }

    /// Connects to `addr` with SNI `name` and runs the handshake.
    pub fn handshake(&self, addr: SocketAddr, name: &str) -> Shake {
        let (config, seen) = self.config();
        let result = handshake_with(&config, addr, name);
        let presented = seen.get().cloned();
        Shake { result, presented }
    }

    /// One `ClientConfig` to use for several connections (with
    /// [`handshake_with`]): its in-memory session store keeps the tickets
    /// each server sends, so a later connection to the same name offers
    /// them and may resume.
    pub fn shared_config(&self) -> Arc<ClientConfig> {
        let (config, _) = self.config();
        let mut config = Arc::unwrap_or_clone(config);
        config.resumption = Resumption::in_memory_sessions(64);
        Arc::new(config)
    }

    /// Connects and handshakes; panics on failure.
    pub fn connect(&self, addr: SocketAddr, name: &str) -> TlsStream {
        match self.handshake(addr, name).result {
            Ok(s) => s,
            Err(e) => panic!("TLS handshake with {addr} as {name:?} failed: {e}"),
        }
    }
}

/// Connects to `addr` with SNI `name` and runs the handshake with
/// `config` (which may hold tickets from earlier connections).
pub fn handshake_with(
    config: &Arc<ClientConfig>,
    addr: SocketAddr,
    name: &str,
) -> io::Result<TlsStream> {
    let tcp = TcpStream::connect(addr)?;
    tcp.set_read_timeout(Some(IO_TIMEOUT))?;
    tcp.set_write_timeout(Some(IO_TIMEOUT))?;
    let sni = ServerName::try_from(name.to_string()).map_err(io::Error::other)?;
    let conn = ClientConnection::new(Arc::clone(config), sni).map_err(io::Error::other)?;
    let mut s = StreamOwned::new(conn, tcp);
    while s.conn.is_handshaking() {
        s.conn.complete_io(&mut s.sock)?;
    }
    Ok(s)
}

/// Sends a GET for `path` with `extra` header lines (each ending in CRLF)
/// and reads the response.
pub fn get(s: &mut TlsStream, path: &str, extra: &str) -> io::Result<Response> {
    let req = format!("GET {path} HTTP/1.1\r\nhost: test\r\n{extra}\r\n");
    s.write_all(req.as_bytes())?;
    s.flush()?;
    read_response(&mut BufReader::new(s))
}

/// Reads one response with a content-length body (what coregate and the
/// test origins send).
pub fn read_response(r: &mut impl BufRead) -> io::Result<Response> {
    let mut line = String::new();
    if r.read_line(&mut line)? == 0 {
        return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "closed"));
    }
    let mut parts = line.trim_end().splitn(3, ' ');
    let version = parts.next().unwrap_or("").to_string();
    let status = parts.next().unwrap_or("0").parse().unwrap_or(0);
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        r.read_line(&mut h)?;
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.push((k.to_string(), v.trim().to_string()));
        }
    }
    let len = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse::<usize>().ok())
        .ok_or_else(|| io::Error::other("response without content-length"))?;
    let mut body = vec![0; len];
    r.read_exact(&mut body)?;
    Ok(Response {
        version,
        status,
        headers,
        body,
    })
}

// === TLS origin ===

/// An origin that speaks HTTP/1.1 over TLS (keep-alive): every request
/// gets `200 tls origin says hi`.
pub struct TlsOrigin {
    pub addr: SocketAddr,
    /// TCP connections accepted.
    pub connections: Arc<AtomicUsize>,
    /// Requests answered.
    pub requests: Arc<AtomicUsize>,
}

pub const TLS_ORIGIN_BODY: &str = "tls origin says hi";

/// A server config presenting `id` (no client auth), for test origins.
pub fn origin_config(id: &Issued) -> Arc<ServerConfig> {
    let config = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_no_client_auth()
        .with_single_cert(chain(&id.cert), key(&id.key))
        .expect("origin cert");
    Arc::new(config)
}

impl TlsOrigin {
    pub fn start(id: &Issued) -> TlsOrigin {
        let config = origin_config(id);
        let l = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = l.local_addr().expect("addr");
        let connections = Arc::new(AtomicUsize::new(0));
        let requests = Arc::new(AtomicUsize::new(0));
        let (c2, r2) = (connections.clone(), requests.clone());
        thread::spawn(move || {
            for tcp in l.incoming() {
                let Ok(tcp) = tcp else { continue };
                c2.fetch_add(1, Ordering::SeqCst);
                let (config, requests) = (config.clone(), r2.clone());
                thread::spawn(move || {
                    let _ = tcp.set_read_timeout(Some(Duration::from_secs(30)));
                    let Ok(conn) = ServerConnection::new(config) else {
                        return;
                    };
                    let mut r = BufReader::new(StreamOwned::new(conn, tcp));
                    while let Ok(Some(_req)) = read_request(&mut r) {
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
        TlsOrigin {
            addr,
            connections,
            requests,
        }
    }
}

/// The `[[tls.NAME.certificates]]` entry for `id`.
pub fn cert_entry(profile: &str, id: &Issued) -> String {
    cert_entry_with(profile, id, "")
}

/// The `[[tls.NAME.certificates]]` entry for `id`, with `extra` lines.
pub fn cert_entry_with(profile: &str, id: &Issued, extra: &str) -> String {
    format!(
        "[[tls.{profile}.certificates]]\ncert = \"{}\"\nkey = \"{}\"\n{extra}",
        id.cert.display(),
        id.key.display()
    )
}

/// Values of header `name` in an Origin `/seen` body.
pub fn seen(body: &str, name: &str) -> Vec<String> {
    body.lines()
        .skip(1)
        .filter_map(|l| l.split_once(": "))
        .filter(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.to_string())
        .collect()
}

/// The admin listener's `/metrics` text.
pub fn metrics(gw: &engine::Server) -> String {
    let admin = gw.admin_addr().expect("admin listener");
    crate::common::request(admin, b"GET /metrics HTTP/1.1\r\nHost: admin\r\n\r\n").text()
}

/// Every shard's counters added up.
pub fn total(gw: &engine::Server) -> engine::ShardStats {
    let mut t = engine::ShardStats::default();
    for s in gw.stats() {
        t.merge(&s);
    }
    t
}

/// Polls `f` every 20 ms for at most `limit`.
pub fn wait_until(limit: Duration, what: &str, mut f: impl FnMut() -> bool) {
    let start = std::time::Instant::now();
    while start.elapsed() < limit {
        if f() {
            return;
        }
        thread::sleep(Duration::from_millis(20));
    }
    panic!("timed out after {limit:?} waiting for {what}");
}
