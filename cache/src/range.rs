//! Serving a single byte range from a stored full object (RFC 9110 §14).
//! Multiple ranges and anything malformed get the full object, as a
//! server may ignore `Range`.

use crate::conditional::EntityTags;
use crate::date;
use crate::fields::{self, Field};

/// What to send for a `Range` request against an object of known length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RangeAnswer {
    /// `200` with the whole object.
    Full,
    /// `206` with bytes `start..=end`.
    Partial {
        /// First byte offset.
        start: u64,
        /// Last byte offset, inclusive.
        end: u64,
    },
    /// `416` with `Content-Range: bytes */len`.
    Unsatisfiable,
}

/// Resolves a `Range` value against an object of `len` bytes.
pub fn resolve(range: &[u8], len: u64) -> RangeAnswer {
    let v = fields::trim(range);
    let Some(spec) = v
        .get(..6)
        .filter(|p| p.eq_ignore_ascii_case(b"bytes="))
        .map(|_| &v[6..])
    else {
        return RangeAnswer::Full;
    };
    let mut specs = fields::list_items(spec);
    match (specs.next(), specs.next()) {
        (Some(one), None) => single(one, len),
        _ => RangeAnswer::Full,
    }
}

fn single(spec: &[u8], len: u64) -> RangeAnswer {
    let Some(dash) = spec.iter().position(|b| *b == b'-') else {
        return RangeAnswer::Full;
    };
    let (first, last) = (fields::trim(&spec[..dash]), fields::trim(&spec[dash + 1..]));
    match (number(first), number(last)) {
        (None, Some(n)) if first.is_empty() => suffix(n, len),
        (Some(a), None) if last.is_empty() => bounded(a, u64::MAX, len),
        (Some(a), Some(b)) if a <= b => bounded(a, b, len),
        _ => RangeAnswer::Full,
    }
}

fn suffix(n: u64, len: u64) -> RangeAnswer {
    if n == 0 || len == 0 {
        return RangeAnswer::Unsatisfiable;
    }
    RangeAnswer::Partial {
        start: len.saturating_sub(n),
        end: len - 1,
    }
}

fn bounded(start: u64, end: u64, len: u64) -> RangeAnswer {
    if start >= len {
        return RangeAnswer::Unsatisfiable;
    }
    RangeAnswer::Partial {
        start,
        end: end.min(len - 1),
    }
}

fn number(v: &[u8]) -> Option<u64> {
    if v.is_empty() || !v.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(v).ok()?.parse().ok()
}

/// The `Content-Range` value: `bytes a-b/len`, or `bytes */len` for 416.
pub fn content_range(answer: RangeAnswer, len: u64) -> Option<String> {
    match answer {
        RangeAnswer::Full => None,
        RangeAnswer::Partial { start, end } => Some(format!("bytes {start}-{end}/{len}")),
        RangeAnswer::Unsatisfiable => Some(format!("bytes */{len}")),
    }
}

/// Whether an `If-Range` lets the range be served (RFC 9110 §13.1.5): a
/// strong match with the stored `ETag`, or exactly the stored
/// `Last-Modified`. When it does not, the full object is sent.
pub fn if_range_matches(if_range: &[u8], stored: &[Field<'_>]) -> bool {
    let v = fields::trim(if_range);
    if v.starts_with(b"\"") || v.starts_with(b"W/") {
        let ours = fields::first(stored, b"etag").and_then(|e| EntityTags::new(e).next());
        let theirs = EntityTags::new(v).next();
        return matches!((theirs, ours), (Some(t), Some(o)) if t.strong_eq(&o));
    }
    let lm = fields::first(stored, b"last-modified").and_then(date::parse);
    matches!((date::parse(v), lm), (Some(a), Some(b)) if a == b)
}
