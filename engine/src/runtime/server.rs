//! Starting, draining and stopping the shards.

use std::net::{SocketAddr, TcpListener};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use tuning::Tuning;

use crate::admin::scrape::{ScrapeReply, Scrapers};
use crate::admin::shared::Shared;
use crate::admin::{self, Admin};
use crate::ctx::ShardCtx;
use crate::error::EngineError;
use crate::http::conn;
use crate::io;
use crate::observe::accesslog::Sink;
use crate::observe::metrics::{bump, ShardMetrics, ShardStats};
use crate::runtime::listener;
use crate::shard::{self, Doorbell, EventFdPark, ShardThread};
use crate::snapshot::control::{Control, ReloadSource, ReloadStats, SourceSlot};
use crate::snapshot::publish::Published;
use crate::snapshot::route::Snapshot;
use crate::snapshot::store::{StoreStats, StoreWatch};
use crate::snapshot::tls::TlsSet;
use rustls::server::ProducesTickets;

/// How often a shard looks at the stop flag.
const STOP_POLL: Duration = Duration::from_millis(50);
/// How often idle upstream connections are swept.
const SWEEP_EVERY: Duration = Duration::from_secs(1);

/// A running coregate: its shards, their listeners and counters.
pub struct Server {
    shared: Arc<Shared>,
    threads: Vec<ShardThread>,
    addrs: Vec<SocketAddr>,
    admin: Option<SocketAddr>,
    api: Option<SocketAddr>,
    control: Control,
    source: SourceSlot,
}

/// A cheap, cloneable handle that asks a [`Server`] to drain and stop.
#[derive(Clone)]
pub struct StopHandle {
    shared: Arc<Shared>,
}

// === impl StopHandle ===

impl StopHandle {
    /// Stops accepting, lets in-flight requests finish (up to the drain
    /// timeout), then stops the shards.
    pub fn stop(&self) {
        self.shared.stop();
    }
}

/// Opens the access store of `t`, if it names one, with its first policy.
fn open_store(
    t: &Tuning,
    stats: &Arc<StoreStats>,
) -> Result<Option<(StoreWatch, Arc<access::Policy>)>, EngineError> {
    let Some(location) = store_location(t) else {
        return Ok(None);
    };
    let opened = StoreWatch::open(location, &t.access, stats.clone())
        .map_err(|cause| EngineError::Store { cause })?;
    Ok(Some(opened))
}

/// The store `t` names, if any.
fn store_location(t: &Tuning) -> Option<access::Location> {
    match (&t.access.postgres, &t.access.data_dir) {
        (Some(url), _) => Some(access::Location::Postgres(
            url.clone(),
            t.access.store_ca.clone(),
        )),
        (None, Some(dir)) => Some(access::Location::Sqlite(dir.clone())),
        (None, None) => None,
    }
}

// === impl Server ===

impl Server {
    /// Binds every listener, starts one pinned shard per CPU and returns once
    /// all of them serve, or with the first start-up error.
    pub fn start(t: Tuning) -> Result<Server, EngineError> {
        probe_io(&t)?;
        let t = Arc::new(t);
        let tls_err = |cause| EngineError::Tls { cause };
        let ticketer = tls::ticketer(&[]).map_err(|e| tls_err(e.to_string()))?;
        let store_stats = Arc::new(StoreStats::default());
        let mut store = open_store(&t, &store_stats)?;
        let root =
            api::root_token(t.access.api_token_file.as_deref()).map_err(|e| EngineError::Api {
                cause: e.to_string(),
            })?;
        let redis = start_redis(&t)?;
        let mut first = Snapshot::build_with(&t, 1, None, redis);
        first.set_tls(TlsSet::build(&t, &t, &ticketer).map_err(tls_err)?);
        if let Some((watch, policy)) = &mut store {
            first.access = policy.clone();
            // Quota counts saved before a restart count before the first
            // request does.
            watch.quotas(&first.policies);
        }
        let published = Arc::new(Published::new(first));
        let log = Sink::start(&t.access_log)
            .map_err(|source| EngineError::AccessLog { cause: source })?;
        let (scrapers, inboxes) = scrape_inboxes(t.shards)?;
        let (per_shard, addrs) = bind_listeners(&t)?;
        let shared = Arc::new(Shared {
            listen: addrs.clone(),
            stop: AtomicBool::new(false),
            metrics: (0..t.shards).map(|_| ShardMetrics::default()).collect(),
            published,
            reloads: Arc::new(ReloadStats::default()),
            store: store_stats,
            scrapers,
            log,
        });
        let mut server = Server::new(shared, &t, addrs, ticketer, store)?;
        server.spawn_shards(&t, per_shard, inboxes)?;
        server.start_admin(t.admin, root.clone())?;
        server.start_api(&t, root)?;
        Ok(server)
    }

