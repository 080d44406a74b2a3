//! Head code shared by requests and responses: span collection, the framing
//! and proxying fields, hop-by-hop rules and the mapping of httparse errors to
//! precise [`ParseError`] kinds.

use core::mem::MaybeUninit;

use bytes::Bytes;

use crate::error::ParseError;
use crate::limits::{MAX_BODY_TOTAL, MAX_HEADERS_CAPACITY};
use crate::span::{HeaderSpan, Span};

/// HTTP version of a message (RFC 9112 §2.3). Only 1.0 and 1.1 are accepted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Version {
    /// `HTTP/1.0`
    Http10,
    /// `HTTP/1.1`
    Http11,
}

// === impl Version ===

impl Version {
    /// The version as written on the wire.
    pub fn as_bytes(self) -> &'static [u8; 8] {
        match self {
            Self::Http10 => b"HTTP/1.0",
            Self::Http11 => b"HTTP/1.1",
        }
    }

    pub(crate) fn from_minor(minor: u8) -> Self {
        if minor == 0 {
            Self::Http10
        } else {
            Self::Http11
        }
    }
}

/// Uninitialised header slots for httparse, on the stack.
pub(crate) type RawHeaders<'b> = [MaybeUninit<httparse::Header<'b>>; MAX_HEADERS_CAPACITY];

pub(crate) fn raw_headers<'b>() -> RawHeaders<'b> {
    [const { MaybeUninit::uninit() }; MAX_HEADERS_CAPACITY]
}

/// `tchar` (RFC 9110 §5.6.2).
pub(crate) fn is_tchar(b: u8) -> bool {
    matches!(b,
        b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9'
        | b'!' | b'#' | b'$' | b'%' | b'&' | b'\'' | b'*' | b'+'
        | b'-' | b'.' | b'^' | b'_' | b'`' | b'|' | b'~')
}

/// Field-value bytes: HTAB, SP, VCHAR, obs-text (RFC 9110 §5.5).
pub(crate) fn is_value_byte(b: u8) -> bool {
    b == b'\t' || (b >= b' ' && b != 0x7f)
}

/// Trims optional whitespace (SP / HTAB) on both ends.
pub(crate) fn trim_ows(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = s {
        s = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = s {
        s = rest;
    }
    s
}

/// Elements of a comma-separated list with OWS trimmed (RFC 9110 §5.6.1).
pub(crate) fn list_items(value: &[u8]) -> impl Iterator<Item = &[u8]> {
    value.split(|&b| b == b',').map(trim_ows)
}

/// Header fields that drive framing and proxying.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Field {
    Host,
    ContentLength,
    TransferEncoding,
    Connection,
    Upgrade,
    Expect,
    /// Keep-Alive, Proxy-Connection, TE, Trailer: hop-by-hop, otherwise unused.
    HopByHop,
    Other,
}

fn field_of(name: &[u8]) -> Field {
    let is = |s: &str| name.eq_ignore_ascii_case(s.as_bytes());
    match name.len() {
        2 if is("te") => Field::HopByHop,
        4 if is("host") => Field::Host,
        6 if is("expect") => Field::Expect,
        7 if is("upgrade") => Field::Upgrade,
        7 if is("trailer") => Field::HopByHop,
        10 if is("connection") => Field::Connection,
        10 if is("keep-alive") => Field::HopByHop,
        14 if is("content-length") => Field::ContentLength,
        16 if is("proxy-connection") => Field::HopByHop,
        17 if is("transfer-encoding") => Field::TransferEncoding,
        _ => Field::Other,
    }
}

/// What a Transfer-Encoding list says about framing (RFC 9112 §6.1, §7).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Coding {
    /// `chunked` is the final coding, applied once.
    Chunked,
    /// Well-formed, but the final coding is not `chunked`.
    NotChunked,
    /// Not a token list, `chunked` with parameters, or `chunked` applied twice.
    Invalid,
}

