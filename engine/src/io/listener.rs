//! A listening socket served by a multishot accept on the shard's ring.
#![allow(unsafe_code)]

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::fmt;
use std::future::poll_fn;
use std::io;
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use io_uring::{cqueue, opcode, types};

use super::conn::TcpConn;
use super::op::SlotState;
use super::ring::{Inner, Ring};

/// Accepted sockets queued before the multishot accept is paused.
const MAX_ACCEPT_QUEUE: usize = 256;

/// A listener's shared state, held by the `Listener` and its accept slot.
pub(crate) struct ListenShared {
    ring: Rc<Inner>,
    fd: RefCell<Option<OwnedFd>>,
    raw: RawFd,
    queue: RefCell<VecDeque<Result<OwnedFd, i32>>>,
    armed: Cell<Option<u64>>,
    paused: Cell<bool>,
    closed: Cell<bool>,
    /// TCP_NODELAY was set on the listening socket before it listened, so
    /// accepted sockets inherit it (Linux copies it when the handshake
    /// completes): no setsockopt per connection.
    inherits_nodelay: bool,
    waker: RefCell<Option<Waker>>,
}

// === impl ListenShared ===

impl ListenShared {
    /// Handles one CQE of the multishot accept.
    pub(crate) fn on_accept(&self, ud: u64, res: i32, flags: u32) {
        let more = cqueue::more(flags);
        if !more && self.armed.get() == Some(ud) {
            self.armed.set(None);
        }
        if res >= 0 {
            // SAFETY: a successful accept CQE carries a new fd that we own.
            let fd = unsafe { OwnedFd::from_raw_fd(res) };
            if !self.closed.get() {
                self.queue.borrow_mut().push_back(Ok(fd));
            }
        } else if res != -libc::ECANCELED && !self.closed.get() {
            self.queue.borrow_mut().push_back(Err(-res));
        }
        if more && self.queue.borrow().len() >= MAX_ACCEPT_QUEUE && !self.paused.replace(true) {
            self.ring.cancel(ud);
        }
        let waker = self.waker.borrow_mut().take();
        waker.into_iter().for_each(Waker::wake);
    }

    fn arm(self: &Rc<Self>) {
        if self.armed.get().is_some() || self.closed.get() {
            return;
        }
        let sqe = opcode::AcceptMulti::new(types::Fd(self.raw))
            .flags(libc::SOCK_CLOEXEC)
            .build();
        self.armed
            .set(self.ring.arm(SlotState::Accept(Rc::clone(self)), sqe));
    }

    fn poll_accept(
        self: &Rc<Self>,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<(TcpConn, SocketAddr)>> {
        loop {
            if self.closed.get() || self.ring.is_shutdown() {
                return Poll::Ready(Err(closed()));
            }
            let next = self.queue.borrow_mut().pop_front();
            if self.queue.borrow().len() <= MAX_ACCEPT_QUEUE / 2 {
                self.paused.set(false);
                self.arm();
            }
            let r = match next {
                Some(Ok(fd)) => self.finish(fd),
                Some(Err(e)) => Err(io::Error::from_raw_os_error(e)),
                None => break,
            };
            // A connection that died before we saw it is not the caller's
            // problem: take the next one. Resource errors (EMFILE...) go up.
            match r {
                Err(e) if is_transient(&e) => continue,
                r => return Poll::Ready(r),
            }
        }
        *self.waker.borrow_mut() = Some(cx.waker().clone());
        Poll::Pending
    }

    fn finish(&self, fd: OwnedFd) -> io::Result<(TcpConn, SocketAddr)> {
        let s = socket2::SockRef::from(&fd);
        if !self.inherits_nodelay {
            s.set_nodelay(true)?;
        }
        let peer = s
            .peer_addr()?
            .as_socket()
            .ok_or_else(|| io::Error::other("accepted a non-IP socket"))?;
        Ok((TcpConn::from_fd(&self.ring, fd, Some(peer)), peer))
    }

    fn close(&self) {
        if self.closed.replace(true) {
            return;
        }
        if let Some(ud) = self.armed.get() {
            self.ring.cancel(ud);
        }
        let queued = std::mem::take(&mut *self.queue.borrow_mut());
        drop(queued);
        let fd = self.fd.borrow_mut().take();
        drop(fd);
        let waker = self.waker.borrow_mut().take();
        waker.into_iter().for_each(Waker::wake);
    }
}

/// Errors about one connection (reset or aborted before it was accepted).
fn is_transient(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::ECONNABORTED | libc::ECONNRESET | libc::ENOTCONN | libc::EPROTO | libc::EPERM)
    )
}

fn closed() -> io::Error {
    io::Error::new(io::ErrorKind::NotConnected, "listener closed")
}

/// A listening TCP socket whose connections arrive through a multishot accept.
///
/// Run one accept loop per listener (a second concurrent `accept` replaces
/// the first one's waker).
pub struct Listener {
    shared: Rc<ListenShared>,
}

// === impl Listener ===

impl Listener {
    /// Wraps an already bound and listening socket; the multishot accept is
    /// armed on the first `accept`.
    pub fn new(ring: &Ring, listener: std::net::TcpListener) -> Listener {
        let fd = OwnedFd::from(listener);
        // Inheritance covers every queued connection only if the flag was
        // set before listen(2) (the engine's listeners are built that way);
        // otherwise set it per accepted socket.
        let s = socket2::SockRef::from(&fd);
        let inherits_nodelay = s.nodelay().unwrap_or(false);
        let _ = s.set_nodelay(true);
        let shared = ListenShared {
            ring: Rc::clone(&ring.inner),
            raw: fd.as_raw_fd(),
            fd: RefCell::new(Some(fd)),
            queue: RefCell::default(),
            armed: Cell::new(None),
            paused: Cell::new(false),
            closed: Cell::new(false),
            inherits_nodelay,
            waker: RefCell::new(None),
        };
        Listener {
            shared: Rc::new(shared),
        }
    }

    /// The next connection (TCP_NODELAY set) and its peer address.
    pub async fn accept(&self) -> io::Result<(TcpConn, SocketAddr)> {
        poll_fn(|cx| self.shared.poll_accept(cx)).await
    }

    /// Stops accepting: cancels the multishot accept, closes queued
    /// connections and the listening fd; a pending `accept` returns an error.
    pub fn close(&self) {
        self.shared.close();
    }

    /// The listening socket's local address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        let fd = self.shared.fd.borrow();
        let fd = fd.as_ref().ok_or_else(closed)?;
        socket2::SockRef::from(fd)
            .local_addr()?
            .as_socket()
            .ok_or_else(|| io::Error::other("not an IP socket"))
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.shared.close();
    }
}

impl fmt::Debug for Listener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Listener")
            .field("fd", &self.shared.raw)
            .finish()
    }
}
