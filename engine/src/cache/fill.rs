//! Fetches in flight, one per key: the first miss leads (fetches from the
//! upstream), and the misses that come while it runs wait on its [`Fill`]
//! instead of going upstream too (nginx's `proxy_cache_lock`). A waiter
//! streams the body as the leader receives it when its length is known;
//! a chunked body is handed over whole. Waiters may sit on other shards:
//! they are woken through their wakers, across threads. Only misses touch
//! this map (a mutex per segment); hits never do.

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

use bytes::Bytes;
use cache::CacheKey;

use super::store::Entry;

/// The fetches in flight, by key.
pub(crate) struct Fills {
    segments: Box<[Mutex<HashMap<CacheKey, Arc<Fill>>>]>,
}

/// One fetch, as its waiters see it.
#[derive(Default)]
pub(crate) struct Fill {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    state: State,
    /// Body pieces received so far (streaming fills only).
    chunks: Vec<Bytes>,
    wakers: Vec<Waker>,
}

#[derive(Default, Clone)]
enum State {
    /// No response head yet (or a chunked body, handed over once whole).
    #[default]
    Pending,
    /// The head is here and the body streams: `len` bytes in all.
    Streaming(Arc<Entry>),
    /// Stored: the waiter answers from the entry.
    Done(Arc<Entry>),
    /// The body broke off after its head: waiters that streamed it cut
    /// their connections.
    Broken,
    /// Not storable, or failed before its head: waiters go upstream.
    Abandoned,
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
    pub(crate) fill: Arc<Fill>,
    finished: bool,
}

/// A miss: lead the fetch, or wait on the one in flight.
pub(crate) enum Join<'s> {
    Lead(Lead<'s>),
    Wait(Arc<Fill>),
}

// === impl Fills ===

impl Fills {
    pub(crate) fn new(segments: usize) -> Fills {
        Fills {
            segments: (0..segments.max(1)).map(|_| Mutex::default()).collect(),
        }
    }

    fn segment(&self, key: &CacheKey) -> MutexGuard<'_, HashMap<CacheKey, Arc<Fill>>> {
        let i = key.shard(self.segments.len());
        lock(&self.segments[i])
    }

    /// Leads the fetch of `key`, or joins the one in flight.
    pub(crate) fn join(&self, key: &CacheKey) -> Join<'_> {
        let mut map = self.segment(key);
        if let Some(f) = map.get(key) {
            return Join::Wait(f.clone());
        }
        let fill = Arc::new(Fill::default());
        map.insert(key.clone(), fill.clone());
        Join::Lead(Lead {
            fills: self,
            key: key.clone(),
            fill,
            finished: false,
        })
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
        let mut map = self.segment(key);
        if map.get(key).is_some_and(|f| Arc::ptr_eq(f, fill)) {
            map.remove(key);
        }
    }
}

// === impl Lead ===

impl Lead<'_> {
    /// The head is here and `entry.len` body bytes follow: waiters start
    /// streaming.
    pub(crate) fn head(&self, entry: Arc<Entry>) {
        self.fill.set(|i| i.state = State::Streaming(entry));
    }

    /// A body piece of a streaming fill.
    pub(crate) fn chunk(&self, b: Bytes) {
        self.fill.set(|i| i.chunks.push(b));
    }

    /// Stored: later misses find the entry in the store, waiters answer
    /// from it (or finish streaming it).
    pub(crate) fn done(mut self, entry: Arc<Entry>) {
        self.finished = true;
        self.fills.forget(&self.key, &self.fill);
        self.fill.set(|i| {
            i.state = match i.state {
                State::Streaming(_) => State::Streaming(entry),
                _ => State::Done(entry),
            };
            i.chunks.push(Bytes::new());
        });
    }

    fn end(&mut self) {
        if std::mem::replace(&mut self.finished, true) {
            return;
        }
        self.fills.forget(&self.key, &self.fill);
        self.fill.set(|i| {
            i.state = match i.state {
                State::Streaming(_) => State::Broken,
                _ => State::Abandoned,
            };
        });
    }
}

impl Drop for Lead<'_> {
    fn drop(&mut self) {
        self.end();
    }
}

// === impl Fill ===

impl Fill {
    fn set(&self, f: impl FnOnce(&mut Inner)) {
        let wakers = {
            let mut i = lock(&self.inner);
            f(&mut i);
            std::mem::take(&mut i.wakers)
        };
        wakers.into_iter().for_each(Waker::wake);
    }

    /// The next event after the `seen` body pieces this waiter has had
    /// (`None`: not started).
    pub(crate) fn next(self: &Arc<Self>, seen: Option<usize>) -> Next {
        Next {
            fill: self.clone(),
            seen,
        }
    }

    fn poll_event(&self, seen: Option<usize>, cx: &mut Context<'_>) -> Poll<Event> {
        let mut i = lock(&self.inner);
        let event = match (&i.state, seen) {
            (State::Pending, _) => None,
            (State::Abandoned | State::Broken, None) => Some(Event::Abandoned),
            (State::Done(e), None) => Some(Event::Done(e.clone())),
            (State::Streaming(e), None) => Some(Event::Head(e.clone())),
            (_, Some(n)) => match i.chunks.get(n) {
                // The empty piece `done` pushed marks the end.
                Some(b) if b.is_empty() => Some(Event::End),
                Some(b) => Some(Event::Chunk(b.clone())),
                None if matches!(i.state, State::Broken | State::Abandoned) => Some(Event::Broken),
                None => None,
            },
        };
        match event {
            Some(e) => Poll::Ready(e),
            None => {
                if !i.wakers.iter().any(|w| w.will_wake(cx.waker())) {
                    i.wakers.push(cx.waker().clone());
                }
                Poll::Pending
            }
        }
    }
}

/// A wait for a fill's next event.
pub(crate) struct Next {
    fill: Arc<Fill>,
    seen: Option<usize>,
}

impl std::future::Future for Next {
    type Output = Event;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Event> {
        self.fill.poll_event(self.seen, cx)
    }
}

/// A poisoned lock (a panic while held) still holds consistent data here:
/// every update is one assignment or push.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}
