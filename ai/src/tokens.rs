//! Input token estimates for token budgets: how many tokens a Chat
//! Completions prompt costs, counted with tiktoken's `o200k_base` (GPT-4o,
//! GPT-4.1, o-series) plus OpenAI's per-message overhead, so that a budget
//! can reserve before the call and reconcile with the provider's usage after.
//! Other providers' tokenizers are not public; for them this is an estimate.
//!
//! Cost, measured by hand (release build with fat LTO, on a 2-core dev VM
//! that was also compiling): a 1 KiB prompt (a system line plus 1 KiB of
//! Markdown notes, 279 tokens) costs about 45–50 µs to estimate, and 1 KiB
//! of plain English about 25 µs to count (tiktoken's own notes put most of
//! that in its pre-tokenizing regex). The `o200k_base` table builds once per process in
//! about 160 ms, on first use (the engine may call [`warm_up`] at start to
//! take that off the first request).
//!
//! Text is counted in chunks of at most [`CHUNK_BYTES`] bytes, cut before a
//! space that follows a non-space, where tiktoken's pre-tokenizer always
//! splits, so the count is exact for ordinary text. A run of more than
//! [`CHUNK_BYTES`] bytes with no such space (a megabyte of spaces, one
//! endless word) is cut anyway, which can shift the count by a token a cut:
//! unchunked, tiktoken-rs panics on a megabyte of whitespace (its regex
//! backtracking stack overflows) and takes ~0.3 s on a megabyte of one letter.

use std::sync::OnceLock;

use serde_json::Value;
use tiktoken_rs::CoreBPE;

use crate::chat::ChatRequest;

/// Tokens OpenAI adds around every message (`<|start|>{role}<|message|>`
/// ... `<|end|>`), per OpenAI's cookbook accounting.
pub const TOKENS_PER_MESSAGE: u64 = 3;

/// Tokens that prime the reply (`<|start|>assistant<|message|>`).
pub const REPLY_PRIMING: u64 = 3;

/// The extra token of a message that has a `name`.
pub const TOKENS_PER_NAME: u64 = 1;

/// What one image part counts, whatever its size: 1,105 = 85 + 6 × 170,
/// GPT-4o's high-detail price of six 512-px tiles, which is what a 1:2
/// image (1024×2048, scaled to 768×1536) costs. A 1024×1024 image costs
/// 765 (four tiles), a low-detail one 85, so this bounds square and
/// ordinary photo or screenshot shapes from above; images narrower than
/// 1:2 can cost more (768×2048: eight tiles, 1,445), and gpt-4o-mini bills
/// images at other rates. The gateway does not fetch or decode images, so
/// their size is unknown here.
pub const IMAGE_TOKENS: u64 = 1105;

/// The longest text handed to tiktoken at once (see the module doc).
pub const CHUNK_BYTES: usize = 1024;

/// The `o200k_base` encoder, built once per process; `None` if building
/// failed (then text counts bytes / 3).
fn bpe() -> Option<&'static CoreBPE> {
    static BPE: OnceLock<Option<CoreBPE>> = OnceLock::new();
    BPE.get_or_init(|| {
        std::panic::catch_unwind(tiktoken_rs::o200k_base)
            .ok()
            .and_then(Result::ok)
    })
    .as_ref()
}

/// Builds the token table now rather than on the first estimate; returns
/// whether the real tokenizer is available (else counts fall back to
/// bytes / 3, rounded up).
pub fn warm_up() -> bool {
    bpe().is_some()
}

/// Tokens of `s` in `o200k_base`, special-token text (`<|endoftext|>`)
/// counted as ordinary text.
pub fn count_text(s: &str) -> u64 {
    let Some(bpe) = bpe() else {
        return (s.len() as u64).div_ceil(3);
    };
    let mut rest = s;
    let mut total = 0u64;
    while !rest.is_empty() {
        let (head, tail) = rest.split_at(chunk_end(rest));
        total += bpe.encode_ordinary(head).len() as u64;
        rest = tail;
    }
    total
}

