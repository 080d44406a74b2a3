//! Shard-local state shared by the connections of one shard.

use std::cell::Cell;
use std::rc::Rc;
use std::sync::Arc;

use tuning::Tuning;

use crate::buf::BufPool;
use crate::observe::metrics::ShardMetrics;
use crate::snapshot::route::Timeouts;
use crate::snapshot::Published;
use crate::upstream::pool::Pool;
use crate::view::{ShardView, SnapView};

/// Everything a connection task needs from its shard. Only this shard's
/// thread ever touches it.
pub(crate) struct ShardCtx {
    pub(crate) id: usize,
    pub(crate) ring: crate::io::Ring,
    pub(crate) max_connections: usize,
    pub(crate) view: ShardView,
    /// Whether labelled statistics and histograms are kept.
    pub(crate) metrics_on: bool,
    /// This shard's access log, when it is on.
    pub(crate) access_log: Option<crate::observe::accesslog::ShardLog>,
    pub(crate) pool: Pool,
    pub(crate) bufs: BufPool,
    pub(crate) metrics: Arc<[ShardMetrics]>,
    pub(crate) draining: Cell<bool>,
    /// Test-only: the accept loop panics at its next connection.
    #[cfg(feature = "fault-injection")]
    pub(crate) fault_core: Cell<bool>,
    pub(crate) connections: Cell<usize>,
    pub(crate) in_flight: Cell<usize>,
    ids: RequestIds,
    /// Basic verifications this shard made lately.
    pub(crate) basic: VerifiedCache,
    /// Bearer tokens this shard verified, until they expire.
    pub(crate) jwt: VerifiedCache,
    /// Basic verifications running on the blocking thread.
    basic_running: std::rc::Rc<Cell<usize>>,
}

/// Basic verifications one shard runs at once; more are answered 503.
const BASIC_IN_FLIGHT: usize = 8;

/// A running Basic verification; its slot frees when dropped (also when
/// the request is cancelled).
pub(crate) struct BasicSlot(std::rc::Rc<Cell<usize>>);

impl Drop for BasicSlot {
    fn drop(&mut self) {
        self.0.set(self.0.get().saturating_sub(1));
    }
}

/// Successful verifications (Basic passwords, by SHA-256 of user name and
/// password; JWTs, by SHA-256 of the token): the credential's id they
/// verified and until when they count. Bounded (CLOCK-Pro eviction),
/// single-threaded, no lock.
pub(crate) struct VerifiedCache(
    std::cell::RefCell<quick_cache::unsync::Cache<[u8; 32], (i64, std::time::Instant)>>,
);

/// How long a verification counts.
pub(crate) const BASIC_TTL: std::time::Duration = std::time::Duration::from_secs(60);
/// Verifications remembered per shard.
const BASIC_ENTRIES: usize = 10_000;

impl VerifiedCache {
    fn new() -> VerifiedCache {
        VerifiedCache(std::cell::RefCell::new(quick_cache::unsync::Cache::new(
            BASIC_ENTRIES,
        )))
    }

    /// The credential `digest` verified, while its verification counts.
    pub(crate) fn hit(&self, digest: &[u8; 32], now: std::time::Instant) -> Option<i64> {
        let cache = self.0.borrow();
        let &(id, until) = cache.get(digest)?;
        (now < until).then_some(id)
    }

    /// Remembers that `digest` verified `credential`, until `until`.
    pub(crate) fn insert(&self, digest: [u8; 32], credential: i64, until: std::time::Instant) {
        self.0.borrow_mut().insert(digest, (credential, until));
    }
}

// === impl ShardCtx ===

impl ShardCtx {
    pub(crate) fn new(
        id: usize,
        ring: crate::io::Ring,
        t: &Tuning,
        published: Arc<Published>,
        metrics: Arc<[ShardMetrics]>,
        log: Option<crate::observe::accesslog::Sink>,
    ) -> ShardCtx {
        ShardCtx {
            metrics_on: t.metrics.enabled,
            access_log: log
                .map(|sink| crate::observe::accesslog::ShardLog::new(sink, &t.access_log, id)),
            id,
            ring,
            max_connections: t.max_connections,
            view: ShardView::new(published, 0x9e37_79b9_7f4a_7c15 ^ (id as u64)),
            pool: Pool::new(t.pool.max_idle, t.timeouts.upstream_idle),
            bufs: BufPool::default(),
            metrics,
            draining: Cell::new(false),
            #[cfg(feature = "fault-injection")]
            fault_core: Cell::new(false),
            connections: Cell::new(0),
            in_flight: Cell::new(0),
            ids: RequestIds::new(id),
            basic: VerifiedCache::new(),
            jwt: VerifiedCache::new(),
            basic_running: std::rc::Rc::default(),
        }
    }

    /// A slot for one Basic verification, if fewer than the cap run.
    pub(crate) fn basic_slot(&self) -> Option<BasicSlot> {
        let n = self.basic_running.get();
        (n < BASIC_IN_FLIGHT).then(|| {
            self.basic_running.set(n + 1);
            BasicSlot(self.basic_running.clone())
        })
    }

    /// The snapshot a new request runs on.
    #[inline]
    pub(crate) fn snap(&self) -> Rc<SnapView> {
        self.view.get()
    }

    /// Request limits of the current snapshot.
    #[inline]
    pub(crate) fn limits(&self) -> parser::Limits {
        self.view.current().snap.limits
    }

    /// Upstream response limits of the current snapshot.
    #[inline]
    pub(crate) fn response_limits(&self) -> parser::Limits {
        self.view.current().snap.response_limits
    }

    /// Timeouts of the current snapshot.
    #[inline]
    pub(crate) fn timeouts(&self) -> Timeouts {
        self.view.current().snap.timeouts
    }

    /// This shard's counters.
    pub(crate) fn metrics(&self) -> &ShardMetrics {
        &self.metrics[self.id]
    }

    /// A fresh request id: 32 lowercase hex digits.
    pub(crate) fn request_id(&self) -> [u8; 32] {
        self.ids.next()
    }
}

/// Request id generator: a per-shard random key hashing a counter, so ids
/// are unique across shards and restarts without any shared state.
struct RequestIds {
    seq: Cell<u64>,
    keys: (ahash::RandomState, ahash::RandomState),
}

// === impl RequestIds ===

impl RequestIds {
    fn new(shard: usize) -> RequestIds {
        RequestIds {
            seq: Cell::new((shard as u64) << 48),
            keys: (ahash::RandomState::new(), ahash::RandomState::new()),
        }
    }

    fn next(&self) -> [u8; 32] {
        let n = self.seq.get().wrapping_add(1);
        self.seq.set(n);
        let hi = self.keys.0.hash_one(n);
        let lo = self.keys.1.hash_one(n);
        let mut out = [0u8; 32];
        hex(hi, &mut out[..16]);
        hex(lo, &mut out[16..]);
        out
    }
}

fn hex(v: u64, out: &mut [u8]) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for (i, o) in out.iter_mut().enumerate() {
        *o = DIGITS[((v >> (60 - 4 * i)) & 0xf) as usize];
    }
}
