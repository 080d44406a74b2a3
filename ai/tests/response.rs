//! Golden cases: whole provider responses as OpenAI `chat.completion`
//! bodies, and provider errors as the client's errors.

#![allow(clippy::unwrap_used)]

use ai::{decode_error, decode_response, ApiError, Kind, Usage};
use serde_json::{json, Value};

fn decode(kind: Kind, body: Value) -> (Value, Usage) {
    let (bytes, usage) = decode_response(
        kind,
        body.to_string().as_bytes(),
        "asked-model",
        "chatcmpl-gw1",
        1_700_000_000,
    )
    .unwrap();
    (serde_json::from_slice(&bytes).unwrap(), usage)
}

fn usage_json(input: u64, output: u64, cached: u64, reasoning: u64) -> Value {
    json!({
        "prompt_tokens": input, "completion_tokens": output, "total_tokens": input + output,
        "prompt_tokens_details": {"cached_tokens": cached},
        "completion_tokens_details": {"reasoning_tokens": reasoning},
    })
}

fn completion(id: &str, model: &str, choices: Value, usage: Value) -> Value {
    json!({"id": id, "object": "chat.completion", "created": 1_700_000_000u64, "model": model,
           "choices": choices, "usage": usage})
}

// ---- Anthropic ---------------------------------------------------------------

fn anthropic(content: Value, stop: &str, usage: Value) -> Value {
    json!({"id": "msg_01XYZ", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5-20250929",
           "content": content, "stop_reason": stop, "stop_sequence": null, "usage": usage})
}

#[test]
fn anthropic_text() {
    let body = anthropic(
        json!([{"type": "text", "text": "Hello"}, {"type": "text", "text": " there."}]),
        "end_turn",
        json!({"input_tokens": 12, "output_tokens": 5}),
    );
    let (out, usage) = decode(Kind::Anthropic, body);
    assert_eq!(
        out,
        completion(
            "chatcmpl-msg_01XYZ",
            "claude-sonnet-4-5-20250929",
            json!([{"index": 0, "message": {"role": "assistant", "content": "Hello there."}, "finish_reason": "stop"}]),
            usage_json(12, 5, 0, 0),
        )
    );
    assert_eq!(
        usage,
        Usage {
            input: 12,
            output: 5,
            cached: 0,
            reasoning: 0
        }
    );
}

#[test]
fn anthropic_two_parallel_tool_uses() {
    let body = anthropic(
        json!([
            {"type": "text", "text": "Checking both."},
            {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Paris"}},
            {"type": "tool_use", "id": "toolu_2", "name": "get_weather", "input": {"city": "Rome", "units": ["c"]}},
        ]),
        "tool_use",
        json!({"input_tokens": 100, "output_tokens": 40}),
    );
    let (out, _) = decode(Kind::Anthropic, body);
    assert_eq!(
        out["choices"],
        json!([{"index": 0, "finish_reason": "tool_calls", "message": {
        "role": "assistant", "content": "Checking both.",
        "tool_calls": [
            {"id": "toolu_1", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}},
            {"id": "toolu_2", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Rome\",\"units\":[\"c\"]}"}},
        ]}}])
    );
}

#[test]
fn anthropic_tool_use_only_has_null_content() {
    let body = anthropic(
        json!([{"type": "tool_use", "id": "toolu_9", "name": "get_time", "input": {}}]),
        "tool_use",
        json!({"input_tokens": 1, "output_tokens": 1}),
    );
    let (out, _) = decode(Kind::Anthropic, body);
    assert_eq!(
        out["choices"][0]["message"],
        json!({"role": "assistant", "content": null, "tool_calls": [
            {"id": "toolu_9", "type": "function", "function": {"name": "get_time", "arguments": "{}"}}]})
    );
}

#[test]
fn anthropic_thinking() {
    let body = anthropic(
        json!([
            {"type": "thinking", "thinking": "The user greets me.", "signature": "EqQB"},
            {"type": "redacted_thinking", "data": "xyz"},
            {"type": "text", "text": "Hi!"},
        ]),
        "end_turn",
        json!({"input_tokens": 8, "output_tokens": 30}),
    );
    let (out, _) = decode(Kind::Anthropic, body);
    assert_eq!(
        out["choices"][0]["message"],
        json!({"role": "assistant", "content": "Hi!", "reasoning_content": "The user greets me."})
    );
}

