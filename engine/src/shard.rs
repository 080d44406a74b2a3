//! The only module that touches glommio's executor API.
//!
//! glommio moves slowly, so everything the rest of the engine needs from it
//! (spawning shard-local tasks, yielding, timers, parking on an eventfd and
//! building the pinned executor pool) is wrapped here. Swapping the runtime
//! means rewriting this file, not the proxy.
//!
//! A shard runs two task queues. The data path (the ring driver, the accept
//! loops, every connection and what they spawn) runs in glommio's default
//! queue, 1000 shares, the shard's main task with it. Background work (the
//! scrape server, the pool sweeper, the access-log flusher, the health
//! checker and its checks) runs in a "background" queue of 100 shares,
//! spawned with [`spawn_background`]; what a background task spawns stays
//! there. Neither queue asks for a latency (`Latency::Matters` would shorten
//! the shard-wide preempt timer to its bound and leave the io loop that
//! often); glommio switches queues only when the running one empties, is
//! preempted (100 ms) or yields its queue, and the ring driver keeps the
//! data queue busy under load. So a background task that is woken (its
//! waker sets a mark, [`background_ready`]) or spawned makes the driver
//! yield the data queue after its round ([`yield_to_background`]): the
//! background task runs within one driver round instead of at the next
//! preemption, and the data path pays nothing while there is none.

use std::cell::{Cell, OnceCell};
use std::future::Future;
use std::io;
use std::os::fd::RawFd;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

use glommio::io::BufferedFile;

use crate::timer;

thread_local! {
    /// Set when a task was spawned (in either queue) since the io driver
    /// last looked: the new task is runnable but has not run, so the driver
    /// must not block.
    static SPAWNED: Cell<bool> = const { Cell::new(false) };
    /// The shard's background task queue, created on first use.
    static BACKGROUND: OnceCell<glommio::TaskQueueHandle> = const { OnceCell::new() };
    /// Set while a background task is polled: what it spawns is background.
    static IN_BACKGROUND: Cell<bool> = const { Cell::new(false) };
    /// Set when a background task was woken or spawned since the driver
    /// last yielded the data queue (an atomic: a waker may be sent away).
    static BACKGROUND_READY: Arc<AtomicBool> = Arc::new(AtomicBool::new(false));
    /// Set once this thread's timer task runs.
    static TIMERS: Cell<bool> = const { Cell::new(false) };
}

/// The shares of the data path's queue (glommio's default queue) and of
/// the background queue: when both stay busy, the data path gets ten times
/// the CPU time.
const DATA_SHARES: usize = 1000;
const BACKGROUND_SHARES: usize = DATA_SHARES / 10;

/// Spawns a detached task on the current shard, in the current task's
/// queue (a background task's spawns are background too).
pub(crate) fn spawn_local<F>(fut: F)
where
    F: Future<Output = ()> + 'static,
{
    if IN_BACKGROUND.with(Cell::get) {
        return spawn_into_background(fut);
    }
    SPAWNED.with(|s| s.set(true));
    glommio::spawn_local(fut).detach();
}

/// Spawns one of the shard's background core tasks (scrapes, sweeps, log
/// flushes, health checks) in the background queue; a panic in it exits
/// the process as for [`spawn_core`].
pub(crate) fn spawn_background<F>(name: &'static str, fut: F)
where
    F: Future<Output = ()> + 'static,
{
    spawn_into_background(exit_on_panic(name, fut));
}

/// Spawns `fut` in the shard's background queue.
fn spawn_into_background<F>(fut: F)
where
    F: Future<Output = ()> + 'static,
{
    SPAWNED.with(|s| s.set(true));
    BACKGROUND_READY.with(|r| r.store(true, Ordering::Release));
    let queue = BACKGROUND.with(|q| {
        *q.get_or_init(|| {
            glommio::executor().create_task_queue(
                glommio::Shares::Static(BACKGROUND_SHARES),
                glommio::Latency::NotImportant,
                "background",
            )
        })
    });
    let task = Background {
        fut,
        waker: None,
        ready: BACKGROUND_READY.with(Arc::clone),
    };
    if let Ok(task) = glommio::spawn_local_into(task, queue) {
        task.detach();
    }
}

/// Whether a background task was woken or spawned since the driver last
/// yielded the data queue to it.
pub(crate) fn background_ready() -> bool {
    BACKGROUND_READY.with(|r| r.load(Ordering::Acquire))
}

/// Yields the running task queue (the data path's) so that the executor
/// runs the background queue, when that has tasks, before coming back;
/// clears the [`background_ready`] mark.
pub(crate) async fn yield_to_background() {
    BACKGROUND_READY.with(|r| r.store(false, Ordering::Release));
    glommio::executor().yield_task_queue_now().await;
}

pin_project_lite::pin_project! {
    /// A background task: polled with a waker that marks
    /// [`background_ready`] before waking the task, and marked as
    /// background while it runs.
    struct Background<F> {
        #[pin]
        fut: F,
        // glommio's waker for this task and the marking one around it.
        waker: Option<(Waker, Waker)>,
        ready: Arc<AtomicBool>,
    }
}

impl<F: Future<Output = ()>> Future for Background<F> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.project();
        let waker = match this.waker {
            Some((inner, marking)) if inner.will_wake(cx.waker()) => &*marking,
            slot => {
                let marking = Waker::from(Arc::new(MarkingWaker {
                    inner: cx.waker().clone(),
                    ready: this.ready.clone(),
                }));
                &slot.insert((cx.waker().clone(), marking)).1
            }
        };
        let _in = InBackground::enter();
        this.fut.poll(&mut Context::from_waker(waker))
    }
}

