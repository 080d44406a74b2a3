//! The access store as the control thread sees it: polled for its revision
//! a few times a second (one indexed read), and, when the revision moved,
//! read whole and compiled into a [`Policy`] that the next snapshot
//! carries. A store that cannot be read keeps the last good policy
//! serving; the outage is counted, logged once, and caught up on when it
//! ends (the connection is reopened, at most once a second). Compiling
//! 100k apps with a key each takes 59 ms, so a change reaches every shard
//! well within the second.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use access::jwks::JwksCache;
use access::{AccessData, Location, Policy, Store};

/// How often the store's revision is looked at.
pub(crate) const POLL_EVERY: Duration = Duration::from_millis(200);

/// The store's health, written by the control thread, read by `/stats`
/// and `/metrics`.
#[derive(Debug, Default)]
pub(crate) struct StoreStats {
    /// A store is configured.
    pub(crate) configured: AtomicBool,
    /// The last read worked.
    pub(crate) up: AtomicBool,
    /// Reads that failed.
    pub(crate) failures: AtomicU64,
    /// The revision the serving policy was compiled from.
    pub(crate) revision: AtomicU64,
    /// API keys in the serving policy.
    pub(crate) keys: AtomicU64,
}

/// How often a lost connection is reopened.
const RECONNECT_EVERY: Duration = Duration::from_secs(1);

/// The store and the revision last compiled.
pub(crate) struct StoreWatch {
    location: Location,
    /// Opened on the control thread, on first use and after a failure.
    conn: Option<Box<dyn Store + Send>>,
    last_open: Option<Instant>,
    compiled: u64,
    stats: Arc<StoreStats>,
    /// What the store held at `compiled`, to recompile when a JWKS moves.
    data: AccessData,
    /// The JWT credentials' key sets.
    jwks: JwksCache,
    /// The serving policy's "a shard met an unknown kid" flag.
    wanted: Arc<AtomicBool>,
    /// `access.jwt_skew`, in seconds.
    leeway: u64,
    /// The configuration changed what is compiled (the skew).
    stale: bool,
    /// Quota tables whose saved counts were read back.
    restored: Vec<std::sync::Weak<crate::limit::Policy>>,
    /// Counts not yet saved (the last save failed).
    unsaved: Vec<access::QuotaCount>,
}

// === impl StoreWatch ===

impl StoreWatch {
    /// Opens (creating it if needed) the store in `dir` and compiles what
    /// it holds: the first snapshot's policy.
    pub(crate) fn open(
        location: Location,
        access: &tuning::AccessConfig,
        stats: Arc<StoreStats>,
    ) -> Result<(StoreWatch, Arc<Policy>), String> {
        let declared = &access.declared;
        let fail = |e: &dyn std::fmt::Display| format!("{location}: {e}");
        let store = location.open().map_err(|e| fail(&e))?;
        store
            .sync_declared(&declared_set(declared))
            .map_err(|e| format!("{location}: the objects declared in [access]: {e}"))?;
        let data = store.load().map_err(|e| fail(&e))?;
        stats.configured.store(true, Ordering::Relaxed);
        let mut watch = StoreWatch {
            location,
            conn: None,
            last_open: None,
            compiled: 0,
            stats,
            data,
            jwks: JwksCache::new(),
            wanted: Arc::default(),
            leeway: access.jwt_skew.as_secs(),
            stale: false,
            restored: Vec::new(),
            unsaved: Vec::new(),
        };
        watch
            .jwks
            .refresh(&Policy::jwks_sources(&watch.data), false);
        let policy = watch.compile();
        Ok((watch, policy))
    }

    /// Writes the objects a reloaded configuration declares (the next poll
    /// sees the revision move and recompiles).
    pub(crate) fn declare(&mut self, access: &tuning::AccessConfig) -> Result<(), String> {
        let leeway = access.jwt_skew.as_secs();
        self.stale |= leeway != self.leeway;
        self.leeway = leeway;
        let declared = &access.declared;
        let store = self.connection().map_err(|e| match e {
            Some(e) => e.to_string(),
            None => "the access store is unreachable".to_owned(),
        })?;
        store
            .sync_declared(&declared_set(declared))
            .map_err(|e| format!("the objects declared in [access]: {e}"))
    }

    /// Compiles what the store held with the key sets at hand.
    fn compile(&mut self) -> Arc<Policy> {
        self.stale = false;
        let policy = Arc::new(Policy::compile_with(&self.data, &self.jwks, self.leeway));
        self.wanted = policy.jwks_wanted.clone();
        self.serving(&policy);
        policy
    }

    /// A new policy when the store moved since the last one; `None` when it
    /// did not, or could not be read (the last policy keeps serving).
    /// Also a new policy when a JWKS changed (fetched on schedule, or
    /// sooner after a shard met an unknown `kid`).
    pub(crate) fn poll(&mut self) -> Option<Arc<Policy>> {
        let moved = match self.read() {
            Ok(next) => {
                self.recovered();
                next.map(|data| self.data = data).is_some()
            }
            Err(Some(e)) => {
                self.conn = None;
                self.failed(&e);
                false
            }
            Err(None) => false,
        };
        let wanted = self.wanted.swap(false, Ordering::Relaxed);
        let sources = Policy::jwks_sources(&self.data);
        let keys_moved = self.jwks.refresh(&sources, wanted);
        (moved || keys_moved || self.stale).then(|| self.compile())
    }

