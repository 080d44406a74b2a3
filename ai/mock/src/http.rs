//! HTTP/1.1 framing: reads one request (Content-Length or chunked body) and
//! writes whole or chunked responses.

use std::io::{self, BufRead, Read, Write};

/// Longest request line or header line.
const MAX_LINE: u64 = 16 * 1024;
/// Most header lines in one request.
const MAX_HEADERS: usize = 128;
/// Largest request body.
const MAX_BODY: u64 = 64 * 1024 * 1024;

/// One parsed request.
pub(crate) struct Request {
    pub(crate) method: String,
    pub(crate) target: String,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Vec<u8>,
    /// The client asked to close after this exchange.
    pub(crate) close: bool,
}

impl Request {
    /// The path without its query.
    pub(crate) fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or("")
    }

    /// A query parameter's raw value (`Some("")` when present without a value).
    pub(crate) fn query(&self, name: &str) -> Option<&str> {
        let query = self.target.split_once('?')?.1;
        query.split('&').find_map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (k == name).then_some(v)
        })
    }

    /// The first header with this (lowercase) name.
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Why no request could be read.
#[derive(Debug)]
pub(crate) enum ReadError {
    /// The peer closed (or the socket failed) between requests.
    Closed,
    /// The bytes are not a request we accept; answer 400 and close.
    Bad(&'static str),
}

impl From<io::Error> for ReadError {
    fn from(_: io::Error) -> Self {
        ReadError::Closed
    }
}

/// Reads one line (without its CRLF); `None` at a clean end of input.
fn read_line<R: BufRead>(r: &mut R) -> Result<Option<String>, ReadError> {
    let mut buf = Vec::new();
    let n = r.by_ref().take(MAX_LINE).read_until(b'\n', &mut buf)?;
    if n == 0 {
        return Ok(None);
    }
    if buf.last() != Some(&b'\n') {
        return Err(if n as u64 >= MAX_LINE {
            ReadError::Bad("line too long")
        } else {
            ReadError::Closed
        });
    }
    buf.pop();
    if buf.last() == Some(&b'\r') {
        buf.pop();
    }
    String::from_utf8(buf)
        .map(Some)
        .map_err(|_| ReadError::Bad("line is not UTF-8"))
}

/// Reads a request; `w` receives `100 Continue` when the client expects it.
pub(crate) fn read_request<R: BufRead, W: Write>(
    r: &mut R,
    w: &mut W,
) -> Result<Request, ReadError> {
    let line = loop {
        match read_line(r)? {
            None => return Err(ReadError::Closed),
            Some(l) if l.is_empty() => continue,
            Some(l) => break l,
        }
    };
    let mut parts = line.split(' ');
    let (method, target, version) = match (parts.next(), parts.next(), parts.next()) {
        (Some(m), Some(t), Some(v)) if !m.is_empty() && t.starts_with('/') => (m, t, v),
        _ => return Err(ReadError::Bad("bad request line")),
    };
    if !version.starts_with("HTTP/1.") {
        return Err(ReadError::Bad("unsupported version"));
    }
    let headers = read_headers(r)?;
    let mut req = Request {
        method: method.to_string(),
        target: target.to_string(),
        headers,
        body: Vec::new(),
        close: version == "HTTP/1.0",
    };
    if let Some(c) = req.header("connection") {
        let c = c.to_ascii_lowercase();
        req.close = c.contains("close") || (req.close && !c.contains("keep-alive"));
    }
    if req
        .header("expect")
        .is_some_and(|e| e.eq_ignore_ascii_case("100-continue"))
    {
        w.write_all(b"HTTP/1.1 100 Continue\r\n\r\n")?;
    }
    req.body = read_body(r, &req)?;
    Ok(req)
}

/// Reads header lines up to the empty line; names are lowercased.
fn read_headers<R: BufRead>(r: &mut R) -> Result<Vec<(String, String)>, ReadError> {
    let mut headers = Vec::new();
    loop {
        let line = read_line(r)?.ok_or(ReadError::Closed)?;
        if line.is_empty() {
            return Ok(headers);
        }
        if headers.len() == MAX_HEADERS {
            return Err(ReadError::Bad("too many headers"));
        }
        let (name, value) = line.split_once(':').ok_or(ReadError::Bad("bad header"))?;
        if name.is_empty() || name.contains(char::is_whitespace) {
            return Err(ReadError::Bad("bad header name"));
        }
        headers.push((name.to_ascii_lowercase(), value.trim().to_string()));
    }
}

/// Reads the body the headers announce.
fn read_body<R: BufRead>(r: &mut R, req: &Request) -> Result<Vec<u8>, ReadError> {
    if let Some(te) = req.header("transfer-encoding") {
        if !te.to_ascii_lowercase().contains("chunked") {
            return Err(ReadError::Bad("unsupported transfer-encoding"));
        }
        return read_chunked(r);
    }
    let Some(len) = req.header("content-length") else {
        return Ok(Vec::new());
    };
    let len: u64 = len
        .parse()
        .map_err(|_| ReadError::Bad("bad content-length"))?;
    if len > MAX_BODY {
        return Err(ReadError::Bad("body too large"));
    }
    let mut body = Vec::with_capacity(len as usize);
    r.by_ref().take(len).read_to_end(&mut body)?;
    if body.len() as u64 != len {
        return Err(ReadError::Closed);
    }
    Ok(body)
}

/// Reads a chunked body and its trailers.
fn read_chunked<R: BufRead>(r: &mut R) -> Result<Vec<u8>, ReadError> {
    let mut body = Vec::new();
    loop {
        let line = read_line(r)?.ok_or(ReadError::Closed)?;
        let size = line.split(';').next().unwrap_or("").trim();
        let size = u64::from_str_radix(size, 16).map_err(|_| ReadError::Bad("bad chunk size"))?;
        if size == 0 {
            break;
        }
        if (body.len() as u64).saturating_add(size) > MAX_BODY {
            return Err(ReadError::Bad("body too large"));
        }
        let before = body.len();
        r.by_ref().take(size).read_to_end(&mut body)?;
        if (body.len() - before) as u64 != size {
            return Err(ReadError::Closed);
        }
        if !read_line(r)?.ok_or(ReadError::Closed)?.is_empty() {
            return Err(ReadError::Bad("chunk not followed by CRLF"));
        }
    }
    while !read_line(r)?.ok_or(ReadError::Closed)?.is_empty() {}
    Ok(body)
}

/// The reason phrase for a status.
pub(crate) fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        413 => "Payload Too Large",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        529 => "Overloaded",
        _ => "Status",
    }
}

