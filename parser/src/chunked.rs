//! The chunked coding state machine (RFC 9112 §7.1), shared by
//! [`crate::BodyScanner`] and [`crate::BodyDecoder`].
//!
//! It walks framing bytes (size lines, CRLFs, trailers) one at a time and
//! stops at chunk data, which its callers take in bulk. Every line must end in
//! CRLF: a bare LF or CR anywhere, extensions included, is an error, so no
//! next hop can split a chunk line elsewhere ("funky chunks", CVE-2025-55315).
//! Extensions must follow the RFC 9112 §7.1.1 grammar, bounded by
//! [`Limits::max_chunk_line_bytes`].

use crate::error::ParseError;
use crate::headers::{is_tchar, is_value_byte};
use crate::limits::{Limits, MAX_BODY_TOTAL};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Expecting the first hex digit of a chunk size.
    SizeStart,
    /// Inside the hex digits.
    Size,
    /// BWS after the size; only `;` may follow.
    SizeWs,
    /// After `;` (and BWS): the first byte of an extension name.
    ExtStart,
    /// Inside an extension name (a token).
    ExtName,
    /// BWS after a name: `=`, `;` may follow.
    ExtNameWs,
    /// After `=` (and BWS): a token or a quoted string starts.
    ExtValStart,
    /// Inside a token value.
    ExtToken,
    /// Inside a quoted-string value.
    ExtQuoted,
    /// After a backslash in a quoted string.
    ExtEscape,
    /// Just after a closing quote.
    ExtQuotedEnd,
    /// BWS after a value; only `;` may follow.
    ExtValWs,
    /// Saw the CR of a size line.
    SizeLf,
    /// Chunk data: `remaining` bytes for the caller to take.
    Data,
    /// Expecting CR after chunk data.
    DataCr,
    /// Expecting LF after chunk data.
    DataLf,
    /// Start of a trailer line or of the final empty line.
    TrailerStart,
    TrailerName,
    TrailerValue,
    TrailerLf,
    /// Saw the CR of the final empty line.
    EndLf,
    Done,
}

// === impl State ===

impl State {
    /// Inside a chunk-size line (size, extensions, CRLF).
    fn in_size_line(self) -> bool {
        use State::*;
        matches!(
            self,
            SizeStart
                | Size
                | SizeWs
                | ExtStart
                | ExtName
                | ExtNameWs
                | ExtValStart
                | ExtToken
                | ExtQuoted
                | ExtEscape
                | ExtQuotedEnd
                | ExtValWs
                | SizeLf
        )
    }

    /// Inside the trailer section (after the last chunk's size line).
    fn in_trailers(self) -> bool {
        use State::*;
        matches!(
            self,
            TrailerStart | TrailerName | TrailerValue | TrailerLf | EndLf
        )
    }
}

/// Incremental chunked-body state.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Chunked {
    state: State,
    size: u64,
    remaining: u64,
    line: usize,
    trailer: usize,
    body: u64,
}

// === impl Chunked ===

impl Chunked {
    pub(crate) fn new() -> Self {
        Self {
            state: State::SizeStart,
            size: 0,
            remaining: 0,
            line: 0,
            trailer: 0,
            body: 0,
        }
    }

    pub(crate) fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Payload bytes taken so far.
    pub(crate) fn body_bytes(&self) -> u64 {
        self.body
    }

    /// Chunk data bytes the caller may take now (0 outside data).
    pub(crate) fn data_remaining(&self) -> u64 {
        if self.state == State::Data {
            self.remaining
        } else {
            0
        }
    }

    /// Records that the caller took `n <= data_remaining()` data bytes.
    pub(crate) fn take_data(&mut self, n: usize) {
        debug_assert!(n as u64 <= self.data_remaining());
        if n == 0 {
            return;
        }
        self.remaining -= n as u64;
        self.body += n as u64;
        if self.remaining == 0 {
            self.state = State::DataCr;
        }
    }

