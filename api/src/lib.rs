//! The management API: teams, services, apps, credentials, team tokens and
//! subscriptions, as REST and JSON under `/api/v1`, with its OpenAPI
//! document at `/api/v1/openapi.json`.
//!
//! It runs on a thread of its own with a one-thread tokio runtime and axum
//! (hyper underneath), so it serves many clients at once and never runs on
//! a shard. Every call goes to the [`access::Store`] on tokio's blocking
//! pool, under the scope of the caller's token: the root token (from a
//! file or `COREGATE_API_TOKEN`, never a flag) sees everything; a team's
//! token sees its own team only, and another team's objects are "not
//! found". The gateway itself never waits on this API: the control thread
//! sees the store's revision move and recompiles the snapshot.
//!
//! A call costs about 0.1 ms plus the store's write (SQLite in WAL mode:
//! about 0.1–1 ms); creating a Basic credential adds argon2id's 28 ms.

mod auth;
mod error;
mod extract;
mod handlers;
mod openapi;

use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::sync::Arc;

use access::{Store, StoreError};

pub use auth::{is_loopback_host_value, RootToken};

/// Opens a connection to the store. Each thread of the blocking pool opens
/// its own and keeps it, so calls share no lock (SQLite in WAL mode lets
/// them read at once and queues their writes).
pub type OpenStore = Arc<dyn Fn() -> Result<Box<dyn Store>, StoreError> + Send + Sync>;

/// Why the API could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The address could not be bound.
    #[error("cannot open the management API on {addr}: {cause}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// The OS error.
        cause: std::io::Error,
    },
    /// Beyond loopback, the API needs a root token.
    #[error(
        "the management API on {0} listens beyond loopback without a root token: \
         set access.api_token_file (or COREGATE_API_TOKEN), or bind it to 127.0.0.1"
    )]
    NoToken(SocketAddr),
    /// The root token file could not be read or is unusable.
    #[error("{0}")]
    Token(String),
    /// The runtime or its thread could not start.
    #[error("cannot start the management API: {0}")]
    Runtime(std::io::Error),
}

/// Binds `addr` and serves the API on `store` from a thread of its own.
/// Returns the bound address.
/// It stops (finishing the calls in flight) once `stopping` says so; it is
/// asked every 100 ms.
pub fn spawn(
    addr: SocketAddr,
    store: OpenStore,
    root: Option<RootToken>,
    stopping: impl Fn() -> bool + Send + 'static,
) -> Result<SocketAddr, StartError> {
    if root.is_none() && !addr.ip().is_loopback() {
        return Err(StartError::NoToken(addr));
    }
    let listener = TcpListener::bind(addr).map_err(|cause| StartError::Bind { addr, cause })?;
    let local = listener
        .local_addr()
        .and_then(|a| listener.set_nonblocking(true).map(|()| a))
        .map_err(|cause| StartError::Bind { addr, cause })?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .enable_time()
        .max_blocking_threads(8)
        .build()
        .map_err(StartError::Runtime)?;
    let app = handlers::router(handlers::App::new(store, root));
    std::thread::Builder::new()
        .name("api".into())
        .spawn(move || {
            rt.block_on(async move {
                let Ok(listener) = tokio::net::TcpListener::from_std(listener) else {
                    eprintln!("coregate: the management API cannot use its socket");
                    return;
                };
                let stop = async move {
                    while !stopping() {
                        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                    }
                };
                let served = axum::serve(listener, app).with_graceful_shutdown(stop);
                if let Err(e) = served.await {
                    eprintln!("coregate: the management API stopped: {e}");
                }
            });
        })
        .map_err(StartError::Runtime)?;
    Ok(local)
}

/// The root token: from `file` if given, else from `COREGATE_API_TOKEN`.
pub fn root_token(file: Option<&Path>) -> Result<Option<RootToken>, StartError> {
    let text = match file {
        Some(f) => std::fs::read_to_string(f)
            .map_err(|e| StartError::Token(format!("cannot read {}: {e}", f.display())))?,
        None => match std::env::var("COREGATE_API_TOKEN") {
            Ok(t) => t,
            Err(_) => return Ok(None),
        },
    };
    RootToken::new(text.trim())
        .map(Some)
        .map_err(|e| StartError::Token(e.to_owned()))
}