/// The status line and headers, ending with the empty line.
pub(crate) fn head(status: u16, headers: &[(&str, String)], close: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    out.extend_from_slice(format!("HTTP/1.1 {status} {}\r\n", reason(status)).as_bytes());
    for (name, value) in headers {
        out.extend_from_slice(format!("{name}: {value}\r\n").as_bytes());
    }
    if close {
        out.extend_from_slice(b"connection: close\r\n");
    }
    out.extend_from_slice(b"\r\n");
    out
}

/// Writes a whole response with Content-Length in one write.
pub(crate) fn write_whole<W: Write>(
    w: &mut W,
    status: u16,
    headers: &[(&str, String)],
    body: &[u8],
    close: bool,
) -> io::Result<()> {
    let mut all = headers.to_vec();
    all.push(("content-length", body.len().to_string()));
    let mut out = head(status, &all, close);
    out.extend_from_slice(body);
    w.write_all(&out)?;
    w.flush()
}

/// Writes one chunk of a chunked body (never empty: that would end the body).
pub(crate) fn write_chunk<W: Write>(w: &mut W, data: &[u8]) -> io::Result<()> {
    if data.is_empty() {
        return Ok(());
    }
    let mut out = Vec::with_capacity(data.len() + 12);
    out.extend_from_slice(format!("{:x}\r\n", data.len()).as_bytes());
    out.extend_from_slice(data);
    out.extend_from_slice(b"\r\n");
    w.write_all(&out)?;
    w.flush()
}

/// Writes the last chunk, ending a chunked body.
pub(crate) fn write_last_chunk<W: Write>(w: &mut W) -> io::Result<()> {
    w.write_all(b"0\r\n\r\n")?;
    w.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(raw: &[u8]) -> Result<Request, ReadError> {
        let mut r = io::BufReader::new(raw);
        read_request(&mut r, &mut Vec::new())
    }

    #[test]
    fn chunked_body_with_extension_and_trailer() {
        let raw = b"POST /x?a=1&b HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3;ext=1\r\nabc\r\n2\r\nde\r\n0\r\nX-T: 1\r\n\r\n";
        let req = parse(raw).unwrap();
        assert_eq!(req.body, b"abcde");
        assert_eq!(req.path(), "/x");
        assert_eq!(req.query("a"), Some("1"));
        assert_eq!(req.query("b"), Some(""));
        assert_eq!(req.query("c"), None);
    }

    #[test]
    fn rejects_bad_input() {
        for raw in [
            &b"GARBAGE\r\n\r\n"[..],
            b"GET / HTTP/2\r\n\r\n",
            b"POST / HTTP/1.1\r\nContent-Length: x\r\n\r\n",
            b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
            b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffff\r\n",
            b"POST / HTTP/1.1\r\nContent-Length: 99999999999\r\n\r\n",
            b"POST / HTTP/1.1\r\nbad header\r\n\r\n",
        ] {
            assert!(matches!(parse(raw), Err(ReadError::Bad(_))), "{raw:?}");
        }
    }

    #[test]
    fn truncated_body_is_closed_and_http10_closes() {
        let short = parse(b"POST / HTTP/1.1\r\nContent-Length: 9\r\n\r\nabc");
        assert!(matches!(short, Err(ReadError::Closed)));
        let req = parse(b"GET / HTTP/1.0\r\n\r\n").unwrap();
        assert!(req.close);
        let req = parse(b"GET / HTTP/1.1\r\nConnection: Close\r\n\r\n").unwrap();
        assert!(req.close);
    }
}
