//! Golden tests of the Anthropic Messages front end: requests to OpenAI
//! `ChatRequest`s, OpenAI answers to Anthropic messages, OpenAI streams to
//! Anthropic events (whole, bytewise and in random cuts, with identical
//! bytes), error bodies, and a round trip through `StreamTranslator`.
#![allow(clippy::unwrap_used)]

use ai::messages::{encode_response, error_body, parse_request, MessagesStream};
use ai::{ApiError, Kind, StreamTranslator, Usage};
use serde_json::{json, Value};

const MODEL: &str = "claude-sonnet-4-5";
const ID: &str = "chatcmpl-gw-7f3a";
const MSG_ID: &str = "msg_gw-7f3a";

// ------------------------------------------------------------- requests

/// The OpenAI body `parse_request` builds for `req`.
fn openai_body(req: Value) -> Value {
    let parsed = parse_request(req.to_string().as_bytes()).unwrap();
    Value::Object(parsed.body)
}

/// The error `parse_request` answers for `req`: (status, param).
fn refusal(req: Value) -> (u16, Option<String>) {
    let e = parse_request(req.to_string().as_bytes()).unwrap_err();
    assert_eq!(e.kind, "invalid_request_error");
    (e.status, e.param)
}

#[test]
fn request_system_string_turns_and_sampling() {
    let req = json!({
        "model": MODEL, "max_tokens": 1024, "system": "Be brief.",
        "messages": [
            {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": "Hello."},
            {"role": "user", "content": [{"type": "text", "text": "Weather?"},
                                         {"type": "text", "text": "In Paris.", "cache_control": {"type": "ephemeral"}}]}
        ],
        "temperature": 0.5, "top_p": 0.9, "top_k": 40,
        "stop_sequences": ["\n\nHuman:", "END"],
        "metadata": {"user_id": "user-42"}
    });
    let parsed = parse_request(req.to_string().as_bytes()).unwrap();
    assert_eq!(parsed.model, MODEL);
    assert_eq!(parsed.max_tokens, Some(1024));
    assert!(!parsed.stream && !parsed.include_usage);
    assert_eq!(
        Value::Object(parsed.body),
        json!({
            "model": MODEL, "max_tokens": 1024,
            "messages": [
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": "Hi"},
                {"role": "assistant", "content": "Hello."},
                {"role": "user", "content": [{"type": "text", "text": "Weather?"},
                                             {"type": "text", "text": "In Paris."}]}
            ],
            "temperature": 0.5, "top_p": 0.9,
            "stop": ["\n\nHuman:", "END"],
            "user": "user-42"
        })
    );
}

#[test]
fn request_system_blocks_are_one_message() {
    let got = openai_body(json!({
        "model": MODEL, "max_tokens": 10,
        "system": [{"type": "text", "text": "You are a poet."},
                   {"type": "text", "text": "Rhyme.", "cache_control": {"type": "ephemeral"}}],
        "messages": [{"role": "user", "content": "Sing"}]
    }));
    assert_eq!(
        got,
        json!({"model": MODEL, "max_tokens": 10, "messages": [
            {"role": "system", "content": "You are a poet.\n\nRhyme."},
            {"role": "user", "content": "Sing"}
        ]})
    );
    // An empty system is left out.
    let got = openai_body(json!({"model": MODEL, "max_tokens": 10, "system": [],
        "messages": [{"role": "user", "content": "Sing"}]}));
    assert_eq!(
        got["messages"],
        json!([{"role": "user", "content": "Sing"}])
    );
}

#[test]
fn request_images_from_both_sources() {
    let got = openai_body(json!({
        "model": MODEL, "max_tokens": 10,
        "messages": [{"role": "user", "content": [
            {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}},
            {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.jpg"}},
            {"type": "text", "text": "Same animal?"}
        ]}]
    }));
    assert_eq!(
        got["messages"],
        json!([{"role": "user", "content": [
            {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
            {"type": "image_url", "image_url": {"url": "https://example.com/cat.jpg"}},
            {"type": "text", "text": "Same animal?"}
        ]}])
    );
}

#[test]
fn request_tool_use_and_tool_result_history() {
    let got = openai_body(json!({
        "model": MODEL, "max_tokens": 10,
        "messages": [
            {"role": "user", "content": "Weather in Paris and Rome?"},
            {"role": "assistant", "content": [
                {"type": "thinking", "thinking": "Two calls.", "signature": "EqQB"},
                {"type": "text", "text": "Checking both."},
                {"type": "tool_use", "id": "toolu_A", "name": "get_weather", "input": {"city": "Paris"}},
                {"type": "tool_use", "id": "toolu_B", "name": "get_weather", "input": {"city": "Rome"}}
            ]},
            {"role": "user", "content": [
                {"type": "text", "text": "Here you go."},
                {"type": "tool_result", "tool_use_id": "toolu_A", "content": "18C, sunny"},
                {"type": "tool_result", "tool_use_id": "toolu_B", "is_error": true,
                 "content": [{"type": "text", "text": "timeout"}, {"type": "text", "text": "retry later"}]}
            ]},
            {"role": "assistant", "content": [{"type": "redacted_thinking", "data": "xyz"}]},
            {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_C", "name": "now", "input": {}}]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_C"}]}
        ]
    }));
    let call = |id: &str, name: &str, args: &str| json!({"id": id, "type": "function", "function": {"name": name, "arguments": args}});
    assert_eq!(
        got["messages"],
        json!([
            {"role": "user", "content": "Weather in Paris and Rome?"},
            {"role": "assistant", "content": "Checking both.", "tool_calls": [
                call("toolu_A", "get_weather", "{\"city\":\"Paris\"}"),
                call("toolu_B", "get_weather", "{\"city\":\"Rome\"}")
            ]},
            {"role": "tool", "tool_call_id": "toolu_A", "content": "18C, sunny"},
            {"role": "tool", "tool_call_id": "toolu_B", "content": "Error: timeout\n\nretry later"},
            {"role": "user", "content": [{"type": "text", "text": "Here you go."}]},
            {"role": "assistant", "content": null, "tool_calls": [call("toolu_C", "now", "{}")]},
            {"role": "tool", "tool_call_id": "toolu_C", "content": ""}
        ])
    );
}

