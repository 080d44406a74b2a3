//! The side thread: a tokio current-thread runtime holding one lazily
//! opened, multiplexed Redis connection per lane, with timeouts, reconnects
//! and backoff. Nothing here runs on a shard.

use std::io;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, Client, RedisError};
use tokio::sync::{mpsc, watch, Notify};

use super::op::Op;
use super::redact::Redactor;
use super::{stopped, GlobalConfig, GlobalError, Grant, Health};

/// First wait after a failed connect.
const MIN_BACKOFF: Duration = Duration::from_millis(100);

/// Longest wait between connect attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(2);

/// Timeouts in a row, with no answer between them, after which a lane
/// drops its connection as dead (e.g. a host that vanished without a RST).
const MAX_TIMEOUTS_IN_ROW: u32 = 3;

/// What a job's answer is handed to.
pub(super) type Deliver = Box<dyn FnOnce(Result<Outcome, GlobalError>) + Send>;

/// What Redis answered, before it is narrowed to the caller's type.
#[derive(Debug)]
pub(super) enum Outcome {
    Grant(Grant),
    Count(u64),
}

/// One queued request; it holds its lane's outstanding slot until dropped.
pub(super) struct Job {
    op: Op,
    deliver: Deliver,
    /// When it was submitted: its timeout runs from here, so time spent
    /// queued counts too.
    submitted: Instant,
    slot: Option<Slot>,
}

/// One unit of a lane's outstanding count, given back on drop.
struct Slot(Arc<AtomicUsize>);

/// The shard side of a lane: its bounded queue and outstanding count.
pub(super) struct LaneTx {
    tx: mpsc::Sender<Job>,
    outstanding: Arc<AtomicUsize>,
    cap: usize,
}

/// What the side thread needs to serve every lane.
pub(super) struct Side {
    client: Client,
    timeout: Duration,
    health: Arc<Health>,
    redactor: Arc<Redactor>,
}

/// The connection state a lane's requests look at.
#[derive(Clone)]
enum Conn {
    /// Not opened yet: the first request opens it.
    Idle,
    /// A connect is under way.
    Connecting,
    /// Open, with its generation (so a stale failure report is ignored).
    Ready(MultiplexedConnection, u64),
    /// The last connect failed; retried after a backoff, on demand.
    Failed(String),
}

/// One lane on the side thread, cloned into each request's task.
#[derive(Clone)]
struct Lane {
    conn: watch::Receiver<Conn>,
    kick: Arc<Notify>,
    broken: mpsc::UnboundedSender<u64>,
    timeouts: Arc<AtomicU32>,
    timeout: Duration,
    health: Arc<Health>,
    redactor: Arc<Redactor>,
}

/// Builds the redis client: scheme checked, CA file read, nothing opened.
pub(super) fn client(config: &GlobalConfig) -> Result<Client, GlobalError> {
    let redactor = Redactor::from_url(&config.url);
    let bad = |e: String| GlobalError::Config(redactor.clean(e));
    let url = url::Url::parse(&config.url).map_err(|e| bad(format!("bad URL: {e}")))?;
    let tls = match url.scheme() {
        "redis" => false,
        "rediss" => true,
        other => return Err(bad(format!("URL scheme {other:?}: want redis or rediss"))),
    };
    if url.host_str().is_none_or(str::is_empty) {
        return Err(bad("URL has no host".into()));
    }
    let opened = match (&config.ca_file, tls) {
        (Some(path), true) => {
            let pem =
                std::fs::read(path).map_err(|e| bad(format!("CA file {}: {e}", path.display())))?;
            let certs = redis::TlsCertificates {
                client_tls: None,
                root_cert: Some(pem),
            };
            Client::build_with_tls(config.url.as_str(), certs)
        }
        (Some(_), false) => return Err(bad("a CA file needs a rediss:// URL".into())),
        (None, _) => Client::open(config.url.as_str()),
    };
    opened.map_err(|e| bad(e.to_string()))
}

// === impl Job ===

impl Job {
    pub(super) fn new(op: Op, deliver: Deliver) -> Job {
        Job {
            op,
            deliver,
            submitted: Instant::now(),
            slot: None,
        }
    }

