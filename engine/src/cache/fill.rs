//! Fetches in flight, one per key: the first miss leads (fetches from the
//! upstream), and the misses that come while it runs wait on its [`Fill`]
//! instead of going upstream too (nginx's `proxy_cache_lock`). A waiter
//! streams the body as the leader receives it when its length is known;
//! a chunked body is handed over whole.
//!
//! No lock anywhere: the map is lock-free (`papaya`), a fill's body is an
//! append-only list with one writer (the leader), and waiters, which may
//! sit on other shards, park their wakers in a lock-free queue. A waiter
//! queues its waker, then looks again; the leader publishes, then wakes
//! everything queued: with a SeqCst fence on each side, no wake-up is lost.

use std::cell::RefCell;
use std::pin::Pin;
use std::sync::atomic::{fence, AtomicU8, Ordering};
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll, Waker};

use bytes::Bytes;
use cache::CacheKey;
use crossbeam_queue::SegQueue;

use super::store::Entry;

/// The fetches in flight, by key.
pub(crate) struct Fills {
    map: papaya::HashMap<CacheKey, Arc<Fill>, ahash::RandomState>,
}

// 0: no head yet (or a chunked body, handed over once whole).
const STREAMING: u8 = 1;
const DONE: u8 = 2;
const BROKEN: u8 = 3;
const ABANDONED: u8 = 4;

/// One fetch, as its waiters see it.
#[derive(Default)]
pub(crate) struct Fill {
    state: AtomicU8,
    /// The head (the entry without its body), once streaming.
    head: OnceLock<Arc<Entry>>,
    /// The stored entry, once done.
    done: OnceLock<Arc<Entry>>,
    /// The body's first piece; each piece links the next.
    first: OnceLock<Arc<Piece>>,
    wakers: SegQueue<Waker>,
}

/// A body piece; an empty one ends the body.
pub(crate) struct Piece {
    data: Bytes,
    next: OnceLock<Arc<Piece>>,
}

/// What a waiter sees next.
pub(crate) enum Event {
    /// The head, with the body's full length in `Entry::len` (no body yet).
    Head(Arc<Entry>),
    Chunk(Bytes),
    /// The body streamed whole.
    End,
    /// Whole already: answer from the entry.
    Done(Arc<Entry>),
    Broken,
    Abandoned,
}

/// The leader's hold on a fill; dropped without [`Lead::done`] (a failed
/// fetch, a panic, a cancelled request), it abandons the fill.
pub(crate) struct Lead<'s> {
    fills: &'s Fills,
    key: CacheKey,
    fill: Arc<Fill>,
    /// The last piece published (the leader is the list's only writer).
    tail: RefCell<Option<Arc<Piece>>>,
    finished: bool,
}

/// A miss: lead the fetch, or wait on the one in flight.
pub(crate) enum Join<'s> {
    Lead(Lead<'s>),
    Wait(Arc<Fill>),
}

// === impl Fills ===

impl Fills {
    pub(crate) fn new() -> Fills {
        Fills {
            map: papaya::HashMap::with_hasher(ahash::RandomState::new()),
        }
    }

    /// Leads the fetch of `key`, or joins the one in flight.
    pub(crate) fn join(&self, key: &CacheKey) -> Join<'_> {
        let map = self.map.pin();
        let fill = Arc::new(Fill::default());
        match map.try_insert(key.clone(), fill.clone()) {
            Ok(_) => Join::Lead(Lead {
                fills: self,
                key: key.clone(),
                fill,
                tail: RefCell::new(None),
                finished: false,
            }),
            Err(taken) => Join::Wait(taken.current.clone()),
        }
    }

    /// Leads the fetch of `key` only if none is in flight (a background
    /// refresh never waits).
    pub(crate) fn try_lead(&self, key: &CacheKey) -> Option<Lead<'_>> {
        match self.join(key) {
            Join::Lead(l) => Some(l),
            Join::Wait(_) => None,
        }
    }

    fn forget(&self, key: &CacheKey, fill: &Arc<Fill>) {
        let _ = self.map.pin().remove_if(key, |_, f| Arc::ptr_eq(f, fill));
    }
}

