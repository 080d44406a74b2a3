//! `tls-load`: the load generator of the TLS scenarios. HTTP/1.1 over TLS 1.3
//! (rustls), closed loop, N connections on one epoll thread (or a few),
//! bounded by time and by request count.
//!
//! Why a generator of our own rather than wrk, `openssl s_time` or h2load
//! (all checked on Debian 12):
//! - wrk 4.1.0 keeps one `SSL` object per connection slot and only
//!   `SSL_clear`s it on reconnect, so with `Connection: close` it *always*
//!   offers the last session again: measured against nginx with tickets on,
//!   344 of 348 new connections were resumed. It cannot do full handshakes
//!   against a server that issues tickets, nor turn resumption on or off.
//! - `openssl s_time -new/-reuse` runs one connection at a time: the proxy
//!   idles for every round trip and the load point differs per proxy, which
//!   the protocol (shared/BENCH.md, "equal load only") rules out.
//! - h2load has no one-request-per-connection mode.
//!
//! Here each [`Mode`] is one explicit client setting: keep-alive,
//! resumption from an in-memory ticket cache shared by all connections
//! (rustls `ClientSessionMemoryCache`), or resumption disabled (every
//! handshake full). The report counts full and resumed handshakes so the
//! harness can check that the mode did what it says.
//!
//! The client does not check the server's certificate nor its
//! CertificateVerify signature: the server's work is the same either way
//! (it signs every full handshake), and the load CPU, which also runs the
//! origin, is spared an ECDSA verification per handshake, so the proxy gets
//! closer to saturation. This is a loopback benchmark client only.

use std::collections::BTreeMap;
use std::io::{self, Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bench::framing::{Complete, ResponseReader};
use bench::report::Stats;
use bench::scenario::Stop;
use bench::Report;
use rustix::buffer::spare_capacity;
use rustix::event::{epoll, Timespec};
use rustix::fd::OwnedFd;
use rustix::io::Errno;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::{
    ClientSessionStore, Resumption, Tls12ClientSessionValue, Tls13ClientSessionValue,
};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, ClientConnection, DigitallySignedStruct, HandshakeKind};
use serde::{Deserialize, Serialize};

/// Sockets read per epoll wake-up at most.
const MAX_EVENTS: usize = 256;
/// How often in-flight requests are checked against the timeout.
const SWEEP_EVERY: Duration = Duration::from_millis(100);
/// Wait before reconnecting after a refused connect.
const RECONNECT_BACKOFF: Duration = Duration::from_millis(10);
/// Plaintext read buffer.
const BUF_BYTES: usize = 64 * 1024;
/// Connections opening at once in `--hold` runs.
const HOLD_RAMP: usize = 64;
/// What `--hold` prints once every connection is open and idle (the
/// harness waits for it, as for coregate-bench's).
pub const HOLD_MARKER: &str = "connections open and idle";

/// How connections are used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    /// One handshake per connection, then requests back to back.
    KeepAlive,
    /// A new connection per request, resuming a session from a ticket.
    Resumed,
    /// A new connection per request, never resuming: a full handshake each.
    Full,
}

// === impl Mode ===

impl Mode {
    /// The name on the command line (`--mode`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::KeepAlive => "keep-alive",
            Self::Resumed => "resumed",
            Self::Full => "full",
        }
    }

    /// Parses `--mode`.
    pub fn parse(text: &str) -> Result<Self, String> {
        [Self::KeepAlive, Self::Resumed, Self::Full]
            .into_iter()
            .find(|m| m.as_str() == text)
            .ok_or_else(|| format!("unknown mode {text:?}: keep-alive, resumed or full"))
    }

    fn new_connection_per_request(self) -> bool {
        self != Self::KeepAlive
    }
}

/// One run's input.
#[derive(Debug, Clone)]
pub struct Plan {
    /// `https://127.0.0.1:PORT/path`.
    pub url: String,
    /// Where to connect.
    pub addr: SocketAddr,
    /// Host header and TLS server name.
    pub host: String,
    /// Request path.
    pub path: String,
    /// Concurrent connections.
    pub connections: usize,
    /// Threads, each with its own epoll and share of the connections.
    pub threads: usize,
    /// Run length.
    pub duration: Duration,
    /// Stop after this many responses too.
    pub max_requests: Option<u64>,
    /// A request slower than this is a timeout error.
    pub timeout: Duration,
    /// How connections are used.
    pub mode: Mode,
    /// Keep-alive only: one request per connection, then hold them all
    /// idle this long (the duration bounds the opening).
    pub hold: Option<Duration>,
}

