//! Bytes both ways after an allowed `101`, until either side closes or
//! nothing moves for `tunnel_idle`.

use crate::client::Client;
use crate::ctx::ShardCtx;
use crate::error::ProxyError;
use crate::observe::metrics::bump;
use crate::shard;
use crate::upstream::pool::UpConn;
use std::cell::Cell;
use std::time::Duration;

use crate::io::{TransportRecv, TransportSend};

/// Carries bytes both ways after a 101 until either side closes.
pub(super) async fn tunnel(
    c: &mut Client,
    ctx: &ShardCtx,
    mut up: UpConn,
) -> Result<(), ProxyError> {
    bump(&ctx.metrics().tunnels, 1);
    send_early(c, ctx, &mut up).await?;
    let (mut cr, mut cw) = c.io.split();
    let (mut ur, mut uw) = up.io.split();
    // Bytes moved either way since the idle watch last looked.
    let moved = Cell::new(true);
    let both = async {
        let down = pipe(&mut cr, &mut uw, &moved);
        let upward = pipe(&mut ur, &mut cw, &moved);
        futures_lite::future::zip(down, upward).await;
        false
    };
    let idled = futures_lite::future::or(both, async {
        idle_watch(ctx.timeouts().tunnel_idle, &moved).await;
        true
    })
    .await;
    if idled {
        // Not a failure of either side: no error response (the 101 went
        // out), no mark against the backend. Logged and counted, then both
        // connections close.
        bump(&ctx.metrics().tunnel_timeouts, 1);
        c.trace.error = Some(ProxyError::TunnelIdle);
    }
    Ok(())
}

/// Bytes that arrived before the tunnel started: the upstream's (with the
/// 101) go to the client first, then the client's to the upstream.
async fn send_early(c: &mut Client, ctx: &ShardCtx, up: &mut UpConn) -> Result<(), ProxyError> {
    if !up.buf.is_empty() {
        let early = up.buf.get(&ctx.bufs).split().freeze();
        c.io.send(early)
            .await
            .map_err(|_| ProxyError::ClientClosed)?;
    }
    if let Some(early) = up.early.take() {
        c.io.send(early)
            .await
            .map_err(|_| ProxyError::ClientClosed)?;
    }
    if !c.buf.is_empty() {
        let early = c.buf.get(&ctx.bufs).split().freeze();
        up.io
            .send(early)
            .await
            .map_err(|_| ProxyError::UpstreamTruncated)?;
    }
    Ok(())
}

/// Copies one direction until EOF or an error, then passes the end on.
async fn pipe(from: &mut TransportRecv<'_>, to: &mut TransportSend<'_>, moved: &Cell<bool>) {
    while let Ok(Some(d)) = from.recv().await {
        moved.set(true);
        if to.send(d).await.is_err() {
            break;
        }
        moved.set(true);
    }
    let _ = to.shutdown_write().await;
}

/// Returns once nothing moved either way for `idle` (a peer gone without
/// a FIN would otherwise hold the tunnel forever). Checked in quarter
/// periods, so it fires between 1 and 1.25 idle periods.
async fn idle_watch(idle: Duration, moved: &Cell<bool>) {
    let mut quiet = Duration::ZERO;
    while quiet < idle {
        let step = (idle / 4).max(Duration::from_millis(1));
        shard::sleep(step).await;
        quiet = if moved.replace(false) {
            Duration::ZERO
        } else {
            quiet + step
        };
    }
}
