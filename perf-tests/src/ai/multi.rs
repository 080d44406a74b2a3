//! The many-connection client: one thread, nonblocking sockets in one
//! edge-triggered epoll. Closed loop (each connection sends its next request
//! when an answer is complete) for the throughput and CPU scenarios, or one
//! request per connection, opened in batches, for the 10,000-stream one.
//! It read 271k SSE frames/s from 64 streams on CPU 0 of the 2-core VM
//! (2026-12-03, beside the mock).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::os::fd::OwnedFd;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use rustix::event::{epoll, Timespec};
use rustix::io::Errno;

use crate::ai::client::ns_histogram;
use crate::ai::http::Reader;

/// Events taken per wait.
const MAX_EVENTS: usize = 1024;
/// Longest epoll wait, so that phases and samples stay on time.
const TICK: Duration = Duration::from_millis(10);
/// Examples of each kind of failure kept for the report.
const EXAMPLES: usize = 3;

/// What a load does.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Where it goes.
    pub addr: SocketAddr,
    /// Connections.
    pub conns: usize,
    /// The request each connection sends.
    pub request: Vec<u8>,
    /// Load before the counted window (nothing is counted in it).
    pub warmup: Duration,
    /// The counted window; with `repeat` off, the longest wait for all answers.
    pub measure: Duration,
    /// Closed loop; otherwise one request per connection.
    pub repeat: bool,
    /// Connections opened at a time, every `open_every`.
    pub open_batch: usize,
    /// Pause between two batches.
    pub open_every: Duration,
}

/// Moments the caller hears about, to sample /proc.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mark {
    /// The counted window starts.
    Start,
    /// A tick inside the window, with the connections open now.
    Tick(usize),
    /// The counted window ends.
    End,
}

/// What the counted window saw.
#[derive(Debug, Clone)]
pub struct Tally {
    /// Complete 200 answers.
    pub ok: u64,
    /// Complete answers with another status.
    pub bad_status: u64,
    /// Connections that could not be opened (the connect failed or was
    /// refused before the request went out); not in `errors`.
    pub connect_errors: u64,
    /// Connections that failed or closed mid-answer after the request went out.
    pub errors: u64,
    /// Answers that were not 200, by status.
    pub bad_by_status: BTreeMap<u16, u64>,
    /// Connect errors and errors, by cause (`connect: ECONNREFUSED`,
    /// `closed before the response head`...).
    pub failures: BTreeMap<String, u64>,
    /// The first answers that were not 200: status and the body's start.
    pub bad_examples: Vec<String>,
    /// SSE frames received in the window.
    pub frames: u64,
    /// Latency of each complete answer (ns).
    pub hist: Histogram<u64>,
    /// Complete answers by their frame count: (frames, saw `[DONE]`) → answers.
    pub shapes: BTreeMap<(u64, bool), u64>,
    /// Answers still open when the window ended.
    pub unfinished: u64,
    /// The window's length.
    pub elapsed: Duration,
}

struct Conn {
    fd: Option<OwnedFd>,
    written: usize,
    /// Bytes read of the current answer.
    read: usize,
    started: Instant,
    reader: Reader,
    busy: bool,
}

/// Runs `plan`; `mark` hears the window's start, its ticks and its end.
pub fn run(plan: &Plan, mark: &mut dyn FnMut(Mark)) -> Result<Tally, String> {
    let mut load = Load::new(plan)?;
    load.drive(mark)
}

struct Load<'a> {
    plan: &'a Plan,
    epoll: OwnedFd,
    conns: Vec<Conn>,
    opened: usize,
    counting: bool,
    tally: Tally,
    buf: Vec<u8>,
}

impl<'a> Load<'a> {
    fn new(plan: &'a Plan) -> Result<Self, String> {
        let epoll = epoll::create(epoll::CreateFlags::CLOEXEC).map_err(|e| e.to_string())?;
        Ok(Self {
            plan,
            epoll,
            conns: Vec::with_capacity(plan.conns),
            opened: 0,
            counting: plan.warmup.is_zero(),
            tally: empty_tally(),
            buf: vec![0u8; 256 * 1024],
        })
    }

    fn drive(&mut self, mark: &mut dyn FnMut(Mark)) -> Result<Tally, String> {
        let begin = Instant::now();
        let window_start = begin + self.plan.warmup;
        let window_end = window_start + self.plan.measure;
        let mut next_open = begin;
        let mut events = Vec::with_capacity(MAX_EVENTS);
        if self.counting {
            mark(Mark::Start);
        }
        loop {
            let now = Instant::now();
            if !self.counting && now >= window_start {
                self.counting = true;
                self.tally = empty_tally();
                mark(Mark::Start);
            }
            if now >= window_end || (!self.plan.repeat && self.all_answered()) {
                break;
            }
            if self.opened < self.plan.conns && now >= next_open {
                self.open_batch(now)?;
                next_open = now + self.plan.open_every;
            }
            self.wait(&mut events)?;
            if self.counting {
                mark(Mark::Tick(self.open_now()));
            }
        }
        mark(Mark::End);
        self.tally.elapsed = Instant::now().saturating_duration_since(window_start);
        self.tally.unfinished = self.conns.iter().filter(|c| c.busy).count() as u64;
        Ok(self.tally.clone())
    }

