//! The client side: a strict, framing-aware HTTP/1.1 response reader with a
//! deadline, which tells a clean EOF from a reset and never hangs.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

/// How long one response may take to arrive.
pub const READ_TIMEOUT: Duration = Duration::from_secs(3);

/// How reading stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum End {
    /// Nothing more arrived before the deadline; the connection is open.
    Open,
    /// A clean EOF (FIN).
    Eof,
    /// An abortive close (ECONNRESET).
    Reset,
    /// Bytes arrived that no response accounts for.
    Extra(String),
    /// The gateway sent something that is not a valid response.
    Bad(String),
}

impl End {
    /// EOF or reset: the gateway closed the connection.
    pub fn is_closed(&self) -> bool {
        matches!(self, End::Eof | End::Reset)
    }
}

/// A response as the client read it.
#[derive(Debug, Clone, Default)]
pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub trailers: Vec<(String, String)>,
    /// Why the body stopped short, if it did.
    pub cut: Option<End>,
}

impl Resp {
    /// Every value of header `name` (case-insensitive), in order.
    pub fn values(&self, name: &str) -> Vec<&str> {
        values(&self.headers, name)
    }
}

fn values<'a>(h: &'a [(String, String)], name: &str) -> Vec<&'a str> {
    h.iter()
        .filter(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
        .collect()
}

/// A client connection with its receive buffer.
pub struct Wire {
    s: TcpStream,
    buf: Vec<u8>,
    deadline: Instant,
}

impl Wire {
    /// Connects to the gateway.
    pub fn connect(addr: SocketAddr) -> std::io::Result<Wire> {
        let s = TcpStream::connect(addr)?;
        s.set_nodelay(true)?;
        Ok(Wire {
            s,
            buf: Vec::new(),
            deadline: Instant::now(),
        })
    }

    /// Sends bytes; a gateway that already closed may refuse them.
    pub fn send(&mut self, raw: &[u8]) {
        let _ = self.s.write_all(raw);
    }

    /// Half-closes the sending side.
    pub fn shutdown_write(&mut self) {
        let _ = self.s.shutdown(std::net::Shutdown::Write);
    }

    /// Reads one final response, skipping interim (1xx) ones.
    pub fn response(&mut self, head_request: bool) -> Result<Resp, End> {
        self.deadline = Instant::now() + READ_TIMEOUT;
        loop {
            let (status, headers) = self.head()?;
            if (100..200).contains(&status) && status != 101 {
                continue;
            }
            let mut resp = Resp {
                status,
                headers,
                ..Resp::default()
            };
            let bodyless = head_request || matches!(status, 101 | 204 | 304);
            if !bodyless {
                resp.cut = self.body(&mut resp).err();
            }
            return Ok(resp);
        }
    }

    /// Waits up to `wait` for what follows the last response.
    pub fn probe(&mut self, wait: Duration) -> End {
        self.deadline = Instant::now() + wait;
        if self.buf.is_empty() {
            if let Err(end) = self.fill() {
                return end;
            }
        }
        // Gather what else comes right behind, for the report.
        self.deadline = Instant::now() + Duration::from_millis(50);
        while self.fill().is_ok() && self.buf.len() < 4096 {}
        End::Extra(String::from_utf8_lossy(&self.buf).into_owned())
    }

