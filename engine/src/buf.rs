//! Per-shard recycling of connection buffers.
//!
//! A connection checks a `BytesMut` out when bytes arrive and gives it back
//! once it has nothing buffered, so an idle keep-alive connection holds no
//! buffer. The pool is shard-local (`RefCell`), bounded, and checkout never
//! fails: an empty pool allocates.

use std::cell::RefCell;

use bytes::BytesMut;

/// Capacity of a fresh buffer: a typical head fits with room to spare.
pub(crate) const DEFAULT_BUF_CAPACITY: usize = 4 << 10;
/// Buffers kept per shard; the rest are freed.
pub(crate) const MAX_POOLED: usize = 1024;
/// A buffer that grew beyond this (a huge head) is freed, not pooled.
pub(crate) const MAX_POOLED_CAPACITY: usize = 64 << 10;

/// A shard's free buffers.
#[derive(Debug, Default)]
pub(crate) struct BufPool {
    free: RefCell<Vec<BytesMut>>,
}

// === impl BufPool ===

impl BufPool {
    /// Takes a buffer, empty, with at least [`DEFAULT_BUF_CAPACITY`] to spare.
    pub(crate) fn get(&self) -> BytesMut {
        match self.free.borrow_mut().pop() {
            Some(b) => b,
            None => BytesMut::with_capacity(DEFAULT_BUF_CAPACITY),
        }
    }

    /// Returns an empty buffer. Buffers that still hold bytes, grew too big,
    /// or overflow the pool are dropped.
    pub(crate) fn put(&self, mut b: BytesMut) {
        if !b.is_empty() || b.capacity() > MAX_POOLED_CAPACITY {
            return;
        }
        // Reclaims the whole allocation when the frozen heads split off it
        // have all been dropped; otherwise allocates a fresh one.
        b.reserve(DEFAULT_BUF_CAPACITY);
        let mut free = self.free.borrow_mut();
        if free.len() < MAX_POOLED {
            free.push(b);
        }
    }
}

/// A connection's lazily checked-out buffer.
#[derive(Debug, Default)]
pub(crate) struct ConnBuf {
    buf: Option<BytesMut>,
}

// === impl ConnBuf ===

impl ConnBuf {
    /// The buffer, checked out of `pool` if the connection had none.
    pub(crate) fn get<'a>(&'a mut self, pool: &BufPool) -> &'a mut BytesMut {
        self.buf.get_or_insert_with(|| pool.get())
    }

    /// Whether any bytes are buffered.
    pub(crate) fn is_empty(&self) -> bool {
        self.buf.as_ref().is_none_or(|b| b.is_empty())
    }

    /// Gives the buffer back to `pool` if it is empty.
    pub(crate) fn release(&mut self, pool: &BufPool) {
        if self.is_empty() {
            if let Some(b) = self.buf.take() {
                pool.put(b);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn idle_connection_returns_its_buffer() {
        let pool = BufPool::default();
        let mut c = ConnBuf::default();
        c.get(&pool).extend_from_slice(b"GET / HTTP/1.1\r\n\r\n");
        c.release(&pool);
        assert!(c.buf.is_some(), "a buffer holding bytes stays");
        c.get(&pool).clear();
        c.release(&pool);
        assert!(c.buf.is_none());
        assert_eq!(pool.free.borrow().len(), 1);
    }

    #[test]
    fn oversized_buffers_are_not_pooled() {
        let pool = BufPool::default();
        pool.put(BytesMut::with_capacity(MAX_POOLED_CAPACITY * 2));
        assert!(pool.free.borrow().is_empty());
    }
}
