//! The shard's io_uring: setup with fallbacks, the submission path, and the
//! driver task that reaps completions and parks on the registered eventfd.
#![allow(unsafe_code)]

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::pin::Pin;
use std::rc::{Rc, Weak};
use std::task::Waker;
use std::time::{Duration, Instant};

/// IORING_ENTER_GETEVENTS: run deferred completions during the enter.
const ENTER_GETEVENTS: u32 = 1;

use io_uring::{cqueue, opcode, squeue, types, IoUring};

use super::bufring::BufPool;
use super::config::{RingConfig, RingStats, SetupMode};
use super::conn::Sock;
use super::error::{self, IoSetupError};
use super::op::{Completion, Hold, OpFuture, SlotState, Slots, UNTRACKED};
use crate::shard;

mod driver;

/// The completion queue is this many times the submission queue, because
/// multishot operations post many CQEs per SQE.
const CQ_FACTOR: u32 = 4;
/// Belt and braces: a parked driver also wakes this often, so a lost
/// eventfd signal (a kernel change, an unforeseen path) costs latency, not a hang.
const PARK_SAFETY: Duration = Duration::from_millis(50);
/// How long `run` waits, after `shutdown`, for the kernel to finish cancelled ops.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

#[derive(Default)]
struct Counters {
    sockets_open: Cell<u32>,
    rearms: Cell<u64>,
    enobufs: Cell<u64>,
    recv_pauses: Cell<u64>,
    spills: Cell<u64>,
    enters: Cell<u64>,
    cqes: Cell<u64>,
    parks: Cell<u64>,
    direct_waits: Cell<u64>,
}

fn bump(c: &Cell<u64>) {
    c.set(c.get() + 1);
}

/// The shard's io_uring, shared by every socket on the shard.
///
/// Cloning is cheap (an `Rc`). Spawn [`Ring::run`] once on the shard.
#[derive(Clone)]
pub struct Ring {
    pub(crate) inner: Rc<Inner>,
}

/// Shared ring state. Field borrows never span a call that might re-enter.
pub(crate) struct Inner {
    uring: RefCell<IoUring>,
    pub(crate) slots: RefCell<Slots>,
    backlog: RefCell<VecDeque<squeue::Entry>>,
    pub(crate) pool: Rc<BufPool>,
    starved: RefCell<Vec<Weak<Sock>>>,
    efd: OwnedFd,
    /// No driver round is coming soon: submit new SQEs right away.
    parked: Cell<bool>,
    kicked: Cell<bool>,
    running: Cell<bool>,
    shutdown_at: Cell<Option<Instant>>,
    untracked: Cell<u32>,
    cqes: RefCell<Vec<(u64, i32, u32)>>,
    pub(crate) max_unread: usize,
    direct_wait: Cell<Duration>,
    /// End of the current direct-wait window, if one is open.
    direct_until: Cell<Option<Instant>>,
    /// Whether the kernel signals the eventfd (IORING_CQ_EVENTFD_DISABLED clear).
    eventfd_on: Cell<bool>,
    mode: SetupMode,
    stats: Counters,
}

// === impl Ring ===

impl Ring {
    /// Sets up the shard's ring, its buffer pool and its eventfd.
    ///
    /// Tries SINGLE_ISSUER|DEFER_TASKRUN, then COOP_TASKRUN|TASKRUN_FLAG,
    /// then no flags, falling back only when the kernel rejects the flags
    /// (EINVAL); any other failure is returned with its fix in the message.
    pub fn new(cfg: &RingConfig) -> Result<Ring, IoSetupError> {
        Self::with_modes(
            cfg,
            &[
                SetupMode::Deferred,
                SetupMode::Cooperative,
                SetupMode::Plain,
            ],
        )
    }

