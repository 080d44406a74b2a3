//! The only module that touches glommio's executor API.
//!
//! glommio moves slowly, so everything the rest of the engine needs from it
//! (spawning shard-local tasks, yielding, timers, parking on an eventfd and
//! building the pinned executor pool) is wrapped here. Swapping the runtime
//! means rewriting this file, not the proxy.

use std::future::Future;
use std::io;
use std::os::fd::RawFd;
use std::time::Duration;

use glommio::io::BufferedFile;

/// Spawns a detached task on the current shard.
pub(crate) fn spawn_local<F>(fut: F)
where
    F: Future<Output = ()> + 'static,
{
    glommio::spawn_local(fut).detach();
}

/// Yields to other tasks on this shard if this task has run for its slice.
pub(crate) async fn yield_if_needed() {
    glommio::yield_if_needed().await;
}

/// Yields to other tasks on this shard unconditionally.
pub(crate) async fn yield_now() {
    glommio::executor().yield_now().await;
}

/// Sleeps for `d` on the shard's timer wheel.
pub(crate) async fn sleep(d: Duration) {
    glommio::timer::sleep(d).await;
}

/// Parks a task until an eventfd is signalled, by reading it through
/// glommio's own ring (an io_uring READ that the kernel completes when the
/// eventfd's counter becomes non-zero; the read also consumes the counter).
pub(crate) struct EventFdPark {
    file: BufferedFile,
}

// === impl EventFdPark ===

impl EventFdPark {
    /// Takes ownership of `fd` (a duplicate of the ring's registered eventfd).
    pub(crate) fn new(fd: RawFd) -> Self {
        #[allow(unsafe_code)]
        // SAFETY: the caller hands over a freshly dup'ed, open eventfd that
        // nothing else owns; BufferedFile closes it on drop.
        let file = unsafe { <BufferedFile as std::os::fd::FromRawFd>::from_raw_fd(fd) };
        EventFdPark { file }
    }

    /// Waits until the eventfd is signalled and consumes its counter.
    pub(crate) async fn wait(&self) -> io::Result<()> {
        self.file
            .read_at(0, 8)
            .await
            .map(|_| ())
            .map_err(io::Error::from)
    }
}
