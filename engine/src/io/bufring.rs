//! The provided-buffer ring: a fixed pool of equal buffers that the kernel
//! picks from when a multishot recv completes.
//!
//! Lifecycle of one buffer id (`bid`):
//! 1. it sits in the ring, owned by the kernel (we never read or write it);
//! 2. a recv CQE names it: [`BufPool::claim`] hands it to a [`RecvBuf`] with
//!    a share count of one;
//! 3. [`RecvBuf`] clones and splits share it; when the last share drops,
//!    [`BufPool::release`] writes it back at the ring tail (step 1).
//!
//! When the pool runs low (fewer than a quarter free), a claimed buffer's
//! bytes are copied to the heap and the buffer goes back at once
//! ([`BufPool::is_low`]): peers that never drain cannot starve the shard.
//!
//! The memory is two anonymous mappings (the 16-byte ring entries, page
//! aligned as the kernel requires, and the buffers) that live as long as the
//! pool; the pool lives as long as the [`Ring`](super::Ring) and every
//! outstanding [`RecvBuf`], so the kernel never writes to freed memory.
#![allow(unsafe_code)]

use std::cell::Cell;
use std::cell::RefCell;
use std::fmt;
use std::io;
use std::ops::Deref;
use std::ptr::NonNull;
use std::rc::{Rc, Weak};
use std::sync::atomic::{AtomicU16, Ordering};

use io_uring::types::BufRingEntry;
use io_uring::IoUring;

use super::error::IoSetupError;
use super::ring::Inner;

/// The buffer group id of the shard's one buffer ring.
pub(crate) const BGID: u16 = 0;

/// A fixed pool of receive buffers registered as an io_uring buffer ring.
pub(crate) struct BufPool {
    entries: NonNull<BufRingEntry>,
    entries_bytes: usize,
    mem: NonNull<u8>,
    mem_bytes: usize,
    buf_size: u32,
    mask: u16,
    count: u16,
    tail: Cell<u16>,
    refs: Box<[Cell<u16>]>,
    free: Cell<u32>,
    /// Some socket waits for buffers (ENOBUFS): kick the driver on return.
    starving: Cell<bool>,
    ring: RefCell<Weak<Inner>>,
}

// === impl BufPool ===

impl BufPool {
    /// Maps `count` buffers of `buf_size` bytes and registers them with `ring`.
    pub(crate) fn new(ring: &IoUring, count: u16, buf_size: u32) -> Result<Rc<Self>, IoSetupError> {
        let entries_bytes = usize::from(count) * std::mem::size_of::<BufRingEntry>();
        let mem_bytes = usize::from(count) * buf_size as usize;
        let entries = map_anon(entries_bytes).map_err(|e| map_err("buffer ring mmap", e))?;
        let mem = match map_anon(mem_bytes) {
            Ok(m) => m,
            Err(e) => {
                unmap(entries, entries_bytes);
                return Err(map_err("buffer pool mmap", e));
            }
        };
        let refs = (0..count).map(|_| Cell::new(0)).collect();
        let pool = BufPool {
            entries: entries.cast(),
            entries_bytes,
            mem,
            mem_bytes,
            buf_size,
            mask: count - 1,
            count,
            tail: Cell::new(0),
            refs,
            free: Cell::new(0),
            starving: Cell::new(false),
            ring: RefCell::new(Weak::new()),
        };
        // SAFETY: `entries` is a page-aligned mapping of `count` ring entries
        // that the pool keeps mapped for its whole life, and the ring holding
        // this registration is dropped (or unregisters) before the pool.
        let reg = unsafe {
            ring.submitter()
                .register_buf_ring_with_flags(entries.as_ptr() as u64, count, BGID, 0)
        };
        reg.map_err(|e| {
            IoSetupError::from_os("register_buf_ring", "provided buffer rings (5.19)", e)
        })?;
        (0..count).for_each(|bid| pool.push(bid));
        Ok(Rc::new(pool))
    }

    /// Total number of buffers.
    pub(crate) fn total(&self) -> u32 {
        u32::from(self.count)
    }

    /// Buffers not held by a [`RecvBuf`].
    pub(crate) fn free(&self) -> u32 {
        self.free.get()
    }

    /// Size of each buffer in bytes.
    pub(crate) fn buf_size(&self) -> u32 {
        self.buf_size
    }

    /// Names the ring to wake when buffers return to a starving pool.
    pub(crate) fn set_ring(&self, ring: Weak<Inner>) {
        *self.ring.borrow_mut() = ring;
    }

    /// Marks that sockets wait for buffers (or no longer do).
    pub(crate) fn set_starving(&self, on: bool) {
        self.starving.set(on);
    }

    /// Takes ownership of buffer `bid`, which a CQE reports filled with `len` bytes.
    pub(crate) fn claim(self: &Rc<Self>, bid: u16, len: u32) -> Option<RecvBuf> {
        let ok = bid < self.count && self.refs[usize::from(bid)].get() == 0 && len <= self.buf_size;
        debug_assert!(ok, "kernel reported bad buffer {bid} len {len}");
        if !ok {
            return None;
        }
        self.refs[usize::from(bid)].set(1);
        self.free.set(self.free.get() - 1);
        Some(RecvBuf::pooled(Rc::clone(self), bid, len))
    }

