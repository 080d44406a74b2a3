//! A minimal, fast origin for benchmarks: answers every request with the
//! same `200 OK` and N body bytes, keep-alive, over edge-triggered epoll.
//!
//! Request heads are parsed with httparse straight from the thread's read
//! buffer; request bodies (Content-Length) are skipped by counting. The
//! response bytes are built once. `Connection: close` is honoured.
//! Chunked request bodies are not supported (answered, then closed).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

use rustix::buffer::spare_capacity;
use rustix::event::{epoll, Timespec};
use rustix::fd::OwnedFd;
use rustix::io::Errno;
use rustix::net::{AddressFamily, SendFlags, SocketFlags, SocketType};

use crate::error::BenchError;

/// Listen backlog.
const BACKLOG: i32 = 4096;
/// Size of each thread's read buffer.
const READ_BUF_BYTES: usize = 64 * 1024;
/// Largest request head kept across reads.
const MAX_HEAD_BYTES: usize = 64 * 1024;
/// Most request headers parsed.
const MAX_HEADERS: usize = 64;
/// How often a thread checks whether it should stop.
const STOP_CHECK: Timespec = Timespec {
    tv_sec: 0,
    tv_nsec: 100_000_000,
};
/// Token of the listening socket.
const LISTENER: u64 = u64::MAX;
/// Body bytes.
const BODY_PATTERN: &[u8] = b"coregate-bench origin ";

/// A running origin.
#[derive(Debug)]
pub struct Origin {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    served: Arc<AtomicU64>,
    threads: Vec<JoinHandle<Result<(), BenchError>>>,
}

// === impl Origin ===

