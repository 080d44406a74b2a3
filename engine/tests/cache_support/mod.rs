//! A scripted origin for the cache tests: each response comes from a
//! closure of the request, with an optional delay; it counts requests per
//! path, and can go down (it then closes every connection unanswered).

#![allow(unreachable_pub, dead_code)]

use std::collections::HashMap;
use std::io::{BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use crate::common::{read_request, Seen};

/// What the script answers.
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub delay: Duration,
    /// Chunked instead of Content-Length.
    pub chunked: bool,
}

impl Reply {
    pub fn ok(body: &str, headers: &[(&str, &str)]) -> Reply {
        Reply {
            status: 200,
            headers: headers
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            body: body.as_bytes().to_vec(),
            delay: Duration::ZERO,
            chunked: false,
        }
    }
}

type Script = dyn Fn(&Seen) -> Reply + Send + Sync;

pub struct Scripted {
    pub addr: SocketAddr,
    seen: Arc<Mutex<HashMap<String, Vec<Seen>>>>,
    down: Arc<AtomicBool>,
}

impl Scripted {
    pub fn start(script: impl Fn(&Seen) -> Reply + Send + Sync + 'static) -> Scripted {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let seen: Arc<Mutex<HashMap<String, Vec<Seen>>>> = Arc::default();
        let down = Arc::new(AtomicBool::new(false));
        let script: Arc<Script> = Arc::new(script);
        let (s2, d2) = (seen.clone(), down.clone());
        thread::spawn(move || {
            for s in l.incoming() {
                let Ok(s) = s else { continue };
                let (seen, down, script) = (s2.clone(), d2.clone(), script.clone());
                thread::spawn(move || serve(s, &seen, &down, &*script));
            }
        });
        Scripted { addr, seen, down }
    }

    /// Requests received for `path` (the target without its query).
    pub fn count(&self, path: &str) -> usize {
        self.seen.lock().unwrap().get(path).map_or(0, Vec::len)
    }

    /// The last request received for `path`.
    pub fn last(&self, path: &str, header: &str) -> Option<String> {
        let seen = self.seen.lock().unwrap();
        seen.get(path)?.last()?.header(header).map(str::to_owned)
    }

    pub fn set_down(&self, down: bool) {
        self.down.store(down, Ordering::SeqCst);
    }
}

fn serve(
    s: TcpStream,
    seen: &Mutex<HashMap<String, Vec<Seen>>>,
    down: &AtomicBool,
    script: &Script,
) {
    let mut w = s.try_clone().unwrap();
    let mut r = BufReader::new(s);
    loop {
        if down.load(Ordering::SeqCst) {
            return;
        }
        let Ok(Some(req)) = read_request(&mut r) else {
            return;
        };
        if down.load(Ordering::SeqCst) {
            return;
        }
        let reply = script(&req);
        let path = req.target.split('?').next().unwrap_or("").to_owned();
        seen.lock().unwrap().entry(path).or_default().push(req);
        thread::sleep(reply.delay);
        let mut out = format!("HTTP/1.1 {} X\r\n", reply.status).into_bytes();
        for (k, v) in &reply.headers {
            out.extend_from_slice(format!("{k}: {v}\r\n").as_bytes());
        }
        let bodiless = reply.status == 304 || reply.status == 204;
        if reply.chunked {
            out.extend_from_slice(b"transfer-encoding: chunked\r\n\r\n");
            for piece in reply.body.chunks(1000) {
                out.extend_from_slice(format!("{:x}\r\n", piece.len()).as_bytes());
                out.extend_from_slice(piece);
                out.extend_from_slice(b"\r\n");
            }
            out.extend_from_slice(b"0\r\n\r\n");
        } else if bodiless {
            out.extend_from_slice(b"\r\n");
        } else {
            out.extend_from_slice(
                format!("content-length: {}\r\n\r\n", reply.body.len()).as_bytes(),
            );
            out.extend_from_slice(&reply.body);
        }
        if w.write_all(&out).is_err() {
            return;
        }
    }
}

/// One raw request on a fresh connection: the raw response head and the
/// body (de-chunked when chunked).
pub fn raw_exchange(addr: SocketAddr, req: &str) -> (String, Vec<u8>) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    s.write_all(req.as_bytes()).unwrap();
    let mut buf = Vec::new();
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        assert!(fill(&mut s, &mut buf) > 0, "closed before the head ended");
    };
    let head = String::from_utf8(buf[..head_end].to_vec()).unwrap();
    let mut rest = buf[head_end..].to_vec();
    if req.starts_with("HEAD ") || head[9..12].parse::<u16>().is_ok_and(|s| s == 304) {
        return (head, Vec::new());
    }
    if field(&head, "transfer-encoding") == Some("chunked") {
        return (head, dechunk(&mut s, &mut rest));
    }
    match field(&head, "content-length").map(|v| v.parse::<usize>().unwrap()) {
        Some(len) => {
            while rest.len() < len {
                assert!(fill(&mut s, &mut rest) > 0, "closed before the body ended");
            }
            rest.truncate(len);
        }
        None => while fill(&mut s, &mut rest) > 0 {},
    }
    (head, rest)
}

/// Reads more into `buf` (retrying on EINTR); 0 at EOF.
fn fill(s: &mut TcpStream, buf: &mut Vec<u8>) -> usize {
    let mut chunk = [0u8; 16384];
    loop {
        match s.read(&mut chunk) {
            Ok(n) => {
                buf.extend_from_slice(&chunk[..n]);
                return n;
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => panic!("read: {e}"),
        }
    }
}

fn dechunk(s: &mut TcpStream, raw: &mut Vec<u8>) -> Vec<u8> {
    let mut body = Vec::new();
    let mut at = 0;
    loop {
        let line_end = loop {
            if let Some(i) = raw[at..].windows(2).position(|w| w == b"\r\n") {
                break at + i;
            }
            assert!(fill(s, raw) > 0, "closed in a chunk line");
        };
        let size =
            usize::from_str_radix(std::str::from_utf8(&raw[at..line_end]).unwrap(), 16).unwrap();
        at = line_end + 2;
        while raw.len() < at + size + 2 {
            assert!(fill(s, raw) > 0, "closed in a chunk");
        }
        if size == 0 {
            return body;
        }
        body.extend_from_slice(&raw[at..at + size]);
        at += size + 2;
    }
}

/// The head without its `Age` and `Cache-Status` lines.
pub fn without_cache_fields(head: &str) -> String {
    head.split("\r\n")
        .filter(|l| {
            let name = l.split(':').next().unwrap_or("").to_ascii_lowercase();
            name != "age" && name != "cache-status"
        })
        .collect::<Vec<_>>()
        .join("\r\n")
}

/// The value of `name` in a raw head.
pub fn field<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.split("\r\n").find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.eq_ignore_ascii_case(name).then(|| v.trim())
    })
}
