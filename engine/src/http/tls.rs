//! The TLS handshake of a client connection on a TLS listener: bounded by
//! the profile's handshake timeout, counted by outcome, and answered with
//! a plaintext 400 when plain HTTP arrives instead.
//!
//! A connection in its handshake holds its task, the rustls state (about
//! 1 KiB until the ClientHello arrives) and at most one received buffer,
//! for no longer than the handshake timeout.

use std::time::Duration;

use crate::client::ClientTlsState;
use crate::ctx::ShardCtx;
use crate::io::{HandshakeFailure, TcpConn, TlsConn, Transport};
use crate::shard;

/// The client's transport: `tcp` itself on a plain listener, TLS over it
/// on a TLS one; `None` when the handshake failed (already answered and
/// counted).
pub(crate) async fn accept(
    tcp: TcpConn,
    ctx: &ShardCtx,
    listener: usize,
) -> Option<(Transport, Option<Box<ClientTlsState>>)> {
    let profile = ctx.snap().snap.tls.listener(listener).cloned();
    let Some(profile) = profile else {
        return Some((Transport::from(tcp), None));
    };
    let shake = TlsConn::accept(tcp, profile.config.clone());
    let res = match shard::timeout(profile.handshake_timeout, shake).await {
        Ok(res) => res,
        Err(_) => {
            ctx.metrics().tls_failure(HandshakeFailure::Timeout);
            return None;
        }
    };
    match res {
        // A second guard behind rustls's own check (and the tickets bound
        // to their profile): no session without a required certificate.
        Ok(conn) if profile.client_cert_required && !conn.has_peer_certificate() => {
            ctx.metrics().tls_failure(HandshakeFailure::ClientCert);
            None
        }
        Ok(conn) => {
            let summary = conn.summary();
            ctx.metrics().tls_handshake(&summary);
            let info = ClientTlsState {
                subject_header: profile.subject_header.as_deref().map(Box::from),
                summary,
            };
            Some((Transport::from(conn), Some(Box::new(info))))
        }
        Err((why, tcp)) => {
            ctx.metrics().tls_failure(why);
            if why == HandshakeFailure::PlainHttp {
                linger(tcp).await;
            }
            None
        }
    }
}

/// Lets a plain-HTTP client read its 400 before the close: a FIN, then its
/// remaining bytes are read and dropped for a moment, so the close is not
/// a reset over unread data.
async fn linger(mut tcp: TcpConn) {
    let _ = tcp.shutdown_write();
    let drain = async { while let Ok(Some(_)) = tcp.recv().await {} };
    let _ = shard::timeout(Duration::from_millis(200), drain).await;
}