    fn all_answered(&self) -> bool {
        self.opened == self.plan.conns && self.conns.iter().all(|c| !c.busy)
    }

    fn open_now(&self) -> usize {
        self.conns.iter().filter(|c| c.fd.is_some()).count()
    }

    fn open_batch(&mut self, now: Instant) -> Result<(), String> {
        let n = self.plan.open_batch.min(self.plan.conns - self.opened);
        for _ in 0..n {
            let token = self.conns.len() as u64;
            let fd = match connect(self.plan.addr, &self.epoll, token) {
                Ok(fd) => Some(fd),
                Err(e) => {
                    self.connect_failed(e);
                    None
                }
            };
            let busy = fd.is_some();
            self.conns.push(fresh_conn(fd, now, busy));
            self.opened += 1;
        }
        Ok(())
    }

    /// Counts a connect that failed (in the window).
    fn connect_failed(&mut self, e: Errno) {
        if self.counting {
            self.tally.connect_errors += 1;
            *self
                .tally
                .failures
                .entry(format!("connect: {}", errno_name(e)))
                .or_default() += 1;
        }
    }

    fn wait(&mut self, events: &mut Vec<epoll::Event>) -> Result<(), String> {
        let timeout = Timespec {
            tv_sec: 0,
            tv_nsec: TICK.as_nanos() as i64,
        };
        let spare = rustix::buffer::spare_capacity(events);
        match epoll::wait(&self.epoll, spare, Some(&timeout)) {
            Ok(_) | Err(Errno::INTR) => {}
            Err(e) => return Err(format!("epoll_wait: {e}")),
        }
        for event in events.drain(..) {
            let idx = event.data.u64() as usize;
            self.on_event(idx, event.flags);
        }
        Ok(())
    }

    fn on_event(&mut self, idx: usize, flags: epoll::EventFlags) {
        if flags.contains(epoll::EventFlags::ERR) {
            let err = self
                .conns
                .get(idx)
                .and_then(|c| c.fd.as_ref())
                .and_then(|fd| rustix::net::sockopt::socket_error(fd).ok())
                .and_then(Result::err);
            return self.fail(idx, Why::Socket(err));
        }
        if flags.contains(epoll::EventFlags::OUT) {
            self.write(idx);
        }
        if flags
            .intersects(epoll::EventFlags::IN | epoll::EventFlags::HUP | epoll::EventFlags::RDHUP)
        {
            self.read(idx);
        }
    }

    fn write(&mut self, idx: usize) {
        let Some(conn) = self.conns.get_mut(idx) else {
            return;
        };
        let Some(fd) = conn.fd.as_ref() else { return };
        let request = &self.plan.request;
        while conn.busy && conn.written < request.len() {
            match rustix::io::write(fd, &request[conn.written..]) {
                Ok(n) => conn.written += n,
                // Not writable yet (EAGAIN is EWOULDBLOCK here) or still
                // connecting: the edge-triggered OUT comes when it is.
                Err(Errno::AGAIN) | Err(Errno::NOTCONN) | Err(Errno::INPROGRESS) => return,
                Err(Errno::INTR) => {}
                Err(e) => return self.fail(idx, Why::Write(e)),
            }
        }
    }

    fn read(&mut self, idx: usize) {
        loop {
            let Some(fd) = self.conns.get(idx).and_then(|c| c.fd.as_ref()) else {
                return;
            };
            let n = match rustix::io::read(fd, &mut self.buf[..]) {
                Ok(0) => return self.fail(idx, Why::Closed),
                Ok(n) => n,
                // Drained (EAGAIN is EWOULDBLOCK here): wait for the next edge.
                Err(Errno::AGAIN) => return,
                Err(Errno::INTR) => continue,
                Err(e) => return self.fail(idx, Why::Read(e)),
            };
            if let Err(e) = self.take(idx, n) {
                return self.fail(idx, Why::Bad(e));
            }
        }
    }

    /// Feeds `n` bytes of the buffer to connection `idx`.
    fn take(&mut self, idx: usize, n: usize) -> Result<(), String> {
        let Some(conn) = self.conns.get_mut(idx) else {
            return Ok(());
        };
        conn.read += n;
        let fed = conn.reader.feed(&self.buf[..n])?;
        if self.counting {
            self.tally.frames += fed.frames;
        }
        if conn.reader.complete() {
            self.answered(idx);
        }
        Ok(())
    }

