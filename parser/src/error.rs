//! The one error type of the crate: small, `Copy`, one variant per rejection.

use core::fmt;

/// Why a head or body was rejected. Each variant maps to the status the
/// gateway answers a client with ([`ParseError::status`]) and to a stable
/// snake_case name for metrics ([`ParseError::as_str`]).
///
/// When the error comes from an upstream *response*, the gateway answers the
/// client 502 whatever [`ParseError::status`] says (RFC 9112 §6.3, item 5).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ParseError {
    /// The method is not a token (RFC 9112 §3.1, RFC 9110 §9.1). 400.
    InvalidMethod,
    /// The request-target holds whitespace, a control byte or non-ASCII, or is
    /// missing (RFC 9112 §3.2). 400.
    InvalidTarget,
    /// The request-target is longer than [`crate::Limits::max_target_bytes`]
    /// (RFC 9112 §3, RFC 9110 §15.5.15). 414.
    TargetTooLong,
    /// The version is not `HTTP/DIGIT.DIGIT`, or garbage follows it (RFC 9112 §2.3). 400.
    InvalidVersion,
    /// A well-formed version other than 1.0 and 1.1 (RFC 9110 §15.6.6). 505.
    UnsupportedVersion,
    /// A malformed status line or a status code outside 100..=999 (RFC 9112 §4). 502.
    InvalidStatus,
    /// A header field name that is not a token, a line without a colon
    /// (RFC 9112 §5), or `Content_Length` / `Transfer_Encoding`, which servers
    /// that map `_` to `-` would frame by. 400.
    InvalidHeaderName,
    /// Whitespace between a field name and the colon (RFC 9112 §5.1: MUST 400). 400.
    SpaceBeforeColon,
    /// An obs-fold line continuation (RFC 9112 §5.2: MUST reject or replace; we reject). 400.
    ObsFold,
    /// NUL, a bare CR or another control byte in a field value (RFC 9110 §5.5). 400.
    InvalidHeaderValue,
    /// A bare LF or bare CR where CRLF is required, in a head or a chunk line
    /// (RFC 9112 §2.2, §7.1). 400.
    BareNewline,
    /// The head is longer than [`crate::Limits::max_head_bytes`] (RFC 6585 §5). 431.
    HeadTooLarge,
    /// More header lines than [`crate::Limits::max_headers`] (RFC 6585 §5). 431.
    TooManyHeaders,
    /// An HTTP/1.1 request without Host (RFC 9112 §3.2: MUST 400). 400.
    MissingHost,
    /// A request with more than one Host line (RFC 9112 §3.2: MUST 400). 400.
    DuplicateHost,
    /// A Host value that is not `uri-host [ ":" port ]` (RFC 9112 §3.2: MUST 400). 400.
    InvalidHost,
    /// Content-Length values that differ, or one that is not plain decimal
    /// digits, or one above [`crate::MAX_BODY_TOTAL`] (2^63-1) (RFC 9112 §6.3,
    /// item 5; RFC 9110 §8.6). 400.
    InvalidContentLength,
    /// A request with both Content-Length and Transfer-Encoding (RFC 9112 §6.1
    /// allows rejecting; §6.3 item 3 calls it a smuggling sign). 400.
    ContentLengthWithTransferEncoding,
    /// A request Transfer-Encoding whose final coding is not `chunked`, that
    /// applies `chunked` twice, or that is not a token list (RFC 9112 §6.3 item 4, §7). 400.
    TransferEncodingNotChunked,
    /// Transfer-Encoding in an HTTP/1.0 message (RFC 9112 §6.1: framing is faulty). 400.
    TransferEncodingHttp10,
    /// A chunk size that is not hex, is followed by garbage, or brings the
    /// body past [`crate::MAX_BODY_TOTAL`] (2^63-1) (RFC 9112 §7.1). 400.
    InvalidChunkSize,
    /// A chunk extension that does not follow `*( BWS ";" BWS name [ BWS "="
    /// BWS ( token / quoted-string ) ] )`, e.g. `5;` or `5;a="b` (RFC 9112 §7.1.1). 400.
    InvalidChunkExtension,
    /// A chunk-size line longer than [`crate::Limits::max_chunk_line_bytes`]. 400.
    ChunkLineTooLong,
    /// Chunk data not followed by CRLF (RFC 9112 §7.1). 400.
    InvalidChunkTerminator,
    /// A malformed trailer field line (RFC 9112 §7.1.2). 400.
    InvalidTrailer,
    /// A trailer section longer than [`crate::Limits::max_trailer_bytes`] (RFC 6585 §5). 431.
    TrailersTooLarge,
    /// More payload than [`crate::Limits::max_body_bytes`] (RFC 9110 §15.5.14). 413.
    BodyTooLarge,
}

// === impl ParseError ===

impl ParseError {
    /// The status to answer a client whose *request* caused this error.
    pub fn status(self) -> u16 {
        match self {
            Self::TargetTooLong => 414,
            Self::UnsupportedVersion => 505,
            Self::InvalidStatus => 502,
            Self::HeadTooLarge | Self::TooManyHeaders | Self::TrailersTooLarge => 431,
            Self::BodyTooLarge => 413,
            _ => 400,
        }
    }

    /// A stable snake_case name for metrics and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidMethod => "invalid_method",
            Self::InvalidTarget => "invalid_target",
            Self::TargetTooLong => "target_too_long",
            Self::InvalidVersion => "invalid_version",
            Self::UnsupportedVersion => "unsupported_version",
            Self::InvalidStatus => "invalid_status",
            Self::InvalidHeaderName => "invalid_header_name",
            Self::SpaceBeforeColon => "space_before_colon",
            Self::ObsFold => "obs_fold",
            Self::InvalidHeaderValue => "invalid_header_value",
            Self::BareNewline => "bare_newline",
            Self::HeadTooLarge => "head_too_large",
            Self::TooManyHeaders => "too_many_headers",
            Self::MissingHost => "missing_host",
            Self::DuplicateHost => "duplicate_host",
            Self::InvalidHost => "invalid_host",
            Self::InvalidContentLength => "invalid_content_length",
            Self::ContentLengthWithTransferEncoding => "content_length_with_transfer_encoding",
            Self::TransferEncodingNotChunked => "transfer_encoding_not_chunked",
            Self::TransferEncodingHttp10 => "transfer_encoding_http10",
            Self::InvalidChunkSize => "invalid_chunk_size",
            Self::InvalidChunkExtension => "invalid_chunk_extension",
            Self::ChunkLineTooLong => "chunk_line_too_long",
            Self::InvalidChunkTerminator => "invalid_chunk_terminator",
            Self::InvalidTrailer => "invalid_trailer",
            Self::TrailersTooLarge => "trailers_too_large",
            Self::BodyTooLarge => "body_too_large",
        }
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::error::Error for ParseError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses() {
        assert_eq!(ParseError::ObsFold.status(), 400);
        assert_eq!(ParseError::UnsupportedVersion.status(), 505);
        assert_eq!(ParseError::HeadTooLarge.status(), 431);
        assert_eq!(ParseError::TooManyHeaders.status(), 431);
        assert_eq!(ParseError::TargetTooLong.status(), 414);
        assert_eq!(ParseError::BodyTooLarge.status(), 413);
        assert_eq!(ParseError::InvalidStatus.status(), 502);
    }

    #[test]
    fn names_are_snake_case_and_display() {
        assert_eq!(ParseError::SpaceBeforeColon.as_str(), "space_before_colon");
        assert_eq!(ParseError::BareNewline.to_string(), "bare_newline");
        assert!(core::mem::size_of::<ParseError>() == 1);
    }
}