/// Framing and proxying facts gathered in one pass over the header lines.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Fields {
    pub(crate) content_length: Option<u64>,
    /// Content-Length came as a list or on several lines (all equal): a
    /// forwarded head carries it once.
    pub(crate) content_length_repeated: bool,
    pub(crate) coding: Option<Coding>,
    pub(crate) host: Option<u16>,
    pub(crate) host_count: u16,
    pub(crate) upgrade: Option<u16>,
    pub(crate) conn_close: bool,
    pub(crate) conn_keep_alive: bool,
    pub(crate) conn_upgrade: bool,
    pub(crate) expect_continue: bool,
    /// A hop-by-hop field (other than Transfer-Encoding) is present, so a
    /// forwarded head must be rewritten.
    pub(crate) hop_by_hop: bool,
    /// A Connection line lists a token other than `keep-alive` and
    /// `upgrade`, which may name a field to drop: only then does
    /// [`Head::is_hop_by_hop`] search the Connection lists.
    pub(crate) conn_lists_fields: bool,
}

/// Transfer-Encoding list state across all its field lines.
#[derive(Clone, Copy, Default)]
struct TeState {
    last_chunked: bool,
    invalid: bool,
}

// === impl Fields ===

impl Fields {
    fn collect(bytes: &[u8], spans: &[HeaderSpan]) -> Result<Self, ParseError> {
        let mut fields = Self::default();
        let mut te: Option<TeState> = None;
        for (i, h) in spans.iter().enumerate() {
            let value = h.value().slice(bytes);
            match field_of(h.name().slice(bytes)) {
                Field::Host => fields.add_host(i, value)?,
                Field::ContentLength => fields.add_content_length(value)?,
                Field::TransferEncoding => {
                    add_coding(te.get_or_insert_with(TeState::default), value)
                }
                Field::Connection => fields.add_connection(value),
                Field::Upgrade => {
                    fields.hop_by_hop = true;
                    fields.upgrade.get_or_insert(i as u16);
                }
                Field::Expect => {
                    fields.expect_continue |= value.eq_ignore_ascii_case(b"100-continue")
                }
                Field::HopByHop => fields.hop_by_hop = true,
                Field::Other => check_lookalike(h.name().slice(bytes))?,
            }
        }
        fields.coding = te.map(|te| match te {
            TeState { invalid: true, .. } => Coding::Invalid,
            TeState {
                last_chunked: true, ..
            } => Coding::Chunked,
            _ => Coding::NotChunked,
        });
        Ok(fields)
    }

    fn add_host(&mut self, i: usize, value: &[u8]) -> Result<(), ParseError> {
        self.host_count = self.host_count.saturating_add(1);
        self.host.get_or_insert(i as u16);
        if !value.iter().all(|&b| is_host_byte(b)) {
            return Err(ParseError::InvalidHost);
        }
        Ok(())
    }

    /// RFC 9112 §6.3 item 5 / RFC 9110 §8.6: `1*DIGIT`; a list of identical
    /// values is accepted, anything else is an error, as is a value above
    /// [`MAX_BODY_TOTAL`].
    fn add_content_length(&mut self, value: &[u8]) -> Result<(), ParseError> {
        for item in list_items(value) {
            let n = parse_decimal(item)
                .filter(|&n| n <= MAX_BODY_TOTAL)
                .ok_or(ParseError::InvalidContentLength)?;
            match self.content_length {
                Some(prev) if prev != n => return Err(ParseError::InvalidContentLength),
                Some(_) => self.content_length_repeated = true,
                None => self.content_length = Some(n),
            }
        }
        Ok(())
    }

    fn add_connection(&mut self, value: &[u8]) {
        self.hop_by_hop = true;
        for item in list_items(value) {
            let keep_alive = item.eq_ignore_ascii_case(b"keep-alive");
            let upgrade = item.eq_ignore_ascii_case(b"upgrade");
            self.conn_close |= item.eq_ignore_ascii_case(b"close");
            self.conn_keep_alive |= keep_alive;
            self.conn_upgrade |= upgrade;
            // Keep-Alive and Upgrade are hop-by-hop anyway; any other
            // token may name a field that must be dropped.
            self.conn_lists_fields |= !(keep_alive || upgrade);
        }
    }

    /// RFC 9112 §9.3: 1.1 persists unless `close`; 1.0 only with `keep-alive`.
    pub(crate) fn keep_alive(&self, version: Version) -> bool {
        match version {
            Version::Http11 => !self.conn_close,
            Version::Http10 => self.conn_keep_alive && !self.conn_close,
        }
    }
}

/// Rejects `Content_Length` and `Transfer_Encoding`: some servers map `_` to
/// `-` and would frame the body by a field this crate ignores.
fn check_lookalike(name: &[u8]) -> Result<(), ParseError> {
    if is_framing_lookalike(name) {
        return Err(ParseError::InvalidHeaderName);
    }
    Ok(())
}

