//! Anthropic's Messages API (`POST /v1/messages`) as a second front end:
//! a Messages request becomes the OpenAI [`ChatRequest`] every provider
//! translation starts from, and the OpenAI answer that
//! [`decode_response`] or [`StreamTranslator`] produces becomes a Messages
//! answer again, whole or streamed.
//!
//! What is lost on the way:
//! - requests: `thinking` and `redacted_thinking` blocks in assistant
//!   history are dropped (no OpenAI field carries them back to a
//!   provider), as are `cache_control`, `top_k`, `thinking` (the
//!   setting), `service_tier`, `container`, `mcp_servers` and
//!   `metadata` other than `user_id`; documents, server tools and images
//!   inside tool results are refused (see [`parse_request`]);
//! - answers: a stop sequence reads as `end_turn` with `stop_sequence`
//!   `null` (OpenAI does not say which stop ended the text), thinking
//!   blocks carry an empty `signature`, and cache writes are unknown (0);
//! - streams: `message_start` carries usage 0 and the real counts come in
//!   `message_delta.usage` (see [`MessagesStream`]); no `ping` events.
//!
//! [`ChatRequest`]: crate::ChatRequest
//! [`decode_response`]: crate::decode_response
//! [`StreamTranslator`]: crate::StreamTranslator

use serde_json::{json, Value};

use crate::error::ApiError;
use crate::usage::{FinishReason, Usage};

mod request;
mod response;
mod stream;

pub use request::parse_request;
pub use response::encode_response;
pub use stream::MessagesStream;

/// Most characters of an error message passed on.
const MAX_MESSAGE: usize = 512;

/// Anthropic's error body for `e`:
/// `{"type":"error","error":{"type","message"}}`, the type mapped from
/// `e.kind` and `e.status`.
pub fn error_body(e: &ApiError) -> Vec<u8> {
    let ty = error_type(e.kind, e.status, e.code.as_deref());
    error_value(ty, &e.message).to_string().into_bytes()
}

/// Anthropic's error object.
fn error_value(ty: &str, message: &str) -> Value {
    let message: String = message.chars().take(MAX_MESSAGE).collect();
    json!({"type": "error", "error": {"type": ty, "message": message}})
}

/// Anthropic's error `type` for an OpenAI error kind, HTTP status (0 when
/// unknown) and code (a provider's own type passes through as the code).
fn error_type(kind: &str, status: u16, code: Option<&str>) -> &'static str {
    if matches!(status, 503 | 529) || code == Some("overloaded_error") {
        return "overloaded_error";
    }
    match (kind, status) {
        (_, 413) => "request_too_large",
        ("invalid_request_error", _) | (_, 400) => "invalid_request_error",
        ("authentication_error", _) | (_, 401) => "authentication_error",
        ("permission_error", _) | (_, 403) => "permission_error",
        ("not_found_error", _) | (_, 404) => "not_found_error",
        ("rate_limit_error", _) | (_, 429) => "rate_limit_error",
        ("timeout_error", _) | (_, 504) => "timeout_error",
        _ => "api_error",
    }
}

/// Anthropic's `stop_reason` for an OpenAI `finish_reason` (unknown or
/// missing reasons are `end_turn`).
fn stop_reason(raw: Option<&str>) -> &'static str {
    match raw.map(|r| FinishReason::from_provider(crate::Kind::OpenAi, r)) {
        Some(FinishReason::Length) => "max_tokens",
        Some(FinishReason::ToolCalls) => "tool_use",
        Some(FinishReason::ContentFilter) => "refusal",
        Some(FinishReason::Stop) | None => "end_turn",
    }
}

/// A message id: `chatcmpl-` dropped, `msg_` put in front unless there.
fn message_id(id: &str) -> String {
    let rest = id.strip_prefix("chatcmpl-").unwrap_or(id);
    if rest.starts_with("msg_") {
        rest.to_owned()
    } else {
        format!("msg_{rest}")
    }
}

/// Anthropic's `usage`: its `input_tokens` leave out cache reads.
fn usage_value(u: &Usage) -> Value {
    json!({
        "input_tokens": u.input.saturating_sub(u.cached),
        "output_tokens": u.output,
        "cache_read_input_tokens": u.cached,
        "cache_creation_input_tokens": 0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_types_and_reasons() {
        assert_eq!(message_id("chatcmpl-msg_01"), "msg_01");
        assert_eq!(message_id("chatcmpl-abc"), "msg_abc");
        assert_eq!(message_id("gw-1"), "msg_gw-1");
        assert_eq!(error_type("upstream_error", 502, None), "api_error");
        assert_eq!(error_type("server_error", 503, None), "overloaded_error");
        assert_eq!(
            error_type("upstream_error", 502, Some("overloaded_error")),
            "overloaded_error"
        );
        assert_eq!(error_type("x", 413, None), "request_too_large");
        assert_eq!(stop_reason(Some("function_call")), "tool_use");
        assert_eq!(stop_reason(None), "end_turn");
    }
}
