//! Property tests: encode a random message with this crate's encoders, parse
//! and decode it back (split at a random point), and get the same message,
//! for both Content-Length and chunked framing.

#![allow(clippy::unwrap_used, missing_docs)]

use bytes::BytesMut;
use parser::{
    encode_chunk, encode_chunk_end, encode_last_chunk, end_head, parse_request, parse_response,
    write_header, write_request_line, write_status_line, BodyDecoder, BodyKind, BodyScanner,
    Decoded, Limits, Method, Version,
};
use proptest::prelude::*;

#[derive(Clone, Debug)]
struct Message {
    method: String,
    target: String,
    headers: Vec<(String, String)>,
    chunks: Vec<Vec<u8>>,
    chunked: bool,
    split: usize,
}

fn message() -> impl Strategy<Value = Message> {
    let method = prop_oneof![
        Just("GET".to_owned()),
        Just("POST".to_owned()),
        "[A-Z]{1,10}"
    ];
    let target = "/[!-~]{0,40}";
    let header = ("X-[A-Za-z0-9-]{1,20}", "[!-~]([ -~]{0,30}[!-~])?");
    let chunks = prop::collection::vec(prop::collection::vec(any::<u8>(), 1..200), 0..6);
    (
        method,
        target,
        prop::collection::vec(header, 0..20),
        chunks,
        any::<bool>(),
        any::<usize>(),
    )
        .prop_map(
            |(method, target, headers, chunks, chunked, split)| Message {
                method,
                target,
                headers,
                chunks,
                chunked,
                split,
            },
        )
}

fn payload(m: &Message) -> Vec<u8> {
    m.chunks.concat()
}

fn encode_body(m: &Message, out: &mut BytesMut) {
    if m.chunked {
        for chunk in &m.chunks {
            encode_chunk(chunk.len(), out);
            out.extend_from_slice(chunk);
            encode_chunk_end(out);
        }
        encode_last_chunk(out);
    } else {
        out.extend_from_slice(&payload(m));
    }
}

fn encode_fields(m: &Message, out: &mut BytesMut) {
    for (name, value) in &m.headers {
        write_header(name.as_bytes(), value.as_bytes(), out);
    }
    let len = payload(m).len().to_string();
    if m.chunked {
        write_header(b"Transfer-Encoding", b"chunked", out);
    } else {
        write_header(b"Content-Length", len.as_bytes(), out);
    }
    end_head(out);
    encode_body(m, out);
}

/// Decodes the body from `buf` (fed in two parts); returns the payload and leftover.
fn decode(kind: BodyKind, mut buf: BytesMut, rest: &[u8]) -> (Vec<u8>, Vec<u8>) {
    let limits = Limits::default();
    let mut decoder = BodyDecoder::new(kind);
    let mut out = Vec::new();
    let mut rest = Some(rest);
    loop {
        match decoder.decode(&mut buf, &limits).unwrap() {
            Decoded::Data(d) => out.extend_from_slice(&d),
            Decoded::Done => {
                let mut leftover = buf.to_vec();
                leftover.extend_from_slice(rest.unwrap_or_default());
                return (out, leftover);
            }
            Decoded::NeedMore => match rest.take() {
                Some(r) => buf.extend_from_slice(r),
                None => panic!("body incomplete"),
            },
        }
    }
}

fn expected_kind(m: &Message) -> BodyKind {
    match (m.chunked, payload(m).len()) {
        (true, _) => BodyKind::Chunked,
        (false, 0) => BodyKind::Empty,
        (false, n) => BodyKind::Length(n as u64),
    }
}

proptest! {
    #[test]
    fn request_round_trip(m in message()) {
        let mut wire = BytesMut::new();
        write_request_line(m.method.as_bytes(), m.target.as_bytes(), Version::Http11, &mut wire);
        write_header(b"Host", b"example.com", &mut wire);
        encode_fields(&m, &mut wire);
        wire.extend_from_slice(b"GET /next HTTP/1.1\r\n");
        let limits = Limits::default();

        let at = m.split % (wire.len() + 1);
        let mut buf = BytesMut::from(&wire[..at]);
        let mut rest = &wire[at..];
        let head = match parse_request(&mut buf, &limits).unwrap() {
            Some(head) => head,
            None => {
                buf.extend_from_slice(rest);
                rest = &[];
                parse_request(&mut buf, &limits).unwrap().unwrap()
            }
        };
        prop_assert_eq!(head.method_bytes(), m.method.as_bytes());
        prop_assert_eq!(head.method(), Method::from_bytes(m.method.as_bytes()));
        prop_assert_eq!(head.target(), m.target.as_bytes());
        let got: Vec<(Vec<u8>, Vec<u8>)> = head.headers().skip(1).take(m.headers.len()).map(|(n, v)| (n.to_vec(), v.to_vec())).collect();
        let want: Vec<(Vec<u8>, Vec<u8>)> = m.headers.iter().map(|(n, v)| (n.as_bytes().to_vec(), v.as_bytes().to_vec())).collect();
        prop_assert_eq!(got, want);
        prop_assert_eq!(head.body(), expected_kind(&m));

        // The pass-through scanner agrees with the decoder on where the body ends.
        let mut all = buf.to_vec();
        all.extend_from_slice(rest);
        let scan = BodyScanner::new(head.body()).scan(&all, &limits).unwrap();
        prop_assert!(scan.done);
        prop_assert_eq!(&all[scan.consumed..], b"GET /next HTTP/1.1\r\n");

        let (body, leftover) = decode(head.body(), buf, rest);
        prop_assert_eq!(body, payload(&m));
        prop_assert_eq!(leftover, b"GET /next HTTP/1.1\r\n".to_vec());
    }

    #[test]
    fn response_round_trip(m in message(), status in 200u16..600) {
        prop_assume!(status != 204 && status != 304);
        let mut wire = BytesMut::new();
        write_status_line(Version::Http11, status, m.target.as_bytes(), &mut wire);
        encode_fields(&m, &mut wire);
        let limits = Limits::default();
        let mut buf = wire.clone();
        let head = parse_response(&mut buf, &limits, Method::Get).unwrap().unwrap();
        prop_assert_eq!(head.status(), status);
        prop_assert_eq!(head.reason(), m.target.as_bytes());
        prop_assert_eq!(head.body(), expected_kind(&m));
        let at = m.split % (buf.len() + 1);
        let rest = buf.split_off(at);
        let (body, leftover) = decode(head.body(), buf, &rest);
        prop_assert_eq!(body, payload(&m));
        prop_assert!(leftover.is_empty());
    }
}
