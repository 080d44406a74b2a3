//! The handle the shards hold: configuration, submission into a lane's
//! bounded queue, and the [`Reply`] future.

mod error;
mod lane;
mod op;
mod redact;

use std::fmt;
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::thread::JoinHandle;
use std::time::Duration;

use futures_channel::oneshot;

pub use error::GlobalError;
use lane::{Job, LaneTx, Outcome};
use op::Op;
use redact::Redactor;

/// How long a request may take, queueing and connecting included, unless
/// configured otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_millis(50);

/// How many requests a lane may have outstanding unless configured
/// otherwise.
pub const DEFAULT_QUEUE: usize = 1024;

/// Prefix of the Redis keys that [`Global::take`] uses: the caller's bytes
/// follow it verbatim, e.g. `coregate:rl:team-7`.
pub const RATE_PREFIX: &[u8] = b"coregate:rl:";

/// Prefix of the Redis keys that [`Global::incr`] and [`Global::get`] use,
/// so a quota never collides with a rate key of the same name.
pub const QUOTA_PREFIX: &[u8] = b"coregate:q:";

/// The largest interval or tolerance [`Global::take`] honours (2^52 ns,
/// about 52 days); larger values are clamped so the script's arithmetic in
/// Lua doubles stays exact.
pub const MAX_NS: u64 = 1 << 52;

/// Where Redis is and how long to wait for it.
#[derive(Clone)]
pub struct GlobalConfig {
    /// `redis://[:password@]host:port[/db]`, or `rediss://` for TLS.
    pub url: String,
    /// The most a request may take, from submission to answer.
    pub timeout: Duration,
    /// PEM file of the CA that signed the server's certificate (`rediss://`
    /// only); the system roots are used when it is `None`.
    pub ca_file: Option<PathBuf>,
    /// How many requests each lane may have outstanding.
    pub queue: usize,
}

/// What one [`Global::take`] granted, with times relative to the Redis
/// server's clock at the moment of the take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Grant {
    /// Units granted, from 0 up to `want`.
    pub granted: u64,
    /// When fewer than `want` were granted: nanoseconds until one more unit
    /// is available; 0 otherwise.
    pub retry_after_ns: u64,
    /// Nanoseconds until the whole budget is back.
    pub reset_ns: u64,
    /// Units still available right now, after this grant.
    pub remaining: u64,
}

/// The client for global limits: cheap to clone, `Send + Sync`. Dropping the
/// last clone stops the side thread.
#[derive(Clone)]
pub struct Global {
    inner: Arc<Inner>,
}

/// What the clones share.
struct Inner {
    lanes: Vec<LaneTx>,
    health: Arc<Health>,
    thread: Option<JoinHandle<()>>,
}

/// Last known state and a failure count, written by the side thread.
#[derive(Debug)]
pub(crate) struct Health {
    up: AtomicBool,
    failures: AtomicU64,
}

/// The answer to one request: resolves once, with the reply or an error.
/// It needs no timer and no particular executor.
#[must_use = "a Reply does nothing unless awaited; the request is already sent"]
pub struct Reply<T> {
    state: ReplyState<T>,
}

/// Either failed at submission or waiting for the side thread.
enum ReplyState<T> {
    Ready(Option<Result<T, GlobalError>>),
    Waiting(oneshot::Receiver<Result<T, GlobalError>>),
}

// === impl GlobalConfig ===

impl GlobalConfig {
    /// A config for `url` with [`DEFAULT_TIMEOUT`], [`DEFAULT_QUEUE`] and no
    /// CA file.
    pub fn new(url: impl Into<String>) -> GlobalConfig {
        GlobalConfig {
            url: url.into(),
            timeout: DEFAULT_TIMEOUT,
            ca_file: None,
            queue: DEFAULT_QUEUE,
        }
    }
}