    /// A server with its reload control thread and no shard yet.
    fn new(
        shared: Arc<Shared>,
        t: &Tuning,
        addrs: Vec<SocketAddr>,
        ticketer: Arc<dyn ProducesTickets>,
        store: Option<(StoreWatch, Arc<access::Policy>)>,
    ) -> Result<Server, EngineError> {
        let (control, source) = Control::spawn(
            shared.published.clone(),
            t.clone(),
            shared.reloads.clone(),
            ticketer,
            store,
        )
        .map_err(|source| EngineError::Shard {
            shard: 0,
            cpu: None,
            cause: source,
        })?;
        Ok(Server {
            shared,
            threads: Vec::with_capacity(t.shards),
            addrs,
            admin: None,
            api: None,
            control,
            source,
        })
    }

    /// Starts one thread per shard and waits until each serves.
    fn spawn_shards(
        &mut self,
        t: &Arc<Tuning>,
        per_shard: ShardListeners,
        inboxes: Vec<Inbox>,
    ) -> Result<(), EngineError> {
        let cpus = placement(t);
        let (ready_tx, ready_rx) = mpsc::channel();
        for ((id, listeners), inbox) in per_shard.into_iter().enumerate().zip(inboxes) {
            let cpu = cpus.get(id).copied().flatten();
            let args = ShardArgs {
                inbox,
                id,
                listeners,
                tuning: t.clone(),
                shared: self.shared.clone(),
                ready: ready_tx.clone(),
            };
            if let Err(source) = ShardThread::spawn(id, cpu, move || shard_main(args))
                .map(|th| self.threads.push(th))
            {
                self.abort();
                return Err(EngineError::Shard {
                    shard: id,
                    cpu,
                    cause: source,
                });
            }
        }
        drop(ready_tx);
        self.await_ready(&ready_rx)
    }

    /// Waits for every started shard's word; the first error stops them all.
    fn await_ready(&mut self, ready: &mpsc::Receiver<Ready>) -> Result<(), EngineError> {
        for _ in 0..self.threads.len() {
            let res = ready
                .recv()
                .unwrap_or(Err(EngineError::ShardLost { shard: 0 }));
            if let Err(e) = res {
                self.abort();
                return Err(e);
            }
        }
        Ok(())
    }

    /// Binds and serves the admin listener, when one is configured.
    fn start_admin(
        &mut self,
        addr: Option<SocketAddr>,
        token: Option<api::RootToken>,
    ) -> Result<(), EngineError> {
        let Some(addr) = addr else { return Ok(()) };
        let admin = Admin {
            shared: self.shared.clone(),
            control: self.control.clone(),
            token,
        };
        match admin::spawn(addr, admin) {
            Ok(bound) => {
                self.admin = Some(bound);
                Ok(())
            }
            Err(e) => {
                self.abort();
                Err(EngineError::admin_listen(addr, e))
            }
        }
    }