// === impl Plan ===

impl Plan {
    /// Splits `https://host:port/path`; the host must be an IP address (loopback runs).
    pub fn target(url: &str) -> Result<(SocketAddr, String, String), String> {
        let rest = url
            .strip_prefix("https://")
            .ok_or_else(|| format!("{url}: only https:// URLs"))?;
        let (authority, path) = match rest.find('/') {
            Some(at) => (&rest[..at], &rest[at..]),
            None => (rest, "/"),
        };
        let addr: SocketAddr = authority
            .parse()
            .map_err(|_| format!("{url}: expected https://IP:PORT/path"))?;
        Ok((addr, authority.to_owned(), path.to_owned()))
    }

    fn request(&self) -> Vec<u8> {
        let close = match self.mode.new_connection_per_request() {
            true => "Connection: close\r\n",
            false => "",
        };
        format!(
            "GET {} HTTP/1.1\r\nHost: {}\r\n{close}\r\n",
            self.path, self.host
        )
        .into_bytes()
    }
}

/// Handshakes seen, by kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Handshakes {
    /// Full handshakes (with or without HelloRetryRequest).
    pub full: u64,
    /// Resumed from a ticket.
    pub resumed: u64,
}

/// What `tls-load --json` writes: coregate-bench's report plus the handshakes.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TlsReport {
    /// The usual report (requests, errors, latency, …).
    #[serde(flatten)]
    pub report: Report,
    /// `keep-alive`, `resumed` or `full`.
    pub tls_mode: Mode,
    /// Handshakes completed in the run.
    pub handshakes: Handshakes,
}

/// The client config of a mode: TLS 1.3 only, ALPN http/1.1, no
/// certificate checks (see the module docs), resumption per `mode`.
pub fn client_config(mode: Mode) -> Result<Arc<ClientConfig>, String> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = ClientConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|e| e.to_string())?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AcceptAny(provider)))
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    config.resumption = match mode {
        Mode::Full => Resumption::disabled(),
        Mode::Resumed | Mode::KeepAlive => Resumption::store(Arc::new(TicketPool::default())),
    };
    Ok(Arc::new(config))
}

/// Most tickets kept.
const MAX_TICKETS: usize = 4096;

/// The client's ticket store: one server, single-use tickets (RFC 8446
/// 4.6.1, as browsers and rustls do) in a pool deep enough for every
/// connection in flight. rustls's `ClientSessionMemoryCache` keeps only 8
/// tickets per server: with 64 connections opening at once most found it
/// empty and did full handshakes (measured: 57% against nginx), which is
/// not the scenario.
#[derive(Debug, Default)]
struct TicketPool {
    // A lock is fine here: this is the load generator, not a shard, and it
    // runs on one thread by default.
    #[allow(clippy::disallowed_types)]
    inner: std::sync::Mutex<PoolInner>,
}

#[derive(Debug, Default)]
struct PoolInner {
    kx_hint: Option<rustls::NamedGroup>,
    tickets: std::collections::VecDeque<Tls13ClientSessionValue>,
}

impl TicketPool {
    fn with<T>(&self, f: impl FnOnce(&mut PoolInner) -> T) -> T {
        let mut guard = self
            .inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        f(&mut guard)
    }
}

impl ClientSessionStore for TicketPool {
    fn set_kx_hint(&self, _server: ServerName<'static>, group: rustls::NamedGroup) {
        self.with(|p| p.kx_hint = Some(group));
    }

    fn kx_hint(&self, _server: &ServerName<'_>) -> Option<rustls::NamedGroup> {
        self.with(|p| p.kx_hint)
    }

