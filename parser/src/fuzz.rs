//! Fuzz and test drivers (built with the `fuzz` feature or under `cfg(test)` only).
//!
//! Each driver parses its input whole and split, and panics when the results
//! differ or an invariant breaks, so the fuzz targets in `fuzz/` stay one line.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use bytes::BytesMut;

use crate::{
    encode_request, encode_response, is_forbidden_trailer, parse_request, parse_response,
    BodyDecoder, BodyForwarder, BodyKind, BodyScanner, Decoded, Limits, Method, ParseError,
};

/// What a head parse gave, comparable across splits.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Summary {
    pub head: Vec<u8>,
    pub headers: Vec<(Vec<u8>, Vec<u8>)>,
    pub body: BodyKind,
    pub keep_alive: bool,
    pub rest: Vec<u8>,
}

pub type Outcome = Result<Option<Summary>, ParseError>;

fn parse_req(buf: &mut BytesMut, limits: &Limits) -> Outcome {
    Ok(parse_request(buf, limits)?.map(|h| Summary {
        head: h.as_bytes().to_vec(),
        headers: h.headers().map(|(n, v)| (n.to_vec(), v.to_vec())).collect(),
        body: h.body(),
        keep_alive: h.keep_alive(),
        rest: buf.to_vec(),
    }))
}

fn parse_res(buf: &mut BytesMut, limits: &Limits, method: Method) -> Outcome {
    Ok(parse_response(buf, limits, method)?.map(|h| Summary {
        head: h.as_bytes().to_vec(),
        headers: h.headers().map(|(n, v)| (n.to_vec(), v.to_vec())).collect(),
        body: h.body(),
        keep_alive: h.keep_alive(),
        rest: buf.to_vec(),
    }))
}

/// Parses `input[..at]`, and on "need more" appends the rest and parses again.
fn split_at(input: &[u8], at: usize, parse: &dyn Fn(&mut BytesMut) -> Outcome) -> Outcome {
    let mut buf = BytesMut::from(&input[..at]);
    match parse(&mut buf)? {
        Some(s) => {
            let mut s = s;
            s.rest.extend_from_slice(&input[at..]);
            Ok(Some(s))
        }
        None => {
            buf.extend_from_slice(&input[at..]);
            parse(&mut buf)
        }
    }
}

/// Parses `input` whole and split at each of `splits`; panics on a mismatch.
fn consistent(
    input: &[u8],
    splits: impl Iterator<Item = usize>,
    parse: &dyn Fn(&mut BytesMut) -> Outcome,
) -> Outcome {
    let whole = parse(&mut BytesMut::from(input));
    for at in splits {
        let split = split_at(input, at, parse);
        assert_eq!(
            split,
            whole,
            "split at {at} of {:?}",
            String::from_utf8_lossy(input)
        );
    }
    whole
}

/// The request outcome; asserts every split point agrees.
pub fn request_outcome(input: &[u8], limits: &Limits) -> Outcome {
    consistent(input, 0..=input.len(), &|b| parse_req(b, limits))
}

/// The response outcome; asserts every split point agrees.
pub fn response_outcome(input: &[u8], limits: &Limits, method: Method) -> Outcome {
    consistent(input, 0..=input.len(), &|b| parse_res(b, limits, method))
}

fn split_points(data: &[u8]) -> impl Iterator<Item = usize> {
    let len = data.len();
    let a = data.first().map_or(0, |&b| usize::from(b)) % (len + 1);
    let b = data.last().map_or(0, |&b| usize::from(b) * 7) % (len + 1);
    [a, b].into_iter()
}

/// The next hop has its own limits: re-encoding may add a Host line.
fn reencoded_limits() -> Limits {
    Limits {
        max_headers: crate::MAX_HEADERS_CAPACITY,
        max_head_bytes: 1 << 20,
        ..Limits::default()
    }
}

