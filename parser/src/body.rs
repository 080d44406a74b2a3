//! Body framing (RFC 9112 §6): [`BodyKind`], the pass-through
//! [`BodyScanner`], the trailer-filtering [`BodyForwarder`] and the
//! de-chunking [`BodyDecoder`].

use bytes::{Buf, Bytes, BytesMut};

use crate::chunked::Chunked;
use crate::error::ParseError;
use crate::limits::Limits;

/// Framing of a message body.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BodyKind {
    /// No body (no framing fields, `Content-Length: 0`, HEAD/1xx/204/304 responses).
    Empty,
    /// Exactly this many bytes (RFC 9112 §6.3 item 6).
    Length(u64),
    /// The chunked coding (RFC 9112 §7.1).
    Chunked,
    /// Until the upstream closes the connection (responses only, §6.3 item 8).
    CloseDelimited,
}

// === impl BodyKind ===

impl BodyKind {
    pub(crate) fn from_length(n: u64) -> Self {
        if n == 0 {
            Self::Empty
        } else {
            Self::Length(n)
        }
    }
}

/// Result of one [`BodyScanner::scan`] call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Scan {
    /// How many leading bytes of the input belong to this body.
    pub consumed: usize,
    /// The message is complete; bytes after `consumed` are the next message.
    pub done: bool,
    /// How many of the `consumed` bytes (always their tail) belong to the
    /// trailer section of a chunked body, final CRLF included; 0 otherwise.
    pub trailer_bytes: usize,
}

#[derive(Clone, Copy, Debug)]
enum Framing {
    Empty,
    Length { remaining: u64, total: u64 },
    Chunked(Chunked),
    Close { seen: u64 },
}

// === impl Framing ===

impl Framing {
    fn new(kind: BodyKind) -> Self {
        match kind {
            BodyKind::Empty | BodyKind::Length(0) => Self::Empty,
            BodyKind::Length(n) => Self::Length {
                remaining: n,
                total: n,
            },
            BodyKind::Chunked => Self::Chunked(Chunked::new()),
            BodyKind::CloseDelimited => Self::Close { seen: 0 },
        }
    }

    fn body_bytes(&self) -> u64 {
        match self {
            Self::Empty => 0,
            Self::Length { remaining, total } => total - remaining,
            Self::Chunked(c) => c.body_bytes(),
            Self::Close { seen } => *seen,
        }
    }

    fn is_done(&self) -> bool {
        match self {
            Self::Empty => true,
            Self::Length { remaining, .. } => *remaining == 0,
            Self::Chunked(c) => c.is_done(),
            Self::Close { .. } => false,
        }
    }

    /// Payload bytes available now from `avail` input bytes, framing aside.
    fn take_data(&mut self, avail: usize) -> usize {
        match self {
            Self::Empty => 0,
            Self::Length { remaining, .. } => {
                let n = clamp(*remaining, avail);
                *remaining -= n as u64;
                n
            }
            Self::Chunked(c) => {
                let n = clamp(c.data_remaining(), avail);
                c.take_data(n);
                n
            }
            Self::Close { seen } => {
                *seen = seen.saturating_add(avail as u64);
                avail
            }
        }
    }
}

fn clamp(remaining: u64, avail: usize) -> usize {
    usize::try_from(remaining).map_or(avail, |r| r.min(avail))
}

/// Validating pass-through scanner: tells which raw bytes belong to the body
/// (chunk framing and trailers included), without copying, so the engine can
/// forward them untouched. A request body must be scanned to its end even when
/// it is not forwarded (a cache hit, an early error response): leftover body
/// bytes read as a next request are how CVE-2025-4366 smuggled requests.
#[derive(Clone, Debug)]
pub struct BodyScanner {
    framing: Framing,
}

// === impl BodyScanner ===

impl BodyScanner {
    /// A scanner for a body of this kind.
    pub fn new(kind: BodyKind) -> Self {
        Self {
            framing: Framing::new(kind),
        }
    }

