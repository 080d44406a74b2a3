//! Response heads: `parse_response` and [`ResponseHead`].

use bytes::{Bytes, BytesMut};

use crate::body::BodyKind;
use crate::error::ParseError;
use crate::headers::{self, version_error, Coding, Fields, Head, Parts, Version};
use crate::limits::Limits;
use crate::request::Method;
use crate::span::Span;

/// A parsed response head: the head's own bytes plus offsets into them.
#[derive(Clone)]
pub struct ResponseHead {
    head: Head,
    status: u16,
    reason: Span,
    version: Version,
    body: BodyKind,
}

// === impl ResponseHead ===

impl ResponseHead {
    /// The original head bytes, final CRLFCRLF included.
    pub fn as_bytes(&self) -> &Bytes {
        self.head.bytes()
    }

    /// The status code (100..=999).
    pub fn status(&self) -> u16 {
        self.status
    }

    /// The reason phrase as sent (possibly empty).
    pub fn reason(&self) -> &[u8] {
        self.head.slice(self.reason)
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

    /// The validated Content-Length, if any (ignored for framing when
    /// Transfer-Encoding is present).
    pub fn content_length(&self) -> Option<u64> {
        self.head.fields.content_length
    }

    /// Body framing (RFC 9112 §6.3), decided with the request method.
    pub fn body(&self) -> BodyKind {
        self.body
    }

    /// Whether the upstream connection can be reused (RFC 9112 §9.3): never
    /// after a close-delimited body or a response carrying both
    /// Transfer-Encoding and Content-Length (RFC 9112 §6.3 item 3).
    pub fn keep_alive(&self) -> bool {
        let f = &self.head.fields;
        let suspicious = f.coding.is_some() && f.content_length.is_some();
        self.body != BodyKind::CloseDelimited && !suspicious && f.keep_alive(self.version)
    }

    /// An interim 1xx response other than 101: another head follows.
    pub fn is_informational(&self) -> bool {
        (100..200).contains(&self.status) && self.status != 101
    }

    /// Upgrade present and listed in Connection.
    pub fn is_upgrade(&self) -> bool {
        self.head.fields.upgrade.is_some() && self.head.fields.conn_upgrade
    }

    /// The first Upgrade value.
    pub fn upgrade(&self) -> Option<&[u8]> {
        self.head.header_at(self.head.fields.upgrade)
    }

    /// Connection-specific fields; see [`crate::RequestHead::is_hop_by_hop`].
    pub fn is_hop_by_hop(&self, name: &[u8]) -> bool {
        self.head.is_hop_by_hop(name)
    }

    /// Whether a forwarded head differs from [`ResponseHead::as_bytes`]: a
    /// hop-by-hop field, Content-Length beside Transfer-Encoding, or not 1.1.
    pub fn needs_rewrite(&self) -> bool {
        let f = &self.head.fields;
        f.hop_by_hop || self.drops_content_length() || self.version != Version::Http11
    }

    /// RFC 9112 §6.3 item 3: with Transfer-Encoding present, a proxy removes
    /// Content-Length before forwarding.
    pub(crate) fn drops_content_length(&self) -> bool {
        self.head.fields.coding.is_some() && self.head.fields.content_length.is_some()
    }
}

impl core::fmt::Debug for ResponseHead {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("ResponseHead")
            .field("status", &self.status)
            .field("version", &self.version)
            .field("body", &self.body)
            .finish_non_exhaustive()
    }
}

/// Parses a response head at the front of `buf`; `request_method` decides
/// HEAD and CONNECT semantics. Same contract as [`crate::parse_request`]:
/// `Ok(None)` means need more, and on success the head is split off `buf`.
pub fn parse_response(
    buf: &mut BytesMut,
    limits: &Limits,
    request_method: Method,
) -> Result<Option<ResponseHead>, ParseError> {
    if let Some(b'\r' | b'\n') = buf.first() {
        return Err(ParseError::InvalidStatus);
    }
    let window = &buf[..buf.len().min(limits.max_head_bytes)];
    let mut raw = headers::raw_headers();
    let mut res = httparse::Response::new(&mut []);
    let config = httparse::ParserConfig::default();
    let slots = &mut raw[..limits.header_slots()];
    let len = match config.parse_response_with_uninit_headers(&mut res, window, slots) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => return need_more(buf.len(), limits),
        Err(err) => {
            return match classify(err, window) {
                Some(err) => Err(err),
                None => need_more(buf.len(), limits),
            }
        }
    };
    let head = &window[..len];
    let status = res.code.unwrap_or_default();
    if status < 100 {
        return Err(ParseError::InvalidStatus);
    }
    let version = Version::from_minor(res.version.unwrap_or_default());
    let reason = reason_span(head);
    let parts = Parts::collect(head, res.headers)?;
    let body = framing(version, status, request_method, &parts.fields)?;
    let head = parts.into_head(buf.split_to(len).freeze());
    Ok(Some(ResponseHead { head, status, reason, version, body }))
}

fn need_more(buffered: usize, limits: &Limits) -> Result<Option<ResponseHead>, ParseError> {
    if buffered > limits.max_head_bytes {
        return Err(ParseError::HeadTooLarge);
    }
    Ok(None)
}

/// The reason phrase: after `HTTP/1.1 200 ` up to the line end. Found by
/// position, as httparse hides reasons holding obs-text.
fn reason_span(head: &[u8]) -> Span {
    let line_end = head.iter().position(|&b| b == b'\r' || b == b'\n').unwrap_or(0);
    let start = if head.get(12) == Some(&b' ') { 13 } else { line_end };
    Span::from_range(start.min(line_end), line_end)
}

fn classify(err: httparse::Error, window: &[u8]) -> Option<ParseError> {
    match err {
        httparse::Error::Version if window.starts_with(b"HTTP/1.") && window.len() > 8 => {
            Some(ParseError::InvalidStatus)
        }
        httparse::Error::Version => version_error(window),
        httparse::Error::Status | httparse::Error::Token => Some(ParseError::InvalidStatus),
        httparse::Error::NewLine => Some(ParseError::BareNewline),
        other => Some(headers::header_error(other, window)),
    }
}

/// RFC 9112 §6.3: the framing of a response, in the RFC's order.
fn framing(version: Version, status: u16, method: Method, f: &Fields) -> Result<BodyKind, ParseError> {
    if method == Method::Head || status < 200 || status == 204 || status == 304 {
        return Ok(BodyKind::Empty);
    }
    if method == Method::Connect && (200..300).contains(&status) {
        return Ok(BodyKind::Empty);
    }
    match (f.coding, f.content_length) {
        (Some(_), _) if version == Version::Http10 => Err(ParseError::TransferEncodingHttp10),
        (Some(Coding::Chunked), _) => Ok(BodyKind::Chunked),
        (Some(Coding::NotChunked), _) => Ok(BodyKind::CloseDelimited),
        (Some(Coding::Invalid), _) => Err(ParseError::TransferEncodingNotChunked),
        (None, Some(n)) => Ok(BodyKind::from_length(n)),
        (None, None) => Ok(BodyKind::CloseDelimited),
    }
}