    fn answered(&mut self, idx: usize) {
        let Some(conn) = self.conns.get_mut(idx) else {
            return;
        };
        let now = Instant::now();
        if self.counting {
            let t = &mut self.tally;
            if conn.reader.status == 200 {
                t.ok += 1;
            } else {
                t.bad_status += 1;
                *t.bad_by_status.entry(conn.reader.status).or_default() += 1;
                if t.bad_examples.len() < EXAMPLES {
                    t.bad_examples.push(conn.reader.describe());
                }
            }
            let ns = now.saturating_duration_since(conn.started).as_nanos() as u64;
            let _ = t.hist.record(ns.max(1));
            let shape = (conn.reader.frames, conn.reader.saw_done());
            *t.shapes.entry(shape).or_default() += 1;
        }
        conn.busy = false;
        if self.plan.repeat {
            conn.reader.reset();
            conn.written = 0;
            conn.read = 0;
            conn.started = now;
            conn.busy = true;
            self.write(idx);
        }
    }

    /// Counts a failure and closes the connection; a closed loop reopens it.
    fn fail(&mut self, idx: usize, why: Why) {
        let Some(conn) = self.conns.get_mut(idx) else {
            return;
        };
        if conn.fd.take().is_none() {
            return;
        }
        let (busy, sent, read) = (conn.busy, conn.written > 0, conn.read);
        conn.busy = false;
        if self.counting && busy {
            let t = &mut self.tally;
            if sent {
                t.errors += 1;
            } else {
                t.connect_errors += 1;
            }
            *t.failures.entry(why.describe(sent, read)).or_default() += 1;
        }
        if !self.plan.repeat {
            return;
        }
        match connect(self.plan.addr, &self.epoll, idx as u64) {
            Ok(fd) => {
                if let Some(conn) = self.conns.get_mut(idx) {
                    *conn = fresh_conn(Some(fd), Instant::now(), true);
                }
            }
            Err(e) => self.connect_failed(e),
        }
    }
}

/// A nonblocking connect, retried when interrupted or when the kernel is
/// briefly out of something (EAGAIN, EWOULDBLOCK).
fn connect(addr: SocketAddr, epoll: &OwnedFd, token: u64) -> Result<OwnedFd, Errno> {
    let mut tries = 0;
    loop {
        match bench::loadgen::connect(addr, epoll, token) {
            Err(Errno::INTR) => {}
            Err(Errno::AGAIN) if tries < 100 => {
                tries += 1;
                std::thread::sleep(Duration::from_millis(1));
            }
            other => return other,
        }
    }
}

fn fresh_conn(fd: Option<OwnedFd>, started: Instant, busy: bool) -> Conn {
    Conn {
        fd,
        written: 0,
        read: 0,
        started,
        reader: Reader::default(),
        busy,
    }
}

/// Why a connection failed.
#[derive(Debug, Clone)]
enum Why {
    /// EPOLLERR, with the socket's pending error.
    Socket(Option<Errno>),
    /// A write failed.
    Write(Errno),
    /// A read failed.
    Read(Errno),
    /// The peer closed.
    Closed,
    /// The response could not be parsed.
    Bad(String),
}

// === impl Why ===

impl Why {
    /// The cause, as the report counts it.
    fn describe(&self, sent: bool, read: usize) -> String {
        let stage = if !sent {
            "connect"
        } else if read == 0 {
            "before the response head"
        } else {
            "mid-answer"
        };
        match self {
            Self::Socket(Some(e)) => format!("{stage}: {}", errno_name(*e)),
            Self::Socket(None) => format!("{stage}: socket error"),
            Self::Write(e) => format!("{stage}: write {}", errno_name(*e)),
            Self::Read(e) => format!("{stage}: read {}", errno_name(*e)),
            Self::Closed if !sent => "closed before the request went out".to_owned(),
            Self::Closed if read == 0 => "closed before the response head".to_owned(),
            Self::Closed => "closed mid-answer".to_owned(),
            Self::Bad(e) => format!("bad response: {e}"),
        }
    }
}

/// `ECONNREFUSED (Connection refused)`.
fn errno_name(e: Errno) -> String {
    let name = match e {
        Errno::CONNREFUSED => "ECONNREFUSED",
        Errno::CONNRESET => "ECONNRESET",
        Errno::TIMEDOUT => "ETIMEDOUT",
        Errno::MFILE => "EMFILE",
        Errno::NFILE => "ENFILE",
        Errno::ADDRNOTAVAIL => "EADDRNOTAVAIL",
        Errno::AGAIN => "EAGAIN",
        Errno::PIPE => "EPIPE",
        Errno::NOBUFS => "ENOBUFS",
        _ => return format!("errno {}: {e}", e.raw_os_error()),
    };
    format!("{name} ({e})")
}

fn empty_tally() -> Tally {
    Tally {
        ok: 0,
        bad_status: 0,
        connect_errors: 0,
        errors: 0,
        bad_by_status: BTreeMap::new(),
        failures: BTreeMap::new(),
        bad_examples: Vec::new(),
        frames: 0,
        hist: ns_histogram(),
        shapes: BTreeMap::new(),
        unfinished: 0,
        elapsed: Duration::ZERO,
    }
}
