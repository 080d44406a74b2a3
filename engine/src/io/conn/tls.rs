//! TLS over a [`TcpConn`](super::TcpConn): rustls's sans-io `Connection`
//! fed from the ring's owned receive buffers, its records sent as owned
//! buffers. The layers above see the same transport as for plain TCP.
//!
//! Receiving copies each received buffer once into rustls (which
//! reassembles records split across buffers and decrypts in place) and
//! the plaintext once out of it. Sending writes plaintext into rustls and
//! sends the sealed records as one owned buffer per call. Nothing here
//! sends while receiving, so `recv` stays cancel-safe: what a receive makes
//! rustls want to send (a KeyUpdate reply) goes out with the next send.

use std::cell::{Cell, RefCell};
use std::io::{self, Read, Write};
use std::rc::Rc;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use rustls::{ClientConnection, Connection, ServerConnection};

use super::{RecvBuf, SendBuf, Sock, TcpConn};

/// What a finished handshake negotiated, for logs and metrics.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsSummary {
    /// `TLSv1.3` or `TLSv1.2`.
    pub version: &'static str,
    /// The IANA suite name.
    pub cipher: &'static str,
    /// The session was resumed (ticket or session id).
    pub resumed: bool,
    /// The SNI name the client sent.
    pub sni: Option<Box<str>>,
    /// A verified client certificate's subject (mTLS).
    pub client_subject: Option<Box<str>>,
}

/// Why a handshake failed, as a metric label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HandshakeFailure {
    /// The handshake timeout passed.
    Timeout,
    /// Plain HTTP arrived on a TLS port.
    PlainHttp,
    /// The peer closed or reset before finishing.
    Closed,
    /// No common version, suite, group or ALPN protocol.
    Incompatible,
    /// No certificate for the SNI name (the profile refuses unknown names).
    UnknownSni,
    /// A client certificate was missing or did not verify.
    ClientCert,
    /// The peer's certificate did not verify (upstream side).
    BadCertificate,
    /// Malformed or unexpected TLS messages.
    Protocol,
}

// === impl HandshakeFailure ===

impl HandshakeFailure {
    /// Every reason, in label order.
    pub const ALL: [HandshakeFailure; 8] = [
        HandshakeFailure::Timeout,
        HandshakeFailure::PlainHttp,
        HandshakeFailure::Closed,
        HandshakeFailure::Incompatible,
        HandshakeFailure::UnknownSni,
        HandshakeFailure::ClientCert,
        HandshakeFailure::BadCertificate,
        HandshakeFailure::Protocol,
    ];

    /// The metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            HandshakeFailure::Timeout => "timeout",
            HandshakeFailure::PlainHttp => "plain_http",
            HandshakeFailure::Closed => "closed",
            HandshakeFailure::Incompatible => "incompatible",
            HandshakeFailure::UnknownSni => "unknown_sni",
            HandshakeFailure::ClientCert => "client_cert",
            HandshakeFailure::BadCertificate => "bad_certificate",
            HandshakeFailure::Protocol => "protocol",
        }
    }

    fn of(e: &rustls::Error) -> HandshakeFailure {
        use rustls::Error as E;
        match e {
            E::PeerIncompatible(_) | E::NoApplicationProtocol => HandshakeFailure::Incompatible,
            E::NoCertificatesPresented => HandshakeFailure::ClientCert,
            E::InvalidCertificate(_) | E::InvalidCertRevocationList(_) => {
                HandshakeFailure::BadCertificate
            }
            E::General(m) if m.contains("no server certificate") => HandshakeFailure::UnknownSni,
            _ => HandshakeFailure::Protocol,
        }
    }
}

/// The answer to plain HTTP on a TLS port (nginx answers 400 too).
const PLAIN_HTTP_400: &[u8] = b"HTTP/1.1 400 Bad Request\r\ncontent-type: text/plain\r\n\
content-length: 47\r\nconnection: close\r\n\r\nThe plain HTTP request was sent to a TLS port.\n";

/// How a TLS stream ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    /// It has not.
    Open,
    /// close_notify, or (from a client) a plain close.
    Clean,
    /// A TLS error, or a backend's close without close_notify (a
    /// close-delimited body cut short would otherwise look complete).
    Failed,
}

