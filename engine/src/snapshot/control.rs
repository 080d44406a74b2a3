//! The control thread: the single writer of the routing snapshot.
//!
//! Reloads come from SIGHUP, `POST /reload` on the admin listener, a config
//! file watcher or the embedding program. They all go through one channel to
//! one thread, so snapshots are built and published one at a time, in
//! order, and never on a shard.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::thread;

use tuning::{Tuning, TuningError};

use crate::snapshot::publish::Published;
use crate::snapshot::route::Snapshot;

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
    ) -> std::io::Result<(Control, SourceSlot)> {
        let (tx, rx) = mpsc::channel::<Msg>();
        let (src_tx, src_rx) = mpsc::channel::<ReloadSource>();
        thread::Builder::new()
            .name("control".into())
            .spawn(move || {
                let mut worker = Worker {
                    published,
                    running,
                    stats,
                    source: None,
                    sources: src_rx,
                };
                for msg in rx {
                    worker.handle(msg);
                }
            })?;
        Ok((Control { tx }, SourceSlot { tx: src_tx }))
    }

    /// Re-reads the configuration from its source and publishes it.
    pub fn reload(&self) -> Result<ReloadReport, ReloadError> {
        self.ask(Msg::Reload)
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
    running: Tuning,
    stats: Arc<ReloadStats>,
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
            Msg::ReloadWith(t, reply) => (Ok(self.apply(*t)), reply),
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
        let source = self.source.as_mut().ok_or(ReloadError::NoSource)?;
        let t = source().map_err(|e| ReloadError::Invalid(e.to_string()))?;
        Ok(self.apply(t))
    }

    fn apply(&mut self, t: Tuning) -> ReloadReport {
        let version = self.published.version() + 1;
        let needs_restart = restart_only_changes(&self.running, &t);
        let prev = self.published.load();
        self.published
            .publish(Snapshot::build(&t, version, Some(&prev)));
        for field in &needs_restart {
            eprintln!("coregate: {field} changed; it takes effect on restart");
        }
        ReloadReport {
            version,
            needs_restart,
        }
    }
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
    check(old.shards != new.shards, "shards");
    check(old.cpus != new.cpus, "cpus");
    check(old.backlog != new.backlog, "backlog");
    check(
        old.max_connections != new.max_connections,
        "max_connections",
    );
    check(old.admin != new.admin, "admin");
    check(old.io != new.io, "io");
    check(old.pool != new.pool, "pool");
    // Set on the listening sockets (TCP_USER_TIMEOUT), which stay.
    check(
        old.timeouts.client_send != new.timeouts.client_send,
        "timeouts.client_send",
    );
    out
}