/// Fuzz target: request heads. Also checks that a re-encoded head parses to
/// the same framing (a proxy must never change what the next hop sees).
pub fn request_head(data: &[u8]) {
    let limits = Limits::default();
    let outcome = consistent(data, split_points(data), &|b| parse_req(b, &limits));
    let mut buf = BytesMut::from(data);
    if let (Ok(Some(_)), Ok(Some(head))) = (outcome, parse_request(&mut buf, &limits)) {
        let mut out = BytesMut::new();
        encode_request(&head, None, &[], &mut out);
        let again = parse_request(&mut out, &reencoded_limits()).expect("re-encoded head parses");
        let again = again.expect("re-encoded head is complete");
        assert_eq!(again.body(), head.body());
        assert_eq!(again.target(), head.target());
        assert!(out.is_empty());
    }
}

/// Fuzz target: response heads, for a GET and a HEAD request.
pub fn response_head(data: &[u8]) {
    let limits = Limits::default();
    for method in [Method::Get, Method::Head] {
        let outcome = consistent(data, split_points(data), &|b| parse_res(b, &limits, method));
        let mut buf = BytesMut::from(data);
        if let (Ok(Some(_)), Ok(Some(head))) = (outcome, parse_response(&mut buf, &limits, method))
        {
            let mut out = BytesMut::new();
            encode_response(&head, &[], &mut out);
            let again = parse_response(&mut out, &reencoded_limits(), method)
                .expect("re-encoded head parses");
            assert_eq!(again.expect("complete").body(), head.body());
        }
    }
}

/// Scans `input` in pieces cut at `splits`; returns (outcome, consumed, payload).
fn scan_pieces(
    input: &[u8],
    splits: &[usize],
    limits: &Limits,
) -> (Result<bool, ParseError>, usize, u64) {
    let mut scanner = BodyScanner::new(BodyKind::Chunked);
    let mut pos = 0;
    for &end in splits.iter().chain(core::iter::once(&input.len())) {
        let end = end.clamp(pos, input.len());
        while pos < end {
            match scanner.scan(&input[pos..end], limits) {
                Err(e) => return (Err(e), 0, scanner.body_bytes()),
                Ok(s) => {
                    pos += s.consumed;
                    if s.done {
                        return (Ok(true), pos, scanner.body_bytes());
                    }
                    assert_eq!(pos, end, "an unfinished scan consumes all its input");
                }
            }
        }
    }
    (Ok(false), pos, scanner.body_bytes())
}

/// Decodes `input` fed in two pieces; returns (outcome, payload, leftover).
fn decode_pieces(
    input: &[u8],
    at: usize,
    limits: &Limits,
) -> (Result<bool, ParseError>, Vec<u8>, usize) {
    let mut decoder = BodyDecoder::new(BodyKind::Chunked);
    let mut buf = BytesMut::from(&input[..at]);
    let mut payload = Vec::new();
    let mut fed = false;
    loop {
        match decoder.decode(&mut buf, limits) {
            Err(e) => return (Err(e), payload, buf.len()),
            Ok(Decoded::Data(d)) => payload.extend_from_slice(&d),
            Ok(Decoded::Done) => {
                return (
                    Ok(true),
                    payload,
                    buf.len() + if fed { 0 } else { input.len() - at },
                )
            }
            Ok(Decoded::NeedMore) if fed => return (Ok(false), payload, buf.len()),
            Ok(Decoded::NeedMore) => {
                buf.extend_from_slice(&input[at..]);
                fed = true;
            }
        }
    }
}

/// The chunked scanner outcome for `input`, asserting that every split (or
/// the given ones) and the decoder agree. Returns (done?, consumed, payload).
pub fn chunked_outcome(
    input: &[u8],
    limits: &Limits,
    every_split: bool,
) -> (Result<bool, ParseError>, usize, Vec<u8>) {
    let whole = scan_pieces(input, &[], limits);
    let points: Vec<usize> = if every_split {
        (0..=input.len()).collect()
    } else {
        split_points(input).collect()
    };
    for &at in &points {
        assert_eq!(
            scan_pieces(input, &[at], limits),
            whole,
            "scan split at {at}"
        );
        let (res, payload, _) = decode_pieces(input, at, limits);
        assert_eq!(res, whole.0, "decode split at {at}");
        assert_eq!(
            payload.len() as u64,
            whole.2,
            "decoded payload length at {at}"
        );
    }
    let (_, payload, _) = decode_pieces(input, input.len(), limits);
    (whole.0, whole.1, payload)
}

