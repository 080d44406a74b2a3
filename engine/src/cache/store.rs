//! The host's one store of responses, shared by every shard, so that a
//! key is stored once whichever shard fills it: the hit ratio does not
//! fall with the number of shards (see README, "Response cache").
//!
//! No lock: the index is a lock-free map (`papaya`) from a key to its
//! [`Primary`] (the URL's `Vary` names and variants), and eviction is
//! S3-FIFO (Yang et al., SOSP 2023) over lock-free queues: a new key
//! enters a small FIFO (10% of the bytes); one that was read again by the
//! time it leaves moves to the main FIFO, the others go and are
//! remembered in a ghost FIFO, which sends them straight to main if they
//! come back. Main gives each key read since its last pass another pass.
//! A hit is one map probe and one relaxed store; bytes are counted per
//! entry (head, fields, body) and the total never stays over the budget
//! after an insert returns.

use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use cache::{CacheKey, EntryMeta, Field};
use crossbeam_queue::SegQueue;

use super::fill::Fills;

/// Variants kept per URL; a new one beyond this replaces the oldest.
const MAX_VARIANTS: usize = 16;
/// Bytes charged per entry beyond its head and body (bookkeeping).
const ENTRY_OVERHEAD: u64 = 256;

/// One stored response.
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    pub(crate) status: u16,
    pub(crate) reason: Bytes,
    /// The fields as stored (RFC 9111 §3.1), framing fields left out.
    pub(crate) fields: Vec<(Bytes, Bytes)>,
    pub(crate) meta: EntryMeta,
    /// The names the response varies on (lowercased, sorted).
    pub(crate) vary: Box<[Box<[u8]>]>,
    /// The request fields this variant was selected on ([`cache::variant_key`]).
    pub(crate) variant: Bytes,
    /// The body, as received (chunks, no copy).
    pub(crate) body: Vec<Bytes>,
    pub(crate) len: u64,
}

/// A URL's stored responses.
#[derive(Debug)]
pub(crate) struct Primary {
    /// The names its responses vary on (lowercased, sorted).
    pub(crate) vary: Box<[Box<[u8]>]>,
    pub(crate) variants: Vec<Arc<Entry>>,
    /// For purges: the route that stored it, and its host and target.
    pub(crate) route: Box<str>,
    pub(crate) host: Box<[u8]>,
    pub(crate) target: Box<[u8]>,
}

/// What a lookup found.
pub(crate) enum Found {
    Entry(Arc<Entry>),
    /// The URL is stored, but not for this request's `Vary` values.
    VaryMiss,
    Miss,
}

/// Where a stored response came from, for purges.
pub(crate) struct Origin<'a> {
    pub(crate) route: &'a str,
    pub(crate) host: &'a [u8],
    pub(crate) target: &'a [u8],
}

/// What to purge.
#[derive(Debug, Clone)]
pub(crate) enum Purge {
    /// One URL (host and target), every variant.
    Url {
        host: Vec<u8>,
        target: Vec<u8>,
    },
    /// Every URL of `host` whose target starts with `prefix`.
    Prefix {
        host: Vec<u8>,
        prefix: Vec<u8>,
    },
    /// Everything a route stored.
    Route(String),
    Everything,
}

/// A key's place in the index: its URL, its bytes, and where it is in
/// the FIFOs.
struct Slot {
    primary: Arc<Primary>,
    weight: u64,
    /// Reads since it entered its FIFO or had its last pass (capped at 3).
    freq: AtomicU8,
    /// [`SMALL`], [`MAIN`] or [`GONE`]; whoever moves it out of a FIFO
    /// (by CAS) accounts for its bytes.
    fifo: AtomicU8,
    /// Told apart from a replaced slot of the same key in the queues.
    gen: u64,
}

const SMALL: u8 = 0;
const MAIN: u8 = 1;
const GONE: u8 = 2;

/// The shared store and the fetches in flight.
pub(crate) struct Store {
    index: papaya::HashMap<CacheKey, Arc<Slot>, ahash::RandomState>,
    small: SegQueue<(CacheKey, u64)>,
    main: SegQueue<(CacheKey, u64)>,
    ghost: papaya::HashSet<u128, ahash::RandomState>,
    ghost_fifo: SegQueue<u128>,
    bytes: AtomicU64,
    small_bytes: AtomicU64,
    capacity: AtomicU64,
    gen: AtomicU64,
    pub(crate) fills: Fills,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (bytes, capacity, urls) = self.usage();
        f.debug_struct("Store")
            .field("bytes", &bytes)
            .field("capacity", &capacity)
            .field("urls", &urls)
            .finish()
    }
}