#[test]
fn anthropic_stop_reasons() {
    let cases = [
        ("end_turn", "stop"),
        ("max_tokens", "length"),
        ("tool_use", "tool_calls"),
        ("refusal", "content_filter"),
        ("stop_sequence", "stop"),
        ("pause_turn", "stop"),
    ];
    for (raw, want) in cases {
        let body = anthropic(json!([{"type": "text", "text": "x"}]), raw, json!({}));
        assert_eq!(
            decode(Kind::Anthropic, body).0["choices"][0]["finish_reason"],
            json!(want),
            "{raw}"
        );
    }
}

#[test]
fn anthropic_cache_usage_counts_into_prompt_tokens() {
    let body = anthropic(
        json!([{"type": "text", "text": "ok"}]),
        "end_turn",
        json!({"input_tokens": 50, "cache_creation_input_tokens": 200, "cache_read_input_tokens": 1000, "output_tokens": 7}),
    );
    let (out, usage) = decode(Kind::Anthropic, body);
    assert_eq!(
        usage,
        Usage {
            input: 1250,
            output: 7,
            cached: 1000,
            reasoning: 0
        }
    );
    assert_eq!(out["usage"], usage_json(1250, 7, 1000, 0));
}

#[test]
fn anthropic_without_id_or_model_uses_the_given_ones() {
    let body = json!({"content": [{"type": "text", "text": "x"}], "stop_reason": "end_turn"});
    let (out, _) = decode(Kind::Anthropic, body);
    assert_eq!(
        out,
        completion(
            "chatcmpl-gw1",
            "asked-model",
            json!([{"index": 0, "message": {"role": "assistant", "content": "x"}, "finish_reason": "stop"}]),
            usage_json(0, 0, 0, 0),
        )
    );
}

// ---- Gemini ------------------------------------------------------------------

fn gemini_candidate(parts: Value, reason: &str) -> Value {
    json!({"content": {"role": "model", "parts": parts}, "finishReason": reason, "index": 0})
}

#[test]
fn gemini_text() {
    let body = json!({
        "candidates": [gemini_candidate(json!([{"text": "Bonjour"}, {"text": " !"}]), "STOP")],
        "usageMetadata": {"promptTokenCount": 9, "candidatesTokenCount": 3, "totalTokenCount": 12},
        "modelVersion": "gemini-2.5-flash", "responseId": "abc",
    });
    let (out, usage) = decode(Kind::Gemini, body);
    assert_eq!(
        out,
        completion(
            "chatcmpl-gw1",
            "gemini-2.5-flash",
            json!([{"index": 0, "message": {"role": "assistant", "content": "Bonjour !"}, "finish_reason": "stop"}]),
            usage_json(9, 3, 0, 0),
        )
    );
    assert_eq!(
        usage,
        Usage {
            input: 9,
            output: 3,
            cached: 0,
            reasoning: 0
        }
    );
}

#[test]
fn gemini_function_calls_are_tool_calls() {
    let body = json!({"candidates": [gemini_candidate(json!([
        {"text": "Looking up."},
        {"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}},
        {"functionCall": {"name": "get_weather", "args": {"city": "Rome"}}},
    ]), "STOP")]});
    let (out, _) = decode(Kind::Gemini, body);
    assert_eq!(
        out["choices"],
        json!([{"index": 0, "finish_reason": "tool_calls", "message": {
        "role": "assistant", "content": "Looking up.", "tool_calls": [
            {"id": "call_0", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}},
            {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Rome\"}"}},
        ]}}])
    );
    assert_eq!(out["model"], json!("asked-model"));
}

#[test]
fn gemini_safety_and_max_tokens() {
    let body = json!({"candidates": [
        {"finishReason": "SAFETY", "index": 0, "safetyRatings": []},
        {"content": {"role": "model", "parts": [{"text": "Once upon"}]}, "finishReason": "MAX_TOKENS", "index": 1},
    ]});
    let (out, _) = decode(Kind::Gemini, body);
    assert_eq!(
        out["choices"],
        json!([
            {"index": 0, "message": {"role": "assistant", "content": null}, "finish_reason": "content_filter"},
            {"index": 1, "message": {"role": "assistant", "content": "Once upon"}, "finish_reason": "length"},
        ])
    );
}

