//! The load generator: one thread per `--threads`, each with its own
//! edge-triggered epoll instance and its share of the connections.
//!
//! Per request a keep-alive connection costs one `send` of precomputed bytes
//! and usually one `read` (a short read means the socket is drained, so no
//! extra `read` for `EAGAIN`), plus a share of one `epoll_pwait2`. Pipelining
//! is off: one request in flight per connection.
//!
//! Closed loop: each connection sends its next request as soon as the last
//! one completes; latency runs from the moment the request was started.
//! Open loop (`rate`): request `k` of connection `i` is due at
//! `t0 + (i + k * c) / rate`; latency runs from that intended time, so a
//! stalled server is charged for the requests it delayed (coordinated
//! omission corrected, as in wrk2 and Nighthawk).

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::io::IsTerminal;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustix::buffer::spare_capacity;
use rustix::event::{epoll, Timespec};
use rustix::fd::OwnedFd;
use rustix::io::Errno;
use rustix::net::{AddressFamily, SendFlags, SocketFlags, SocketType};

use crate::error::BenchError;
use crate::framing::{Complete, ResponseReader};
use crate::report::Stats;
use crate::scenario::{Scenario, Stop};

/// Size of each thread's read buffer.
const READ_BUF_BYTES: usize = 64 * 1024;
/// Events taken per `epoll_pwait2`.
const MAX_EVENTS: usize = 1024;
/// How often requests are checked for timeouts.
const SWEEP_EVERY: Duration = Duration::from_millis(100);
/// Pause before reconnecting after a failed connect.
const RECONNECT_BACKOFF: Duration = Duration::from_millis(10);
/// With `hold`, at most this many connections are being opened at once, so
/// a burst of SYNs does not overflow the server's accept queue.
const HOLD_RAMP: usize = 256;
/// File descriptors kept free beyond one per connection.
const SPARE_FDS: u64 = 256;

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

/// What a finished run hands back.
#[derive(Debug)]
pub struct Outcome {
    /// All threads' counts, merged.
    pub stats: Stats,
    /// From the start to the last thread's end.
    pub elapsed: Duration,
    /// Connections still open (kept only with `hold`).
    pub held: Vec<OwnedFd>,
}

/// Runs a scenario to its end. With `progress`, prints a line every second
/// to stderr when it is a terminal.
pub fn run(scenario: &Arc<Scenario>, progress: bool) -> Result<Outcome, BenchError> {
    let _ = raise_fd_limit(scenario.connections as u64 + SPARE_FDS);
    let counters: Arc<Vec<Counter>> =
        Arc::new((0..scenario.threads).map(|_| Counter::default()).collect());
    let start = Instant::now();
    let mut handles = Vec::with_capacity(scenario.threads);
    for index in 0..scenario.threads {
        let share = Share::new(scenario, index, start);
        let (scenario, counters) = (Arc::clone(scenario), Arc::clone(&counters));
        let spawned = std::thread::Builder::new()
            .name(format!("loadgen-{index}"))
            .spawn(move || Worker::new(&scenario, share, &counters[index].0).and_then(Worker::run));
        handles.push(spawned.map_err(|e| BenchError::io("spawn", "worker thread", e))?);
    }
    let live = progress && std::io::stderr().is_terminal();
    watch(&handles, &counters, start, live);
    let mut outcome = Outcome {
        stats: Stats::new(),
        elapsed: Duration::ZERO,
        held: Vec::new(),
    };
    for handle in handles {
        let finished = handle
            .join()
            .map_err(|_| BenchError::InvalidOptions("a worker thread panicked".into()))?;
        let (stats, held, ended) = finished?;
        outcome.elapsed = outcome.elapsed.max(ended.saturating_duration_since(start));
        outcome.stats.merge(&stats);
        outcome.held.extend(held);
    }
    Ok(outcome)
}

/// Waits for the workers, printing a progress line each second when `live`.
fn watch(
    handles: &[std::thread::JoinHandle<WorkerResult>],
    counters: &[Counter],
    start: Instant,
    live: bool,
) {
    let mut last = (start, 0u64);
    while !handles.iter().all(std::thread::JoinHandle::is_finished) {
        std::thread::sleep(Duration::from_millis(50));
        let now = Instant::now();
        if !live || now.duration_since(last.0) < Duration::from_secs(1) {
            continue;
        }
        let total: u64 = counters.iter().map(|c| c.0.load(Ordering::Relaxed)).sum();
        let rate = (total - last.1) as f64 / now.duration_since(last.0).as_secs_f64();
        eprint!(
            "\r[{:>5.1}s] {total:>11} responses {rate:>10.0} req/s  ",
            now.duration_since(start).as_secs_f64()
        );
        last = (now, total);
    }
    if live {
        eprintln!();
    }
}

