//! Test fixtures: a real origin server on 127.0.0.1, a raw HTTP/1.1 client,
//! and helpers that start coregate in-process or as a child process.
#![allow(dead_code, unreachable_pub, missing_docs)]

pub mod mgmt;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

/// A request as the origin saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub target: String,
    pub version: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Seen {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A threaded origin server. Behaviour depends on the request path:
/// - `/echo`: 200 with the request body (content-length)
/// - `/chunked`: 200 with a chunked body of `?n=` bytes (default 1000)
/// - `/close`: 200 with a close-delimited body of `?n=` bytes
/// - `/big?n=`: 200 with `n` pseudo-random bytes (content-length)
/// - `/slow?ms=`: waits, then 200
/// - `/status?code=`: that status, empty body
/// - `/reset`: head and half the body, then a reset
/// - `/ws`: 101, then echoes bytes until EOF
/// - `/seen`: 200, body is the request head as received
/// - `/bye`: 200 without `connection: close`, then the origin closes
/// - anything else: 200 "hello from origin <port>"
/// Every response carries `x-origin-conn` (the connection's number on this
/// origin) and `x-origin-port`.
pub struct Origin {
    pub addr: SocketAddr,
    pub connections: Arc<AtomicUsize>,
    pub requests: Arc<AtomicUsize>,
    /// Every request target received, in order (sent before the response).
    pub targets: Receiver<String>,
}

impl Origin {
    pub fn start() -> Origin {
        Origin::start_on(TcpListener::bind("127.0.0.1:0").unwrap())
    }

    pub fn start_on(l: TcpListener) -> Origin {
        let addr = l.local_addr().unwrap();
        let connections = Arc::new(AtomicUsize::new(0));
        let requests = Arc::new(AtomicUsize::new(0));
        let (sent, targets) = mpsc::channel();
        let (c2, r2) = (connections.clone(), requests.clone());
        thread::spawn(move || {
            for s in l.incoming() {
                let Ok(s) = s else { continue };
                let n = c2.fetch_add(1, Ordering::SeqCst) + 1;
                let (r, t) = (r2.clone(), sent.clone());
                thread::spawn(move || {
                    let _ = serve(s, n, addr.port(), &r, &t);
                });
            }
        });
        Origin {
            addr,
            connections,
            requests,
            targets,
        }
    }
}

fn query(target: &str, key: &str, default: usize) -> usize {
    target
        .split_once('?')
        .and_then(|(_, q)| {
            q.split('&')
                .find_map(|kv| kv.strip_prefix(key).and_then(|v| v.strip_prefix('=')))
        })
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

pub fn pattern(n: usize) -> Vec<u8> {
    let mut x: u32 = 0x9e37_79b9;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect()
}

fn serve(
    s: TcpStream,
    conn: usize,
    port: u16,
    requests: &AtomicUsize,
    targets: &Sender<String>,
) -> std::io::Result<()> {
    let mut w = s.try_clone()?;
    let mut r = BufReader::new(s);
    loop {
        let Some(req) = read_request(&mut r)? else {
            return Ok(());
        };
        let _ = targets.send(req.target.clone());
        requests.fetch_add(1, Ordering::SeqCst);
        let path = req.target.split('?').next().unwrap_or("").to_string();
        let common = format!("x-origin-conn: {conn}\r\nx-origin-port: {port}\r\n");
        match path.as_str() {
            "/echo" => respond(&mut w, 200, &common, &req.body)?,
            "/bye" => {
                // A keep-alive response, then the origin closes anyway.
                respond(&mut w, 200, &common, b"bye")?;
                return Ok(());
            }
            "/seen" => {
                let mut body = format!("{} {} {}\n", req.method, req.target, req.version);
                for (k, v) in &req.headers {
                    body.push_str(&format!("{k}: {v}\n"));
                }
                respond(&mut w, 200, &common, body.as_bytes())?;
            }
            "/chunked" => {
                let body = pattern(query(&req.target, "n", 1000));
                write!(
                    w,
                    "HTTP/1.1 200 OK\r\n{common}transfer-encoding: chunked\r\n\r\n"
                )?;
                for c in body.chunks(333) {
                    write!(w, "{:x}\r\n", c.len())?;
                    w.write_all(c)?;
                    w.write_all(b"\r\n")?;
                }
                w.write_all(b"0\r\n\r\n")?;
            }
            "/close" => {
                let body = pattern(query(&req.target, "n", 1000));
                write!(w, "HTTP/1.1 200 OK\r\n{common}connection: close\r\n\r\n")?;
                w.write_all(&body)?;
                return Ok(());
            }
            "/big" => {
                let n = query(&req.target, "n", 1 << 20);
                write!(w, "HTTP/1.1 200 OK\r\n{common}content-length: {n}\r\n\r\n")?;
                let block = pattern(64 << 10);
                let mut left = n;
                while left > 0 {
                    let k = left.min(block.len());
                    w.write_all(&block[..k])?;
                    left -= k;
                }
            }
            "/slow" => {
                thread::sleep(Duration::from_millis(query(&req.target, "ms", 1000) as u64));
                respond(&mut w, 200, &common, b"slow")?;
            }
            "/usage" => {
                // As a model server reports what a request cost.
                let n = query(&req.target, "tokens", 1);
                let usage = format!("{common}x-usage-tokens: {n}\r\n");
                respond(&mut w, 200, &usage, b"used")?;
            }
            "/status" => {
                let code = query(&req.target, "code", 200);
                write!(w, "HTTP/1.1 {code} X\r\n{common}content-length: 0\r\n\r\n")?;
            }
            "/reset" => {
                write!(w, "HTTP/1.1 200 OK\r\n{common}content-length: 1000\r\n\r\n")?;
                w.write_all(&[b'x'; 500])?;
                w.flush()?;
                thread::sleep(Duration::from_millis(50));
                let s2 = socket2::SockRef::from(&w);
                s2.set_linger(Some(Duration::ZERO))?;
                return Ok(());
            }
            "/ws-hello" => {
                // The 101 and the server's first message in one write.
                write!(w, "HTTP/1.1 101 Switching Protocols\r\nconnection: upgrade\r\nupgrade: websocket\r\n\r\nhello")?;
                w.flush()?;
                let mut buf = [0u8; 64];
                while r.get_mut().read(&mut buf)? > 0 {}
                return Ok(());
            }
            "/interim" => {
                // An interim 103 and the final response in one write.
                write!(w, "HTTP/1.1 103 Early Hints\r\nlink: </a.css>\r\n\r\nHTTP/1.1 200 OK\r\n{common}content-length: 5\r\n\r\nfinal")?;
            }
            "/ws" => {
                write!(w, "HTTP/1.1 101 Switching Protocols\r\nconnection: upgrade\r\nupgrade: websocket\r\n\r\n")?;
                let mut buf = [0u8; 4096];
                let leftover = r.buffer().to_vec();
                w.write_all(&leftover)?;
                r.consume(leftover.len());
                loop {
                    let n = r.get_mut().read(&mut buf)?;
                    if n == 0 {
                        w.shutdown(Shutdown::Write)?;
                        return Ok(());
                    }
                    w.write_all(&buf[..n])?;
                }
            }
            _ => {
                let body = format!("hello from origin {port}");
                respond(&mut w, 200, &common, body.as_bytes())?;
            }
        }
        if req
            .header("connection")
            .is_some_and(|v| v.eq_ignore_ascii_case("close"))
        {
            return Ok(());
        }
    }
}

fn respond(w: &mut TcpStream, status: u16, common: &str, body: &[u8]) -> std::io::Result<()> {
    let mut out = format!(
        "HTTP/1.1 {status} OK\r\n{common}content-length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    out.extend_from_slice(body);
    w.write_all(&out)
}

/// Reads one request (head and content-length or chunked body).
pub fn read_request(r: &mut impl BufRead) -> std::io::Result<Option<Seen>> {
    let mut line = String::new();
    if r.read_line(&mut line)? == 0 {
        return Ok(None);
    }
    let mut parts = line.trim_end().splitn(3, ' ');
    let method = parts.next().unwrap_or("").to_string();
    let target = parts.next().unwrap_or("").to_string();
    let version = parts.next().unwrap_or("").to_string();
    let headers = read_headers(r)?;
    let seen = Seen {
        method,
        target,
        version,
        headers,
        body: Vec::new(),
    };
    let body = read_body(r, &seen.headers, false)?;
    Ok(Some(Seen { body, ..seen }))
}

fn read_headers(r: &mut impl BufRead) -> std::io::Result<Vec<(String, String)>> {
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        r.read_line(&mut line)?;
        let line = line.trim_end();
        if line.is_empty() {
            return Ok(headers);
        }
        if let Some((k, v)) = line.split_once(':') {
            headers.push((k.to_string(), v.trim().to_string()));
        }
    }
}

fn header<'a>(h: &'a [(String, String)], name: &str) -> Option<&'a str> {
    h.iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

fn read_body(
    r: &mut impl BufRead,
    h: &[(String, String)],
    until_close: bool,
) -> std::io::Result<Vec<u8>> {
    if header(h, "transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
        let mut body = Vec::new();
        loop {
            let mut line = String::new();
            r.read_line(&mut line)?;
            let size = usize::from_str_radix(line.trim_end().split(';').next().unwrap_or(""), 16)
                .map_err(|_| std::io::Error::other(format!("bad chunk line {line:?}")))?;
            if size == 0 {
                read_headers(r)?;
                return Ok(body);
            }
            let start = body.len();
            body.resize(start + size, 0);
            r.read_exact(&mut body[start..])?;
            let mut crlf = [0u8; 2];
            r.read_exact(&mut crlf)?;
        }
    }
    if let Some(n) = header(h, "content-length") {
        let n: usize = n.parse().map_err(std::io::Error::other)?;
        let mut body = vec![0; n];
        r.read_exact(&mut body)?;
        return Ok(body);
    }
    let mut body = Vec::new();
    if until_close {
        r.read_to_end(&mut body)?;
    }
    Ok(body)
}

/// A response as the client saw it.
#[derive(Debug)]
pub struct Response {
    pub version: String,
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        header(&self.headers, name)
    }
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// A raw HTTP/1.1 client connection.
pub struct Client {
    pub r: BufReader<TcpStream>,
    pub w: TcpStream,
}

impl Client {
    pub fn connect(addr: SocketAddr) -> Client {
        let s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        Client {
            w: s.try_clone().unwrap(),
            r: BufReader::new(s),
        }
    }

    pub fn send(&mut self, raw: &[u8]) {
        self.w.write_all(raw).unwrap();
    }

    /// Reads one response; `head_request` means no body follows.
    pub fn read(&mut self, head_request: bool) -> std::io::Result<Response> {
        let mut line = String::new();
        if self.r.read_line(&mut line)? == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "closed",
            ));
        }
        let mut parts = line.trim_end().splitn(3, ' ');
        let version = parts.next().unwrap_or("").to_string();
        let status = parts.next().unwrap_or("0").parse().unwrap_or(0);
        let headers = read_headers(&mut self.r)?;
        let body = if head_request || status == 204 || status == 304 || (100..200).contains(&status)
        {
            Vec::new()
        } else {
            let close =
                header(&headers, "connection").is_some_and(|v| v.eq_ignore_ascii_case("close"));
            read_body(&mut self.r, &headers, close)?
        };
        Ok(Response {
            version,
            status,
            headers,
            body,
        })
    }

    pub fn get(&mut self, path: &str) -> Response {
        self.send(format!("GET {path} HTTP/1.1\r\nhost: test\r\n\r\n").as_bytes());
        self.read(false).unwrap()
    }

    /// Whether the server closed the connection (EOF within the timeout).
    pub fn is_closed(&mut self) -> bool {
        let mut b = [0u8; 1];
        matches!(self.r.read(&mut b), Ok(0) | Err(_))
    }
}