    /// Scans the next input bytes; state is kept across calls, so any split
    /// of the body gives the same result. Chunk sizes are checked against
    /// `max_body_bytes` as they are announced.
    pub fn scan(&mut self, input: &[u8], limits: &Limits) -> Result<Scan, ParseError> {
        let mut pos = 0;
        let mut trailer_from = None;
        while pos < input.len() && !self.framing.is_done() {
            let taken = self.framing.take_data(input.len() - pos);
            pos += taken;
            if let Framing::Chunked(c) = &mut self.framing {
                // `frame` stops right after the last chunk's size line.
                if c.in_trailers() {
                    trailer_from.get_or_insert(pos);
                }
                pos += c.frame(&input[pos..], limits)?;
            } else if taken == 0 {
                break;
            }
        }
        Ok(Scan {
            consumed: pos,
            done: self.framing.is_done(),
            trailer_bytes: trailer_from.map_or(0, |from| pos - from),
        })
    }

    /// Payload bytes seen so far (for chunked: the sum of chunk data), for
    /// [`Limits::check_body`].
    pub fn body_bytes(&self) -> u64 {
        self.framing.body_bytes()
    }

    /// The body is complete. Never true for close-delimited bodies.
    pub fn is_done(&self) -> bool {
        self.framing.is_done()
    }
}

/// Result of one [`BodyForwarder::scan`] call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Forward {
    /// How many leading bytes of the input belong to this body.
    pub consumed: usize,
    /// How many leading bytes of the input to forward untouched (`<=
    /// consumed`); the bytes between `pass` and `consumed` are trailer bytes
    /// the forwarder now holds.
    pub pass: usize,
    /// The message is complete; [`BodyForwarder::take_trailers`] has the
    /// filtered trailer section of a chunked body.
    pub done: bool,
}

/// A [`BodyScanner`] for bodies forwarded raw that removes the trailer
/// fields RFC 9110 §6.5.1 keeps out of trailers ([`crate::is_forbidden_trailer`]).
///
/// Chunk sizes, extensions and data pass untouched and uncopied: each
/// [`BodyForwarder::scan`] says how many input bytes to forward as they are.
/// The trailer section (after the last chunk's size line, bounded by
/// [`Limits::max_trailer_bytes`]) is copied aside instead, however the input
/// is split, and once the body is complete [`BodyForwarder::take_trailers`]
/// gives it back filtered, to be sent after the forwarded bytes. An empty
/// section (the usual `0\r\n\r\n` ending) costs no allocation.
#[derive(Clone, Debug)]
pub struct BodyForwarder {
    scanner: BodyScanner,
    held: BytesMut,
    tail: Option<Bytes>,
}

// === impl BodyForwarder ===

impl BodyForwarder {
    /// A forwarder for a body of this kind.
    pub fn new(kind: BodyKind) -> Self {
        Self {
            scanner: BodyScanner::new(kind),
            held: BytesMut::new(),
            tail: None,
        }
    }

    /// Scans the next input bytes like [`BodyScanner::scan`], holding back
    /// trailer bytes.
    pub fn scan(&mut self, input: &[u8], limits: &Limits) -> Result<Forward, ParseError> {
        let s = self.scanner.scan(input, limits)?;
        let pass = s.consumed - s.trailer_bytes;
        if s.trailer_bytes > 0 {
            self.hold(&input[pass..s.consumed], s.done);
        }
        Ok(Forward {
            consumed: s.consumed,
            pass,
            done: s.done,
        })
    }

    /// Keeps trailer bytes; filters the section once it is complete.
    fn hold(&mut self, trailer: &[u8], done: bool) {
        if done && self.held.is_empty() && trailer == b"\r\n" {
            self.tail = Some(Bytes::from_static(b"\r\n"));
            return;
        }
        self.held.extend_from_slice(trailer);
        if done {
            let mut out = BytesMut::with_capacity(self.held.len());
            crate::filter_trailers(&self.held, &mut out);
            self.held = BytesMut::new();
            self.tail = Some(out.freeze());
        }
    }

