//! Sans-io, zero-copy, strict HTTP/1.1 framing on top of httparse.
#![doc = include_str!("docs/crate.md")]

mod body;
mod chunked;
mod encode;
mod error;
mod headers;
mod limits;
mod request;
mod response;
mod span;
mod trailers;

#[cfg(any(feature = "fuzz", test))]
pub mod fuzz;

pub use body::{BodyDecoder, BodyForwarder, BodyKind, BodyScanner, Decoded, Forward, Scan};
pub use encode::{
    decimal, encode_chunk, encode_chunk_end, encode_last_chunk, encode_request, encode_response,
    end_head, write_content_length, write_header, write_request_line, write_status_line,
};
pub use error::ParseError;
pub use headers::Version;
pub use limits::{
    Limits, DEFAULT_MAX_BODY_BYTES, DEFAULT_MAX_CHUNK_LINE_BYTES, DEFAULT_MAX_HEADERS,
    DEFAULT_MAX_HEAD_BYTES, DEFAULT_MAX_TARGET_BYTES, DEFAULT_MAX_TRAILER_BYTES, MAX_BODY_TOTAL,
    MAX_HEADERS_CAPACITY, MAX_HEAD_BYTES_CAPACITY,
};
pub use request::{parse_request, Method, RequestHead};
pub use response::{parse_response, ResponseHead};
pub use span::Span;
pub use trailers::{filter_trailers, is_forbidden_trailer};