/// Sends one request on a fresh connection and reads the response.
pub fn request(addr: SocketAddr, raw: &[u8]) -> Response {
    let mut c = Client::connect(addr);
    c.send(raw);
    c.read(raw.starts_with(b"HEAD ")).unwrap()
}

/// FNV-1a, to compare large bodies.
pub fn checksum(data: &[u8]) -> u64 {
    data.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    })
}

/// Quick-mode settings for a test: an ephemeral port, one shard, no admin
/// listener (tests run in parallel and must not share fixed ports).
pub fn quick_tuning(upstreams: &[SocketAddr]) -> tuning::Tuning {
    let mut t = tuning::Tuning::quick(vec!["127.0.0.1:0".parse().unwrap()], upstreams.to_vec());
    t.shards = 1;
    t.cpus = None;
    t.admin = None;
    t
}

/// Starts coregate in-process in quick mode with `shards` shards.
pub fn start_quick(upstreams: &[SocketAddr], shards: usize) -> engine::Server {
    let mut t = quick_tuning(upstreams);
    t.shards = shards;
    start(t)
}

pub fn start(t: tuning::Tuning) -> engine::Server {
    engine::Server::start(t).expect("coregate starts")
}

/// Path of the built `coregate` binary.
pub fn coregate_bin() -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_BIN_EXE_coregate"))
}