    fn set_tls12_session(&self, _server: ServerName<'static>, _value: Tls12ClientSessionValue) {}

    fn tls12_session(&self, _server: &ServerName<'_>) -> Option<Tls12ClientSessionValue> {
        None
    }

    fn remove_tls12_session(&self, _server: &ServerName<'static>) {}

    fn insert_tls13_ticket(&self, _server: ServerName<'static>, value: Tls13ClientSessionValue) {
        self.with(|p| {
            if p.tickets.len() == MAX_TICKETS {
                p.tickets.pop_front();
            }
            p.tickets.push_back(value);
        });
    }

    fn take_tls13_ticket(&self, _server: &ServerName<'static>) -> Option<Tls13ClientSessionValue> {
        self.with(|p| p.tickets.pop_back())
    }
}

/// Accepts any certificate without checking it or the handshake signature.
#[derive(Debug)]
struct AcceptAny(Arc<CryptoProvider>);

impl ServerCertVerifier for AcceptAny {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Ok(HandshakeSignatureValid::assertion())
    }

    fn verify_tls13_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Ok(HandshakeSignatureValid::assertion())
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// Runs the plan and returns its report.
pub fn run(plan: &Plan) -> Result<TlsReport, String> {
    let config = client_config(plan.mode)?;
    let name = ServerName::try_from(plan.addr.ip().to_string()).map_err(|e| e.to_string())?;
    let threads = plan.threads.clamp(1, plan.connections.max(1));
    if plan.hold.is_some() && plan.mode != Mode::KeepAlive {
        return Err("--hold needs --mode keep-alive".into());
    }
    let started = Instant::now();
    let end = started + plan.duration;
    let workers: Vec<_> = (0..threads)
        .map(|t| {
            let share = plan.connections / threads + usize::from(t < plan.connections % threads);
            let quota = plan
                .max_requests
                .map(|n| n / threads as u64 + u64::from((t as u64) < n % threads as u64));
            let worker = Worker::new(plan, &config, &name, share, quota, end);
            std::thread::spawn(move || worker.and_then(Worker::run))
        })
        .collect();
    let mut stats = Stats::new();
    let mut handshakes = Handshakes::default();
    let mut held = Vec::new();
    for worker in workers {
        let (s, h, streams) = worker
            .join()
            .map_err(|_| "a worker thread panicked".to_owned())??;
        stats.merge(&s);
        handshakes.full += h.full;
        handshakes.resumed += h.resumed;
        held.extend(streams);
    }
    let elapsed = started.elapsed();
    if let Some(hold) = plan.hold {
        eprintln!("tls-load: {} {HOLD_MARKER}, holding {hold:?}", held.len());
        std::thread::sleep(hold);
    }
    let scenario = bench::Scenario {
        addr: plan.addr,
        url: plan.url.clone(),
        connections: plan.connections,
        threads,
        stop: Stop::After(plan.duration),
        rate: None,
        close: plan.mode.new_connection_per_request(),
        no_body: false,
        timeout: plan.timeout,
        hold: plan.hold,
        requests: vec![plan.request()],
    };
    let mut report = Report::new(&scenario, &stats, elapsed);
    report.held_connections = plan.hold.map(|_| held.len() as u64);
    Ok(TlsReport {
        report,
        tls_mode: plan.mode,
        handshakes,
    })
}

/// Why a request failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Failure {
    Connect,
    Read,
    Write,
    Timeout,
    Parse,
    Closed,
}

/// One connection slot.
struct Conn {
    stream: Option<TcpStream>,
    tls: Option<ClientConnection>,
    generation: u32,
    connected: bool,
    in_flight: bool,
    counted_handshake: bool,
    started: Instant,
    reader: ResponseReader,
}

/// One epoll thread and its connections.
struct Worker {
    epoll: OwnedFd,
    config: Arc<ClientConfig>,
    name: ServerName<'static>,
    addr: SocketAddr,
    mode: Mode,
    request: Vec<u8>,
    timeout: Duration,
    end: Instant,
    quota: Option<u64>,
    issued: u64,
    hold: bool,
    unstarted: usize,
    conns: Vec<Conn>,
    retry_at: Vec<(Instant, usize)>,
    stats: Stats,
    handshakes: Handshakes,
    buf: Vec<u8>,
}

// === impl Worker ===

impl Worker {
    fn new(
        plan: &Plan,
        config: &Arc<ClientConfig>,
        name: &ServerName<'static>,
        connections: usize,
        quota: Option<u64>,
        end: Instant,
    ) -> Result<Self, String> {
        let epoll =
            epoll::create(epoll::CreateFlags::CLOEXEC).map_err(|e| format!("epoll_create: {e}"))?;
        let now = Instant::now();
        let conns = (0..connections)
            .map(|_| Conn {
                stream: None,
                tls: None,
                generation: 0,
                connected: false,
                in_flight: false,
                counted_handshake: false,
                started: now,
                reader: ResponseReader::default(),
            })
            .collect();
        Ok(Self {
            epoll,
            config: config.clone(),
            name: name.clone(),
            addr: plan.addr,
            mode: plan.mode,
            request: plan.request(),
            timeout: plan.timeout,
            end,
            quota,
            issued: 0,
            hold: plan.hold.is_some(),
            unstarted: 0,
            conns,
            retry_at: Vec::new(),
            stats: Stats::new(),
            handshakes: Handshakes::default(),
            buf: vec![0; BUF_BYTES],
        })
    }