/// `Content_Length` or `Transfer_Encoding`, in any case.
pub(crate) fn is_framing_lookalike(name: &[u8]) -> bool {
    let dashed = |s: &[u8]| {
        name.len() == s.len()
            && name
                .iter()
                .zip(s)
                .all(|(&a, &b)| a.to_ascii_lowercase() == b || (a == b'_' && b == b'-'))
    };
    (name.len() == 14 || name.len() == 17)
        && (dashed(b"content-length") || dashed(b"transfer-encoding"))
}

/// Folds one Transfer-Encoding line into the list state (RFC 9112 §7:
/// `chunked` must be final and applied once; codings are tokens).
fn add_coding(te: &mut TeState, value: &[u8]) {
    for item in list_items(value) {
        let name = trim_ows(item.split(|&b| b == b';').next().unwrap_or(item));
        if name.is_empty() || !name.iter().all(|&b| is_tchar(b)) {
            te.invalid = true;
        }
        let chunked = name.eq_ignore_ascii_case(b"chunked");
        if chunked && (te.last_chunked || name.len() != item.len()) {
            te.invalid = true;
        }
        te.last_chunked = chunked;
    }
}

/// `1*DIGIT` without sign or whitespace, checked for overflow.
pub(crate) fn parse_decimal(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() {
        return None;
    }
    digits.iter().try_fold(0u64, |n, &b| {
        let d = b.wrapping_sub(b'0');
        if d > 9 {
            return None;
        }
        n.checked_mul(10)?.checked_add(u64::from(d))
    })
}

/// `uri-host [ ":" port ]` bytes (RFC 3986 reg-name, IP-literal, port).
fn is_host_byte(b: u8) -> bool {
    matches!(b,
        b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9'
        | b'-' | b'.' | b'_' | b'~' | b'%' | b'!' | b'$' | b'&' | b'\''
        | b'(' | b')' | b'*' | b'+' | b',' | b';' | b'=' | b':' | b'[' | b']')
}

/// A parsed head: its bytes plus header spans in an inline array.
#[derive(Clone)]
pub(crate) struct Head {
    bytes: Bytes,
    spans: [HeaderSpan; MAX_HEADERS_CAPACITY],
    count: usize,
    pub(crate) fields: Fields,
}

/// httparse accepts a bare LF as a line end (RFC 9112 §2.2 MAY); a proxy that
/// forwards the raw bytes must not, as the next hop may split lines differently.
/// Every field line must start after CRLF and the head must end in CRLFCRLF.
fn check_crlf(head: &[u8], spans: &[HeaderSpan]) -> Result<(), ParseError> {
    let crlf_before = |at: u32| {
        let at = at as usize;
        at >= 2 && head.get(at - 2..at) == Some(b"\r\n")
    };
    if !head.ends_with(b"\r\n\r\n") || !spans.iter().all(|h| crlf_before(h.name().start)) {
        return Err(ParseError::BareNewline);
    }
    Ok(())
}

// === impl Head ===

impl Head {
    /// An empty head, filled in place by [`Head::fill`] so the span array is
    /// written once and not moved through intermediate values.
    pub(crate) fn new() -> Self {
        Self {
            bytes: Bytes::new(),
            spans: [HeaderSpan::default(); MAX_HEADERS_CAPACITY],
            count: 0,
            fields: Fields::default(),
        }
    }

