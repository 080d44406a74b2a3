//! Golden tests of `StreamTranslator`: provider SSE streams, as providers
//! send them, against the exact OpenAI frames expected. Every case runs
//! whole, in 1-byte pieces and in random pieces; the bytes out must match.
#![allow(clippy::unwrap_used)]

use ai::{FinishReason, Kind, StreamTranslator, Usage};
use serde_json::{json, Value};

const ID: &str = "chatcmpl-gw-7f3a";
const MODEL: &str = "gpt-4o-mini";
const CREATED: u64 = 1_767_225_600;
const DONE: &str = "[DONE]";

/// A small xorshift64 for random cuts.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
}

/// Feeds `pieces` then finishes: the bytes out and the translator.
fn translate<'a>(
    kind: Kind,
    include_usage: bool,
    pieces: impl Iterator<Item = &'a [u8]>,
) -> (Vec<u8>, StreamTranslator) {
    let mut t = StreamTranslator::new(kind, MODEL, ID, CREATED, include_usage);
    let mut out = Vec::new();
    for piece in pieces {
        t.feed(piece, &mut out);
    }
    t.finish(&mut out);
    (out, t)
}

/// Cuts `input` into random pieces of 1 to 40 bytes.
fn random_pieces(input: &[u8], seed: u64) -> Vec<&[u8]> {
    let mut rng = XorShift(seed);
    let mut pieces = Vec::new();
    let mut rest = input;
    while !rest.is_empty() {
        let n = (1 + rng.next() % 40) as usize;
        let (piece, tail) = rest.split_at(n.min(rest.len()));
        pieces.push(piece);
        rest = tail;
    }
    pieces
}

/// The frames of an output stream: JSON values, `[DONE]` as a string.
fn frames(out: &[u8]) -> Vec<Value> {
    let text = std::str::from_utf8(out).unwrap();
    assert!(
        text.ends_with("\n\n"),
        "stream does not end a frame: {text:?}"
    );
    text[..text.len() - 2]
        .split("\n\n")
        .map(|frame| {
            let data: Vec<&str> = frame
                .split('\n')
                .map(|line| line.strip_prefix("data: ").unwrap())
                .collect();
            let data = data.join("\n");
            if data == DONE {
                json!(DONE)
            } else {
                serde_json::from_str(&data).unwrap()
            }
        })
        .collect()
}

/// Runs `input` whole, bytewise and in random cuts; checks that the bytes
/// agree and that the frames are `want`; returns the whole run.
fn check(
    kind: Kind,
    include_usage: bool,
    input: &str,
    want: &[Value],
) -> (Vec<u8>, StreamTranslator) {
    let input = input.as_bytes();
    let (whole, t) = translate(kind, include_usage, std::iter::once(input));
    let (bytewise, _) = translate(kind, include_usage, input.chunks(1));
    assert_eq!(
        String::from_utf8_lossy(&bytewise),
        String::from_utf8_lossy(&whole)
    );
    for seed in [1, 7, 42, 0x9e37_79b9_7f4a_7c15, 12345] {
        let (cut, _) = translate(kind, include_usage, random_pieces(input, seed).into_iter());
        assert_eq!(
            String::from_utf8_lossy(&cut),
            String::from_utf8_lossy(&whole),
            "seed {seed}"
        );
    }
    let got = frames(&whole);
    assert_eq!(got.len(), want.len(), "frames: {got:#?}");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert_eq!(g, w, "frame {i}");
    }
    assert!(whole.ends_with(b"data: [DONE]\n\n"));
    assert!(t.is_ended());
    assert_eq!(t.frames(), want.len() as u64);
    (whole, t)
}