/// A TLS connection.
pub struct TlsConn {
    tcp: TcpConn,
    tls: RefCell<Connection>,
    /// Whether the stream ended, and how.
    end: Cell<End>,
    /// Ciphertext bytes still owed to the record being received, and the
    /// record header received so far: a pooled connection with a record
    /// half-received inside rustls is not quiet.
    owed: Cell<usize>,
    header: Cell<([u8; 5], u8)>,
    /// Plaintext that came with the handshake's last flight (a client's
    /// Finished and its first request often share a segment).
    early: RefCell<Option<RecvBuf>>,
}

impl std::fmt::Debug for TlsConn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsConn").field("tcp", &self.tcp).finish()
    }
}

// === impl TlsConn (handshakes) ===

impl TlsConn {
    /// Runs the server side of a handshake on `tcp`. The caller bounds it
    /// in time; a failure has already sent its alert (or the plain-HTTP 400).
    pub async fn accept(
        tcp: TcpConn,
        config: Arc<rustls::ServerConfig>,
    ) -> Result<TlsConn, (HandshakeFailure, TcpConn)> {
        let server = match ServerConnection::new(config) {
            Ok(s) => s,
            Err(_) => return Err((HandshakeFailure::Protocol, tcp)),
        };
        let conn = TlsConn::new(tcp, Connection::Server(server));
        match conn.handshake(true).await {
            Ok(()) => Ok(conn),
            // On this side, a certificate that did not verify is the client's.
            Err(HandshakeFailure::BadCertificate) => Err((HandshakeFailure::ClientCert, conn.tcp)),
            Err(why) => Err((why, conn.tcp)),
        }
    }

    /// Runs the client side of a handshake to `name` on `tcp`.
    pub async fn connect(
        tcp: TcpConn,
        config: Arc<rustls::ClientConfig>,
        name: rustls::pki_types::ServerName<'static>,
    ) -> Result<TlsConn, HandshakeFailure> {
        let client = ClientConnection::new(config, name).map_err(|e| HandshakeFailure::of(&e))?;
        let conn = TlsConn::new(tcp, Connection::Client(client));
        conn.handshake(false).await?;
        Ok(conn)
    }

    fn new(tcp: TcpConn, mut tls: Connection) -> TlsConn {
        // Sends seal and drain at once (see `send_all`), so what rustls
        // buffers is bounded by one send's bytes; a limit would only turn
        // a large gathered send into an error.
        tls.set_buffer_limit(None);
        TlsConn {
            tcp,
            tls: RefCell::new(tls),
            end: Cell::new(End::Open),
            owed: Cell::new(0),
            header: Cell::new(([0; 5], 0)),
            early: RefCell::new(None),
        }
    }

    fn sock(&self) -> &Rc<Sock> {
        &self.tcp.sock
    }

    async fn handshake(&self, server: bool) -> Result<(), HandshakeFailure> {
        let mut first = server;
        while self.tls.borrow().is_handshaking() {
            self.flush().await.map_err(|_| HandshakeFailure::Closed)?;
            if !self.tls.borrow().is_handshaking() {
                break;
            }
            let ct = match self.sock().recv().await {
                Ok(Some(ct)) => ct,
                Ok(None) | Err(_) => return Err(HandshakeFailure::Closed),
            };
            if std::mem::take(&mut first) && looks_like_http(&ct) {
                let _ = self
                    .sock()
                    .send(SendBuf::Bytes(Bytes::from_static(PLAIN_HTTP_400)))
                    .await;
                return Err(HandshakeFailure::PlainHttp);
            }
            let mut plain = BytesMut::new();
            if let Err(e) = self.feed(&ct, &mut plain) {
                let _ = self.flush().await;
                return Err(tls_failure(&e));
            }
            if !plain.is_empty() {
                *self.early.borrow_mut() = Some(RecvBuf::heap(plain.freeze()));
            }
        }
        // The server's tickets, or the client's Finished.
        self.flush().await.map_err(|_| HandshakeFailure::Closed)
    }

    /// The peer presented a certificate (that verified: rustls refuses
    /// the handshake otherwise), in this handshake or the resumed one.
    pub fn has_peer_certificate(&self) -> bool {
        self.tls
            .borrow()
            .peer_certificates()
            .is_some_and(|c| !c.is_empty())
    }

