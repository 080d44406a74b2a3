//! One access-log line, reduced to the fields a report reads.
//!
//! Strings borrow from the line unless they hold JSON escapes; fields the
//! report does not use (client, path, query, ua, an AI call's `prompt` and
//! `answer`, the failover reasons, ...) are skipped without being
//! allocated.

use std::borrow::Cow;
use std::fmt;

use serde::de::{IgnoredAny, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer};

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
    /// Authenticated consumer (the calling app), or null.
    #[serde(borrow, default)]
    pub consumer: Option<Cow<'a, str>>,
    /// The calling app's team, or null.
    #[serde(borrow, default)]
    pub team: Option<Cow<'a, str>>,
    /// Time from the request head to the last byte sent, in microseconds.
    #[serde(default)]
    pub total_us: Option<u64>,
    /// What an AI call used; absent (or null) on other requests.
    #[serde(borrow, default)]
    pub ai: Option<Ai<'a>>,
}

/// The `ai` object of an AI call, reduced to what a report sums: who
/// answered, token counts, cost, time to first token and whether it failed
/// over. A missing number reads as 0 (`first_token_us` as unknown).
#[derive(Debug, Default, Deserialize)]
pub struct Ai<'a> {
    /// Provider that answered; null when none did.
    #[serde(borrow, default)]
    pub provider: Option<Cow<'a, str>>,
    /// The model the client asked for.
    #[serde(borrow, default)]
    pub model: Option<Cow<'a, str>>,
    /// Input (prompt) tokens.
    #[serde(default)]
    pub tokens_in: u64,
    /// Output (completion) tokens.
    #[serde(default)]
    pub tokens_out: u64,
    /// Input tokens served from the provider's cache.
    #[serde(default)]
    pub tokens_cached: u64,
    /// Reasoning tokens.
    #[serde(default)]
    pub tokens_reasoning: u64,
    /// Cost in micro-dollars.
    #[serde(default)]
    pub cost_microusd: u64,
    /// Time to the first token of the answer, in microseconds.
    #[serde(default)]
    pub first_token_us: Option<u64>,
    /// Whether the call failed over at least once (a non-empty
    /// `failovers` list; the entries themselves are skipped).
    #[serde(default, rename = "failovers", deserialize_with = "non_empty")]
    pub failed_over: bool,
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

/// Whether a JSON array (or null) has any element, skipping the elements.
fn non_empty<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    struct AnyElement;

    impl<'de> Visitor<'de> for AnyElement {
        type Value = bool;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("an array or null")
        }

        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<bool, A::Error> {
            let mut any = false;
            while seq.next_element::<IgnoredAny>()?.is_some() {
                any = true;
            }
            Ok(any)
        }

        fn visit_unit<E>(self) -> Result<bool, E> {
            Ok(false)
        }

        fn visit_none<E>(self) -> Result<bool, E> {
            Ok(false)
        }
    }

    d.deserialize_any(AnyElement)
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

    const AI: &str = r#","ai":{"provider":"claude","model":"smart","key":"main","stream":true,"tokens_in":120,"tokens_out":48,"tokens_cached":7,"tokens_reasoning":3,"cost_microusd":1234,"first_token_us":5300,"failovers":["openai/main:429"],"prompt":"hi \"there\"","answer":"hello"}"#;

    #[test]
    fn reads_the_ai_fields_and_team() {
        let line = LINE.replace(
            r#""consumer":null"#,
            &format!(r#""consumer":"mobile","team":"shop"{AI}"#),
        );
        let r = Record::parse(line.as_bytes()).unwrap();
        assert_eq!(r.consumer.as_deref(), Some("mobile"));
        assert_eq!(r.team.as_deref(), Some("shop"));
        let ai = r.ai.unwrap();
        assert_eq!(ai.provider.as_deref(), Some("claude"));
        assert_eq!(ai.model.as_deref(), Some("smart"));
        let tokens = (
            ai.tokens_in,
            ai.tokens_out,
            ai.tokens_cached,
            ai.tokens_reasoning,
        );
        assert_eq!(tokens, (120, 48, 7, 3));
        assert_eq!((ai.cost_microusd, ai.first_token_us), (1234, Some(5300)));
        assert!(ai.failed_over);

        let plain = Record::parse(LINE.as_bytes()).unwrap();
        assert!(plain.ai.is_none() && plain.team.is_none());
        let null = LINE.replace(r#""consumer":null"#, r#""consumer":null,"ai":null"#);
        assert!(Record::parse(null.as_bytes()).unwrap().ai.is_none());
        let sparse = LINE.replace(
            r#""consumer":null"#,
            r#""consumer":null,"ai":{"provider":null,"model":"m","failovers":[],"first_token_us":null}"#,
        );
        let ai = Record::parse(sparse.as_bytes()).unwrap().ai.unwrap();
        assert_eq!(
            (ai.provider, ai.tokens_in, ai.first_token_us),
            (None, 0, None)
        );
        assert!(!ai.failed_over);
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