    /// Records spans for httparse's headers (borrowed from `base`, the head's
    /// bytes) and validates the shared rules: CRLF line endings and the
    /// framing fields.
    pub(crate) fn fill(
        &mut self,
        base: &[u8],
        headers: &[httparse::Header<'_>],
    ) -> Result<(), ParseError> {
        for (slot, h) in self.spans.iter_mut().zip(headers) {
            *slot = HeaderSpan::within(base, h.name.as_bytes(), h.value);
        }
        self.count = headers.len().min(MAX_HEADERS_CAPACITY);
        let spans = &self.spans[..self.count];
        check_crlf(base, spans)?;
        self.fields = Fields::collect(base, spans)?;
        Ok(())
    }

    /// Attaches the head's bytes, once split off the caller's buffer.
    pub(crate) fn set_bytes(&mut self, bytes: Bytes) {
        self.bytes = bytes;
    }

    pub(crate) fn bytes(&self) -> &Bytes {
        &self.bytes
    }

    pub(crate) fn slice(&self, span: Span) -> &[u8] {
        span.slice(&self.bytes)
    }

    pub(crate) fn headers(&self) -> impl Iterator<Item = (&[u8], &[u8])> {
        let bytes: &[u8] = &self.bytes;
        self.spans[..self.count]
            .iter()
            .map(move |h| (h.name().slice(bytes), h.value().slice(bytes)))
    }

    pub(crate) fn header(&self, name: &str) -> Option<&[u8]> {
        let name = name.as_bytes();
        self.headers()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    }

    pub(crate) fn header_at(&self, index: Option<u16>) -> Option<&[u8]> {
        let span = self.spans[..self.count].get(usize::from(index?))?;
        Some(self.slice(span.value()))
    }

    /// Tokens listed by all Connection lines (RFC 9110 §7.6.1), in order.
    pub(crate) fn connection(&self) -> impl Iterator<Item = &[u8]> {
        self.headers()
            .filter(|(n, _)| n.eq_ignore_ascii_case(b"connection"))
            .flat_map(|(_, v)| list_items(v))
            .filter(|t| !t.is_empty())
    }

    /// True when a Connection line lists `name`.
    pub(crate) fn connection_lists(&self, name: &[u8]) -> bool {
        self.connection().any(|t| t.eq_ignore_ascii_case(name))
    }

    /// RFC 9110 §7.6.1 connection-specific fields, plus those Connection lists.
    /// Content-Length and Host are never hop-by-hop, even when listed: dropping
    /// them would change the framing or routing the next hop sees.
    pub(crate) fn is_hop_by_hop(&self, name: &[u8]) -> bool {
        match field_of(name) {
            Field::Connection | Field::HopByHop | Field::TransferEncoding | Field::Upgrade => true,
            Field::ContentLength | Field::Host => false,
            Field::Expect | Field::Other => {
                self.fields.conn_lists_fields && self.connection_lists(name)
            }
        }
    }
}

/// Maps an httparse error inside the header section to a precise kind.
/// `buf` is everything parsed so far; field lines start after its first LF.
pub(crate) fn header_error(err: httparse::Error, buf: &[u8]) -> ParseError {
    match err {
        httparse::Error::HeaderName => name_error(buf),
        httparse::Error::HeaderValue => ParseError::InvalidHeaderValue,
        httparse::Error::TooManyHeaders => ParseError::TooManyHeaders,
        _ => ParseError::BareNewline,
    }
}

/// httparse says only "bad name"; walk the lines it accepted to the first bad
/// one and tell obs-fold (§5.2) and space-before-colon (§5.1) apart.
fn name_error(buf: &[u8]) -> ParseError {
    let mut rest = match buf.iter().position(|&b| b == b'\n') {
        Some(p) => &buf[p + 1..],
        None => return ParseError::InvalidHeaderName,
    };
    loop {
        if let [b' ' | b'\t', ..] = rest {
            return ParseError::ObsFold;
        }
        let name_len = rest
            .iter()
            .position(|&b| !is_tchar(b))
            .unwrap_or(rest.len());
        match rest.get(name_len) {
            Some(b':') if name_len > 0 => match rest.iter().position(|&b| b == b'\n') {
                Some(p) => rest = &rest[p + 1..],
                None => return ParseError::InvalidHeaderName,
            },
            Some(b' ' | b'\t') if name_len > 0 => return ParseError::SpaceBeforeColon,
            _ => return ParseError::InvalidHeaderName,
        }
    }
}

/// Classifies the bytes where a version should be. `None` means they match
/// `HTTP/DIGIT.DIGIT` so far but are incomplete: wait, so every split gives the
/// same answer. A complete well-formed version that is not 1.0/1.1 is 505
/// (RFC 9110 §15.6.6); anything else is 400.
pub(crate) fn version_error(v: &[u8]) -> Option<ParseError> {
    const PATTERN: &[u8; 8] = b"HTTP/0.0";
    for (i, (&b, &p)) in v.iter().zip(PATTERN).enumerate() {
        let ok = if i == 5 || i == 7 {
            b.is_ascii_digit()
        } else {
            b == p
        };
        if !ok {
            return Some(ParseError::InvalidVersion);
        }
    }
    (v.len() >= PATTERN.len()).then_some(ParseError::UnsupportedVersion)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal_is_strict() {
        assert_eq!(parse_decimal(b"0"), Some(0));
        assert_eq!(parse_decimal(b"00012"), Some(12));
        assert_eq!(parse_decimal(b"18446744073709551615"), Some(u64::MAX));
        assert_eq!(parse_decimal(b"18446744073709551616"), None);
        for bad in [&b""[..], b"+1", b"-1", b"1 2", b"0x10", b" 1", b"1.0"] {
            assert_eq!(parse_decimal(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn list_items_trim() {
        let items: Vec<&[u8]> = list_items(b" a ,\tb,, c").collect();
        assert_eq!(items, vec![&b"a"[..], b"b", b"", b"c"]);
    }

    fn coding(values: &[&[u8]]) -> Coding {
        let mut te = TeState::default();
        for v in values {
            add_coding(&mut te, v);
        }
        match te {
            TeState { invalid: true, .. } => Coding::Invalid,
            TeState {
                last_chunked: true, ..
            } => Coding::Chunked,
            _ => Coding::NotChunked,
        }
    }

    #[test]
    fn transfer_coding_rules() {
        assert_eq!(coding(&[b"chunked"]), Coding::Chunked);
        assert_eq!(coding(&[b"CHUNKED"]), Coding::Chunked);
        assert_eq!(coding(&[b"gzip, chunked"]), Coding::Chunked);
        assert_eq!(coding(&[b"gzip", b"chunked"]), Coding::Chunked);
        assert_eq!(coding(&[b"chunked, gzip"]), Coding::NotChunked);
        assert_eq!(coding(&[b"chunked", b"gzip"]), Coding::NotChunked);
        assert_eq!(coding(&[b"chunked, chunked"]), Coding::Invalid);
        assert_eq!(coding(&[b"chunked", b"chunked"]), Coding::Invalid);
        assert_eq!(coding(&[b",chunked"]), Coding::Invalid);
        assert_eq!(coding(&[b"chunked;x=1"]), Coding::Invalid);
        assert_eq!(coding(&[b"\"chunked\""]), Coding::Invalid);
        assert_eq!(coding(&[b"chunked "]), Coding::Chunked);
        assert_eq!(coding(&[b"xchunked"]), Coding::NotChunked);
    }

    #[test]
    fn version_classes() {
        assert_eq!(
            version_error(b"HTTP/2.0"),
            Some(ParseError::UnsupportedVersion)
        );
        assert_eq!(
            version_error(b"HTTP/1.2\r\n"),
            Some(ParseError::UnsupportedVersion)
        );
        assert_eq!(version_error(b"HTTP/2"), None);
        assert_eq!(version_error(b"HTTP/x"), Some(ParseError::InvalidVersion));
        assert_eq!(version_error(b"HTTX"), Some(ParseError::InvalidVersion));
        assert_eq!(version_error(b"HTTP/10"), Some(ParseError::InvalidVersion));
    }

    #[test]
    fn name_error_kinds() {
        assert_eq!(
            name_error(b"GET / HTTP/1.1\r\nA: b\r\n c"),
            ParseError::ObsFold
        );
        assert_eq!(
            name_error(b"GET / HTTP/1.1\r\nA : b"),
            ParseError::SpaceBeforeColon
        );
        assert_eq!(
            name_error(b"GET / HTTP/1.1\r\nA: b\r\nB\t:"),
            ParseError::SpaceBeforeColon
        );
        assert_eq!(
            name_error(b"GET / HTTP/1.1\r\nA@: b"),
            ParseError::InvalidHeaderName
        );
        assert_eq!(
            name_error(b"GET / HTTP/1.1\r\n:b"),
            ParseError::InvalidHeaderName
        );
        assert_eq!(
            name_error(b"GET / HTTP/1.1\r\n:b\r\nA : b"),
            ParseError::InvalidHeaderName
        );
    }

    #[test]
    fn field_names_case_insensitive() {
        assert_eq!(field_of(b"HOST"), Field::Host);
        assert_eq!(field_of(b"Content-length"), Field::ContentLength);
        assert_eq!(field_of(b"transfer-encoding"), Field::TransferEncoding);
        assert_eq!(field_of(b"TE"), Field::HopByHop);
        assert_eq!(field_of(b"X-Host"), Field::Other);
    }
}