    /// What the handshake negotiated.
    pub fn summary(&self) -> TlsSummary {
        let tls = self.tls.borrow();
        let version = match tls.protocol_version() {
            Some(rustls::ProtocolVersion::TLSv1_3) => "TLSv1.3",
            Some(rustls::ProtocolVersion::TLSv1_2) => "TLSv1.2",
            _ => "",
        };
        let cipher = tls
            .negotiated_cipher_suite()
            .and_then(|s| s.suite().as_str())
            .unwrap_or("");
        let resumed = tls.handshake_kind() == Some(rustls::HandshakeKind::Resumed);
        let (sni, client_subject) = match &*tls {
            Connection::Server(s) => (
                s.server_name().map(Box::from),
                s.peer_certificates()
                    .and_then(|c| c.first())
                    .and_then(|der| tls::subject_of(der))
                    .map(|s| header_safe(&s)),
            ),
            Connection::Client(_) => (None, None),
        };
        TlsSummary {
            version,
            cipher,
            resumed,
            sni,
            client_subject,
        }
    }
}

/// `s` with every byte that may not sit in a header value (controls,
/// non-ASCII) replaced by `?`.
fn header_safe(s: &str) -> Box<str> {
    let safe = |c: char| {
        if c.is_ascii() && !c.is_ascii_control() {
            c
        } else {
            '?'
        }
    };
    s.chars().map(safe).collect::<String>().into_boxed_str()
}

/// The first byte of an HTTP/1 request line (a method's first capital),
/// where a TLS record (0x14..=0x17) or an SSLv2 hello (0x80) was due.
fn looks_like_http(b: &[u8]) -> bool {
    b.first().is_some_and(u8::is_ascii_uppercase)
}

/// Whether a receive failed on the peer's TLS alert (a backend refusing
/// our client certificate says so only after our side of a TLS 1.3
/// handshake ended, on the first read).
pub fn is_peer_alert(e: &io::Error) -> bool {
    let inner = e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>());
    matches!(inner, Some(rustls::Error::AlertReceived(_)))
}

fn tls_failure(e: &io::Error) -> HandshakeFailure {
    match e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()) {
        Some(e) => HandshakeFailure::of(e),
        None => HandshakeFailure::Protocol,
    }
}

// === impl TlsConn (records) ===

impl TlsConn {
    /// Feeds received ciphertext through rustls, appending the plaintext to `out`.
    fn feed(&self, mut ct: &[u8], out: &mut BytesMut) -> io::Result<()> {
        self.track_records(ct);
        let mut tls = self.tls.borrow_mut();
        while !ct.is_empty() {
            let n = tls.read_tls(&mut ct)?;
            let state = tls.process_new_packets().map_err(io::Error::other)?;
            let avail = state.plaintext_bytes_to_read();
            if avail > 0 {
                let at = out.len();
                out.resize(at + avail, 0);
                tls.reader().read_exact(&mut out[at..])?;
            }
            if state.peer_has_closed() {
                self.end.set(End::Clean);
            }
            if n == 0 && self.end.get() == End::Clean {
                // Bytes after close_notify mean nothing.
                break;
            }
            if n == 0 {
                // rustls took nothing although it had room after processing:
                // never drop bytes silently.
                return Err(io::Error::other("TLS input not accepted"));
            }
        }
        Ok(())
    }

    /// Follows the record framing of the received ciphertext (5-byte
    /// headers, then the length they give).
    fn track_records(&self, mut ct: &[u8]) {
        while !ct.is_empty() {
            let owed = self.owed.get();
            if owed > 0 {
                let n = owed.min(ct.len());
                self.owed.set(owed - n);
                ct = &ct[n..];
                continue;
            }
            let (mut h, have) = self.header.get();
            let have = usize::from(have);
            let n = (h.len() - have).min(ct.len());
            h[have..have + n].copy_from_slice(&ct[..n]);
            ct = &ct[n..];
            if have + n == h.len() {
                self.owed.set(usize::from(u16::from_be_bytes([h[3], h[4]])));
                self.header.set((h, 0));
            } else {
                self.header.set((h, (have + n) as u8));
            }
        }
    }

