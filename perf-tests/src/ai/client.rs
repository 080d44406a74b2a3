//! The concurrency-1 client: one blocking keep-alive connection, one request
//! at a time, each timed from the first byte written to the whole answer
//! (or, for streams, to the read that brought the first content word).
//! On the 2-core VM a round trip straight to the mock is 12 µs at p50
//! (2026-12-03), 129 µs through coregate on the other CPU.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

use crate::ai::http::Reader;

/// Longest wait for any one read (`SO_RCVTIMEO`): an expired one is EAGAIN,
/// which [`exchange`] retries until its patience runs out.
const READ_TIMEOUT: Duration = Duration::from_secs(1);
/// Longest silence in an exchange before it is given up.
pub const PATIENCE: Duration = Duration::from_secs(10);

/// What to time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Until {
    /// The whole response.
    Complete,
    /// The first content word of a stream (the rest is still read).
    FirstContent,
}

/// How many requests, for how long at most.
#[derive(Debug, Clone, Copy)]
pub struct Budget {
    /// Requests at most.
    pub count: u64,
    /// Time at most.
    pub time: Duration,
}

/// Latencies of one concurrency-1 run, in nanoseconds.
#[derive(Debug, Clone)]
pub struct Run {
    /// Every request's latency (ns).
    pub hist: Histogram<u64>,
    /// Answers that were not 200, or streams without the first word.
    pub bad: u64,
}

/// A histogram for nanosecond latencies up to a minute.
pub fn ns_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 60_000_000_000, 3)
        .unwrap_or_else(|_| unreachable!("constant bounds"))
}

/// Sends `request` over one keep-alive connection until `budget` is spent.
pub fn run(addr: SocketAddr, request: &[u8], budget: Budget, until: Until) -> Result<Run, String> {
    let mut conn = connect(addr)?;
    let mut out = Run {
        hist: ns_histogram(),
        bad: 0,
    };
    let mut reader = Reader::default();
    let mut buf = vec![0u8; 64 * 1024];
    let end = Instant::now() + budget.time;
    for _ in 0..budget.count {
        let started = Instant::now();
        if started >= end {
            break;
        }
        reader.reset();
        let timed = exchange(&mut conn, request, &mut reader, &mut buf, until, PATIENCE)?;
        match timed.filter(|_| reader.status == 200) {
            Some(at) => {
                let ns = at.saturating_duration_since(started).as_nanos() as u64;
                let _ = out.hist.record(ns.max(1));
            }
            None => out.bad += 1,
        }
    }
    Ok(out)
}

fn connect(addr: SocketAddr) -> Result<TcpStream, String> {
    let conn = TcpStream::connect(addr).map_err(|e| format!("connect {addr}: {e}"))?;
    conn.set_nodelay(true).map_err(|e| e.to_string())?;
    conn.set_read_timeout(Some(READ_TIMEOUT))
        .map_err(|e| e.to_string())?;
    Ok(conn)
}

/// One request and its whole response; the moment `until` was reached.
/// A read that times out (EAGAIN / EWOULDBLOCK from `SO_RCVTIMEO`) or is
/// interrupted (EINTR) is retried until nothing has come for `patience`.
fn exchange(
    conn: &mut TcpStream,
    request: &[u8],
    reader: &mut Reader,
    buf: &mut [u8],
    until: Until,
    patience: Duration,
) -> Result<Option<Instant>, String> {
    conn.write_all(request).map_err(|e| format!("write: {e}"))?;
    let mut at = None;
    let mut last = Instant::now();
    while !reader.complete() {
        let n = match conn.read(buf) {
            Ok(n) => n,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                if last.elapsed() < patience {
                    continue;
                }
                return Err(format!(
                    "no byte for {} s ({} so far): read: {e}",
                    patience.as_secs(),
                    progress(reader)
                ));
            }
            Err(e) => return Err(format!("read: {e}")),
        };
        last = Instant::now();
        if n == 0 {
            return Err("the server closed the connection mid-response".into());
        }
        let now = Instant::now();
        let fed = reader.feed(&buf[..n])?;
        if until == Until::FirstContent && fed.first_content {
            at = Some(now);
        }
    }
    Ok(match until {
        Until::Complete => Some(Instant::now()),
        Until::FirstContent => at,
    })
}

/// What a reader has seen, for an error message.
fn progress(reader: &Reader) -> String {
    if reader.status == 0 {
        "no response head".to_owned()
    } else {
        format!("status {}, {} frames", reader.status, reader.frames)
    }
}

/// One request, its status and SSE frame count and whether `[DONE]` came.
pub fn probe(addr: SocketAddr, request: &[u8]) -> Result<(u16, u64, bool), String> {
    probe_within(addr, request, PATIENCE).map(|(status, frames, done, _)| (status, frames, done))
}

/// [`probe`] that waits up to `patience` for each byte (under a heavy load),
/// and also returns [`Reader::describe`] for an answer that is not 200.
pub fn probe_within(
    addr: SocketAddr,
    request: &[u8],
    patience: Duration,
) -> Result<(u16, u64, bool, String), String> {
    let mut conn = connect(addr)?;
    let mut reader = Reader::default();
    let mut buf = vec![0u8; 64 * 1024];
    exchange(
        &mut conn,
        request,
        &mut reader,
        &mut buf,
        Until::Complete,
        patience,
    )?;
    Ok((
        reader.status,
        reader.frames,
        reader.saw_done(),
        reader.describe(),
    ))
}
