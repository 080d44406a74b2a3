//! The access log: one JSON line per request.
//!
//! A shard formats its lines into its own buffer (no lock, no syscall on
//! the request path) and a per-shard task hands the buffer to the writer
//! thread every 100 ms through a bounded channel. A shard never waits: when
//! its buffer holds `queue` lines, or the channel is full, lines are dropped
//! and counted (`coregate_access_log_dropped_total`). The writer thread owns
//! the file and reopens it on SIGUSR1, after logrotate moved it.

use std::cell::{Cell, RefCell};
use std::fmt::Write as _;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tuning::{AccessLog as Config, LogDest};

use crate::text;

/// How often shards hand their lines to the writer.
pub(crate) const FLUSH_EVERY: Duration = Duration::from_millis(100);
/// Batches in flight between the shards and the writer.
const CHANNEL_BATCHES: usize = 256;
/// The starting size of a shard's line buffer.
const BUF_BYTES: usize = 64 << 10;

/// The writer side, shared by the shards: where batches go.
#[derive(Clone)]
pub(crate) struct Sink {
    tx: mpsc::SyncSender<Vec<u8>>,
    reopen: Arc<AtomicBool>,
}

// === impl Sink ===

impl Sink {
    /// Starts the writer thread for `cfg`, or returns `None` when the log is
    /// off.
    pub(crate) fn start(cfg: &Config) -> std::io::Result<Option<Sink>> {
        let path = match &cfg.dest {
            LogDest::Off => return Ok(None),
            LogDest::Stdout => None,
            LogDest::File(p) => Some(p.clone()),
        };
        let mut out = Output::open(path)?;
        let (tx, rx) = mpsc::sync_channel::<Vec<u8>>(CHANNEL_BATCHES);
        let reopen = Arc::new(AtomicBool::new(false));
        let flag = reopen.clone();
        thread::Builder::new()
            .name("access-log".into())
            .spawn(move || loop {
                let batch = rx.recv_timeout(Duration::from_millis(200));
                if flag.swap(false, Ordering::AcqRel) {
                    out.reopen();
                }
                match batch {
                    Ok(b) => out.write(&b),
                    Err(mpsc::RecvTimeoutError::Timeout) => {}
                    Err(mpsc::RecvTimeoutError::Disconnected) => return,
                }
            })?;
        Ok(Some(Sink { tx, reopen }))
    }

    /// Asks the writer to reopen the file (SIGUSR1).
    pub(crate) fn reopen(&self) {
        self.reopen.store(true, Ordering::Release);
    }
}

enum Output {
    Stdout(std::io::Stdout),
    File { path: PathBuf, file: File },
}

// === impl Output ===

impl Output {
    fn open(path: Option<PathBuf>) -> std::io::Result<Output> {
        Ok(match path {
            None => Output::Stdout(std::io::stdout()),
            Some(path) => Output::File {
                file: append(&path)?,
                path,
            },
        })
    }

    fn reopen(&mut self) {
        if let Output::File { path, file } = self {
            match append(path) {
                Ok(f) => *file = f,
                Err(e) => eprintln!("coregate: cannot reopen access log {}: {e}", path.display()),
            }
        }
    }

    fn write(&mut self, b: &[u8]) {
        let res = match self {
            Output::Stdout(s) => s.lock().write_all(b),
            Output::File { file, .. } => file.write_all(b),
        };
        if let Err(e) = res {
            eprintln!("coregate: access log write failed: {e}");
        }
    }
}

/// Opens `path` for appending, creating it if missing.
fn append(path: &Path) -> std::io::Result<File> {
    OpenOptions::new().create(true).append(true).open(path)
}

/// One request's log fields.
pub(crate) struct Entry<'a> {
    pub(crate) shard: usize,
    pub(crate) id: &'a [u8],
    pub(crate) client: SocketAddr,
    pub(crate) method: &'a [u8],
    pub(crate) host: &'a [u8],
    pub(crate) target: &'a [u8],
    pub(crate) proto: &'a str,
    pub(crate) status: u16,
    pub(crate) bytes_in: u64,
    pub(crate) bytes_out: u64,
    pub(crate) route: Option<&'a str>,
    pub(crate) upstream: Option<SocketAddr>,
    pub(crate) upstream_status: Option<u16>,
    pub(crate) connect: Option<Duration>,
    pub(crate) head: Option<Duration>,
    pub(crate) total: Duration,
    pub(crate) error: Option<&'a str>,
    pub(crate) user_agent: Option<&'a [u8]>,
    /// The client connection's TLS, when it has one.
    pub(crate) tls: Option<&'a crate::io::TlsSummary>,
    /// The calling app and its team, when a credential named them.
    pub(crate) consumer: Option<(&'a str, &'a str)>,
    /// The rate-limit policy that turned the request away, if one did.
    pub(crate) rate_limit: Option<&'a str>,
    /// How the response cache answered, on a cached route.
    pub(crate) cache: Option<&'a str>,
    /// What an AI call did; `None` on other routes.
    pub(crate) ai: Option<AiEntry<'a>>,
}