    fn run(mut self) -> Result<(Stats, Handshakes, Vec<TcpStream>), String> {
        self.unstarted = match self.hold {
            true => HOLD_RAMP.min(self.conns.len()),
            false => self.conns.len(),
        };
        for idx in 0..self.unstarted {
            self.start(idx);
        }
        let mut events = Vec::with_capacity(MAX_EVENTS);
        let mut next_sweep = Instant::now() + SWEEP_EVERY;
        loop {
            let now = Instant::now();
            if now >= self.end || self.quota.is_some_and(|q| self.stats.responses >= q) {
                break;
            }
            if self.hold
                && self.unstarted == self.conns.len()
                && !self.conns.iter().any(|c| c.in_flight)
            {
                break;
            }
            let wait = next_sweep.min(self.end).saturating_duration_since(now);
            let timeout = Timespec {
                tv_sec: wait.as_secs() as i64,
                tv_nsec: i64::from(wait.subsec_nanos()),
            };
            match epoll::wait(&self.epoll, spare_capacity(&mut events), Some(&timeout)) {
                Ok(_) | Err(Errno::INTR) => {}
                Err(e) => return Err(format!("epoll_wait: {e}")),
            }
            for event in events.drain(..) {
                self.on_event(event.data.u64(), event.flags);
            }
            let now = Instant::now();
            if now >= next_sweep {
                self.sweep(now);
                next_sweep = now + SWEEP_EVERY;
            }
        }
        let held = match self.hold {
            true => self
                .conns
                .iter_mut()
                .filter_map(|c| c.stream.take())
                .collect(),
            false => Vec::new(),
        };
        Ok((self.stats, self.handshakes, held))
    }

    fn may_issue(&self) -> bool {
        Instant::now() < self.end && self.quota.is_none_or(|q| self.issued < q)
    }

    /// Starts the slot's next request, on a new connection when it has none.
    fn start(&mut self, idx: usize) {
        if !self.may_issue() {
            return;
        }
        self.issued += 1;
        let conn = &mut self.conns[idx];
        conn.in_flight = true;
        conn.started = Instant::now();
        if conn.stream.is_none() {
            return self.open(idx);
        }
        if let Some(tls) = conn.tls.as_mut() {
            // Buffered in rustls; cannot fail short of a closed connection.
            if tls.writer().write_all(&self.request).is_err() {
                return self.fail(idx, Failure::Write);
            }
        }
        self.flush(idx);
    }

    /// A non-blocking connect with a fresh TLS session; the request waits
    /// in rustls until the handshake is done.
    fn open(&mut self, idx: usize) {
        let conn = &mut self.conns[idx];
        conn.generation = conn.generation.wrapping_add(1);
        conn.connected = false;
        conn.counted_handshake = false;
        conn.reader.reset();
        let token = (u64::from(conn.generation) << 32) | idx as u64;
        let tls = ClientConnection::new(self.config.clone(), self.name.clone());
        let (Ok(stream), Ok(mut tls)) = (connect(self.addr, &self.epoll, token), tls) else {
            return self.fail(idx, Failure::Connect);
        };
        self.stats.connects += 1;
        if tls.writer().write_all(&self.request).is_err() {
            return self.fail(idx, Failure::Write);
        }
        conn.stream = Some(stream);
        conn.tls = Some(tls);
    }