    /// The store's contents when its revision moved. `Err(None)`: no
    /// connection yet, and too soon to try again.
    fn read(&mut self) -> Result<Option<AccessData>, Option<access::StoreError>> {
        let compiled = self.compiled;
        let store = self.connection()?;
        if store.revision()? == compiled {
            return Ok(None);
        }
        Ok(Some(store.load()?))
    }

    fn connection(&mut self) -> Result<&(dyn Store + Send), Option<access::StoreError>> {
        if self.conn.is_none() {
            let now = Instant::now();
            if self.last_open.is_some_and(|t| now < t + RECONNECT_EVERY) {
                return Err(None);
            }
            self.last_open = Some(now);
            self.conn = Some(self.location.open()?);
        }
        self.conn.as_deref().ok_or(None)
    }

    fn serving(&mut self, policy: &Policy) {
        self.compiled = policy.revision;
        self.stats.up.store(true, Ordering::Relaxed);
        self.stats
            .revision
            .store(policy.revision, Ordering::Relaxed);
        self.stats
            .keys
            .store(policy.keys() as u64, Ordering::Relaxed);
    }

    /// Reads back the saved counts of quota tables new since the last
    /// call, then saves the counts touched since (this host's, under its
    /// host name). A save that fails is tried again with the next.
    pub(crate) fn quotas(&mut self, policies: &[Arc<crate::limit::Policy>]) {
        self.restored.retain(|w| w.strong_count() > 0);
        let fresh: Vec<Arc<crate::limit::Policy>> = policies
            .iter()
            .filter(|p| p.quota().is_some())
            .filter(|p| {
                !self
                    .restored
                    .iter()
                    .any(|w| std::ptr::eq(w.as_ptr(), Arc::as_ptr(p)))
            })
            .cloned()
            .collect();
        let mut counts = std::mem::take(&mut self.unsaved);
        counts.extend(policies.iter().flat_map(|p| p.dirty_counts()));
        let node = node_name();
        let restored = match self.connection() {
            Ok(store) => restore_quotas(store, &node, &fresh),
            Err(e) => Err(e),
        };
        if restored.is_ok() {
            self.restored.extend(fresh.iter().map(Arc::downgrade));
        }
        let now = i64::try_from(crate::limit::unix_now()).unwrap_or(i64::MAX);
        let saved = match self.connection() {
            Ok(_) if counts.is_empty() => Ok(()),
            Ok(store) => store.save_quota_counts(&node, &counts, now).map_err(Some),
            Err(e) => Err(e),
        };
        if let Err(e) = saved {
            if let Some(e) = e {
                eprintln!("coregate: cannot save quota counts ({e}); trying again in a second");
            }
            // Bounded: the newest counts of each key are the last ones.
            let over = counts.len().saturating_sub(1 << 20);
            counts.drain(..over);
            self.unsaved = counts;
        }
    }

    fn recovered(&self) {
        if !self.stats.up.swap(true, Ordering::Relaxed) {
            eprintln!("coregate: the access store is readable again");
        }
    }

    fn failed(&self, e: &access::StoreError) {
        self.stats.failures.fetch_add(1, Ordering::Relaxed);
        if self.stats.up.swap(false, Ordering::Relaxed) {
            eprintln!(
                "coregate: cannot read the access store ({e}); still serving revision {}",
                self.compiled
            );
        }
    }
}

/// Restores `fresh` tables from what the store saved for `node`.
fn restore_quotas(
    store: &(dyn Store + Send),
    node: &str,
    fresh: &[Arc<crate::limit::Policy>],
) -> Result<(), Option<access::StoreError>> {
    if fresh.is_empty() {
        return Ok(());
    }
    let saved = store.quota_counts(node)?;
    for p in fresh {
        p.restore_counts(&saved);
    }
    Ok(())
}

/// This host's name, under which its quota counts are saved.
fn node_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "coregate".to_owned())
}

/// The configuration's declared objects, as the store takes them.
fn declared_set(d: &tuning::Declared) -> access::DeclaredSet {
    use access::{Approval, AuthKind, ServiceSpec, Visibility};
    let service = |s: &tuning::DeclaredService| ServiceSpec {
        name: s.name.clone(),
        visibility: match s.visibility.as_str() {
            "team" => Visibility::Team,
            _ => Visibility::Public,
        },
        approval: match s.approval.as_str() {
            "auto" => Approval::Auto,
            _ => Approval::Required,
        },
        auth: s
            .auth
            .iter()
            .filter_map(|k| match k.as_str() {
                "key" => Some(AuthKind::Key),
                "jwt" => Some(AuthKind::Jwt),
                "basic" => Some(AuthKind::Basic),
                _ => None,
            })
            .collect(),
        key_header: s.key_header.clone(),
        key_query: s.key_query.clone(),
    };
    access::DeclaredSet {
        teams: d.teams.clone(),
        services: d
            .services
            .iter()
            .map(|s| (s.team.clone(), service(s)))
            .collect(),
        apps: d.apps.clone(),
        subscriptions: d.subscriptions.clone(),
    }
}
