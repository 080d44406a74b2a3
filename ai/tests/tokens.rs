//! Token estimates: counts against tiktoken's `o200k_base`, OpenAI's
//! per-message overhead, images, tools and the budget reservation.

#![allow(clippy::unwrap_used)]

use ai::tokens::{
    count_text, estimate_input, reserve, warm_up, CHUNK_BYTES, IMAGE_TOKENS, REPLY_PRIMING,
    TOKENS_PER_MESSAGE, TOKENS_PER_NAME,
};
use ai::ChatRequest;
use serde_json::{json, Value};
use std::sync::OnceLock;
use tiktoken_rs::CoreBPE;

/// A request with `body` and `max_tokens`, built without the parser.
fn request(body: Value, max_tokens: Option<u64>) -> ChatRequest {
    let Value::Object(body) = body else {
        panic!("body must be an object")
    };
    ChatRequest {
        model: "m".into(),
        stream: false,
        include_usage: false,
        max_tokens,
        body,
    }
}

/// tiktoken's own count, unchunked: the oracle.
fn oracle(s: &str) -> u64 {
    static BPE: OnceLock<CoreBPE> = OnceLock::new();
    let bpe = BPE.get_or_init(|| tiktoken_rs::o200k_base().unwrap());
    bpe.encode_ordinary(s).len() as u64
}

#[test]
fn the_real_tokenizer_is_available() {
    assert!(warm_up());
}

#[test]
fn counts_known_strings_as_o200k_base_does() {
    // Counts checked against tiktoken's o200k_base by running it.
    let known = [
        ("", 0),
        ("hello world", 2),
        ("Hello, world!", 4),
        ("The quick brown fox jumps over the lazy dog.", 10),
        ("You are a helpful assistant.", 6),
        ("こんにちは世界", 2),
        ("{\"city\":\"Paris\"}", 5),
        ("get_weather", 2),
        ("call_1", 3),
        ("user", 1),
        // Special-token text counts as ordinary text, never as a special token.
        ("<|endoftext|>", 7),
    ];
    for (s, n) in known {
        assert_eq!(count_text(s), n, "{s:?}");
        assert_eq!(oracle(s), n, "oracle {s:?}");
    }
}

#[test]
fn long_ordinary_text_is_counted_exactly_across_chunks() {
    let mut text = String::new();
    let mut i = 0;
    while text.len() < 20 * CHUNK_BYTES {
        text.push_str(&format!(
            "Sentence {i}: the gateway's token budget, (reserved) before the call; \
             ¿qué tal? 漢字テキスト!\n\tIndented   spaces  and numbers 12345.\n\n"
        ));
        i += 1;
    }
    assert_eq!(count_text(&text), oracle(&text));
}

#[test]
fn a_long_run_without_spaces_is_counted() {
    let text = "a".repeat(64 * CHUNK_BYTES);
    assert_eq!(count_text(&text), oracle(&text));
}

#[test]
fn a_megabyte_of_whitespace_does_not_panic() {
    // Unchunked, tiktoken-rs panics on a megabyte of spaces (its regex
    // backtracking stack overflows, somewhere past 700 KB).
    let spaces = " ".repeat(1 << 20);
    let n = count_text(&spaces);
    assert!(n > 0 && n < (1 << 20) / 64, "{n}");
    for unit in ["\n", " \t", "\u{3000}"] {
        let text = unit.repeat((1 << 18) / unit.len());
        let n = count_text(&text);
        assert!(n > 0 && n <= text.len() as u64, "{unit:?}: {n}");
    }
}

#[test]
fn one_message_costs_its_text_plus_overhead() {
    let req = request(
        json!({"messages": [{"role": "user", "content": "hello world"}]}),
        None,
    );
    // 3 per message + "user" (1) + "hello world" (2) + 3 priming.
    assert_eq!(estimate_input(&req), 9);
    assert_eq!(TOKENS_PER_MESSAGE + 1 + 2 + REPLY_PRIMING, 9);
}

#[test]
fn every_message_adds_its_overhead() {
    let req = request(
        json!({"messages": [
            {"role": "system", "content": "You are a helpful assistant."},
            {"role": "user", "content": "hello world", "name": "alice"},
            {"role": "assistant", "content": ""},
        ]}),
        None,
    );
    // system: 3 + 1 + 6; user: 3 + 1 + 2 + name (1 + "alice" 1);
    // assistant: 3 + 1 + 0; priming 3.
    assert_eq!(TOKENS_PER_NAME, 1);
    assert_eq!(estimate_input(&req), 10 + 8 + 4 + 3);
}

#[test]
fn an_image_part_counts_a_flat_1105() {
    let req = request(
        json!({"messages": [{"role": "user", "content": [
            {"type": "text", "text": "hello world"},
            {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo=", "detail": "high"}},
            {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}},
        ]}]}),
        None,
    );
    assert_eq!(IMAGE_TOKENS, 1105);
    assert_eq!(estimate_input(&req), 3 + 1 + 2 + 2 * 1105 + 3);
}

#[test]
fn tool_calls_and_results_count_names_arguments_and_ids() {
    let req = request(
        json!({"messages": [
            {"role": "assistant", "content": null, "tool_calls": [{
                "id": "call_1", "type": "function",
                "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}}]},
            {"role": "tool", "tool_call_id": "call_1", "content": "hello world"},
        ]}),
        None,
    );
    // assistant: 3 + 1 + "get_weather" 2 + arguments 5;
    // tool: 3 + "tool" 1 + "call_1" 3 + 2; priming 3.
    assert_eq!(estimate_input(&req), 11 + 9 + 3);
}

#[test]
fn tools_count_as_their_json_text() {
    let tools = json!([{"type": "function", "function": {
        "name": "get_weather",
        "description": "The weather in a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    }}]);
    let text = tools.to_string();
    let req = request(
        json!({"messages": [{"role": "user", "content": "hello world"}], "tools": tools}),
        None,
    );
    let tool_tokens = count_text(&text);
    assert_eq!(tool_tokens, oracle(&text));
    assert_eq!(tool_tokens, 38);
    assert_eq!(estimate_input(&req), 9 + 38);
}

#[test]
fn odd_bodies_count_only_overhead() {
    let none = request(json!({}), None);
    assert_eq!(estimate_input(&none), 3);
    let odd = request(
        json!({"messages": [7, {"role": 5, "content": {"x": 1}}, {"content": [1, {"type": "input_audio"}]}],
               "tools": null}),
        None,
    );
    assert_eq!(estimate_input(&odd), 3 + 3 * 3);
}

#[test]
fn reserve_adds_max_tokens_or_the_default() {
    let body = json!({"messages": [{"role": "user", "content": "hello world"}]});
    assert_eq!(reserve(&request(body.clone(), Some(100)), 4096), 9 + 100);
    assert_eq!(reserve(&request(body.clone(), None), 4096), 9 + 4096);
    assert_eq!(reserve(&request(body, Some(u64::MAX)), 1), u64::MAX);
}