    /// Serves the management API on the store, when both are configured.
    fn start_api(&mut self, t: &Tuning, root: Option<api::RootToken>) -> Result<(), EngineError> {
        let (Some(addr), Some(location)) = (t.access.api, store_location(t)) else {
            return Ok(());
        };
        let fail = |cause: String| EngineError::Api { cause };
        let open: api::OpenStore =
            Arc::new(move || location.open().map(|s| s as Box<dyn access::Store>));
        let shared = self.shared.clone();
        let stopping = move || shared.stop.load(std::sync::atomic::Ordering::Acquire);
        let started = api::spawn(addr, open, root, stopping).map_err(|e| fail(e.to_string()));
        match started {
            Ok(bound) => {
                eprintln!("coregate: management API on http://{bound}/api/v1");
                self.api = Some(bound);
                Ok(())
            }
            Err(e) => {
                self.abort();
                Err(e)
            }
        }
    }

    /// The management API's address, when it is enabled.
    pub fn api_addr(&self) -> Option<SocketAddr> {
        self.api
    }

    /// The admin listener's address, when it is enabled.
    pub fn admin_addr(&self) -> Option<SocketAddr> {
        self.admin
    }

    /// The handle that reloads the configuration.
    pub fn control(&self) -> Control {
        self.control.clone()
    }

    /// Sets where `reload()` (SIGHUP, `POST /reload`) reads the new
    /// configuration from.
    pub fn set_reload_source(&self, source: ReloadSource) {
        self.source.set(source);
    }

    /// Reopens the access log file (after logrotate moved it; SIGUSR1).
    pub fn reopen_logs(&self) {
        if let Some(log) = &self.shared.log {
            log.reopen();
        }
    }

    /// A handle that reopens the access log from another thread.
    pub fn log_reopener(&self) -> impl Fn() + Send + 'static {
        let shared = self.shared.clone();
        move || {
            if let Some(log) = &shared.log {
                log.reopen();
            }
        }
    }

    /// The version of the snapshot being served.
    pub fn snapshot_version(&self) -> u64 {
        self.shared.published.version()
    }

    /// The bound listen addresses (ports resolved), in configuration order.
    pub fn local_addrs(&self) -> &[SocketAddr] {
        &self.addrs
    }

    /// Each shard's counters, in shard order.
    pub fn stats(&self) -> Vec<ShardStats> {
        self.shared
            .metrics
            .iter()
            .map(ShardMetrics::snapshot)
            .collect()
    }

    /// A handle that stops the server from another thread (a signal handler).
    pub fn stop_handle(&self) -> StopHandle {
        StopHandle {
            shared: self.shared.clone(),
        }
    }

    /// Asks the server to drain and stop; see [`StopHandle::stop`].
    pub fn stop(&self) {
        self.stop_handle().stop();
    }

    /// Waits until every shard has stopped.
    pub fn wait(self) -> Result<(), EngineError> {
        let mut first = None;
        for (shard, th) in self.threads.into_iter().enumerate() {
            if let Err(source) = th.join() {
                first.get_or_insert(EngineError::Shard {
                    shard,
                    cpu: None,
                    cause: source,
                });
            }
        }
        first.map_or(Ok(()), Err)
    }

    fn abort(&mut self) {
        self.stop();
        for th in self.threads.drain(..) {
            let _ = th.join();
        }
    }
}

/// The Redis client of global limits, one connection per shard; Redis
/// itself need not be up (connections are made as requests come).
fn start_redis(t: &Tuning) -> Result<Option<limits::Global>, EngineError> {
    let Some(r) = &t.redis else {
        return Ok(None);
    };
    let mut config = limits::GlobalConfig::new(r.url.clone());
    config.timeout = r.timeout;
    config.ca_file = r.ca.clone();
    config.queue = r.queue;
    limits::Global::start(&config, t.shards)
        .map(Some)
        .map_err(|e| EngineError::Redis {
            cause: e.to_string(),
        })
}