impl fmt::Debug for GlobalConfig {
    /// Shows the URL with its password replaced.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let url = Redactor::from_url(&self.url).clean(self.url.clone());
        f.debug_struct("GlobalConfig")
            .field("url", &url)
            .field("timeout", &self.timeout)
            .field("ca_file", &self.ca_file)
            .field("queue", &self.queue)
            .finish()
    }
}

// === impl Global ===

impl Global {
    /// Checks the config and starts the side thread with `lanes` lanes (one
    /// Redis connection each, opened on first use). Redis need not be up.
    pub fn start(config: &GlobalConfig, lanes: usize) -> Result<Global, GlobalError> {
        if lanes == 0 || config.queue == 0 {
            return Err(GlobalError::Config("lanes and queue must be > 0".into()));
        }
        if config.timeout.is_zero() {
            return Err(GlobalError::Config("timeout must be > 0".into()));
        }
        let client = lane::client(config)?;
        // redis builds its rustls config with the process default provider:
        // make sure there is one, and that it is aws-lc-rs (the workspace's
        // only provider; an error means one is installed already).
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
        let health = Arc::new(Health::new());
        let redactor = Arc::new(Redactor::from_url(&config.url));
        let (txs, rxs) = (0..lanes).map(|_| LaneTx::new(config.queue)).unzip();
        let side = lane::Side::new(client, config.timeout, health.clone(), redactor);
        let thread = side.spawn(rxs)?;
        let inner = Inner {
            lanes: txs,
            health,
            thread: Some(thread),
        };
        Ok(Global {
            inner: Arc::new(inner),
        })
    }

    /// Takes up to `want` units from the GCRA bucket `key`: one unit per
    /// `interval_ns`, bursts of `tolerance_ns` (both clamped to 1..=MAX_NS).
    /// Submits at once, without blocking; the key is `RATE_PREFIX + key`.
    pub fn take(
        &self,
        lane: usize,
        key: &[u8],
        interval_ns: u64,
        tolerance_ns: u64,
        want: u64,
    ) -> Reply<Grant> {
        let op = Op::Take {
            key: op::key(RATE_PREFIX, key),
            interval_ns: interval_ns.clamp(1, MAX_NS),
            tolerance_ns: tolerance_ns.min(MAX_NS),
            want: want.min(MAX_NS),
        };
        self.submit(lane, op, Outcome::into_grant)
    }

    /// Adds `by` to the counter `key` and returns the new total; the first
    /// increment sets its expiry to `ttl` (at least 1 ms), later ones keep
    /// it. The key is `QUOTA_PREFIX + key`.
    pub fn incr(&self, lane: usize, key: &[u8], by: u64, ttl: Duration) -> Reply<u64> {
        let ttl_ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX);
        let op = Op::Incr {
            key: op::key(QUOTA_PREFIX, key),
            by: by.min(i64::MAX as u64),
            ttl_ms: ttl_ms.clamp(1, i64::MAX as u64),
        };
        self.submit(lane, op, Outcome::into_count)
    }

    /// Takes up to `want` units of the quota counter `key` while it stays
    /// within `limit` (one script: two hosts never both take the last
    /// unit); the first count sets its expiry to `ttl` (the end of the
    /// quota's period). `reset_ns` is the time until it expires. The key
    /// is `QUOTA_PREFIX + key`.
    pub fn quota(
        &self,
        lane: usize,
        key: &[u8],
        limit: u64,
        want: u64,
        ttl: Duration,
    ) -> Reply<Grant> {
        let ttl_ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX);
        let op = Op::Quota {
            key: op::key(QUOTA_PREFIX, key),
            limit: limit.min(MAX_NS),
            want: want.min(MAX_NS),
            ttl_ms: ttl_ms.clamp(1, i64::MAX as u64 / 1_000_000),
        };
        self.submit(lane, op, Outcome::into_grant)
    }

    /// Reads the counter `key` without charging it; a missing key is 0.
    pub fn get(&self, lane: usize, key: &[u8]) -> Reply<u64> {
        let op = Op::Get {
            key: op::key(QUOTA_PREFIX, key),
        };
        self.submit(lane, op, Outcome::into_count)
    }

    /// Whether the last connect or request reached Redis.
    pub fn up(&self) -> bool {
        self.inner.health.up.load(Ordering::Relaxed)
    }

    /// How many connects failed, connections were lost and requests timed
    /// out since start, for metrics.
    pub fn failures(&self) -> u64 {
        self.inner.health.failures.load(Ordering::Relaxed)
    }

    /// How many lanes there are; lane numbers wrap around this.
    pub fn lanes(&self) -> usize {
        self.inner.lanes.len()
    }

    /// Queues `op` on `lane` (modulo the lane count) and wraps the answer.
    fn submit<T>(
        &self,
        lane: usize,
        op: Op,
        pick: fn(Outcome) -> Result<T, GlobalError>,
    ) -> Reply<T>
    where
        T: Send + 'static,
    {
        let lanes = &self.inner.lanes;
        let (tx, rx) = oneshot::channel();
        let job = Job::new(op, Box::new(move |r| drop(tx.send(r.and_then(pick)))));
        match lanes[lane % lanes.len()].try_send(job) {
            Ok(()) => Reply::waiting(rx),
            Err(e) => Reply::ready(Err(e)),
        }
    }
}