    /// Fewer than a quarter of the buffers are free. From then on received
    /// bytes are copied out and their buffer goes straight back to the
    /// kernel, so that connections whose peers do not drain (slow readers,
    /// stuck uploads) can hold at most three quarters of the pool and the
    /// rest stays available for every other connection's reads.
    pub(crate) fn is_low(&self) -> bool {
        self.free.get() < self.reserve()
    }

    /// Buffers kept for the shard's other connections: a quarter.
    fn reserve(&self) -> u32 {
        (u32::from(self.count) / 4).max(1)
    }

    /// Returns a buffer the kernel filled but nobody will read (e.g. closing socket).
    pub(crate) fn recycle(self: &Rc<Self>, bid: u16) {
        drop(self.claim(bid, 0));
    }

    fn share(&self, bid: u16) {
        let r = &self.refs[usize::from(bid)];
        r.set(r.get() + 1);
    }

    fn release(&self, bid: u16) {
        let r = &self.refs[usize::from(bid)];
        let n = r.get() - 1;
        r.set(n);
        if n == 0 {
            self.push(bid);
        }
    }

    /// Writes `bid` at the ring tail and publishes the new tail to the kernel.
    fn push(&self, bid: u16) {
        let tail = self.tail.get();
        let slot = usize::from(tail & self.mask);
        // SAFETY: `slot < count`, so the entry lies inside the ring mapping;
        // the kernel only reads entries between its head and the published
        // tail, and `slot` is at or beyond the tail, so nobody else is
        // accessing it.
        let entry = unsafe { &mut *self.entries.as_ptr().add(slot) };
        entry.set_addr(self.buf_ptr(bid) as u64);
        entry.set_len(self.buf_size);
        entry.set_bid(bid);
        let tail = tail.wrapping_add(1);
        self.tail.set(tail);
        // SAFETY: the ring's tail field overlays the first entry's `resv`
        // (io_uring ABI); it is a naturally aligned u16 the kernel reads
        // atomically, so a release store publishes the entry written above.
        unsafe {
            let t = BufRingEntry::tail(self.entries.as_ptr()) as *const AtomicU16;
            (*t).store(tail, Ordering::Release);
        }
        self.free.set(self.free.get() + 1);
        if self.starving.get() {
            if let Some(ring) = self.ring.borrow().upgrade() {
                ring.kick();
            }
        }
    }

    fn buf_ptr(&self, bid: u16) -> *mut u8 {
        // SAFETY: `bid < count`, so the offset stays inside the buffer mapping.
        unsafe {
            self.mem
                .as_ptr()
                .add(usize::from(bid) * self.buf_size as usize)
        }
    }
}

impl Drop for BufPool {
    fn drop(&mut self) {
        unmap(self.entries.cast(), self.entries_bytes);
        unmap(self.mem, self.mem_bytes);
    }
}

impl fmt::Debug for BufPool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BufPool")
            .field("count", &self.count)
            .field("buf_size", &self.buf_size)
            .field("free", &self.free.get())
            .finish()
    }
}

fn map_err(op: &'static str, e: io::Error) -> IoSetupError {
    IoSetupError::from_os(op, "anonymous memory", e)
}

fn map_anon(bytes: usize) -> io::Result<NonNull<u8>> {
    // SAFETY: a fresh private anonymous mapping aliases nothing.
    let p = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            bytes,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    if p == libc::MAP_FAILED {
        return Err(io::Error::last_os_error());
    }
    NonNull::new(p.cast()).ok_or_else(|| io::Error::from_raw_os_error(libc::ENOMEM))
}

fn unmap(p: NonNull<u8>, bytes: usize) {
    // SAFETY: `p`/`bytes` describe a mapping made by `map_anon` that nothing
    // references any more (the pool is being dropped).
    unsafe { libc::munmap(p.as_ptr().cast(), bytes) };
}

/// Received bytes: a share of one provided buffer, or, once the pool ran
/// low, a private heap copy.
///
/// Cloning or splitting shares the buffer without copying; the buffer goes
/// back to the kernel when the last share is dropped.
pub struct RecvBuf(Repr);

enum Repr {
    Pool(Share),
    /// Bytes copied out of a provided buffer that went straight back to the
    /// kernel (see [`BufPool::is_low`]).
    Heap(bytes::Bytes),
}

/// One share of a provided buffer.
struct Share {
    pool: Rc<BufPool>,
    bid: u16,
    off: u32,
    len: u32,
}

// === impl RecvBuf ===

impl RecvBuf {
    fn pooled(pool: Rc<BufPool>, bid: u16, len: u32) -> RecvBuf {
        RecvBuf(Repr::Pool(Share {
            pool,
            bid,
            off: 0,
            len,
        }))
    }

    /// Bytes that live on the heap (decrypted TLS plaintext).
    pub(crate) fn heap(b: bytes::Bytes) -> RecvBuf {
        RecvBuf(Repr::Heap(b))
    }