impl Origin {
    /// Binds `addr` (port 0 picks one) and serves on `threads` threads, each
    /// with its own SO_REUSEPORT listener.
    pub fn start(addr: SocketAddr, body_size: usize, threads: usize) -> Result<Self, BenchError> {
        let first = listen(addr)?;
        let addr = rustix::net::getsockname(&first)
            .ok()
            .and_then(|a| SocketAddr::try_from(a).ok())
            .ok_or_else(|| BenchError::io("getsockname", addr, Errno::INVAL))?;
        let responses = Arc::new(Responses::new(body_size));
        let stop = Arc::new(AtomicBool::new(false));
        let served = Arc::new(AtomicU64::new(0));
        let mut handles = Vec::new();
        let mut listener = Some(first);
        for index in 0..threads.max(1) {
            let fd = match listener.take() {
                Some(fd) => fd,
                None => listen(addr)?,
            };
            let server = Server::new(
                fd,
                Arc::clone(&responses),
                Arc::clone(&stop),
                Arc::clone(&served),
            )?;
            let spawned = std::thread::Builder::new()
                .name(format!("origin-{index}"))
                .spawn(move || server.run());
            handles.push(spawned.map_err(|e| BenchError::io("spawn", "origin thread", e))?);
        }
        Ok(Self {
            addr,
            stop,
            served,
            threads: handles,
        })
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Requests answered so far.
    pub fn served(&self) -> u64 {
        self.served.load(Ordering::Relaxed)
    }

    /// Serves until the process ends.
    pub fn wait(self) -> Result<(), BenchError> {
        for handle in self.threads {
            handle
                .join()
                .map_err(|_| BenchError::InvalidOptions("an origin thread panicked".into()))??;
        }
        Ok(())
    }

    /// Stops the threads (within 100 ms) and waits for them.
    pub fn stop(self) -> Result<(), BenchError> {
        self.stop.store(true, Ordering::Relaxed);
        self.wait()
    }
}

/// The two responses, built once.
#[derive(Debug)]
struct Responses {
    keep_alive: Vec<u8>,
    close: Vec<u8>,
}

// === impl Responses ===

impl Responses {
    fn new(body_size: usize) -> Self {
        let body: Vec<u8> = BODY_PATTERN
            .iter()
            .copied()
            .cycle()
            .take(body_size)
            .collect();
        let build = |connection: &str| {
            let head = format!(
                "HTTP/1.1 200 OK\r\nServer: coregate-bench\r\nContent-Type: text/plain\r\nContent-Length: {body_size}\r\n{connection}\r\n"
            );
            [head.as_bytes(), &body].concat()
        };
        Self {
            keep_alive: build(""),
            close: build("Connection: close\r\n"),
        }
    }
}

fn listen(addr: SocketAddr) -> Result<OwnedFd, BenchError> {
    let family = if addr.is_ipv4() {
        AddressFamily::INET
    } else {
        AddressFamily::INET6
    };
    let fail = |op| move |e| BenchError::io(op, addr, e);
    let fd = rustix::net::socket_with(
        family,
        SocketType::STREAM,
        SocketFlags::NONBLOCK | SocketFlags::CLOEXEC,
        None,
    )
    .map_err(fail("socket"))?;
    rustix::net::sockopt::set_socket_reuseaddr(&fd, true).map_err(fail("SO_REUSEADDR"))?;
    rustix::net::sockopt::set_socket_reuseport(&fd, true).map_err(fail("SO_REUSEPORT"))?;
    rustix::net::bind(&fd, &addr).map_err(fail("bind"))?;
    rustix::net::listen(&fd, BACKLOG).map_err(fail("listen"))?;
    Ok(fd)
}

/// One served connection.
#[derive(Debug, Default)]
struct Peer {
    fd: Option<OwnedFd>,
    /// Part of a request head split across reads.
    partial: Vec<u8>,
    /// Request body bytes still to skip.
    body_left: u64,
    /// Responses owed, and how much of the first is written.
    owed: u64,
    offset: usize,
    /// Close once the owed responses are written.
    close_after: bool,
}

/// One origin thread.
struct Server {
    listener: OwnedFd,
    epoll: OwnedFd,
    peers: Vec<Peer>,
    free: Vec<usize>,
    buf: Box<[u8]>,
    responses: Arc<Responses>,
    stop: Arc<AtomicBool>,
    served: Arc<AtomicU64>,
}

// === impl Server ===

impl Server {
    fn new(
        listener: OwnedFd,
        responses: Arc<Responses>,
        stop: Arc<AtomicBool>,
        served: Arc<AtomicU64>,
    ) -> Result<Self, BenchError> {
        let epoll = epoll::create(epoll::CreateFlags::CLOEXEC)
            .map_err(|e| BenchError::io("epoll_create", "", e))?;
        epoll::add(
            &epoll,
            &listener,
            epoll::EventData::new_u64(LISTENER),
            epoll::EventFlags::IN,
        )
        .map_err(|e| BenchError::io("epoll_ctl", "listener", e))?;
        let buf = vec![0; READ_BUF_BYTES].into_boxed_slice();
        Ok(Self {
            listener,
            epoll,
            peers: Vec::new(),
            free: Vec::new(),
            buf,
            responses,
            stop,
            served,
        })
    }

    fn run(mut self) -> Result<(), BenchError> {
        let mut events = Vec::with_capacity(1024);
        while !self.stop.load(Ordering::Relaxed) {
            match epoll::wait(&self.epoll, spare_capacity(&mut events), Some(&STOP_CHECK)) {
                Ok(_) | Err(Errno::INTR) => {}
                Err(e) => return Err(BenchError::io("epoll_wait", "origin", e)),
            }
            for event in events.drain(..) {
                match event.data.u64() {
                    LISTENER => self.accept(),
                    token => self.serve(token as usize, event.flags),
                }
            }
        }
        Ok(())
    }