    fn on_event(&mut self, token: u64, flags: epoll::EventFlags) {
        let idx = (token & u64::from(u32::MAX)) as usize;
        let Some(conn) = self.conns.get_mut(idx) else {
            return;
        };
        if conn.generation != (token >> 32) as u32 || conn.stream.is_none() {
            return;
        }
        if !conn.connected {
            let Some(stream) = conn.stream.as_ref() else {
                return;
            };
            match rustix::net::sockopt::socket_error(stream) {
                Ok(Ok(())) if !flags.contains(epoll::EventFlags::ERR) => conn.connected = true,
                _ => return self.fail(idx, Failure::Connect),
            }
        }
        if flags.contains(epoll::EventFlags::OUT) {
            self.flush(idx);
        }
        let readable = epoll::EventFlags::IN
            | epoll::EventFlags::HUP
            | epoll::EventFlags::ERR
            | epoll::EventFlags::RDHUP;
        if flags.intersects(readable) {
            self.read(idx);
        }
    }

    /// Writes what rustls has queued until the socket is full.
    fn flush(&mut self, idx: usize) {
        let conn = &mut self.conns[idx];
        let (Some(stream), Some(tls)) = (conn.stream.as_mut(), conn.tls.as_mut()) else {
            return;
        };
        if !conn.connected {
            return;
        }
        while tls.wants_write() {
            match tls.write_tls(stream) {
                Ok(n) => self.stats.bytes_written += n as u64,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(_) => return self.fail(idx, Failure::Write),
            }
        }
    }