#[test]
fn gemini_blocked_prompt() {
    let body = json!({"promptFeedback": {"blockReason": "SAFETY", "safetyRatings": []},
                      "usageMetadata": {"promptTokenCount": 6, "totalTokenCount": 6}});
    let (out, usage) = decode(Kind::Gemini, body);
    assert_eq!(
        out,
        completion(
            "chatcmpl-gw1",
            "asked-model",
            json!([{"index": 0, "message": {"role": "assistant", "content": null}, "finish_reason": "content_filter"}]),
            usage_json(6, 0, 0, 0),
        )
    );
    assert_eq!(usage.input, 6);
}

#[test]
fn gemini_thoughts_and_cached_usage() {
    let body = json!({
        "candidates": [gemini_candidate(json!([
            {"text": "Compare the sizes first.", "thought": true},
            {"text": "Jupiter."},
        ]), "STOP")],
        "usageMetadata": {"promptTokenCount": 1200, "cachedContentTokenCount": 1024,
                          "candidatesTokenCount": 4, "thoughtsTokenCount": 60, "totalTokenCount": 1264},
    });
    let (out, usage) = decode(Kind::Gemini, body);
    assert_eq!(
        out["choices"][0]["message"],
        json!({"role": "assistant", "content": "Jupiter.", "reasoning_content": "Compare the sizes first."})
    );
    assert_eq!(
        usage,
        Usage {
            input: 1200,
            output: 64,
            cached: 1024,
            reasoning: 60
        }
    );
    assert_eq!(out["usage"], usage_json(1200, 64, 1024, 60));
}

#[test]
fn gemini_without_candidates_or_feedback_is_malformed() {
    let e = decode_response(Kind::Gemini, b"{\"usageMetadata\":{}}", "m", "i", 0).unwrap_err();
    assert_eq!((e.status, e.kind), (502, "upstream_error"));
}

// ---- OpenAI-format providers ---------------------------------------------------

#[test]
fn openai_body_passes_unchanged() {
    let raw = br#"{"id":"chatcmpl-abc","object":"chat.completion","created":1,"model":"gpt-4o-2024-08-06",
"choices":[{"index":0,"message":{"role":"assistant","content":"Hi","refusal":null},"logprobs":null,"finish_reason":"stop"}],
"usage":{"prompt_tokens":20,"completion_tokens":2,"total_tokens":22,"prompt_tokens_details":{"cached_tokens":16},
"completion_tokens_details":{"reasoning_tokens":0}},"system_fingerprint":"fp_1"}"#;
    for kind in [Kind::OpenAi, Kind::Azure, Kind::Compatible] {
        let (bytes, usage) = decode_response(kind, raw, "m", "i", 0).unwrap();
        assert_eq!(bytes, raw.to_vec());
        assert_eq!(
            usage,
            Usage {
                input: 20,
                output: 2,
                cached: 16,
                reasoning: 0
            }
        );
    }
}

#[test]
fn malformed_provider_bodies_are_502() {
    let cases: [(Kind, &[u8]); 5] = [
        (Kind::OpenAi, b"<html>oops</html>"),
        (Kind::Compatible, b"{\"object\":\"chat.completion\"}"),
        (Kind::Anthropic, b"{\"type\":\"message\"}"),
        (Kind::Anthropic, b""),
        (Kind::Gemini, b"[1,2"),
    ];
    for (kind, body) in cases {
        let e = decode_response(kind, body, "m", "i", 0).unwrap_err();
        assert_eq!(
            e,
            ApiError::new(502, "upstream_error", "malformed provider response")
        );
    }
}

// ---- errors ----------------------------------------------------------------------

fn error(kind: Kind, status: u16, body: Value) -> ApiError {
    decode_error(kind, status, body.to_string().as_bytes())
}

fn expect(status: u16, kind: &'static str, code: Option<&str>, message: &str) -> ApiError {
    let mut e = ApiError::new(status, kind, message);
    e.code = code.map(str::to_owned);
    e
}

#[test]
fn openai_400_keeps_message_and_code() {
    let body = json!({"error": {"message": "This model's maximum context length is 128000 tokens.",
                                "type": "invalid_request_error", "param": "messages", "code": "context_length_exceeded"}});
    assert_eq!(
        error(Kind::OpenAi, 400, body),
        expect(
            400,
            "invalid_request_error",
            Some("context_length_exceeded"),
            "This model's maximum context length is 128000 tokens."
        )
    );
}

