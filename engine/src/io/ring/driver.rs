//! The ring's driver task: rounds of submit-and-reap, yielding after busy
//! rounds so woken tasks queue their next operations as one batch, and
//! parking on the registered eventfd (or blocking in the ring itself for
//! `direct_wait` after a park) when idle. A wake-up costs one syscall in
//! the direct-wait window (open loop at 40k req/s: 21.9 vs 24.1 µs/req).

use super::*;

impl Inner {
    pub(super) fn parker(&self) -> io::Result<shard::EventFdPark> {
        let fd = self.efd.try_clone()?;
        Ok(shard::EventFdPark::new(
            std::os::fd::IntoRawFd::into_raw_fd(fd),
        ))
    }

    pub(super) fn finished(&self) -> bool {
        let Some(at) = self.shutdown_at.get() else {
            return false;
        };
        let idle = self.slots.borrow().live() == 0 && self.untracked.get() == 0;
        idle || at.elapsed() > SHUTDOWN_GRACE
    }

    /// One round: submit, reap, re-arm. Returns whether it found work.
    ///
    /// With `wait` and a direct-wait window open, an enter that finds no
    /// completion blocks until one arrives or the window closes.
    pub(super) fn round(self: &Rc<Self>, wait: bool) -> bool {
        let left = match self.direct_until.get() {
            Some(until) if wait => until.checked_duration_since(Instant::now()),
            _ => None,
        };
        // Nobody reads the eventfd before the next park through glommio, so
        // the kernel need not signal it meanwhile; it is switched back on for
        // the round before such a park, whose enter drains the pending work
        // (a later completion then signals it again: no lost wake-up).
        self.set_eventfd(left.is_none());
        match left {
            Some(left) => self.enter_waiting(left),
            None => self.enter(),
        }
        let n = self.reap();
        self.rearm_starved();
        n > 0
            || !self.backlog.borrow().is_empty()
            || !self.uring.borrow_mut().submission().is_empty()
    }

    /// Switches the kernel's eventfd notifications on or off (a flag in the
    /// completion ring, no syscall).
    pub(super) fn set_eventfd(&self, on: bool) {
        if self.eventfd_on.replace(on) == on {
            return;
        }
        let mut ring = self.uring.borrow_mut();
        if on {
            ring.completion().enable_eventfd();
        } else {
            ring.completion().disable_eventfd();
        }
    }

    /// Submits queued SQEs and blocks until a completion is ready or `left`
    /// has passed (IORING_ENTER_EXT_ARG timeout).
    pub(super) fn enter_waiting(&self, left: Duration) {
        let mut ring = self.uring.borrow_mut();
        self.flush_backlog(&mut ring);
        if !ring.completion().is_empty() || !self.backlog.borrow().is_empty() {
            drop(ring);
            return self.enter();
        }
        bump(&self.stats.enters);
        bump(&self.stats.direct_waits);
        let ts = types::Timespec::from(left);
        let args = types::SubmitArgs::new().timespec(&ts);
        match ring.submitter().submit_with_args(1, &args) {
            Ok(_) => {}
            // The window ran out, or a signal: normal ends of the wait.
            Err(e) if matches!(e.raw_os_error(), Some(libc::ETIME | libc::EINTR)) => {}
            Err(e) => {
                // Anything else would return at once again: close the window
                // (and for good without IORING_ENTER_EXT_ARG, Linux < 5.11).
                self.direct_until.set(None);
                if e.raw_os_error() == Some(libc::EINVAL) {
                    self.direct_wait.set(Duration::ZERO);
                }
            }
        }
    }

    /// The driver: rounds while there is work, yielding between them so the
    /// woken tasks run and queue their next SQEs.
    ///
    /// With nothing to do it parks through glommio (an eventfd read on
    /// glommio's ring, which also serves glommio's timers and other fds).
    /// For `direct_wait` after each such park it blocks in this ring instead.
    /// That starves nobody for longer than the window because a task on a
    /// shard becomes runnable only by this ring's completions (the driver
    /// reaps them and yields), by glommio's reactor (which runs when the
    /// driver parks: it yields once after each park so the tasks that park
    /// woke run first, and parks again when the window closes), or by being
    /// spawned (`shard::spawn_local` marks it, and the driver yields instead
    /// of waiting). Tasks on a shard do not wake each other directly; a
    /// task awaiting another thread (`shard::foreign`: a Redis reply) keeps
    /// the driver out of the ring's wait, since only glommio's reactor
    /// sees that thread's wake-up.
    ///
    /// The driver keeps the data path's task queue busy under load, so
    /// glommio would switch to the background queue only at its preempt
    /// timer: when a background task was woken or spawned, the driver
    /// neither waits in the ring nor yields within the queue, but yields
    /// the queue itself (`shard::yield_to_background`).
    pub(super) async fn drive(self: &Rc<Self>, park: &shard::EventFdPark) {
        self.parked.set(false);
        // The eventfd read stays in flight across a safety-timer wake-up:
        // dropping it could let a late completion consume a signal unseen.
        let mut wait: Option<EventWait<'_>> = None;
        loop {
            let spawned = shard::take_spawned();
            let direct = !spawned && !shard::background_ready() && !shard::foreign_waits();
            let busy = self.round(direct) | spawned;
            if self.finished() {
                crate::clock::unstamp();
                break;
            }
            if shard::background_ready() {
                // Background tasks read the clock itself: their slice may
                // last up to glommio's preempt timer.
                crate::clock::unstamp();
                shard::yield_to_background().await;
                continue;
            }
            crate::clock::stamp();
            if busy {
                shard::yield_now().await;
                continue;
            }
            if !self.eventfd_on.get() {
                // A direct wait ended empty: the next round turns the eventfd
                // back on before the enter that precedes parking.
                continue;
            }
            self.direct_until.set(None);
            crate::clock::unstamp();
            self.park(park, &mut wait).await;
            let window = self.direct_wait.get();
            if !window.is_zero() {
                self.direct_until.set(Some(Instant::now() + window));
            }
            // Let whatever glommio's reactor woke with us run first.
            shard::yield_now().await;
        }
    }

    pub(super) async fn park<'p>(
        &self,
        park: &'p shard::EventFdPark,
        wait: &mut Option<EventWait<'p>>,
    ) {
        bump(&self.stats.parks);
        self.parked.set(true);
        let read = wait.get_or_insert_with(|| Box::pin(park.wait()));
        let woke = futures_lite::future::or(async { Some(read.as_mut().await) }, async {
            shard::sleep(PARK_SAFETY).await;
            None
        });
        if let Some(r) = woke.await {
            *wait = None;
            if r.is_err() {
                shard::sleep(Duration::from_millis(1)).await;
            }
        }
        self.parked.set(false);
        self.kicked.set(false);
    }

    /// Fallback driver when the eventfd cannot be parked on: polls every 1 ms.
    pub(super) async fn drive_polling(self: &Rc<Self>) {
        loop {
            self.parked.set(false);
            let busy = self.round(false);
            if self.finished() {
                crate::clock::unstamp();
                break;
            }
            if shard::background_ready() {
                crate::clock::unstamp();
                shard::yield_to_background().await;
            } else if busy {
                crate::clock::stamp();
                shard::yield_now().await;
            } else {
                self.parked.set(true);
                crate::clock::unstamp();
                shard::sleep(Duration::from_millis(1)).await;
            }
        }
    }
}

/// A pending read of the ring's eventfd (on glommio's ring).
type EventWait<'p> = Pin<Box<dyn Future<Output = io::Result<()>> + 'p>>;
