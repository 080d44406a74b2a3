//! Every size limit the parser enforces, in one value.

use crate::error::ParseError;

/// Default cap on the bytes of a request or response head, final CRLFCRLF included.
pub const DEFAULT_MAX_HEAD_BYTES: usize = 16 * 1024;
/// Default cap on the number of header field lines in a head.
pub const DEFAULT_MAX_HEADERS: usize = 100;
/// Default cap on the bytes of a request-target.
pub const DEFAULT_MAX_TARGET_BYTES: usize = 8 * 1024;
/// Default cap on payload bytes: unlimited, because a gateway streams large uploads.
pub const DEFAULT_MAX_BODY_BYTES: u64 = u64::MAX;
/// Default cap on one chunk-size line (size, extensions and CRLF).
pub const DEFAULT_MAX_CHUNK_LINE_BYTES: usize = 4096;
/// Default cap on the trailer section of a chunked body, final CRLF included.
pub const DEFAULT_MAX_TRAILER_BYTES: usize = 16 * 1024;

/// The largest body any message may declare or carry: i64::MAX, so a next
/// hop that keeps sizes in a signed 64-bit offset (nginx's `off_t`) cannot
/// overflow. A larger Content-Length is [`ParseError::InvalidContentLength`];
/// chunk sizes adding up past it are [`ParseError::InvalidChunkSize`].
pub const MAX_BODY_TOTAL: u64 = i64::MAX as u64;

/// Header spans live in a fixed inline array of this many entries, so a head
/// never touches the heap. A `max_headers` above it acts as this value.
pub const MAX_HEADERS_CAPACITY: usize = 128;

/// Heads are capped at 64 KiB - 1 so header offsets fit in 16 bits; a
/// `max_head_bytes` above it acts as this value.
pub const MAX_HEAD_BYTES_CAPACITY: usize = u16::MAX as usize;

/// Size limits for heads and bodies. Build with [`Limits::default`] and
/// override single fields.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Maximum head size in bytes; more gives [`ParseError::HeadTooLarge`] (431).
    /// Values above [`MAX_HEAD_BYTES_CAPACITY`] act as that capacity.
    pub max_head_bytes: usize,
    /// Maximum header field lines; more gives [`ParseError::TooManyHeaders`] (431).
    /// Values above [`MAX_HEADERS_CAPACITY`] act as that capacity.
    pub max_headers: usize,
    /// Maximum request-target length; more gives [`ParseError::TargetTooLong`] (414).
    pub max_target_bytes: usize,
    /// Maximum payload bytes; more gives [`ParseError::BodyTooLarge`] (413).
    pub max_body_bytes: u64,
    /// Maximum bytes of one chunk-size line, CRLF included: this bounds the
    /// chunk extensions too.
    pub max_chunk_line_bytes: usize,
    /// Maximum bytes of a chunked trailer section, final CRLF included.
    pub max_trailer_bytes: usize,
}

// === impl Limits ===

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_head_bytes: DEFAULT_MAX_HEAD_BYTES,
            max_headers: DEFAULT_MAX_HEADERS,
            max_target_bytes: DEFAULT_MAX_TARGET_BYTES,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            max_chunk_line_bytes: DEFAULT_MAX_CHUNK_LINE_BYTES,
            max_trailer_bytes: DEFAULT_MAX_TRAILER_BYTES,
        }
    }
}

impl Limits {
    /// The 413 helper: errors once `body_bytes_so_far` exceeds `max_body_bytes`
    /// (RFC 9110 §15.5.14). Call it with a declared Content-Length up front, or
    /// with [`crate::BodyScanner::body_bytes`] as the body streams.
    pub fn check_body(&self, body_bytes_so_far: u64) -> Result<(), ParseError> {
        if body_bytes_so_far > self.max_body_bytes {
            return Err(ParseError::BodyTooLarge);
        }
        Ok(())
    }

    /// The most head bytes looked at: `max_head_bytes` capped by the capacity.
    pub(crate) fn head_window(&self) -> usize {
        self.max_head_bytes.min(MAX_HEAD_BYTES_CAPACITY)
    }

    /// Header slots handed to httparse: `max_headers` capped by the inline capacity.
    pub(crate) fn header_slots(&self) -> usize {
        self.max_headers.min(MAX_HEADERS_CAPACITY)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_match_constants() {
        let l = Limits::default();
        assert_eq!(l.max_head_bytes, 16 * 1024);
        assert_eq!(l.max_headers, 100);
        assert_eq!(l.max_target_bytes, 8 * 1024);
        assert_eq!(l.max_body_bytes, u64::MAX);
        assert_eq!(l.max_chunk_line_bytes, 4096);
        assert_eq!(l.max_trailer_bytes, 16 * 1024);
    }

    #[test]
    fn check_body_is_413_past_limit() {
        let l = Limits {
            max_body_bytes: 10,
            ..Limits::default()
        };
        assert_eq!(l.check_body(10), Ok(()));
        let err = l.check_body(11).unwrap_err();
        assert_eq!(err, ParseError::BodyTooLarge);
        assert_eq!(err.status(), 413);
        assert_eq!(Limits::default().check_body(u64::MAX), Ok(()));
    }

    #[test]
    fn header_slots_capped() {
        let l = Limits {
            max_headers: 1000,
            ..Limits::default()
        };
        assert_eq!(l.header_slots(), MAX_HEADERS_CAPACITY);
    }
}
