//! Scrapes: the admin thread asks every shard for its statistics by
//! message passing (a channel plus an eventfd doorbell), and each shard's
//! task answers from its own single-writer state; nothing is shared.

use std::rc::Rc;
use std::sync::mpsc;
use std::time::Duration;

use crate::ctx::ShardCtx;
use crate::observe::stats::ShardReport;
use crate::shard::{Doorbell, EventFdPark};

/// A scrape request sent to a shard.
pub(crate) type ScrapeReply = mpsc::Sender<ShardReport>;

/// The admin side of every shard's scrape inbox.
pub(crate) struct Scrapers {
    shards: Vec<(mpsc::Sender<ScrapeReply>, Doorbell)>,
}

// === impl Scrapers ===

impl Scrapers {
    pub(crate) fn new() -> Scrapers {
        Scrapers { shards: Vec::new() }
    }

    pub(crate) fn add(&mut self, tx: mpsc::Sender<ScrapeReply>, bell: Doorbell) {
        self.shards.push((tx, bell));
    }

    /// Asks every shard for its report; shards that do not answer within
    /// `timeout` (stopping, or stuck) are left out.
    pub(crate) fn collect(&self, timeout: Duration) -> Vec<ShardReport> {
        let (reply, answers) = mpsc::channel();
        let mut asked = 0;
        for (tx, bell) in &self.shards {
            if tx.send(reply.clone()).is_ok() {
                bell.ring();
                asked += 1;
            }
        }
        drop(reply);
        let deadline = std::time::Instant::now() + timeout;
        let mut out = Vec::with_capacity(asked);
        while out.len() < asked {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match answers.recv_timeout(left) {
                Ok(r) => out.push(r),
                Err(_) => break,
            }
        }
        out.sort_by_key(|r| r.shard);
        out
    }
}

/// The shard side: answers scrapes until the shard stops.
pub(crate) async fn serve_scrapes(
    ctx: Rc<ShardCtx>,
    rx: mpsc::Receiver<ScrapeReply>,
    park: EventFdPark,
) {
    while park.wait().await.is_ok() {
        while let Ok(reply) = rx.try_recv() {
            let mut report = ctx.view.stats.report(ctx.id);
            report.access_log_dropped = ctx.access_log.as_ref().map_or(0, |l| l.dropped.get());
            report.upstream_open = ctx.view.upstream_connections() as u64;
            report.backends = ctx.view.backend_states();
            report.upstream_idle = ctx.pool.idle_count() as u64;
            let _ = reply.send(report);
        }
        if ctx.draining.get() {
            return;
        }
    }
}
