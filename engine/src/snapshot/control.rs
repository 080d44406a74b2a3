//! The control thread: the single writer of the routing snapshot.
//!
//! Reloads come from SIGHUP, `POST /reload` on the admin listener, a config
//! file watcher or the embedding program. They all go through one channel to
//! one thread, so snapshots are built and published one at a time, in
//! order, and never on a shard.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::Duration;

use tuning::{Tuning, TuningError};

use crate::snapshot::publish::Published;
use crate::snapshot::route::Snapshot;
use crate::snapshot::store::{StoreWatch, POLL_EVERY};
use crate::snapshot::tls::TlsSet;
use rustls::server::ProducesTickets;

/// Produces the configuration to reload: typically re-reads the config file
/// and applies the command-line flags on top.
pub type ReloadSource = Box<dyn FnMut() -> Result<Tuning, TuningError> + Send>;

/// What a successful reload did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReloadReport {
    /// The new snapshot version.
    pub version: u64,
    /// Settings that changed but only take effect on restart.
    pub needs_restart: Vec<&'static str>,
}

/// Why a reload was refused; the old snapshot keeps serving.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReloadError {
    /// The new configuration is invalid (every error, file:line: field: message).
    #[error("{0}")]
    Invalid(String),
    /// There is nothing to reload from (no config file).
    #[error("no config file to reload: coregate was started without --config")]
    NoSource,
    /// The control thread is gone (the server is stopping).
    #[error("the server is stopping")]
    Stopped,
}

/// Reload counters, written only by the control thread.
#[derive(Debug, Default)]
pub(crate) struct ReloadStats {
    pub(crate) ok: AtomicU64,
    pub(crate) failed: AtomicU64,
}

type Reply = mpsc::Sender<Result<ReloadReport, ReloadError>>;

enum Msg {
    /// Reload from the configured source.
    Reload(Reply),
    /// Reload with this configuration.
    ReloadWith(Box<Tuning>, Reply),
    /// Reload the certificates and keys of the running configuration (a
    /// TLS file changed).
    ReloadTls(Reply),
}

/// Sends reload requests to the control thread. Cheap to clone.
#[derive(Clone)]
pub struct Control {
    tx: mpsc::Sender<Msg>,
}

// === impl Control ===

impl Control {
    /// Starts the control thread.
    pub(crate) fn spawn(
        published: Arc<Published>,
        running: Tuning,
        stats: Arc<ReloadStats>,
        ticketer: Arc<dyn ProducesTickets>,
        store: Option<(StoreWatch, Arc<access::Policy>)>,
    ) -> std::io::Result<(Control, SourceSlot)> {
        let (tx, rx) = mpsc::channel::<Msg>();
        let (src_tx, src_rx) = mpsc::channel::<ReloadSource>();
        thread::Builder::new()
            .name("control".into())
            .spawn(move || {
                let (store, access) = match store {
                    Some((w, p)) => (Some(w), p),
                    None => (None, Arc::default()),
                };
                let mut worker = Worker {
                    published,
                    store,
                    access,
                    stamps: file_stamps(&running),
                    latest: running.clone(),
                    running,
                    stats,
                    ticketer,
                    source: None,
                    sources: src_rx,
                };
                // The files are looked at once a second, and the store
                // five times a second, however many reloads arrive meanwhile.
                let now = std::time::Instant::now;
                let mut next_look = now() + TLS_WATCH_EVERY;
                let mut next_poll = now() + POLL_EVERY;
                worker.quotas();
                loop {
                    let wait = next_look.min(next_poll).saturating_duration_since(now());
                    match rx.recv_timeout(wait) {
                        Ok(msg) => worker.handle(msg),
                        Err(mpsc::RecvTimeoutError::Timeout) => {}
                        Err(mpsc::RecvTimeoutError::Disconnected) => {
                            worker.quotas();
                            break;
                        }
                    }
                    if now() >= next_look {
                        worker.tls_files_changed();
                        worker.quotas();
                        next_look = now() + TLS_WATCH_EVERY;
                    }
                    if now() >= next_poll {
                        worker.store_changed();
                        next_poll = now() + POLL_EVERY;
                    }
                }
            })?;
        Ok((Control { tx }, SourceSlot { tx: src_tx }))
    }

