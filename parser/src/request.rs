//! Request heads: `parse_request` and [`RequestHead`].

use bytes::{Buf, Bytes, BytesMut};

use crate::body::BodyKind;
use crate::error::ParseError;
use crate::headers::{self, is_tchar, version_error, Coding, Fields, Head, Parts, Version};
use crate::limits::Limits;
use crate::span::Span;

/// Request method (RFC 9110 §9). Extension methods are [`Method::Other`];
/// read their bytes with [`RequestHead::method_bytes`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Method {
    /// GET
    Get,
    /// HEAD
    Head,
    /// POST
    Post,
    /// PUT
    Put,
    /// DELETE
    Delete,
    /// CONNECT
    Connect,
    /// OPTIONS
    Options,
    /// TRACE
    Trace,
    /// PATCH
    Patch,
    /// Any other token.
    Other,
}

// === impl Method ===

impl Method {
    /// Maps method bytes (case-sensitive, RFC 9110 §9.1) to a [`Method`].
    pub fn from_bytes(m: &[u8]) -> Self {
        match m {
            b"GET" => Self::Get,
            b"HEAD" => Self::Head,
            b"POST" => Self::Post,
            b"PUT" => Self::Put,
            b"DELETE" => Self::Delete,
            b"CONNECT" => Self::Connect,
            b"OPTIONS" => Self::Options,
            b"TRACE" => Self::Trace,
            b"PATCH" => Self::Patch,
            _ => Self::Other,
        }
    }

    /// Idempotent methods (RFC 9110 §9.2.2): safe to retry on another upstream.
    pub fn is_idempotent(self) -> bool {
        matches!(self, Self::Get | Self::Head | Self::Put | Self::Delete | Self::Options | Self::Trace)
    }
}

/// A parsed request head: the head's own bytes plus offsets into them.
/// No allocation per header; spans live in an inline array.
#[derive(Clone)]
pub struct RequestHead {
    head: Head,
    method: Method,
    method_span: Span,
    target: Span,
    version: Version,
    body: BodyKind,
}

// === impl RequestHead ===

impl RequestHead {
    /// The original head bytes, final CRLFCRLF included.
    pub fn as_bytes(&self) -> &Bytes {
        self.head.bytes()
    }

    /// The method.
    pub fn method(&self) -> Method {
        self.method
    }

    /// The method as sent.
    pub fn method_bytes(&self) -> &[u8] {
        self.head.slice(self.method_span)
    }

    /// The request-target as sent (origin, absolute, authority or asterisk form).
    pub fn target(&self) -> &[u8] {
        self.head.slice(self.target)
    }

    /// The HTTP version.
    pub fn version(&self) -> Version {
        self.version
    }

    /// `(name, value)` of every header line, in order.
    pub fn headers(&self) -> impl Iterator<Item = (&[u8], &[u8])> {
        self.head.headers()
    }

    /// The first value of `name`, compared case-insensitively.
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        self.head.header(name)
    }

    /// The Host value (exactly one is guaranteed for HTTP/1.1).
    pub fn host(&self) -> Option<&[u8]> {
        self.head.header_at(self.head.fields.host)
    }

    /// The validated Content-Length, if any.
    pub fn content_length(&self) -> Option<u64> {
        self.head.fields.content_length
    }

    /// Body framing, already validated: `Empty`, `Length(n)` or `Chunked`.
    pub fn body(&self) -> BodyKind {
        self.body
    }

    /// Whether the connection persists after this exchange (RFC 9112 §9.3).
    pub fn keep_alive(&self) -> bool {
        self.head.fields.keep_alive(self.version)
    }

    /// Upgrade present and listed in Connection (RFC 9110 §7.8). The engine
    /// must not forward bytes after this head until it sees a 101.
    pub fn is_upgrade(&self) -> bool {
        self.head.fields.upgrade.is_some() && self.head.fields.conn_upgrade
    }

    /// The first Upgrade value.
    pub fn upgrade(&self) -> Option<&[u8]> {
        self.head.header_at(self.head.fields.upgrade)
    }

    /// `Expect: 100-continue` (RFC 9110 §10.1.1).
    pub fn expect_continue(&self) -> bool {
        self.head.fields.expect_continue
    }

    /// Connection-specific fields (RFC 9110 §7.6.1): Connection, Keep-Alive,
    /// Proxy-Connection, TE, Trailer, Transfer-Encoding, Upgrade and any name
    /// Connection lists, except Content-Length and Host, which are never dropped.
    pub fn is_hop_by_hop(&self, name: &[u8]) -> bool {
        self.head.is_hop_by_hop(name)
    }

    /// Whether a forwarded head differs from [`RequestHead::as_bytes`]: a
    /// hop-by-hop field is present or the version is not 1.1.
    pub fn needs_rewrite(&self) -> bool {
        self.head.fields.hop_by_hop || self.version != Version::Http11
    }
}

impl core::fmt::Debug for RequestHead {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("RequestHead")
            .field("method", &self.method)
            .field("target", &String::from_utf8_lossy(self.target()))
            .field("version", &self.version)
            .field("body", &self.body)
            .finish_non_exhaustive()
    }
}