/// Raises the soft (and, when allowed, hard) open-file limit to `needed`;
/// returns the soft limit in force afterwards.
pub fn raise_fd_limit(needed: u64) -> u64 {
    use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};
    let limit = getrlimit(Resource::Nofile);
    let (soft, hard) = (
        limit.current.unwrap_or(u64::MAX),
        limit.maximum.unwrap_or(u64::MAX),
    );
    if soft >= needed {
        return soft;
    }
    let wanted = Rlimit {
        current: Some(needed),
        maximum: Some(hard.max(needed)),
    };
    if setrlimit(Resource::Nofile, wanted).is_ok() {
        return needed;
    }
    if setrlimit(
        Resource::Nofile,
        Rlimit {
            current: Some(hard),
            maximum: Some(hard),
        },
    )
    .is_err()
    {
        return soft;
    }
    if hard < needed {
        eprintln!("warning: open-file limit {hard} is below the {needed} this run needs (raise it with ulimit -n)");
    }
    hard
}

/// A per-thread response counter on its own cache line, read by [`watch`].
#[derive(Debug, Default)]
#[repr(align(128))]
struct Counter(AtomicU64);

/// One thread's part of the scenario.
#[derive(Debug, Clone, Copy)]
struct Share {
    /// Index of the thread's first connection among all connections.
    first_conn: usize,
    /// Connections of this thread.
    conns: usize,
    /// Requests this thread sends (`Stop::Requests` or hold mode).
    quota: Option<u64>,
    /// When the run started.
    start: Instant,
}

// === impl Share ===

impl Share {
    fn new(scenario: &Scenario, index: usize, start: Instant) -> Self {
        let first_conn = (0..index).map(|i| Self::conns_of(scenario, i)).sum();
        let conns = Self::conns_of(scenario, index);
        let quota = match (scenario.hold, scenario.stop) {
            (Some(_), _) => Some(conns as u64),
            (None, Stop::Requests(n)) => {
                let per = n / scenario.threads as u64;
                Some(per + u64::from((index as u64) < n % scenario.threads as u64))
            }
            (None, Stop::After(_)) => None,
        };
        Self {
            first_conn,
            conns,
            quota,
            start,
        }
    }

    fn conns_of(scenario: &Scenario, index: usize) -> usize {
        scenario.connections / scenario.threads
            + usize::from(index < scenario.connections % scenario.threads)
    }
}

/// One connection's state.
#[derive(Debug)]
struct Conn {
    fd: Option<OwnedFd>,
    /// Bumped on every new socket, so stale events are ignored.
    generation: u32,
    connected: bool,
    /// A request was started and is not finished.
    in_flight: bool,
    /// Latency origin: the intended time (open loop) or the start.
    started: Instant,
    /// When the request was really started (for timeouts).
    sent: Instant,
    /// Open loop: intended time of the current or next request.
    slot: Instant,
    request: usize,
    written: usize,
    reader: ResponseReader,
}

/// A worker's counts, its held connections and when it stopped.
type WorkerResult = Result<(Stats, Vec<OwnedFd>, Instant), BenchError>;

/// One load thread: its epoll instance, connections and counters.
struct Worker<'a> {
    scenario: &'a Scenario,
    share: Share,
    epoll: OwnedFd,
    conns: Vec<Conn>,
    buf: Box<[u8]>,
    stats: Stats,
    /// Open-loop send slots and reconnect retries: (when, connection).
    timers: BinaryHeap<Reverse<(Instant, usize)>>,
    /// Per-connection interval between requests in open loop.
    period: Option<Duration>,
    end: Option<Instant>,
    issued: u64,
    finished: u64,
    next_request: usize,
    /// With `hold`: the first connection not opened yet.
    unstarted: usize,
    progress: &'a AtomicU64,
}

// === impl Worker ===