    /// Re-reads the configuration from its source and publishes it.
    pub fn reload(&self) -> Result<ReloadReport, ReloadError> {
        self.ask(Msg::Reload)
    }

    /// Reloads the certificates and keys of the running configuration.
    pub fn reload_tls(&self) -> Result<ReloadReport, ReloadError> {
        self.ask(Msg::ReloadTls)
    }

    /// Publishes `t` as the new configuration.
    pub fn reload_with(&self, t: Tuning) -> Result<ReloadReport, ReloadError> {
        self.ask(|reply| Msg::ReloadWith(Box::new(t), reply))
    }

    fn ask(&self, msg: impl FnOnce(Reply) -> Msg) -> Result<ReloadReport, ReloadError> {
        let (reply, answer) = mpsc::channel();
        self.tx.send(msg(reply)).map_err(|_| ReloadError::Stopped)?;
        answer.recv().map_err(|_| ReloadError::Stopped)?
    }
}

/// Where the embedding program hands over its [`ReloadSource`].
pub(crate) struct SourceSlot {
    tx: mpsc::Sender<ReloadSource>,
}

// === impl SourceSlot ===

impl SourceSlot {
    pub(crate) fn set(&self, source: ReloadSource) {
        let _ = self.tx.send(source);
    }
}

struct Worker {
    published: Arc<Published>,
    /// The access store, when there is one.
    store: Option<StoreWatch>,
    /// The policy every snapshot built carries.
    access: Arc<access::Policy>,
    /// The configuration the process started with (restart-only settings).
    running: Tuning,
    /// The configuration last published.
    latest: Tuning,
    stats: Arc<ReloadStats>,
    /// Shared by every snapshot, so tickets survive reloads.
    ticketer: Arc<dyn ProducesTickets>,
    /// Modification times and sizes of the TLS files `latest` reads.
    stamps: Vec<Stamp>,
    source: Option<ReloadSource>,
    sources: mpsc::Receiver<ReloadSource>,
}

// === impl Worker ===

impl Worker {
    fn handle(&mut self, msg: Msg) {
        while let Ok(s) = self.sources.try_recv() {
            self.source = Some(s);
        }
        let (res, reply) = match msg {
            Msg::Reload(reply) => (self.from_source(), reply),
            Msg::ReloadWith(t, reply) => (self.apply(*t), reply),
            Msg::ReloadTls(reply) => (self.apply(self.latest.clone()), reply),
        };
        let counter = if res.is_ok() {
            &self.stats.ok
        } else {
            &self.stats.failed
        };
        counter.fetch_add(1, Ordering::Relaxed);
        match &res {
            Ok(r) => eprintln!("coregate: reloaded, snapshot version {}", r.version),
            Err(e) => {
                eprintln!("coregate: reload refused, still serving the previous config:\n{e}")
            }
        }
        let _ = reply.send(res);
    }

    fn from_source(&mut self) -> Result<ReloadReport, ReloadError> {
        let Some(source) = self.source.as_mut() else {
            // Without a file (quick mode), a reload still re-reads certificates.
            if self.latest.tls.is_empty() {
                return Err(ReloadError::NoSource);
            }
            return self.apply(self.latest.clone());
        };
        let t = source().map_err(|e| ReloadError::Invalid(e.to_string()))?;
        self.apply(t)
    }

