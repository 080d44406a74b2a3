//! Body framing (RFC 9112 §6): [`BodyKind`], the pass-through
//! [`BodyScanner`] and the de-chunking [`BodyDecoder`].

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
            BodyKind::Length(n) => Self::Length { remaining: n, total: n },
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
        Self { framing: Framing::new(kind) }
    }

    /// Scans the next input bytes; state is kept across calls, so any split
    /// of the body gives the same result. Chunk sizes are checked against
    /// `max_body_bytes` as they are announced.
    pub fn scan(&mut self, input: &[u8], limits: &Limits) -> Result<Scan, ParseError> {
        let mut pos = 0;
        while pos < input.len() && !self.framing.is_done() {
            let taken = self.framing.take_data(input.len() - pos);
            pos += taken;
            if let Framing::Chunked(c) = &mut self.framing {
                pos += c.frame(&input[pos..], limits)?;
            } else if taken == 0 {
                break;
            }
        }
        Ok(Scan { consumed: pos, done: self.framing.is_done() })
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
        Self { framing: Framing::new(kind) }
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