impl<'a> Worker<'a> {
    fn new(
        scenario: &'a Scenario,
        share: Share,
        progress: &'a AtomicU64,
    ) -> Result<Self, BenchError> {
        let epoll = epoll::create(epoll::CreateFlags::CLOEXEC)
            .map_err(|e| BenchError::io("epoll_create", "", e))?;
        let period = scenario
            .rate
            .map(|rate| Duration::from_secs_f64(scenario.connections as f64 / rate));
        let end = match scenario.stop {
            Stop::After(duration) if scenario.hold.is_none() => Some(share.start + duration),
            _ => None,
        };
        let conns = (0..share.conns).map(|_| Conn::new(share.start)).collect();
        Ok(Self {
            scenario,
            share,
            epoll,
            conns,
            buf: vec![0; READ_BUF_BYTES].into_boxed_slice(),
            stats: Stats::new(),
            timers: BinaryHeap::new(),
            period,
            end,
            issued: 0,
            finished: 0,
            next_request: 0,
            unstarted: 0,
            progress,
        })
    }

    fn run(mut self) -> WorkerResult {
        let now = Instant::now();
        let first = if self.scenario.hold.is_some() {
            HOLD_RAMP.min(self.conns.len())
        } else {
            self.conns.len()
        };
        for idx in 0..first {
            self.begin(idx, now);
        }
        self.unstarted = first;
        let mut events = Vec::with_capacity(MAX_EVENTS);
        let mut next_sweep = now + SWEEP_EVERY;
        let mut now = now;
        while !self.is_done(now) {
            let wait = self.wait_until(next_sweep).saturating_duration_since(now);
            let timeout = Timespec {
                tv_sec: wait.as_secs() as i64,
                tv_nsec: i64::from(wait.subsec_nanos()),
            };
            match epoll::wait(&self.epoll, spare_capacity(&mut events), Some(&timeout)) {
                Ok(_) | Err(Errno::INTR) => {}
                Err(e) => return Err(BenchError::io("epoll_wait", "", e)),
            }
            for event in events.drain(..) {
                self.on_event(event.data.u64(), event.flags);
            }
            now = Instant::now();
            self.fire_timers(now);
            if now >= next_sweep {
                self.sweep(now);
                next_sweep = now + SWEEP_EVERY;
            }
        }
        let held = if self.scenario.hold.is_some() {
            self.conns.iter_mut().filter_map(|c| c.fd.take()).collect()
        } else {
            Vec::new()
        };
        Ok((self.stats, held, now))
    }

    /// Opens the connections and starts the first requests or slots.
    fn begin(&mut self, idx: usize, now: Instant) {
        match self.period {
            None => self.start(idx, now),
            Some(period) => {
                let global = (self.share.first_conn + idx) as u32;
                let offset = period.mul_f64(f64::from(global) / self.scenario.connections as f64);
                self.conns[idx].slot = now + offset;
                self.open(idx);
                self.timers.push(Reverse((now + offset, idx)));
            }
        }
    }

    fn is_done(&self, now: Instant) -> bool {
        match (self.end, self.share.quota) {
            (Some(end), _) => now >= end,
            (None, Some(quota)) => self.finished >= quota,
            (None, None) => true,
        }
    }

    /// The next moment something is due without any socket event.
    fn wait_until(&self, next_sweep: Instant) -> Instant {
        let mut at = next_sweep;
        if let Some(Reverse((timer, _))) = self.timers.peek() {
            at = at.min(*timer);
        }
        if let Some(end) = self.end {
            at = at.min(end);
        }
        at
    }

    fn may_issue(&self, now: Instant) -> bool {
        self.end.is_none_or(|end| now < end)
            && self.share.quota.is_none_or(|quota| self.issued < quota)
    }

    /// Starts a request whose latency is measured from `origin`.
    fn start(&mut self, idx: usize, origin: Instant) {
        let now = Instant::now();
        if !self.may_issue(now) {
            return;
        }
        self.issued += 1;
        let request = self.next_request;
        self.next_request = (request + 1) % self.scenario.requests.len();
        let conn = &mut self.conns[idx];
        conn.in_flight = true;
        conn.started = origin;
        conn.sent = now;
        conn.request = request;
        conn.written = 0;
        if conn.fd.is_none() {
            self.open(idx);
        } else if conn.connected {
            self.write(idx);
        }
    }

