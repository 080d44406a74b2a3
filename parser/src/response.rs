//! Response heads: `parse_response` and [`ResponseHead`].

use bytes::{Bytes, BytesMut};

use crate::body::BodyKind;
use crate::error::ParseError;
use crate::headers::{self, version_error, Coding, Fields, Head, Version};
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

    /// The first Transfer-Encoding value as sent (framing is in `body()`).
    pub fn transfer_encoding(&self) -> Option<&[u8]> {
        self.head.header("transfer-encoding")
    }

    /// Tokens listed by Connection (`close`, `upgrade`, field names), in order.
    pub fn connection(&self) -> impl Iterator<Item = &[u8]> {
        self.head.connection()
    }

    /// The Keep-Alive value (e.g. `timeout=5, max=100`), a hop-by-hop hint.
    pub fn keep_alive_header(&self) -> Option<&[u8]> {
        self.head.header("keep-alive")
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
    /// hop-by-hop field, Content-Length beside Transfer-Encoding or repeated
    /// (it is sent once), or not 1.1.
    pub fn needs_rewrite(&self) -> bool {
        let f = &self.head.fields;
        f.hop_by_hop
            || f.content_length_repeated
            || self.drops_content_length()
            || self.version != Version::Http11
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
    let window = &buf[..buf.len().min(limits.head_window())];
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
    let mut out = ResponseHead {
        head: Head::new(),
        status,
        reason,
        version,
        body: BodyKind::Empty,
    };
    out.head.fill(head, res.headers)?;
    out.body = framing(version, status, request_method, &out.head.fields)?;
    out.head.set_bytes(buf.split_to(len).freeze());
    Ok(Some(out))
}

fn need_more(buffered: usize, limits: &Limits) -> Result<Option<ResponseHead>, ParseError> {
    if buffered > limits.head_window() {
        return Err(ParseError::HeadTooLarge);
    }
    Ok(None)
}

/// The reason phrase: after `HTTP/1.1 200 ` up to the line end. Found by
/// position, as httparse hides reasons holding obs-text.
fn reason_span(head: &[u8]) -> Span {
    let line_end = head
        .iter()
        .position(|&b| b == b'\r' || b == b'\n')
        .unwrap_or(0);
    let start = if head.get(12) == Some(&b' ') {
        13
    } else {
        line_end
    };
    Span::from_range(start.min(line_end), line_end)
}

fn classify(err: httparse::Error, window: &[u8]) -> Option<ParseError> {
    match err {
        httparse::Error::Version
            if window.len() > 8 && matches!(&window[..8], b"HTTP/1.0" | b"HTTP/1.1") =>
        {
            Some(ParseError::InvalidStatus)
        }
        httparse::Error::Version => version_error(window),
        httparse::Error::Status | httparse::Error::Token => Some(ParseError::InvalidStatus),
        httparse::Error::NewLine => Some(ParseError::BareNewline),
        other => Some(headers::header_error(other, window)),
    }
}

/// RFC 9112 §6.3: the framing of a response, in the RFC's order.
fn framing(
    version: Version,
    status: u16,
    method: Method,
    f: &Fields,
) -> Result<BodyKind, ParseError> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fuzz::response_outcome;

    fn outcome(input: &[u8], method: Method) -> Result<Option<crate::fuzz::Summary>, ParseError> {
        response_outcome(input, &Limits::default(), method)
    }

    /// Parses a valid fixture, after checking every split agrees.
    fn parse(input: &[u8], method: Method) -> ResponseHead {
        assert!(outcome(input, method).unwrap().is_some());
        let mut buf = BytesMut::from(input);
        parse_response(&mut buf, &Limits::default(), method)
            .unwrap()
            .unwrap()
    }

    fn body(input: &str, method: Method) -> BodyKind {
        outcome(input.as_bytes(), method).unwrap().unwrap().body
    }

    #[test]
    fn simple_response() {
        let input = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nServer: x\r\n\r\nhi";
        let s = outcome(input, Method::Get).unwrap().unwrap();
        assert_eq!(s.rest, b"hi");
        let head = parse(input, Method::Get);
        assert_eq!(head.status(), 200);
        assert_eq!(head.reason(), b"OK");
        assert_eq!(head.version(), Version::Http11);
        assert_eq!(head.body(), BodyKind::Length(2));
        assert_eq!(head.content_length(), Some(2));
        assert_eq!(head.header("server"), Some(&b"x"[..]));
        assert_eq!(head.headers().count(), 2);
        assert!(head.keep_alive());
        assert!(!head.needs_rewrite());
        assert!(format!("{head:?}").contains("200"));
    }

    #[test]
    fn reason_phrases() {
        assert_eq!(
            parse(b"HTTP/1.1 404 Not Found\r\n\r\n", Method::Get).reason(),
            b"Not Found"
        );
        assert_eq!(parse(b"HTTP/1.1 204\r\n\r\n", Method::Get).reason(), b"");
        assert_eq!(
            parse(b"HTTP/1.1 200 \xe9t\xe9\r\n\r\n", Method::Get).reason(),
            b"\xe9t\xe9"
        );
    }

    #[test]
    fn no_body_statuses_and_head() {
        for status in [
            "100 Continue",
            "101 Switching Protocols",
            "204 No Content",
            "304 Not Modified",
        ] {
            let input = format!("HTTP/1.1 {status}\r\nContent-Length: 10\r\n\r\n");
            assert_eq!(body(&input, Method::Get), BodyKind::Empty, "{status}");
        }
        let input = "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n";
        assert_eq!(body(input, Method::Head), BodyKind::Empty);
        assert_eq!(
            body(
                "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
                Method::Head
            ),
            BodyKind::Empty
        );
        assert_eq!(
            body("HTTP/1.1 200 OK\r\n\r\n", Method::Connect),
            BodyKind::Empty
        );
        assert_eq!(
            body(
                "HTTP/1.1 407 Auth\r\nContent-Length: 3\r\n\r\n",
                Method::Connect
            ),
            BodyKind::Length(3)
        );
        assert!(parse(b"HTTP/1.1 100 Continue\r\n\r\n", Method::Post).is_informational());
        assert!(!parse(b"HTTP/1.1 101 Switching\r\n\r\n", Method::Get).is_informational());
    }

    #[test]
    fn framing_rules() {
        assert_eq!(
            body(
                "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
                Method::Get
            ),
            BodyKind::Chunked
        );
        assert_eq!(
            body("HTTP/1.1 200 OK\r\n\r\n", Method::Get),
            BodyKind::CloseDelimited
        );
        assert_eq!(
            body(
                "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n",
                Method::Get
            ),
            BodyKind::CloseDelimited
        );
        assert_eq!(
            body("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", Method::Get),
            BodyKind::Empty
        );
        assert!(!parse(b"HTTP/1.1 200 OK\r\n\r\n", Method::Get).keep_alive());
    }

    #[test]
    fn transfer_encoding_wins_over_content_length() {
        let head = parse(
            b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
            Method::Get,
        );
        assert_eq!(head.body(), BodyKind::Chunked);
        assert_eq!(head.transfer_encoding(), Some(&b"chunked"[..]));
        assert!(!head.keep_alive());
        assert!(head.needs_rewrite());
    }

    #[test]
    fn keep_alive_rules() {
        assert!(!parse(
            b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            Method::Get
        )
        .keep_alive());
        assert!(!parse(b"HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n", Method::Get).keep_alive());
        assert!(parse(
            b"HTTP/1.0 200 OK\r\nContent-Length: 0\r\nConnection: keep-alive\r\n\r\n",
            Method::Get
        )
        .keep_alive());
        let ka = parse(
            b"HTTP/1.0 200 OK\r\nContent-Length: 0\r\nConnection: keep-alive\r\nKeep-Alive: timeout=5\r\n\r\n",
            Method::Get,
        );
        assert_eq!(ka.keep_alive_header(), Some(&b"timeout=5"[..]));
        assert_eq!(
            ka.connection().collect::<Vec<_>>(),
            vec![&b"keep-alive"[..]]
        );
    }

    #[test]
    fn rejections() {
        let cases: &[(&[u8], ParseError)] = &[
            (
                b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
                ParseError::InvalidContentLength,
            ),
            (
                b"HTTP/1.1 200 OK\r\nContent-Length: abc\r\n\r\n",
                ParseError::InvalidContentLength,
            ),
            (
                b"HTTP/1.1 200 OK\r\nContent-Length: 5, 6\r\n\r\n",
                ParseError::InvalidContentLength,
            ),
            (
                b"HTTP/1.1 200 OK\r\nContent-Length: 18446744073709551615\r\n\r\n",
                ParseError::InvalidContentLength,
            ),
            (
                b"HTTP/1.1 200 OK\r\nContent-Length: 9223372036854775808\r\n\r\n",
                ParseError::InvalidContentLength,
            ),
            (
                b"HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
                ParseError::TransferEncodingHttp10,
            ),
            (
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, chunked\r\n\r\n",
                ParseError::TransferEncodingNotChunked,
            ),
            (
                b"HTTP/1.1 200 OK\r\nX: a\r\n b\r\n\r\n",
                ParseError::ObsFold,
            ),
            (
                b"HTTP/1.1 200 OK\r\nX : a\r\n\r\n",
                ParseError::SpaceBeforeColon,
            ),
            (
                b"HTTP/1.1 200 OK\r\nX: a\0\r\n\r\n",
                ParseError::InvalidHeaderValue,
            ),
            (b"HTTP/1.1 200 OK\nX: a\r\n\r\n", ParseError::BareNewline),
            (b"HTTP/1.1 200 OK\r\nX: a\n\r\n", ParseError::BareNewline),
            (b"HTTP/2.0 200 OK\r\n\r\n", ParseError::UnsupportedVersion),
            (b"HTTQ/1.1 200 OK\r\n\r\n", ParseError::InvalidVersion),
            (b"HTTP/1.1 20 OK\r\n\r\n", ParseError::InvalidStatus),
            (b"HTTP/1.1 099 OK\r\n\r\n", ParseError::InvalidStatus),
            (b"HTTP/1.1x200 OK\r\n\r\n", ParseError::InvalidStatus),
            (b"HTTP/1.K 10 02O\r\n\r\n", ParseError::InvalidVersion),
            (b"\r\nHTTP/1.1 200 OK\r\n\r\n", ParseError::InvalidStatus),
        ];
        for (input, want) in cases {
            assert_eq!(
                outcome(input, Method::Get),
                Err(*want),
                "{:?}",
                String::from_utf8_lossy(input)
            );
        }
    }

    #[test]
    fn limits() {
        let limits = Limits {
            max_head_bytes: 32,
            ..Limits::default()
        };
        let input = b"HTTP/1.1 200 OK\r\nServer: a-very-long-server-name\r\n\r\n";
        assert_eq!(
            response_outcome(input, &limits, Method::Get),
            Err(ParseError::HeadTooLarge)
        );
        let limits = Limits {
            max_headers: 1,
            ..Limits::default()
        };
        let input = b"HTTP/1.1 200 OK\r\nA: 1\r\nB: 2\r\n\r\n";
        assert_eq!(
            response_outcome(input, &limits, Method::Get),
            Err(ParseError::TooManyHeaders)
        );
    }
}
