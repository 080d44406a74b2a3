//! The accept loop and the connection loop: one thread accepts, one thread
//! per connection reads requests (keep-alive) and writes replies.

use std::io::{self, BufReader, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use crate::frame::{End, Frame};
use crate::http::{self, ReadError};
use crate::route::{self, Reply};
use crate::{lock, Shared};

/// Longest single sleep, so that a stopping mock is noticed quickly.
const NAP_SLICE: Duration = Duration::from_millis(10);

/// Accepts connections until the mock stops.
pub(crate) fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    let mut next_id = 0u64;
    for conn in listener.incoming() {
        if shared.stop.load(Ordering::SeqCst) {
            break;
        }
        match conn {
            Ok(stream) => {
                next_id += 1;
                spawn_conn(stream, &shared, next_id);
            }
            // Out of descriptors or an aborted handshake: breathe, go on.
            Err(_) => thread::sleep(Duration::from_millis(1)),
        }
    }
}

/// Registers the connection (so that drop can close it) and serves it on a thread.
fn spawn_conn(stream: TcpStream, shared: &Arc<Shared>, id: u64) {
    let _ = stream.set_nodelay(true);
    let Ok(handle) = stream.try_clone() else {
        return;
    };
    {
        let mut conns = lock(&shared.conns);
        if shared.stop.load(Ordering::SeqCst) {
            return;
        }
        conns.insert(id, handle);
    }
    let for_thread = Arc::clone(shared);
    let spawned = thread::Builder::new()
        .name("ai-mock-conn".into())
        .spawn(move || {
            serve(stream, &for_thread);
            lock(&for_thread.conns).remove(&id);
        });
    if spawned.is_err() {
        lock(&shared.conns).remove(&id);
    }
}

/// Serves requests on one connection until it closes or a reply ends it.
fn serve(stream: TcpStream, shared: &Shared) {
    let Ok(read_half) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::with_capacity(16 * 1024, read_half);
    let mut writer = stream;
    loop {
        let req = match http::read_request(&mut reader, &mut writer) {
            Ok(req) => req,
            Err(ReadError::Closed) => break,
            Err(ReadError::Bad(why)) => {
                let headers = [("content-type", "text/plain".to_string())];
                let _ = http::write_whole(&mut writer, 400, &headers, why.as_bytes(), true);
                break;
            }
        };
        let reply = route::handle(shared, &req);
        match send(&mut writer, reply, req.close, &shared.stop) {
            Ok(true) => {}
            Ok(false) | Err(_) => break,
        }
    }
    let _ = writer.shutdown(Shutdown::Both);
}

/// Writes a reply; `Ok(true)` when the connection may serve another request.
fn send(w: &mut TcpStream, reply: Reply, close: bool, stop: &AtomicBool) -> io::Result<bool> {
    match reply {
        Reply::Whole {
            status,
            headers,
            body,
        } => {
            http::write_whole(w, status, &headers, &body, close)?;
            Ok(!close)
        }
        Reply::Stream { frames, pace, end } => {
            send_stream(w, &frames, pace, close, stop)?;
            if end == End::Cut {
                return Ok(false);
            }
            http::write_last_chunk(w)?;
            Ok(!close)
        }
        Reply::Cut { body } => {
            let headers = [
                ("content-type", "application/json".to_string()),
                ("content-length", body.len().to_string()),
            ];
            let mut out = http::head(200, &headers, false);
            out.extend_from_slice(body.get(..body.len() / 2).unwrap_or_default());
            w.write_all(&out)?;
            w.flush()?;
            Ok(false)
        }
        Reply::Stall(d) => {
            let _ = nap(d, stop);
            Ok(false)
        }
        Reply::Close => Ok(false),
    }
}

/// Writes the SSE head, then each frame as one flushed chunk, `pace` before each.
fn send_stream(
    w: &mut TcpStream,
    frames: &[Frame],
    pace: Duration,
    close: bool,
    stop: &AtomicBool,
) -> io::Result<()> {
    let headers = [
        ("content-type", "text/event-stream".to_string()),
        ("cache-control", "no-cache".to_string()),
        ("transfer-encoding", "chunked".to_string()),
    ];
    w.write_all(&http::head(200, &headers, close))?;
    w.flush()?;
    for frame in frames {
        nap(pace, stop)?;
        http::write_chunk(w, &frame.bytes)?;
    }
    Ok(())
}

/// Sleeps at least `d` (in slices), failing early if the mock stops.
fn nap(d: Duration, stop: &AtomicBool) -> io::Result<()> {
    if d.is_zero() {
        return Ok(());
    }
    // A duration too long to add to now is "until the mock stops".
    let end = Instant::now().checked_add(d);
    loop {
        if stop.load(Ordering::SeqCst) {
            return Err(io::Error::new(io::ErrorKind::Interrupted, "mock stopped"));
        }
        let left = match end {
            Some(end) => end.saturating_duration_since(Instant::now()),
            None => NAP_SLICE,
        };
        if left.is_zero() {
            return Ok(());
        }
        thread::sleep(left.min(NAP_SLICE));
    }
}
