//! What a send carries, and the bookkeeping for short vectored sends.

use std::fmt;
use std::io;

use bytes::Bytes;

use super::bufring::RecvBuf;
use super::error::from_res;
use super::op::MsgHold;

/// Most iovecs one sendmsg carries (Linux IOV_MAX).
const MAX_IOV: usize = 1024;

/// Bytes to send: either owned `Bytes` or a received buffer forwarded as is.
pub enum SendBuf {
    /// Owned bytes.
    Bytes(Bytes),
    /// Received bytes, forwarded without a copy.
    Recv(RecvBuf),
}

// === impl SendBuf ===

impl SendBuf {
    /// Number of bytes.
    pub fn len(&self) -> usize {
        self.as_slice().len()
    }

    /// Whether there are no bytes.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The bytes. Their address is stable when the `SendBuf` moves.
    pub fn as_slice(&self) -> &[u8] {
        match self {
            SendBuf::Bytes(b) => b,
            SendBuf::Recv(r) => r,
        }
    }
}

impl From<Bytes> for SendBuf {
    fn from(b: Bytes) -> Self {
        SendBuf::Bytes(b)
    }
}

impl From<RecvBuf> for SendBuf {
    fn from(b: RecvBuf) -> Self {
        SendBuf::Recv(b)
    }
}

impl From<&'static [u8]> for SendBuf {
    fn from(b: &'static [u8]) -> Self {
        SendBuf::Bytes(Bytes::from_static(b))
    }
}

impl From<Vec<u8>> for SendBuf {
    fn from(b: Vec<u8>) -> Self {
        SendBuf::Bytes(Bytes::from(b))
    }
}

impl fmt::Debug for SendBuf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("SendBuf").field(&self.len()).finish()
    }
}

pub(crate) fn sent_bytes(res: i32) -> io::Result<usize> {
    match res {
        r if r > 0 => Ok(r as usize),
        0 => Err(io::Error::new(
            io::ErrorKind::WriteZero,
            "send wrote zero bytes",
        )),
        r => Err(from_res(r)),
    }
}

/// Points the header's iovecs at `bufs`, skipping `skip` bytes of the first.
pub(crate) fn fill_iov(hold: &mut MsgHold, skip: usize) {
    hold.iov.clear();
    for (i, b) in hold.bufs.iter().take(MAX_IOV).enumerate() {
        let s = if i == 0 {
            &b.as_slice()[skip..]
        } else {
            b.as_slice()
        };
        hold.iov.push(libc::iovec {
            iov_base: s.as_ptr() as *mut libc::c_void,
            iov_len: s.len(),
        });
    }
    hold.msg.msg_iov = hold.iov.as_mut_ptr();
    hold.msg.msg_iovlen = hold.iov.len() as _;
}

/// Drops fully sent buffers; returns how much of the new first one was sent.
pub(crate) fn consume(bufs: &mut Vec<SendBuf>, mut n: usize) -> usize {
    let full = bufs.iter().take_while(|b| {
        let whole = n >= b.len();
        if whole {
            n -= b.len();
        }
        whole
    });
    let k = full.count();
    bufs.drain(..k);
    n
}

#[cfg(test)]
#[allow(unsafe_code)]
mod tests {
    use super::*;

    fn bufs(lens: &[usize]) -> Vec<SendBuf> {
        lens.iter().map(|&n| SendBuf::from(vec![7u8; n])).collect()
    }

    #[test]
    fn consume_drops_whole_buffers_and_returns_offset() {
        let mut v = bufs(&[3, 4, 5]);
        assert_eq!(consume(&mut v, 2), 2);
        assert_eq!(v.len(), 3);
        assert_eq!(consume(&mut v, 3), 0);
        assert_eq!(v.len(), 2);
        assert_eq!(consume(&mut v, 6), 2);
        assert_eq!(v.len(), 1);
        assert_eq!(consume(&mut v, 5), 0);
        assert!(v.is_empty());
    }

    #[test]
    fn fill_iov_skips_sent_prefix() {
        let mut h = MsgHold {
            bufs: bufs(&[3, 4]),
            iov: Vec::new(),
            // SAFETY: msghdr is plain old data; all-zero is a valid empty header.
            msg: unsafe { std::mem::zeroed() },
        };
        fill_iov(&mut h, 2);
        assert_eq!(h.iov.len(), 2);
        assert_eq!(h.iov[0].iov_len, 1);
        assert_eq!(h.iov[1].iov_len, 4);
        assert_eq!(h.msg.msg_iovlen, 2);
    }

    #[test]
    fn sent_bytes_maps_results() {
        assert_eq!(sent_bytes(5).ok(), Some(5));
        assert_eq!(
            sent_bytes(0).map_err(|e| e.kind()).err(),
            Some(io::ErrorKind::WriteZero)
        );
        assert_eq!(
            sent_bytes(-libc::EPIPE).map_err(|e| e.raw_os_error()).err(),
            Some(Some(libc::EPIPE))
        );
    }

    #[test]
    fn sendbuf_conversions() {
        assert_eq!(SendBuf::from(&b"abc"[..]).len(), 3);
        assert!(SendBuf::from(Bytes::new()).is_empty());
    }
}
