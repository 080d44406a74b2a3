//! TCP connections on the shard's ring: a multishot recv feeding an ordered
//! receive queue, and sends that complete one at a time.
#![allow(unsafe_code)]

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::fmt;
use std::future::poll_fn;
use std::io;
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use io_uring::{cqueue, opcode, types};

use super::bufring::{RecvBuf, BGID};
use super::error::{self, from_res};
use super::op::{ConnectHold, Hold, MsgHold, SlotState};
use super::ring::{Inner, Ring};
use super::send::{consume, fill_iov, sent_bytes, SendBuf};

mod halves;
mod tls;

pub use halves::{RecvHalf, SendHalf};
pub use tls::{is_peer_alert, HandshakeFailure, TlsConn, TlsSummary};

/// Most bytes one send SQE asks for (longer buffers take several).
const MAX_SEND_CHUNK: usize = 1 << 30;

/// Why the receive side ended.
#[derive(Clone, Copy)]
enum End {
    Eof,
    Err(i32),
}

/// The multishot recv's state.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Arm {
    Idle,
    Armed(u64),
    Cancelling(u64),
    /// Ended with ENOBUFS; the driver re-arms when buffers come back.
    Starved,
}

/// The send side's state.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Tx {
    Idle,
    /// A send is in flight; still `Busy` after its future was dropped (poisoned).
    Busy,
    Failed,
}

struct Rx {
    queue: VecDeque<RecvBuf>,
    queued: usize,
    end: Option<End>,
    arm: Arm,
    paused: bool,
    waker: Option<Waker>,
}

/// One socket's shared state: held by its `TcpConn` and by every op slot
/// that targets it, so the fd closes only after the kernel is done with it.
pub(crate) struct Sock {
    ring: Rc<Inner>,
    fd: Option<OwnedFd>,
    raw: RawFd,
    rx: RefCell<Rx>,
    tx: Cell<Tx>,
    send_ud: Cell<Option<u64>>,
    closing: Cell<bool>,
    peer: Option<SocketAddr>,
}

// === impl Sock ===

impl Sock {
    fn new(ring: &Rc<Inner>, fd: OwnedFd, peer: Option<SocketAddr>) -> Rc<Sock> {
        ring.socket_opened();
        let rx = Rx {
            queue: VecDeque::new(),
            queued: 0,
            end: None,
            arm: Arm::Idle,
            paused: false,
            waker: None,
        };
        let sock = Rc::new(Sock {
            ring: Rc::clone(ring),
            raw: fd.as_raw_fd(),
            fd: Some(fd),
            rx: RefCell::new(rx),
            tx: Cell::new(Tx::Idle),
            send_ud: Cell::new(None),
            closing: Cell::new(false),
            peer,
        });
        sock.maybe_arm();
        sock
    }

    /// Arms the multishot recv unless it is armed, paused, ended or closing.
    fn maybe_arm(self: &Rc<Self>) -> bool {
        {
            let rx = self.rx.borrow();
            if rx.arm != Arm::Idle || rx.end.is_some() || rx.paused || self.closing.get() {
                return false;
            }
        }
        let sqe = opcode::RecvMulti::new(types::Fd(self.raw), BGID).build();
        let armed = self.ring.arm(SlotState::Recv(Rc::clone(self)), sqe);
        let mut rx = self.rx.borrow_mut();
        match armed {
            Some(ud) => rx.arm = Arm::Armed(ud),
            None => rx.end = rx.end.or(Some(End::Err(libc::ECANCELED))),
        }
        armed.is_some()
    }

    /// Handles one CQE of this socket's multishot recv.
    pub(crate) fn on_recv(self: &Rc<Self>, ud: u64, res: i32, flags: u32) {
        let more = cqueue::more(flags);
        let buf = self.take_buffer(res, flags);
        let (waker, cancel) = {
            let mut rx = self.rx.borrow_mut();
            if !more && matches!(rx.arm, Arm::Armed(u) | Arm::Cancelling(u) if u == ud) {
                rx.arm = Arm::Idle;
            }
            self.record(&mut rx, res, more, buf);
            let cancel = self.should_pause(&mut rx, ud, more);
            (rx.waker.take(), cancel)
        };
        if cancel {
            self.ring.cancel(ud);
        }
        if !more {
            self.after_end(res);
        }
        waker.into_iter().for_each(Waker::wake);
    }

    fn take_buffer(&self, res: i32, flags: u32) -> Option<RecvBuf> {
        let bid = cqueue::buffer_select(flags)?;
        if res <= 0 || self.closing.get() {
            self.ring.pool.recycle(bid);
            return None;
        }
        let buf = self.ring.pool.claim(bid, res as u32)?;
        if self.ring.pool.is_low() {
            self.ring.count_spill();
            return Some(buf.spill());
        }
        Some(buf)
    }