/// An AI call's fields: who answered, tokens, cost, times, failovers.
pub(crate) struct AiEntry<'a> {
    pub(crate) trace: &'a crate::ai::AiTrace,
    /// Provider name and key id of the answer.
    pub(crate) answered: Option<(&'a str, &'a str)>,
    /// Provider name and key id of every failed try before it.
    pub(crate) failovers: Vec<(&'a str, &'a str, &'a str)>,
    /// The prompt and the answer, masked, on routes that log them.
    pub(crate) bodies: Option<(String, String)>,
}

/// A shard's side of the access log.
pub(crate) struct ShardLog {
    sink: Sink,
    buf: RefCell<String>,
    lines: Cell<usize>,
    cap: usize,
    sample: f64,
    errors_only: bool,
    max_query: usize,
    rng: Cell<u64>,
    /// Lines dropped (single writer: this shard).
    pub(crate) dropped: Cell<u64>,
}

// === impl ShardLog ===

impl ShardLog {
    pub(crate) fn new(sink: Sink, cfg: &Config, shard: usize) -> ShardLog {
        ShardLog {
            sink,
            buf: RefCell::new(String::with_capacity(BUF_BYTES)),
            lines: Cell::new(0),
            cap: cfg.queue.max(1),
            sample: cfg.sample,
            errors_only: cfg.errors_only,
            max_query: cfg.max_query_bytes,
            rng: Cell::new(0x2545_f491_4f6c_dd1d ^ (shard as u64 + 1)),
            dropped: Cell::new(0),
        }
    }

    /// Whether this request is to be logged (sampling, errors-only).
    pub(crate) fn wants(&self, status: u16, error: bool) -> bool {
        if self.errors_only && status < 400 && !error {
            return false;
        }
        if self.sample >= 1.0 {
            return true;
        }
        self.draw() <= self.sample
    }

