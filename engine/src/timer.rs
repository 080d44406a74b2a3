//! The shard's coarse timer wheel: every timeout on the data path (header,
//! keep-alive, upstream connect, send and receive) is one entry here
//! instead of one glommio timer each, which cost a BTreeMap insert and
//! remove and a clock read per request; on the 100 B headline the wheel
//! took coregate from 26.1k to 24.5k user-space instructions per request
//! (callgrind, 2026-12-02).
//!
//! A hierarchical wheel as in the Linux kernel and tokio: [`LEVELS`]
//! levels of 64 slots, slot width 64^level ms, so insert, cancel and
//! expiry are O(1) with entries linked through a slab by index (no
//! unsafe, no allocation once the slab has grown). Resolution is 1 ms: a
//! deadline fires at most one tick late, plus, on an idle shard, the io
//! driver's direct-wait window (`--io-direct-wait`, 5 ms), during which
//! the ticker's glommio timer is not looked at. One ticker task per shard
//! (`shard::run_timers`) sleeps until the next occupied slot and advances
//! the wheel; a new deadline earlier than the ticker's planned wake kicks
//! it. Nothing here touches glommio.

use std::cell::RefCell;
use std::task::Waker;
use std::time::{Duration, Instant};

/// Levels of the wheel; the last covers 64^4 ms, about 4.6 hours, and a
/// later deadline waits in its last slot and is re-filed when that comes.
const LEVELS: usize = 4;
const SLOTS: u64 = 64;
const NONE: u32 = u32::MAX;

/// One timer: its deadline in ms ticks, who to wake, and its links.
#[derive(Debug)]
struct Entry {
    deadline: u64,
    waker: Option<Waker>,
    fired: bool,
    /// (level, slot) while filed in a slot.
    filed: Option<(u8, u8)>,
    prev: u32,
    next: u32,
    generation: u32,
}

/// A handle to a registered timer: slab index and generation, so that a
/// stale handle never touches a reused entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Key {
    index: u32,
    generation: u32,
}

/// The wheel of one shard.
#[derive(Debug)]
pub(crate) struct Wheel {
    origin: Instant,
    /// Ticks processed: every deadline at or before it has fired.
    elapsed: u64,
    entries: Vec<Entry>,
    free: Vec<u32>,
    heads: [[u32; SLOTS as usize]; LEVELS],
    occupied: [u64; LEVELS],
    live: usize,
    /// The tick the ticker sleeps until (u64::MAX: parked, no timers).
    ticker_at: u64,
    ticker: Option<Waker>,
    /// A deadline nearer than `ticker_at` came: the ticker plans again.
    kicked: bool,
}

thread_local! {
    static WHEEL: RefCell<Wheel> = RefCell::new(Wheel::new(Instant::now()));
}

/// Runs `f` on this thread's wheel.
pub(crate) fn with<R>(f: impl FnOnce(&mut Wheel) -> R) -> R {
    WHEEL.with(|w| f(&mut w.borrow_mut()))
}

// === impl Wheel ===

impl Wheel {
    pub(crate) fn new(origin: Instant) -> Wheel {
        Wheel {
            origin,
            elapsed: 0,
            entries: Vec::new(),
            free: Vec::new(),
            heads: [[NONE; SLOTS as usize]; LEVELS],
            occupied: [0; LEVELS],
            live: 0,
            ticker_at: u64::MAX,
            ticker: None,
            kicked: false,
        }
    }

    /// The tick of `at`, rounded up: a deadline never fires early.
    pub(crate) fn tick_of(&self, at: Instant) -> u64 {
        let d = at.saturating_duration_since(self.origin);
        d.as_millis() as u64 + u64::from(!d.subsec_nanos().is_multiple_of(1_000_000))
    }

    /// The last whole tick at `at` (rounded down): what is due by then.
    fn ticks_at(&self, at: Instant) -> u64 {
        at.saturating_duration_since(self.origin).as_millis() as u64
    }