impl fmt::Debug for Global {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Global")
            .field("lanes", &self.lanes())
            .field("up", &self.up())
            .field("failures", &self.failures())
            .finish()
    }
}

impl Drop for Inner {
    /// Closes the queues, which ends the side thread, and waits for it (it
    /// only has to drop its tasks), unless this is the side thread itself.
    fn drop(&mut self) {
        self.lanes.clear();
        if let Some(thread) = self.thread.take() {
            if thread.thread().id() != std::thread::current().id() {
                let _ = thread.join();
            }
        }
    }
}

// === impl Health ===

impl Health {
    fn new() -> Health {
        Health {
            up: AtomicBool::new(false),
            failures: AtomicU64::new(0),
        }
    }

    /// Redis answered.
    pub(crate) fn ok(&self) {
        self.up.store(true, Ordering::Relaxed);
    }

    /// A connect failed or a connection was lost: Redis is down.
    pub(crate) fn down(&self) {
        self.up.store(false, Ordering::Relaxed);
        self.failures.fetch_add(1, Ordering::Relaxed);
    }

    /// A request timed out; counted, but not proof that Redis is down.
    pub(crate) fn timed_out(&self) {
        self.failures.fetch_add(1, Ordering::Relaxed);
    }
}

// === impl Reply ===

impl<T> Reply<T> {
    fn ready(result: Result<T, GlobalError>) -> Reply<T> {
        Reply {
            state: ReplyState::Ready(Some(result)),
        }
    }

    fn waiting(rx: oneshot::Receiver<Result<T, GlobalError>>) -> Reply<T> {
        Reply {
            state: ReplyState::Waiting(rx),
        }
    }
}

// The value is only ever moved out, never pinned in place.
impl<T> Unpin for Reply<T> {}

impl<T> Future for Reply<T> {
    type Output = Result<T, GlobalError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match &mut self.get_mut().state {
            ReplyState::Ready(result) => Poll::Ready(result.take().unwrap_or(Err(stopped()))),
            ReplyState::Waiting(rx) => Pin::new(rx)
                .poll(cx)
                .map(|r| r.unwrap_or_else(|_| Err(stopped()))),
        }
    }
}

impl<T> fmt::Debug for Reply<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match self.state {
            ReplyState::Ready(_) => "ready",
            ReplyState::Waiting(_) => "waiting",
        };
        f.debug_struct("Reply").field("state", &state).finish()
    }
}

/// The error for a request whose side thread went away.
pub(crate) fn stopped() -> GlobalError {
    GlobalError::Down("global limiter stopped".into())
}