#[test]
fn request_tools_and_each_tool_choice() {
    let base = json!({
        "model": MODEL, "max_tokens": 10,
        "messages": [{"role": "user", "content": "Hi"}],
        "tools": [
            {"name": "get_weather", "description": "Weather of a city",
             "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}},
            {"name": "now", "input_schema": {"type": "object"}, "type": "custom"}
        ]
    });
    let tools = json!([
        {"type": "function", "function": {"name": "get_weather", "description": "Weather of a city",
         "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}},
        {"type": "function", "function": {"name": "now", "parameters": {"type": "object"}}}
    ]);
    let cases = [
        (None, None, None),
        (Some(json!({"type": "auto"})), Some(json!("auto")), None),
        (Some(json!({"type": "any"})), Some(json!("required")), None),
        (Some(json!({"type": "none"})), Some(json!("none")), None),
        (
            Some(json!({"type": "tool", "name": "now"})),
            Some(json!({"type": "function", "function": {"name": "now"}})),
            None,
        ),
        (
            Some(json!({"type": "auto", "disable_parallel_tool_use": true})),
            Some(json!("auto")),
            Some(json!(false)),
        ),
        (
            Some(json!({"type": "any", "disable_parallel_tool_use": false})),
            Some(json!("required")),
            None,
        ),
    ];
    for (choice, want_choice, want_parallel) in cases {
        let mut req = base.clone();
        let mut want = json!({"model": MODEL, "max_tokens": 10,
            "messages": [{"role": "user", "content": "Hi"}], "tools": tools});
        if let Some(c) = &choice {
            req["tool_choice"] = c.clone();
        }
        if let Some(c) = want_choice {
            want["tool_choice"] = c;
        }
        if let Some(p) = want_parallel {
            want["parallel_tool_calls"] = p;
        }
        assert_eq!(openai_body(req), want, "{choice:?}");
    }
    // Without tools, a tool_choice is left out (OpenAI refuses it alone).
    let got = openai_body(
        json!({"model": MODEL, "max_tokens": 10, "tool_choice": {"type": "none"},
        "messages": [{"role": "user", "content": "Hi"}]}),
    );
    assert_eq!(got.get("tool_choice"), None);
}

#[test]
fn request_stream_asks_for_usage() {
    let req = json!({"model": MODEL, "max_tokens": 64, "stream": true,
        "messages": [{"role": "user", "content": "Hi"}]});
    let parsed = parse_request(req.to_string().as_bytes()).unwrap();
    assert!(parsed.stream);
    assert!(parsed.include_usage);
    assert_eq!(
        Value::Object(parsed.body),
        json!({"model": MODEL, "max_tokens": 64, "stream": true,
               "stream_options": {"include_usage": true},
               "messages": [{"role": "user", "content": "Hi"}]})
    );
    let off = openai_body(json!({"model": MODEL, "max_tokens": 64, "stream": false,
        "messages": [{"role": "user", "content": "Hi"}]}));
    assert_eq!(off.get("stream"), None);
    assert_eq!(off.get("stream_options"), None);
}

#[test]
fn request_errors_name_the_anthropic_param() {
    let user = |content: Value| {
        json!({"model": MODEL, "max_tokens": 10, "messages": [
            {"role": "user", "content": "a"}, {"role": "assistant", "content": "b"},
            {"role": "user", "content": content}]})
    };
    let cases: Vec<(Value, &str)> = vec![
        (
            json!({"model": MODEL, "messages": [{"role": "user", "content": "Hi"}]}),
            "max_tokens",
        ),
        (
            json!({"model": MODEL, "max_tokens": -1, "messages": [{"role": "user", "content": "Hi"}]}),
            "max_tokens",
        ),
        (
            json!({"max_tokens": 10, "messages": [{"role": "user", "content": "Hi"}]}),
            "model",
        ),
        (
            json!({"model": MODEL, "max_tokens": 10, "messages": []}),
            "messages",
        ),
        (
            json!({"model": MODEL, "max_tokens": 10, "messages": [{"role": "system", "content": "x"}]}),
            "messages.0.role",
        ),
        (
            user(
                json!([{"type": "text", "text": "x"}, {"type": "image", "source": {"type": "file", "file_id": "f"}}]),
            ),
            "messages.2.content.1.source",
        ),
        (
            user(json!([{"type": "image", "source": {"type": "base64", "data": "AA"}}])),
            "messages.2.content.0.source.media_type",
        ),
        (
            user(json!([{"type": "document", "source": {"type": "text", "data": "x"}}])),
            "messages.2.content.0.type",
        ),
        (
            user(json!([{"type": "tool_result", "tool_use_id": "t",
                         "content": [{"type": "image", "source": {"type": "url", "url": "https://x/y.png"}}]}])),
            "messages.2.content.0.content.0.type",
        ),
        (user(json!([])), "messages.2.content"),
        (user(json!(7)), "messages.2.content"),
        (
            json!({"model": MODEL, "max_tokens": 10, "messages": [{"role": "assistant", "content": [
                {"type": "tool_use", "id": "t", "name": "n", "input": "[1]"}]}]}),
            "messages.0.content.0.input",
        ),
        (
            json!({"model": MODEL, "max_tokens": 10, "messages": [{"role": "user", "content": "Hi"}],
                   "tools": [{"type": "web_search_20250305", "name": "web_search"}]}),
            "tools.0.type",
        ),
        (
            json!({"model": MODEL, "max_tokens": 10, "messages": [{"role": "user", "content": "Hi"}],
                   "tools": [{"name": "x"}]}),
            "tools.0.input_schema",
        ),
        (
            json!({"model": MODEL, "max_tokens": 10, "messages": [{"role": "user", "content": "Hi"}],
                   "tool_choice": {"type": "tool"}}),
            "tool_choice.name",
        ),
        (
            json!({"model": MODEL, "max_tokens": 10, "messages": [{"role": "user", "content": "Hi"}],
                   "stop_sequences": "END"}),
            "stop_sequences",
        ),
        (
            json!({"model": MODEL, "max_tokens": 10, "messages": [{"role": "user", "content": "Hi"}],
                   "metadata": {"user_id": 5}}),
            "metadata.user_id",
        ),
        (
            json!({"model": MODEL, "max_tokens": 10, "messages": [{"role": "user", "content": "Hi"}],
                   "stream": "yes"}),
            "stream",
        ),
    ];
    for (req, param) in cases {
        assert_eq!(refusal(req.clone()), (400, Some(param.to_owned())), "{req}");
    }
    let bad = parse_request(b"{not json").unwrap_err();
    assert_eq!((bad.status, bad.param), (400, None));
    let bad = parse_request(b"[1]").unwrap_err();
    assert_eq!((bad.status, bad.param), (400, None));
}

// ------------------------------------------------------------ responses

fn completion(message: Value, finish: Value, usage: Value) -> Vec<u8> {
    json!({"id": ID, "object": "chat.completion", "created": 1_767_225_600, "model": "gpt-4o",
           "choices": [{"index": 0, "message": message, "finish_reason": finish}],
           "usage": usage})
    .to_string()
    .into_bytes()
}

fn openai_usage(input: u64, output: u64, cached: u64) -> Value {
    Usage {
        input,
        output,
        cached,
        reasoning: 0,
    }
    .to_openai()
}

fn anthropic_usage(input: u64, output: u64, cached: u64) -> Value {
    json!({"input_tokens": input, "output_tokens": output,
           "cache_read_input_tokens": cached, "cache_creation_input_tokens": 0})
}

fn encoded(body: &[u8]) -> (Value, Usage) {
    let (bytes, usage) = encode_response(body, MODEL).unwrap();
    (serde_json::from_slice(&bytes).unwrap(), usage)
}

fn message(content: Value, stop: &str, usage: Value) -> Value {
    json!({"id": MSG_ID, "type": "message", "role": "assistant", "model": MODEL,
           "content": content, "stop_reason": stop, "stop_sequence": null, "usage": usage})
}

#[test]
fn response_text() {
    let body = completion(
        json!({"role": "assistant", "content": "Hello!", "refusal": null}),
        json!("stop"),
        openai_usage(12, 3, 0),
    );
    let (got, usage) = encoded(&body);
    assert_eq!(
        got,
        message(
            json!([{"type": "text", "text": "Hello!"}]),
            "end_turn",
            anthropic_usage(12, 3, 0)
        )
    );
    assert_eq!(
        usage,
        Usage {
            input: 12,
            output: 3,
            cached: 0,
            reasoning: 0
        }
    );
}

#[test]
fn response_two_tool_calls_one_with_bad_arguments() {
    let call = |id: &str, args: &str| json!({"id": id, "type": "function", "function": {"name": "get_weather", "arguments": args}});
    let body = completion(
        json!({"role": "assistant", "content": null, "tool_calls": [
            call("call_A", "{\"city\":\"Paris\"}"), call("call_B", "{\"city\":")]}),
        json!("tool_calls"),
        openai_usage(50, 20, 0),
    );
    let (got, _) = encoded(&body);
    assert_eq!(
        got,
        message(
            json!([
                {"type": "tool_use", "id": "call_A", "name": "get_weather", "input": {"city": "Paris"}},
                {"type": "tool_use", "id": "call_B", "name": "get_weather", "input": {}}
            ]),
            "tool_use",
            anthropic_usage(50, 20, 0)
        )
    );
}

#[test]
fn response_reasoning_text_and_tool_with_cache_usage() {
    let body = completion(
        json!({"role": "assistant", "content": "Let me check.", "reasoning_content": "User wants weather.",
               "tool_calls": [{"id": "toolu_1", "type": "function",
                               "function": {"name": "now", "arguments": ""}}]}),
        json!("tool_calls"),
        json!({"prompt_tokens": 2100, "completion_tokens": 40, "total_tokens": 2140,
               "prompt_tokens_details": {"cached_tokens": 2000},
               "completion_tokens_details": {"reasoning_tokens": 12}}),
    );
    let (got, usage) = encoded(&body);
    assert_eq!(
        got,
        message(
            json!([
                {"type": "thinking", "thinking": "User wants weather.", "signature": ""},
                {"type": "text", "text": "Let me check."},
                {"type": "tool_use", "id": "toolu_1", "name": "now", "input": {}}
            ]),
            "tool_use",
            anthropic_usage(100, 40, 2000)
        )
    );
    assert_eq!(
        usage,
        Usage {
            input: 2100,
            output: 40,
            cached: 2000,
            reasoning: 12
        }
    );
}

#[test]
fn response_each_stop_reason() {
    let cases = [
        (json!("stop"), "end_turn"),
        (json!("length"), "max_tokens"),
        (json!("tool_calls"), "tool_use"),
        (json!("function_call"), "tool_use"),
        (json!("content_filter"), "refusal"),
        (json!("something_new"), "end_turn"),
        (Value::Null, "end_turn"),
    ];
    for (finish, stop) in cases {
        let body = completion(
            json!({"role": "assistant", "content": "x"}),
            finish.clone(),
            openai_usage(1, 1, 0),
        );
        let (got, _) = encoded(&body);
        assert_eq!(got["stop_reason"], json!(stop), "{finish}");
        assert_eq!(got["content"], json!([{"type": "text", "text": "x"}]));
    }
    // A refusal with no content is the text; empty content is no block.
    let body = completion(
        json!({"role": "assistant", "content": null, "refusal": "I can't help with that."}),
        json!("content_filter"),
        openai_usage(1, 1, 0),
    );
    let (got, _) = encoded(&body);
    assert_eq!(
        got,
        message(
            json!([{"type": "text", "text": "I can't help with that."}]),
            "refusal",
            anthropic_usage(1, 1, 0)
        )
    );
    let body = completion(
        json!({"role": "assistant", "content": ""}),
        json!("length"),
        json!(null),
    );
    let (got, _) = encoded(&body);
    assert_eq!(
        got,
        message(json!([]), "max_tokens", anthropic_usage(0, 0, 0))
    );
}

#[test]
fn response_malformed_is_502() {
    for body in [
        &b"nope"[..],
        b"{}",
        b"{\"choices\": []}",
        b"{\"choices\": [3]}",
    ] {
        let e = encode_response(body, MODEL).unwrap_err();
        assert_eq!((e.status, e.kind), (502, "upstream_error"));
    }
}

// --------------------------------------------------------------- errors

#[test]
fn error_bodies() {
    let e = |status: u16, kind: &'static str| ApiError::new(status, kind, "nope");
    let cases = [
        (
            ApiError::invalid("messages.0", "bad"),
            "invalid_request_error",
            "bad",
        ),
        (
            e(401, "authentication_error"),
            "authentication_error",
            "nope",
        ),
        (e(403, "permission_error"), "permission_error", "nope"),
        (e(404, "not_found_error"), "not_found_error", "nope"),
        (e(413, "invalid_request_error"), "request_too_large", "nope"),
        (e(429, "rate_limit_error"), "rate_limit_error", "nope"),
        (e(502, "upstream_error"), "api_error", "nope"),
        (e(500, "server_error"), "api_error", "nope"),
        (e(503, "server_error"), "overloaded_error", "nope"),
        (e(529, "upstream_error"), "overloaded_error", "nope"),
        (e(504, "timeout_error"), "timeout_error", "nope"),
    ];
    for (err, ty, msg) in cases {
        let got: Value = serde_json::from_slice(&error_body(&err)).unwrap();
        assert_eq!(
            got,
            json!({"type": "error", "error": {"type": ty, "message": msg}}),
            "{err}"
        );
    }
}

// -------------------------------------------------------------- streams

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

/// Feeds `pieces` then finishes.
fn run<'a>(pieces: impl Iterator<Item = &'a [u8]>) -> (Vec<u8>, MessagesStream) {
    let mut s = MessagesStream::new(MODEL, ID);
    let mut out = Vec::new();
    for piece in pieces {
        s.feed(piece, &mut out);
    }
    s.finish(&mut out);
    (out, s)
}

/// The events of an Anthropic stream: (name, data), each event exactly
/// `event: NAME\ndata: JSON\n\n`.
fn events(out: &[u8]) -> Vec<(String, Value)> {
    let text = std::str::from_utf8(out).unwrap();
    assert!(text.ends_with("\n\n"), "{text:?}");
    text[..text.len() - 2]
        .split("\n\n")
        .map(|e| {
            let (name, data) = e.split_once('\n').unwrap();
            let name = name.strip_prefix("event: ").unwrap();
            let data: Value = serde_json::from_str(data.strip_prefix("data: ").unwrap()).unwrap();
            if name != "error" {
                assert_eq!(data["type"], json!(name), "{e}");
            }
            (name.to_owned(), data)
        })
        .collect()
}

/// Runs `input` whole, bytewise and in random cuts; the bytes agree and
/// the events are `want`.
fn check(input: &str, want: &[(&str, Value)]) -> MessagesStream {
    let input = input.as_bytes();
    let (whole, s) = run(std::iter::once(input));
    let (bytewise, _) = run(input.chunks(1));
    assert_eq!(
        String::from_utf8_lossy(&bytewise),
        String::from_utf8_lossy(&whole)
    );
    for seed in [1, 7, 42, 0x9e37_79b9_7f4a_7c15, 12345] {
        let (cut, _) = run(random_pieces(input, seed).into_iter());
        assert_eq!(cut, whole, "seed {seed}");
    }
    let got = events(&whole);
    let want: Vec<(String, Value)> = want
        .iter()
        .map(|(n, v)| ((*n).to_owned(), v.clone()))
        .collect();
    assert_eq!(got.len(), want.len(), "events: {got:#?}");
    for (i, (g, w)) in got.iter().zip(&want).enumerate() {
        assert_eq!(g, w, "event {i}");
    }
    assert!(s.is_ended());
    s
}

/// An OpenAI chunk as `StreamTranslator` writes it.
fn chunk(delta: Value, finish: Value) -> Value {
    json!({"id": ID, "object": "chat.completion.chunk", "created": 1_767_225_600, "model": "gpt-4o",
           "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})
}

fn role() -> Value {
    chunk(json!({"role": "assistant", "content": ""}), Value::Null)
}

fn text(t: &str) -> Value {
    chunk(json!({"content": t}), Value::Null)
}

fn end(reason: &str) -> Value {
    chunk(json!({}), json!(reason))
}

fn usage_chunk(input: u64, output: u64, cached: u64) -> Value {
    json!({"id": ID, "object": "chat.completion.chunk", "created": 1_767_225_600, "model": "gpt-4o",
           "choices": [], "usage": openai_usage(input, output, cached)})
}

fn sse(frames: &[Value], done: bool) -> String {
    let mut s: String = frames.iter().map(|f| format!("data: {f}\n\n")).collect();
    if done {
        s.push_str("data: [DONE]\n\n");
    }
    s
}

fn start() -> (&'static str, Value) {
    (
        "message_start",
        json!({"type": "message_start", "message": {"id": MSG_ID, "type": "message",
            "role": "assistant", "model": MODEL, "content": [], "stop_reason": null,
            "stop_sequence": null, "usage": anthropic_usage(0, 0, 0)}}),
    )
}

fn block_start(index: u64, block: Value) -> (&'static str, Value) {
    (
        "content_block_start",
        json!({"type": "content_block_start", "index": index, "content_block": block}),
    )
}

fn text_block(index: u64) -> (&'static str, Value) {
    block_start(index, json!({"type": "text", "text": ""}))
}

fn delta(index: u64, delta: Value) -> (&'static str, Value) {
    (
        "content_block_delta",
        json!({"type": "content_block_delta", "index": index, "delta": delta}),
    )
}

fn text_delta(index: u64, t: &str) -> (&'static str, Value) {
    delta(index, json!({"type": "text_delta", "text": t}))
}

fn json_delta(index: u64, part: &str) -> (&'static str, Value) {
    delta(
        index,
        json!({"type": "input_json_delta", "partial_json": part}),
    )
}

fn block_stop(index: u64) -> (&'static str, Value) {
    (
        "content_block_stop",
        json!({"type": "content_block_stop", "index": index}),
    )
}

fn message_end(stop: &str, usage: Value) -> [(&'static str, Value); 2] {
    [
        (
            "message_delta",
            json!({"type": "message_delta", "delta": {"stop_reason": stop, "stop_sequence": null},
                   "usage": usage}),
        ),
        ("message_stop", json!({"type": "message_stop"})),
    ]
}

#[test]
fn stream_text() {
    let input = sse(
        &[
            role(),
            text("Hello"),
            text(", \"world\"\n"),
            end("stop"),
            usage_chunk(25, 15, 0),
        ],
        true,
    );
    let mut want = vec![
        start(),
        text_block(0),
        text_delta(0, "Hello"),
        text_delta(0, ", \"world\"\n"),
        block_stop(0),
    ];
    want.extend(message_end("end_turn", anthropic_usage(25, 15, 0)));
    let s = check(&input, &want);
    assert_eq!(
        s.usage(),
        Usage {
            input: 25,
            output: 15,
            cached: 0,
            reasoning: 0
        }
    );
}

#[test]
fn stream_text_then_two_parallel_tool_calls() {
    let tool_start = |k: u64, id: &str| {
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
    let input = sse(
        &[
            role(),
            text("Checking both."),
            tool_start(0, "toolu_01A"),
            args(0, "{\"location\": \"Pa"),
            args(0, "ris\"}"),
            tool_start(1, "toolu_01B"),
            args(1, "{\"location\": \"Rome\"}"),
            end("tool_calls"),
            usage_chunk(2025, 89, 2000),
        ],
        true,
    );
    let tool = |id: &str| json!({"type": "tool_use", "id": id, "name": "get_weather", "input": {}});
    let mut want = vec![
        start(),
        text_block(0),
        text_delta(0, "Checking both."),
        block_stop(0),
        block_start(1, tool("toolu_01A")),
        json_delta(1, "{\"location\": \"Pa"),
        json_delta(1, "ris\"}"),
        block_stop(1),
        block_start(2, tool("toolu_01B")),
        json_delta(2, "{\"location\": \"Rome\"}"),
        block_stop(2),
    ];
    want.extend(message_end("tool_use", anthropic_usage(25, 89, 2000)));
    check(&input, &want);
}

#[test]
fn stream_gemini_style_whole_tool_calls_in_one_chunk() {
    // Gemini's calls come whole, two in one chunk; no finish reason seen
    // before [DONE] still reads as tool_use.
    let call = |k: u64, name: &str, args: &str| {
        json!({"index": k, "id": format!("call_{k}"), "type": "function",
               "function": {"name": name, "arguments": args}})
    };
    let input = sse(
        &[
            role(),
            chunk(
                json!({"tool_calls": [call(0, "a", "{\"x\":1}"), call(1, "b", "{}")]}),
                Value::Null,
            ),
        ],
        true,
    );
    let tool = |k: u64, name: &str| json!({"type": "tool_use", "id": format!("call_{k}"), "name": name, "input": {}});
    let mut want = vec![
        start(),
        block_start(0, tool(0, "a")),
        json_delta(0, "{\"x\":1}"),
        block_stop(0),
        block_start(1, tool(1, "b")),
        json_delta(1, "{}"),
        block_stop(1),
    ];
    want.extend(message_end("tool_use", anthropic_usage(0, 0, 0)));
    check(&input, &want);
}

#[test]
fn stream_reasoning_then_text_and_length() {
    let think = |t: &str| chunk(json!({"reasoning_content": t}), Value::Null);
    let input = sse(
        &[
            role(),
            think("Let me think"),
            think(" step by step."),
            text("The answer is"),
            end("length"),
            usage_chunk(30, 100, 0),
        ],
        true,
    );
    let mut want = vec![
        start(),
        block_start(
            0,
            json!({"type": "thinking", "thinking": "", "signature": ""}),
        ),
        delta(
            0,
            json!({"type": "thinking_delta", "thinking": "Let me think"}),
        ),
        delta(
            0,
            json!({"type": "thinking_delta", "thinking": " step by step."}),
        ),
        block_stop(0),
        text_block(1),
        text_delta(1, "The answer is"),
        block_stop(1),
    ];
    want.extend(message_end("max_tokens", anthropic_usage(30, 100, 0)));
    check(&input, &want);
}

#[test]
fn stream_content_filter_without_usage() {
    let input = sse(&[role(), text("I"), end("content_filter")], true);
    let mut want = vec![start(), text_block(0), text_delta(0, "I"), block_stop(0)];
    want.extend(message_end("refusal", anthropic_usage(0, 0, 0)));
    check(&input, &want);
}

#[test]
fn stream_error_frame_ends_with_error_event() {
    // As StreamTranslator ends a stream with an error: error frame, [DONE].
    let err = json!({"error": {"message": "Overloaded", "type": "upstream_error", "param": null,
                               "code": "overloaded_error"}});
    let input = sse(&[role(), text("Hel"), err], true) + &sse(&[text("ignored")], true);
    let want = vec![
        start(),
        text_block(0),
        text_delta(0, "Hel"),
        (
            "error",
            json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}),
        ),
    ];
    check(&input, &want);
    let err = json!({"error": {"message": "boom", "type": "upstream_error", "param": null,
                               "code": "malformed_frame"}});
    let want = vec![(
        "error",
        json!({"type": "error", "error": {"type": "api_error", "message": "boom"}}),
    )];
    check(&sse(&[err], true), &want);
}

#[test]
fn stream_ended_early_malformed_or_interleaved_is_an_error() {
    let early = sse(&[role(), text("Hi")], false);
    let err = |m: &str| {
        (
            "error",
            json!({"type": "error", "error": {"type": "api_error", "message": m}}),
        )
    };
    let want = vec![
        start(),
        text_block(0),
        text_delta(0, "Hi"),
        err("the provider's stream ended early"),
    ];
    check(&early, &want);
    let bad = sse(&[role()], false) + "data: {nope\n\n";
    let want = vec![
        start(),
        err("the provider sent a stream frame that is not a chunk"),
    ];
    check(&bad, &want);
    let call = |k: u64, args: &str| {
        chunk(
            json!({"tool_calls": [{"index": k, "id": "c", "function": {"name": "f", "arguments": args}}]}),
            Value::Null,
        )
    };
    let interleaved = sse(&[call(0, "{"), call(1, "{"), call(0, "}")], true);
    let tool = json!({"type": "tool_use", "id": "c", "name": "f", "input": {}});
    let want = vec![
        start(),
        block_start(0, tool.clone()),
        json_delta(0, "{"),
        block_stop(0),
        block_start(1, tool),
        json_delta(1, "{"),
        err("the provider interleaved tool calls, which this stream cannot carry"),
    ];
    check(&interleaved, &want);
}

// ----------------------------------------------------------- round trip

/// What an Anthropic stream says: text, tool calls (id, name, input),
/// stop reason, input and output tokens.
#[derive(Debug, PartialEq)]
struct Said {
    text: String,
    tools: Vec<(String, String, Value)>,
    stop: Value,
    input: u64,
    output: u64,
}

fn said(stream: &[u8]) -> Said {
    let mut s = Said {
        text: String::new(),
        tools: Vec::new(),
        stop: Value::Null,
        input: 0,
        output: 0,
    };
    let mut args: Vec<String> = Vec::new();
    let mut block_tool: Vec<(u64, usize)> = Vec::new();
    for (name, data) in events(stream) {
        match name.as_str() {
            "message_start" => s.input = data["message"]["usage"]["input_tokens"].as_u64().unwrap(),
            "content_block_start" if data["content_block"]["type"] == "tool_use" => {
                let b = &data["content_block"];
                block_tool.push((data["index"].as_u64().unwrap(), s.tools.len()));
                s.tools.push((
                    b["id"].as_str().unwrap().to_owned(),
                    b["name"].as_str().unwrap().to_owned(),
                    Value::Null,
                ));
                args.push(String::new());
            }
            "content_block_delta" => {
                let d = &data["delta"];
                match d["type"].as_str().unwrap() {
                    "text_delta" => s.text.push_str(d["text"].as_str().unwrap()),
                    "input_json_delta" => {
                        let index = data["index"].as_u64().unwrap();
                        let k = block_tool.iter().find(|(i, _)| *i == index).unwrap().1;
                        args[k].push_str(d["partial_json"].as_str().unwrap());
                    }
                    other => panic!("unexpected delta {other}"),
                }
            }
            "message_delta" => {
                s.stop = data["delta"]["stop_reason"].clone();
                s.output = data["usage"]["output_tokens"].as_u64().unwrap();
                if let Some(n) = data["usage"]["input_tokens"].as_u64().filter(|n| *n > 0) {
                    s.input = n;
                }
            }
            _ => {}
        }
    }
    for (tool, a) in s.tools.iter_mut().zip(args) {
        tool.2 = serde_json::from_str(&a).unwrap();
    }
    s
}

#[test]
fn round_trip_through_stream_translator() {
    let ev = |name: &str, data: Value| format!("event: {name}\ndata: {data}\n\n");
    let upstream = [
        ev("message_start", json!({"type": "message_start", "message": {
            "id": "msg_01XF", "type": "message", "role": "assistant", "content": [],
            "model": "claude-sonnet-4-5-20250929", "stop_reason": null, "stop_sequence": null,
            "usage": {"input_tokens": 25, "cache_creation_input_tokens": 0,
                      "cache_read_input_tokens": 0, "output_tokens": 1}}})),
        ev("content_block_start", json!({"type": "content_block_start", "index": 0,
            "content_block": {"type": "text", "text": ""}})),
        "event: ping\ndata: {\"type\": \"ping\"}\n\n".to_owned(),
        ev("content_block_delta", json!({"type": "content_block_delta", "index": 0,
            "delta": {"type": "text_delta", "text": "Let me "}})),
        ev("content_block_delta", json!({"type": "content_block_delta", "index": 0,
            "delta": {"type": "text_delta", "text": "check \"Paris\"."}})),
        ev("content_block_stop", json!({"type": "content_block_stop", "index": 0})),
        ev("content_block_start", json!({"type": "content_block_start", "index": 1,
            "content_block": {"type": "tool_use", "id": "toolu_01T", "name": "get_weather", "input": {}}})),
        ev("content_block_delta", json!({"type": "content_block_delta", "index": 1,
            "delta": {"type": "input_json_delta", "partial_json": ""}})),
        ev("content_block_delta", json!({"type": "content_block_delta", "index": 1,
            "delta": {"type": "input_json_delta", "partial_json": "{\"city\": \"Pa"}})),
        ev("content_block_delta", json!({"type": "content_block_delta", "index": 1,
            "delta": {"type": "input_json_delta", "partial_json": "ris\", \"unit\": \"c\"}"}})),
        ev("content_block_stop", json!({"type": "content_block_stop", "index": 1})),
        ev("message_delta", json!({"type": "message_delta",
            "delta": {"stop_reason": "tool_use", "stop_sequence": null},
            "usage": {"output_tokens": 42}})),
        ev("message_stop", json!({"type": "message_stop"})),
    ]
    .concat();
    let mut t = StreamTranslator::new(Kind::Anthropic, "gpt-4o", ID, 1_767_225_600, true);
    let mut openai = Vec::new();
    for piece in random_pieces(upstream.as_bytes(), 99) {
        t.feed(piece, &mut openai);
    }
    t.finish(&mut openai);
    let (back, s) = run(random_pieces(&openai, 5).into_iter());
    let want = said(upstream.as_bytes());
    assert_eq!(
        want,
        Said {
            text: "Let me check \"Paris\".".into(),
            tools: vec![(
                "toolu_01T".into(),
                "get_weather".into(),
                json!({"city": "Paris", "unit": "c"})
            )],
            stop: json!("tool_use"),
            input: 25,
            output: 42,
        }
    );
    assert_eq!(said(&back), want);
    assert!(s.is_ended());
    assert_eq!(s.usage(), t.usage());
    // Same shape too: block kinds and indices, and the final events.
    let shape = |stream: &[u8]| -> Vec<(String, Value)> {
        events(stream)
            .into_iter()
            .filter(|(n, _)| n.starts_with("content_block_st") || n == "message_stop")
            .map(|(n, d)| (n, json!([d["index"], d["content_block"]["type"]])))
            .collect()
    };
    assert_eq!(shape(&back), shape(upstream.as_bytes()));
}
