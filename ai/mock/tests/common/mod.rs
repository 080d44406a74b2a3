//! A tiny HTTP/1.1 client over std TcpStream for the mock's tests.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)] // test helper: failing loudly is the point

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use ai_mock::{Mock, MockConfig};
use serde_json::Value;

/// One keep-alive connection.
pub(crate) struct Client {
    w: TcpStream,
    r: BufReader<TcpStream>,
}

/// A response as read off the wire.
#[derive(Debug)]
pub(crate) struct Resp {
    pub(crate) status: u16,
    pub(crate) headers: Vec<(String, String)>,
    /// The body, de-chunked.
    pub(crate) body: Vec<u8>,
    /// Chunk payloads, when the body was chunked.
    pub(crate) chunks: Vec<Vec<u8>>,
    /// The body ended properly (length reached, or the last chunk came).
    pub(crate) complete: bool,
}

impl Client {
    pub(crate) fn connect(addr: SocketAddr) -> Client {
        let w = TcpStream::connect(addr).unwrap();
        w.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let r = BufReader::new(w.try_clone().unwrap());
        Client { w, r }
    }

    pub(crate) fn send(&mut self, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) {
        let mut out = format!("{method} {path} HTTP/1.1\r\nhost: mock\r\n");
        for (n, v) in headers {
            out.push_str(&format!("{n}: {v}\r\n"));
        }
        out.push_str(&format!("content-length: {}\r\n\r\n", body.len()));
        let mut bytes = out.into_bytes();
        bytes.extend_from_slice(body);
        self.w.write_all(&bytes).unwrap();
    }

    pub(crate) fn send_chunked(&mut self, path: &str, headers: &[(&str, &str)], pieces: &[&[u8]]) {
        let mut out =
            format!("POST {path} HTTP/1.1\r\nhost: mock\r\ntransfer-encoding: chunked\r\n");
        for (n, v) in headers {
            out.push_str(&format!("{n}: {v}\r\n"));
        }
        out.push_str("\r\n");
        self.w.write_all(out.as_bytes()).unwrap();
        for p in pieces {
            let chunk = format!("{:x}\r\n", p.len());
            self.w.write_all(chunk.as_bytes()).unwrap();
            self.w.write_all(p).unwrap();
            self.w.write_all(b"\r\n").unwrap();
        }
        self.w.write_all(b"0\r\n\r\n").unwrap();
    }

    pub(crate) fn write_raw(&mut self, bytes: &[u8]) {
        self.w.write_all(bytes).unwrap();
    }

    fn line(&mut self) -> Option<String> {
        let mut buf = String::new();
        match self.r.read_line(&mut buf) {
            Ok(0) | Err(_) => None,
            Ok(_) => Some(buf.trim_end_matches(['\r', '\n']).to_string()),
        }
    }

    /// Reads one response; `None` when the connection closed before a status line.
    pub(crate) fn read(&mut self) -> Option<Resp> {
        let status_line = self.line()?;
        let status = status_line.split(' ').nth(1)?.parse().ok()?;
        let mut headers = Vec::new();
        loop {
            let l = self.line()?;
            if l.is_empty() {
                break;
            }
            let (n, v) = l.split_once(':').unwrap();
            headers.push((n.to_ascii_lowercase(), v.trim().to_string()));
        }
        let mut resp = Resp {
            status,
            headers,
            body: Vec::new(),
            chunks: Vec::new(),
            complete: false,
        };
        if status / 100 == 1 || status == 204 || status == 304 {
            resp.complete = true;
        } else if resp.header("transfer-encoding") == Some("chunked") {
            self.read_chunks(&mut resp);
        } else if let Some(len) = resp.header("content-length") {
            let len: u64 = len.parse().unwrap();
            let _ = (&mut self.r).take(len).read_to_end(&mut resp.body);
            resp.complete = resp.body.len() as u64 == len;
        } else {
            let _ = self.r.read_to_end(&mut resp.body);
            resp.complete = true;
        }
        Some(resp)
    }

    fn read_chunks(&mut self, resp: &mut Resp) {
        loop {
            let Some(size) = self.line() else { return };
            let size = usize::from_str_radix(size.trim(), 16).unwrap();
            if size == 0 {
                resp.complete = self.line() == Some(String::new());
                return;
            }
            let mut chunk = vec![0; size];
            if self.r.read_exact(&mut chunk).is_err() {
                return;
            }
            assert_eq!(
                self.line().as_deref(),
                Some(""),
                "chunk not followed by CRLF"
            );
            resp.body.extend_from_slice(&chunk);
            resp.chunks.push(chunk);
        }
    }

    /// True when the server has closed the connection (EOF with nothing pending).
    pub(crate) fn closed(&mut self) -> bool {
        let mut buf = [0u8; 1];
        matches!(self.r.read(&mut buf), Ok(0) | Err(_))
    }

    pub(crate) fn call(&mut self, path: &str, headers: &[(&str, &str)], body: &Value) -> Resp {
        self.send("POST", path, headers, body.to_string().as_bytes());
        self.read().expect("a response")
    }
}

impl Resp {
    pub(crate) fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }

    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// SSE events as (event name, data).
    pub(crate) fn events(&self) -> Vec<(Option<String>, String)> {
        let text = String::from_utf8(self.body.clone()).unwrap();
        text.split("\n\n")
            .filter(|block| !block.is_empty())
            .map(|block| {
                let mut event = None;
                let mut data = String::new();
                for line in block.lines() {
                    if let Some(e) = line.strip_prefix("event: ") {
                        event = Some(e.to_string());
                    } else if let Some(d) = line.strip_prefix("data: ") {
                        data = d.to_string();
                    } else {
                        panic!("unexpected SSE line {line:?}");
                    }
                }
                (event, data)
            })
            .collect()
    }

    /// The data of every event, parsed as JSON.
    pub(crate) fn data_json(&self) -> Vec<Value> {
        self.events()
            .iter()
            .map(|(_, d)| serde_json::from_str(d).unwrap())
            .collect()
    }
}

pub(crate) fn start(cfg: MockConfig) -> Mock {
    Mock::start(cfg).unwrap()
}

/// A mock with short replies (3 words).
pub(crate) fn mock3() -> Mock {
    start(MockConfig {
        words: 3,
        ..MockConfig::default()
    })
}

/// One request on a fresh connection.
pub(crate) fn post(mock: &Mock, path: &str, headers: &[(&str, &str)], body: &Value) -> Resp {
    Client::connect(mock.addr()).call(path, headers, body)
}

pub(crate) const OPENAI: &[(&str, &str)] = &[
    ("authorization", "Bearer k1"),
    ("content-type", "application/json"),
];
pub(crate) const AZURE: &[(&str, &str)] = &[("api-key", "k1")];
pub(crate) const ANTHROPIC: &[(&str, &str)] =
    &[("x-api-key", "k1"), ("anthropic-version", "2023-06-01")];
pub(crate) const GEMINI: &[(&str, &str)] = &[("x-goog-api-key", "k1")];

pub(crate) const CHAT: &str = "/v1/chat/completions";
pub(crate) const MESSAGES: &str = "/v1/messages";

pub(crate) fn gemini_path(model: &str, stream: bool) -> String {
    if stream {
        format!("/v1beta/models/{model}:streamGenerateContent?alt=sse")
    } else {
        format!("/v1beta/models/{model}:generateContent")
    }
}