    /// Like [`Ring::new`], trying only the given setup modes in order.
    pub fn with_modes(cfg: &RingConfig, modes: &[SetupMode]) -> Result<Ring, IoSetupError> {
        cfg.validate()?;
        let (uring, mode) = build_uring(cfg, modes)?;
        let efd = new_eventfd()?;
        uring
            .submitter()
            .register_eventfd(efd.as_raw_fd())
            .map_err(|e| IoSetupError::from_os("register_eventfd", "eventfd registration", e))?;
        let pool = BufPool::new(&uring, cfg.buffer_count, cfg.buffer_size)?;
        let inner = Inner {
            uring: RefCell::new(uring),
            slots: RefCell::default(),
            backlog: RefCell::default(),
            pool,
            starved: RefCell::default(),
            efd,
            parked: Cell::new(true),
            kicked: Cell::new(false),
            running: Cell::new(false),
            shutdown_at: Cell::new(None),
            untracked: Cell::new(0),
            cqes: RefCell::new(Vec::with_capacity(256)),
            max_unread: cfg.max_unread_bytes,
            direct_wait: Cell::new(cfg.direct_wait),
            direct_until: Cell::new(None),
            eventfd_on: Cell::new(true),
            mode,
            stats: Counters::default(),
        };
        let inner = Rc::new(inner);
        inner.pool.set_ring(Rc::downgrade(&inner));
        Ok(Ring { inner })
    }

    /// The driver loop; spawn it once per shard with `shard::spawn_local`.
    ///
    /// Each round submits queued SQEs and reaps completions with one
    /// non-blocking `io_uring_enter`, waking the futures that wait on them.
    /// After a round that reaped anything it yields, so the woken tasks run
    /// and queue their next SQEs, which the following round submits as one
    /// batch. After an empty round it parks on the ring's eventfd; for
    /// [`RingConfig::direct_wait`] after each such park, it instead blocks in
    /// its own ring until a completion arrives (see `drive`). Returns
    /// once [`Ring::shutdown`] was called and the kernel has finished every
    /// operation (or after a grace period).
    pub async fn run(self) {
        if self.inner.running.replace(true) {
            return;
        }
        match self.inner.parker() {
            Ok(park) => self.inner.drive(&park).await,
            Err(_) => self.inner.drive_polling().await,
        }
        self.inner.running.set(false);
        self.inner.parked.set(true);
    }

    /// Stops the ring: cancels every operation, refuses new ones, and lets
    /// [`Ring::run`] return once the kernel has finished.
    pub fn shutdown(&self) {
        let inner = &self.inner;
        if inner.shutdown_at.get().is_some() {
            return;
        }
        inner.shutdown_at.set(Some(Instant::now()));
        let live = inner.slots.borrow().in_kernel();
        live.into_iter().for_each(|ud| inner.cancel(ud));
        inner.kick();
    }

    /// A snapshot of the ring's counters.
    pub fn stats(&self) -> RingStats {
        let i = &self.inner;
        let s = &i.stats;
        RingStats {
            mode: i.mode,
            buffers_total: i.pool.total(),
            buffers_free: i.pool.free(),
            ops_in_flight: i.slots.borrow().live() + i.untracked.get(),
            sockets_open: s.sockets_open.get(),
            rearms: s.rearms.get(),
            enobufs: s.enobufs.get(),
            recv_pauses: s.recv_pauses.get(),
            spills: s.spills.get(),
            enters: s.enters.get(),
            cqes: s.cqes.get(),
            parks: s.parks.get(),
            direct_waits: s.direct_waits.get(),
        }
    }

    /// Size of each provided receive buffer.
    pub fn buffer_size(&self) -> u32 {
        self.inner.pool.buf_size()
    }

    /// Whether [`Ring::shutdown`] was called.
    pub fn is_shutdown(&self) -> bool {
        self.inner.is_shutdown()
    }
}

impl fmt::Debug for Ring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ring")
            .field("stats", &self.stats())
            .finish()
    }
}

