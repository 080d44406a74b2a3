//! Operation slots: where an in-flight operation's resources live until the
//! kernel is done with them (the tokio-uring pattern).
//!
//! An SQE's `user_data` is `generation << 32 | slot index`. A slot is freed
//! only when its final CQE has been reaped, so whatever memory the SQE points
//! into (a send buffer, an iovec array, a socket address) stays alive even if
//! the future that started the operation was dropped: the slot turns into an
//! `Orphan` that the driver frees on completion. The generation makes a late
//! `AsyncCancel` for a finished operation miss a reused slot.

use std::cell::RefCell;
use std::future::Future;
use std::os::fd::OwnedFd;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use super::conn::Sock;
use super::listener::ListenShared;
use super::ring::Inner;
use super::send::SendBuf;

/// `user_data` bit for fire-and-forget SQEs (cancel, close): no slot.
pub(crate) const UNTRACKED: u64 = 1 << 63;

/// Resources an operation's SQE points into.
pub(crate) enum Hold {
    /// Nothing (e.g. multishot ops, which hold their owner instead).
    None,
    /// A `send` of one buffer.
    Send(SendBuf),
    /// A `sendmsg` with its iovec array and header.
    Msg(Box<MsgHold>),
    /// A `connect`: the socket and the address it points at.
    Connect(Box<ConnectHold>),
}

/// The heap-pinned state of a vectored send.
pub(crate) struct MsgHold {
    pub(crate) bufs: Vec<SendBuf>,
    pub(crate) iov: Vec<libc::iovec>,
    pub(crate) msg: libc::msghdr,
}

/// The socket and address of an in-flight connect.
pub(crate) struct ConnectHold {
    pub(crate) fd: OwnedFd,
    pub(crate) addr: socket2::SockAddr,
}

/// What one slot holds.
pub(crate) enum SlotState {
    Free,
    /// Submitted; the owning future may be waiting.
    Waiting {
        waker: Option<Waker>,
        hold: Hold,
    },
    /// Completed; the owning future has not collected the result yet.
    Done(Completion),
    /// The owning future was dropped; freed when the CQE arrives. The hold
    /// is never read: it only keeps the SQE's memory alive.
    Orphan(#[allow(dead_code)] Hold),
    /// A multishot recv feeding a socket's receive queue.
    Recv(Rc<Sock>),
    /// A multishot accept feeding a listener's queue.
    Accept(Rc<ListenShared>),
}

/// A finished one-shot operation.
pub(crate) struct Completion {
    pub(crate) res: i32,
    #[allow(dead_code)]
    pub(crate) flags: u32,
    pub(crate) hold: Hold,
}

/// The shard's table of operation slots.
#[derive(Default)]
pub(crate) struct Slots {
    slots: Vec<(u32, SlotState)>,
    free: Vec<u32>,
    live: u32,
}

// === impl Slots ===

impl Slots {
    /// Stores `state` in a free slot and returns its `user_data`.
    pub(crate) fn insert(&mut self, state: SlotState) -> u64 {
        self.live += 1;
        let idx = match self.free.pop() {
            Some(i) => i,
            None => {
                self.slots.push((0, SlotState::Free));
                (self.slots.len() - 1) as u32
            }
        };
        let slot = &mut self.slots[idx as usize];
        slot.1 = state;
        (u64::from(slot.0) << 32) | u64::from(idx)
    }

    /// The slot `ud` names, if it is still that operation's.
    pub(crate) fn get_mut(&mut self, ud: u64) -> Option<&mut SlotState> {
        let (gen, idx) = split(ud);
        match self.slots.get_mut(idx) {
            Some((g, s)) if *g == gen && !matches!(s, SlotState::Free) => Some(s),
            _ => None,
        }
    }

    /// Frees slot `ud` and returns what it held (drop it after releasing the table).
    pub(crate) fn remove(&mut self, ud: u64) -> SlotState {
        let (gen, idx) = split(ud);
        let Some((g, s)) = self.slots.get_mut(idx) else {
            return SlotState::Free;
        };
        if *g != gen || matches!(s, SlotState::Free) {
            return SlotState::Free;
        }
        *g = (*g + 1) & 0x7fff_ffff;
        self.free.push(idx as u32);
        self.live -= 1;
        std::mem::replace(s, SlotState::Free)
    }

    /// Number of operations the kernel has not finished.
    pub(crate) fn live(&self) -> u32 {
        self.live
    }

    /// The `user_data` of every live slot the kernel still owns.
    pub(crate) fn in_kernel(&self) -> Vec<u64> {
        let mut v = Vec::new();
        for (i, (g, s)) in self.slots.iter().enumerate() {
            if !matches!(s, SlotState::Free | SlotState::Done(_)) {
                v.push((u64::from(*g) << 32) | i as u64);
            }
        }
        v
    }
}

fn split(ud: u64) -> (u32, usize) {
    ((ud >> 32) as u32, (ud & 0xffff_ffff) as usize)
}

/// Awaits one one-shot operation's completion.
pub(crate) struct OpFuture {
    ring: Rc<Inner>,
    ud: u64,
    cancel_on_drop: bool,
    finished: bool,
}

// === impl OpFuture ===

impl OpFuture {
    pub(crate) fn new(ring: Rc<Inner>, ud: u64, cancel_on_drop: bool) -> Self {
        OpFuture {
            ring,
            ud,
            cancel_on_drop,
            finished: false,
        }
    }

    /// The operation's `user_data` (to cancel it).
    pub(crate) fn user_data(&self) -> u64 {
        self.ud
    }
}

impl Future for OpFuture {
    type Output = Completion;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Completion> {
        let done = poll_slot(&self.ring.slots, self.ud, cx);
        if done.is_some() {
            self.finished = true;
        }
        done.map_or(Poll::Pending, Poll::Ready)
    }
}

fn poll_slot(slots: &RefCell<Slots>, ud: u64, cx: &mut Context<'_>) -> Option<Completion> {
    let mut slots = slots.borrow_mut();
    match slots.get_mut(ud) {
        Some(SlotState::Waiting { waker, .. }) => {
            if !waker.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                *waker = Some(cx.waker().clone());
            }
            None
        }
        Some(SlotState::Done(_)) => match slots.remove(ud) {
            SlotState::Done(c) => Some(c),
            _ => None,
        },
        _ => {
            debug_assert!(false, "op slot {ud:#x} lost");
            Some(Completion {
                res: -libc::ECANCELED,
                flags: 0,
                hold: Hold::None,
            })
        }
    }
}

impl Drop for OpFuture {
    fn drop(&mut self) {
        if self.finished {
            return;
        }
        let freed = {
            let mut slots = self.ring.slots.borrow_mut();
            match slots.get_mut(self.ud) {
                Some(s @ SlotState::Waiting { .. }) => {
                    if let SlotState::Waiting { hold, .. } = std::mem::replace(s, SlotState::Free) {
                        *s = SlotState::Orphan(hold);
                    }
                    None
                }
                Some(SlotState::Done(_)) => Some(slots.remove(self.ud)),
                _ => None,
            }
        };
        match freed {
            // Completed but never collected: release the resources now.
            Some(state) => drop(state),
            None if self.cancel_on_drop => self.ring.cancel(self.ud),
            None => {}
        }
    }
}
