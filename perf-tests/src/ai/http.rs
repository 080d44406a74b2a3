//! HTTP/1.1 for the ai scenarios' load: the requests (OpenAI chat through
//! coregate or straight to the mock, Anthropic Messages to the mock) and an
//! incremental response reader that de-chunks the body, counts SSE frames,
//! and notes the first content word (`w0`) and the `[DONE]` marker as the
//! bytes arrive, without keeping the body.

use std::net::SocketAddr;

/// Largest response head accepted.
const MAX_HEAD: usize = 16 * 1024;
/// Body bytes kept of an answer that is not 200 (to show what it was).
const ERROR_BODY: usize = 300;

/// The API a request speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Api {
    /// `POST {prefix}/v1/chat/completions`, `Authorization: Bearer`.
    OpenAi,
    /// `POST /v1/messages`, `x-api-key`, `anthropic-version`.
    Anthropic,
}

/// One chat request, ready to send.
#[derive(Debug, Clone)]
pub struct Call<'a> {
    /// The API it speaks.
    pub api: Api,
    /// Path prefix (`/ai` through coregate, empty to the mock).
    pub prefix: &'a str,
    /// The `model` field.
    pub model: &'a str,
    /// `"stream": true`.
    pub stream: bool,
    /// Extra header lines (`name: value`), e.g. a key.
    pub headers: &'a [String],
}

// === impl Call ===

impl Call<'_> {
    /// The request bytes, keep-alive.
    pub fn bytes(&self, host: SocketAddr) -> Vec<u8> {
        let stream = if self.stream { r#","stream":true"# } else { "" };
        let messages = r#""messages":[{"role":"user","content":"hello"}]"#;
        let (path, body) = match self.api {
            Api::OpenAi => (
                format!("{}/v1/chat/completions", self.prefix),
                format!(r#"{{"model":"{}",{messages}{stream}}}"#, self.model),
            ),
            Api::Anthropic => (
                format!("{}/v1/messages", self.prefix),
                format!(
                    r#"{{"model":"{}","max_tokens":4096,{messages}{stream}}}"#,
                    self.model
                ),
            ),
        };
        let mut head = format!(
            "POST {path} HTTP/1.1\r\nhost: {host}\r\ncontent-type: application/json\r\n\
             content-length: {}\r\n",
            body.len()
        );
        for h in self.headers {
            head.push_str(h);
            head.push_str("\r\n");
        }
        head.push_str("\r\n");
        head.push_str(&body);
        head.into_bytes()
    }
}

/// A byte pattern found across reads (the patterns used have no repeated
/// prefix, so a mismatch restarts cleanly).
#[derive(Debug, Clone, Default)]
struct Needle {
    pat: &'static [u8],
    at: usize,
    found: bool,
}

// === impl Needle ===

impl Needle {
    fn new(pat: &'static [u8]) -> Self {
        Self {
            pat,
            at: 0,
            found: false,
        }
    }

    fn feed(&mut self, b: u8) -> bool {
        if self.found {
            return false;
        }
        self.at = match (self.pat.get(self.at), self.pat.first()) {
            (Some(&p), _) if p == b => self.at + 1,
            (_, Some(&p)) if p == b => 1,
            _ => 0,
        };
        self.found = self.at == self.pat.len();
        self.found
    }
}

/// Where the chunked decoder is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Chunk {
    /// Reading a size line; the size so far and whether its digits ended.
    Size(usize, bool),
    /// This many data bytes left in the chunk.
    Data(usize),
    /// The CRLF after a chunk's data.
    DataEnd,
    /// Trailer lines; bytes in the current line.
    Trailer(usize),
}

/// How the body is framed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Body {
    Head,
    Length(usize),
    Chunked(Chunk),
    Done,
}

/// What a response reader saw.
#[derive(Debug, Clone)]
pub struct Reader {
    head: Vec<u8>,
    body: Body,
    /// The status code (0 until the head is read).
    pub status: u16,
    /// SSE frames (`\n\n`-terminated events) in the body.
    pub frames: u64,
    /// The first bytes of the body of an answer that is not 200.
    pub error_body: Vec<u8>,
    prev: u8,
    content: Needle,
    done: Needle,
}

