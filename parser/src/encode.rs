//! Writes heads and chunk framing into an outgoing buffer.

use bytes::{BufMut, BytesMut};

use crate::body::BodyKind;
use crate::headers::Version;
use crate::request::RequestHead;
use crate::response::ResponseHead;

/// Writes a chunk-size line, `<hex>\r\n`. The caller then writes `data_len`
/// bytes of data and [`encode_chunk_end`]. A zero `data_len` would end the
/// body, so it writes nothing.
pub fn encode_chunk(data_len: usize, out: &mut BytesMut) {
    if data_len == 0 {
        return;
    }
    let mut digits = [0u8; 2 * core::mem::size_of::<usize>()];
    let mut n = data_len;
    let mut i = digits.len();
    while n > 0 {
        i -= 1;
        digits[i] = b"0123456789abcdef"[n & 0xf];
        n >>= 4;
    }
    out.reserve(digits.len() - i + 2);
    out.put_slice(&digits[i..]);
    out.put_slice(b"\r\n");
}

/// Writes the CRLF that ends chunk data.
pub fn encode_chunk_end(out: &mut BytesMut) {
    out.put_slice(b"\r\n");
}

/// Writes the last chunk and an empty trailer section, `0\r\n\r\n`.
pub fn encode_last_chunk(out: &mut BytesMut) {
    out.put_slice(b"0\r\n\r\n");
}

/// Writes `method SP target SP version CRLF`.
pub fn write_request_line(method: &[u8], target: &[u8], version: Version, out: &mut BytesMut) {
    out.reserve(method.len() + target.len() + 12);
    out.put_slice(method);
    out.put_u8(b' ');
    out.put_slice(target);
    out.put_u8(b' ');
    out.put_slice(version.as_bytes());
    out.put_slice(b"\r\n");
}

/// Writes `version SP status SP reason CRLF`; `status` is written as three
/// digits (values above 999 are clamped).
pub fn write_status_line(version: Version, status: u16, reason: &[u8], out: &mut BytesMut) {
    let status = status.min(999);
    let digits = [
        (status / 100) as u8,
        (status / 10 % 10) as u8,
        (status % 10) as u8,
    ];
    out.reserve(reason.len() + 15);
    out.put_slice(version.as_bytes());
    out.put_u8(b' ');
    out.put_slice(&digits.map(|d| b'0' + d));
    out.put_u8(b' ');
    out.put_slice(reason);
    out.put_slice(b"\r\n");
}

/// Writes `name: value CRLF`. The caller vouches for the bytes: a CR or LF
/// in them would split the line (checked in debug builds).
pub fn write_header(name: &[u8], value: &[u8], out: &mut BytesMut) {
    debug_assert!(
        !name.iter().chain(value).any(|&b| b == b'\r' || b == b'\n'),
        "CR or LF in a header written by the gateway"
    );
    out.reserve(name.len() + value.len() + 4);
    out.put_slice(name);
    out.put_slice(b": ");
    out.put_slice(value);
    out.put_slice(b"\r\n");
}

/// Writes `content-length: n CRLF`: how a forwarded head carries a
/// Content-Length that arrived as a list or on several lines (RFC 9110 §8.6
/// allows accepting `46, 46`; the next hop gets a single `46`).
pub fn write_content_length(n: u64, out: &mut BytesMut) {
    let mut digits = [0u8; 20];
    write_header(b"content-length", decimal(n, &mut digits), out);
}

/// `n` in decimal, written at the end of `digits` (no `fmt`: heads are
/// encoded per request).
pub fn decimal(mut n: u64, digits: &mut [u8; 20]) -> &[u8] {
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            return &digits[i..];
        }
    }
}

/// Writes the CRLF that ends a head.
pub fn end_head(out: &mut BytesMut) {
    out.put_slice(b"\r\n");
}

/// Re-emits a request head for the upstream: HTTP/1.1, hop-by-hop fields
/// dropped, `extra` appended. An HTTP/1.0 request without Host gets an empty
/// `Host:` (RFC 9112 §3.2) unless `extra` supplies one, which the engine
/// should. Transfer-Encoding is kept as received, because the engine forwards
/// the body bytes as received (see [`crate::BodyScanner`]); Content-Length is
/// kept, written once when it came as a list or on several lines. With
/// nothing to change the original bytes are copied untouched.
pub fn encode_request(
    head: &RequestHead,
    target_override: Option<&[u8]>,
    extra: &[(&[u8], &[u8])],
    out: &mut BytesMut,
) {
    if target_override.is_none() && extra.is_empty() && !head.needs_rewrite() {
        out.extend_from_slice(head.as_bytes());
        return;
    }
    out.reserve(head.as_bytes().len() + extra_len(extra));
    let target = target_override.unwrap_or(head.target());
    write_request_line(head.method_bytes(), target, Version::Http11, out);
    let keep = |name: &[u8]| is_framing(name) || !head.is_hop_by_hop(name);
    let no_host =
        head.host().is_none() && !extra.iter().any(|(n, _)| n.eq_ignore_ascii_case(b"host"));
    let host: &[(&[u8], &[u8])] = if no_host { &[(b"Host", b"")] } else { &[] };
    let mut digits = [0u8; 20];
    let length = head.content_length().map(|n| decimal(n, &mut digits));
    let fields = one_content_length(head.headers().filter(|(n, _)| keep(n)), length);
    write_fields(fields.chain(host.iter().copied()), extra, out);
}