/// Wakes a background task and marks [`background_ready`].
struct MarkingWaker {
    inner: Waker,
    ready: Arc<AtomicBool>,
}

impl Wake for MarkingWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.ready.store(true, Ordering::Release);
        self.inner.wake_by_ref();
    }
}

/// Marks the thread as running a background task until dropped (restoring
/// the previous mark, should a background task poll another in place).
struct InBackground(bool);

impl InBackground {
    fn enter() -> Self {
        InBackground(IN_BACKGROUND.with(|b| b.replace(true)))
    }
}

impl Drop for InBackground {
    fn drop(&mut self) {
        IN_BACKGROUND.with(|b| b.set(self.0));
    }
}

/// Spawns one connection's task. A panic in it ends that task only (its
/// sockets close as it unwinds); `on_panic` gets the panic's message.
pub(crate) fn spawn_guarded<F, P>(fut: F, on_panic: P)
where
    F: Future<Output = ()> + 'static,
    P: FnOnce(&str) + 'static,
{
    spawn_local(Guarded {
        fut,
        on_panic: Some(on_panic),
    });
}

pin_project_lite::pin_project! {
    /// A connection's task: its future held once, polled in place (an
    /// `async` wrapper would store it twice, once as the captured value and
    /// once as the awaited one), and what to do should it panic.
    struct Guarded<F, P> {
        #[pin]
        fut: F,
        on_panic: Option<P>,
    }
}

impl<F: Future<Output = ()>, P: FnOnce(&str)> Future for Guarded<F, P> {
    type Output = ();

    fn poll(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<()> {
        let this = self.project();
        let Err(p) = std::task::ready!(poll_catching(this.fut, cx)) else {
            return std::task::Poll::Ready(());
        };
        if let Some(on_panic) = this.on_panic.take() {
            on_panic(panic_message(&*p));
        }
        std::task::Poll::Ready(())
    }
}

/// Spawns one of the shard's data-path core tasks (the ring driver, an
/// accept loop) in the current queue; background ones go through
/// [`spawn_background`]. The shard cannot run without them, so
/// a panic there ends the process with a clear message and a non-zero
/// status, for a supervisor to restart it.
pub(crate) fn spawn_core<F>(name: &'static str, fut: F)
where
    F: Future<Output = ()> + 'static,
{
    spawn_local(exit_on_panic(name, fut));
}

/// Runs `fut`; a panic in it exits the process (see [`spawn_core`]).
pub(crate) async fn exit_on_panic<F: Future>(name: &'static str, fut: F) -> F::Output {
    match catch_panic(fut).await {
        Ok(out) => out,
        Err(p) => {
            let shard = std::thread::current().name().unwrap_or("shard").to_owned();
            eprintln!(
                "coregate: fatal: {shard} {name} panicked: {}; exiting (status {CORE_PANIC_EXIT}) so that a supervisor restarts coregate",
                panic_message(&*p)
            );
            std::process::exit(CORE_PANIC_EXIT);
        }
    }
}

/// The exit status after a panic in a shard's core (EX_SOFTWARE).
pub const CORE_PANIC_EXIT: i32 = 70;

/// Polls `fut`, turning a panic into an `Err` with its payload.
pub(crate) async fn catch_panic<F: Future>(fut: F) -> std::thread::Result<F::Output> {
    use futures_lite::FutureExt;
    std::panic::AssertUnwindSafe(fut).catch_unwind().await
}

/// Polls `fut` in place, turning a panic into `Err` with its payload.
/// Unlike [`catch_panic`], the future is not moved: a large one (a
/// request's state machine) is polled where it was built.
pub(crate) fn poll_catching<F: Future>(
    fut: std::pin::Pin<&mut F>,
    cx: &mut std::task::Context<'_>,
) -> std::task::Poll<std::thread::Result<F::Output>> {
    use std::task::Poll;
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| fut.poll(cx))) {
        Ok(Poll::Pending) => Poll::Pending,
        Ok(Poll::Ready(out)) => Poll::Ready(Ok(out)),
        Err(p) => Poll::Ready(Err(p)),
    }
}