    /// Builds and publishes `t`; a TLS file that cannot be used refuses
    /// the whole reload (the old certificates keep serving).
    fn apply(&mut self, t: Tuning) -> Result<ReloadReport, ReloadError> {
        let tls = TlsSet::build(&t, &self.running, &self.ticketer).map_err(ReloadError::Invalid)?;
        if let Some(store) = self.store.as_mut() {
            store.declare(&t.access).map_err(ReloadError::Invalid)?;
        }
        let version = self.published.version() + 1;
        let needs_restart = restart_only_changes(&self.running, &t);
        let prev = self.published.load();
        let mut next = Snapshot::build(&t, version, Some(&prev));
        next.set_tls(tls);
        next.access = self.access.clone();
        self.published.publish(next);
        for field in &needs_restart {
            eprintln!("coregate: {field} changed; it takes effect on restart");
        }
        self.stamps = file_stamps(&t);
        self.latest = t;
        Ok(ReloadReport {
            version,
            needs_restart,
        })
    }
}

// === impl Worker (TLS files) ===

impl Worker {
    /// Reloads when a certificate, key, OCSP or CA file of the running
    /// configuration changed (as a reload would; a bad file is reported
    /// and the old one keeps serving, and it is not retried until it
    /// changes again).
    fn tls_files_changed(&mut self) {
        let now = file_stamps(&self.latest);
        if now == self.stamps {
            return;
        }
        self.stamps = now;
        eprintln!("coregate: a TLS file changed, reloading certificates");
        let (reply, _answer) = mpsc::channel();
        self.handle(Msg::ReloadTls(reply));
    }
}

// === impl Worker (access store) ===

impl Worker {
    /// Saves the quota counts to the store, and reads back those of new
    /// quota tables.
    fn quotas(&mut self) {
        if let Some(store) = self.store.as_mut() {
            store.quotas(&self.published.load().policies);
        }
    }

    /// Republishes the running configuration with the store's new policy
    /// when the store moved (its TLS settings carried over, no file read).
    fn store_changed(&mut self) {
        let Some(policy) = self.store.as_mut().and_then(StoreWatch::poll) else {
            return;
        };
        self.access = policy;
        let prev = self.published.load();
        let mut next = Snapshot::build(&self.latest, self.published.version() + 1, Some(&prev));
        next.carry_tls(&prev);
        next.access = self.access.clone();
        self.published.publish(next);
    }
}

/// How often TLS files are checked for changes.
const TLS_WATCH_EVERY: Duration = Duration::from_secs(1);

/// A file's modification time and size (`None`: unreadable).
type Stamp = Option<(Option<std::time::SystemTime>, u64)>;

fn file_stamps(t: &Tuning) -> Vec<Stamp> {
    let stamp = |p: &std::path::PathBuf| {
        let m = std::fs::metadata(p).ok()?;
        Some((m.modified().ok(), m.len()))
    };
    crate::snapshot::tls::files(t).iter().map(stamp).collect()
}

/// Settings fixed at start-up: listeners, shards and the io layer.
fn restart_only_changes(old: &Tuning, new: &Tuning) -> Vec<&'static str> {
    let mut out = Vec::new();
    let mut check = |changed: bool, name| {
        if changed {
            out.push(name);
        }
    };
    check(old.listen != new.listen, "listen");
    check(old.listen_tls != new.listen_tls, "which listeners use TLS");
    check(old.shards != new.shards, "shards");
    check(old.cpus != new.cpus, "cpus");
    check(old.backlog != new.backlog, "backlog");
    check(
        old.max_connections != new.max_connections,
        "max_connections",
    );
    check(old.admin != new.admin, "admin");
    check(
        old.access.data_dir != new.access.data_dir,
        "access.data_dir",
    );
    check(old.access.api != new.access.api, "access.api");
    check(
        old.access.postgres != new.access.postgres || old.access.store_ca != new.access.store_ca,
        "access.store",
    );
    check(
        old.access.api_token_file != new.access.api_token_file,
        "access.api_token_file",
    );
    check(old.io != new.io, "io");
    check(old.redis != new.redis, "redis");
    check(old.pool != new.pool, "pool");
    // Set on the listening sockets (TCP_USER_TIMEOUT), which stay.
    check(
        old.timeouts.client_send != new.timeouts.client_send,
        "timeouts.client_send",
    );
    out
}
