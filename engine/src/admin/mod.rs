//! The admin listener: a small blocking HTTP/1.1 server off the data path
//! (loopback by default, `--admin ADDR`, `off` to disable).
//!
//! An accept thread hands each connection to a thread of its own, at most
//! [`MAX_ADMIN_CLIENTS`] at once, so a slow client cannot hold up a scrape;
//! a connection beyond the cap is answered `503` and closed at once. Each
//! connection has read and write timeouts, and every response closes it:
//! admin traffic is rare and simplicity wins here.

pub(crate) mod prom;
mod purge;
pub(crate) mod scrape;
pub(crate) mod shared;
pub(crate) mod views;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use bytes::BytesMut;

use crate::admin::shared::Shared;
use crate::observe::accesslog::json_bytes;
use crate::snapshot::control::Control;

/// How long a client may take to send its request.
const ADMIN_READ_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a client may take to read its response.
const ADMIN_WRITE_TIMEOUT: Duration = Duration::from_secs(5);
/// Admin connections served at once; more are answered `503`.
pub(crate) const MAX_ADMIN_CLIENTS: usize = 16;
/// Largest admin request accepted.
const MAX_ADMIN_REQUEST: usize = 64 << 10;

/// A response from an admin handler.
pub(crate) struct Reply {
    pub(crate) status: u16,
    pub(crate) content_type: &'static str,
    pub(crate) body: String,
}

// === impl Reply ===

impl Reply {
    pub(crate) fn json(status: u16, body: String) -> Reply {
        Reply {
            status,
            content_type: "application/json",
            body,
        }
    }

    pub(crate) fn text(status: u16, body: impl Into<String>) -> Reply {
        Reply {
            status,
            content_type: "text/plain; charset=utf-8",
            body: body.into(),
        }
    }
}

/// What the admin handlers can reach.
pub(crate) struct Admin {
    pub(crate) shared: Arc<Shared>,
    pub(crate) control: Control,
    /// The root token (the management API's), which purges need.
    pub(crate) token: Option<api::RootToken>,
}

/// Binds the admin address and serves it from an accept thread.
pub(crate) fn spawn(addr: SocketAddr, admin: Admin) -> std::io::Result<SocketAddr> {
    let listener = TcpListener::bind(addr)?;
    let local = listener.local_addr()?;
    let admin = Arc::new(admin);
    let active = Arc::new(AtomicUsize::new(0));
    thread::Builder::new().name("admin".into()).spawn(move || {
        for stream in listener.incoming().flatten() {
            dispatch(&admin, &active, stream);
        }
    })?;
    Ok(local)
}

/// Serves `s` on a thread of its own, or answers `503` when
/// [`MAX_ADMIN_CLIENTS`] are being served already (or no thread starts).
fn dispatch(admin: &Arc<Admin>, active: &Arc<AtomicUsize>, s: TcpStream) {
    if s.set_write_timeout(Some(ADMIN_WRITE_TIMEOUT)).is_err() {
        return;
    }
    let Some(slot) = Slot::take(active) else {
        return busy(s);
    };
    let admin = admin.clone();
    let Ok(s2) = s.try_clone() else { return };
    let spawned = thread::Builder::new()
        .name("admin-conn".into())
        .spawn(move || {
            let _slot = slot;
            let _ = serve(&admin, s2);
        });
    if spawned.is_err() {
        busy(s);
    }
}

/// Answers `503` and closes.
fn busy(mut s: TcpStream) {
    let _ = write_reply(&mut s, Reply::text(503, "admin listener busy\n"));
}

/// One of the [`MAX_ADMIN_CLIENTS`] places, given back on drop.
struct Slot(Arc<AtomicUsize>);

// === impl Slot ===

impl Slot {
    /// Takes a place, or `None` when all are taken.
    fn take(active: &Arc<AtomicUsize>) -> Option<Slot> {
        active
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < MAX_ADMIN_CLIENTS).then_some(n + 1)
            })
            .ok()
            .map(|_| Slot(active.clone()))
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