    /// Plaintext from `ct`, `None` if it held none (a handshake message, a ticket).
    fn open(&self, ct: &RecvBuf) -> io::Result<Option<RecvBuf>> {
        let mut plain = BytesMut::new();
        self.feed(ct, &mut plain)?;
        Ok((!plain.is_empty()).then(|| RecvBuf::heap(plain.freeze())))
    }

    /// What a receive returns once the stream ended; `None` while open.
    fn finished(&self) -> Option<io::Result<Option<RecvBuf>>> {
        match self.end.get() {
            End::Open => None,
            End::Clean => Some(Ok(None)),
            End::Failed => Some(Err(io::Error::other("the TLS stream failed"))),
        }
    }

    /// One receive's outcome through rustls; `None`: nothing to hand up
    /// yet. Errors are sticky: the stream is over after the first.
    fn step(&self, got: io::Result<Option<RecvBuf>>) -> Option<io::Result<Option<RecvBuf>>> {
        let res = match got {
            Ok(Some(ct)) => match self.open(&ct) {
                Ok(None) => return None,
                other => other,
            },
            Ok(None) => self.eof(),
            Err(e) => Err(e),
        };
        if res.is_err() {
            self.end.set(End::Failed);
        }
        Some(res)
    }

    /// The TCP stream ended. A client may just close; a backend's stream
    /// is complete only with close_notify (else a cut could pass for the
    /// end of a close-delimited body).
    fn eof(&self) -> io::Result<Option<RecvBuf>> {
        let backend = matches!(&*self.tls.borrow(), Connection::Client(_));
        if backend && self.end.get() != End::Clean {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        self.end.set(End::Clean);
        Ok(None)
    }

    /// The next plaintext; `Ok(None)` at the end. Cancel-safe.
    pub(crate) async fn recv(&self) -> io::Result<Option<RecvBuf>> {
        if let Some(early) = self.early.borrow_mut().take() {
            return Ok(Some(early));
        }
        loop {
            if let Some(done) = self.finished() {
                return done;
            }
            let got = self.sock().recv().await;
            if let Some(res) = self.step(got) {
                return res;
            }
        }
    }

    /// Plaintext already received, without waiting.
    pub(crate) fn try_recv(&self) -> Option<io::Result<Option<RecvBuf>>> {
        if let Some(early) = self.early.borrow_mut().take() {
            return Some(Ok(Some(early)));
        }
        loop {
            if let Some(done) = self.finished() {
                return Some(done);
            }
            let got = self.sock().take_ready()?;
            if let Some(res) = self.step(got) {
                return Some(res);
            }
        }
    }

    /// Seals `bufs` and sends the records.
    pub(crate) async fn send_all(&self, bufs: &[SendBuf]) -> io::Result<()> {
        {
            let mut tls = self.tls.borrow_mut();
            let mut w = tls.writer();
            for b in bufs {
                w.write_all(b.as_slice())?;
            }
        }
        self.flush().await
    }

    /// Sends whatever records rustls has queued.
    async fn flush(&self) -> io::Result<()> {
        let out = {
            let mut tls = self.tls.borrow_mut();
            let mut out = Vec::new();
            while tls.wants_write() {
                tls.write_tls(&mut out)?;
            }
            out
        };
        if out.is_empty() {
            return Ok(());
        }
        self.sock().send(SendBuf::Bytes(Bytes::from(out))).await
    }

    /// Sends close_notify, then a FIN.
    pub(crate) async fn shutdown_write(&self) -> io::Result<()> {
        self.tls.borrow_mut().send_close_notify();
        self.flush().await?;
        self.sock().shutdown_write()
    }

    /// No plaintext, EOF or error waits to be read.
    pub(crate) fn is_quiet(&self) -> bool {
        self.end.get() == End::Open
            && self.early.borrow().is_none()
            && self.owed.get() == 0
            && self.header.get().1 == 0
            && self.sock().is_quiet()
    }

    /// The TCP connection underneath.
    pub(crate) fn tcp_mut(&mut self) -> &mut TcpConn {
        &mut self.tcp
    }

    /// The TCP connection underneath.
    pub(crate) fn tcp(&self) -> &TcpConn {
        &self.tcp
    }
}