    fn record(&self, rx: &mut Rx, res: i32, more: bool, buf: Option<RecvBuf>) {
        if let Some(b) = buf {
            rx.queued += b.len();
            rx.queue.push_back(b);
            return;
        }
        let end = match res {
            0 => End::Eof,
            r if r > 0 => End::Err(libc::EIO),
            r if r == -libc::ENOBUFS || r == -libc::ECANCELED => return,
            r => End::Err(-r),
        };
        if !self.closing.get() && (!more || res <= 0) {
            rx.end = rx.end.or(Some(end));
        }
    }

    /// Pauses receiving when the unread queue is full; true: cancel `ud`.
    ///
    /// The kernel may post a few more CQEs before the cancel lands (one
    /// batch of task work), so the queue can overshoot the bound by that.
    /// (A kernel byte budget on the arm, `optlen`, Linux 6.17+, would be
    /// exact, but measured 4x slower on bulk transfers: it ends and re-arms
    /// the recv every `max_unread_bytes`.)
    fn should_pause(&self, rx: &mut Rx, ud: u64, more: bool) -> bool {
        if rx.paused || rx.queued < self.ring.max_unread {
            return false;
        }
        rx.paused = true;
        self.ring.count_pause();
        if more && rx.arm == Arm::Armed(ud) {
            rx.arm = Arm::Cancelling(ud);
            return true;
        }
        false
    }

    /// The kernel ended the multishot recv: re-arm it if appropriate.
    fn after_end(self: &Rc<Self>, res: i32) {
        if res == -libc::ENOBUFS && !self.closing.get() {
            let mut rx = self.rx.borrow_mut();
            if rx.arm == Arm::Idle && rx.end.is_none() {
                rx.arm = Arm::Starved;
                drop(rx);
                self.ring.starve(self);
            }
            return;
        }
        if self.maybe_arm() {
            self.ring.count_rearm();
        }
    }

    /// Buffers came back after ENOBUFS: receive again.
    pub(crate) fn resume_after_enobufs(self: &Rc<Self>) {
        {
            let mut rx = self.rx.borrow_mut();
            if rx.arm != Arm::Starved {
                return;
            }
            rx.arm = Arm::Idle;
        }
        if self.maybe_arm() {
            self.ring.count_rearm();
        }
    }

    /// The next received bytes, EOF or error, if any is ready.
    fn take_ready(self: &Rc<Self>) -> Option<io::Result<Option<RecvBuf>>> {
        let mut rx = self.rx.borrow_mut();
        if let Some(b) = rx.queue.pop_front() {
            rx.queued -= b.len();
            let resume = rx.paused && rx.queued <= self.ring.max_unread / 2;
            if resume {
                rx.paused = false;
                drop(rx);
                if self.maybe_arm() {
                    self.ring.count_rearm();
                }
            }
            return Some(Ok(Some(b)));
        }
        match rx.end? {
            End::Eof => Some(Ok(None)),
            End::Err(e) => Some(Err(io::Error::from_raw_os_error(e))),
        }
    }