fn build_uring(
    cfg: &RingConfig,
    modes: &[SetupMode],
) -> Result<(IoUring, SetupMode), IoSetupError> {
    let mut last = None;
    for &mode in modes {
        let mut b = IoUring::builder();
        b.setup_cqsize(cfg.entries * CQ_FACTOR);
        match mode {
            SetupMode::Deferred => b.setup_single_issuer().setup_defer_taskrun(),
            SetupMode::Cooperative => b.setup_coop_taskrun().setup_taskrun_flag(),
            SetupMode::Plain => &mut b,
        };
        match b.build(cfg.entries) {
            Ok(r) => return Ok((r, mode)),
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) => last = Some(e),
            Err(e) => return Err(IoSetupError::from_os("setup", "io_uring", e)),
        }
    }
    let e = last.unwrap_or_else(|| io::Error::from_raw_os_error(libc::EINVAL));
    Err(IoSetupError::from_os(
        "setup",
        "the requested io_uring setup flags",
        e,
    ))
}

fn new_eventfd() -> Result<OwnedFd, IoSetupError> {
    // Blocking on purpose: glommio reads it through io_uring, which parks a
    // read on a blocking eventfd but fails one on an O_NONBLOCK eventfd.
    // SAFETY: plain syscall; the result is checked before use.
    let fd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC) };
    if fd < 0 {
        let e = io::Error::last_os_error();
        return Err(IoSetupError::from_os("eventfd", "eventfd", e));
    }
    // SAFETY: `fd` is a fresh descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

// === impl Inner ===

impl Inner {
    pub(crate) fn is_shutdown(&self) -> bool {
        self.shutdown_at.get().is_some()
    }

    /// Queues an SQE whose memory the caller keeps alive until its CQE.
    ///
    /// Submits at once when no driver round is coming (the driver is parked
    /// or not running); otherwise the driver's next round batches it.
    pub(crate) fn push(&self, sqe: squeue::Entry) {
        let pushed = self.backlog.borrow().is_empty() && {
            let mut ring = self.uring.borrow_mut();
            // SAFETY: every SQE built in this module points only into memory
            // owned by its op slot (`Hold`), the buffer pool, or a socket
            // kept alive by the slot; those outlive the operation.
            let ok = unsafe { ring.submission().push(&sqe) }.is_ok();
            ok
        };
        if !pushed {
            self.backlog.borrow_mut().push_back(sqe);
        }
        if self.parked.get() || !pushed {
            self.submit_now();
        }
    }

    /// Starts a one-shot op: `build` makes its SQE from the slot-owned `hold`.
    pub(crate) fn start(
        self: &Rc<Self>,
        hold: Hold,
        cancel_on_drop: bool,
        build: impl FnOnce(&Hold) -> squeue::Entry,
    ) -> Result<OpFuture, (io::Error, Hold)> {
        if self.is_shutdown() {
            return Err((error::ring_closed(), hold));
        }
        let sqe = build(&hold);
        let ud = self
            .slots
            .borrow_mut()
            .insert(SlotState::Waiting { waker: None, hold });
        self.push(sqe.user_data(ud));
        Ok(OpFuture::new(Rc::clone(self), ud, cancel_on_drop))
    }

    /// Arms a multishot op whose CQEs go to `state`; returns its `user_data`.
    pub(crate) fn arm(&self, state: SlotState, sqe: squeue::Entry) -> Option<u64> {
        if self.is_shutdown() {
            return None;
        }
        let ud = self.slots.borrow_mut().insert(state);
        self.push(sqe.user_data(ud));
        Some(ud)
    }

    /// Asks the kernel to cancel operation `ud` (fire and forget).
    pub(crate) fn cancel(&self, ud: u64) {
        self.push_untracked(opcode::AsyncCancel::new(ud).build());
    }

    /// Closes `fd` through the ring (or directly if no driver will reap it).
    pub(crate) fn close_fd(&self, fd: OwnedFd) {
        if self.running.get() && !self.is_shutdown() {
            let raw = std::os::fd::IntoRawFd::into_raw_fd(fd);
            self.push_untracked(opcode::Close::new(types::Fd(raw)).build());
        } else {
            drop(fd);
        }
    }

    fn push_untracked(&self, sqe: squeue::Entry) {
        self.untracked.set(self.untracked.get() + 1);
        self.push(sqe.user_data(UNTRACKED));
    }

    pub(crate) fn socket_opened(&self) {
        let c = &self.stats.sockets_open;
        c.set(c.get() + 1);
    }