impl Default for Reader {
    fn default() -> Self {
        Self {
            head: Vec::new(),
            body: Body::Head,
            status: 0,
            frames: 0,
            error_body: Vec::new(),
            prev: 0,
            content: Needle::new(b"w0\""),
            done: Needle::new(b"[DONE]"),
        }
    }
}

/// What one [`Reader::feed`] brought.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Fed {
    /// The first content word arrived in these bytes.
    pub first_content: bool,
    /// SSE frames completed in these bytes.
    pub frames: u64,
}

// === impl Reader ===

impl Reader {
    /// Ready for the next response on the connection.
    pub fn reset(&mut self) {
        *self = Self::default();
    }

    /// The whole response has arrived.
    pub fn complete(&self) -> bool {
        self.body == Body::Done
    }

    /// The body held `[DONE]`.
    pub fn saw_done(&self) -> bool {
        self.done.found
    }

    /// `HTTP 502: <the body's first bytes>`, for a report.
    pub fn describe(&self) -> String {
        let body = String::from_utf8_lossy(&self.error_body);
        let body = body.split_whitespace().collect::<Vec<_>>().join(" ");
        format!("HTTP {}: {body:?}", self.status)
    }

    /// Takes bytes off the wire.
    pub fn feed(&mut self, mut data: &[u8]) -> Result<Fed, String> {
        let mut fed = Fed::default();
        while !data.is_empty() && self.body != Body::Done {
            let used = match self.body {
                Body::Head => self.feed_head(data)?,
                Body::Length(left) => {
                    let n = left.min(data.len());
                    self.content_bytes(&data[..n], &mut fed);
                    self.body = if n == left {
                        Body::Done
                    } else {
                        Body::Length(left - n)
                    };
                    n
                }
                Body::Chunked(state) => self.feed_chunked(state, data, &mut fed)?,
                Body::Done => data.len(),
            };
            data = &data[used..];
        }
        Ok(fed)
    }

    fn content_bytes(&mut self, data: &[u8], fed: &mut Fed) {
        if self.status != 200 && self.error_body.len() < ERROR_BODY {
            let n = (ERROR_BODY - self.error_body.len()).min(data.len());
            self.error_body.extend_from_slice(&data[..n]);
        }
        for &b in data {
            if b == b'\n' && self.prev == b'\n' {
                self.frames += 1;
                fed.frames += 1;
            }
            self.prev = b;
            fed.first_content |= self.content.feed(b);
            self.done.feed(b);
        }
    }

    /// Collects the head; returns the bytes used.
    fn feed_head(&mut self, data: &[u8]) -> Result<usize, String> {
        let before = self.head.len();
        self.head.extend_from_slice(data);
        let Some(end) = self.head.windows(4).position(|w| w == b"\r\n\r\n") else {
            if self.head.len() > MAX_HEAD {
                return Err("response head too large".into());
            }
            return Ok(data.len());
        };
        self.body = parse_head(&self.head[..end + 2], &mut self.status)?;
        let used = end + 4 - before;
        self.head.clear();
        Ok(used)
    }

    fn feed_chunked(&mut self, state: Chunk, data: &[u8], fed: &mut Fed) -> Result<usize, String> {
        let (next, used) = match state {
            Chunk::Size(size, ended) => size_byte(size, ended, data[0])?,
            Chunk::Data(left) => {
                let n = left.min(data.len());
                self.content_bytes(&data[..n], fed);
                let next = if n == left {
                    Chunk::DataEnd
                } else {
                    Chunk::Data(left - n)
                };
                (Some(next), n)
            }
            Chunk::DataEnd => match data[0] {
                b'\r' => (Some(Chunk::DataEnd), 1),
                b'\n' => (Some(Chunk::Size(0, false)), 1),
                _ => return Err("no CRLF after a chunk".into()),
            },
            Chunk::Trailer(len) => match data[0] {
                b'\n' if len == 0 => (None, 1),
                b'\n' => (Some(Chunk::Trailer(0)), 1),
                b'\r' => (Some(Chunk::Trailer(len)), 1),
                _ => (Some(Chunk::Trailer(len + 1)), 1),
            },
        };
        self.body = next.map_or(Body::Done, Body::Chunked);
        Ok(used)
    }
}