    /// The filtered trailer section, final CRLF included, once a chunked
    /// body is complete; `None` before that, for other framings, and after
    /// it was taken.
    pub fn take_trailers(&mut self) -> Option<Bytes> {
        self.tail.take()
    }

    /// Payload bytes seen so far; see [`BodyScanner::body_bytes`].
    pub fn body_bytes(&self) -> u64 {
        self.scanner.body_bytes()
    }

    /// The body is complete. Never true for close-delimited bodies.
    pub fn is_done(&self) -> bool {
        self.scanner.is_done()
    }
}

/// What [`BodyDecoder::decode`] produced.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decoded {
    /// Payload bytes, split off the caller's buffer without copying.
    Data(Bytes),
    /// The buffer holds no more payload; read more and call again.
    NeedMore,
    /// The body is complete; the buffer now starts at the next message.
    Done,
}

/// Decoder yielding payload slices with the chunked framing removed, e.g.
/// to de-chunk a response for an HTTP/1.0 client. Trailers are validated and
/// dropped. Zero copy: each `Data` is split off the caller's `BytesMut`.
#[derive(Clone, Debug)]
pub struct BodyDecoder {
    framing: Framing,
}

// === impl BodyDecoder ===

impl BodyDecoder {
    /// A decoder for a body of this kind.
    pub fn new(kind: BodyKind) -> Self {
        Self {
            framing: Framing::new(kind),
        }
    }

    /// Decodes from the front of `buf`, consuming framing bytes and splitting
    /// off payload. Close-delimited bodies never report `Done` (end on EOF).
    pub fn decode(&mut self, buf: &mut BytesMut, limits: &Limits) -> Result<Decoded, ParseError> {
        loop {
            if self.framing.is_done() {
                return Ok(Decoded::Done);
            }
            let n = self.framing.take_data(buf.len());
            if n > 0 {
                return Ok(Decoded::Data(buf.split_to(n).freeze()));
            }
            let Framing::Chunked(c) = &mut self.framing else {
                return Ok(Decoded::NeedMore);
            };
            let framed = c.frame(buf, limits)?;
            buf.advance(framed);
            if buf.is_empty() && !c.is_done() {
                return Ok(Decoded::NeedMore);
            }
        }
    }

    /// Payload bytes decoded so far.
    pub fn body_bytes(&self) -> u64 {
        self.framing.body_bytes()
    }

