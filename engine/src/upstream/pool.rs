//! The per-shard upstream connection pool.
//!
//! Idle keep-alive connections are kept per backend address, newest last
//! (LIFO: the warmest connection is reused first, and the oldest ones age
//! out). A connection the upstream closed, or sent anything on, while it
//! sat idle is noticed through its still-armed receive and is never handed
//! out: late bytes would otherwise become the next client's response.

use std::cell::RefCell;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use ahash::AHashMap;

use crate::buf::{BufPool, ConnBuf};
use crate::io::{RecvBuf, Transport};

/// An upstream connection with its read buffer.
pub(crate) struct UpConn {
    pub(crate) io: Transport,
    pub(crate) buf: ConnBuf,
    /// Bytes received right after a complete response head (the start of
    /// its body, or tunnel data after a 101), kept in their receive buffer
    /// instead of being copied into `buf`; they come after `buf`'s bytes.
    pub(crate) early: Option<RecvBuf>,
    pub(crate) addr: SocketAddr,
    /// The group's TLS settings key (0: plain TCP); with `addr`, the pool key.
    pub(crate) tls_key: u64,
    /// The connection's place in its group's connection limit, freed when
    /// the connection closes.
    pub(crate) _slot: Option<crate::upstream::balance::Held>,
}

struct Idle {
    conn: UpConn,
    since: Instant,
}

/// A shard's idle upstream connections.
pub(crate) struct Pool {
    /// By address and TLS settings key: a plain group never gets a TLS
    /// connection, nor one group another's differently verified one.
    idle: RefCell<AHashMap<(SocketAddr, u64), Vec<Idle>>>,
    max_idle: usize,
    idle_timeout: Duration,
    /// A coarse clock, advanced by `sweep` (once a second): idle ages do
    /// not need a clock read per request.
    now: std::cell::Cell<Instant>,
}

// === impl Pool ===

impl Pool {
    pub(crate) fn new(max_idle: usize, idle_timeout: Duration) -> Pool {
        Pool {
            idle: RefCell::new(AHashMap::new()),
            max_idle,
            idle_timeout,
            now: std::cell::Cell::new(Instant::now()),
        }
    }

    /// Takes the newest live idle connection to `addr` made with the TLS
    /// settings `tls_key` (0: plain TCP).
    pub(crate) fn checkout(&self, addr: SocketAddr, tls_key: u64) -> Option<UpConn> {
        let mut idle = self.idle.borrow_mut();
        let list = idle.get_mut(&(addr, tls_key))?;
        while let Some(i) = list.pop() {
            let age = self.now.get().saturating_duration_since(i.since);
            if i.conn.io.is_quiet() && age < self.idle_timeout {
                return Some(i.conn);
            }
        }
        None
    }

    /// Keeps a connection whose last response was complete, if there is room.
    pub(crate) fn checkin(&self, mut conn: UpConn, bufs: &BufPool) {
        if self.max_idle == 0 || !conn.buf.is_empty() || conn.early.is_some() || !conn.io.is_quiet()
        {
            return;
        }
        conn.buf.release(bufs);
        let mut idle = self.idle.borrow_mut();
        let list = idle.entry((conn.addr, conn.tls_key)).or_default();
        if list.len() >= self.max_idle {
            list.remove(0);
        }
        list.push(Idle {
            conn,
            since: self.now.get(),
        });
    }

    /// Closes connections idle for longer than the idle timeout, and those
    /// the upstream already closed.
    pub(crate) fn sweep(&self) {
        let timeout = self.idle_timeout;
        let now = Instant::now();
        self.now.set(now);
        let mut idle = self.idle.borrow_mut();
        for list in idle.values_mut() {
            list.retain(|i| {
                i.conn.io.is_quiet() && now.saturating_duration_since(i.since) < timeout
            });
        }
        idle.retain(|_, l| !l.is_empty());
    }

    /// Number of idle connections held.
    pub(crate) fn idle_count(&self) -> usize {
        self.idle.borrow().values().map(Vec::len).sum()
    }

    /// Drops the idle connections to `addr` (one of them went stale).
    pub(crate) fn drop_idle(&self, addr: SocketAddr) {
        self.idle.borrow_mut().retain(|(a, _), _| *a != addr);
    }

    /// Drops every idle connection.
    pub(crate) fn clear(&self) {
        self.idle.borrow_mut().clear();
    }
}