/// One byte of a chunk-size line.
fn size_byte(size: usize, ended: bool, b: u8) -> Result<(Option<Chunk>, usize), String> {
    let next = match b {
        b'\n' if size == 0 => Chunk::Trailer(0),
        b'\n' => Chunk::Data(size),
        _ if ended => Chunk::Size(size, true),
        b'0'..=b'9' | b'a'..=b'f' | b'A'..=b'F' => {
            let digit = (b as char).to_digit(16).unwrap_or(0) as usize;
            let size = size
                .checked_mul(16)
                .and_then(|s| s.checked_add(digit))
                .ok_or("chunk size overflow")?;
            Chunk::Size(size, false)
        }
        _ => Chunk::Size(size, true),
    };
    Ok((Some(next), 1))
}

/// Status and framing from a head (ending with its last CRLF).
fn parse_head(head: &[u8], status: &mut u16) -> Result<Body, String> {
    let text = std::str::from_utf8(head).map_err(|_| "head is not UTF-8")?;
    let mut lines = text.split("\r\n");
    let first = lines.next().unwrap_or_default();
    *status = first
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("bad status line {first:?}"))?;
    let mut body = Body::Length(0);
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("content-length") {
            body = Body::Length(value.parse().map_err(|_| "bad content-length")?);
        } else if name.eq_ignore_ascii_case("transfer-encoding")
            && value.eq_ignore_ascii_case("chunked")
        {
            body = Body::Chunked(Chunk::Size(0, false));
        }
    }
    Ok(match body {
        Body::Length(0) => Body::Done,
        other => other,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A chunked SSE response: one chunk per frame, then the last chunk.
    fn sse() -> Vec<u8> {
        let mut out = b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n".to_vec();
        for frame in [
            "data: {\"a\":1}\n\n",
            "data: {\"c\":\"w0\"}\n\n",
            "data: [DONE]\n\n",
        ] {
            out.extend_from_slice(format!("{:x}\r\n{frame}\r\n", frame.len()).as_bytes());
        }
        out.extend_from_slice(b"0\r\n\r\n");
        out
    }

    #[test]
    fn reads_a_stream_in_any_split() {
        let sse = sse();
        for step in [1, 2, 3, 7, sse.len()] {
            let mut r = Reader::default();
            let mut first_at = None;
            for (i, piece) in sse.chunks(step).enumerate() {
                let fed = r.feed(piece).unwrap();
                if fed.first_content && first_at.is_none() {
                    first_at = Some(i);
                }
            }
            assert!(r.complete(), "step {step}");
            assert_eq!((r.status, r.frames, r.saw_done()), (200, 3, true));
            assert!(first_at.is_some());
        }
    }

    #[test]
    fn reads_a_sized_body() {
        let mut r = Reader::default();
        r.feed(b"HTTP/1.1 429 Too Many\r\nContent-Length: 5\r\n\r\nab")
            .unwrap();
        assert!(!r.complete());
        r.feed(b"cde").unwrap();
        assert!(r.complete());
        assert_eq!(r.status, 429);
        assert_eq!(r.error_body, b"abcde");
        r.reset();
        r.feed(b"HTTP/1.1 204 No\r\n\r\n").unwrap();
        assert!(r.complete());
    }

    #[test]
    fn builds_requests() {
        let host = "127.0.0.1:1".parse().unwrap();
        let keys = ["x-api-key: k".to_owned()];
        let call = Call {
            api: Api::Anthropic,
            prefix: "",
            model: "m",
            stream: true,
            headers: &keys,
        };
        let text = String::from_utf8(call.bytes(host)).unwrap();
        assert!(text.starts_with("POST /v1/messages HTTP/1.1\r\n"));
        assert!(text.contains("x-api-key: k\r\n\r\n{"));
        assert!(text.ends_with(r#""stream":true}"#));
        let (_, body) = text.split_once("\r\n\r\n").unwrap();
        assert!(text.contains(&format!("content-length: {}\r\n", body.len())));
    }
}