    /// Creates a socket and starts a non-blocking connect.
    fn open(&mut self, idx: usize) {
        let addr = self.scenario.addr;
        let conn = &mut self.conns[idx];
        conn.generation = conn.generation.wrapping_add(1);
        conn.connected = false;
        conn.reader.reset();
        let token = (u64::from(conn.generation) << 32) | idx as u64;
        match connect(addr, &self.epoll, token) {
            Ok(fd) => {
                conn.fd = Some(fd);
                self.stats.connects += 1;
            }
            Err(_) => self.fail(idx, Failure::Connect),
        }
    }

    fn on_event(&mut self, token: u64, flags: epoll::EventFlags) {
        let idx = (token & u64::from(u32::MAX)) as usize;
        let Some(conn) = self.conns.get_mut(idx) else {
            return;
        };
        if conn.generation != (token >> 32) as u32 || conn.fd.is_none() {
            return;
        }
        if !conn.connected {
            let Some(fd) = conn.fd.as_ref() else { return };
            match rustix::net::sockopt::socket_error(fd) {
                Ok(Ok(())) if !flags.contains(epoll::EventFlags::ERR) => conn.connected = true,
                _ => return self.fail(idx, Failure::Connect),
            }
            if conn.in_flight {
                self.write(idx);
            }
        } else if flags.contains(epoll::EventFlags::OUT)
            && conn.in_flight
            && conn.written < self.scenario.requests[conn.request].len()
        {
            self.write(idx);
        }
        let readable = epoll::EventFlags::IN
            | epoll::EventFlags::HUP
            | epoll::EventFlags::ERR
            | epoll::EventFlags::RDHUP;
        if flags.intersects(readable) && self.conns[idx].connected {
            self.read(idx);
        }
    }

    /// Writes what is left of the current request.
    fn write(&mut self, idx: usize) {
        let conn = &mut self.conns[idx];
        let bytes = &self.scenario.requests[conn.request];
        let Some(fd) = conn.fd.as_ref() else { return };
        while conn.written < bytes.len() {
            match rustix::net::send(fd, &bytes[conn.written..], SendFlags::NOSIGNAL) {
                Ok(n) => {
                    conn.written += n;
                    self.stats.bytes_written += n as u64;
                }
                Err(Errno::INTR) => {}
                Err(Errno::AGAIN) => return,
                Err(_) => return self.fail(idx, Failure::Write),
            }
        }
    }

