//! Request heads: `parse_request` and [`RequestHead`].

use bytes::{Buf, Bytes, BytesMut};

use crate::body::BodyKind;
use crate::error::ParseError;
use crate::headers::{self, is_tchar, version_error, Coding, Fields, Head, Version};
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
        matches!(
            self,
            Self::Get | Self::Head | Self::Put | Self::Delete | Self::Options | Self::Trace
        )
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

    /// Where the target lies in [`RequestHead::as_bytes`]; with
    /// [`Span::to_bytes`] it can be kept without copying.
    pub fn target_span(&self) -> Span {
        self.target
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
    /// hop-by-hop field is present, Content-Length is repeated (it is sent
    /// once), or the version is not 1.1.
    pub fn needs_rewrite(&self) -> bool {
        let f = &self.head.fields;
        f.hop_by_hop || f.content_length_repeated || self.version != Version::Http11
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
/// line are dropped (RFC 9112 §2.2); apart from those, `buf` is left as is on
/// `Ok(None)` and on error.
pub fn parse_request(
    buf: &mut BytesMut,
    limits: &Limits,
) -> Result<Option<RequestHead>, ParseError> {
    if !skip_empty_lines(buf)? {
        return Ok(None);
    }
    let window = &buf[..buf.len().min(limits.head_window())];
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
    let method = Method::from_bytes(method_span.slice(head));
    let mut out = RequestHead {
        head: Head::new(),
        method,
        method_span,
        target,
        version,
        body: BodyKind::Empty,
    };
    out.head.fill(head, req.headers)?;
    out.body = check_fields(version, &out.head.fields)?;
    out.head.set_bytes(buf.split_to(len).freeze());
    Ok(Some(out))
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
    if buffered > limits.head_window() {
        return Err(ParseError::HeadTooLarge);
    }
    Ok(None)
}

/// 414 as soon as the target seen so far is too long: the run of target
/// bytes after `method SP` (the bytes httparse accepts there).
fn check_target_run(window: &[u8], limits: &Limits) -> Result<(), ParseError> {
    let method_len = window
        .iter()
        .position(|&b| !is_tchar(b))
        .unwrap_or(window.len());
    if method_len == 0 || window.get(method_len) != Some(&b' ') {
        return Ok(());
    }
    let rest = &window[method_len + 1..];
    let run = rest
        .iter()
        .position(|&b| b <= b' ' || b == 0x7f)
        .unwrap_or(rest.len());
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
    let method_len = window
        .iter()
        .position(|&b| !is_tchar(b))
        .unwrap_or(window.len());
    let after_method = window.get(method_len + 1..).unwrap_or_default();
    let version_at = after_method
        .iter()
        .position(|&b| b == b' ')
        .map(|p| &after_method[p + 1..]);
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fuzz::request_outcome;

    const BROWSER: &[u8] = b"GET /index.html?q=1 HTTP/1.1\r\nHost: example.com\r\nUser-Agent: test\r\nAccept: */*\r\nConnection: keep-alive\r\n\r\n";

    /// Parses `input` split at every byte boundary; all must agree.
    fn outcome(input: &[u8]) -> Result<Option<crate::fuzz::Summary>, ParseError> {
        request_outcome(input, &Limits::default())
    }

    fn rejects(input: &[u8], want: ParseError) {
        assert_eq!(
            outcome(input),
            Err(want),
            "{:?}",
            String::from_utf8_lossy(input)
        );
    }

    /// Parses a valid fixture, after checking every split agrees.
    fn parse(input: &[u8]) -> RequestHead {
        assert!(outcome(input).unwrap().is_some());
        let mut buf = BytesMut::from(input);
        parse_request(&mut buf, &Limits::default())
            .unwrap()
            .unwrap()
    }

    fn with_header(line: &str) -> Vec<u8> {
        format!("POST / HTTP/1.1\r\nHost: a\r\n{line}\r\n\r\n").into_bytes()
    }

    #[test]
    fn browser_request() {
        let s = outcome(BROWSER).unwrap().unwrap();
        assert_eq!(s.head, BROWSER);
        let head = parse(BROWSER);
        assert_eq!(head.method(), Method::Get);
        assert_eq!(head.method_bytes(), b"GET");
        assert_eq!(head.target(), b"/index.html?q=1");
        assert_eq!(
            &head.target_span().to_bytes(head.as_bytes())[..],
            b"/index.html?q=1"
        );
        assert_eq!(head.version(), Version::Http11);
        assert_eq!(head.host(), Some(&b"example.com"[..]));
        assert_eq!(head.header("user-agent"), Some(&b"test"[..]));
        assert_eq!(head.header("missing"), None);
        assert_eq!(head.headers().count(), 4);
        assert_eq!(head.body(), BodyKind::Empty);
        assert!(head.keep_alive());
        assert!(!head.is_upgrade());
        assert!(head.is_hop_by_hop(b"connection"));
        assert!(!head.is_hop_by_hop(b"accept"));
    }

    #[test]
    fn incomplete_is_need_more_and_keeps_buffer() {
        let mut buf = BytesMut::from(&BROWSER[..BROWSER.len() - 1]);
        assert!(parse_request(&mut buf, &Limits::default())
            .unwrap()
            .is_none());
        assert_eq!(buf.len(), BROWSER.len() - 1);
        let mut empty = BytesMut::new();
        assert!(parse_request(&mut empty, &Limits::default())
            .unwrap()
            .is_none());
    }

    #[test]
    fn pipelined_body_and_next_request_stay_in_buffer() {
        let input = b"POST /u HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhelloGET / HTTP/1.1\r\nHost: a\r\n\r\n";
        let mut buf = BytesMut::from(&input[..]);
        let head = parse_request(&mut buf, &Limits::default())
            .unwrap()
            .unwrap();
        assert_eq!(head.body(), BodyKind::Length(5));
        assert_eq!(head.content_length(), Some(5));
        assert!(buf.starts_with(b"helloGET"));
    }

    #[test]
    fn framing_of_valid_requests() {
        let body = |line: &str| parse(&with_header(line)).body();
        assert_eq!(body("Content-Length: 10"), BodyKind::Length(10));
        assert_eq!(body("Content-Length: 0"), BodyKind::Empty);
        assert_eq!(body("Content-Length: 7, 7"), BodyKind::Length(7));
        assert_eq!(
            body("Content-Length: 7\r\nContent-Length: 7"),
            BodyKind::Length(7)
        );
        assert_eq!(body("Transfer-Encoding: chunked"), BodyKind::Chunked);
        assert_eq!(body("Transfer-Encoding: gzip, Chunked"), BodyKind::Chunked);
        assert_eq!(body("X: y"), BodyKind::Empty);
        for line in ["Content-Length: 3", "Transfer-Encoding: chunked"] {
            assert!(outcome(&with_header(line)).unwrap().is_some());
        }
    }

    #[test]
    fn leading_empty_lines_are_skipped() {
        let input = [&b"\r\n\r\n"[..], BROWSER].concat();
        assert_eq!(outcome(&input).unwrap().unwrap().head, BROWSER);
        rejects(&[&b"\n"[..], BROWSER].concat(), ParseError::BareNewline);
    }

    #[test]
    fn keep_alive_rules() {
        let ka = |input: &[u8]| parse(input).keep_alive();
        assert!(ka(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"));
        assert!(!ka(
            b"GET / HTTP/1.1\r\nHost: a\r\nConnection: Close\r\n\r\n"
        ));
        assert!(!ka(b"GET / HTTP/1.0\r\n\r\n"));
        assert!(ka(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"));
        assert!(!ka(
            b"GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n"
        ));
    }

    #[test]
    fn upgrade_expect_and_hop_by_hop() {
        let head = parse(b"GET /ws HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade, X-Trace\r\nExpect: 100-Continue\r\nX-Trace: 1\r\nContent-Length: 1\r\n\r\n");
        assert!(head.is_upgrade());
        assert_eq!(head.upgrade(), Some(&b"websocket"[..]));
        assert!(head.expect_continue());
        let listed: Vec<&[u8]> = head.connection().collect();
        assert_eq!(listed, vec![&b"Upgrade"[..], b"X-Trace"]);
        assert_eq!(head.transfer_encoding(), None);
        assert_eq!(head.keep_alive_header(), None);
        for name in [
            "Connection",
            "keep-alive",
            "Proxy-Connection",
            "TE",
            "Trailer",
            "Transfer-Encoding",
            "Upgrade",
            "x-trace",
        ] {
            assert!(head.is_hop_by_hop(name.as_bytes()), "{name}");
        }
        assert!(!head.is_hop_by_hop(b"content-length"));
        assert!(!head.is_hop_by_hop(b"host"));
        // Fields named by any token are dropped, on several lines too;
        // with only keep-alive and upgrade listed nothing else is.
        let head = parse(b"GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive\r\nConnection: close, X-Secret\r\nClose: 1\r\nX-Secret: s\r\nAccept: */*\r\n\r\n");
        assert!(head.is_hop_by_hop(b"x-secret") && head.is_hop_by_hop(b"close"));
        assert!(!head.is_hop_by_hop(b"accept"));
        let head = parse(b"GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, Upgrade\r\nUpgrade: h2c\r\nX-Secret: s\r\n\r\n");
        assert!(head.is_hop_by_hop(b"keep-alive") && head.is_hop_by_hop(b"upgrade"));
        assert!(!head.is_hop_by_hop(b"x-secret") && !head.is_hop_by_hop(b"host"));
        assert!(!parse(b"GET / HTTP/1.1\r\nHost: a\r\nUpgrade: h2c\r\n\r\n").is_upgrade());
    }

    #[test]
    fn connection_cannot_strip_framing_fields() {
        let head = parse(b"POST / HTTP/1.1\r\nHost: a\r\nConnection: content-length, host\r\nContent-Length: 1\r\n\r\n");
        assert!(!head.is_hop_by_hop(b"Content-Length"));
        assert!(!head.is_hop_by_hop(b"Host"));
    }

    #[test]
    fn methods() {
        assert_eq!(
            parse(b"PATCH / HTTP/1.1\r\nHost: a\r\n\r\n").method(),
            Method::Patch
        );
        let other = parse(b"PURGE / HTTP/1.1\r\nHost: a\r\n\r\n");
        assert_eq!(other.method(), Method::Other);
        assert_eq!(other.method_bytes(), b"PURGE");
        assert_eq!(Method::from_bytes(b"get"), Method::Other);
        assert!(Method::Put.is_idempotent() && Method::Get.is_idempotent());
        assert!(!Method::Post.is_idempotent() && !Method::Patch.is_idempotent());
        assert!(!Method::Connect.is_idempotent());
    }

    #[test]
    fn http10_without_host_is_fine() {
        let head = parse(b"GET / HTTP/1.0\r\n\r\n");
        assert_eq!(head.version(), Version::Http10);
        assert_eq!(head.host(), None);
    }

    // --- one test per rejection row of the issue, each fed split at every byte ---

    #[test]
    fn rejects_content_length_with_transfer_encoding() {
        rejects(
            &with_header("Content-Length: 5\r\nTransfer-Encoding: chunked"),
            ParseError::ContentLengthWithTransferEncoding,
        );
        rejects(
            &with_header("Transfer-Encoding: chunked\r\nContent-Length: 0"),
            ParseError::ContentLengthWithTransferEncoding,
        );
        assert_eq!(ParseError::ContentLengthWithTransferEncoding.status(), 400);
    }

    #[test]
    fn rejects_bad_content_length() {
        for line in [
            "Content-Length: 5\r\nContent-Length: 6",
            "Content-Length: 5, 6",
            "Content-Length: +5",
            "Content-Length: -1",
            "Content-Length: 0x10",
            "Content-Length: 5 5",
            "Content-Length: 1.0",
            "Content-Length:",
            "Content-Length: 5,",
            "Content-Length: 18446744073709551616",
            "Content-Length: 18446744073709551615",
            "Content-Length: 9223372036854775808",
            "Content-Length: 5\r\nContent-Length: 9223372036854775813",
        ] {
            rejects(&with_header(line), ParseError::InvalidContentLength);
        }
        assert_eq!(ParseError::InvalidContentLength.status(), 400);
    }

    #[test]
    fn content_length_up_to_i64_max_and_repeated() {
        let head = parse(&with_header("Content-Length: 9223372036854775807"));
        assert_eq!(head.content_length(), Some(i64::MAX as u64));
        assert!(!head.needs_rewrite());
        for line in [
            "Content-Length: 46, 46",
            "Content-Length: 46\r\nContent-Length: 46",
            "Content-Length: 46,046",
        ] {
            let head = parse(&with_header(line));
            assert_eq!(head.body(), BodyKind::Length(46), "{line}");
            assert!(head.needs_rewrite(), "{line} is forwarded once");
        }
    }

    #[test]
    fn rejects_transfer_encoding_not_chunked() {
        for line in [
            "Transfer-Encoding: gzip",
            "Transfer-Encoding: chunked, gzip",
            "Transfer-Encoding: chunked\r\nTransfer-Encoding: gzip",
            "Transfer-Encoding: chunked, chunked",
            "Transfer-Encoding: ,chunked",
            "Transfer-Encoding: chunked;q=1",
            "Transfer-Encoding: \"chunked\"",
            "Transfer-Encoding: xchunked",
            "Transfer-Encoding:",
        ] {
            rejects(&with_header(line), ParseError::TransferEncodingNotChunked);
        }
        assert_eq!(ParseError::TransferEncodingNotChunked.status(), 400);
    }

    #[test]
    fn rejects_http10_with_transfer_encoding() {
        rejects(
            b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n",
            ParseError::TransferEncodingHttp10,
        );
        rejects(
            b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n",
            ParseError::TransferEncodingHttp10,
        );
        assert_eq!(ParseError::TransferEncodingHttp10.status(), 400);
    }

    #[test]
    fn rejects_bare_newlines_in_head() {
        rejects(b"GET / HTTP/1.1\nHost: a\r\n\r\n", ParseError::BareNewline);
        rejects(b"GET / HTTP/1.1\r\nHost: a\n\r\n", ParseError::BareNewline);
        rejects(
            b"GET / HTTP/1.1\r\nHost: a\r\nX: b\nTransfer-Encoding: chunked\r\n\r\n",
            ParseError::BareNewline,
        );
        rejects(b"GET / HTTP/1.1\r\nHost: a\r\n\n", ParseError::BareNewline);
        rejects(b"GET / HTTP/1.1\r\nHost: a\r\n\rX", ParseError::BareNewline);
        rejects(b"GET / HTTP/1.1\rHost: a\r\n\r\n", ParseError::BareNewline);
    }

    #[test]
    fn rejects_obs_fold() {
        rejects(&with_header("X: a\r\n b"), ParseError::ObsFold);
        rejects(&with_header("X: a\r\n\tb"), ParseError::ObsFold);
        rejects(b"GET / HTTP/1.1\r\n Host: a\r\n\r\n", ParseError::ObsFold);
        assert_eq!(ParseError::ObsFold.status(), 400);
    }

    #[test]
    fn rejects_space_before_colon() {
        rejects(
            &with_header("Transfer-Encoding : chunked"),
            ParseError::SpaceBeforeColon,
        );
        rejects(
            &with_header("Content-Length\t: 1"),
            ParseError::SpaceBeforeColon,
        );
        assert_eq!(ParseError::SpaceBeforeColon.status(), 400);
    }

    #[test]
    fn rejects_nul_and_cr_in_value() {
        rejects(&with_header("X: a\0b"), ParseError::InvalidHeaderValue);
        rejects(&with_header("X: a\rb"), ParseError::InvalidHeaderValue);
        rejects(&with_header("X: a\x7fb"), ParseError::InvalidHeaderValue);
        rejects(&with_header("X: \x01"), ParseError::InvalidHeaderValue);
        assert_eq!(ParseError::InvalidHeaderValue.status(), 400);
    }

    #[test]
    fn rejects_bad_header_names() {
        rejects(&with_header("X@Y: a"), ParseError::InvalidHeaderName);
        rejects(&with_header(": a"), ParseError::InvalidHeaderName);
        rejects(&with_header("NoColon"), ParseError::InvalidHeaderName);
    }

    #[test]
    fn rejects_framing_lookalikes() {
        rejects(
            &with_header("Content_Length: 5"),
            ParseError::InvalidHeaderName,
        );
        rejects(
            &with_header("transfer_encoding: chunked"),
            ParseError::InvalidHeaderName,
        );
        assert!(outcome(&with_header("X_Content_Length: 5"))
            .unwrap()
            .is_some());
    }

    #[test]
    fn rejects_invalid_method() {
        for input in [
            &b"GE(T / HTTP/1.1\r\n\r\n"[..],
            b"G\0T / HTTP/1.1\r\n\r\n",
            b" GET / HTTP/1.1\r\n\r\n",
            b"GET\t/ HTTP/1.1\r\n\r\n",
            b"\xc3\xa9 / HTTP/1.1\r\n\r\n",
        ] {
            rejects(input, ParseError::InvalidMethod);
        }
        assert_eq!(ParseError::InvalidMethod.status(), 400);
    }

    #[test]
    fn rejects_unknown_version_with_505() {
        for v in ["HTTP/2.0", "HTTP/1.2", "HTTP/0.9", "HTTP/3.1"] {
            rejects(
                format!("GET / {v}\r\nHost: a\r\n\r\n").as_bytes(),
                ParseError::UnsupportedVersion,
            );
        }
        assert_eq!(ParseError::UnsupportedVersion.status(), 505);
        for v in [
            "HTTQ/1.1",
            "HTTP/1.x",
            "http/1.1",
            "HTTP/11",
            "HTTP/1.1 ",
            "HTTP/1.10",
        ] {
            rejects(
                format!("GET / {v}\r\nHost: a\r\n\r\n").as_bytes(),
                ParseError::InvalidVersion,
            );
        }
    }

    #[test]
    fn rejects_oversized_head_with_431() {
        let limits = Limits {
            max_head_bytes: 64,
            ..Limits::default()
        };
        let big = with_header(&format!("X: {}", "a".repeat(100)));
        assert_eq!(
            request_outcome(&big, &limits),
            Err(ParseError::HeadTooLarge)
        );
        // Fails before the head is complete, as soon as the buffer passes the limit.
        let mut partial = BytesMut::from(&big[..65]);
        assert_eq!(
            parse_request(&mut partial, &limits).unwrap_err(),
            ParseError::HeadTooLarge
        );
        let exact = Limits {
            max_head_bytes: BROWSER.len(),
            ..Limits::default()
        };
        assert!(request_outcome(BROWSER, &exact).unwrap().is_some());
        assert_eq!(ParseError::HeadTooLarge.status(), 431);
    }

    #[test]
    fn rejects_too_many_headers_with_431() {
        let limits = Limits {
            max_headers: 3,
            ..Limits::default()
        };
        let input = b"GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n";
        assert_eq!(
            request_outcome(input, &limits),
            Err(ParseError::TooManyHeaders)
        );
        let ok = Limits {
            max_headers: 4,
            ..Limits::default()
        };
        assert!(request_outcome(input, &ok).unwrap().is_some());
        let many: String = (0..200).map(|i| format!("X{i}: v\r\n")).collect();
        let input = format!("GET / HTTP/1.1\r\nHost: a\r\n{many}\r\n");
        let huge = Limits {
            max_headers: 10_000,
            ..Limits::default()
        };
        let mut buf = BytesMut::from(input.as_bytes());
        assert_eq!(
            parse_request(&mut buf, &huge).unwrap_err(),
            ParseError::TooManyHeaders
        );
        assert_eq!(ParseError::TooManyHeaders.status(), 431);
    }

    #[test]
    fn rejects_long_target_with_414_before_head_completes() {
        let limits = Limits {
            max_target_bytes: 16,
            ..Limits::default()
        };
        let long = format!("GET /{} HTTP/1.1\r\nHost: a\r\n\r\n", "a".repeat(16));
        assert_eq!(
            request_outcome(long.as_bytes(), &limits),
            Err(ParseError::TargetTooLong)
        );
        let mut partial = BytesMut::from(&long.as_bytes()[..24]);
        assert_eq!(
            parse_request(&mut partial, &limits).unwrap_err(),
            ParseError::TargetTooLong
        );
        let fits = format!("GET /{} HTTP/1.1\r\nHost: a\r\n\r\n", "a".repeat(15));
        assert!(request_outcome(fits.as_bytes(), &limits).unwrap().is_some());
        assert_eq!(ParseError::TargetTooLong.status(), 414);
    }

    #[test]
    fn rejects_bad_targets() {
        rejects(
            b"GET /a\x01b HTTP/1.1\r\nHost: a\r\n\r\n",
            ParseError::InvalidTarget,
        );
        rejects(
            b"GET /\xc3\xa9 HTTP/1.1\r\nHost: a\r\n\r\n",
            ParseError::InvalidTarget,
        );
        rejects(
            b"GET  / HTTP/1.1\r\nHost: a\r\n\r\n",
            ParseError::InvalidTarget,
        );
        rejects(b"GET /\r\n\r\n", ParseError::InvalidTarget);
    }

    #[test]
    fn host_rules() {
        rejects(b"GET / HTTP/1.1\r\n\r\n", ParseError::MissingHost);
        rejects(
            b"GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n",
            ParseError::DuplicateHost,
        );
        rejects(
            b"GET / HTTP/1.0\r\nHost: a\r\nhost: b\r\n\r\n",
            ParseError::DuplicateHost,
        );
        rejects(
            b"GET / HTTP/1.1\r\nHost: a b\r\n\r\n",
            ParseError::InvalidHost,
        );
        rejects(
            b"GET / HTTP/1.1\r\nHost: a/b\r\n\r\n",
            ParseError::InvalidHost,
        );
        let ipv6 = parse(b"GET / HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n");
        assert_eq!(ipv6.host(), Some(&b"[::1]:8080"[..]));
        assert!(outcome(b"GET * HTTP/1.1\r\nHost:\r\n\r\n")
            .unwrap()
            .is_some());
    }

    #[test]
    fn debug_is_short() {
        let s = format!("{:?}", parse(BROWSER));
        assert!(s.contains("Get") && s.contains("/index.html"));
    }
}