    /// The instant of tick `t`.
    pub(crate) fn instant_of(&self, t: u64) -> Instant {
        self.origin + Duration::from_millis(t)
    }

    /// Registers a timer `d` from `now` that wakes `waker`; `None` when it
    /// is already due.
    pub(crate) fn insert(&mut self, now: Instant, d: Duration, waker: Waker) -> Option<Key> {
        let deadline = self.tick_of(now + d);
        if deadline <= self.elapsed {
            return None;
        }
        let index = self.alloc(deadline, waker);
        self.file(index);
        self.live += 1;
        if deadline < self.ticker_at {
            self.kick_ticker();
        }
        Some(Key {
            index,
            generation: self.entries[index as usize].generation,
        })
    }

    /// Whether `key` fired; replaces its waker when it changed.
    pub(crate) fn poll(&mut self, key: Key, waker: &Waker) -> bool {
        let Some(e) = self.entry_mut(key) else {
            return true;
        };
        if e.fired {
            return true;
        }
        if !e.waker.as_ref().is_some_and(|w| w.will_wake(waker)) {
            e.waker = Some(waker.clone());
        }
        false
    }

    /// Removes `key`, fired or not.
    pub(crate) fn cancel(&mut self, key: Key) {
        if self.entry_mut(key).is_none() {
            return;
        }
        let index = key.index;
        if !self.entries[index as usize].fired {
            self.unfile(index);
            self.live -= 1;
        }
        let e = &mut self.entries[index as usize];
        e.waker = None;
        e.generation = e.generation.wrapping_add(1);
        self.free.push(index);
    }