/// Where the first chunk of `s` ends: all of `s` if it is short enough,
/// else before the last space (that follows a non-whitespace character)
/// within [`CHUNK_BYTES`], else at [`CHUNK_BYTES`] (on a char boundary).
fn chunk_end(s: &str) -> usize {
    if s.len() <= CHUNK_BYTES {
        return s.len();
    }
    let mut end = CHUNK_BYTES;
    while end > 0 && !s.is_char_boundary(end) {
        end -= 1;
    }
    let window = &s[..end];
    let safe = window.char_indices().rev().find(|&(i, c)| {
        c == ' '
            && i > 0
            && window[..i]
                .chars()
                .next_back()
                .is_some_and(|p| !p.is_whitespace())
    });
    match safe {
        Some((i, _)) => i,
        None if end > 0 => end,
        None => s.len(),
    }
}

/// Estimated prompt tokens of `req`, read from `req.body`: every message's
/// role, text content (string or `text`/`refusal` parts), `name`, tool
/// calls' function names and arguments and `tool_call_id`; each image part
/// counts [`IMAGE_TOKENS`]; other parts (audio, files) count nothing.
/// Plus the `tools` array as JSON text, [`TOKENS_PER_MESSAGE`] a message,
/// [`TOKENS_PER_NAME`] a name and [`REPLY_PRIMING`].
pub fn estimate_input(req: &ChatRequest) -> u64 {
    let messages = req.body.get("messages").and_then(Value::as_array);
    let mut total = REPLY_PRIMING;
    for m in messages.into_iter().flatten() {
        total = total.saturating_add(message_tokens(m));
    }
    if let Some(tools) = req.body.get("tools").filter(|t| !t.is_null()) {
        total = total.saturating_add(count_text(&tools.to_string()));
    }
    total
}

/// What a token budget reserves before the call: the input estimate plus
/// the most the reply may cost (`req.max_tokens`, else
/// `default_max_output`).
pub fn reserve(req: &ChatRequest, default_max_output: u64) -> u64 {
    estimate_input(req).saturating_add(req.max_tokens.unwrap_or(default_max_output))
}

/// One message's tokens, overhead included.
fn message_tokens(m: &Value) -> u64 {
    let mut total = TOKENS_PER_MESSAGE;
    total += str_tokens(m.get("role"));
    total += content_tokens(m.get("content"));
    if let Some(name) = m.get("name").and_then(Value::as_str) {
        total += TOKENS_PER_NAME + count_text(name);
    }
    total += str_tokens(m.get("tool_call_id"));
    let calls = m.get("tool_calls").and_then(Value::as_array);
    for call in calls.into_iter().flatten() {
        total += function_tokens(call.get("function"));
    }
    total + function_tokens(m.get("function_call"))
}

/// A function call's name and arguments.
fn function_tokens(f: Option<&Value>) -> u64 {
    f.map_or(0, |f| {
        str_tokens(f.get("name")) + str_tokens(f.get("arguments"))
    })
}

/// Tokens of a content: a string, or an array of parts.
fn content_tokens(content: Option<&Value>) -> u64 {
    match content {
        Some(Value::String(s)) => count_text(s),
        Some(Value::Array(parts)) => parts.iter().map(part_tokens).fold(0, u64::saturating_add),
        _ => 0,
    }
}

/// Tokens of one content part.
fn part_tokens(part: &Value) -> u64 {
    match part.get("type").and_then(Value::as_str) {
        Some("text") => str_tokens(part.get("text")),
        Some("refusal") => str_tokens(part.get("refusal")),
        Some("image_url") => IMAGE_TOKENS,
        _ => 0,
    }
}

/// Tokens of a value if it is a string, else 0.
fn str_tokens(v: Option<&Value>) -> u64 {
    v.and_then(Value::as_str).map_or(0, count_text)
}
