//! The two halves of a split [`TcpConn`](super::TcpConn), for tunnels that receive and
//! send at once on one connection.

use std::io;
use std::rc::Rc;

use super::{RecvBuf, SendBuf, Sock};

/// The receiving half of a split [`TcpConn`](super::TcpConn).
pub struct RecvHalf<'a> {
    pub(super) sock: &'a Rc<Sock>,
}

// === impl RecvHalf ===

impl RecvHalf<'_> {
    /// As [`TcpConn::recv`](super::TcpConn::recv).
    pub async fn recv(&mut self) -> io::Result<Option<RecvBuf>> {
        self.sock.recv().await
    }

    /// As [`TcpConn::try_recv`](super::TcpConn::try_recv).
    pub fn try_recv(&mut self) -> Option<io::Result<Option<RecvBuf>>> {
        self.sock.take_ready()
    }
}

/// The sending half of a split [`TcpConn`](super::TcpConn).
pub struct SendHalf<'a> {
    pub(super) sock: &'a Rc<Sock>,
}

// === impl SendHalf ===

impl SendHalf<'_> {
    /// As [`TcpConn::send`](super::TcpConn::send).
    pub async fn send(&mut self, buf: impl Into<SendBuf>) -> io::Result<()> {
        self.sock.send(buf.into()).await
    }

    /// As [`TcpConn::send_vectored`](super::TcpConn::send_vectored).
    pub async fn send_vectored(&mut self, bufs: Vec<SendBuf>) -> io::Result<()> {
        self.sock.send_vectored(bufs).await
    }

    /// As [`TcpConn::shutdown_write`](super::TcpConn::shutdown_write).
    pub fn shutdown_write(&mut self) -> io::Result<()> {
        self.sock.shutdown_write()
    }
}