    /// Timers not yet fired.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.live
    }

    /// Fires every timer due at `now`; returns how many fired.
    pub(crate) fn advance(&mut self, now: Instant) -> usize {
        let now = self.ticks_at(now).max(self.elapsed);
        let mut fired = 0;
        while let Some((level, slot, at)) = self.next_slot() {
            if at > now {
                break;
            }
            self.elapsed = self.elapsed.max(at);
            fired += self.expire(level, slot);
        }
        self.elapsed = now;
        fired
    }

    /// The tick of the next occupied slot's start, when any: the ticker
    /// sleeps until then (it may hold only entries to re-file lower).
    pub(crate) fn next_wake(&self) -> Option<u64> {
        self.next_slot().map(|(_, _, at)| at)
    }

    /// The ticker parks until the tick `at` (`None`: until a timer is
    /// inserted); `true` when a nearer deadline came since it planned,
    /// so that it must plan again now.
    pub(crate) fn park_ticker(&mut self, waker: &Waker, at: Option<Instant>) -> bool {
        let at = at.map_or(u64::MAX, |at| self.tick_of(at));
        if self.kicked {
            self.kicked = false;
            return true;
        }
        self.ticker = Some(waker.clone());
        self.ticker_at = at;
        false
    }

    fn kick_ticker(&mut self) {
        self.ticker_at = 0;
        self.kicked = true;
        if let Some(w) = self.ticker.take() {
            w.wake();
        }
    }

    fn entry_mut(&mut self, key: Key) -> Option<&mut Entry> {
        self.entries
            .get_mut(key.index as usize)
            .filter(|e| e.generation == key.generation)
    }

    fn alloc(&mut self, deadline: u64, waker: Waker) -> u32 {
        let fresh = |generation| Entry {
            deadline,
            waker: Some(waker),
            fired: false,
            filed: None,
            prev: NONE,
            next: NONE,
            generation,
        };
        match self.free.pop() {
            Some(i) => {
                let generation = self.entries[i as usize].generation;
                self.entries[i as usize] = fresh(generation);
                i
            }
            None => {
                self.entries.push(fresh(0));
                (self.entries.len() - 1) as u32
            }
        }
    }

    /// Files entry `i` in the slot its deadline falls in, as seen from
    /// `elapsed`: the level is the highest 6-bit digit where they differ.
    fn file(&mut self, i: u32) {
        let deadline = self.entries[i as usize].deadline;
        let (level, slot) = slot_for(self.elapsed, deadline);
        let head = self.heads[level][slot];
        {
            let e = &mut self.entries[i as usize];
            e.filed = Some((level as u8, slot as u8));
            e.prev = NONE;
            e.next = head;
        }
        if head != NONE {
            self.entries[head as usize].prev = i;
        }
        self.heads[level][slot] = i;
        self.occupied[level] |= 1 << slot;
    }

    fn unfile(&mut self, i: u32) {
        let Some((level, slot)) = self.entries[i as usize].filed.take() else {
            return;
        };
        let (level, slot) = (usize::from(level), usize::from(slot));
        let (prev, next) = (self.entries[i as usize].prev, self.entries[i as usize].next);
        match prev {
            NONE => self.heads[level][slot] = next,
            p => self.entries[p as usize].next = next,
        }
        if next != NONE {
            self.entries[next as usize].prev = prev;
        }
        if self.heads[level][slot] == NONE {
            self.occupied[level] &= !(1 << slot);
        }
    }

    /// The lowest level's next occupied slot from `elapsed`, with the tick
    /// its span starts at.
    fn next_slot(&self) -> Option<(usize, usize, u64)> {
        (0..LEVELS).find_map(|level| {
            let width = 6 * level as u32;
            let now_slot = (self.elapsed >> width) % SLOTS;
            let rotated = self.occupied[level].rotate_right(now_slot as u32);
            if rotated == 0 {
                return None;
            }
            let ahead = u64::from(rotated.trailing_zeros());
            let slot = (now_slot + ahead) % SLOTS;
            let span = 1u64 << (width + 6);
            let base = self.elapsed & !(span - 1);
            // Past slot 63 is the next lap; the current slot of a higher
            // level holds entries to file lower now.
            let start = base + ((now_slot + ahead) << width);
            Some((level, slot as usize, start.max(self.elapsed)))
        })
    }

    /// Empties a slot: due entries fire, the rest are filed lower.
    fn expire(&mut self, level: usize, slot: usize) -> usize {
        let mut i = self.heads[level][slot];
        self.heads[level][slot] = NONE;
        self.occupied[level] &= !(1 << slot);
        let mut fired = 0;
        while i != NONE {
            let next = self.entries[i as usize].next;
            self.entries[i as usize].filed = None;
            if self.entries[i as usize].deadline <= self.elapsed {
                self.fire(i);
                fired += 1;
            } else {
                self.file(i);
            }
            i = next;
        }
        fired
    }

    fn fire(&mut self, i: u32) {
        let e = &mut self.entries[i as usize];
        e.fired = true;
        self.live -= 1;
        if let Some(w) = e.waker.take() {
            w.wake();
        }
    }
}

/// The (level, slot) of `deadline` seen from `elapsed`: the level is the
/// highest 6-bit digit where the two differ. A deadline in a later top
/// lap goes to the top slot it falls in, at most 63 ahead (about 4.5
/// hours), and is filed again when that slot comes.
fn slot_for(elapsed: u64, deadline: u64) -> (usize, usize) {
    let masked = (elapsed ^ deadline) | (SLOTS - 1);
    let level = (63 - masked.leading_zeros() as usize) / 6;
    if level >= LEVELS {
        // Across the top lap's end: count top slots ahead, at most 63.
        let top = 6 * (LEVELS - 1);
        let ahead = ((deadline >> top) - (elapsed >> top)).min(SLOTS - 1);
        return (LEVELS - 1, (((elapsed >> top) + ahead) % SLOTS) as usize);
    }
    (level, ((deadline >> (6 * level)) % SLOTS) as usize)
}

#[cfg(test)]
mod tests;