    fn poll_recv(self: &Rc<Self>, cx: &mut Context<'_>) -> Poll<io::Result<Option<RecvBuf>>> {
        if let Some(r) = self.take_ready() {
            return Poll::Ready(r);
        }
        let mut rx = self.rx.borrow_mut();
        if !rx.waker.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
            rx.waker = Some(cx.waker().clone());
        }
        Poll::Pending
    }

    async fn recv(self: &Rc<Self>) -> io::Result<Option<RecvBuf>> {
        poll_fn(|cx| self.poll_recv(cx)).await
    }

    fn is_closed(&self) -> bool {
        let rx = self.rx.borrow();
        rx.queue.is_empty() && rx.end.is_some()
    }

    fn is_quiet(&self) -> bool {
        let rx = self.rx.borrow();
        rx.queue.is_empty() && rx.end.is_none() && !self.closing.get()
    }

    fn begin_send(&self) -> io::Result<()> {
        match self.tx.get() {
            Tx::Idle => {
                self.tx.set(Tx::Busy);
                Ok(())
            }
            Tx::Busy | Tx::Failed => Err(error::send_poisoned()),
        }
    }

    fn end_send<T>(&self, r: io::Result<T>) -> io::Result<T> {
        self.tx.set(if r.is_ok() { Tx::Idle } else { Tx::Failed });
        r
    }

    /// Sends all of `buf`, one SQE at a time (short sends continue).
    async fn send(self: &Rc<Self>, buf: SendBuf) -> io::Result<()> {
        if buf.is_empty() {
            return Ok(());
        }
        self.begin_send()?;
        let r = self.send_loop(buf).await;
        self.end_send(r)
    }

    async fn send_loop(self: &Rc<Self>, mut buf: SendBuf) -> io::Result<()> {
        let mut sent = 0;
        while sent < buf.len() {
            let n = (buf.len() - sent).min(MAX_SEND_CHUNK) as u32;
            let raw = self.raw;
            let fut = self.ring.start(Hold::Send(buf), false, |h| {
                let p = match h {
                    // SAFETY: `sent < len`, so the pointer stays inside the buffer.
                    Hold::Send(b) => unsafe { b.as_slice().as_ptr().add(sent) },
                    _ => std::ptr::null(),
                };
                opcode::Send::new(types::Fd(raw), p, n)
                    .flags(libc::MSG_NOSIGNAL)
                    .build()
            });
            let fut = fut.map_err(|(e, _)| e)?;
            self.send_ud.set(Some(fut.user_data()));
            let c = fut.await;
            self.send_ud.set(None);
            let Hold::Send(b) = c.hold else {
                return Err(io::Error::other("send slot lost its buffer"));
            };
            buf = b;
            sent += sent_bytes(c.res)?;
        }
        Ok(())
    }

    /// Sends all of `bufs` with sendmsg, continuing after short sends.
    async fn send_vectored(self: &Rc<Self>, bufs: Vec<SendBuf>) -> io::Result<()> {
        let mut hold = Box::new(MsgHold {
            bufs,
            iov: Vec::new(),
            // SAFETY: msghdr is plain old data; all-zero is a valid empty header.
            msg: unsafe { std::mem::zeroed() },
        });
        hold.bufs.retain(|b| !b.is_empty());
        if hold.bufs.is_empty() {
            return Ok(());
        }
        self.begin_send()?;
        let r = self.sendmsg_loop(hold).await;
        self.end_send(r)
    }

    async fn sendmsg_loop(self: &Rc<Self>, mut hold: Box<MsgHold>) -> io::Result<()> {
        let mut skip = 0;
        while !hold.bufs.is_empty() {
            fill_iov(&mut hold, skip);
            let raw = self.raw;
            let fut = self.ring.start(Hold::Msg(hold), false, |h| {
                let msg = match h {
                    Hold::Msg(m) => &m.msg as *const libc::msghdr,
                    _ => std::ptr::null(),
                };
                opcode::SendMsg::new(types::Fd(raw), msg)
                    .flags(libc::MSG_NOSIGNAL as u32)
                    .build()
            });
            let fut = fut.map_err(|(e, _)| e)?;
            self.send_ud.set(Some(fut.user_data()));
            let c = fut.await;
            self.send_ud.set(None);
            let Hold::Msg(h) = c.hold else {
                return Err(io::Error::other("sendmsg slot lost its buffers"));
            };
            hold = h;
            skip = consume(&mut hold.bufs, skip + sent_bytes(c.res)?);
        }
        Ok(())
    }

    fn shutdown_write(&self) -> io::Result<()> {
        // SAFETY: plain syscall on our own open fd.
        let r = unsafe { libc::shutdown(self.raw, libc::SHUT_WR) };
        if r < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// Makes the coming close abortive: the peer gets a reset, not a FIN.
    fn set_abortive_close(&self) -> io::Result<()> {
        let linger = libc::linger {
            l_onoff: 1,
            l_linger: 0,
        };
        // SAFETY: setsockopt on our own open fd with a pointer to a local
        // `linger` and its exact size.
        let r = unsafe {
            libc::setsockopt(
                self.raw,
                libc::SOL_SOCKET,
                libc::SO_LINGER,
                std::ptr::addr_of!(linger).cast(),
                std::mem::size_of::<libc::linger>() as libc::socklen_t,
            )
        };
        if r < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// The owner is gone: stop receiving, cancel any abandoned send.
    fn close(&self) {
        self.closing.set(true);
        let (arm, queue) = {
            let mut rx = self.rx.borrow_mut();
            rx.queued = 0;
            (rx.arm, std::mem::take(&mut rx.queue))
        };
        drop(queue);
        if let Arm::Armed(ud) = arm {
            self.ring.cancel(ud);
        }
        if let (Tx::Busy, Some(ud)) = (self.tx.get(), self.send_ud.get()) {
            self.ring.cancel(ud);
        }
    }
}

impl Drop for Sock {
    fn drop(&mut self) {
        if let Some(fd) = self.fd.take() {
            self.ring.close_fd(fd);
        }
        self.ring.socket_closed();
    }
}

/// A TCP connection driven by the shard's ring.
///
/// A multishot recv stays armed from creation on (it holds no buffer while
/// idle), so received bytes queue up to `max_unread_bytes` and EOF or a
/// reset is noticed even while nobody reads.
pub struct TcpConn {
    sock: Rc<Sock>,
}

// === impl TcpConn ===

impl TcpConn {
    pub(crate) fn from_fd(ring: &Rc<Inner>, fd: OwnedFd, peer: Option<SocketAddr>) -> TcpConn {
        TcpConn {
            sock: Sock::new(ring, fd, peer),
        }
    }

    /// Connects to `addr` with IORING_OP_CONNECT (TCP_NODELAY set).
    ///
    /// Dropping the future cancels the connect and closes the socket.
    pub async fn connect(ring: &Ring, addr: SocketAddr) -> io::Result<TcpConn> {
        let ty = socket2::Type::STREAM.nonblocking().cloexec();
        let s = socket2::Socket::new(
            socket2::Domain::for_address(addr),
            ty,
            Some(socket2::Protocol::TCP),
        )?;
        s.set_nodelay(true)?;
        let hold = Box::new(ConnectHold {
            fd: s.into(),
            addr: addr.into(),
        });
        let raw = hold.fd.as_raw_fd();
        let fut = ring.inner.start(Hold::Connect(hold), true, |h| {
            let (p, len) = match h {
                Hold::Connect(c) => (c.addr.as_ptr(), c.addr.len()),
                _ => (std::ptr::null(), 0),
            };
            opcode::Connect::new(types::Fd(raw), p, len).build()
        });
        let c = fut.map_err(|(e, _)| e)?.await;
        let Hold::Connect(h) = c.hold else {
            return Err(io::Error::other("connect slot lost its socket"));
        };
        if c.res < 0 {
            return Err(from_res(c.res));
        }
        Ok(TcpConn::from_fd(&ring.inner, h.fd, Some(addr)))
    }

    /// The next received bytes, in order; `Ok(None)` at EOF.
    ///
    /// Cancel-safe: dropping the future loses no data.
    pub async fn recv(&mut self) -> io::Result<Option<RecvBuf>> {
        self.sock.recv().await
    }

    /// Already-received bytes (or EOF/error) without waiting; `None` if nothing yet.
    pub fn try_recv(&mut self) -> Option<io::Result<Option<RecvBuf>>> {
        self.sock.take_ready()
    }

    /// EOF or an error was seen and no unread data is left.
    pub fn is_closed(&self) -> bool {
        self.sock.is_closed()
    }

    /// Nothing was received and no EOF or error was seen: the peer has been
    /// silent since the last `recv`. A pooled upstream connection must be
    /// quiet to be reused (a byte that arrives while it idles is not an
    /// answer to anything).
    pub fn is_quiet(&self) -> bool {
        self.sock.is_quiet()
    }

    /// Bytes received but not yet taken by `recv`.
    pub fn unread_bytes(&self) -> usize {
        self.sock.rx.borrow().queued
    }

    /// Sends all of `buf` (MSG_NOSIGNAL).
    ///
    /// Dropping the future mid-flight poisons the socket's send side: later
    /// sends fail instead of risking reordered bytes.
    pub async fn send(&mut self, buf: impl Into<SendBuf>) -> io::Result<()> {
        self.sock.send(buf.into()).await
    }

    /// Sends all of `bufs` with one sendmsg per round (e.g. head + body).
    pub async fn send_vectored(&mut self, bufs: Vec<SendBuf>) -> io::Result<()> {
        self.sock.send_vectored(bufs).await
    }

    /// Shuts the write side down (sends FIN).
    pub fn shutdown_write(&mut self) -> io::Result<()> {
        self.sock.shutdown_write()
    }

    /// Makes the close that follows the drop a reset (SO_LINGER 0), so the
    /// peer sees an error rather than a clean end: for a response cut short
    /// after its head went out, where a FIN would make it look complete.
    pub fn abort_on_close(&mut self) {
        let _ = self.sock.set_abortive_close();
    }

    /// Splits into halves that receive and send concurrently.
    pub fn split(&mut self) -> (RecvHalf<'_>, SendHalf<'_>) {
        (RecvHalf { sock: &self.sock }, SendHalf { sock: &self.sock })
    }

    /// The peer's address, when known.
    pub fn peer_addr(&self) -> Option<SocketAddr> {
        self.sock.peer
    }

    /// The socket's fd, for diagnostics and tests only.
    pub fn fd(&self) -> RawFd {
        self.sock.raw
    }
}

impl Drop for TcpConn {
    fn drop(&mut self) {
        self.sock.close();
    }
}

impl fmt::Debug for TcpConn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TcpConn")
            .field("fd", &self.sock.raw)
            .field("peer", &self.sock.peer)
            .finish()
    }
}
