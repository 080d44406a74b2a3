//! What the shards and the admin side share: the stop flag, every shard's
//! counters, the published snapshot, reload statistics, the scrape inboxes
//! and the access log writer. Written only off the request path (the
//! counters by their own shard alone).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crate::admin::scrape::Scrapers;
use crate::observe::accesslog::Sink;
use crate::observe::metrics::ShardMetrics;
use crate::snapshot::control::ReloadStats;
use crate::snapshot::publish::Published;

/// State shared by the shards and whoever controls the server. Written only
/// off the request path (the metrics by their own shard alone).
pub(crate) struct Shared {
    pub(crate) stop: AtomicBool,
    pub(crate) metrics: Arc<[ShardMetrics]>,
    pub(crate) published: Arc<Published>,
    pub(crate) reloads: Arc<ReloadStats>,
    /// The access store's health.
    pub(crate) store: Arc<crate::snapshot::store::StoreStats>,
    /// Every shard's scrape inbox.
    pub(crate) scrapers: Scrapers,
    /// The access log writer, when the log is on.
    pub(crate) log: Option<Sink>,
    /// The bound listen addresses, in configuration order.
    pub(crate) listen: Vec<SocketAddr>,
}

// === impl Shared ===

impl Shared {
    /// Asks every shard to drain and stop.
    pub(crate) fn stop(&self) {
        self.stop.store(true, Ordering::Release);
    }
}