/// Probes io_uring on the calling thread, before any executor starts:
/// glommio itself panics when io_uring is unavailable, and the operator
/// should get one line naming the cause and the fix instead.
fn probe_io(t: &Tuning) -> Result<(), EngineError> {
    io::Ring::new(&ring_config(t))
        .map(drop)
        .map_err(|source| EngineError::Io {
            shard: 0,
            cause: source,
        })
}

/// A shard's scrape inbox: the requests and the doorbell's descriptor.
type Inbox = (mpsc::Receiver<ScrapeReply>, std::os::fd::OwnedFd);

/// A shard's word at start-up.
type Ready = Result<(), EngineError>;

/// Every shard's scrape inbox, and the admin side of them.
fn scrape_inboxes(shards: usize) -> Result<(Scrapers, Vec<Inbox>), EngineError> {
    let mut scrapers = Scrapers::new();
    let mut inboxes = Vec::with_capacity(shards);
    for shard in 0..shards {
        let (tx, rx) = mpsc::channel();
        let (bell, park) = Doorbell::new().map_err(|source| EngineError::Shard {
            shard,
            cpu: None,
            cause: source,
        })?;
        scrapers.add(tx, bell);
        inboxes.push((rx, park));
    }
    Ok((scrapers, inboxes))
}

type ShardListeners = Vec<Vec<TcpListener>>;

fn bind_listeners(t: &Tuning) -> Result<(ShardListeners, Vec<SocketAddr>), EngineError> {
    let mut per_shard: ShardListeners = (0..t.shards).map(|_| Vec::new()).collect();
    let mut addrs = Vec::with_capacity(t.listen.len());
    for &addr in &t.listen {
        let ls = listener::bind_all(addr, t.shards, t.backlog, t.timeouts.client_send)?;
        let bound = ls.first().and_then(|l| l.local_addr().ok()).unwrap_or(addr);
        addrs.push(bound);
        for (shard, l) in ls.into_iter().enumerate() {
            per_shard[shard].push(l);
        }
    }
    Ok((per_shard, addrs))
}

/// The CPU each shard is pinned to: the `--cpus` list, or else the CPUs this
/// process may run on, in order. Shards beyond the CPU count float.
fn placement(t: &Tuning) -> Vec<Option<usize>> {
    let cpus = t.cpus.clone().unwrap_or_else(tuning::allowed_cpus);
    (0..t.shards).map(|i| cpus.get(i).copied()).collect()
}

/// What a shard thread is started with.
struct ShardArgs {
    inbox: Inbox,
    id: usize,
    listeners: Vec<TcpListener>,
    tuning: Arc<Tuning>,
    shared: Arc<Shared>,
    ready: mpsc::Sender<Ready>,
}

fn ring_config(t: &Tuning) -> io::RingConfig {
    io::RingConfig {
        entries: t.io.ring_entries,
        buffer_count: t.io.buffers,
        buffer_size: t.io.buffer_size,
        max_unread_bytes: t.io.max_unread,
        direct_wait: t.io.direct_wait,
    }
}

/// A shard's life: set up its ring and listeners, serve, then drain.
async fn shard_main(a: ShardArgs) {
    let Some(ring) = start_ring(&a) else { return };
    let shared = &a.shared;
    let ctx = Rc::new(ShardCtx::new(
        a.id,
        ring.clone(),
        &a.tuning,
        shared.published.clone(),
        shared.metrics.clone(),
        shared.log.clone(),
    ));
    spawn_background(&ctx, a.inbox);
    let listeners = spawn_accept_loops(&ring, &ctx, a.listeners);
    let _ = a.ready.send(Ok(()));
    while !shared.stop.load(Ordering::Acquire) {
        shard::sleep(STOP_POLL).await;
    }
    drain(&ctx, &listeners, a.tuning.timeouts.drain).await;
    ring.shutdown();
}

