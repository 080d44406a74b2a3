//! The host's one store of responses, shared by every shard: a
//! `quick_cache` sync cache (S3-FIFO-like CLOCK-Pro eviction, weighted by
//! bytes, 4 segments per shard) from a key to its [`Primary`]: the URL's
//! `Vary` names and its variants. One store rather than one per shard, so
//! that a key is stored once whichever shard fills it: the hit ratio does
//! not fall with the number of shards (see README, "Response cache"). A
//! lookup holds one segment's read lock for one probe: no allocation, no
//! I/O, never across an await.

use std::sync::Arc;

use bytes::Bytes;
use cache::{CacheKey, EntryMeta, Field};

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

#[derive(Clone)]
struct Weigh;

impl quick_cache::Weighter<CacheKey, Arc<Primary>> for Weigh {
    fn weight(&self, key: &CacheKey, p: &Arc<Primary>) -> u64 {
        let own = key.as_bytes().len() + p.host.len() + p.target.len() + p.route.len();
        let variants: u64 = p.variants.iter().map(|e| e.weight()).sum();
        (own as u64 + variants).max(1)
    }
}

type Index = quick_cache::sync::Cache<CacheKey, Arc<Primary>, Weigh>;

/// The shared store and the fetches in flight.
pub(crate) struct Store {
    index: Index,
    pub(crate) fills: Fills,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("bytes", &self.index.weight())
            .field("capacity", &self.index.capacity())
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
    /// A store of `bytes`, in `4 × shards` segments (a power of two).
    pub(crate) fn new(bytes: u64, shards: usize) -> Store {
        let segments = (shards.max(1) * 4).next_power_of_two();
        // Items are estimated at 4 KiB for the table's first size; it grows.
        let items = usize::try_from(bytes / 4096).unwrap_or(usize::MAX).max(64);
        let options = quick_cache::OptionsBuilder::new()
            .estimated_items_capacity(items)
            .weight_capacity(bytes)
            .shards(segments)
            .build();
        let index = match options {
            Ok(o) => Index::with_options(o, Weigh, Default::default(), Default::default()),
            Err(_) => Index::with_weighter(items, bytes, Weigh),
        };
        Store {
            index,
            fills: Fills::new(segments),
        }
    }

    /// Applies a reloaded budget.
    pub(crate) fn resize(&self, bytes: u64) {
        if self.index.capacity() != bytes {
            self.index.set_capacity(bytes);
        }
    }

    /// Bytes stored, and the budget.
    pub(crate) fn usage(&self) -> (u64, u64, usize) {
        (self.index.weight(), self.index.capacity(), self.index.len())
    }

    /// The entry for a request with fields `req`, if stored.
    pub(crate) fn lookup(&self, key: &CacheKey, req: &[Field<'_>]) -> Found {
        let Some(p) = self.index.get(key) else {
            return Found::Miss;
        };
        let variant = cache::variant_key(&p.vary, req);
        match p.variants.iter().find(|e| e.variant == variant) {
            Some(e) => Found::Entry(e.clone()),
            None => Found::VaryMiss,
        }
    }

    /// Stores `entry` (varying on `vary`) under `key`, replacing the
    /// variant it selects; a response varying on other names than the
    /// stored ones replaces them all.
    pub(crate) fn insert(&self, key: CacheKey, entry: Arc<Entry>, at: Origin<'_>) {
        let old = self.index.get(&key);
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
        let primary = Primary {
            vary,
            variants,
            route: at.route.into(),
            host: at.host.into(),
            target: at.target.into(),
        };
        self.index.insert(key, Arc::new(primary));
    }

    /// Drops the URL `key` with all its variants.
    pub(crate) fn remove(&self, key: &CacheKey) -> bool {
        self.index.remove(key).is_some()
    }

    /// Drops what `what` names; returns how many URLs went.
    pub(crate) fn purge(&self, what: &Purge) -> usize {
        let before = self.index.len();
        self.index.retain(|_, p| !matches(what, p));
        before.saturating_sub(self.index.len())
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