/// Starts the `coregate` binary on a config file (output discarded),
/// with `extra` flags after it.
pub fn spawn_with_config(path: &std::path::Path, extra: &[&str]) -> std::process::Child {
    std::process::Command::new(coregate_bin())
        .arg("--config")
        .arg(path)
        .args(extra)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap()
}

/// One `GET path` on a new connection: the response's status, or the
/// error (refused, reset) of a server not serving yet.
pub fn try_get(addr: SocketAddr, path: &str) -> std::io::Result<u16> {
    let mut s = TcpStream::connect(addr)?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    s.write_all(
        format!("GET {path} HTTP/1.1\r\nhost: test\r\nconnection: close\r\n\r\n").as_bytes(),
    )?;
    let mut head = [0u8; 12];
    s.read_exact(&mut head)?;
    std::str::from_utf8(&head[9..12])
        .ok()
        .and_then(|t| t.parse().ok())
        .ok_or_else(|| std::io::Error::other("not an HTTP response"))
}

/// Waits until `addr` accepts connections.
pub fn wait_for_port(addr: SocketAddr) {
    for _ in 0..200 {
        if TcpStream::connect(addr).is_ok() {
            return;
        }
        thread::sleep(Duration::from_millis(25));
    }
    panic!("{addr} never accepted");
}