/// Sets up the shard's io ring and spawns its driver, or reports why not.
fn start_ring(a: &ShardArgs) -> Option<io::Ring> {
    match io::Ring::new(&ring_config(&a.tuning)) {
        Ok(ring) => {
            shard::spawn_core("io driver", ring.clone().run());
            Some(ring)
        }
        Err(source) => {
            let _ = a.ready.send(Err(EngineError::Io {
                shard: a.id,
                cause: source,
            }));
            None
        }
    }
}

/// Registers the shard's listeners with its ring and starts their accept
/// loops.
fn spawn_accept_loops(
    ring: &io::Ring,
    ctx: &Rc<ShardCtx>,
    listeners: Vec<TcpListener>,
) -> Vec<Rc<io::Listener>> {
    let listeners: Vec<Rc<io::Listener>> = listeners
        .into_iter()
        .map(|l| Rc::new(io::Listener::new(ring, l)))
        .collect();
    for (i, l) in listeners.iter().enumerate() {
        let accept = accept_loop(l.clone(), ctx.clone(), i);
        shard::spawn_core("accept loop", accept);
    }
    listeners
}

/// Starts the shard's background tasks, in its background task queue: the
/// scrape server, the access-log flusher, the pool sweeper and, on shard 0 only
/// (health checks run once per host, not once per shard), the health
/// checker.
fn spawn_background(ctx: &Rc<ShardCtx>, (inbox, park): Inbox) {
    let park = EventFdPark::new(std::os::fd::IntoRawFd::into_raw_fd(park));
    let scrapes = crate::admin::scrape::serve_scrapes(ctx.clone(), inbox, park);
    shard::spawn_background("scrape server", scrapes);
    if ctx.access_log.is_some() {
        let flush = flush_log_loop(ctx.clone());
        shard::spawn_background("access log flusher", flush);
    }
    shard::spawn_background("pool sweeper", sweep_loop(ctx.clone()));
    if ctx.id == 0 {
        let health = crate::runtime::health::run(ctx.clone());
        shard::spawn_background("health checker", health);
    }
}

/// Stops accepting, lets in-flight requests finish (up to `limit`), then
/// empties the pool and flushes the access log.
async fn drain(ctx: &ShardCtx, listeners: &[Rc<io::Listener>], limit: Duration) {
    ctx.draining.set(true);
    for l in listeners {
        l.close();
    }
    let deadline = Instant::now() + limit;
    while ctx.in_flight.get() > 0 && Instant::now() < deadline {
        shard::sleep(Duration::from_millis(10)).await;
    }
    ctx.pool.clear();
    if let Some(log) = &ctx.access_log {
        log.flush();
    }
}

async fn accept_loop(l: Rc<io::Listener>, ctx: Rc<ShardCtx>, listener: usize) {
    loop {
        match l.accept().await {
            Ok((conn, peer)) => {
                if ctx.connections.get() >= ctx.max_connections {
                    bump(&ctx.metrics().refused, 1);
                    continue;
                }
                bump(&ctx.metrics().accepted, 1);
                #[cfg(feature = "fault-injection")]
                if ctx.fault_core.get() {
                    panic!("fault injection: accept loop");
                }
                conn::spawn(conn, peer, ctx.clone(), listener);
            }
            Err(_) if ctx.draining.get() => return,
            Err(e) => match e.raw_os_error() {
                Some(libc::ECONNABORTED) | Some(libc::EINTR) => {}
                // Out of descriptors or memory: back off instead of spinning.
                _ => shard::sleep(Duration::from_millis(10)).await,
            },
        }
    }
}

async fn flush_log_loop(ctx: Rc<ShardCtx>) {
    while let Some(log) = &ctx.access_log {
        shard::sleep(crate::observe::accesslog::FLUSH_EVERY).await;
        log.flush();
        if ctx.draining.get() && ctx.in_flight.get() == 0 {
            return;
        }
    }
}

async fn sweep_loop(ctx: Rc<ShardCtx>) {
    while !ctx.draining.get() {
        shard::sleep(SWEEP_EVERY).await;
        ctx.pool.sweep();
    }
}
