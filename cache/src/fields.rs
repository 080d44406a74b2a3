//! Header lookup and list splitting over `(name, value)` byte slices.

/// One header field as the engine hands it over: `(name, value)`.
pub type Field<'a> = (&'a [u8], &'a [u8]);

/// Every value of the header `name` (case-insensitive), in order.
pub(crate) fn values<'a>(
    headers: &'a [Field<'a>],
    name: &'a [u8],
) -> impl Iterator<Item = &'a [u8]> + 'a {
    headers
        .iter()
        .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| *v)
}

/// The first value of `name`, if any.
pub(crate) fn first<'a>(headers: &'a [Field<'a>], name: &'a [u8]) -> Option<&'a [u8]> {
    values(headers, name).next()
}

/// Whether `name` is present at all.
pub(crate) fn has(headers: &[Field<'_>], name: &[u8]) -> bool {
    headers.iter().any(|(n, _)| n.eq_ignore_ascii_case(name))
}

/// `v` without leading and trailing spaces and tabs (OWS).
pub(crate) fn trim(v: &[u8]) -> &[u8] {
    let start = v.iter().position(|b| !is_ows(*b)).unwrap_or(v.len());
    let end = v.iter().rposition(|b| !is_ows(*b)).map_or(start, |i| i + 1);
    &v[start..end]
}

pub(crate) fn is_ows(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

/// The trimmed, non-empty elements of a comma-separated list of tokens.
pub(crate) fn list_items(v: &[u8]) -> impl Iterator<Item = &[u8]> {
    v.split(|b| *b == b',').map(trim).filter(|s| !s.is_empty())
}

/// A delta-seconds value (RFC 9111 §1.2.2): digits only, saturating at
/// 2^31 as the RFC asks of values too large to represent.
pub(crate) fn delta_seconds(v: &[u8]) -> Option<u64> {
    if v.is_empty() || !v.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let n = v.iter().try_fold(0u64, |acc, d| {
        let next = acc * 10 + u64::from(d - b'0');
        (next < MAX_DELTA).then_some(next)
    });
    Some(n.unwrap_or(MAX_DELTA))
}

/// The largest delta-seconds value kept (RFC 9111 §1.2.2).
pub(crate) const MAX_DELTA: u64 = 1 << 31;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trims_and_splits() {
        assert_eq!(trim(b" \t a b \t"), b"a b");
        assert_eq!(trim(b"   "), b"");
        let items: Vec<&[u8]> = list_items(b" a, ,b ,, c").collect();
        assert_eq!(items, [&b"a"[..], b"b", b"c"]);
    }

    #[test]
    fn delta_seconds_saturates_and_rejects() {
        assert_eq!(delta_seconds(b"0"), Some(0));
        assert_eq!(delta_seconds(b"120"), Some(120));
        assert_eq!(delta_seconds(b"99999999999999999999999"), Some(MAX_DELTA));
        assert_eq!(delta_seconds(b""), None);
        assert_eq!(delta_seconds(b"-1"), None);
        assert_eq!(delta_seconds(b"1.5"), None);
    }
}
