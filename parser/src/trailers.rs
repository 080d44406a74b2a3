//! Trailer fields a proxy passes on (RFC 9110 §6.5.1, §6.5.2).
//!
//! A trailer field must not carry what is needed before the content is
//! read: framing, routing, request modifiers, authentication, response
//! control data or how to process the content. Recipients that merge trailers
//! into the header section (or log, cache or route on them) could be misled by
//! such a field, so the gateway drops them and passes the rest.

use bytes::{BufMut, BytesMut};

use crate::headers::is_framing_lookalike;

/// Field names dropped from forwarded trailers, lower case.
const FORBIDDEN: [&str; 37] = [
    // Message framing and connection management (RFC 9112 §6, §7, §9.6).
    "content-length",
    "transfer-encoding",
    "trailer",
    "connection",
    "keep-alive",
    "proxy-connection",
    "upgrade",
    // Routing (RFC 9110 §7.2).
    "host",
    // Request modifiers: controls (RFC 9110 §10.1) and conditionals (§13.1).
    "cache-control",
    "expect",
    "max-forwards",
    "pragma",
    "range",
    "te",
    "if-match",
    "if-none-match",
    "if-modified-since",
    "if-unmodified-since",
    "if-range",
    // Authentication (RFC 9110 §11) and state (RFC 6265).
    "authorization",
    "proxy-authorization",
    "www-authenticate",
    "proxy-authenticate",
    "authentication-info",
    "proxy-authentication-info",
    "cookie",
    "set-cookie",
    // Response control data (RFC 9110 §10.2, RFC 9111 §5).
    "age",
    "expires",
    "date",
    "location",
    "retry-after",
    "vary",
    "warning",
    // How to process the content (RFC 9110 §8).
    "content-encoding",
    "content-type",
    "content-range",
];

/// Whether a field with this name is dropped from forwarded trailers: one
/// of the fields RFC 9110 §6.5.1 keeps out of trailers (framing, routing,
/// request modifiers, authentication, response control data, content
/// processing), or a `Content_Length` / `Transfer_Encoding` lookalike.
pub fn is_forbidden_trailer(name: &[u8]) -> bool {
    FORBIDDEN
        .iter()
        .any(|f| name.eq_ignore_ascii_case(f.as_bytes()))
        || is_framing_lookalike(name)
}

/// Writes a trailer section into `out` without its forbidden fields
/// ([`is_forbidden_trailer`]), ending it with the final CRLF.
///
/// `section` is a trailer section as [`crate::BodyForwarder`] holds it (or as
/// [`crate::BodyScanner`] validated it): field lines, each ending in CRLF,
/// then CRLF. Lines without a colon, which the scanner never passes, are
/// dropped too; bytes after the empty line are ignored.
pub fn filter_trailers(section: &[u8], out: &mut BytesMut) {
    let mut rest = section;
    while let Some(end) = rest.windows(2).position(|w| w == b"\r\n") {
        let line = &rest[..end];
        rest = &rest[end + 2..];
        if line.is_empty() {
            break;
        }
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            continue;
        };
        if !is_forbidden_trailer(&line[..colon]) {
            out.reserve(line.len() + 2);
            out.put_slice(line);
            out.put_slice(b"\r\n");
        }
    }
    out.put_slice(b"\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filtered(section: &[u8]) -> Vec<u8> {
        let mut out = BytesMut::new();
        filter_trailers(section, &mut out);
        out.to_vec()
    }

    #[test]
    fn every_forbidden_name_is_dropped_in_any_case() {
        for name in FORBIDDEN {
            for spelled in [name.to_string(), name.to_ascii_uppercase()] {
                let section = format!("{spelled}: 1\r\nX-Ok: 1\r\n\r\n");
                assert_eq!(
                    filtered(section.as_bytes()),
                    b"X-Ok: 1\r\n\r\n",
                    "{spelled}"
                );
            }
        }
        assert!(is_forbidden_trailer(b"Content_Length"));
        assert!(is_forbidden_trailer(b"transfer_encoding"));
    }

    #[test]
    fn legitimate_trailers_pass_in_order() {
        let section =
            b"X-Checksum: abc\r\nServer-Timing: db;dur=5\r\nHost: x\r\nDigest: sha=1\r\n\r\n";
        assert_eq!(
            filtered(section),
            b"X-Checksum: abc\r\nServer-Timing: db;dur=5\r\nDigest: sha=1\r\n\r\n"
        );
        assert!(!is_forbidden_trailer(b"x-host"));
        assert!(!is_forbidden_trailer(b"content-md5"));
    }

    #[test]
    fn empty_and_odd_sections() {
        assert_eq!(filtered(b"\r\n"), b"\r\n");
        assert_eq!(filtered(b""), b"\r\n");
        assert_eq!(
            filtered(b"NoColon\r\nA: b\r\n\r\nAfter: x\r\n"),
            b"A: b\r\n\r\n"
        );
        assert_eq!(filtered(b"Host: x\r\n\r\n"), b"\r\n");
    }
}