/// Forwards `input` through a [`BodyForwarder`] in pieces cut at `splits`;
/// returns (outcome, the bytes a proxy would send on).
fn forward_pieces(
    input: &[u8],
    splits: &[usize],
    limits: &Limits,
) -> (Result<bool, ParseError>, Vec<u8>) {
    let mut fw = BodyForwarder::new(BodyKind::Chunked);
    let mut out = Vec::new();
    let mut pos = 0;
    for &end in splits.iter().chain(core::iter::once(&input.len())) {
        let end = end.clamp(pos, input.len());
        while pos < end {
            let f = match fw.scan(&input[pos..end], limits) {
                Err(e) => return (Err(e), Vec::new()),
                Ok(f) => f,
            };
            assert!(f.pass <= f.consumed);
            out.extend_from_slice(&input[pos..pos + f.pass]);
            pos += f.consumed;
            if f.done {
                let tail = fw
                    .take_trailers()
                    .expect("a done chunked body has trailers");
                out.extend_from_slice(&tail);
                return (Ok(true), out);
            }
            assert_eq!(pos, end, "an unfinished scan consumes all its input");
            assert!(fw.take_trailers().is_none());
        }
    }
    (Ok(false), out)
}

/// The trailer field names of a complete chunked body.
fn trailer_names(body: &[u8], limits: &Limits) -> Vec<Vec<u8>> {
    let s = BodyScanner::new(BodyKind::Chunked)
        .scan(body, limits)
        .unwrap();
    assert!(
        s.done && s.consumed == body.len(),
        "forwarded body is whole"
    );
    body[s.consumed - s.trailer_bytes..]
        .split(|&b| b == b'\n')
        .filter_map(|line| Some(line[..line.iter().position(|&b| b == b':')?].to_vec()))
        .collect()
}

/// What a proxy forwards for the chunked body `input`, asserting that every
/// split (or the given ones) and byte-at-a-time feeding agree with the
/// scanner, and that the output is a complete chunked body with the same
/// payload and no forbidden trailer field. Returns (done?, forwarded bytes).
pub fn forwarded(
    input: &[u8],
    limits: &Limits,
    every_split: bool,
) -> (Result<bool, ParseError>, Vec<u8>) {
    let whole = forward_pieces(input, &[], limits);
    let points: Vec<usize> = if every_split {
        (0..=input.len()).collect()
    } else {
        split_points(input).collect()
    };
    for &at in &points {
        assert_eq!(forward_pieces(input, &[at], limits), whole, "split at {at}");
    }
    let bytes: Vec<usize> = (1..input.len()).collect();
    assert_eq!(
        forward_pieces(input, &bytes, limits),
        whole,
        "byte at a time"
    );
    assert_eq!(whole.0, scan_pieces(input, &[], limits).0);
    if whole.0 == Ok(true) {
        let (_, payload, _) = decode_pieces(input, input.len(), limits);
        let (res, again, _) = decode_pieces(&whole.1, whole.1.len(), limits);
        assert_eq!((res, again), (Ok(true), payload), "forwarded payload");
        for name in trailer_names(&whole.1, limits) {
            assert!(!is_forbidden_trailer(&name), "{name:?} forwarded");
        }
    }
    whole
}

/// Fuzz target: the chunked decoder, scanner and forwarder.
pub fn chunked(data: &[u8]) {
    let limits = Limits {
        max_chunk_line_bytes: 64,
        max_trailer_bytes: 256,
        ..Limits::default()
    };
    let _ = chunked_outcome(data, &limits, false);
    let _ = forwarded(data, &limits, false);
}
