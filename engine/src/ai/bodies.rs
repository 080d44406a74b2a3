//! Prompt and answer bodies for the access log, on routes that opt in:
//! the first [`LOGGED_BYTES`] of each, kept as they came on the request
//! path and masked only when the log line is written (after the answer
//! went out): key-like tokens, e-mail addresses and card-like numbers
//! always, and the route's own patterns.

use std::sync::OnceLock;

use regex::Regex;

/// Bytes of a prompt or an answer kept for the log.
pub(crate) const LOGGED_BYTES: usize = 4096;

/// What a logged body's masked parts become.
const MASKED: &str = "[masked]";

/// A route's AI settings with its mask patterns compiled.
#[derive(Debug)]
pub(crate) struct AiAction {
    pub(crate) route: tuning::AiRoute,
    pub(crate) masks: Vec<Regex>,
}

impl AiAction {
    /// Compiles `route` (its patterns were checked at load).
    pub(crate) fn new(route: &tuning::AiRoute) -> AiAction {
        AiAction {
            route: route.clone(),
            masks: route
                .mask
                .iter()
                .filter_map(|m| Regex::new(m).ok())
                .collect(),
        }
    }
}

/// The patterns every logged body is masked with.
fn builtin() -> &'static [Regex] {
    static BUILTIN: OnceLock<Vec<Regex>> = OnceLock::new();
    BUILTIN.get_or_init(|| {
        [
            r"\b(?:sk|rk|pk)-[A-Za-z0-9_-]{12,}",
            r"\bAIza[0-9A-Za-z_-]{20,}",
            r"\b[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}\b",
            r"\b(?:\d[ -]?){12,18}\d\b",
            r"(?i)\bbearer\s+[A-Za-z0-9._~+/=-]{8,}",
        ]
        .iter()
        .filter_map(|p| Regex::new(p).ok())
        .collect()
    })
}

/// The first [`LOGGED_BYTES`] of `b`.
pub(crate) fn keep(b: &[u8]) -> Box<[u8]> {
    b[..b.len().min(LOGGED_BYTES)].into()
}

/// `b` as text, masked.
pub(crate) fn masked(b: &[u8], route: &[Regex]) -> String {
    let mut text = String::from_utf8_lossy(b).into_owned();
    for re in builtin().iter().chain(route) {
        if re.is_match(&text) {
            text = re.replace_all(&text, MASKED).into_owned();
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_and_the_routes_patterns_are_masked() {
        let route = [Regex::new(r"patient-\d+").unwrap_or_else(|_| unreachable!())];
        let text = br#"{"content":"key sk-abcdefghijklmnop1234, mail a.b@example.com, card 4111 1111 1111 1111, patient-42, Bearer abc.def.ghi123"}"#;
        let out = masked(text, &route);
        for secret in ["sk-abc", "a.b@example.com", "4111", "patient-42", "abc.def"] {
            assert!(!out.contains(secret), "{secret} in {out}");
        }
        assert_eq!(out.matches(MASKED).count(), 5, "{out}");
        assert!(out.contains("key "), "the rest stays: {out}");
    }

    #[test]
    fn only_the_first_bytes_are_kept() {
        assert_eq!(keep(&[b'x'; 10_000]).len(), LOGGED_BYTES);
        assert_eq!(&*keep(b"short"), b"short");
    }
}