#[test]
fn openai_401_never_echoes_the_key() {
    let key = "sk-proj-AbCdEfGhIjKlMnOpQrStUvWxYz0123456789";
    let body = json!({"error": {"message": format!("Incorrect API key provided: {key}."),
                                "type": "invalid_request_error", "code": "invalid_api_key"}});
    let e = error(Kind::OpenAi, 401, body);
    assert_eq!(
        e,
        expect(
            502,
            "upstream_error",
            None,
            "the provider refused the gateway's credentials"
        )
    );
    assert!(!String::from_utf8(e.to_json()).unwrap().contains("AbCdEf"));
}

#[test]
fn keys_are_redacted_from_passed_messages() {
    let body = json!({"error": {"code": 400, "status": "INVALID_ARGUMENT",
        "message": "API key AIzaSyA-1234567890abcdefghijklmnopqrstu is for project 123; token sk-ant-api03-xyz and 0123456789abcdef0123456789abcdef0 rejected"}});
    let e = error(Kind::Gemini, 400, body);
    assert_eq!(
        e,
        expect(
            400,
            "invalid_request_error",
            Some("INVALID_ARGUMENT"),
            "API key [redacted] is for project 123; token [redacted] and [redacted] rejected"
        )
    );
}

#[test]
fn anthropic_429_and_529() {
    let limited = json!({"type": "error", "error": {"type": "rate_limit_error", "message": "Number of request tokens has exceeded your per-minute rate limit"}});
    assert_eq!(
        error(Kind::Anthropic, 429, limited),
        expect(
            429,
            "rate_limit_error",
            Some("rate_limit_error"),
            "Number of request tokens has exceeded your per-minute rate limit"
        )
    );
    let overloaded =
        json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}});
    assert_eq!(
        error(Kind::Anthropic, 529, overloaded),
        expect(
            502,
            "upstream_error",
            Some("overloaded_error"),
            "Overloaded"
        )
    );
}

#[test]
fn anthropic_403_is_a_credentials_failure() {
    let body = json!({"type": "error", "error": {"type": "permission_error", "message": "key sk-ant-abc lacks access"}});
    assert_eq!(
        error(Kind::Anthropic, 403, body),
        expect(
            502,
            "upstream_error",
            None,
            "the provider refused the gateway's credentials"
        )
    );
}

#[test]
fn gemini_errors() {
    let not_found = json!({"error": {"code": 404, "message": "models/gemini-9 is not found for API version v1beta", "status": "NOT_FOUND"}});
    assert_eq!(
        error(Kind::Gemini, 404, not_found),
        expect(
            404,
            "not_found_error",
            Some("NOT_FOUND"),
            "models/gemini-9 is not found for API version v1beta"
        )
    );
    let wrapped = json!([{"error": {"code": 429, "message": "Resource has been exhausted", "status": "RESOURCE_EXHAUSTED"}}]);
    assert_eq!(
        error(Kind::Gemini, 429, wrapped),
        expect(
            429,
            "rate_limit_error",
            Some("RESOURCE_EXHAUSTED"),
            "Resource has been exhausted"
        )
    );
    let timeout = json!({"error": {"code": 504, "message": "Deadline expired", "status": "DEADLINE_EXCEEDED"}});
    assert_eq!(
        error(Kind::Gemini, 504, timeout),
        expect(
            504,
            "timeout_error",
            Some("DEADLINE_EXCEEDED"),
            "Deadline expired"
        )
    );
}

#[test]
fn garbage_error_bodies_get_a_generic_message() {
    let cases: [(u16, u16, &str); 5] = [
        (500, 502, "upstream_error"),
        (502, 502, "upstream_error"),
        (408, 504, "timeout_error"),
        (413, 413, "invalid_request_error"),
        (422, 400, "invalid_request_error"),
    ];
    for (status, want, kind) in cases {
        let e = decode_error(Kind::Compatible, status, b"<html>Bad Gateway</html>");
        assert_eq!(
            e,
            expect(
                want,
                kind,
                None,
                &format!("the provider answered HTTP {status}")
            )
        );
    }
    let e = decode_error(Kind::Anthropic, 418, b"{\"error\": 5}");
    assert_eq!(
        e,
        expect(
            502,
            "upstream_error",
            None,
            "the provider answered HTTP 418"
        )
    );
}

#[test]
fn long_messages_are_cut() {
    let long = "word ".repeat(400);
    let body = json!({"error": {"message": long, "type": "server_error"}});
    let e = error(Kind::OpenAi, 500, body);
    assert_eq!(e.message.chars().count(), 512);
    assert_eq!(e.message, long.chars().take(512).collect::<String>());
    assert_eq!(
        (e.status, e.kind, e.retry_after),
        (502, "upstream_error", None)
    );
}