// === impl Lead ===

impl Lead<'_> {
    /// The head is here and `entry.len` body bytes follow: waiters start
    /// streaming.
    pub(crate) fn head(&self, entry: Arc<Entry>) {
        let _ = self.fill.head.set(entry);
        self.fill.publish(STREAMING);
    }

    /// A body piece of a streaming fill.
    pub(crate) fn chunk(&self, data: Bytes) {
        let piece = Arc::new(Piece {
            data,
            next: OnceLock::new(),
        });
        let mut tail = self.tail.borrow_mut();
        let _ = match tail.as_ref() {
            Some(t) => t.next.set(piece.clone()),
            None => self.fill.first.set(piece.clone()),
        };
        *tail = Some(piece);
        drop(tail);
        self.fill.wake();
    }

    /// Stored: later misses find the entry in the store, waiters answer
    /// from it (or finish streaming it).
    pub(crate) fn done(mut self, entry: Arc<Entry>) {
        self.finished = true;
        self.fills.forget(&self.key, &self.fill);
        let _ = self.fill.done.set(entry);
        // The empty piece ends a streamed body.
        self.chunk(Bytes::new());
        self.fill.publish(DONE);
    }
}

impl Drop for Lead<'_> {
    fn drop(&mut self) {
        if self.finished {
            return;
        }
        self.fills.forget(&self.key, &self.fill);
        let state = match self.fill.state.load(Ordering::SeqCst) {
            STREAMING => BROKEN,
            _ => ABANDONED,
        };
        self.fill.publish(state);
    }
}

// === impl Fill ===

impl Fill {
    fn publish(&self, state: u8) {
        self.state.store(state, Ordering::SeqCst);
        self.wake();
    }

    fn wake(&self) {
        fence(Ordering::SeqCst);
        while let Some(w) = self.wakers.pop() {
            w.wake();
        }
    }

    /// The next event for a waiter at `at`.
    pub(crate) fn next<'a>(self: &'a Arc<Self>, at: &'a mut At) -> Next<'a> {
        Next { fill: self, at }
    }

    fn check(&self, at: &mut At) -> Option<Event> {
        let state = self.state.load(Ordering::SeqCst);
        let started = match at {
            At::Start => {
                return match state {
                    STREAMING => {
                        let head = self.head.get().cloned()?;
                        *at = At::Body(None);
                        Some(Event::Head(head))
                    }
                    DONE => self.done.get().cloned().map(Event::Done),
                    BROKEN | ABANDONED => Some(Event::Abandoned),
                    _ => None,
                }
            }
            At::Body(last) => last,
        };
        let next = match started {
            Some(p) => p.next.get(),
            None => self.first.get(),
        };
        match next.cloned() {
            Some(p) if p.data.is_empty() => Some(Event::End),
            Some(p) => {
                let data = p.data.clone();
                *started = Some(p);
                Some(Event::Chunk(data))
            }
            None if matches!(state, BROKEN | ABANDONED) => Some(Event::Broken),
            None => None,
        }
    }
}

/// Where a waiter is: before the head, or after a body piece.
pub(crate) enum At {
    Start,
    Body(Option<Arc<Piece>>),
}

/// A wait for a fill's next event.
pub(crate) struct Next<'a> {
    fill: &'a Arc<Fill>,
    at: &'a mut At,
}

impl std::future::Future for Next<'_> {
    type Output = Event;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Event> {
        let this = self.get_mut();
        if let Some(e) = this.fill.check(this.at) {
            return Poll::Ready(e);
        }
        this.fill.wakers.push(cx.waker().clone());
        fence(Ordering::SeqCst);
        match this.fill.check(this.at) {
            Some(e) => Poll::Ready(e),
            None => Poll::Pending,
        }
    }
}