// === impl Entry ===

impl Entry {
    /// Bytes this entry holds.
    pub(crate) fn weight(&self) -> u64 {
        let fields: usize = self
            .fields
            .iter()
            .map(|(n, v)| n.len() + v.len() + 16)
            .sum();
        let vary: usize = self.vary.iter().map(|n| n.len() + 16).sum();
        let bookkeeping = fields + vary + self.reason.len() + self.variant.len();
        self.len + bookkeeping as u64 + ENTRY_OVERHEAD
    }

    /// The stored fields as `(name, value)` slices.
    pub(crate) fn field_slices(&self) -> Vec<Field<'_>> {
        self.fields.iter().map(|(n, v)| (&n[..], &v[..])).collect()
    }

    /// The first value of field `name`.
    pub(crate) fn field(&self, name: &[u8]) -> Option<&[u8]> {
        self.fields
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| &v[..])
    }
}

// === impl Store ===

impl Store {
    /// A store of `bytes`.
    pub(crate) fn new(bytes: u64) -> Store {
        Store {
            index: papaya::HashMap::with_hasher(ahash::RandomState::new()),
            small: SegQueue::new(),
            main: SegQueue::new(),
            ghost: papaya::HashSet::with_hasher(ahash::RandomState::new()),
            ghost_fifo: SegQueue::new(),
            bytes: AtomicU64::new(0),
            small_bytes: AtomicU64::new(0),
            capacity: AtomicU64::new(bytes),
            gen: AtomicU64::new(0),
            fills: Fills::new(),
        }
    }

    /// Applies a reloaded budget.
    pub(crate) fn resize(&self, bytes: u64) {
        self.capacity.store(bytes, Ordering::Relaxed);
        self.evict();
    }

    /// Bytes stored, the budget, and URLs stored.
    pub(crate) fn usage(&self) -> (u64, u64, usize) {
        let bytes = self.bytes.load(Ordering::Relaxed);
        (
            bytes,
            self.capacity.load(Ordering::Relaxed),
            self.index.len(),
        )
    }