    pub(crate) fn socket_closed(&self) {
        let c = &self.stats.sockets_open;
        c.set(c.get().saturating_sub(1));
    }

    pub(crate) fn count_rearm(&self) {
        bump(&self.stats.rearms);
    }

    pub(crate) fn count_spill(&self) {
        bump(&self.stats.spills);
    }

    pub(crate) fn count_pause(&self) {
        bump(&self.stats.recv_pauses);
    }

    /// Remembers a socket whose multishot recv ended with ENOBUFS.
    pub(crate) fn starve(&self, sock: &Rc<Sock>) {
        bump(&self.stats.enobufs);
        self.starved.borrow_mut().push(Rc::downgrade(sock));
        self.pool.set_starving(true);
    }

    /// Wakes a parked driver (an eventfd write) when it has work to find.
    pub(crate) fn kick(&self) {
        if self.parked.get() && self.running.get() && !self.kicked.replace(true) {
            let one: u64 = 1;
            // SAFETY: writes 8 bytes from a live u64 to our own eventfd.
            unsafe { libc::write(self.efd.as_raw_fd(), (&one as *const u64).cast(), 8) };
        }
    }

    /// Moves backlogged SQEs into the submission queue.
    fn flush_backlog(&self, ring: &mut IoUring) {
        let mut backlog = self.backlog.borrow_mut();
        while let Some(sqe) = backlog.front() {
            // SAFETY: as in `push`: the SQE's memory is owned by its slot.
            if unsafe { ring.submission().push(sqe) }.is_err() {
                break;
            }
            backlog.pop_front();
        }
    }

    /// Submits queued SQEs and runs deferred completions, without waiting.
    fn enter(&self) {
        let mut ring = self.uring.borrow_mut();
        loop {
            self.flush_backlog(&mut ring);
            let n = ring.submission().len() as u32;
            bump(&self.stats.enters);
            // SAFETY: no timeout/sigmask argument is passed; the SQEs are valid (see `push`).
            let r = unsafe {
                ring.submitter()
                    .enter::<libc::sigset_t>(n, 0, ENTER_GETEVENTS, None)
            };
            let retry = match r {
                Ok(_) => !self.backlog.borrow().is_empty() && !ring.submission().is_full(),
                Err(e) => e.raw_os_error() == Some(libc::EINTR),
            };
            if !retry {
                break;
            }
        }
    }

    /// Submits right away (a task queued an SQE while the driver is parked).
    fn submit_now(&self) {
        self.enter();
        let ready = !self.uring.borrow_mut().completion().is_empty();
        if ready || !self.backlog.borrow().is_empty() {
            self.kick();
        }
    }

    /// Reaps every visible CQE and dispatches it; returns how many.
    fn reap(self: &Rc<Self>) -> usize {
        let mut batch = std::mem::take(&mut *self.cqes.borrow_mut());
        batch.clear();
        {
            let mut ring = self.uring.borrow_mut();
            batch.extend(
                ring.completion()
                    .map(|c| (c.user_data(), c.result(), c.flags())),
            );
        }
        for &(ud, res, flags) in &batch {
            self.dispatch(ud, res, flags);
        }
        let n = batch.len();
        *self.cqes.borrow_mut() = batch;
        self.stats.cqes.set(self.stats.cqes.get() + n as u64);
        n
    }