    fn accept(&mut self) {
        loop {
            let fd = match rustix::net::accept_with(
                &self.listener,
                SocketFlags::NONBLOCK | SocketFlags::CLOEXEC,
            ) {
                Ok(fd) => fd,
                Err(Errno::INTR | Errno::CONNABORTED) => continue,
                Err(_) => return, // EAGAIN, or out of fds: retried on the next wake-up
            };
            let _ = rustix::net::sockopt::set_tcp_nodelay(&fd, true);
            let idx = self.free.pop().unwrap_or_else(|| {
                self.peers.push(Peer::default());
                self.peers.len() - 1
            });
            let interest = epoll::EventFlags::IN
                | epoll::EventFlags::OUT
                | epoll::EventFlags::RDHUP
                | epoll::EventFlags::ET;
            if epoll::add(
                &self.epoll,
                &fd,
                epoll::EventData::new_u64(idx as u64),
                interest,
            )
            .is_err()
            {
                self.free.push(idx);
                continue;
            }
            self.peers[idx] = Peer {
                fd: Some(fd),
                ..Peer::default()
            };
        }
    }

    fn serve(&mut self, idx: usize, flags: epoll::EventFlags) {
        if self.peers.get(idx).is_none_or(|p| p.fd.is_none()) {
            return;
        }
        if flags.intersects(
            epoll::EventFlags::IN
                | epoll::EventFlags::HUP
                | epoll::EventFlags::ERR
                | epoll::EventFlags::RDHUP,
        ) && !self.read(idx)
        {
            return self.drop_peer(idx);
        }
        if !self.write(idx) {
            self.drop_peer(idx);
        }
    }

    /// Reads and parses what arrived; false when the connection must go.
    fn read(&mut self, idx: usize) -> bool {
        loop {
            let Some(fd) = self.peers[idx].fd.as_ref() else {
                return false;
            };
            let n = match rustix::io::read(fd, &mut self.buf[..]) {
                Ok(0) => return false,
                Ok(n) => n,
                Err(Errno::INTR) => continue,
                Err(Errno::AGAIN) => return true,
                Err(_) => return false,
            };
            let owed_before = self.peers[idx].owed;
            if !consume(&mut self.peers[idx], &self.buf[..n]) {
                return false;
            }
            self.served
                .fetch_add(self.peers[idx].owed - owed_before, Ordering::Relaxed);
            if n < self.buf.len() {
                return true;
            }
        }
    }

    /// Writes owed responses; false when the connection must go.
    fn write(&mut self, idx: usize) -> bool {
        let peer = &mut self.peers[idx];
        let Some(fd) = peer.fd.as_ref() else {
            return false;
        };
        let response = if peer.close_after {
            &self.responses.close
        } else {
            &self.responses.keep_alive
        };
        while peer.owed > 0 {
            match rustix::net::send(fd, &response[peer.offset..], SendFlags::NOSIGNAL) {
                Ok(n) => peer.offset += n,
                Err(Errno::INTR) => continue,
                Err(Errno::AGAIN) => return true,
                Err(_) => return false,
            }
            if peer.offset == response.len() {
                peer.offset = 0;
                peer.owed -= 1;
            }
        }
        !peer.close_after
    }

    fn drop_peer(&mut self, idx: usize) {
        self.peers[idx] = Peer::default();
        self.free.push(idx);
    }
}

/// Parses requests out of `input`, counting the responses owed. False on a
/// malformed or unsupported request.
fn consume(peer: &mut Peer, mut input: &[u8]) -> bool {
    while !input.is_empty() {
        if peer.body_left > 0 {
            let skip = peer.body_left.min(input.len() as u64);
            peer.body_left -= skip;
            input = &input[skip as usize..];
            continue;
        }
        if peer.close_after {
            return true; // ignore anything after Connection: close
        }
        let used = if peer.partial.is_empty() {
            match parse_request(input) {
                Ok(Some((len, request))) => owe(peer, len, request),
                Ok(None) => return keep_partial(peer, input),
                Err(()) => return false,
            }
        } else {
            let before = peer.partial.len();
            if !keep_partial(peer, input) {
                return false;
            }
            match parse_request(&peer.partial) {
                Ok(Some((len, request))) => {
                    peer.partial.clear();
                    owe(peer, len - before, request)
                }
                Ok(None) => return true,
                Err(()) => return false,
            }
        };
        input = &input[used..];
    }
    true
}

fn keep_partial(peer: &mut Peer, input: &[u8]) -> bool {
    if peer.partial.len() + input.len() > MAX_HEAD_BYTES {
        return false;
    }
    peer.partial.extend_from_slice(input);
    true
}

fn owe(peer: &mut Peer, used: usize, request: RequestInfo) -> usize {
    peer.owed += 1;
    peer.body_left = request.body;
    peer.close_after = request.close;
    used
}

/// What the origin needs to know about a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct RequestInfo {
    body: u64,
    close: bool,
}