    /// Reads more bytes into the buffer (at least one, or why not).
    fn fill(&mut self) -> Result<(), End> {
        let mut chunk = [0u8; 16384];
        loop {
            let left = self.deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(End::Open);
            }
            if let Err(e) = self.s.set_read_timeout(Some(left)) {
                return Err(End::Bad(format!("set_read_timeout: {e}")));
            }
            match self.s.read(&mut chunk) {
                Ok(0) => return Err(End::Eof),
                Ok(n) => {
                    self.buf.extend_from_slice(&chunk[..n]);
                    return Ok(());
                }
                Err(e) => match e.kind() {
                    ErrorKind::Interrupted => {}
                    ErrorKind::WouldBlock | ErrorKind::TimedOut => return Err(End::Open),
                    ErrorKind::ConnectionReset => return Err(End::Reset),
                    _ => return Err(End::Bad(format!("read error {e}"))),
                },
            }
        }
    }

    /// One CRLF-terminated line, without the CRLF.
    fn line(&mut self) -> Result<Vec<u8>, End> {
        loop {
            if let Some(i) = self.buf.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = self.buf.drain(..=i).collect();
                return match line.strip_suffix(b"\r\n") {
                    Some(l) if !l.contains(&b'\r') => Ok(l.to_vec()),
                    _ => Err(bad("line not ended by CRLF", &line)),
                };
            }
            if self.buf.len() > 65536 {
                return Err(bad("line too long", &self.buf));
            }
            self.fill()?;
        }
    }

    /// Exactly `n` bytes.
    fn exact(&mut self, n: usize) -> Result<Vec<u8>, End> {
        while self.buf.len() < n {
            self.fill()?;
        }
        Ok(self.buf.drain(..n).collect())
    }

    /// A status line and header fields.
    fn head(&mut self) -> Result<(u16, Vec<(String, String)>), End> {
        let line = self.line()?;
        let status = parse_status(&line).ok_or_else(|| bad("bad status line", &line))?;
        Ok((status, self.fields()?))
    }

    /// Header or trailer fields up to the empty line.
    fn fields(&mut self) -> Result<Vec<(String, String)>, End> {
        let mut fields = Vec::new();
        loop {
            let line = self.line()?;
            if line.is_empty() {
                return Ok(fields);
            }
            fields.push(parse_field(&line).ok_or_else(|| bad("bad field line", &line))?);
        }
    }

    /// The body, framed as the head says.
    fn body(&mut self, resp: &mut Resp) -> Result<(), End> {
        let te = values(&resp.headers, "transfer-encoding").join(",");
        if !te.is_empty() {
            if !te.to_ascii_lowercase().trim_end().ends_with("chunked") {
                return Err(End::Bad(format!("transfer-encoding {te:?} to the client")));
            }
            return self.chunked(resp);
        }
        match values(&resp.headers, "content-length").as_slice() {
            [] => self.until_close(&mut resp.body),
            [n] => {
                let n: usize = n
                    .parse()
                    .map_err(|_| End::Bad(format!("content-length {n:?} to the client")))?;
                let got = self.exact(n);
                resp.body = match &got {
                    Ok(body) => body.clone(),
                    Err(_) => std::mem::take(&mut self.buf),
                };
                got.map(drop)
            }
            many => Err(End::Bad(format!("content-length {many:?} to the client"))),
        }
    }

    /// A close-delimited body: complete on EOF, cut on a reset or timeout.
    fn until_close(&mut self, body: &mut Vec<u8>) -> Result<(), End> {
        loop {
            match self.fill() {
                Ok(()) => {}
                Err(End::Eof) => {
                    *body = std::mem::take(&mut self.buf);
                    return Ok(());
                }
                Err(e) => {
                    *body = std::mem::take(&mut self.buf);
                    return Err(e);
                }
            }
        }
    }

    /// A chunked body and its trailers.
    fn chunked(&mut self, resp: &mut Resp) -> Result<(), End> {
        loop {
            let line = self.line()?;
            let text = String::from_utf8_lossy(&line);
            let size = text.split(';').next().unwrap_or("");
            let size =
                usize::from_str_radix(size, 16).map_err(|_| bad("bad chunk size line", &line))?;
            if size == 0 {
                resp.trailers = self.fields()?;
                return Ok(());
            }
            let data = self.exact(size)?;
            resp.body.extend_from_slice(&data);
            if self.exact(2)? != b"\r\n" {
                return Err(End::Bad("chunk data not followed by CRLF".into()));
            }
        }
    }
}

fn bad(what: &str, bytes: &[u8]) -> End {
    let shown: Vec<u8> = bytes.iter().copied().take(120).collect();
    End::Bad(format!("{what}: {:?}", String::from_utf8_lossy(&shown)))
}

/// `HTTP/1.x NNN reason` → NNN.
fn parse_status(line: &[u8]) -> Option<u16> {
    let text = std::str::from_utf8(line).ok()?;
    let rest = text
        .strip_prefix("HTTP/1.1 ")
        .or_else(|| text.strip_prefix("HTTP/1.0 "))?;
    let code = rest.get(..3)?;
    if !code.bytes().all(|b| b.is_ascii_digit()) || rest.len() > 3 && !rest[3..].starts_with(' ') {
        return None;
    }
    code.parse().ok()
}

/// `name: value` with a token name and no control bytes in the value.
fn parse_field(line: &[u8]) -> Option<(String, String)> {
    let colon = line.iter().position(|&b| b == b':')?;
    let (name, value) = (&line[..colon], &line[colon + 1..]);
    let token = |b: &u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(b);
    if name.is_empty() || !name.iter().all(token) {
        return None;
    }
    if value.iter().any(|&b| b < 0x20 && b != b'\t' || b == 0x7f) {
        return None;
    }
    let value = String::from_utf8_lossy(value).trim().to_string();
    Some((String::from_utf8_lossy(name).into_owned(), value))
}