/// Passes fields through, but gives the first Content-Length line the value
/// `length` (checked equal across all lines by the parser) and drops the rest.
fn one_content_length<'a>(
    fields: impl Iterator<Item = (&'a [u8], &'a [u8])>,
    length: Option<&'a [u8]>,
) -> impl Iterator<Item = (&'a [u8], &'a [u8])> {
    let mut pending = length;
    fields.filter_map(move |(name, value)| {
        if !name.eq_ignore_ascii_case(b"content-length") {
            return Some((name, value));
        }
        pending.take().map(|digits| (name, digits))
    })
}

/// Re-emits a response head for the client: HTTP/1.1, hop-by-hop fields
/// dropped, `extra` appended. Transfer-Encoding is kept; Content-Length is
/// dropped when Transfer-Encoding is present (RFC 9112 §6.3 item 3), else
/// written once when it came as a list or on several lines. With
/// nothing to change the original bytes are copied untouched.
pub fn encode_response(head: &ResponseHead, extra: &[(&[u8], &[u8])], out: &mut BytesMut) {
    if extra.is_empty() && !head.needs_rewrite() {
        out.extend_from_slice(head.as_bytes());
        return;
    }
    out.reserve(head.as_bytes().len() + extra_len(extra));
    write_status_line(Version::Http11, head.status(), head.reason(), out);
    let drop_cl = head.drops_content_length();
    let keep = |name: &[u8]| {
        let is_cl = name.eq_ignore_ascii_case(b"content-length");
        if is_cl {
            return !drop_cl;
        }
        is_framing(name) || !head.is_hop_by_hop(name)
    };
    let mut digits = [0u8; 20];
    let length = head.content_length().map(|n| decimal(n, &mut digits));
    let fields = one_content_length(head.headers().filter(|(n, _)| keep(n)), length);
    write_fields(fields, extra, out);
    debug_assert!(head.body() != BodyKind::Chunked || head.header("transfer-encoding").is_some());
}

fn is_framing(name: &[u8]) -> bool {
    name.eq_ignore_ascii_case(b"transfer-encoding")
}

fn extra_len(extra: &[(&[u8], &[u8])]) -> usize {
    extra.iter().map(|(n, v)| n.len() + v.len() + 4).sum()
}