    /// Reads until the socket is drained or the response is complete.
    fn read(&mut self, idx: usize) {
        loop {
            let Some(fd) = self.conns[idx].fd.as_ref() else {
                return;
            };
            let n = match rustix::io::read(fd, &mut self.buf[..]) {
                Ok(0) => return self.on_eof(idx),
                Ok(n) => n,
                Err(Errno::INTR) => continue,
                Err(Errno::AGAIN) => return,
                Err(_) => return self.fail(idx, Failure::Read),
            };
            self.stats.bytes_read += n as u64;
            let conn = &mut self.conns[idx];
            if !conn.in_flight {
                return self.fail(idx, Failure::Parse);
            }
            match conn.reader.feed(&self.buf[..n], self.scenario.no_body) {
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
            if n < self.buf.len() {
                return;
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

    /// Records a finished response and moves the connection on.
    fn complete(&mut self, idx: usize, response: Complete) {
        let now = Instant::now();
        let conn = &mut self.conns[idx];
        conn.in_flight = false;
        self.stats
            .record(response.status, now.saturating_duration_since(conn.started));
        self.finish_one();
        if response.close || self.scenario.close {
            self.close(idx);
        }
        if self.scenario.hold.is_none() {
            self.next(idx, now);
        } else if self.unstarted < self.conns.len() {
            self.unstarted += 1;
            self.start(self.unstarted - 1, now);
        }
    }

    /// Counts a failure, drops the socket and moves the connection on.
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
        if was_in_flight {
            self.finish_one();
        }
        self.close(idx);
        let now = Instant::now();
        match (failure, self.period) {
            (Failure::Connect, None) if was_in_flight => {
                self.timers.push(Reverse((now + RECONNECT_BACKOFF, idx)))
            }
            (_, None) if was_in_flight => self.start(idx, now),
            (_, Some(_)) if was_in_flight => self.next(idx, now),
            _ => {}
        }
    }

    fn finish_one(&mut self) {
        self.finished += 1;
        self.progress.store(self.stats.responses, Ordering::Relaxed);
    }

    fn close(&mut self, idx: usize) {
        let conn = &mut self.conns[idx];
        conn.fd = None;
        conn.connected = false;
        conn.reader.reset();
    }

    /// Starts the connection's next request now (closed loop) or at its
    /// next slot (open loop).
    fn next(&mut self, idx: usize, now: Instant) {
        let Some(period) = self.period else {
            return self.start(idx, now);
        };
        let slot = self.conns[idx].slot + period;
        self.conns[idx].slot = slot;
        if slot <= now {
            self.start(idx, slot);
        } else {
            self.timers.push(Reverse((slot, idx)));
        }
    }

    fn fire_timers(&mut self, now: Instant) {
        while let Some(&Reverse((at, idx))) = self.timers.peek() {
            if at > now {
                break;
            }
            self.timers.pop();
            if self.conns[idx].in_flight {
                continue;
            }
            let origin = if self.period.is_some() { at } else { now };
            self.start(idx, origin);
        }
    }

    /// Fails requests older than the timeout.
    fn sweep(&mut self, now: Instant) {
        for idx in 0..self.conns.len() {
            let conn = &self.conns[idx];
            if conn.in_flight && now.saturating_duration_since(conn.sent) > self.scenario.timeout {
                self.fail(idx, Failure::Timeout);
            }
        }
    }
}

// === impl Conn ===

impl Conn {
    fn new(now: Instant) -> Self {
        Self {
            fd: None,
            generation: 0,
            connected: false,
            in_flight: false,
            started: now,
            sent: now,
            slot: now,
            request: 0,
            written: 0,
            reader: ResponseReader::default(),
        }
    }
}

/// A non-blocking TCP socket with TCP_NODELAY, connecting to `addr`, in
/// `epoll` edge-triggered for reads and writes. perf-tests' TLS load
/// generator connects through it too.
pub fn connect(addr: SocketAddr, epoll_fd: &OwnedFd, token: u64) -> rustix::io::Result<OwnedFd> {
    let family = if addr.is_ipv4() {
        AddressFamily::INET
    } else {
        AddressFamily::INET6
    };
    let fd = rustix::net::socket_with(
        family,
        SocketType::STREAM,
        SocketFlags::NONBLOCK | SocketFlags::CLOEXEC,
        None,
    )?;
    rustix::net::sockopt::set_tcp_nodelay(&fd, true)?;
    match rustix::net::connect(&fd, &addr) {
        Ok(()) | Err(Errno::INPROGRESS) => {}
        Err(e) => return Err(e),
    }
    let interest = epoll::EventFlags::IN
        | epoll::EventFlags::OUT
        | epoll::EventFlags::RDHUP
        | epoll::EventFlags::ET;
    epoll::add(epoll_fd, &fd, epoll::EventData::new_u64(token), interest)?;
    Ok(fd)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scenario(connections: usize, threads: usize, stop: Stop) -> Scenario {
        Scenario {
            addr: "127.0.0.1:9".parse().unwrap(),
            url: String::new(),
            connections,
            threads,
            stop,
            rate: None,
            close: false,
            no_body: false,
            timeout: Duration::from_secs(1),
            hold: None,
            requests: vec![b"GET / HTTP/1.1\r\n\r\n".to_vec()],
        }
    }

    #[test]
    fn shares_cover_every_connection_and_request() {
        let load = scenario(10, 3, Stop::Requests(1001));
        let now = Instant::now();
        let shares: Vec<Share> = (0..3).map(|i| Share::new(&load, i, now)).collect();
        assert_eq!(
            shares.iter().map(|s| s.conns).collect::<Vec<_>>(),
            [4, 3, 3]
        );
        assert_eq!(
            shares.iter().map(|s| s.first_conn).collect::<Vec<_>>(),
            [0, 4, 7]
        );
        assert_eq!(shares.iter().map(|s| s.quota.unwrap()).sum::<u64>(), 1001);
        let timed = Share::new(&scenario(4, 2, Stop::After(Duration::from_secs(1))), 1, now);
        assert_eq!(timed.quota, None);
    }

    #[test]
    fn hold_sends_one_request_per_connection() {
        let mut load = scenario(7, 2, Stop::After(Duration::from_secs(1)));
        load.hold = Some(Duration::from_secs(1));
        let share = Share::new(&load, 1, Instant::now());
        assert_eq!((share.conns, share.quota), (3, Some(3)));
    }
}
