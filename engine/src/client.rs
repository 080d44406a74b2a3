//! The client connection as every layer of the data path sees it: its
//! transport, buffered bytes, peer and the current request's trace, and
//! the timed sends that keep a client that does not read from holding
//! anything for longer than `client_send`.

use std::net::SocketAddr;
use std::time::Duration;

use crate::buf::ConnBuf;
use crate::error::ProxyError;
use crate::io::{SendBuf, Transport};

/// A client connection.
pub(crate) struct Client {
    pub(crate) io: Transport,
    pub(crate) peer: SocketAddr,
    pub(crate) buf: ConnBuf,
    /// Requests answered on this connection.
    pub(crate) served: u64,
    /// The current request's trace.
    pub(crate) trace: Trace,
    /// Which of the configured listen addresses accepted it.
    pub(crate) listener: usize,
    /// What TLS negotiated; `None` on a plain listener.
    pub(crate) tls: Option<Box<ClientTlsState>>,
}

/// A TLS client connection's handshake outcome, kept for its life.
#[derive(Debug)]
pub(crate) struct ClientTlsState {
    /// Version, suite, resumption, SNI, client certificate subject.
    pub(crate) summary: crate::io::TlsSummary,
    /// Header that carries the client certificate's subject upstream
    /// (always removed from the client's own fields when set).
    pub(crate) subject_header: Option<Box<str>>,
}

/// What happened to the connection after a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Next {
    /// The connection may carry another request.
    KeepAlive,
    /// The connection must close (after the response, if any, was sent).
    Close,
}

// === impl Next ===

impl Next {
    pub(crate) fn min_with(self, other: Next) -> Next {
        if self == Next::Close || other == Next::Close {
            Next::Close
        } else {
            Next::KeepAlive
        }
    }
}

/// What one request did, filled in as it goes.
#[derive(Debug, Default)]
pub(crate) struct Trace {
    pub(crate) status: u16,
    pub(crate) bytes_in: u64,
    pub(crate) bytes_out: u64,
    pub(crate) upstream: Option<SocketAddr>,
    pub(crate) upstream_status: Option<u16>,
    pub(crate) connect: Option<Duration>,
    pub(crate) head: Option<Duration>,
    pub(crate) error: Option<ProxyError>,
    /// The app a credential identified (its store id).
    pub(crate) app: Option<i64>,
    /// The limit policy that refused the request (its position in the
    /// route's list).
    pub(crate) limit: Option<u8>,
    /// Response bytes went out: an error can no longer be answered, only
    /// signalled by an abortive close.
    pub(crate) committed: bool,
    /// What an AI call did: provider, key, tokens, cost, times, failovers.
    pub(crate) ai: Option<Box<crate::ai::AiTrace>>,
    /// How the response cache answered, on a cached route.
    pub(crate) cache: Option<crate::cache::Outcome>,
}

/// Sends to the client. A client that reads too slowly, or not at all,
/// cannot hold the connection, the upstream connection and their buffers
/// for longer than `client_send`: the kernel resets it (TCP_USER_TIMEOUT
/// on the listeners, see `runtime::listener`) and the send fails with
/// ETIMEDOUT, with no timer per send.
pub(crate) async fn send_client(c: &mut Client, buf: SendBuf) -> Result<(), ProxyError> {
    send_result(c.io.send(buf).await)
}

/// As [`send_client`], several buffers in one sendmsg.
pub(crate) async fn send_client_vectored(
    c: &mut Client,
    bufs: Vec<SendBuf>,
) -> Result<(), ProxyError> {
    send_result(c.io.send_vectored(bufs).await)
}

fn send_result(sent: std::io::Result<()>) -> Result<(), ProxyError> {
    match sent {
        Ok(()) => Ok(()),
        Err(e) if e.raw_os_error() == Some(libc::ETIMEDOUT) => Err(ProxyError::ClientSendTimeout),
        Err(_) => Err(ProxyError::ClientClosed),
    }
}
