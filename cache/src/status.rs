//! The `Cache-Status` field (RFC 9211) and the `Age` field.

use crate::fields::MAX_DELTA;

/// Why the request went forward (RFC 9211 §2.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fwd {
    /// No entry for the URI.
    UriMiss,
    /// Entries for the URI, none for this variant.
    VaryMiss,
    /// A miss that is not known to be one of the above.
    Miss,
    /// The request asked to go forward (`no-cache`, `max-age=0`, ...).
    Request,
    /// The entry was stale and had to be revalidated.
    Stale,
    /// Only part of the request could be served from the cache.
    Partial,
}

/// One `Cache-Status` member for this cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CacheStatus<'a> {
    /// Served from the cache without going forward (stale ones too).
    pub hit: bool,
    /// Why it went forward, if it did.
    pub fwd: Option<Fwd>,
    /// The status the forward request got (e.g. 304 on revalidation).
    pub fwd_status: Option<u16>,
    /// Freshness left in seconds; negative when stale.
    pub ttl: Option<i64>,
    /// The response was stored.
    pub stored: bool,
    /// The request was coalesced with another one's forward request.
    pub collapsed: bool,
    /// Free text for operators (a token or a string, as needed).
    pub detail: Option<&'a str>,
}

// === impl Fwd ===

impl Fwd {
    /// The parameter value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::UriMiss => "uri-miss",
            Self::VaryMiss => "vary-miss",
            Self::Miss => "miss",
            Self::Request => "request",
            Self::Stale => "stale",
            Self::Partial => "partial",
        }
    }
}

// === impl CacheStatus ===

impl CacheStatus<'_> {
    /// Appends the member, named `cache` (e.g. `coregate`), to `out`.
    pub fn write(&self, cache: &str, out: &mut Vec<u8>) {
        write_item(cache, out);
        let mut param = |s: &str| {
            out.extend_from_slice(b"; ");
            out.extend_from_slice(s.as_bytes());
        };
        if self.hit {
            param("hit");
        }
        if let Some(f) = self.fwd {
            param(&format!("fwd={}", f.as_str()));
        }
        if let Some(s) = self.fwd_status {
            param(&format!("fwd-status={s}"));
        }
        if let Some(t) = self.ttl {
            param(&format!("ttl={t}"));
        }
        if self.stored {
            param("stored");
        }
        if self.collapsed {
            param("collapsed");
        }
        if let Some(d) = self.detail {
            out.extend_from_slice(b"; detail=");
            write_item(d, out);
        }
    }

    /// The member as a new field value.
    pub fn to_value(&self, cache: &str) -> Vec<u8> {
        let mut out = Vec::with_capacity(48);
        self.write(cache, &mut out);
        out
    }
}

/// An sf-token when `s` is one, else an sf-string (RFC 8941 §3.3.3-4).
fn write_item(s: &str, out: &mut Vec<u8>) {
    if is_token(s) {
        out.extend_from_slice(s.as_bytes());
        return;
    }
    out.push(b'"');
    for b in s.bytes().filter(|b| (0x20..0x7f).contains(b)) {
        if b == b'"' || b == b'\\' {
            out.push(b'\\');
        }
        out.push(b);
    }
    out.push(b'"');
}

fn is_token(s: &str) -> bool {
    let mut bytes = s.bytes();
    let first_ok = bytes
        .next()
        .is_some_and(|b| b.is_ascii_alphabetic() || b == b'*');
    first_ok && bytes.all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~:/".contains(&b))
}

/// The `Age` value for a current age (RFC 9111 §5.1), capped at 2^31.
pub fn age_value(current_age: u64) -> String {
    current_age.min(MAX_DELTA).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_or_string() {
        let s = CacheStatus {
            hit: true,
            detail: Some("a b\"c"),
            ..Default::default()
        };
        assert_eq!(
            s.to_value("coregate"),
            b"coregate; hit; detail=\"a b\\\"c\""
        );
        assert_eq!(CacheStatus::default().to_value("my cache"), b"\"my cache\"");
    }
}
