//! Anthropic Messages: whole and streamed shapes, tools, cache usage, validation.

mod common;

use common::*;
use serde_json::{json, Value};

fn hello(stream: bool) -> Value {
    json!({ "model": "claude-x", "max_tokens": 100, "stream": stream, "system": "be brief",
            "messages": [{ "role": "user", "content": "hello there" }] })
}

fn usage(input: u64, cached: u64, output: u64) -> Value {
    json!({ "input_tokens": input, "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": cached, "output_tokens": output })
}

fn error(kind: &str, message: &str) -> Value {
    json!({ "type": "error", "error": { "type": kind, "message": message } })
}

#[test]
fn whole_message() {
    let mock = mock3();
    let r = post(&mock, MESSAGES, ANTHROPIC, &hello(false));
    assert_eq!(r.status, 200);
    let expected = json!({
        "id": "msg_mock_1", "type": "message", "role": "assistant", "model": "claude-x",
        "content": [{ "type": "text", "text": "w0 w1 w2" }],
        "stop_reason": "end_turn", "stop_sequence": null, "usage": usage(4, 0, 3),
    });
    assert_eq!(r.json(), expected);
    assert_eq!(mock.requests()[0].key.as_deref(), Some("k1"));
}

#[test]
fn stream_event_sequence() {
    let mock = mock3();
    let r = post(&mock, MESSAGES, ANTHROPIC, &hello(true));
    assert_eq!(r.header("content-type"), Some("text/event-stream"));
    assert!(r.complete);
    let events = r.events();
    assert_eq!(r.chunks.len(), events.len());
    let names: Vec<&str> = events.iter().map(|(e, _)| e.as_deref().unwrap()).collect();
    assert_eq!(
        names,
        vec![
            "message_start",
            "content_block_start",
            "ping",
            "content_block_delta",
            "content_block_delta",
            "content_block_delta",
            "content_block_stop",
            "message_delta",
            "message_stop",
        ]
    );
    let delta = |t: &str| json!({ "type": "content_block_delta", "index": 0, "delta": { "type": "text_delta", "text": t } });
    let expected = vec![
        json!({ "type": "message_start", "message": {
            "id": "msg_mock_1", "type": "message", "role": "assistant", "model": "claude-x", "content": [],
            "stop_reason": null, "stop_sequence": null, "usage": usage(4, 0, 1) } }),
        json!({ "type": "content_block_start", "index": 0, "content_block": { "type": "text", "text": "" } }),
        json!({ "type": "ping" }),
        delta("w0"),
        delta(" w1"),
        delta(" w2"),
        json!({ "type": "content_block_stop", "index": 0 }),
        json!({ "type": "message_delta", "delta": { "stop_reason": "end_turn", "stop_sequence": null },
                "usage": { "output_tokens": 3 } }),
        json!({ "type": "message_stop" }),
    ];
    assert_eq!(r.data_json(), expected);
}

#[test]
fn cache_and_max_tokens() {
    let mock = mock3();
    let body = json!({ "model": "c", "max_tokens": 2,
        "system": [{ "type": "text", "text": "use the cache please" }],
        "messages": [
            { "role": "user", "content": [{ "type": "text", "text": "hi" },
                { "type": "image", "source": { "type": "base64", "media_type": "image/png", "data": "AAAA" } }] },
        ] });
    let v = post(&mock, MESSAGES, ANTHROPIC, &body).json();
    // 4 + 1 words + 10 for the image = 15; 4 of them cache reads.
    assert_eq!(v["usage"], usage(11, 4, 2));
    assert_eq!(v["stop_reason"], json!("max_tokens"));
    assert_eq!(v["content"], json!([{ "type": "text", "text": "w0 w1" }]));
}

fn tool_body(stream: bool) -> Value {
    let tool = |n: &str| json!({ "name": n, "input_schema": { "type": "object" } });
    json!({ "model": "c", "max_tokens": 50, "stream": stream, "tools": [tool("search"), tool("fetch")],
            "messages": [{ "role": "user", "content": "call tools please" }] })
}