    /// The entry for a request with fields `req`, if stored.
    pub(crate) fn lookup(&self, key: &CacheKey, req: &[Field<'_>]) -> Found {
        let p = {
            let index = self.index.pin();
            let Some(slot) = index.get(key) else {
                return Found::Miss;
            };
            let f = slot.freq.load(Ordering::Relaxed);
            if f < 3 {
                slot.freq.store(f + 1, Ordering::Relaxed);
            }
            slot.primary.clone()
        };
        let variant = cache::variant_key(&p.vary, req);
        match p.variants.iter().find(|e| e.variant == variant) {
            Some(e) => Found::Entry(e.clone()),
            None => Found::VaryMiss,
        }
    }

    /// Stores `entry` under `key`, replacing the variant it selects; a
    /// response varying on other names than the stored ones replaces
    /// them all. Evicts until the store is within its budget again.
    pub(crate) fn insert(&self, key: CacheKey, entry: Arc<Entry>, at: Origin<'_>) {
        let old = self.index.pin().get(&key).map(|s| s.primary.clone());
        let vary = entry.vary.clone();
        let mut variants: Vec<Arc<Entry>> = match &old {
            Some(p) if p.vary == vary => p
                .variants
                .iter()
                .filter(|e| e.variant != entry.variant)
                .cloned()
                .collect(),
            _ => Vec::new(),
        };
        if variants.len() >= MAX_VARIANTS {
            variants.remove(0);
        }
        variants.push(entry);
        let primary = Arc::new(Primary {
            vary,
            variants,
            route: at.route.into(),
            host: at.host.into(),
            target: at.target.into(),
        });
        let own = key.as_bytes().len() + at.host.len() + at.target.len() + at.route.len();
        let weight = own as u64 + primary.variants.iter().map(|e| e.weight()).sum::<u64>();
        if weight > self.capacity.load(Ordering::Relaxed) / 2 {
            return;
        }
        let returning = self.ghost.pin().remove(&key.hash128());
        let slot = Arc::new(Slot {
            primary,
            weight,
            freq: AtomicU8::new(0),
            fifo: AtomicU8::new(if returning { MAIN } else { SMALL }),
            gen: self.gen.fetch_add(1, Ordering::Relaxed),
        });
        self.bytes.fetch_add(weight, Ordering::Relaxed);
        if !returning {
            self.small_bytes.fetch_add(weight, Ordering::Relaxed);
        }
        // In the index before its queue item: an evictor popping the item
        // must find the slot, or the slot would sit in no FIFO for good.
        let item = (key.clone(), slot.gen);
        if let Some(replaced) = self.index.pin().insert(key, slot) {
            self.account_gone(replaced);
        }
        match returning {
            true => self.main.push(item),
            false => self.small.push(item),
        }
        self.evict();
    }

    /// A slot left the index: its bytes no longer count.
    fn account_gone(&self, s: &Slot) {
        if s.fifo.swap(GONE, Ordering::AcqRel) == SMALL {
            self.small_bytes.fetch_sub(s.weight, Ordering::Relaxed);
        }
        self.bytes.fetch_sub(s.weight, Ordering::Relaxed);
    }

    /// Evicts (S3-FIFO) until the bytes fit the budget.
    fn evict(&self) {
        let cap = self.capacity.load(Ordering::Relaxed);
        let mut spins = 0usize;
        while self.bytes.load(Ordering::Relaxed) > cap && spins < 1 << 20 {
            spins += 1;
            let small_over = self.small_bytes.load(Ordering::Relaxed) > cap / 10;
            let progressed = match small_over || self.main.is_empty() {
                true => self.evict_small() || self.evict_main(),
                false => self.evict_main() || self.evict_small(),
            };
            // Both FIFOs empty: what is left is in flight in another
            // shard's insert, which evicts after it.
            if !progressed {
                break;
            }
        }
    }

    /// The slot a queue item names, if it is still that generation.
    fn slot(&self, key: &CacheKey, gen: u64) -> Option<Arc<Slot>> {
        self.index.pin().get(key).filter(|s| s.gen == gen).cloned()
    }

    /// Pops the small FIFO: a key read again moves to main, the others go.
    fn evict_small(&self) -> bool {
        let Some((key, gen)) = self.small.pop() else {
            return false;
        };
        let Some(s) = self.slot(&key, gen) else {
            return true;
        };
        if s.freq.load(Ordering::Relaxed) > 0 {
            if s.fifo
                .compare_exchange(SMALL, MAIN, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
            {
                self.small_bytes.fetch_sub(s.weight, Ordering::Relaxed);
                s.freq.store(0, Ordering::Relaxed);
                self.main.push((key, gen));
            }
            return true;
        }
        let hash = key.hash128();
        if self.remove_slot(&key, gen) {
            self.remember(hash);
        }
        true
    }

    /// Pops the main FIFO: a key read since its last pass gets another.
    fn evict_main(&self) -> bool {
        let Some((key, gen)) = self.main.pop() else {
            return false;
        };
        let Some(s) = self.slot(&key, gen) else {
            return true;
        };
        let f = s.freq.load(Ordering::Relaxed);
        if f > 0 {
            s.freq.store(f - 1, Ordering::Relaxed);
            self.main.push((key, gen));
            return true;
        }
        self.remove_slot(&key, gen);
        true
    }

    /// Removes `key` if its slot is still generation `gen`.
    fn remove_slot(&self, key: &CacheKey, gen: u64) -> bool {
        let index = self.index.pin();
        match index.remove_if(key, |_, s| s.gen == gen) {
            Ok(Some((_, s))) => {
                self.account_gone(s);
                true
            }
            _ => false,
        }
    }

    /// Remembers an evicted key in the ghost FIFO (as many as are stored).
    fn remember(&self, hash: u128) {
        let ghost = self.ghost.pin();
        if ghost.insert(hash) {
            self.ghost_fifo.push(hash);
        }
        let cap = self.index.len().max(1024);
        while self.ghost_fifo.len() > cap {
            match self.ghost_fifo.pop() {
                Some(old) => {
                    ghost.remove(&old);
                }
                None => break,
            }
        }
    }

    /// Drops the URL `key` with all its variants.
    pub(crate) fn remove(&self, key: &CacheKey) -> bool {
        let index = self.index.pin();
        match index.remove(key) {
            Some(s) => {
                self.account_gone(s);
                true
            }
            None => false,
        }
    }

    /// Drops what `what` names; returns how many URLs went.
    pub(crate) fn purge(&self, what: &Purge) -> usize {
        let index = self.index.pin();
        let doomed: Vec<(CacheKey, u64)> = index
            .iter()
            .filter(|(_, s)| matches(what, &s.primary))
            .map(|(k, s)| (k.clone(), s.gen))
            .collect();
        drop(index);
        doomed
            .into_iter()
            .filter(|(k, g)| self.remove_slot(k, *g))
            .count()
    }
}

/// Whether `p` is one of the URLs `what` names.
fn matches(what: &Purge, p: &Primary) -> bool {
    match what {
        Purge::Url { host, target } => *p.host == **host && *p.target == **target,
        Purge::Prefix { host, prefix } => *p.host == **host && p.target.starts_with(prefix),
        Purge::Route(r) => *p.route == **r,
        Purge::Everything => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(len: usize) -> Arc<Entry> {
        Arc::new(Entry {
            status: 200,
            reason: Bytes::new(),
            fields: Vec::new(),
            meta: EntryMeta {
                lifetime: cache::Lifetime {
                    secs: 60,
                    source: cache::Source::MaxAge,
                },
                initial_age: 0,
                response_time: 0,
                stale_while_revalidate: 0,
                stale_if_error: 0,
                no_stale: false,
                always_revalidate: false,
                shared_max_age: false,
            },
            vary: Box::new([]),
            variant: Bytes::new(),
            body: vec![Bytes::from(vec![b'x'; len])],
            len: len as u64,
        })
    }

    fn key(i: usize) -> CacheKey {
        CacheKey::from_bytes(Bytes::from(format!("k{i}")))
    }

    fn put(s: &Store, i: usize, len: usize) {
        let t = format!("/{i}");
        let at = Origin {
            route: "r",
            host: b"h",
            target: t.as_bytes(),
        };
        s.insert(key(i), entry(len), at);
    }

    /// The bytes the index holds, counted from its slots.
    fn resident(s: &Store) -> u64 {
        s.index.pin().iter().map(|(_, v)| v.weight).sum()
    }

    #[test]
    fn the_budget_holds_and_reads_keep_keys() {
        let s = Store::new(100_000);
        put(&s, 0, 1000);
        for i in 1..500 {
            // Key 0 is read between every insert: S3-FIFO keeps it.
            assert!(matches!(s.lookup(&key(0), &[]), Found::Entry(_)), "{i}");
            put(&s, i, 1000);
            let (bytes, cap, _) = s.usage();
            assert!(bytes <= cap, "{bytes} > {cap}");
        }
        assert_eq!(s.usage().0, resident(&s));
        assert!(matches!(s.lookup(&key(1), &[]), Found::Miss));
        assert!(matches!(s.lookup(&key(499), &[]), Found::Entry(_)));
    }

    #[test]
    fn replacing_and_purging_keep_the_count_right() {
        let s = Store::new(1 << 20);
        for i in 0..50 {
            put(&s, i % 10, 100 + i);
        }
        assert_eq!(s.usage().2, 10);
        assert_eq!(s.usage().0, resident(&s));
        let url = Purge::Url {
            host: b"h".to_vec(),
            target: b"/3".to_vec(),
        };
        assert_eq!(s.purge(&url), 1);
        let prefix = Purge::Prefix {
            host: b"h".to_vec(),
            prefix: b"/".to_vec(),
        };
        assert_eq!(s.purge(&prefix), 9);
        assert_eq!(s.usage().0, 0);
        assert!(!s.remove(&key(1)));
    }

    #[test]
    fn threads_inserting_and_reading_keep_the_count_right() {
        let s = Arc::new(Store::new(200_000));
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let s = s.clone();
                std::thread::spawn(move || {
                    for i in 0..5000 {
                        let k = (i * 7 + t * 13) % 700;
                        let _ = s.lookup(&key(k), &[]);
                        put(&s, k, 500 + k);
                    }
                })
            })
            .collect();
        threads.into_iter().for_each(|t| t.join().unwrap());
        let (bytes, cap, _) = s.usage();
        assert_eq!(bytes, resident(&s));
        assert!(bytes <= cap);
    }
}