fn write_fields<'a>(
    fields: impl Iterator<Item = (&'a [u8], &'a [u8])>,
    extra: &[(&[u8], &[u8])],
    out: &mut BytesMut,
) {
    for (name, value) in fields {
        write_header(name, value, out);
    }
    for (name, value) in extra {
        write_header(name, value, out);
    }
    end_head(out);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{parse_request, parse_response, Limits, Method};

    fn request(input: &[u8]) -> RequestHead {
        parse_request(&mut BytesMut::from(input), &Limits::default())
            .unwrap()
            .unwrap()
    }

    fn response(input: &[u8]) -> ResponseHead {
        parse_response(&mut BytesMut::from(input), &Limits::default(), Method::Get)
            .unwrap()
            .unwrap()
    }

    #[test]
    fn chunk_framing() {
        let mut out = BytesMut::new();
        for n in [1usize, 15, 16, 255, 65536, usize::MAX] {
            out.clear();
            encode_chunk(n, &mut out);
            assert_eq!(out, format!("{n:x}\r\n").as_bytes());
        }
        out.clear();
        encode_chunk(0, &mut out);
        assert!(out.is_empty());
        encode_chunk_end(&mut out);
        encode_last_chunk(&mut out);
        assert_eq!(&out[..], b"\r\n0\r\n\r\n");
    }

    #[test]
    fn lines() {
        let mut out = BytesMut::new();
        write_request_line(b"GET", b"/x", Version::Http10, &mut out);
        write_status_line(Version::Http11, 404, b"Not Found", &mut out);
        write_status_line(Version::Http11, 5, b"", &mut out);
        write_header(b"Host", b"a", &mut out);
        end_head(&mut out);
        assert_eq!(
            &out[..],
            b"GET /x HTTP/1.0\r\nHTTP/1.1 404 Not Found\r\nHTTP/1.1 005 \r\nHost: a\r\n\r\n"
        );
    }

    #[test]
    fn untouched_head_is_copied_verbatim() {
        let input = b"POST /u HTTP/1.1\r\nhost:a\r\nX-A:  b \r\nTransfer-Encoding: chunked\r\n\r\n";
        let mut out = BytesMut::new();
        encode_request(&request(input), None, &[], &mut out);
        assert_eq!(&out[..], input);
        let input = b"HTTP/1.1 200 OK\r\nContent-Length:5\r\n\r\n";
        out.clear();
        encode_response(&response(input), &[], &mut out);
        assert_eq!(&out[..], input);
    }

    #[test]
    fn hop_by_hop_dropped_and_extra_added() {
        let input = b"GET /a HTTP/1.0\r\nHost: h\r\nConnection: keep-alive, X-Secret\r\nKeep-Alive: 5\r\nX-Secret: s\r\nProxy-Connection: x\r\nTE: trailers\r\nUpgrade: y\r\nAccept: */*\r\n\r\n";
        let mut out = BytesMut::new();
        encode_request(
            &request(input),
            Some(b"/b"),
            &[(b"X-Forwarded-For", b"1.2.3.4")],
            &mut out,
        );
        assert_eq!(
            &out[..],
            &b"GET /b HTTP/1.1\r\nHost: h\r\nAccept: */*\r\nX-Forwarded-For: 1.2.3.4\r\n\r\n"[..]
        );
    }

    #[test]
    fn http10_without_host_gets_one() {
        let mut out = BytesMut::new();
        encode_request(&request(b"GET / HTTP/1.0\r\n\r\n"), None, &[], &mut out);
        assert_eq!(&out[..], b"GET / HTTP/1.1\r\nHost: \r\n\r\n");
        out.clear();
        encode_request(
            &request(b"GET / HTTP/1.0\r\n\r\n"),
            None,
            &[(b"host", b"up")],
            &mut out,
        );
        assert_eq!(&out[..], b"GET / HTTP/1.1\r\nhost: up\r\n\r\n");
    }

    #[test]
    fn framing_fields_survive_rewrite() {
        let input = b"POST / HTTP/1.1\r\nHost: h\r\nConnection: content-length, transfer-encoding\r\nTransfer-Encoding: chunked\r\n\r\n";
        let mut out = BytesMut::new();
        encode_request(&request(input), None, &[], &mut out);
        assert_eq!(
            &out[..],
            &b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"[..]
        );
        let input = b"POST / HTTP/1.1\r\nHost: h\r\nConnection: content-length\r\nContent-Length: 3\r\n\r\n";
        out.clear();
        encode_request(&request(input), None, &[], &mut out);
        assert_eq!(request(&out).body(), crate::BodyKind::Length(3));
    }

    #[test]
    fn repeated_content_length_is_forwarded_once() {
        let mut out = BytesMut::new();
        for cl in [
            "Content-Length: 46, 46",
            "Content-Length: 46\r\nX-A: b\r\ncontent-length: 046",
        ] {
            let input = format!("POST / HTTP/1.1\r\nHost: h\r\n{cl}\r\n\r\n");
            out.clear();
            encode_request(&request(input.as_bytes()), None, &[], &mut out);
            let text = String::from_utf8_lossy(&out).to_ascii_lowercase();
            assert_eq!(text.matches("content-length").count(), 1, "{text}");
            assert!(text.contains("content-length: 46\r\n"), "{text}");
            let input = format!("HTTP/1.1 200 OK\r\n{cl}\r\n\r\n");
            out.clear();
            encode_response(&response(input.as_bytes()), &[], &mut out);
            let text = String::from_utf8_lossy(&out).to_ascii_lowercase();
            assert_eq!(text.matches("content-length").count(), 1, "{text}");
            assert!(text.contains("content-length: 46\r\n"), "{text}");
        }
        out.clear();
        for n in [0, 7, 10, 9_223_372_036_854_775_807] {
            write_content_length(n, &mut out);
        }
        assert_eq!(
            &out[..],
            b"content-length: 0\r\ncontent-length: 7\r\ncontent-length: 10\r\ncontent-length: 9223372036854775807\r\n"
        );
    }

    #[test]
    fn response_drops_content_length_beside_transfer_encoding() {
        let input = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\nConnection: keep-alive\r\n\r\n";
        let mut out = BytesMut::new();
        encode_response(&response(input), &[(b"Via", b"1.1 coregate")], &mut out);
        assert_eq!(
            &out[..],
            &b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nVia: 1.1 coregate\r\n\r\n"[..]
        );
    }
}