    /// The body is complete.
    pub fn is_done(&self) -> bool {
        self.framing.is_done()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fuzz::{chunked_outcome, forwarded};

    fn chunked(input: &[u8]) -> (Result<bool, ParseError>, usize, Vec<u8>) {
        chunked_outcome(input, &Limits::default(), true)
    }

    fn rejects(input: &[u8], want: ParseError) {
        assert_eq!(
            chunked(input).0,
            Err(want),
            "{:?}",
            String::from_utf8_lossy(input)
        );
    }

    #[test]
    fn chunked_body_with_extensions_and_trailers() {
        let input = b"5;name=value;q=\"a b\"\r\nhello\r\n6 ; x\r\n world\r\n0\r\nExpires: never\r\nX-Sum: 1\r\n\r\nNEXT";
        let (res, consumed, payload) = chunked(input);
        assert_eq!(res, Ok(true));
        assert_eq!(consumed, input.len() - 4);
        assert_eq!(payload, b"hello world");
    }

    #[test]
    fn chunk_sizes() {
        assert_eq!(chunked(b"A\r\n0123456789\r\n0\r\n\r\n").2, b"0123456789");
        assert_eq!(
            chunked(b"0000a\r\n0123456789\r\n000\r\n\r\n").2,
            b"0123456789"
        );
        assert_eq!(chunked(b"0\r\n\r\n"), (Ok(true), 5, Vec::new()));
        assert_eq!(chunked(b"5\r\nhel").0, Ok(false));
    }

    #[test]
    fn rejects_bad_chunk_sizes() {
        for input in [
            &b"x\r\n"[..],
            b"\r\n",
            b"-1\r\n",
            b"+5\r\n",
            b"0x5\r\nhello\r\n0\r\n\r\n",
            b"5 5\r\nhello\r\n",
            b"5garbage\r\n",
            b" 5\r\n",
            b"5 \r\nhello\r\n",
            b"5\t\r\nhello\r\n",
            b"10000000000000000\r\n",
            b"fffffffffffffffff\r\n",
        ] {
            rejects(input, ParseError::InvalidChunkSize);
        }
        assert_eq!(ParseError::InvalidChunkSize.status(), 400);
    }

    fn with_ext(ext: &str) -> Vec<u8> {
        format!("5{ext}\r\nhello\r\n0\r\n\r\n").into_bytes()
    }

    #[test]
    fn valid_chunk_extensions() {
        for ext in [
            ";a=b",
            " ;a=b",
            "\t; a = b",
            ";a=b;c=\"d\\\"e\"",
            ";a",
            ";a;b=c",
            ";a=\"x y\"",
            ";a=\"\"",
            ";a=b ;c",
            ";a=\"q\" ; c=\"\\\\\"",
            ";a=\"\u{e9}\\\t\"",
            ";!#$%&'*+-.^_`|~=!#$%&'*+-.^_`|~",
        ] {
            let input = with_ext(ext);
            assert_eq!(chunked(&input).0, Ok(true), "{ext:?}");
            let (res, fwd) = forwarded(&input, &Limits::default(), true);
            assert_eq!((res, fwd), (Ok(true), input), "extensions pass untouched");
        }
    }

    #[test]
    fn rejects_bad_chunk_extensions() {
        for ext in [
            ";",
            "; ",
            ";a=\"b",
            ";;a",
            ";=b",
            ";a=",
            ";a= ",
            ";a ",
            ";a=b ",
            ";a=\"b\" ",
            ";a=b c",
            ";a b",
            ";a=\"b\"c",
            ";a=b\"",
            ";a@b",
            ";a=b@",
            ";a=\x00",
            ";\x00",
            ";a=\"\x01\"",
            ";a=\"\\\x01\"",
            ";a=\"b\\",
            ";a=\"b\r\"",
            ";a=\"\x7f\"",
            "; ;a",
        ] {
            rejects(&with_ext(ext), ParseError::InvalidChunkExtension);
        }
        rejects(b"5;a=\"b\nc\"\r\n", ParseError::BareNewline);
        rejects(b"5;a=\"b\\\n\"\r\n", ParseError::BareNewline);
        assert_eq!(ParseError::InvalidChunkExtension.status(), 400);
        assert_eq!(
            ParseError::InvalidChunkExtension.as_str(),
            "invalid_chunk_extension"
        );
    }

    #[test]
    fn chunk_extensions_count_against_the_line_limit() {
        let limits = Limits {
            max_chunk_line_bytes: 11,
            ..Limits::default()
        };
        let fits = b"5;a=\"bcd\"\r\nhello\r\n0\r\n\r\n";
        assert_eq!(chunked_outcome(fits, &limits, true).0, Ok(true));
        let long = b"5;a=\"bcde\"\r\nhello\r\n0\r\n\r\n";
        assert_eq!(
            chunked_outcome(long, &limits, true).0,
            Err(ParseError::ChunkLineTooLong)
        );
    }

    #[test]
    fn body_total_is_capped_at_i64_max() {
        assert_eq!(chunked(b"7fffffffffffffff\r\nab").0, Ok(false));
        rejects(b"8000000000000000\r\n", ParseError::InvalidChunkSize);
        rejects(b"ffffffffffffffff\r\n", ParseError::InvalidChunkSize);
        rejects(
            b"1\r\na\r\n7fffffffffffffff\r\n",
            ParseError::InvalidChunkSize,
        );
        assert_eq!(chunked(b"1\r\na\r\n7ffffffffffffffe\r\n").0, Ok(false));
    }

    #[test]
    fn scan_reports_trailer_bytes() {
        let limits = Limits::default();
        let mut s = BodyScanner::new(BodyKind::Chunked);
        let r = s.scan(b"2\r\nhi\r\n0\r\nX-A: 1\r", &limits).unwrap();
        assert_eq!((r.consumed, r.done, r.trailer_bytes), (17, false, 7));
        let r = s.scan(b"\n\r\nNEXT", &limits).unwrap();
        assert_eq!((r.consumed, r.done, r.trailer_bytes), (3, true, 3));
        let mut s = BodyScanner::new(BodyKind::Chunked);
        let r = s.scan(b"0\r\n", &limits).unwrap();
        assert_eq!((r.consumed, r.done, r.trailer_bytes), (3, false, 0));
        let r = s.scan(b"\r\n", &limits).unwrap();
        assert_eq!((r.consumed, r.done, r.trailer_bytes), (2, true, 2));
    }

    /// Trailer fields RFC 9110 §6.5.1 keeps out of trailers, each spelled as
    /// a forwarded message might carry it.
    const FORBIDDEN_TRAILERS: [&str; 12] = [
        "Content-Length: 1",
        "Transfer-Encoding: chunked",
        "Host: x",
        "content_length: 1",
        "Authorization: Basic eA==",
        "Cache-Control: no-store",
        "Set-Cookie: a=b",
        "Content-Type: text/html",
        "Trailer: X-Ok",
        "Location: /x",
        "Expect: 100-continue",
        "Content-Encoding: gzip",
    ];

    #[test]
    fn forwarder_drops_forbidden_trailers() {
        let limits = Limits::default();
        for field in FORBIDDEN_TRAILERS {
            let input = format!("5;e=1\r\nhello\r\n0\r\n{field}\r\nX-Ok: 1\r\n\r\n");
            let (res, out) = forwarded(input.as_bytes(), &limits, true);
            assert_eq!(res, Ok(true), "{field}");
            assert_eq!(out, b"5;e=1\r\nhello\r\n0\r\nX-Ok: 1\r\n\r\n", "{field}");
        }
        let all = format!("0\r\n{}\r\n\r\n", FORBIDDEN_TRAILERS.join("\r\n"));
        assert_eq!(
            forwarded(all.as_bytes(), &limits, true),
            (Ok(true), b"0\r\n\r\n".to_vec())
        );
    }

    #[test]
    fn forwarder_passes_legitimate_trailers_and_plain_bodies() {
        let limits = Limits::default();
        let input = b"3\r\nabc\r\n0\r\nX-Ok: 1\r\nServer-Timing: a;dur=1\r\n\r\n";
        assert_eq!(forwarded(input, &limits, true), (Ok(true), input.to_vec()));
        assert_eq!(
            forwarded(b"0\r\n\r\n", &limits, true),
            (Ok(true), b"0\r\n\r\n".to_vec())
        );
        let unfinished = b"3\r\nabc\r\n0\r\nHost: x\r\n";
        assert_eq!(
            forwarded(unfinished, &limits, true),
            (Ok(false), b"3\r\nabc\r\n0\r\n".to_vec())
        );
        let mut fw = BodyForwarder::new(BodyKind::Length(3));
        let f = fw.scan(b"abcdef", &limits).unwrap();
        assert_eq!((f.consumed, f.pass, f.done), (3, 3, true));
        assert_eq!(fw.take_trailers(), None);
    }

    #[test]
    fn forwarder_errors_like_the_scanner() {
        let limits = Limits::default();
        let bad = b"0\r\nHost: x\r\nX : y\r\n\r\n";
        assert_eq!(
            forwarded(bad, &limits, true).0,
            Err(ParseError::SpaceBeforeColon)
        );
        let small = Limits {
            max_trailer_bytes: 8,
            ..Limits::default()
        };
        let long = b"0\r\nHost: abcdef\r\n\r\n";
        assert_eq!(
            forwarded(long, &small, true).0,
            Err(ParseError::TrailersTooLarge)
        );
    }

    #[test]
    fn empty_trailer_section_does_not_allocate() {
        let limits = Limits::default();
        let mut fw = BodyForwarder::new(BodyKind::Chunked);
        let f = fw.scan(b"1\r\nx\r\n0\r\n\r\n", &limits).unwrap();
        assert_eq!((f.consumed, f.pass, f.done), (11, 9, true));
        assert_eq!(fw.take_trailers().as_deref(), Some(&b"\r\n"[..]));
        assert_eq!(fw.held.capacity(), 0, "nothing was held");
    }

    #[test]
    fn rejects_bare_lf_and_cr_in_chunk_lines() {
        for input in [
            &b"5\nhello\r\n0\r\n\r\n"[..],
            b"5\rhello\r\n0\r\n\r\n",
            b"5;ext\nhello\r\n",
            b"2;\nxx\r\n45\r\n0\r\n\r\n",
            b"5\r\nhello\n0\r\n\r\n",
            b"5\r\nhello\r0\r\n\r\n",
            b"0\n\r\n",
            b"0\r\n\n",
            b"0\r\n\rX",
            b"0\r\nX: y\n\r\n",
            b"0\r\nX: y\rZ\r\n\r\n",
        ] {
            rejects(input, ParseError::BareNewline);
        }
    }

    #[test]
    fn rejects_missing_data_crlf() {
        rejects(
            b"5\r\nhelloX\r\n0\r\n\r\n",
            ParseError::InvalidChunkTerminator,
        );
        rejects(b"3\r\nhello\r\n", ParseError::InvalidChunkTerminator);
    }

    #[test]
    fn rejects_bad_trailers() {
        rejects(b"0\r\nX : y\r\n\r\n", ParseError::SpaceBeforeColon);
        rejects(b"0\r\nX: y\r\n z\r\n\r\n", ParseError::ObsFold);
        rejects(b"0\r\nX: \x00\r\n\r\n", ParseError::InvalidHeaderValue);
        rejects(b"0\r\nNoColon\r\n\r\n", ParseError::InvalidTrailer);
        rejects(b"0\r\n@: y\r\n\r\n", ParseError::InvalidTrailer);
    }

    #[test]
    fn line_and_trailer_limits() {
        let limits = Limits {
            max_chunk_line_bytes: 8,
            max_trailer_bytes: 8,
            ..Limits::default()
        };
        let long_ext = b"5;aaaaaaaaaa\r\nhello\r\n0\r\n\r\n";
        assert_eq!(
            chunked_outcome(long_ext, &limits, true).0,
            Err(ParseError::ChunkLineTooLong)
        );
        let fits = b"5;aaaa\r\nhello\r\n0\r\n\r\n";
        assert_eq!(chunked_outcome(fits, &limits, true).0, Ok(true));
        let long_trailer = b"0\r\nX-Long: abcdef\r\n\r\n";
        assert_eq!(
            chunked_outcome(long_trailer, &limits, true).0,
            Err(ParseError::TrailersTooLarge)
        );
        assert_eq!(ParseError::TrailersTooLarge.status(), 431);
    }

    #[test]
    fn body_limit_is_413() {
        let limits = Limits {
            max_body_bytes: 8,
            ..Limits::default()
        };
        let input = b"5\r\nhello\r\n5\r\nworld\r\n0\r\n\r\n";
        assert_eq!(
            chunked_outcome(input, &limits, true).0,
            Err(ParseError::BodyTooLarge)
        );
        let mut scanner = BodyScanner::new(BodyKind::Length(20));
        scanner.scan(&[0; 10], &limits).unwrap();
        assert_eq!(
            limits.check_body(scanner.body_bytes()),
            Err(ParseError::BodyTooLarge)
        );
        assert_eq!(ParseError::BodyTooLarge.status(), 413);
    }

    #[test]
    fn content_length_scanner() {
        let limits = Limits::default();
        let mut s = BodyScanner::new(BodyKind::Length(5));
        assert_eq!(
            s.scan(b"he", &limits).unwrap(),
            Scan {
                consumed: 2,
                done: false,
                trailer_bytes: 0,
            }
        );
        assert_eq!(
            s.scan(b"lloGET", &limits).unwrap(),
            Scan {
                consumed: 3,
                done: true,
                trailer_bytes: 0,
            }
        );
        assert_eq!(s.body_bytes(), 5);
        assert!(s.is_done());
        assert_eq!(
            s.scan(b"more", &limits).unwrap(),
            Scan {
                consumed: 0,
                done: true,
                trailer_bytes: 0,
            }
        );
    }

    #[test]
    fn empty_and_close_delimited_scanners() {
        let limits = Limits::default();
        let mut empty = BodyScanner::new(BodyKind::Empty);
        assert_eq!(
            empty.scan(b"GET", &limits).unwrap(),
            Scan {
                consumed: 0,
                done: true,
                trailer_bytes: 0,
            }
        );
        let mut close = BodyScanner::new(BodyKind::CloseDelimited);
        assert_eq!(
            close.scan(b"abc", &limits).unwrap(),
            Scan {
                consumed: 3,
                done: false,
                trailer_bytes: 0,
            }
        );
        assert_eq!(
            close.scan(b"de", &limits).unwrap(),
            Scan {
                consumed: 2,
                done: false,
                trailer_bytes: 0,
            }
        );
        assert_eq!(close.body_bytes(), 5);
        assert!(!close.is_done());
    }

    #[test]
    fn decoder_splits_without_copying() {
        let limits = Limits::default();
        let mut buf = BytesMut::from(&b"5\r\nhello\r\n0\r\n\r\nNEXT"[..]);
        let base = buf.as_ptr() as usize;
        let mut d = BodyDecoder::new(BodyKind::Chunked);
        let Decoded::Data(data) = d.decode(&mut buf, &limits).unwrap() else {
            panic!("data")
        };
        assert_eq!(&data[..], b"hello");
        assert_eq!(
            data.as_ptr() as usize,
            base + 3,
            "payload points into the read buffer"
        );
        assert_eq!(d.decode(&mut buf, &limits).unwrap(), Decoded::Done);
        assert_eq!(&buf[..], b"NEXT");
        assert!(d.is_done());
        assert_eq!(d.body_bytes(), 5);
    }

    #[test]
    fn decoder_other_kinds() {
        let limits = Limits::default();
        let mut buf = BytesMut::from(&b"abcdef"[..]);
        let mut d = BodyDecoder::new(BodyKind::Length(4));
        assert_eq!(
            d.decode(&mut buf, &limits).unwrap(),
            Decoded::Data(Bytes::from_static(b"abcd"))
        );
        assert_eq!(d.decode(&mut buf, &limits).unwrap(), Decoded::Done);
        let mut close = BodyDecoder::new(BodyKind::CloseDelimited);
        assert_eq!(
            close.decode(&mut buf, &limits).unwrap(),
            Decoded::Data(Bytes::from_static(b"ef"))
        );
        assert_eq!(close.decode(&mut buf, &limits).unwrap(), Decoded::NeedMore);
        let mut len = BodyDecoder::new(BodyKind::Length(4));
        assert_eq!(len.decode(&mut buf, &limits).unwrap(), Decoded::NeedMore);
        assert_eq!(
            BodyDecoder::new(BodyKind::Empty)
                .decode(&mut buf, &limits)
                .unwrap(),
            Decoded::Done
        );
    }
}