/// An OpenAI chunk with `delta` and `finish`.
fn chunk(delta: Value, finish: Value) -> Value {
    json!({"id": ID, "object": "chat.completion.chunk", "created": CREATED, "model": MODEL,
           "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})
}

fn role() -> Value {
    chunk(json!({"role": "assistant", "content": ""}), Value::Null)
}

fn content(text: &str) -> Value {
    chunk(json!({"content": text}), Value::Null)
}

fn end(reason: &str) -> Value {
    chunk(json!({}), json!(reason))
}

fn usage_chunk(u: Usage) -> Value {
    json!({"id": ID, "object": "chat.completion.chunk", "created": CREATED, "model": MODEL,
           "choices": [], "usage": u.to_openai()})
}

fn error(message: &str, code: &str) -> Value {
    json!({"error": {"message": message, "type": "upstream_error", "param": null, "code": code}})
}

fn usage(input: u64, output: u64, cached: u64, reasoning: u64) -> Usage {
    Usage {
        input,
        output,
        cached,
        reasoning,
    }
}

/// OpenAI's `data:` lines for `events`, with `[DONE]`.
fn openai_sse(events: &[Value], done: bool) -> String {
    let mut s: String = events.iter().map(|e| format!("data: {e}\n\n")).collect();
    if done {
        s.push_str("data: [DONE]\n\n");
    }
    s
}

/// An OpenAI upstream chunk as OpenAI sends it with include_usage forced.
fn up(delta: Value, finish: Value) -> Value {
    json!({"id": "chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG", "object": "chat.completion.chunk",
           "created": 1_741_570_283, "model": "gpt-4o-mini-2024-07-18", "service_tier": "default",
           "system_fingerprint": "fp_06737a9306",
           "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish}],
           "usage": null})
}

fn up_usage() -> Value {
    json!({"id": "chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG", "object": "chat.completion.chunk",
           "created": 1_741_570_283, "model": "gpt-4o-mini-2024-07-18", "service_tier": "default",
           "system_fingerprint": "fp_06737a9306", "choices": [],
           "usage": {"prompt_tokens": 19, "completion_tokens": 10, "total_tokens": 29,
                     "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
                     "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0,
                         "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0}}})
}

fn openai_text_events() -> Vec<Value> {
    vec![
        up(
            json!({"role": "assistant", "content": "", "refusal": null}),
            Value::Null,
        ),
        up(json!({"content": "Hello"}), Value::Null),
        up(json!({"content": " there"}), Value::Null),
        up(json!({}), json!("stop")),
        up_usage(),
    ]
}

#[test]
fn openai_passthrough_keeps_usage_chunk_when_asked() {
    let events = openai_text_events();
    let input = openai_sse(&events, true);
    let mut want = events.clone();
    want.push(json!(DONE));
    let (out, t) = check(Kind::OpenAi, true, &input, &want);
    assert_eq!(out, input.as_bytes(), "passthrough is byte for byte");
    assert_eq!(t.usage(), usage(19, 10, 0, 0));
    assert_eq!(t.finish_reason(), Some(FinishReason::Stop));
    assert_eq!(t.error(), None);
}

#[test]
fn openai_passthrough_strips_usage_chunk_when_not_asked() {
    let events = openai_text_events();
    let input = openai_sse(&events, true);
    let mut want = events[..4].to_vec();
    want.push(json!(DONE));
    let (out, t) = check(Kind::Compatible, false, &input, &want);
    assert_eq!(out, openai_sse(&events[..4], true).as_bytes());
    assert_eq!(t.usage(), usage(19, 10, 0, 0), "usage is still read");
}

#[test]
fn openai_tool_call_deltas_pass_unchanged() {
    let call = |i: u64, first: bool, args: &str| {
        let mut c = json!({"index": i, "function": {"arguments": args}});
        if first {
            c = json!({"index": i, "id": format!("call_abc{i}"), "type": "function",
                       "function": {"name": "get_weather", "arguments": args}});
        }
        up(json!({"tool_calls": [c]}), Value::Null)
    };
    let events = vec![
        up(json!({"role": "assistant", "content": null}), Value::Null),
        call(0, true, ""),
        call(0, false, "{\"location\": \"Par"),
        call(0, false, "is\"}"),
        call(1, true, ""),
        call(1, false, "{\"location\": \"Rome\"}"),
        up(json!({}), json!("tool_calls")),
        up_usage(),
    ];
    let input = openai_sse(&events, true);
    let mut want = events.clone();
    want.push(json!(DONE));
    let (out, t) = check(Kind::OpenAi, true, &input, &want);
    assert_eq!(out, input.as_bytes());
    assert_eq!(t.finish_reason(), Some(FinishReason::ToolCalls));
}

#[test]
fn openai_upstream_error_frame_is_rewritten_scrubbed_and_ends() {
    let err = json!({"error": {"message": "The server had an error while processing your request. Key sk-proj-abcdefghijklmnop",
                               "type": "server_error", "param": null, "code": null}});
    let events = vec![
        up(json!({"role": "assistant", "content": ""}), Value::Null),
        up(json!({"content": "Hi"}), Value::Null),
        err.clone(),
    ];
    // Anything after the error is ignored.
    let input = openai_sse(&events, false)
        + &openai_sse(&[up(json!({"content": "late"}), Value::Null)], true);
    let rewritten = json!({"error": {
        "message": "The server had an error while processing your request. Key [redacted]",
        "type": "upstream_error", "param": null, "code": "server_error"}});
    let want = vec![events[0].clone(), events[1].clone(), rewritten, json!(DONE)];
    let (_, t) = check(Kind::OpenAi, false, &input, &want);
    let e = t.error().unwrap();
    assert_eq!(e.kind, "upstream_error");
    assert_eq!(
        e.message,
        "The server had an error while processing your request. Key [redacted]"
    );
    assert_eq!(e.code.as_deref(), Some("server_error"), "no code: its type");
}

#[test]
fn azure_prompt_filter_chunk_without_usage_passes() {
    let filter = json!({"choices": [], "created": 0, "id": "", "model": "", "object": "",
                        "prompt_filter_results": [{"prompt_index": 0, "content_filter_results": {
                            "hate": {"filtered": false, "severity": "safe"}}}]});
    let events = vec![
        filter,
        up(json!({"content": "ok"}), Value::Null),
        up(json!({}), json!("content_filter")),
    ];
    let input = openai_sse(&events, true);
    let mut want = events.clone();
    want.push(json!(DONE));
    let (out, t) = check(Kind::Azure, false, &input, &want);
    assert_eq!(out, input.as_bytes());
    assert_eq!(t.finish_reason(), Some(FinishReason::ContentFilter));
}

#[test]
fn openai_multi_line_data_passes_as_data_lines() {
    let input = "data: {\"choices\":[{\"index\":0,\n data: \"delta\":{\"content\":\"a\"}}]}\n\ndata: [DONE]\n\n";
    let input = input.replace("\n data: ", "\ndata: ");
    let want = vec![
        json!({"choices": [{"index": 0, "delta": {"content": "a"}}]}),
        json!(DONE),
    ];
    let (out, _) = check(Kind::Compatible, false, &input, &want);
    assert_eq!(out, input.as_bytes());
}

// ---------------------------------------------------------------- Anthropic

/// One Anthropic event.
fn ev(name: &str, data: Value) -> String {
    format!("event: {name}\ndata: {data}\n\n")
}

fn message_start(usage: Value) -> String {
    ev(
        "message_start",
        json!({"type": "message_start", "message": {
        "id": "msg_01XFDUDYJgAACzvnptvVoYEL", "type": "message", "role": "assistant", "content": [],
        "model": "claude-sonnet-4-5-20250929", "stop_reason": null, "stop_sequence": null,
        "usage": usage}}),
    )
}

fn block_start(index: u64, block: Value) -> String {
    ev(
        "content_block_start",
        json!({"type": "content_block_start", "index": index, "content_block": block}),
    )
}

fn block_delta(index: u64, delta: Value) -> String {
    ev(
        "content_block_delta",
        json!({"type": "content_block_delta", "index": index, "delta": delta}),
    )
}

fn text_delta(index: u64, text: &str) -> String {
    block_delta(index, json!({"type": "text_delta", "text": text}))
}

fn block_stop(index: u64) -> String {
    ev(
        "content_block_stop",
        json!({"type": "content_block_stop", "index": index}),
    )
}

fn message_delta(stop: &str, usage: Value) -> String {
    ev(
        "message_delta",
        json!({"type": "message_delta",
        "delta": {"stop_reason": stop, "stop_sequence": null}, "usage": usage}),
    )
}

fn message_stop() -> String {
    ev("message_stop", json!({"type": "message_stop"}))
}

fn ping() -> String {
    "event: ping\ndata: {\"type\": \"ping\"}\n\n".to_owned()
}

fn small_usage() -> Value {
    json!({"input_tokens": 25, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0,
           "output_tokens": 1, "service_tier": "standard"})
}

fn anthropic_text_stream(with_pings: bool) -> String {
    let p = if with_pings { ping() } else { String::new() };
    [
        message_start(small_usage()),
        block_start(0, json!({"type": "text", "text": ""})),
        p.clone(),
        text_delta(0, "Hello"),
        p.clone(),
        text_delta(0, ", \"world\"\n"),
        block_stop(0),
        message_delta("end_turn", json!({"output_tokens": 15})),
        p,
        message_stop(),
    ]
    .concat()
}

#[test]
fn anthropic_text_stream_translates() {
    let want = vec![
        role(),
        content("Hello"),
        content(", \"world\"\n"),
        end("stop"),
        usage_chunk(usage(25, 15, 0, 0)),
        json!(DONE),
    ];
    let (_, t) = check(Kind::Anthropic, true, &anthropic_text_stream(false), &want);
    assert_eq!(t.usage(), usage(25, 15, 0, 0));
    assert_eq!(t.finish_reason(), Some(FinishReason::Stop));
}

#[test]
fn anthropic_ping_is_ignored() {
    let want = vec![
        role(),
        content("Hello"),
        content(", \"world\"\n"),
        end("stop"),
        json!(DONE),
    ];
    let (with, _) = check(Kind::Anthropic, false, &anthropic_text_stream(true), &want);
    let (without, _) = check(Kind::Anthropic, false, &anthropic_text_stream(false), &want);
    assert_eq!(with, without);
}

#[test]
fn anthropic_text_then_two_parallel_tool_calls() {
    let tool = |id: &str| json!({"type": "tool_use", "id": id, "name": "get_weather", "input": {}});
    let json_delta = |index: u64, part: &str| {
        block_delta(
            index,
            json!({"type": "input_json_delta", "partial_json": part}),
        )
    };
    let input = [
        message_start(small_usage()),
        block_start(0, json!({"type": "text", "text": ""})),
        text_delta(0, "Checking both."),
        block_stop(0),
        block_start(1, tool("toolu_01A")),
        json_delta(1, ""),
        json_delta(1, "{\"location\": \"Pa"),
        json_delta(1, "ris\"}"),
        block_stop(1),
        block_start(2, tool("toolu_01B")),
        json_delta(2, "{\"location\": \"Rome\"}"),
        block_stop(2),
        message_delta("tool_use", json!({"output_tokens": 89})),
        message_stop(),
    ]
    .concat();
    let start = |k: u64, id: &str| {
        chunk(
            json!({"tool_calls": [{"index": k, "id": id, "type": "function",
                                     "function": {"name": "get_weather", "arguments": ""}}]}),
            Value::Null,
        )
    };
    let args = |k: u64, part: &str| {
        chunk(
            json!({"tool_calls": [{"index": k, "function": {"arguments": part}}]}),
            Value::Null,
        )
    };
    let want = vec![
        role(),
        content("Checking both."),
        start(0, "toolu_01A"),
        args(0, ""),
        args(0, "{\"location\": \"Pa"),
        args(0, "ris\"}"),
        start(1, "toolu_01B"),
        args(1, "{\"location\": \"Rome\"}"),
        end("tool_calls"),
        json!(DONE),
    ];
    let (_, t) = check(Kind::Anthropic, false, &input, &want);
    assert_eq!(t.finish_reason(), Some(FinishReason::ToolCalls));
    assert_eq!(t.usage(), usage(25, 89, 0, 0));
}

#[test]
fn anthropic_thinking_becomes_reasoning_content() {
    let input = [
        message_start(small_usage()),
        block_start(0, json!({"type": "thinking", "thinking": ""})),
        block_delta(0, json!({"type": "thinking_delta", "thinking": "Let me add: 2+2"})),
        block_delta(0, json!({"type": "thinking_delta", "thinking": " is 4."})),
        block_delta(0, json!({"type": "signature_delta", "signature": "EqQBCgIYAhIM1gbcDa9GJwZA2b3hGgxBdjrkzLoky3dl1pkiMOYds"})),
        block_stop(0),
        block_start(1, json!({"type": "text", "text": ""})),
        text_delta(1, "4"),
        block_stop(1),
        message_delta("end_turn", json!({"output_tokens": 40})),
        message_stop(),
    ]
    .concat();
    let reasoning = |t: &str| chunk(json!({"reasoning_content": t}), Value::Null);
    let want = vec![
        role(),
        reasoning("Let me add: 2+2"),
        reasoning(" is 4."),
        content("4"),
        end("stop"),
        json!(DONE),
    ];
    check(Kind::Anthropic, false, &input, &want);
}

#[test]
fn anthropic_max_tokens_is_length() {
    let input = [
        message_start(small_usage()),
        block_start(0, json!({"type": "text", "text": ""})),
        text_delta(0, "Once upon a"),
        block_stop(0),
        message_delta("max_tokens", json!({"output_tokens": 3})),
        message_stop(),
    ]
    .concat();
    let want = vec![
        role(),
        content("Once upon a"),
        end("length"),
        usage_chunk(usage(25, 3, 0, 0)),
        json!(DONE),
    ];
    let (_, t) = check(Kind::Anthropic, true, &input, &want);
    assert_eq!(t.finish_reason(), Some(FinishReason::Length));
}

#[test]
fn anthropic_cache_usage_counts_cache_in_prompt_tokens() {
    let input = [
        message_start(
            json!({"input_tokens": 12, "cache_creation_input_tokens": 300,
                             "cache_read_input_tokens": 2048, "output_tokens": 1}),
        ),
        block_start(0, json!({"type": "text", "text": ""})),
        text_delta(0, "Cached."),
        block_stop(0),
        // Later message_delta events repeat the counts, cumulatively.
        message_delta(
            "end_turn",
            json!({"input_tokens": 12, "cache_creation_input_tokens": 300,
                                         "cache_read_input_tokens": 2048, "output_tokens": 7}),
        ),
        message_stop(),
    ]
    .concat();
    let u = usage(2360, 7, 2048, 0);
    let want = vec![
        role(),
        content("Cached."),
        end("stop"),
        usage_chunk(u),
        json!(DONE),
    ];
    let (_, t) = check(Kind::Anthropic, true, &input, &want);
    assert_eq!(t.usage(), u);
    assert_eq!(
        usage_chunk(u)["usage"],
        json!({"prompt_tokens": 2360, "completion_tokens": 7, "total_tokens": 2367,
               "prompt_tokens_details": {"cached_tokens": 2048},
               "completion_tokens_details": {"reasoning_tokens": 0}})
    );
}

#[test]
fn anthropic_mid_stream_error_event() {
    let input = [
        message_start(small_usage()),
        block_start(0, json!({"type": "text", "text": ""})),
        text_delta(0, "Partial"),
        ev("error", json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}})),
        text_delta(0, " ignored"),
        message_stop(),
    ]
    .concat();
    let want = vec![
        role(),
        content("Partial"),
        error("Overloaded", "overloaded_error"),
        json!(DONE),
    ];
    let (_, t) = check(Kind::Anthropic, true, &input, &want);
    let e = t.error().unwrap();
    assert_eq!(
        (e.message.as_str(), e.code.as_deref()),
        ("Overloaded", Some("overloaded_error"))
    );
    assert_eq!(t.finish_reason(), None);
}

#[test]
fn provider_error_messages_are_cut_to_512_chars() {
    let long: String = "é".repeat(600);
    let input = message_start(small_usage())
        + &ev(
            "error",
            json!({"type": "error", "error": {"type": "api_error", "message": long}}),
        );
    let cut: String = "é".repeat(512);
    let want = vec![role(), error(&cut, "api_error"), json!(DONE)];
    check(Kind::Anthropic, false, &input, &want);
}

#[test]
fn anthropic_too_many_tool_blocks_is_an_error() {
    let mut input = message_start(small_usage());
    for i in 0..129u64 {
        input += &block_start(
            i,
            json!({"type": "tool_use", "id": format!("toolu_{i}"), "name": "f", "input": {}}),
        );
    }
    let mut out = Vec::new();
    let mut t = StreamTranslator::new(Kind::Anthropic, MODEL, ID, CREATED, false);
    t.feed(input.as_bytes(), &mut out);
    let got = frames(&out);
    assert_eq!(got.len(), 1 + 128 + 2);
    assert_eq!(
        got[128]["choices"][0]["delta"]["tool_calls"][0]["index"],
        json!(127)
    );
    assert_eq!(got[129]["error"]["code"], json!("too_many_tool_calls"));
    assert!(t.is_ended());
}

// ------------------------------------------------------------------- Gemini

/// Gemini's alt=sse framing: CRLF line endings.
fn gemini_sse(events: &[Value]) -> String {
    events
        .iter()
        .map(|e| format!("data: {e}\r\n\r\n"))
        .collect()
}

fn gem(parts: Value, finish: Option<&str>, usage: Value) -> Value {
    let mut candidate = json!({"content": {"parts": parts, "role": "model"}, "index": 0});
    if let Some(f) = finish {
        candidate["finishReason"] = json!(f);
        candidate["safetyRatings"] =
            json!([{"category": "HARM_CATEGORY_HARASSMENT", "probability": "NEGLIGIBLE"}]);
    }
    json!({"candidates": [candidate], "usageMetadata": usage, "modelVersion": "gemini-2.5-flash",
           "responseId": "mYNgaOzHIdqSz7IPmNmZ0AQ"})
}

fn gem_usage(prompt: u64, candidates: u64, thoughts: u64) -> Value {
    json!({"promptTokenCount": prompt, "candidatesTokenCount": candidates,
           "totalTokenCount": prompt + candidates + thoughts, "thoughtsTokenCount": thoughts,
           "promptTokensDetails": [{"modality": "TEXT", "tokenCount": prompt}]})
}

#[test]
fn gemini_text_stream_with_cumulative_usage() {
    let events = vec![
        gem(
            json!([{"text": "Planning", "thought": true}]),
            None,
            gem_usage(8, 0, 20),
        ),
        gem(json!([{"text": "The quick"}]), None, gem_usage(8, 2, 20)),
        gem(json!([{"text": " brown fox"}]), None, gem_usage(8, 4, 20)),
        gem(json!([{"text": ""}]), Some("STOP"), gem_usage(8, 5, 20)),
    ];
    let u = usage(8, 25, 0, 20);
    let want = vec![
        role(),
        chunk(json!({"reasoning_content": "Planning"}), Value::Null),
        content("The quick"),
        content(" brown fox"),
        end("stop"),
        usage_chunk(u),
        json!(DONE),
    ];
    let (_, t) = check(Kind::Gemini, true, &gemini_sse(&events), &want);
    // The last usageMetadata, not a sum of them.
    assert_eq!(t.usage(), u);
    assert_eq!(t.finish_reason(), Some(FinishReason::Stop));
}

#[test]
fn gemini_parallel_function_calls_with_thought_signature() {
    let events = vec![gem(
        json!([
            {"functionCall": {"name": "get_weather", "args": {"city": "Paris"}},
             "thoughtSignature": "CiQB0e2Kb+Sig/1="},
            {"functionCall": {"name": "get_time", "args": {"tz": "Europe/Rome"}}}
        ]),
        Some("STOP"),
        gem_usage(40, 18, 0),
    )];
    let call = |k: u64, id: &str, name: &str, args: &str| {
        chunk(
            json!({"tool_calls": [{"index": k, "id": id, "type": "function",
                                     "function": {"name": name, "arguments": args}}]}),
            Value::Null,
        )
    };
    let want = vec![
        role(),
        call(
            0,
            "call_0.CiQB0e2Kb+Sig/1=",
            "get_weather",
            "{\"city\":\"Paris\"}",
        ),
        call(1, "call_1", "get_time", "{\"tz\":\"Europe/Rome\"}"),
        end("tool_calls"),
        json!(DONE),
    ];
    let (_, t) = check(Kind::Gemini, false, &gemini_sse(&events), &want);
    assert_eq!(t.finish_reason(), Some(FinishReason::ToolCalls));
}

#[test]
fn gemini_tool_call_indices_continue_across_events() {
    let events = vec![
        gem(
            json!([{"functionCall": {"name": "a", "args": {}}}]),
            None,
            gem_usage(5, 1, 0),
        ),
        gem(
            json!([{"functionCall": {"name": "b"}}]),
            Some("STOP"),
            gem_usage(5, 2, 0),
        ),
    ];
    let call = |k: u64, name: &str| {
        chunk(
            json!({"tool_calls": [{"index": k, "id": format!("call_{k}"), "type": "function",
                                     "function": {"name": name, "arguments": "{}"}}]}),
            Value::Null,
        )
    };
    let want = vec![
        role(),
        call(0, "a"),
        call(1, "b"),
        end("tool_calls"),
        json!(DONE),
    ];
    check(Kind::Gemini, false, &gemini_sse(&events), &want);
}

#[test]
fn gemini_safety_is_content_filter() {
    let events = vec![
        gem(json!([{"text": "Here is how"}]), None, gem_usage(10, 3, 0)),
        json!({"candidates": [{"finishReason": "SAFETY", "index": 0, "safetyRatings": [
                  {"category": "HARM_CATEGORY_DANGEROUS_CONTENT", "probability": "HIGH", "blocked": true}]}],
               "usageMetadata": gem_usage(10, 3, 0), "modelVersion": "gemini-2.5-flash"}),
    ];
    let want = vec![
        role(),
        content("Here is how"),
        end("content_filter"),
        usage_chunk(usage(10, 3, 0, 0)),
        json!(DONE),
    ];
    let (_, t) = check(Kind::Gemini, true, &gemini_sse(&events), &want);
    assert_eq!(t.finish_reason(), Some(FinishReason::ContentFilter));
}

#[test]
fn gemini_blocked_prompt_is_content_filter() {
    let events = vec![
        json!({"promptFeedback": {"blockReason": "PROHIBITED_CONTENT"},
                             "usageMetadata": {"promptTokenCount": 9, "totalTokenCount": 9},
                             "modelVersion": "gemini-2.5-flash"}),
    ];
    let want = vec![role(), end("content_filter"), json!(DONE)];
    let (_, t) = check(Kind::Gemini, false, &gemini_sse(&events), &want);
    assert_eq!(t.usage(), usage(9, 0, 0, 0));
}

#[test]
fn gemini_max_tokens_is_length() {
    let events = vec![
        gem(json!([{"text": "A long"}]), None, gem_usage(6, 2, 0)),
        gem(
            json!([{"text": " answer"}]),
            Some("MAX_TOKENS"),
            gem_usage(6, 4, 0),
        ),
    ];
    let want = vec![
        role(),
        content("A long"),
        content(" answer"),
        end("length"),
        json!(DONE),
    ];
    let (_, t) = check(Kind::Gemini, false, &gemini_sse(&events), &want);
    assert_eq!(t.finish_reason(), Some(FinishReason::Length));
    assert_eq!(t.usage(), usage(6, 4, 0, 0));
}

#[test]
fn gemini_error_object_in_stream() {
    let events = vec![
        gem(json!([{"text": "Hi"}]), None, gem_usage(3, 1, 0)),
        json!({"error": {"code": 503, "message": "The model is overloaded. Please try again later.", "status": "UNAVAILABLE"}}),
    ];
    let want = vec![
        role(),
        content("Hi"),
        error(
            "The model is overloaded. Please try again later.",
            "UNAVAILABLE",
        ),
        json!(DONE),
    ];
    check(Kind::Gemini, false, &gemini_sse(&events), &want);
}

// ------------------------------------------------------- framing and errors

#[test]
fn malformed_json_frame_ends_each_kind() {
    let bad = "data: {\"choices\": [\n\n";
    let msg = "the provider sent a stream frame that is not a JSON object";
    let openai = openai_sse(&[up(json!({"content": "a"}), Value::Null)], false) + bad;
    let (_, t) = check(
        Kind::OpenAi,
        false,
        &openai,
        &[
            up(json!({"content": "a"}), Value::Null),
            error(msg, "malformed_frame"),
            json!(DONE),
        ],
    );
    assert_eq!(t.error().unwrap().code.as_deref(), Some("malformed_frame"));
    let anthropic =
        message_start(small_usage()) + "event: content_block_delta\n" + bad + &message_stop();
    check(
        Kind::Anthropic,
        false,
        &anthropic,
        &[role(), error(msg, "malformed_frame"), json!(DONE)],
    );
    let gemini = gemini_sse(&[gem(json!([{"text": "a"}]), None, gem_usage(1, 1, 0))])
        + "data: not json\r\n\r\n";
    check(
        Kind::Gemini,
        false,
        &gemini,
        &[
            role(),
            content("a"),
            error(msg, "malformed_frame"),
            json!(DONE),
        ],
    );
}

#[test]
fn event_over_the_size_limit_is_an_error() {
    let big = format!(
        "data: {{\"choices\":[{{\"index\":0,\"delta\":{{\"content\":\"{}\"}}}}]}}\n\n",
        "x".repeat(1 << 20)
    );
    let mut t = StreamTranslator::new(Kind::OpenAi, MODEL, ID, CREATED, false);
    let mut out = Vec::new();
    for piece in big.as_bytes().chunks(4096) {
        t.feed(piece, &mut out);
    }
    t.finish(&mut out);
    let got = frames(&out);
    assert_eq!(got.len(), 2);
    assert_eq!(got[0]["error"]["code"], json!("malformed_frame"));
    assert_eq!(
        got[0]["error"]["message"],
        json!("the provider's stream is malformed: an event is larger than 1048576 bytes")
    );
    assert_eq!(got[1], json!(DONE));
}

#[test]
fn stream_cut_early_for_each_kind() {
    let early = || error("the provider's stream ended early", "stream_ended_early");
    // OpenAI: no [DONE] (the usage chunk came, but not the end).
    let events = openai_text_events();
    let (_, t) = check(
        Kind::OpenAi,
        true,
        &openai_sse(&events, false),
        &[events.clone(), vec![early(), json!(DONE)]].concat(),
    );
    assert_eq!(
        t.error().unwrap().code.as_deref(),
        Some("stream_ended_early")
    );
    // Anthropic: no message_stop; a partial event at the cut is dropped.
    let input = [
        message_start(small_usage()),
        text_delta(0, "Hel"),
        "event: content_block_delta\ndata: {\"ty".to_owned(),
    ]
    .concat();
    let (_, t) = check(
        Kind::Anthropic,
        true,
        &input,
        &[role(), content("Hel"), early(), json!(DONE)],
    );
    assert_eq!(t.finish_reason(), None);
    // Gemini: no finishReason.
    let input = gemini_sse(&[gem(json!([{"text": "Hel"}]), None, gem_usage(2, 1, 0))]);
    check(
        Kind::Gemini,
        true,
        &input,
        &[role(), content("Hel"), early(), json!(DONE)],
    );
}

#[test]
fn crlf_and_cr_line_endings() {
    let lf = anthropic_text_stream(true);
    let want = vec![
        role(),
        content("Hello"),
        content(", \"world\"\n"),
        end("stop"),
        json!(DONE),
    ];
    let (a, _) = check(Kind::Anthropic, false, &lf, &want);
    // The JSON escapes its newlines, so every raw \n is a line ending.
    let (b, _) = check(Kind::Anthropic, false, &lf.replace('\n', "\r\n"), &want);
    let (c, _) = check(Kind::Anthropic, false, &lf.replace('\n', "\r"), &want);
    assert_eq!(a, b);
    assert_eq!(a, c);
}

#[test]
fn an_event_split_across_feeds() {
    let input = gemini_sse(&[
        gem(json!([{"text": "Hello"}]), None, gem_usage(2, 1, 0)),
        gem(json!([{"text": " you"}]), Some("STOP"), gem_usage(2, 2, 0)),
    ]);
    let mut t = StreamTranslator::new(Kind::Gemini, MODEL, ID, CREATED, false);
    let mut out = Vec::new();
    let mid = input.find("Hello").unwrap() + 2;
    let cr = input.find("\r\n").unwrap() + 1; // between a \r and its \n
    t.feed(&input.as_bytes()[..mid], &mut out);
    assert!(out.is_empty(), "nothing before the event is whole");
    t.feed(&input.as_bytes()[mid..cr], &mut out);
    assert!(out.is_empty(), "nothing before the blank line");
    t.feed(&input.as_bytes()[cr..], &mut out);
    assert_eq!(
        frames(&out),
        vec![role(), content("Hello"), content(" you"), end("stop")]
    );
    assert!(
        !t.is_ended(),
        "Gemini has no [DONE]: the end comes with the body's end"
    );
    t.finish(&mut out);
    assert!(t.is_ended());
    assert!(out.ends_with(b"data: [DONE]\n\n"));
}

#[test]
fn input_after_the_end_is_ignored() {
    let mut t = StreamTranslator::new(Kind::Anthropic, MODEL, ID, CREATED, false);
    let mut out = Vec::new();
    t.feed(anthropic_text_stream(false).as_bytes(), &mut out);
    assert!(t.is_ended());
    let len = out.len();
    t.feed(text_delta(0, "late").as_bytes(), &mut out);
    t.finish(&mut out);
    assert_eq!(out.len(), len);
    assert_eq!(t.frames(), 5);
    assert_eq!(t.error(), None);
}