fn serve(admin: &Admin, mut s: TcpStream) -> std::io::Result<()> {
    s.set_read_timeout(Some(ADMIN_READ_TIMEOUT))?;
    let mut buf = BytesMut::with_capacity(4096);
    let limits = parser::Limits::default();
    let head = loop {
        let mut chunk = [0u8; 4096];
        let n = s.read(&mut chunk)?;
        if n == 0 {
            return Ok(());
        }
        buf.extend_from_slice(&chunk[..n]);
        match parser::parse_request(&mut buf, &limits) {
            Ok(Some(head)) => break head,
            Ok(None) if buf.len() < MAX_ADMIN_REQUEST => {}
            Ok(None) => return write_reply(&mut s, Reply::text(431, "request too large\n")),
            Err(e) => {
                return write_reply(&mut s, Reply::text(e.status(), format!("{}\n", e.as_str())))
            }
        }
    };
    let mut target = head.target().splitn(2, |&b| b == b'?');
    let path = target.next().unwrap_or_default();
    let query = target.next().unwrap_or_default();
    let reply = match path {
        b"/cache/purge" => {
            let peer = s.peer_addr().ok().map(|a| a.ip());
            purge::handle(admin, &head, query, peer)
        }
        _ => route(admin, head.method_bytes(), path),
    };
    write_reply(&mut s, reply)
}

fn route(admin: &Admin, method: &[u8], path: &[u8]) -> Reply {
    match (method, path) {
        (b"POST", b"/reload") => reload(admin),
        (b"POST", b"/drain") => {
            admin.shared.stop();
            Reply::json(202, "{\"draining\":true}\n".into())
        }
        (b"GET" | b"HEAD", b"/metrics") => Reply {
            status: 200,
            content_type: "text/plain; version=0.0.4; charset=utf-8",
            body: crate::admin::prom::render(&admin.shared),
        },
        (b"GET" | b"HEAD", b"/stats") => {
            Reply::json(200, crate::admin::views::stats_json(&admin.shared))
        }
        (b"GET" | b"HEAD", b"/config") => {
            Reply::json(200, crate::admin::views::config_json(&admin.shared))
        }
        (b"GET" | b"HEAD", b"/routes") => {
            Reply::json(200, crate::admin::views::routes_json(&admin.shared))
        }
        (b"GET" | b"HEAD", b"/upstreams") => {
            Reply::json(200, crate::admin::views::upstreams_json(&admin.shared))
        }
        (b"GET" | b"HEAD", b"/ai/keys") => {
            Reply::json(200, crate::admin::views::ai_keys_json(&admin.shared))
        }
        (
            _,
            b"/reload" | b"/drain" | b"/metrics" | b"/stats" | b"/config" | b"/routes"
            | b"/upstreams" | b"/ai/keys",
        ) => Reply::text(405, "method not allowed\n"),
        _ => Reply::text(
            404,
            "not found: try /metrics /stats /config /routes /upstreams /ai/keys, POST /reload /drain /cache/purge\n",
        ),
    }
}

fn reload(admin: &Admin) -> Reply {
    match admin.control.reload() {
        Ok(r) => Reply::json(
            200,
            format!(
                "{{\"reloaded\":true,\"version\":{},\"needs_restart\":{:?}}}\n",
                r.version, r.needs_restart
            ),
        ),
        Err(e) => {
            let mut body = String::from("{\"reloaded\":false,\"error\":");
            json_bytes(&mut body, e.to_string().as_bytes());
            body.push_str("}\n");
            Reply::json(400, body)
        }
    }
}

fn write_reply(s: &mut TcpStream, r: Reply) -> std::io::Result<()> {
    let head = format!(
        "HTTP/1.1 {} {}\r\ncontent-type: {}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        r.status,
        crate::error::reason(r.status),
        r.content_type,
        r.body.len()
    );
    s.write_all(head.as_bytes())?;
    s.write_all(r.body.as_bytes())
}
