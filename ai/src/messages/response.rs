//! A whole OpenAI `chat.completion` answer as an Anthropic message.

use serde_json::{json, Value};

use super::{message_id, stop_reason, usage_value};
use crate::error::ApiError;
use crate::usage::Usage;

/// An OpenAI `chat.completion` body (as [`crate::decode_response`] gives
/// it) as an Anthropic message reporting `model`, and its usage in
/// OpenAI's terms. Content is a `thinking` block (from
/// `reasoning_content`, with an empty signature), a `text` block, then one
/// `tool_use` block per tool call (arguments that are not a JSON object
/// read as `{}`). Only the first choice is read.
pub fn encode_response(openai: &[u8], model: &str) -> Result<(Vec<u8>, Usage), ApiError> {
    let v: Value = serde_json::from_slice(openai).map_err(|_| malformed())?;
    let choice = v["choices"]
        .as_array()
        .and_then(|c| c.first())
        .filter(|c| c.is_object())
        .ok_or_else(malformed)?;
    let msg = &choice["message"];
    let mut content = Vec::new();
    if let Some(t) = reasoning(msg) {
        content.push(json!({"type": "thinking", "thinking": t, "signature": ""}));
    }
    if let Some(t) = text(msg) {
        content.push(json!({"type": "text", "text": t}));
    }
    for call in msg["tool_calls"].as_array().map_or(&[][..], Vec::as_slice) {
        content.push(tool_use(call));
    }
    let usage = Usage::from_openai(&v["usage"]);
    let out = json!({
        "id": message_id(v["id"].as_str().unwrap_or("")),
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": stop_reason(choice["finish_reason"].as_str()),
        "stop_sequence": null,
        "usage": usage_value(&usage),
    });
    let bytes = serde_json::to_vec(&out).map_err(|_| malformed())?;
    Ok((bytes, usage))
}

fn malformed() -> ApiError {
    ApiError::new(502, "upstream_error", "malformed provider response")
}

/// `reasoning_content` (or `reasoning`, as some compatible servers name
/// it), when not empty.
fn reasoning(msg: &Value) -> Option<&str> {
    msg["reasoning_content"]
        .as_str()
        .or_else(|| msg["reasoning"].as_str())
        .filter(|t| !t.is_empty())
}

/// The answer's text: `content` (a string or text parts), else its
/// `refusal`; `None` when empty.
fn text(msg: &Value) -> Option<String> {
    let text = match &msg["content"] {
        Value::String(s) => s.clone(),
        Value::Array(parts) => parts
            .iter()
            .filter_map(|p| p["text"].as_str())
            .collect::<String>(),
        _ => String::new(),
    };
    if !text.is_empty() {
        return Some(text);
    }
    msg["refusal"]
        .as_str()
        .filter(|r| !r.is_empty())
        .map(str::to_owned)
}

/// A tool call as a `tool_use` block.
fn tool_use(call: &Value) -> Value {
    let f = &call["function"];
    let input = f["arguments"]
        .as_str()
        .and_then(|a| serde_json::from_str::<Value>(a).ok())
        .filter(Value::is_object)
        .unwrap_or_else(|| json!({}));
    json!({
        "type": "tool_use",
        "id": call["id"].as_str().unwrap_or(""),
        "name": f["name"].as_str().unwrap_or(""),
        "input": input,
    })
}
