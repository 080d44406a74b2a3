//! Bytes both ways after an allowed `101`, until either side closes or
//! nothing moves for `tunnel_idle`.

use crate::client::Client;
use crate::ctx::ShardCtx;
use crate::error::ProxyError;
use crate::observe::metrics::bump;
use crate::shard;
use crate::upstream::pool::UpConn;
use std::time::Duration;

/// Carries bytes both ways after a 101 until either side closes.
pub(super) async fn tunnel(
    c: &mut Client,
    ctx: &ShardCtx,
    mut up: UpConn,
) -> Result<(), ProxyError> {
    bump(&ctx.metrics().tunnels, 1);
    // Upstream bytes that arrived with the 101 go to the client first.
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
    let (mut cr, mut cw) = c.io.split();
    let (mut ur, mut uw) = up.io.split();
    // Bytes moved either way since the idle watch last looked.
    let moved = std::cell::Cell::new(true);
    let down = async {
        while let Ok(Some(d)) = cr.recv().await {
            moved.set(true);
            if uw.send(d).await.is_err() {
                break;
            }
            moved.set(true);
        }
        let _ = uw.shutdown_write();
    };
    let upward = async {
        while let Ok(Some(d)) = ur.recv().await {
            moved.set(true);
            if cw.send(d).await.is_err() {
                break;
            }
            moved.set(true);
        }
        let _ = cw.shutdown_write();
    };
    // Closes a tunnel that carried nothing either way for `tunnel_idle`
    // (a peer gone without a FIN would otherwise hold it forever). Checked
    // in quarter periods, so it fires between 1 and 1.25 idle periods.
    let idle = ctx.timeouts().tunnel_idle;
    let watch = async {
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
    };
    let both = async {
        futures_lite::future::zip(down, upward).await;
        false
    };
    let idled = futures_lite::future::or(both, async {
        watch.await;
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