    /// The next sampling draw (xorshift64), uniform in [0, 1).
    fn draw(&self) -> f64 {
        let mut x = self.rng.get();
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.rng.set(x);
        (x >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Appends one line, or counts it dropped when the shard's queue is full.
    pub(crate) fn log(&self, e: &Entry<'_>) {
        if self.lines.get() >= self.cap {
            self.dropped.set(self.dropped.get() + 1);
            return;
        }
        format_line(&mut self.buf.borrow_mut(), e, self.max_query);
        self.lines.set(self.lines.get() + 1);
    }

    /// Hands the buffered lines to the writer; drops them (counted) if the
    /// writer is behind.
    pub(crate) fn flush(&self) {
        let n = self.lines.replace(0);
        if n > 0 && self.sink.tx.try_send(self.take_batch()).is_err() {
            self.dropped.set(self.dropped.get() + n as u64);
        }
    }

    /// Takes the buffered lines, leaving an empty buffer of the same
    /// starting size.
    fn take_batch(&self) -> Vec<u8> {
        let fresh = String::with_capacity(BUF_BYTES);
        std::mem::replace(&mut *self.buf.borrow_mut(), fresh).into_bytes()
    }
}

fn format_line(out: &mut String, e: &Entry<'_>, max_query: usize) {
    let (path, query) = split_target(e.target, max_query);
    out.push_str("{\"ts\":\"");
    push_ts(out, SystemTime::now());
    out.push_str("\",\"shard\":");
    text::u64(out, e.shard as u64);
    out.push_str(",\"id\":");
    json_bytes(out, e.id);
    out.push_str(",\"client\":\"");
    text::socket_addr(out, e.client);
    out.push_str("\",\"method\":");
    json_bytes(out, e.method);
    out.push_str(",\"host\":");
    json_bytes(out, e.host);
    out.push_str(",\"path\":");
    json_bytes(out, path);
    out.push_str(",\"query\":");
    json_bytes(out, query);
    out.push_str(",\"proto\":\"");
    out.push_str(e.proto);
    out.push_str("\",\"status\":");
    text::u64(out, u64::from(e.status));
    out.push_str(",\"bytes_in\":");
    text::u64(out, e.bytes_in);
    out.push_str(",\"bytes_out\":");
    text::u64(out, e.bytes_out);
    out.push_str(",\"route\":");
    opt_str(out, e.route);
    out.push_str(",\"upstream\":");
    opt_addr(out, e.upstream);
    out.push_str(",\"upstream_status\":");
    opt_num(out, e.upstream_status.map(u64::from));
    out.push_str(",\"connect_us\":");
    opt_num(out, e.connect.map(|d| d.as_micros() as u64));
    out.push_str(",\"head_us\":");
    opt_num(out, e.head.map(|d| d.as_micros() as u64));
    out.push_str(",\"total_us\":");
    text::u64(out, e.total.as_micros() as u64);
    out.push_str(",\"error\":");
    opt_str(out, e.error);
    out.push_str(",\"consumer\":");
    opt_str(out, e.consumer.map(|c| c.0));
    out.push_str(",\"team\":");
    opt_str(out, e.consumer.map(|c| c.1));
    out.push_str(",\"rate_limit\":");
    opt_str(out, e.rate_limit);
    if let Some(cache) = e.cache {
        out.push_str(",\"cache\":");
        opt_str(out, Some(cache));
    }
    if let Some(ai) = &e.ai {
        ai_fields(out, ai);
    }
    out.push_str(",\"ua\":");
    opt_bytes(out, e.user_agent);
    tls_fields(out, e.tls);
    out.push_str("}\n");
}

/// `ai`: provider, model, key id, tokens, cost, time to first token and
/// the failover path. Prompts and answers are never written here.
fn ai_fields(out: &mut String, a: &AiEntry<'_>) {
    let t = a.trace;
    out.push_str(",\"ai\":{\"provider\":");
    opt_str(out, a.answered.map(|x| x.0));
    out.push_str(",\"model\":");
    opt_str(out, Some(&t.model));
    out.push_str(",\"key\":");
    opt_str(out, a.answered.map(|x| x.1));
    out.push_str(",\"stream\":");
    out.push_str(if t.stream { "true" } else { "false" });
    for (name, n) in [
        ("tokens_in", t.usage.input),
        ("tokens_out", t.usage.output),
        ("tokens_cached", t.usage.cached),
        ("tokens_reasoning", t.usage.reasoning),
        ("cost_microusd", t.cost),
    ] {
        out.push_str(",\"");
        out.push_str(name);
        out.push_str("\":");
        text::u64(out, n);
    }
    out.push_str(",\"first_token_us\":");
    opt_num(out, t.first_token.map(|d| d.as_micros() as u64));
    out.push_str(",\"failovers\":[");
    for (i, (p, k, why)) in a.failovers.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        json_bytes(out, format!("{p}/{k}:{why}").as_bytes());
    }
    out.push(']');
    if let Some((prompt, answer)) = &a.bodies {
        out.push_str(",\"prompt\":");
        json_bytes(out, prompt.as_bytes());
        out.push_str(",\"answer\":");
        json_bytes(out, answer.as_bytes());
    }
    out.push('}');
}

/// `tls` (version), `tls_resumed` and `sni`: null on a plain connection.
fn tls_fields(out: &mut String, t: Option<&crate::io::TlsSummary>) {
    out.push_str(",\"tls\":");
    opt_str(out, t.map(|t| t.version));
    out.push_str(",\"tls_resumed\":");
    match t {
        Some(t) => out.push_str(if t.resumed { "true" } else { "false" }),
        None => out.push_str("null"),
    }
    out.push_str(",\"sni\":");
    opt_str(out, t.and_then(|t| t.sni.as_deref()));
}

/// A request target's path and query (the query cut to `max_query`
/// bytes; empty when there is none).
fn split_target(target: &[u8], max_query: usize) -> (&[u8], &[u8]) {
    let (path, query) = match target.iter().position(|&b| b == b'?') {
        Some(i) => (&target[..i], &target[i + 1..]),
        None => (target, &b""[..]),
    };
    (path, &query[..query.len().min(max_query)])
}

fn opt_str(out: &mut String, s: Option<&str>) {
    opt_bytes(out, s.map(str::as_bytes));
}

/// Writes `b` as a JSON string, or `null`.
fn opt_bytes(out: &mut String, b: Option<&[u8]>) {
    match b {
        Some(b) => json_bytes(out, b),
        None => out.push_str("null"),
    }
}

/// Writes an address as a JSON string, or `null`.
fn opt_addr(out: &mut String, a: Option<SocketAddr>) {
    match a {
        Some(a) => {
            out.push('"');
            text::socket_addr(out, a);
            out.push('"');
        }
        None => out.push_str("null"),
    }
}

fn opt_num(out: &mut String, n: Option<u64>) {
    match n {
        Some(n) => text::u64(out, n),
        None => out.push_str("null"),
    }
}

/// Writes `b` as a JSON string: invalid UTF-8 is replaced (U+FFFD), quotes
/// and backslashes are escaped, and so are the C0 controls and DEL (0x7f,
/// as `\u007f`, so that a log line never carries a raw control byte to a
/// terminal); other UTF-8 passes through. The engine's only JSON string
/// escaper (the admin API uses it too); it allocates nothing for valid
/// UTF-8, appending to the caller's buffer.
pub(crate) fn json_bytes(out: &mut String, b: &[u8]) {
    out.push('"');
    // Printable ASCII but for the quote and the backslash: as it is.
    if b.iter()
        .all(|&c| (0x20..0x7f).contains(&c) && c != b'"' && c != b'\\')
    {
        out.push_str(std::str::from_utf8(b).unwrap_or_default());
        out.push('"');
        return;
    }
    for c in String::from_utf8_lossy(b).chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// `2026-11-26T13:05:01.123456Z`, by the analytics crate's writer, which
/// `coregate report` parses back; allocates nothing while `out` has room.
fn push_ts(out: &mut String, t: SystemTime) {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    analytics::push_rfc3339_micros(out, i64::try_from(d.as_micros()).unwrap_or(i64::MAX));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_have_microseconds() {
        let mut s = String::new();
        push_ts(
            &mut s,
            UNIX_EPOCH + Duration::from_micros(1_795_741_501_123_456),
        );
        push_ts(&mut s, UNIX_EPOCH);
        assert_eq!(s, "2026-11-27T01:05:01.123456Z1970-01-01T00:00:00.000000Z");
    }

    #[test]
    fn json_strings_escape_controls_del_quotes_and_backslash() {
        let mut s = String::new();
        json_bytes(&mut s, "a\"b\\c\nd\r\t\u{1}\u{1f}\u{7f} é€😀".as_bytes());
        assert_eq!(s, "\"a\\\"b\\\\c\\nd\\r\\t\\u0001\\u001f\\u007f é€😀\"");
        let back: String = serde_json::from_str(&s).unwrap();
        assert_eq!(back, "a\"b\\c\nd\r\t\u{1}\u{1f}\u{7f} é€😀");
        s.clear();
        json_bytes(&mut s, b"x\xffy");
        assert_eq!(s, "\"x\u{fffd}y\"");
    }

    #[test]
    fn lines_are_valid_json_even_for_hostile_bytes() {
        let e = Entry {
            shard: 1,
            id: b"abc",
            client: "127.0.0.1:5000".parse().unwrap(),
            method: b"GET",
            host: b"h\"x",
            target: b"/p\\a\xff?q=1\x01",
            proto: "HTTP/1.1",
            status: 200,
            bytes_in: 10,
            bytes_out: 20,
            route: Some("r"),
            upstream: None,
            upstream_status: None,
            connect: None,
            head: Some(Duration::from_micros(7)),
            total: Duration::from_micros(9),
            error: None,
            user_agent: Some(b"curl"),
            tls: None,
            consumer: Some(("mobile", "shop")),
            rate_limit: None,
            cache: Some("hit"),
            ai: None,
        };
        let mut s = String::new();
        format_line(&mut s, &e, 2);
        let v: serde_json::Value = serde_json::from_str(s.trim_end()).unwrap();
        assert_eq!(v["host"], "h\"x");
        assert_eq!(v["query"], "q=");
        assert_eq!(v["head_us"], 7);
        assert_eq!(v["cache"], "hit");
        assert_eq!(v["upstream"], serde_json::Value::Null);
        assert_eq!(
            (&v["consumer"], &v["team"]),
            (&"mobile".into(), &"shop".into())
        );
    }
}