    /// Reads TLS records until the socket is drained or the response is done.
    fn read(&mut self, idx: usize) {
        loop {
            let generation = self.conns[idx].generation;
            let conn = &mut self.conns[idx];
            let (Some(stream), Some(tls)) = (conn.stream.as_mut(), conn.tls.as_mut()) else {
                return;
            };
            let eof = match tls.read_tls(stream) {
                Ok(0) => true,
                Ok(n) => {
                    self.stats.bytes_read += n as u64;
                    false
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(_) => return self.fail(idx, Failure::Read),
            };
            if tls.process_new_packets().is_err() {
                return self.fail(idx, Failure::Read);
            }
            self.plaintext(idx);
            if self.conns[idx].generation != generation || self.conns[idx].stream.is_none() {
                return; // completed (and maybe reopened) or failed
            }
            self.flush(idx);
            if eof {
                return self.on_eof(idx);
            }
        }
    }

    /// Feeds decrypted bytes to the response framer.
    fn plaintext(&mut self, idx: usize) {
        loop {
            let conn = &mut self.conns[idx];
            let Some(tls) = conn.tls.as_mut() else { return };
            let n = match tls.reader().read(&mut self.buf) {
                Ok(0) => return self.on_eof(idx), // close_notify
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(_) => return self.on_eof(idx),
            };
            if !conn.in_flight {
                return self.fail(idx, Failure::Parse);
            }
            match conn.reader.feed(&self.buf[..n], false) {
                Ok(fed) if fed.consumed < n && fed.complete.is_some() => {
                    return self.fail(idx, Failure::Parse)
                }
                Ok(fed) => {
                    if let Some(complete) = fed.complete {
                        return self.complete(idx, complete);
                    }
                }
                Err(_) => return self.fail(idx, Failure::Parse),
            }
        }
    }

    fn on_eof(&mut self, idx: usize) {
        match self.conns[idx].reader.on_eof() {
            Some(complete) => self.complete(idx, complete),
            None if self.conns[idx].in_flight => self.fail(idx, Failure::Closed),
            None => self.close(idx),
        }
    }

    /// Records a response and starts the slot's next request.
    fn complete(&mut self, idx: usize, response: Complete) {
        let conn = &mut self.conns[idx];
        conn.in_flight = false;
        self.stats.record(response.status, conn.started.elapsed());
        if !conn.counted_handshake {
            conn.counted_handshake = true;
            match conn.tls.as_ref().and_then(|t| t.handshake_kind()) {
                Some(HandshakeKind::Resumed) => self.handshakes.resumed += 1,
                Some(_) => self.handshakes.full += 1,
                None => {}
            }
        }
        if response.close || self.mode.new_connection_per_request() {
            self.close(idx);
        }
        if !self.hold {
            return self.start(idx);
        }
        if self.unstarted < self.conns.len() {
            self.unstarted += 1;
            self.start(self.unstarted - 1);
        }
    }

    fn fail(&mut self, idx: usize, failure: Failure) {
        let was_in_flight = std::mem::replace(&mut self.conns[idx].in_flight, false);
        if was_in_flight || failure == Failure::Connect {
            let errors = &mut self.stats.errors;
            *match failure {
                Failure::Connect => &mut errors.connect,
                Failure::Read => &mut errors.read,
                Failure::Write => &mut errors.write,
                Failure::Timeout => &mut errors.timeout,
                Failure::Parse => &mut errors.parse,
                Failure::Closed => &mut errors.closed,
            } += 1;
        }
        self.close(idx);
        if self.hold {
            // One try per connection: a failed one is not held.
            if self.unstarted < self.conns.len() {
                self.unstarted += 1;
                self.start(self.unstarted - 1);
            }
        } else if failure == Failure::Connect {
            self.retry_at
                .push((Instant::now() + RECONNECT_BACKOFF, idx));
        } else if was_in_flight {
            self.start(idx);
        }
    }

    /// Sends close_notify (best effort, like wrk's SSL_shutdown) and closes.
    fn close(&mut self, idx: usize) {
        let conn = &mut self.conns[idx];
        if let (Some(stream), Some(tls)) = (conn.stream.as_mut(), conn.tls.as_mut()) {
            if conn.connected {
                tls.send_close_notify();
                let _ = tls.write_tls(stream);
            }
        }
        conn.stream = None;
        conn.tls = None;
        conn.connected = false;
        conn.reader.reset();
    }

    /// Times out slow requests and retries refused connects.
    fn sweep(&mut self, now: Instant) {
        for idx in 0..self.conns.len() {
            let conn = &self.conns[idx];
            if conn.in_flight && now.saturating_duration_since(conn.started) > self.timeout {
                self.fail(idx, Failure::Timeout);
            }
        }
        let (due, later) = self.retry_at.drain(..).partition(|(at, _)| *at <= now);
        self.retry_at = later;
        for (_, idx) in due {
            if !self.conns[idx].in_flight && self.conns[idx].stream.is_none() {
                self.start(idx);
            }
        }
    }
}

/// A non-blocking TCP socket with TCP_NODELAY connecting to `addr`, in
/// `epoll` edge-triggered for reads and writes (the plain load
/// generator's own connect).
fn connect(addr: SocketAddr, epoll_fd: &OwnedFd, token: u64) -> rustix::io::Result<TcpStream> {
    bench::loadgen::connect(addr, epoll_fd, token).map(TcpStream::from)
}

/// Handshake counts by kind from a report file's `handshakes` field.
pub fn handshakes_of(json: &str) -> Option<Handshakes> {
    let value: BTreeMap<String, serde_json::Value> = serde_json::from_str(json).ok()?;
    serde_json::from_value(value.get("handshakes")?.clone()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets() {
        let (addr, host, path) = Plan::target("https://127.0.0.1:8443/16k").unwrap();
        assert_eq!(addr.port(), 8443);
        assert_eq!(host, "127.0.0.1:8443");
        assert_eq!(path, "/16k");
        assert_eq!(Plan::target("https://127.0.0.1:1").unwrap().2, "/");
        assert!(Plan::target("http://127.0.0.1:1/").is_err());
        assert!(Plan::target("https://localhost:1/").is_err());
    }

    #[test]
    fn modes() {
        for mode in [Mode::KeepAlive, Mode::Resumed, Mode::Full] {
            assert_eq!(Mode::parse(mode.as_str()).unwrap(), mode);
        }
        assert!(Mode::parse("x").is_err());
        assert!(client_config(Mode::Full).is_ok());
    }

    #[test]
    fn report_round_trip() {
        let report = TlsReport {
            report: Report::default(),
            tls_mode: Mode::Resumed,
            handshakes: Handshakes {
                full: 64,
                resumed: 1000,
            },
        };
        let json = serde_json::to_string(&report).unwrap();
        assert_eq!(handshakes_of(&json).unwrap().resumed, 1000);
        let plain: Report = serde_json::from_str(&json).unwrap();
        assert_eq!(plain, Report::default());
    }
}