    /// Number of bytes in this share.
    pub fn len(&self) -> usize {
        match &self.0 {
            Repr::Pool(s) => s.len as usize,
            Repr::Heap(b) => b.len(),
        }
    }

    /// Whether this share holds no bytes.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether the bytes sit in a provided buffer (not a heap copy).
    pub fn is_pooled(&self) -> bool {
        matches!(self.0, Repr::Pool(_))
    }

    /// Splits off and returns the first `at` bytes; `self` keeps the rest.
    ///
    /// # Panics
    /// If `at > self.len()`.
    pub fn split_to(&mut self, at: usize) -> RecvBuf {
        assert!(
            at <= self.len(),
            "split_to out of bounds: {at} > {}",
            self.len()
        );
        match &mut self.0 {
            Repr::Pool(s) => {
                let head = Share {
                    pool: Rc::clone(&s.pool),
                    bid: s.bid,
                    off: s.off,
                    len: at as u32,
                };
                s.pool.share(s.bid);
                s.off += at as u32;
                s.len -= at as u32;
                RecvBuf(Repr::Pool(head))
            }
            Repr::Heap(b) => RecvBuf(Repr::Heap(b.split_to(at))),
        }
    }

    /// Drops the first `n` bytes.
    ///
    /// # Panics
    /// If `n > self.len()`.
    pub fn advance(&mut self, n: usize) {
        assert!(
            n <= self.len(),
            "advance out of bounds: {n} > {}",
            self.len()
        );
        match &mut self.0 {
            Repr::Pool(s) => {
                s.off += n as u32;
                s.len -= n as u32;
            }
            Repr::Heap(b) => bytes::Buf::advance(b, n),
        }
    }

    /// Copies the bytes into a new `Bytes`.
    pub fn to_bytes(&self) -> bytes::Bytes {
        match &self.0 {
            Repr::Pool(_) => bytes::Bytes::copy_from_slice(self),
            Repr::Heap(b) => b.clone(),
        }
    }

    /// The same bytes in a heap copy; a provided buffer goes back to the
    /// kernel when this was its last share.
    pub(crate) fn spill(self) -> RecvBuf {
        match self.0 {
            Repr::Pool(_) => RecvBuf(Repr::Heap(self.to_bytes())),
            heap => RecvBuf(heap),
        }
    }
}

impl Deref for RecvBuf {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        match &self.0 {
            Repr::Pool(s) => s.bytes(),
            Repr::Heap(b) => b,
        }
    }
}

impl AsRef<[u8]> for RecvBuf {
    fn as_ref(&self) -> &[u8] {
        self
    }
}

impl Clone for RecvBuf {
    fn clone(&self) -> Self {
        RecvBuf(match &self.0 {
            Repr::Pool(s) => {
                s.pool.share(s.bid);
                Repr::Pool(Share {
                    pool: Rc::clone(&s.pool),
                    ..*s
                })
            }
            Repr::Heap(b) => Repr::Heap(b.clone()),
        })
    }
}

impl fmt::Debug for RecvBuf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Repr::Pool(s) => f
                .debug_struct("RecvBuf")
                .field("bid", &s.bid)
                .field("len", &s.len)
                .finish(),
            Repr::Heap(b) => f.debug_struct("RecvBuf").field("heap", &b.len()).finish(),
        }
    }
}

// === impl Share ===

impl Share {
    fn bytes(&self) -> &[u8] {
        // SAFETY: this share keeps `bid` out of the kernel's ring (refs > 0),
        // so the kernel does not write it; `off + len <= buf_size` by
        // construction, and the pool (and its mapping) outlives `self`.
        unsafe {
            std::slice::from_raw_parts(
                self.pool.buf_ptr(self.bid).add(self.off as usize),
                self.len as usize,
            )
        }
    }
}

impl Drop for Share {
    fn drop(&mut self) {
        self.pool.release(self.bid);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn pool(count: u16) -> (IoUring, Rc<BufPool>) {
        let ring = IoUring::new(8).expect("io_uring");
        let pool = BufPool::new(&ring, count, 64).expect("pool");
        (ring, pool)
    }

    #[test]
    fn shares_return_the_buffer_once() {
        let (_ring, pool) = pool(4);
        assert_eq!((pool.total(), pool.free()), (4, 4));
        let mut b = pool.claim(2, 10).expect("claim");
        assert_eq!(pool.free(), 3);
        let head = b.split_to(4);
        let copy = b.clone();
        assert_eq!((head.len(), b.len(), copy.len()), (4, 6, 6));
        drop(head);
        drop(b);
        assert_eq!(pool.free(), 3, "a share is still alive");
        drop(copy);
        assert_eq!(pool.free(), 4);
    }

    #[test]
    fn advance_and_split_view_the_right_bytes() {
        let (_ring, pool) = pool(2);
        let mut b = pool.claim(0, 8).expect("claim");
        assert_eq!(&*b, &[0u8; 8][..]);
        b.advance(3);
        let h = b.split_to(2);
        assert_eq!((h.len(), b.len()), (2, 3));
        assert!(!h.is_empty());
    }
}
