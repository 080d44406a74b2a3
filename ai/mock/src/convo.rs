//! The format-neutral view of a chat request, and the deterministic reply plan
//! (text pieces, tool calls, stop reason, token counts) derived from it.

/// Input tokens each image counts for.
const IMAGE_TOKENS: u64 = 10;
/// Output tokens each tool call counts for.
const CALL_TOKENS: u64 = 5;
/// How many declared tools a "call tools" turn calls.
const CALLS: usize = 2;

/// What the mock needs from a chat request, whatever its format.
#[derive(Debug, Default)]
pub(crate) struct Convo {
    pub(crate) model: String,
    /// Whitespace-separated words in every message text, system included.
    pub(crate) words: u64,
    pub(crate) images: u64,
    /// Text of the last user-role message (its text parts joined by newlines).
    pub(crate) last_user: Option<String>,
    /// The conversation's last message is that user message.
    pub(crate) ends_with_user: bool,
    /// Declared tool names, in order.
    pub(crate) tools: Vec<String>,
    pub(crate) max_out: Option<u64>,
    pub(crate) stream: bool,
    pub(crate) include_usage: bool,
    /// The system text mentions "cache" (Anthropic reports cache reads).
    pub(crate) system_cache: bool,
}

impl Convo {
    /// Counts a message text toward the input.
    pub(crate) fn add_text(&mut self, text: &str) {
        self.words += word_count(text);
    }

    /// Notes one user-role message with these text parts.
    pub(crate) fn user_message(&mut self, texts: &[&str]) {
        self.last_user = Some(texts.join("\n"));
    }

    /// Input tokens: words plus a flat count per image.
    pub(crate) fn input_tokens(&self) -> u64 {
        self.words + IMAGE_TOKENS * self.images
    }
}

/// Why the reply ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Finish {
    Stop,
    Length,
    Tools,
}

/// The reply the mock will give.
#[derive(Debug)]
pub(crate) struct Plan {
    /// Text pieces, one per word: `"w0"`, `" w1"`, … (they concatenate to the text).
    pub(crate) pieces: Vec<String>,
    /// Names of the tools called, in order.
    pub(crate) calls: Vec<String>,
    pub(crate) finish: Finish,
    pub(crate) input: u64,
    pub(crate) output: u64,
}

impl Plan {
    /// Plans the reply; `lead` is the short text a format sends before tool calls.
    pub(crate) fn new(c: &Convo, words: usize, lead: Option<&str>) -> Plan {
        let user = c.last_user.as_deref().unwrap_or("");
        let calls_tools = c.ends_with_user && !c.tools.is_empty() && user.contains("call tools");
        let (pieces, calls, finish) = if calls_tools {
            let calls: Vec<String> = c.tools.iter().take(CALLS).cloned().collect();
            (lead.map(pieces).unwrap_or_default(), calls, Finish::Tools)
        } else {
            let mut all = match user.trim_start().strip_prefix("echo:") {
                Some(rest) => pieces(rest.trim()),
                None => generated(words),
            };
            let cap = c
                .max_out
                .map_or(usize::MAX, |m| usize::try_from(m).unwrap_or(usize::MAX));
            let finish = if cap < all.len() {
                all.truncate(cap);
                Finish::Length
            } else {
                Finish::Stop
            };
            (all, Vec::new(), finish)
        };
        let output = pieces.len() as u64 + CALL_TOKENS * calls.len() as u64;
        Plan {
            pieces,
            calls,
            finish,
            input: c.input_tokens(),
            output,
        }
    }

    /// The whole reply text.
    pub(crate) fn text(&self) -> String {
        self.pieces.concat()
    }
}

/// A tool call's arguments as a JSON string: `{"q":"<name>"}`.
pub(crate) fn call_args(name: &str) -> String {
    serde_json::json!({ "q": name }).to_string()
}

/// Splits call arguments into the 2 streamed pieces (after the first colon).
pub(crate) fn split_args(args: &str) -> (&str, &str) {
    let at = args.find(':').map_or(args.len() / 2, |i| i + 1);
    args.split_at(at)
}

/// Whitespace-separated words in a text.
pub(crate) fn word_count(text: &str) -> u64 {
    text.split_whitespace().count() as u64
}

/// `"w0"`, `" w1"`, … `n` pieces.
fn generated(n: usize) -> Vec<String> {
    (0..n)
        .map(|i| {
            if i == 0 {
                "w0".to_string()
            } else {
                format!(" w{i}")
            }
        })
        .collect()
}

/// Splits a text into one piece per word, each carrying the whitespace before
/// it (except the first), so that the pieces concatenate to the text.
fn pieces(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut prev_ws = true;
    for (i, ch) in text.char_indices() {
        let ws = ch.is_whitespace();
        if ws && !prev_ws && i > 0 {
            out.push(text[start..i].to_string());
            start = i;
        }
        prev_ws = ws;
    }
    if text[start..].chars().any(|c| !c.is_whitespace()) {
        out.push(text[start..].to_string());
    }
    out
}

/// An 8-float embedding derived from the input text (FNV-1a, then splitmix64).
pub(crate) fn embedding(input: &str) -> Vec<f64> {
    let mut state = input.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    (0..8)
        .map(|_| {
            state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^= z >> 31;
            let unit = (z >> 11) as f64 / (1u64 << 53) as f64;
            ((unit * 2.0 - 1.0) * 1e6).round() / 1e6
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pieces_concatenate_to_the_text() {
        assert_eq!(pieces("a  b\nc"), vec!["a", "  b", "\nc"]);
        assert_eq!(pieces(""), Vec::<String>::new());
        assert_eq!(generated(3).concat(), "w0 w1 w2");
    }

    #[test]
    fn plan_cuts_at_max_and_calls_tools() {
        let mut c = Convo {
            last_user: Some("echo: one two three".into()),
            ends_with_user: true,
            max_out: Some(2),
            ..Convo::default()
        };
        let p = Plan::new(&c, 8, None);
        assert_eq!(
            (p.text().as_str(), p.finish, p.output),
            ("one two", Finish::Length, 2)
        );
        c.tools = vec!["a".into(), "b".into(), "c".into()];
        c.last_user = Some("please call tools".into());
        let p = Plan::new(&c, 8, Some("ok"));
        assert_eq!(p.calls, vec!["a", "b"]);
        assert_eq!(
            (p.text().as_str(), p.finish, p.output),
            ("ok", Finish::Tools, 11)
        );
        c.ends_with_user = false;
        assert_eq!(Plan::new(&c, 3, None).text(), "w0 w1");
    }

    #[test]
    fn embedding_is_deterministic() {
        assert_eq!(embedding("x"), embedding("x"));
        assert_ne!(embedding("x"), embedding("y"));
        assert!(embedding("x").iter().all(|v| (-1.0..1.0).contains(v)));
        assert_eq!(split_args(&call_args("t")), ("{\"q\":", "\"t\"}"));
    }
}