    fn dispatch(self: &Rc<Self>, ud: u64, res: i32, flags: u32) {
        if ud & UNTRACKED != 0 {
            self.untracked.set(self.untracked.get().saturating_sub(1));
            return;
        }
        let more = cqueue::more(flags);
        let target = {
            let mut slots = self.slots.borrow_mut();
            match slots.get_mut(ud) {
                Some(SlotState::Recv(s)) => Target::Recv(Rc::clone(s)),
                Some(SlotState::Accept(l)) => Target::Accept(Rc::clone(l)),
                Some(SlotState::Orphan(_)) => Target::Orphan,
                Some(s @ SlotState::Waiting { .. }) => {
                    let SlotState::Waiting { waker, hold } = std::mem::replace(s, SlotState::Free)
                    else {
                        return;
                    };
                    *s = SlotState::Done(Completion { res, flags, hold });
                    drop(slots);
                    waker.into_iter().for_each(Waker::wake);
                    return;
                }
                _ => Target::Stale,
            }
        };
        let free = !more || matches!(target, Target::Orphan);
        match target {
            Target::Recv(sock) => sock.on_recv(ud, res, flags),
            Target::Accept(l) => l.on_accept(ud, res, flags),
            Target::Stale => self.drop_stale(res, flags),
            Target::Orphan => {}
        }
        if free {
            let old = self.slots.borrow_mut().remove(ud);
            drop(old);
        }
    }

    /// A CQE for no live slot (must not happen): return any buffer it carries.
    fn drop_stale(&self, res: i32, flags: u32) {
        debug_assert!(false, "CQE for a free slot (res {res})");
        if let Some(bid) = cqueue::buffer_select(flags) {
            self.pool.recycle(bid);
        }
    }

    /// Re-arms sockets that ran out of buffers, once some came back.
    fn rearm_starved(&self) {
        if self.pool.free() == 0 || self.starved.borrow().is_empty() {
            return;
        }
        self.pool.set_starving(false);
        let starved = std::mem::take(&mut *self.starved.borrow_mut());
        for sock in starved.iter().filter_map(Weak::upgrade) {
            sock.resume_after_enobufs();
        }
    }
}

enum Target {
    Recv(Rc<Sock>),
    Accept(Rc<super::listener::ListenShared>),
    Orphan,
    Stale,
}

impl Drop for Inner {
    fn drop(&mut self) {
        // Reaching here means no slot holds an Rc to a socket or listener, and
        // no op future is alive; orphaned sends may remain. Cancel them and
        // poll briefly so the kernel is done with their memory; if it is
        // not, leak it rather than free memory the kernel may still read.
        let live = self.slots.borrow().in_kernel();
        if live.is_empty() {
            return;
        }
        let ring = self.uring.get_mut();
        for ud in &live {
            // SAFETY: a cancel SQE points at no memory.
            let _ = unsafe {
                ring.submission()
                    .push(&opcode::AsyncCancel::new(*ud).build().user_data(UNTRACKED))
            };
        }
        let slots = self.slots.get_mut();
        for _ in 0..100 {
            let n = ring.submission().len() as u32;
            // SAFETY: no timeout/sigmask argument; the SQEs are cancels.
            let _ = unsafe {
                ring.submitter()
                    .enter::<libc::sigset_t>(n, 0, ENTER_GETEVENTS, None)
            };
            let done: Vec<u64> = ring
                .completion()
                .map(|c| c.user_data())
                .filter(|u| u & UNTRACKED == 0)
                .collect();
            done.into_iter().for_each(|ud| drop(slots.remove(ud)));
            if slots.live() == 0 {
                return;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        std::mem::forget(std::mem::take(slots));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_reports_config_errors() {
        let cfg = RingConfig {
            buffer_count: 3,
            ..Default::default()
        };
        assert!(matches!(Ring::new(&cfg), Err(IoSetupError::Config(_))));
    }

    #[test]
    fn new_sets_up_the_pool() {
        let ring = Ring::new(&RingConfig::default()).expect("io_uring");
        let st = ring.stats();
        assert_eq!((st.buffers_total, st.buffers_free), (1024, 1024));
        assert_eq!((st.ops_in_flight, st.sockets_open), (0, 0));
        assert!(!ring.is_shutdown());
        ring.shutdown();
        assert!(ring.is_shutdown());
    }

    #[test]
    fn every_setup_mode_builds() {
        for mode in [
            SetupMode::Deferred,
            SetupMode::Cooperative,
            SetupMode::Plain,
        ] {
            let ring = Ring::with_modes(&RingConfig::default(), &[mode]).expect("io_uring");
            assert_eq!(ring.stats().mode, mode);
        }
        assert!(Ring::with_modes(&RingConfig::default(), &[]).is_err());
    }
}