    /// Consumes framing bytes from `input` until chunk data starts, the body
    /// ends, or `input` runs out. Returns how many bytes were consumed.
    pub(crate) fn frame(&mut self, input: &[u8], limits: &Limits) -> Result<usize, ParseError> {
        for (i, &b) in input.iter().enumerate() {
            if matches!(self.state, State::Data | State::Done) {
                return Ok(i);
            }
            self.count(limits)?;
            let next = self.step(b, limits)?;
            let entered_trailers = next.in_trailers() && !self.state.in_trailers();
            self.state = next;
            if entered_trailers {
                // Callers learn where the trailer section starts.
                return Ok(i + 1);
            }
        }
        Ok(input.len())
    }

    /// Inside the trailer section: framing bytes consumed from now on
    /// belong to it, up to and including the final CRLF.
    pub(crate) fn in_trailers(&self) -> bool {
        self.state.in_trailers()
    }

    /// Line-length accounting for the byte about to be stepped.
    fn count(&mut self, limits: &Limits) -> Result<(), ParseError> {
        if self.state.in_size_line() {
            self.line += 1;
            if self.line > limits.max_chunk_line_bytes {
                return Err(ParseError::ChunkLineTooLong);
            }
        } else if self.state.in_trailers() {
            self.trailer += 1;
            if self.trailer > limits.max_trailer_bytes {
                return Err(ParseError::TrailersTooLarge);
            }
        }
        Ok(())
    }

    fn step(&mut self, b: u8, limits: &Limits) -> Result<State, ParseError> {
        use State::*;
        Ok(match (self.state, b) {
            (SizeStart | Size | SizeWs, _) => self.step_size(b)?,
            (SizeLf, b'\n') => self.end_size_line(limits)?,
            (s, _) if s.in_size_line() && s != SizeLf => step_ext(s, b)?,
            (DataCr, b'\r') => DataLf,
            (DataCr, b'\n') => return Err(ParseError::BareNewline),
            (DataCr, _) => return Err(ParseError::InvalidChunkTerminator),
            (DataLf, b'\n') => SizeStart,
            (s, _) if s.in_trailers() => step_trailer(s, b)?,
            // A CR not followed by LF.
            (SizeLf | DataLf, _) => return Err(ParseError::BareNewline),
            (_, _) => self.state,
        })
    }

    /// The hex digits of a chunk size and the BWS after them.
    fn step_size(&mut self, b: u8) -> Result<State, ParseError> {
        use State::*;
        Ok(match (self.state, b) {
            (SizeStart | Size, _) if b.is_ascii_hexdigit() => {
                self.size = push_hex(self.size, b)?;
                Size
            }
            (SizeStart, b'\r' | b'\n') => return Err(ParseError::InvalidChunkSize),
            (Size | SizeWs, b' ' | b'\t') => SizeWs,
            (Size | SizeWs, b';') => ExtStart,
            // Whitespace after the size only before `;` (chunk-ext = BWS ";" ...).
            (Size, b'\r') => SizeLf,
            (Size | SizeWs, b'\n') => return Err(ParseError::BareNewline),
            _ => return Err(ParseError::InvalidChunkSize),
        })
    }
    /// A complete size line: start data, or the trailer section after `0`.
    fn end_size_line(&mut self, limits: &Limits) -> Result<State, ParseError> {
        self.line = 0;
        let size = core::mem::take(&mut self.size);
        if size == 0 {
            return Ok(State::TrailerStart);
        }
        // Bodies past i64::MAX overflow signed offsets in other servers
        // (nginx's off_t): reject them like a Content-Length that large.
        let total = self
            .body
            .checked_add(size)
            .filter(|&t| t <= MAX_BODY_TOTAL)
            .ok_or(ParseError::InvalidChunkSize)?;
        limits.check_body(total)?;
        self.remaining = size;
        Ok(State::Data)
    }
}