/// The text of a panic's payload (`panic!("...")` gives a `&str` or a `String`).
pub(crate) fn panic_message(p: &(dyn std::any::Any + Send)) -> &str {
    p.downcast_ref::<&str>()
        .copied()
        .or_else(|| p.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(no message)")
}

thread_local! {
    /// Futures pending on another thread (see [`foreign`]).
    static FOREIGN: Cell<usize> = const { Cell::new(0) };
}

/// Awaits `fut`, which another thread completes (a Redis reply). While it
/// is pending the io driver parks through glommio's reactor, which that
/// thread's wake-up interrupts, rather than blocking in its own ring
/// (which only its completions end): the reply is seen at once, not at the
/// end of the driver's direct-wait window.
pub(crate) async fn foreign<F: Future>(fut: F) -> F::Output {
    struct Pending;
    impl Drop for Pending {
        fn drop(&mut self) {
            FOREIGN.with(|n| n.set(n.get().saturating_sub(1)));
        }
    }
    FOREIGN.with(|n| n.set(n.get() + 1));
    let _pending = Pending;
    fut.await
}

/// Whether a task of this shard awaits another thread (see [`foreign`]).
pub(crate) fn foreign_waits() -> bool {
    FOREIGN.with(|n| n.get() > 0)
}

/// Whether a task was spawned since the last call (and clears the mark).
pub(crate) fn take_spawned() -> bool {
    SPAWNED.with(|s| s.replace(false))
}

/// Yields to other tasks on this shard unconditionally.
pub(crate) async fn yield_now() {
    glommio::executor().yield_now().await;
}

/// Runs `f` on the shard's blocking thread (unpinned), for CPU-heavy work
/// that must not stall the shard's other connections: a Basic password's
/// argon2id (28 ms).
pub(crate) async fn blocking<F, R>(f: F) -> R
where
    F: FnOnce() -> R + Send + 'static,
    R: Send + 'static,
{
    glommio::executor().spawn_blocking(f).await
}

/// Sleeps for `d` on a glommio timer (background work; the data path's
/// timeouts use [`timeout`] on the shard's wheel).
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

/// The deadline of a [`timeout`] passed before its future finished.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Elapsed;

/// Runs `fut`, giving up after `d` (1 ms resolution, on the shard's
/// [`crate::timer`] wheel). Dropping the inner future on expiry must be
/// safe: every io future in this crate is cancel-safe. The deadline is
/// registered only once `fut` has returned `Pending`.
pub(crate) async fn timeout<F: Future>(d: Duration, fut: F) -> Result<F::Output, Elapsed> {
    let mut fut = std::pin::pin!(fut);
    let mut deadline = Deadline { d, key: None };
    std::future::poll_fn(|cx| match fut.as_mut().poll(cx) {
        Poll::Ready(out) => Poll::Ready(Ok(out)),
        Poll::Pending => deadline.poll(cx).map(Err),
    })
    .await
}

/// One [`timeout`]'s entry in the wheel, removed when dropped.
struct Deadline {
    d: Duration,
    /// `Some(None)`: already due when registered.
    key: Option<Option<timer::Key>>,
}

// === impl Deadline ===

impl Deadline {
    fn poll(&mut self, cx: &mut Context<'_>) -> Poll<Elapsed> {
        let key = *self.key.get_or_insert_with(|| {
            start_timers();
            timer::with(|w| w.insert(crate::clock::now(), self.d, cx.waker().clone()))
        });
        match key {
            Some(key) if !timer::with(|w| w.poll(key, cx.waker())) => Poll::Pending,
            _ => Poll::Ready(Elapsed),
        }
    }
}

impl Drop for Deadline {
    fn drop(&mut self) {
        if let Some(Some(key)) = self.key {
            timer::with(|w| w.cancel(key));
        }
    }
}

/// Marks the timer task gone when its executor drops it.
struct TimersAlive;

impl Drop for TimersAlive {
    fn drop(&mut self) {
        TIMERS.with(|t| t.set(false));
    }
}

/// Starts this shard's timer task once: it sleeps on one glommio timer
/// until the wheel's next occupied slot, or until a nearer deadline kicks
/// it, and fires what is due.
fn start_timers() {
    if !TIMERS.with(|t| t.replace(true)) {
        spawn_core("timer wheel", run_timers());
    }
}

async fn run_timers() {
    // Another executor on this thread (tests, tools) starts its own.
    let _alive = TimersAlive;
    loop {
        let now = std::time::Instant::now();
        let (fired, next) =
            timer::with(|w| (w.advance(now), w.next_wake().map(|t| w.instant_of(t))));
        if fired > 0 {
            // Tasks became runnable without a completion: the io driver
            // must not block in its ring before they run.
            SPAWNED.with(|s| s.set(true));
        }
        let sleep = async {
            match next {
                Some(at) => glommio::timer::sleep(at.saturating_duration_since(now)).await,
                None => std::future::pending().await,
            }
        };
        let kicked =
            std::future::poll_fn(
                |cx| match timer::with(|w| w.park_ticker(cx.waker(), next)) {
                    true => Poll::Ready(()),
                    false => Poll::Pending,
                },
            );
        futures_lite::future::or(sleep, kicked).await;
    }
}

/// A running shard's thread.
pub(crate) struct ShardThread {
    handle: glommio::ExecutorJoinHandle<()>,
}

// === impl ShardThread ===

impl ShardThread {
    /// Starts a glommio executor on its own thread, pinned to `cpu` when
    /// given, and runs the future that `main` builds on it.
    pub(crate) fn spawn<G, F>(id: usize, cpu: Option<usize>, main: G) -> io::Result<ShardThread>
    where
        G: FnOnce() -> F + Send + 'static,
        F: Future<Output = ()> + 'static,
    {
        let placement = match cpu {
            Some(cpu) => glommio::Placement::Fixed(cpu),
            None => glommio::Placement::Unbound,
        };
        glommio::LocalExecutorBuilder::new(placement)
            .name(&format!("shard-{id}"))
            // Storage I/O memory is registered (locked) memory; coregate does
            // no storage I/O on glommio's ring, so keep it at the minimum.
            .io_memory(64 << 10)
            .ring_depth(128)
            // `blocking` work (argon2) runs on any CPU, not the shard's.
            .blocking_thread_pool_placement(glommio::PoolPlacement::Unbound(1))
            .spawn(move || {
                exit_on_panic("main task", async move {
                    start_timers();
                    main().await
                })
            })
            .map(|handle| ShardThread { handle })
            .map_err(|e| io::Error::other(e.to_string()))
    }

    /// Waits for the shard's main future to end.
    pub(crate) fn join(self) -> io::Result<()> {
        self.handle
            .join()
            .map_err(|e| io::Error::other(e.to_string()))
    }
}

/// A doorbell another thread rings to wake a task parked on this shard
/// (the admin thread asking for a metrics report, for instance).
pub(crate) struct Doorbell {
    fd: std::os::fd::OwnedFd,
}

// === impl Doorbell ===

impl Doorbell {
    /// Creates the doorbell and a descriptor for the shard's task to park
    /// on (turned into an [`EventFdPark`] on the shard's own thread).
    pub(crate) fn new() -> io::Result<(Doorbell, std::os::fd::OwnedFd)> {
        use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
        #[allow(unsafe_code)]
        // SAFETY: plain eventfd(2); the result is checked before use. A
        // blocking eventfd, because glommio's ring reads it (an O_NONBLOCK
        // one would fail the read with EAGAIN instead of waiting).
        let raw = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC) };
        if raw < 0 {
            return Err(io::Error::last_os_error());
        }
        #[allow(unsafe_code)]
        // SAFETY: `raw` is a fresh descriptor that nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        #[allow(unsafe_code)]
        // SAFETY: dup(2) of a descriptor we own; checked below.
        let dup = unsafe { libc::dup(fd.as_raw_fd()) };
        if dup < 0 {
            return Err(io::Error::last_os_error());
        }
        #[allow(unsafe_code)]
        // SAFETY: `dup` is a fresh descriptor that nothing else owns.
        let dup = unsafe { OwnedFd::from_raw_fd(dup) };
        Ok((Doorbell { fd }, dup))
    }

    /// Wakes the parked task (at most one pending wake-up is kept).
    pub(crate) fn ring(&self) {
        use std::os::fd::AsRawFd;
        let one: u64 = 1;
        #[allow(unsafe_code)]
        // SAFETY: writes 8 bytes from a live u64 to an eventfd we own.
        let _ = unsafe { libc::write(self.fd.as_raw_fd(), (&one as *const u64).cast(), 8) };
    }
}
