//! A scripted raw origin: reads requests as they arrive on each connection,
//! logs what it saw, and answers with the bytes a case scripts.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

/// A complete response whose body marks a poisoned connection.
pub const POISON: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\nPOISON!";

/// What the origin does with the connection once its scripted reply is out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum After {
    /// Keep it and read the next request (pool reuse is fine).
    #[default]
    Keep,
    /// Close it (FIN).
    Close,
    /// Abort it (RST).
    Reset,
    /// Keep it, but answer every further request on it with [`POISON`]: a
    /// connection the gateway must never reuse.
    Poison,
}

/// How the origin answers one request path.
#[derive(Debug, Clone, Default)]
pub struct Script {
    /// Bytes written once the request is in.
    pub reply: Vec<u8>,
    /// Pause before `reply`.
    pub delay_ms: u64,
    /// More bytes written this many milliseconds after `reply`.
    pub late: Option<(u64, Vec<u8>)>,
    /// What happens to the connection afterwards.
    pub after: After,
}

impl Script {
    /// Answers with `reply` and keeps the connection.
    pub fn reply(reply: &[u8]) -> Script {
        Script {
            reply: reply.to_vec(),
            ..Script::default()
        }
    }
}

/// A request as the origin read it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub target: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// False when the connection ended before the head or body did.
    pub complete: bool,
}

impl Seen {
    /// Every value of header `name` (case-insensitive), in order.
    pub fn values(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }
}

/// The running origin: one listener shared by the route cases, one per
/// case (each case gets its own upstream group, so that a connection one
/// case leaves poisoned in the gateway's pool cannot leak into the next),
/// and the log of what it saw.
pub struct RawOrigin {
    /// The shared listener.
    pub main: SocketAddr,
    /// The listener of case `n`.
    pub cases: Vec<SocketAddr>,
    log: Receiver<Seen>,
}

impl RawOrigin {
    /// Starts the origin; case `n`'s listener answers as `scripts[n]` says
    /// (anything under `/ok/` excepted).
    pub fn start(scripts: Vec<Option<Script>>) -> std::io::Result<RawOrigin> {
        let (tx, log) = mpsc::channel();
        let main = listen(None, tx.clone())?;
        let cases = scripts
            .into_iter()
            .map(|s| listen(s, tx.clone()))
            .collect::<std::io::Result<_>>()?;
        Ok(RawOrigin { main, cases, log })
    }

    /// Everything seen since the last call, except the `/ok/` checks.
    pub fn take(&self) -> Vec<Seen> {
        self.log
            .try_iter()
            .filter(|s| !s.target.contains("/ok/"))
            .collect()
    }
}

/// A listener whose connections answer with `script`.
fn listen(script: Option<Script>, log: Sender<Seen>) -> std::io::Result<SocketAddr> {
    let l = TcpListener::bind("127.0.0.1:0")?;
    let addr = l.local_addr()?;
    let script = Arc::new(script);
    thread::spawn(move || {
        for s in l.incoming().flatten() {
            let (log, script) = (log.clone(), script.clone());
            thread::spawn(move || serve(s, script.as_ref().as_ref(), &log));
        }
    });
    Ok(addr)
}

/// Serves one connection until it ends or a script ends it.
fn serve(s: TcpStream, script: Option<&Script>, log: &Sender<Seen>) {
    let Ok(mut w) = s.try_clone() else { return };
    let mut r = BufReader::new(s);
    let mut poisoned = false;
    loop {
        let Some(seen) = read_request(&mut r) else {
            return;
        };
        let _ = log.send(seen.clone());
        if !seen.complete {
            return;
        }
        if poisoned {
            let _ = w.write_all(POISON);
            continue;
        }
        let script = match script {
            Some(s) if !seen.target.contains("/ok/") => s.clone(),
            _ => default_script(&seen.target),
        };
        if play(&mut w, &script).is_err() {
            return;
        }
        match script.after {
            After::Keep => {}
            After::Poison => poisoned = true,
            After::Close => return,
            After::Reset => {
                let _ = socket2::SockRef::from(&w).set_linger(Some(Duration::ZERO));
                return;
            }
        }
    }
}

/// `/ok/<token>` answers the token; anything else answers its own target.
fn default_script(target: &str) -> Script {
    let body = match target.split_once("/ok/") {
        Some((_, token)) => token.to_string(),
        None => format!("seen {target}"),
    };
    let head = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", body.len());
    Script::reply(&[head.as_bytes(), body.as_bytes()].concat())
}

/// Writes a script's reply, then its late bytes.
fn play(w: &mut TcpStream, script: &Script) -> std::io::Result<()> {
    thread::sleep(Duration::from_millis(script.delay_ms));
    w.write_all(&script.reply)?;
    if let Some((ms, late)) = &script.late {
        thread::sleep(Duration::from_millis(*ms));
        w.write_all(late)?;
    }
    Ok(())
}

/// Reads one line including its `\n`; `None` at EOF or on an error.
fn read_line(r: &mut impl BufRead) -> Option<Vec<u8>> {
    let mut line = Vec::new();
    match r.read_until(b'\n', &mut line) {
        Ok(0) | Err(_) => None,
        Ok(_) => Some(line),
    }
}

/// Text of a line without its line ending.
fn trimmed(line: &[u8]) -> String {
    let end = line.len()
        - line
            .iter()
            .rev()
            .take_while(|b| b"\r\n".contains(b))
            .count();
    String::from_utf8_lossy(&line[..end]).into_owned()
}

/// Reads one request, tolerantly: it records whatever the gateway sent.
fn read_request(r: &mut impl BufRead) -> Option<Seen> {
    let first = trimmed(&read_line(r)?);
    let mut parts = first.splitn(3, ' ');
    let mut seen = Seen {
        method: parts.next().unwrap_or("").to_string(),
        target: parts.next().unwrap_or("").to_string(),
        headers: Vec::new(),
        body: Vec::new(),
        complete: false,
    };
    loop {
        let Some(line) = read_line(r) else {
            return Some(seen);
        };
        let line = trimmed(&line);
        if line.is_empty() {
            break;
        }
        let (k, v) = line.split_once(':').unwrap_or((&line, ""));
        seen.headers.push((k.to_string(), v.trim().to_string()));
    }
    seen.complete = read_body(r, &mut seen).is_some();
    Some(seen)
}

/// Reads the body as the head frames it; `None` if it ends early.
fn read_body(r: &mut impl BufRead, seen: &mut Seen) -> Option<()> {
    if !seen.values("transfer-encoding").is_empty() {
        return read_chunked(r, &mut seen.body);
    }
    let n: u64 = match seen.values("content-length").first() {
        Some(v) => v.split(',').next()?.trim().parse().ok()?,
        None => 0,
    };
    r.take(n).read_to_end(&mut seen.body).ok()?;
    (seen.body.len() as u64 == n).then_some(())
}

/// Decodes a chunked body and skips its trailers.
fn read_chunked(r: &mut impl BufRead, body: &mut Vec<u8>) -> Option<()> {
    loop {
        let line = trimmed(&read_line(r)?);
        let size = line.split(';').next()?.trim();
        let size = usize::from_str_radix(size, 16).ok()?;
        if size == 0 {
            while !trimmed(&read_line(r)?).is_empty() {}
            return Some(());
        }
        let start = body.len();
        body.resize(start + size, 0);
        r.read_exact(&mut body[start..]).ok()?;
        read_line(r)?;
    }
}