/// One byte of a chunk extension (RFC 9112 §7.1.1):
/// `*( BWS ";" BWS name [ BWS "=" BWS ( token / quoted-string ) ] )`. A CR
/// ends the line only after a complete name or value; a bare LF anywhere is
/// [`ParseError::BareNewline`], anything else out of place
/// [`ParseError::InvalidChunkExtension`].
fn step_ext(state: State, b: u8) -> Result<State, ParseError> {
    use State::*;
    Ok(match (state, b) {
        (ExtQuoted, b'"') => ExtQuotedEnd,
        (ExtQuoted, b'\\') => ExtEscape,
        (ExtQuoted, _) if is_qdtext(b) => ExtQuoted,
        (ExtEscape, _) if is_value_byte(b) => ExtQuoted,
        (_, b'\n') => return Err(ParseError::BareNewline),
        (ExtQuoted | ExtEscape, _) => return Err(ParseError::InvalidChunkExtension),
        (ExtStart | ExtName, _) if is_tchar(b) => ExtName,
        (ExtValStart | ExtToken, _) if is_tchar(b) => ExtToken,
        (ExtValStart, b'"') => ExtQuoted,
        (ExtStart | ExtValStart, b' ' | b'\t') => state,
        (ExtName | ExtNameWs, b' ' | b'\t') => ExtNameWs,
        (ExtToken | ExtQuotedEnd | ExtValWs, b' ' | b'\t') => ExtValWs,
        (ExtName | ExtNameWs, b'=') => ExtValStart,
        (ExtName | ExtNameWs | ExtToken | ExtQuotedEnd | ExtValWs, b';') => ExtStart,
        (ExtName | ExtToken | ExtQuotedEnd, b'\r') => SizeLf,
        _ => return Err(ParseError::InvalidChunkExtension),
    })
}

/// `qdtext` (RFC 9110 §5.6.4): HTAB, SP, VCHAR except `"` and `\\`, obs-text.
fn is_qdtext(b: u8) -> bool {
    is_value_byte(b) && b != b'"' && b != b'\\'
}

/// One byte of the trailer section (RFC 9112 §7.1.2): field lines checked
/// like header lines, then the final CRLF.
fn step_trailer(state: State, b: u8) -> Result<State, ParseError> {
    use State::*;
    Ok(match (state, b) {
        (TrailerStart, b'\r') => EndLf,
        (TrailerStart, b' ' | b'\t') => return Err(ParseError::ObsFold),
        (TrailerStart | TrailerName, _) if is_tchar(b) => TrailerName,
        (TrailerName, b':') => TrailerValue,
        (TrailerName, b' ' | b'\t') => return Err(ParseError::SpaceBeforeColon),
        (TrailerValue, b'\r') => TrailerLf,
        (TrailerValue, _) if is_value_byte(b) => TrailerValue,
        (TrailerValue, b'\n') => return Err(ParseError::BareNewline),
        (TrailerValue, _) => return Err(ParseError::InvalidHeaderValue),
        (TrailerLf, b'\n') => TrailerStart,
        (EndLf, b'\n') => Done,
        (TrailerStart | TrailerName, b'\n') => return Err(ParseError::BareNewline),
        (TrailerStart | TrailerName, _) => return Err(ParseError::InvalidTrailer),
        // A CR not followed by LF.
        _ => return Err(ParseError::BareNewline),
    })
}

/// Appends one hex digit, failing on u64 overflow (RFC 9112 §7.1: a recipient
/// must anticipate large sizes and prevent integer overflow).
fn push_hex(size: u64, digit: u8) -> Result<u64, ParseError> {
    let d = match digit {
        b'0'..=b'9' => digit - b'0',
        b'a'..=b'f' => digit - b'a' + 10,
        _ => digit.wrapping_sub(b'A').wrapping_add(10),
    };
    size.checked_mul(16)
        .and_then(|s| s.checked_add(u64::from(d)))
        .ok_or(ParseError::InvalidChunkSize)
}