/// Parses a request head at the front of `buf`.
///
/// `Ok(None)` means more bytes are needed; but a limit that is provably
/// exceeded fails at once (431 past `max_head_bytes`, 414 for a long target).
/// On `Ok(Some(head))` the head was split off the front of `buf`, which now
/// starts at the body or the next request. Empty lines before the request
/// line are dropped (RFC 9112 §2.2). On error `buf` is left as is.
pub fn parse_request(buf: &mut BytesMut, limits: &Limits) -> Result<Option<RequestHead>, ParseError> {
    if !skip_empty_lines(buf)? {
        return Ok(None);
    }
    let window = &buf[..buf.len().min(limits.max_head_bytes)];
    let mut raw = headers::raw_headers();
    let mut req = httparse::Request::new(&mut []);
    let len = match req.parse_with_uninit_headers(window, &mut raw[..limits.header_slots()]) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => {
            check_target_run(window, limits)?;
            return need_more(buf.len(), limits);
        }
        Err(err) => {
            check_target_run(window, limits)?;
            return match classify(err, window) {
                Some(err) => Err(err),
                None => need_more(buf.len(), limits),
            };
        }
    };
    let head = &window[..len];
    let method_span = Span::within(head, req.method.unwrap_or_default().as_bytes());
    let target = Span::within(head, req.path.unwrap_or_default().as_bytes());
    check_target(target.slice(head), limits)?;
    let version = Version::from_minor(req.version.unwrap_or_default());
    let parts = Parts::collect(head, req.headers)?;
    let body = check_fields(version, &parts.fields)?;
    let method = Method::from_bytes(method_span.slice(head));
    let head = parts.into_head(buf.split_to(len).freeze());
    Ok(Some(RequestHead { head, method, method_span, target, version, body }))
}

/// Drops CRLF pairs before the request line (RFC 9112 §2.2). Returns false
/// when only a lone CR is left and more bytes are needed.
fn skip_empty_lines(buf: &mut BytesMut) -> Result<bool, ParseError> {
    let mut n = 0;
    loop {
        match (buf.get(n), buf.get(n + 1)) {
            (Some(b'\r'), Some(b'\n')) => n += 2,
            (Some(b'\r'), None) => break,
            (Some(b'\r' | b'\n'), _) => return Err(ParseError::BareNewline),
            _ => break,
        }
    }
    buf.advance(n);
    Ok(!buf.is_empty() && buf[0] != b'\r')
}

fn need_more(buffered: usize, limits: &Limits) -> Result<Option<RequestHead>, ParseError> {
    if buffered > limits.max_head_bytes {
        return Err(ParseError::HeadTooLarge);
    }
    Ok(None)
}

/// 414 as soon as the target seen so far is too long: the run of target
/// bytes after `method SP` (the bytes httparse accepts there).
fn check_target_run(window: &[u8], limits: &Limits) -> Result<(), ParseError> {
    let method_len = window.iter().position(|&b| !is_tchar(b)).unwrap_or(window.len());
    if method_len == 0 || window.get(method_len) != Some(&b' ') {
        return Ok(());
    }
    let rest = &window[method_len + 1..];
    let run = rest.iter().position(|&b| b <= b' ' || b == 0x7f).unwrap_or(rest.len());
    if run > limits.max_target_bytes {
        return Err(ParseError::TargetTooLong);
    }
    Ok(())
}

/// RFC 9112 §3.2: the target is ASCII without whitespace or controls
/// (httparse lets obs-text through).
fn check_target(target: &[u8], limits: &Limits) -> Result<(), ParseError> {
    if target.len() > limits.max_target_bytes {
        return Err(ParseError::TargetTooLong);
    }
    if !target.iter().all(|&b| b.is_ascii_graphic()) {
        return Err(ParseError::InvalidTarget);
    }
    Ok(())
}

/// Maps an httparse error to a kind; `None` means "wait for more bytes".
fn classify(err: httparse::Error, window: &[u8]) -> Option<ParseError> {
    let method_len = window.iter().position(|&b| !is_tchar(b)).unwrap_or(window.len());
    let after_method = window.get(method_len + 1..).unwrap_or_default();
    let version_at = after_method.iter().position(|&b| b == b' ').map(|p| &after_method[p + 1..]);
    match err {
        httparse::Error::Token if method_len == 0 || window.get(method_len) != Some(&b' ') => {
            Some(ParseError::InvalidMethod)
        }
        httparse::Error::Token => Some(ParseError::InvalidTarget),
        httparse::Error::Version => version_error(version_at.unwrap_or_default()),
        httparse::Error::NewLine => Some(match version_at.and_then(|v| v.get(8)) {
            Some(b'\r' | b'\n') | None => ParseError::BareNewline,
            Some(_) => ParseError::InvalidVersion,
        }),
        other => Some(headers::header_error(other, window)),
    }
}

/// Request framing (RFC 9112 §6.1, §6.3) and Host (§3.2) rules.
fn check_fields(version: Version, fields: &Fields) -> Result<BodyKind, ParseError> {
    match (version, fields.host_count) {
        (_, 2..) => return Err(ParseError::DuplicateHost),
        (Version::Http11, 0) => return Err(ParseError::MissingHost),
        _ => {}
    }
    match (fields.coding, fields.content_length) {
        (Some(_), _) if version == Version::Http10 => Err(ParseError::TransferEncodingHttp10),
        (Some(_), Some(_)) => Err(ParseError::ContentLengthWithTransferEncoding),
        (Some(Coding::Chunked), None) => Ok(BodyKind::Chunked),
        (Some(_), None) => Err(ParseError::TransferEncodingNotChunked),
        (None, Some(n)) => Ok(BodyKind::from_length(n)),
        (None, None) => Ok(BodyKind::Empty),
    }
}