/// Parses one request head: `Ok(None)` when incomplete.
fn parse_request(buf: &[u8]) -> Result<Option<(usize, RequestInfo)>, ()> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut request = httparse::Request::new(&mut headers);
    let len = match request.parse(buf) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(_) => return Err(()),
    };
    let mut info = RequestInfo {
        body: 0,
        close: request.version == Some(0),
    };
    for header in request.headers.iter() {
        let value = header.value.trim_ascii();
        if header.name.eq_ignore_ascii_case("content-length") {
            info.body = std::str::from_utf8(value)
                .ok()
                .and_then(|v| v.parse().ok())
                .ok_or(())?;
        } else if header.name.eq_ignore_ascii_case("connection") {
            info.close = value.eq_ignore_ascii_case(b"close")
                || (info.close && !value.eq_ignore_ascii_case(b"keep-alive"));
        } else if header.name.eq_ignore_ascii_case("transfer-encoding") {
            info.close = true; // chunked bodies are not read: answer, then close
        }
    }
    Ok(Some((len, info)))
}

/// Runs the origin in the foreground (the `origin` subcommand).
pub fn serve_forever(addr: SocketAddr, body_size: usize, threads: usize) -> Result<(), BenchError> {
    let origin = Origin::start(addr, body_size, threads)?;
    eprintln!(
        "coregate-bench origin listening on http://{} ({body_size}-byte body, {threads} thread(s))",
        origin.addr()
    );
    origin.wait()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_split_anywhere() {
        let two = b"POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\nbodyGET /b HTTP/1.1\r\nHost: x\r\n\r\n";
        for step in 1..=two.len() {
            let mut peer = Peer::default();
            for piece in two.chunks(step) {
                assert!(consume(&mut peer, piece), "step {step}");
            }
            assert_eq!(peer.owed, 2, "step {step}");
            assert_eq!(peer.body_left, 0);
            assert!(peer.partial.is_empty());
        }
    }

    #[test]
    fn connection_close_and_http10() {
        let mut peer = Peer::default();
        assert!(consume(
            &mut peer,
            b"GET / HTTP/1.1\r\nConnection: close\r\n\r\nGET / HTTP/1.1\r\n\r\n"
        ));
        assert_eq!((peer.owed, peer.close_after), (1, true));
        let mut old = Peer::default();
        assert!(consume(&mut old, b"GET / HTTP/1.0\r\n\r\n"));
        assert!(old.close_after);
        let mut kept = Peer::default();
        assert!(consume(
            &mut kept,
            b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"
        ));
        assert!(!kept.close_after);
    }

    #[test]
    fn malformed_requests_are_refused() {
        assert!(!consume(&mut Peer::default(), b"\x01\x02 nonsense\r\n\r\n"));
        assert!(!consume(
            &mut Peer::default(),
            b"GET / HTTP/1.1\r\nContent-Length: z\r\n\r\n"
        ));
    }

    #[test]
    fn responses_have_the_body_size() {
        let responses = Responses::new(100);
        let text = String::from_utf8(responses.keep_alive.clone()).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        assert!(head.contains("Content-Length: 100"));
        assert_eq!(body.len(), 100);
        assert!(String::from_utf8_lossy(&responses.close).contains("Connection: close"));
    }
}