/// A free TCP port on 127.0.0.1 (bound then released).
pub fn free_port() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

/// An origin that can be killed (its port then refuses connections and its
/// open connections are reset) and started again on the same port.
pub struct Killable {
    pub addr: SocketAddr,
    pub requests: Arc<AtomicUsize>,
    stop: Arc<std::sync::atomic::AtomicBool>,
    thread: Option<thread::JoinHandle<()>>,
}

impl Killable {
    pub fn start() -> Killable {
        Killable::start_at("127.0.0.1:0".parse().unwrap())
    }

    pub fn start_at(addr: SocketAddr) -> Killable {
        let l = TcpListener::bind(addr).unwrap();
        l.set_nonblocking(true).unwrap();
        let addr = l.local_addr().unwrap();
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let requests = Arc::new(AtomicUsize::new(0));
        let (stop2, req2) = (stop.clone(), requests.clone());
        let thread = thread::spawn(move || {
            let mut conns: Vec<TcpStream> = Vec::new();
            let mut n = 0;
            while !stop2.load(Ordering::SeqCst) {
                match l.accept() {
                    Ok((s, _)) => {
                        s.set_nonblocking(false).unwrap();
                        n += 1;
                        conns.push(s.try_clone().unwrap());
                        let r = req2.clone();
                        thread::spawn(move || {
                            let _ = serve(s, n, addr.port(), &r, &mpsc::channel().0);
                        });
                    }
                    Err(_) => thread::sleep(Duration::from_millis(5)),
                }
            }
            for c in conns {
                let _ = socket2::SockRef::from(&c).set_linger(Some(Duration::ZERO));
                let _ = c.shutdown(Shutdown::Both);
            }
        });
        Killable {
            addr,
            requests,
            stop,
            thread: Some(thread),
        }
    }

    /// Closes the listener and resets every open connection.
    pub fn kill(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            t.join().unwrap();
        }
    }
}

impl Drop for Killable {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Parses a TOML config for a test (listen on an ephemeral port, no admin
/// unless the text sets one).
pub fn config(text: &str) -> tuning::Tuning {
    match tuning::parse_toml("test.toml", text) {
        Ok(t) => t,
        Err(e) => panic!("test config is invalid:\n{e}"),
    }
}

/// Raises the soft RLIMIT_NOFILE to the hard limit; returns the new limit.
#[allow(unsafe_code)]
pub fn raise_nofile() -> u64 {
    let mut r = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit with valid pointers to local structs.
    unsafe {
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut r);
        let new = libc::rlimit {
            rlim_cur: r.rlim_max,
            rlim_max: r.rlim_max,
        };
        if libc::setrlimit(libc::RLIMIT_NOFILE, &new) == 0 {
            return r.rlim_max;
        }
    }
    r.rlim_cur
}

/// A backend that accepts connections and never reads or answers: checks
/// against it stay pending, uploads to it stall.
pub fn black_hole() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    thread::spawn(move || {
        let mut held = Vec::new();
        for s in l.incoming().flatten() {
            held.push(s);
        }
    });
    addr
}

/// The access log's lines at `path`, parsed, once the shards' 100 ms
/// flush has passed; and the file's text, for messages.
pub fn log_entries(path: &std::path::Path) -> (Vec<serde_json::Value>, String) {
    thread::sleep(Duration::from_millis(300));
    let text = std::fs::read_to_string(path).unwrap();
    let entries = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    (entries, text)
}
