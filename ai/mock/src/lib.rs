//! A mock AI provider: one HTTP/1.1 server on 127.0.0.1 that speaks OpenAI,
//! Azure OpenAI, Anthropic Messages and Gemini, answers deterministically, and
//! misbehaves on demand (pushed [`Fault`]s or fault-named models).
//!
//! The gateway's integration tests use it in-process through [`Mock`]; the
//! benchmarks run the `ai-mock` binary. It shares no code with the gateway.
//!
//! # What it answers
//! - `POST /v1/chat/completions`, `GET /v1/models`, `POST /v1/embeddings`
//!   (OpenAI, `Authorization: Bearer KEY`);
//! - `POST /openai/deployments/{d}/chat/completions?api-version=…` (Azure,
//!   `api-key: KEY`);
//! - `POST /v1/messages` (Anthropic, `x-api-key: KEY`, `anthropic-version`);
//! - `POST /v1beta/models/{m}:generateContent` and
//!   `:streamGenerateContent?alt=sse` (Gemini, `x-goog-api-key: KEY` or `?key=`).
//!
//! # Reply content
//! The reply is `words` words `"w0 w1 …"`, or the rest of the last user text
//! after `echo:` (trimmed). When tools are declared and the conversation ends
//! with a user text containing `call tools`, the first two tools are called
//! with `{"q": "<tool name>"}`. Response ids are `chatcmpl-mock-N`,
//! `msg_mock_N` and `mock-N`, where N is the request's 1-based sequence number
//! in this mock; `created` is always 1700000000.
//!
//! # Faults by model name
//! `fault-<status>` (429 adds `Retry-After: 1`), `stall-<ms>`, `mid-error`,
//! `malformed`, `cut`, and `slow-<ms>` (frame pace). A pushed fault wins over
//! one named by the model.

// The mock is a std-threaded test server outside the engine's shard model:
// a few short Mutex sections (fault queue, request log, connection list) are
// the simple and right tool here.
#![allow(clippy::disallowed_types)]

mod anthropic;
mod convo;
mod fault;
mod frame;
mod gemini;
mod http;
mod openai;
mod route;
mod server;

use std::collections::{HashMap, VecDeque};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

/// How many requests [`Mock::requests`] keeps (the most recent ones).
pub const RECORD_LIMIT: usize = 10_000;

/// How the mock listens, which keys it takes, and how it paces and sizes replies.
#[derive(Debug, Clone)]
pub struct MockConfig {
    /// Where to listen; `None` binds 127.0.0.1 on a free port.
    pub listen: Option<SocketAddr>,
    /// Accepted keys; empty accepts any non-empty key.
    pub keys: Vec<String>,
    /// Keys always answered 401, even when `keys` is empty.
    pub revoked: Vec<String>,
    /// Pause before each streamed frame (default zero).
    pub frame_delay: Duration,
    /// Words in a generated reply (default 8).
    pub words: usize,
}

impl Default for MockConfig {
    fn default() -> Self {
        MockConfig {
            listen: None,
            keys: Vec::new(),
            revoked: Vec::new(),
            frame_delay: Duration::ZERO,
            words: 8,
        }
    }
}

/// One request as the mock saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recorded {
    /// The method, e.g. `POST`.
    pub method: String,
    /// The request target: path with its query.
    pub path: String,
    /// Headers in order, names lowercased.
    pub headers: Vec<(String, String)>,
    /// The body, de-chunked.
    pub body: Vec<u8>,
    /// The key presented in the header the endpoint's format uses (even when
    /// the mock rejected it); `None` when absent or the path is unknown.
    pub key: Option<String>,
}

impl Recorded {
    /// The first header with this name (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body parsed as JSON, if it is JSON.
    pub fn json(&self) -> Option<serde_json::Value> {
        serde_json::from_slice(&self.body).ok()
    }
}

/// A misbehaviour for the next request (see [`Mock::push_fault`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// Answer this status (429, 500, 503, 529, …) with an error body in the
    /// endpoint's own format, and `Retry-After` when given.
    Status {
        /// The HTTP status.
        status: u16,
        /// Seconds for the `Retry-After` header.
        retry_after: Option<u64>,
    },
    /// Read the request, send nothing for this long, then close.
    Stall(Duration),
    /// Streamed: the prelude and 2 content frames, then the provider's
    /// mid-stream error, then the end of the body. Not streamed: a 500.
    MidStreamError,
    /// Streamed: the prelude and 1 content frame, then a frame whose data is
    /// not JSON, then the end of the body. Not streamed: a body that is not JSON.
    Malformed,
    /// Streamed: the prelude and 2 content frames, then close without the end
    /// (no `[DONE]`, `message_stop`, `finishReason` or last chunk). Not
    /// streamed: half the announced body, then close.
    Cut,
    /// Close the connection without answering.
    Close,
}

/// State shared by the accept loop, the connections and the handle.
pub(crate) struct Shared {
    pub(crate) cfg: MockConfig,
    pub(crate) faults: Mutex<VecDeque<Fault>>,
    pub(crate) log: Mutex<VecDeque<Recorded>>,
    pub(crate) served: AtomicU64,
    pub(crate) stop: AtomicBool,
    pub(crate) conns: Mutex<HashMap<u64, TcpStream>>,
}

/// Locks a mutex, ignoring poisoning (a panicked connection must not wedge the mock).
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A running mock provider; dropping it stops accepting and closes connections.
pub struct Mock {
    addr: SocketAddr,
    shared: Arc<Shared>,
    accept: Option<JoinHandle<()>>,
}

impl Mock {
    /// Binds (127.0.0.1:0 unless `cfg.listen` is set) and starts serving.
    pub fn start(cfg: MockConfig) -> std::io::Result<Mock> {
        let bind = cfg.listen.unwrap_or(SocketAddr::from(([127, 0, 0, 1], 0)));
        let listener = TcpListener::bind(bind)?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            cfg,
            faults: Mutex::new(VecDeque::new()),
            log: Mutex::new(VecDeque::new()),
            served: AtomicU64::new(0),
            stop: AtomicBool::new(false),
            conns: Mutex::new(HashMap::new()),
        });
        let for_loop = Arc::clone(&shared);
        let accept = std::thread::Builder::new()
            .name("ai-mock-accept".into())
            .spawn(move || server::accept_loop(listener, for_loop))?;
        Ok(Mock {
            addr,
            shared,
            accept: Some(accept),
        })
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The base URL, e.g. `http://127.0.0.1:4321`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Every request seen, oldest first (the last [`RECORD_LIMIT`]).
    pub fn requests(&self) -> Vec<Recorded> {
        lock(&self.shared.log).iter().cloned().collect()
    }

    /// Forgets the recorded requests (queued faults and the count stay).
    pub fn clear(&self) {
        lock(&self.shared.log).clear();
    }

    /// Queues a fault for the next request on any endpoint (first in, first out).
    pub fn push_fault(&self, fault: Fault) {
        lock(&self.shared.faults).push_back(fault);
    }

    /// Requests read so far (answered, faulted or rejected alike).
    pub fn count(&self) -> u64 {
        self.shared.served.load(Ordering::SeqCst)
    }
}

impl Drop for Mock {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        for conn in lock(&self.shared.conns).values() {
            let _ = conn.shutdown(std::net::Shutdown::Both);
        }
        // Wake the accept loop so it sees `stop` and drops the listener.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Some(handle) = self.accept.take() {
            let _ = handle.join();
        }
    }
}