    /// Hands the answer over and frees the slot.
    fn finish(self, result: Result<Outcome, GlobalError>) {
        (self.deliver)(result);
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

// === impl Outcome ===

impl Outcome {
    pub(super) fn into_grant(self) -> Result<Grant, GlobalError> {
        match self {
            Outcome::Grant(g) => Ok(g),
            Outcome::Count(_) => Err(GlobalError::Reply("expected a grant".into())),
        }
    }

    pub(super) fn into_count(self) -> Result<u64, GlobalError> {
        match self {
            Outcome::Count(n) => Ok(n),
            Outcome::Grant(_) => Err(GlobalError::Reply("expected a count".into())),
        }
    }
}

// === impl LaneTx ===

impl LaneTx {
    /// A lane that holds at most `cap` outstanding requests, and the queue
    /// end the side thread reads.
    pub(super) fn new(cap: usize) -> (LaneTx, mpsc::Receiver<Job>) {
        let (tx, rx) = mpsc::channel(cap);
        let outstanding = Arc::new(AtomicUsize::new(0));
        (
            LaneTx {
                tx,
                outstanding,
                cap,
            },
            rx,
        )
    }

    /// Queues `job` without waiting: `QueueFull` if the lane already has
    /// `cap` requests queued or in flight.
    pub(super) fn try_send(&self, mut job: Job) -> Result<(), GlobalError> {
        if self.outstanding.fetch_add(1, Ordering::AcqRel) >= self.cap {
            self.outstanding.fetch_sub(1, Ordering::AcqRel);
            return Err(GlobalError::QueueFull);
        }
        job.slot = Some(Slot(self.outstanding.clone()));
        self.tx.try_send(job).map_err(|e| match e {
            mpsc::error::TrySendError::Full(_) => GlobalError::QueueFull,
            mpsc::error::TrySendError::Closed(_) => stopped(),
        })
    }
}

// === impl Side ===

impl Side {
    pub(super) fn new(
        client: Client,
        timeout: Duration,
        health: Arc<Health>,
        redactor: Arc<Redactor>,
    ) -> Side {
        Side {
            client,
            timeout,
            health,
            redactor,
        }
    }

    /// Starts the side thread serving these lanes; it ends when every
    /// queue's sender is gone.
    pub(super) fn spawn(
        self,
        lanes: Vec<mpsc::Receiver<Job>>,
    ) -> Result<JoinHandle<()>, GlobalError> {
        let down =
            |e: io::Error| GlobalError::Down(format!("cannot start the limiter thread: {e}"));
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(down)?;
        std::thread::Builder::new()
            .name("coregate-limits".into())
            .spawn(move || rt.block_on(self.run(lanes)))
            .map_err(down)
    }

    /// Serves every lane until its queue closes.
    async fn run(self, lanes: Vec<mpsc::Receiver<Job>>) {
        let tasks: Vec<_> = lanes
            .into_iter()
            .map(|rx| tokio::spawn(self.lane().serve(rx)))
            .collect();
        for task in tasks {
            let _ = task.await;
        }
    }

    /// A lane with its connector task started (the connector waits for the
    /// first request before it connects).
    fn lane(&self) -> Lane {
        let (state, conn) = watch::channel(Conn::Idle);
        let (broken, broken_rx) = mpsc::unbounded_channel();
        let kick = Arc::new(Notify::new());
        let connector = Connector {
            client: self.client.clone(),
            state,
            kick: kick.clone(),
            broken: broken_rx,
            timeout: self.timeout,
            health: self.health.clone(),
            redactor: self.redactor.clone(),
        };
        tokio::spawn(connector.run());
        Lane {
            conn,
            kick,
            broken,
            timeouts: Arc::new(AtomicU32::new(0)),
            timeout: self.timeout,
            health: self.health.clone(),
            redactor: self.redactor.clone(),
        }
    }
}

// === impl Lane ===

impl Lane {
    /// Runs each queued job in a task of its own, so requests on the lane's
    /// connection pipeline.
    async fn serve(self, mut rx: mpsc::Receiver<Job>) {
        while let Some(job) = rx.recv().await {
            tokio::spawn(self.clone().handle(job));
        }
    }

    /// Answers one job within the timeout, by reply or by error.
    async fn handle(self, job: Job) {
        let deadline = tokio::time::Instant::from_std(job.submitted + self.timeout);
        let result = match tokio::time::timeout_at(deadline, self.exec(&job.op)).await {
            Ok(result) => result,
            Err(_) => {
                self.timed_out();
                Err(GlobalError::Timeout)
            }
        };
        job.finish(result);
    }

    /// Gets the connection and runs the operation on it.
    async fn exec(&self, op: &Op) -> Result<Outcome, GlobalError> {
        let (mut conn, generation) = self.connection().await?;
        match op.run(&mut conn).await {
            Ok(value) => {
                self.timeouts.store(0, Ordering::Relaxed);
                self.health.ok();
                op.decode(value)
            }
            Err(e) if is_connection_error(&e) => {
                let _ = self.broken.send(generation);
                Err(GlobalError::Down(self.redactor.clean(e.to_string())))
            }
            Err(e) => Err(GlobalError::Reply(self.redactor.clean(e.to_string()))),
        }
    }

    /// The open connection, waiting while one is being opened; `Down` at
    /// once while the connector backs off after a failure.
    async fn connection(&self) -> Result<(MultiplexedConnection, u64), GlobalError> {
        let mut conn = self.conn.clone();
        loop {
            let state = conn.borrow_and_update().clone();
            match state {
                Conn::Ready(c, generation) => return Ok((c, generation)),
                Conn::Failed(why) => {
                    self.kick.notify_one();
                    return Err(GlobalError::Down(why));
                }
                Conn::Idle => self.kick.notify_one(),
                Conn::Connecting => {}
            }
            conn.changed().await.map_err(|_| stopped())?;
        }
    }

    /// Counts a timeout; too many in a row on an open connection drop it.
    fn timed_out(&self) {
        self.health.timed_out();
        let in_row = self.timeouts.fetch_add(1, Ordering::Relaxed) + 1;
        if in_row < MAX_TIMEOUTS_IN_ROW {
            return;
        }
        if let Conn::Ready(_, generation) = &*self.conn.borrow() {
            self.timeouts.store(0, Ordering::Relaxed);
            let _ = self.broken.send(*generation);
        }
    }
}

/// Whether the connection must be replaced after this error.
fn is_connection_error(e: &RedisError) -> bool {
    e.is_io_error() || e.is_connection_dropped() || e.is_unrecoverable_error()
}

/// Opens a lane's connection on demand and reopens it after a failure,
/// backing off from MIN_BACKOFF to MAX_BACKOFF while connects fail.
struct Connector {
    client: Client,
    state: watch::Sender<Conn>,
    kick: Arc<Notify>,
    broken: mpsc::UnboundedReceiver<u64>,
    timeout: Duration,
    health: Arc<Health>,
    redactor: Arc<Redactor>,
}

// === impl Connector ===

impl Connector {
    async fn run(mut self) {
        let mut backoff = MIN_BACKOFF;
        let mut generation = 0;
        self.kick.notified().await;
        loop {
            self.state.send_replace(Conn::Connecting);
            match self.connect().await {
                Ok(conn) => {
                    generation += 1;
                    backoff = MIN_BACKOFF;
                    self.health.ok();
                    self.state.send_replace(Conn::Ready(conn, generation));
                    self.until_broken(generation).await;
                    self.health.down();
                    // Reconnect at once: the server may be back already.
                }
                Err(why) => {
                    self.health.down();
                    self.state.send_replace(Conn::Failed(why));
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                    self.kick.notified().await;
                }
            }
        }
    }

    /// One connect attempt within the timeout; the error text is redacted.
    async fn connect(&self) -> Result<MultiplexedConnection, String> {
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(self.timeout))
            .set_response_timeout(None);
        let connecting = self
            .client
            .get_multiplexed_async_connection_with_config(&config);
        match tokio::time::timeout(self.timeout, connecting).await {
            Ok(Ok(conn)) => Ok(conn),
            Ok(Err(e)) => Err(self.redactor.clean(format!("connect: {e}"))),
            Err(_) => Err("connect: timed out".into()),
        }
    }

    /// Waits for a request to report this generation's connection broken.
    async fn until_broken(&mut self, generation: u64) {
        while let Some(reported) = self.broken.recv().await {
            if reported == generation {
                return;
            }
        }
        // Every lane handle is gone: the runtime is shutting down.
        std::future::pending::<()>().await;
    }
}