#[test]
fn tool_use_whole() {
    let mock = mock3();
    let v = post(&mock, MESSAGES, ANTHROPIC, &tool_body(false)).json();
    let expected = json!([
        { "type": "text", "text": "ok" },
        { "type": "tool_use", "id": "toolu_a", "name": "search", "input": { "q": "search" } },
        { "type": "tool_use", "id": "toolu_b", "name": "fetch", "input": { "q": "fetch" } },
    ]);
    assert_eq!(v["content"], expected);
    assert_eq!(v["stop_reason"], json!("tool_use"));
    assert_eq!(v["usage"], usage(3, 0, 11));
}

#[test]
fn tool_use_streamed_then_plain_after_results() {
    let mock = mock3();
    let r = post(&mock, MESSAGES, ANTHROPIC, &tool_body(true));
    let data = r.data_json();
    let start = |i: usize, id: &str, n: &str| {
        json!({ "type": "content_block_start", "index": i,
        "content_block": { "type": "tool_use", "id": id, "name": n, "input": {} } })
    };
    let piece = |i: usize, p: &str| {
        json!({ "type": "content_block_delta", "index": i,
        "delta": { "type": "input_json_delta", "partial_json": p } })
    };
    let stop = |i: usize| json!({ "type": "content_block_stop", "index": i });
    let expected = vec![
        json!({ "type": "content_block_start", "index": 0, "content_block": { "type": "text", "text": "" } }),
        json!({ "type": "ping" }),
        json!({ "type": "content_block_delta", "index": 0, "delta": { "type": "text_delta", "text": "ok" } }),
        stop(0),
        start(1, "toolu_a", "search"),
        piece(1, "{\"q\":"),
        piece(1, "\"search\"}"),
        stop(1),
        start(2, "toolu_b", "fetch"),
        piece(2, "{\"q\":"),
        piece(2, "\"fetch\"}"),
        stop(2),
        json!({ "type": "message_delta", "delta": { "stop_reason": "tool_use", "stop_sequence": null },
                "usage": { "output_tokens": 11 } }),
        json!({ "type": "message_stop" }),
    ];
    assert_eq!(data[1..].to_vec(), expected);

    let mut body = tool_body(false);
    body["messages"].as_array_mut().unwrap().extend([
        json!({ "role": "assistant", "content": [{ "type": "tool_use", "id": "toolu_a", "name": "search", "input": {} }] }),
        json!({ "role": "user", "content": [{ "type": "tool_result", "tool_use_id": "toolu_a", "content": "found it" }] }),
    ]);
    let v = post(&mock, MESSAGES, ANTHROPIC, &body).json();
    assert_eq!(
        v["content"],
        json!([{ "type": "text", "text": "w0 w1 w2" }])
    );
    assert_eq!(v["usage"], usage(5, 0, 3));
}

#[test]
fn validation_errors() {
    let mock = mock3();
    let mut c = Client::connect(mock.addr());
    let mut body = hello(false);
    body.as_object_mut().unwrap().remove("max_tokens");
    let r = c.call(MESSAGES, ANTHROPIC, &body);
    assert_eq!(r.status, 400);
    assert_eq!(
        r.json(),
        error("invalid_request_error", "max_tokens: Field required")
    );

    let r = c.call(MESSAGES, &[("x-api-key", "k1")], &hello(false));
    assert_eq!(r.status, 400);
    assert_eq!(
        r.json(),
        error(
            "invalid_request_error",
            "anthropic-version: header is required"
        )
    );

    let mut body = hello(false);
    body["messages"] = json!([{ "role": "system", "content": "x" }]);
    let r = c.call(MESSAGES, ANTHROPIC, &body);
    assert_eq!(r.status, 400);
    assert_eq!(
        r.json(),
        error(
            "invalid_request_error",
            "messages.0.role: Input should be 'user' or 'assistant'"
        )
    );

    c.send("POST", MESSAGES, ANTHROPIC, b"[1,");
    let r = c.read().unwrap();
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["error"]["type"], json!("invalid_request_error"));

    let r = c.call(
        MESSAGES,
        &[("anthropic-version", "2023-06-01")],
        &hello(false),
    );
    assert_eq!(r.status, 401);
    assert_eq!(
        r.json(),
        error("authentication_error", "No API key provided.")
    );
    // A bearer token is not Anthropic's header.
    let r = c.call(
        MESSAGES,
        &[("authorization", "Bearer k1"), ("anthropic-version", "1")],
        &hello(false),
    );
    assert_eq!(r.status, 401);
}
