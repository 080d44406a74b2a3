//! One access-log line, reduced to the fields a report reads.
//!
//! Strings borrow from the line unless they hold JSON escapes; fields the
//! report does not use (client, path, query, ua, ...) are skipped without
//! being allocated.

use std::borrow::Cow;

use serde::Deserialize;

use super::time::{parse_rfc3339, Micros};

/// The fields of a log line that a report groups and measures by.
#[derive(Debug, Deserialize)]
pub struct Record<'a> {
    #[serde(borrow, rename = "ts")]
    ts_text: Cow<'a, str>,
    #[serde(skip)]
    ts: Micros,
    /// Response status sent to the client.
    pub status: u16,
    /// Route name; null when no route matched.
    #[serde(borrow, default)]
    pub route: Option<Cow<'a, str>>,
    /// Backend address; null when no upstream was involved.
    #[serde(borrow, default)]
    pub upstream: Option<Cow<'a, str>>,
    /// coregate's own error kind (`upstream_connect`, ...), or null.
    #[serde(borrow, default)]
    pub error: Option<Cow<'a, str>>,
    /// Authenticated consumer, or null.
    #[serde(borrow, default)]
    pub consumer: Option<Cow<'a, str>>,
    /// Time from the request head to the last byte sent, in microseconds.
    #[serde(default)]
    pub total_us: Option<u64>,
}

/// A line's `ts` alone, for the pass that finds the newest line.
#[derive(Deserialize)]
struct Stamp<'a> {
    #[serde(borrow)]
    ts: Cow<'a, str>,
}

// === impl Record ===

impl<'a> Record<'a> {
    /// `None` for anything but a JSON object with a valid `ts` and `status`.
    pub fn parse(line: &'a [u8]) -> Option<Self> {
        let mut rec: Self = serde_json::from_slice(line).ok()?;
        rec.ts = parse_rfc3339(&rec.ts_text)?;
        Some(rec)
    }

    /// When the request was logged.
    pub fn ts(&self) -> Micros {
        self.ts
    }

    /// A 5xx or one of coregate's own errors.
    pub fn is_error(&self) -> bool {
        self.status >= 500 || self.error.is_some()
    }

    /// What the error table calls this failure: the error kind, else the
    /// status; `None` when the request did not fail.
    pub fn error_label(&self) -> Option<Cow<'_, str>> {
        match &self.error {
            Some(kind) => Some(Cow::Borrowed(kind.as_ref())),
            None if self.status >= 500 => Some(Cow::Owned(self.status.to_string())),
            None => None,
        }
    }
}

/// The `ts` of a line, when it has a valid one.
pub(super) fn parse_ts(line: &[u8]) -> Option<Micros> {
    let stamp: Stamp<'_> = serde_json::from_slice(line).ok()?;
    parse_rfc3339(&stamp.ts)
}

#[cfg(test)]
mod tests {
    use super::*;

    const LINE: &str = r#"{"ts":"2026-11-26T13:05:01.123456Z","shard":0,"id":"5f0c","client":"127.0.0.1:53422","method":"GET","host":"api.example.com","path":"/v1/users","query":"page=2","proto":"HTTP/1.1","status":200,"bytes_in":512,"bytes_out":2048,"route":"api","upstream":"127.0.0.1:9000","upstream_status":200,"connect_us":120,"head_us":1350,"total_us":1500,"error":null,"consumer":null,"ua":"curl/8.0"}"#;

    #[test]
    fn reads_the_documented_line() {
        let r = Record::parse(LINE.as_bytes()).unwrap();
        assert_eq!(r.status, 200);
        assert_eq!(r.route.as_deref(), Some("api"));
        assert_eq!(r.upstream.as_deref(), Some("127.0.0.1:9000"));
        assert_eq!((r.error.as_deref(), r.consumer.as_deref()), (None, None));
        assert_eq!(r.total_us, Some(1500));
        assert!(!r.is_error() && r.error_label().is_none());
        assert_eq!(parse_ts(LINE.as_bytes()), Some(r.ts()));
    }

    #[test]
    fn errors_are_labelled_by_kind_then_status() {
        let line = LINE.replace(r#""status":200"#, r#""status":502"#);
        let r = Record::parse(line.as_bytes()).unwrap();
        assert_eq!(r.error_label().as_deref(), Some("502"));
        let line = line.replace(r#""error":null"#, r#""error":"upstream_connect""#);
        let r = Record::parse(line.as_bytes()).unwrap();
        assert_eq!(r.error_label().as_deref(), Some("upstream_connect"));
        let line = LINE.replace(r#""error":null"#, r#""error":"client_timeout""#);
        assert!(Record::parse(line.as_bytes()).unwrap().is_error());
    }

    #[test]
    fn escaped_strings_are_unescaped() {
        let line = LINE.replace(r#""route":"api""#, r#""route":"a\"p\u0069""#);
        let r = Record::parse(line.as_bytes()).unwrap();
        assert_eq!(r.route.as_deref(), Some("a\"pi"));
    }

    #[test]
    fn malformed_lines_are_none() {
        for bad in [
            "",
            "not json",
            "{}",
            &LINE[..LINE.len() - 1],
            &LINE.replace(
                r#""ts":"2026-11-26T13:05:01.123456Z""#,
                r#""ts":"yesterday""#,
            ),
            &LINE.replace(r#""status":200"#, r#""status":"200""#),
            &LINE.replace(r#""status":200"#, r#""status":-1"#),
            "[1,2,3]",
            "\u{ff}\u{fe}",
        ] {
            assert!(Record::parse(bad.as_bytes()).is_none(), "{bad:?}");
        }
        assert!(Record::parse(b"\xff{").is_none());
    }
}
