//! The chunked coding state machine (RFC 9112 §7.1), shared by
//! [`crate::BodyScanner`] and [`crate::BodyDecoder`].
//!
//! It walks framing bytes (size lines, CRLFs, trailers) one at a time and
//! stops at chunk data, which its callers take in bulk. Every line must end in
//! CRLF: a bare LF or CR anywhere, extensions included, is an error, so no
//! next hop can split a chunk line elsewhere ("funky chunks", CVE-2025-55315).

use crate::error::ParseError;
use crate::headers::{is_tchar, is_value_byte};
use crate::limits::Limits;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Expecting the first hex digit of a chunk size.
    SizeStart,
    /// Inside the hex digits.
    Size,
    /// BWS after the size; only `;` may follow.
    SizeWs,
    /// Inside chunk extensions, which are ignored but must be field-value bytes.
    Ext,
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
            self.state = self.step(b, limits)?;
        }
        Ok(input.len())
    }

    /// Line-length accounting for the byte about to be stepped.
    fn count(&mut self, limits: &Limits) -> Result<(), ParseError> {
        match self.state {
            State::SizeStart | State::Size | State::SizeWs | State::Ext | State::SizeLf => {
                self.line += 1;
                if self.line > limits.max_chunk_line_bytes {
                    return Err(ParseError::ChunkLineTooLong);
                }
            }
            State::TrailerStart
            | State::TrailerName
            | State::TrailerValue
            | State::TrailerLf
            | State::EndLf => {
                self.trailer += 1;
                if self.trailer > limits.max_trailer_bytes {
                    return Err(ParseError::TrailersTooLarge);
                }
            }
            _ => {}
        }
        Ok(())
    }

    fn step(&mut self, b: u8, limits: &Limits) -> Result<State, ParseError> {
        use State::*;
        Ok(match (self.state, b) {
            (SizeStart | Size, _) if b.is_ascii_hexdigit() => {
                self.size = push_hex(self.size, b)?;
                Size
            }
            (SizeStart, b'\r' | b'\n') => return Err(ParseError::InvalidChunkSize),
            (Size | SizeWs, b' ' | b'\t') => SizeWs,
            (Size | SizeWs, b';') => Ext,
            // Whitespace after the size only before `;` (chunk-ext = BWS ";" ...).
            (Size | Ext, b'\r') => SizeLf,
            (Size | SizeWs | Ext, b'\n') => return Err(ParseError::BareNewline),
            (Ext, _) if is_value_byte(b) => Ext,
            (SizeStart | Size | SizeWs | Ext, _) => return Err(ParseError::InvalidChunkSize),
            (SizeLf, b'\n') => self.end_size_line(limits)?,
            (DataCr, b'\r') => DataLf,
            (DataCr, b'\n') => return Err(ParseError::BareNewline),
            (DataCr, _) => return Err(ParseError::InvalidChunkTerminator),
            (DataLf, b'\n') => SizeStart,
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
            (SizeLf | DataLf | TrailerLf | EndLf, _) => return Err(ParseError::BareNewline),
            (Data | Done, _) => self.state,
        })
    }

    /// A complete size line: start data, or the trailer section after `0`.
    fn end_size_line(&mut self, limits: &Limits) -> Result<State, ParseError> {
        self.line = 0;
        let size = core::mem::take(&mut self.size);
        if size == 0 {
            return Ok(State::TrailerStart);
        }
        limits.check_body(self.body.saturating_add(size))?;
        self.remaining = size;
        Ok(State::Data)
    }
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
