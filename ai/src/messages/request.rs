//! An Anthropic Messages request as the equivalent OpenAI Chat
//! Completions request.
//!
//! Mapped: `model`, `max_tokens` (required, as Anthropic requires it),
//! `system` (a string, or text blocks joined by a blank line, as one
//! system message), user and assistant turns, `text` and `image` blocks
//! (base64 sources become data URIs, url sources stay URLs), assistant
//! `tool_use` blocks (as `tool_calls`, `input` as a JSON string), user
//! `tool_result` blocks (as `tool` messages placed before the rest of
//! their turn; an error result's text starts with `Error: `), `tools`,
//! `tool_choice` (`disable_parallel_tool_use` as `parallel_tool_calls`
//! false), `stop_sequences`, `temperature`, `top_p`, `stream` (with
//! `stream_options.include_usage`, so usage is known) and
//! `metadata.user_id` (as `user`).
//!
//! Dropped: assistant `thinking` and `redacted_thinking` blocks (an
//! assistant turn left empty is left out), `cache_control`, `top_k`, the
//! `thinking` setting, `service_tier`, `container`, `mcp_servers`,
//! citations and other `metadata`. Refused with a 400: any other block
//! type (documents, server tool blocks...), images in tool results,
//! server tools (a `tools` entry with a `type` other than `custom`).
//! Errors name Anthropic's fields (`messages.2.content.0.source`).

use serde_json::{json, Map, Value};

use crate::chat::ChatRequest;
use crate::error::ApiError;

/// How the texts of several blocks are joined into one string.
const JOIN: &str = "\n\n";

/// The OpenAI request for an Anthropic Messages request body.
pub fn parse_request(body: &[u8]) -> Result<ChatRequest, ApiError> {
    let v: Value = serde_json::from_slice(body).map_err(|e| {
        ApiError::new(
            400,
            "invalid_request_error",
            format!("the request body is not valid JSON: {e}"),
        )
    })?;
    let Value::Object(b) = v else {
        return Err(ApiError::new(
            400,
            "invalid_request_error",
            "the request body must be a JSON object",
        ));
    };
    let mut out = Map::new();
    let model = field(&b, "model")
        .and_then(Value::as_str)
        .filter(|m| !m.is_empty())
        .ok_or_else(|| ApiError::invalid("model", "model: a non-empty string is required"))?;
    out.insert("model".into(), json!(model));
    out.insert("messages".into(), Value::Array(messages(&b)?));
    let max = field(&b, "max_tokens")
        .ok_or_else(|| ApiError::invalid("max_tokens", "max_tokens: Field required"))?;
    let max = max.as_u64().ok_or_else(|| {
        ApiError::invalid("max_tokens", "max_tokens must be a non-negative integer")
    })?;
    out.insert("max_tokens".into(), json!(max));
    tools(&b, &mut out)?;
    sampling(&b, &mut out)?;
    ChatRequest::from_value(Value::Object(out))
}

/// A field that is present and not `null`.
fn field<'a>(m: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    m.get(key).filter(|v| !v.is_null())
}

/// A string member of a block, or a 400 naming `{at}.{key}`.
fn string<'a>(v: &'a Value, at: &str, key: &str) -> Result<&'a str, ApiError> {
    v[key]
        .as_str()
        .ok_or_else(|| ApiError::invalid(format!("{at}.{key}"), format!("{key} must be a string")))
}

/// The system message (when there is system text) and the turns.
fn messages(b: &Map<String, Value>) -> Result<Vec<Value>, ApiError> {
    let turns = field(b, "messages")
        .and_then(Value::as_array)
        .filter(|m| !m.is_empty())
        .ok_or_else(|| ApiError::invalid("messages", "messages must be a non-empty array"))?;
    let mut out = Vec::with_capacity(turns.len() + 1);
    if let Some(system) = system(b)? {
        out.push(json!({"role": "system", "content": system}));
    }
    for (i, m) in turns.iter().enumerate() {
        let at = format!("messages.{i}");
        let content = match m.get("content") {
            Some(c @ (Value::String(_) | Value::Array(_))) => c,
            _ => {
                return Err(ApiError::invalid(
                    format!("{at}.content"),
                    "content must be a string or an array of content blocks",
                ))
            }
        };
        match m["role"].as_str() {
            Some("user") => user_turn(&at, content, &mut out)?,
            Some("assistant") => assistant_turn(&at, content, &mut out)?,
            _ => {
                return Err(ApiError::invalid(
                    format!("{at}.role"),
                    "role must be user or assistant",
                ))
            }
        }
    }
    Ok(out)
}

/// `system`: a string or text blocks, joined; `None` when empty.
fn system(b: &Map<String, Value>) -> Result<Option<String>, ApiError> {
    let text = match field(b, "system") {
        None => return Ok(None),
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(blocks)) => {
            let mut pieces = Vec::with_capacity(blocks.len());
            for (k, block) in blocks.iter().enumerate() {
                pieces.push(text_block(block, &format!("system.{k}"))?);
            }
            pieces.join(JOIN)
        }
        Some(_) => {
            return Err(ApiError::invalid(
                "system",
                "system must be a string or an array of text blocks",
            ))
        }
    };
    Ok((!text.is_empty()).then_some(text))
}

/// A `text` block's text; any other block is a 400 naming `at`.
fn text_block<'a>(block: &'a Value, at: &str) -> Result<&'a str, ApiError> {
    if block["type"].as_str() != Some("text") {
        return Err(ApiError::invalid(
            format!("{at}.type"),
            "only text blocks are allowed here",
        ));
    }
    string(block, at, "text")
}

/// A user turn: its tool results as `tool` messages, then the rest as
/// one user message.
fn user_turn(at: &str, content: &Value, out: &mut Vec<Value>) -> Result<(), ApiError> {
    let Value::Array(blocks) = content else {
        out.push(json!({"role": "user", "content": content}));
        return Ok(());
    };
    if blocks.is_empty() {
        return Err(ApiError::invalid(
            format!("{at}.content"),
            "a user turn needs at least one content block",
        ));
    }
    let mut parts = Vec::with_capacity(blocks.len());
    for (j, block) in blocks.iter().enumerate() {
        let at = format!("{at}.content.{j}");
        match block["type"].as_str() {
            Some("text") => {
                parts.push(json!({"type": "text", "text": string(block, &at, "text")?}))
            }
            Some("image") => parts.push(image(block, &at)?),
            Some("tool_result") => out.push(tool_result(block, &at)?),
            _ => return Err(unsupported(&at, "a user turn")),
        }
    }
    if !parts.is_empty() {
        out.push(json!({"role": "user", "content": parts}));
    }
    Ok(())
}

/// The 400 for a block type not supported in `place`.
fn unsupported(at: &str, place: &str) -> ApiError {
    ApiError::invalid(
        format!("{at}.type"),
        format!("this content block type is not supported in {place}"),
    )
}

/// An `image` block as an `image_url` part.
fn image(block: &Value, at: &str) -> Result<Value, ApiError> {
    let source = &block["source"];
    let at = format!("{at}.source");
    let url = match source["type"].as_str() {
        Some("base64") => {
            let mime = string(source, &at, "media_type")?;
            let data = string(source, &at, "data")?;
            format!("data:{mime};base64,{data}")
        }
        Some("url") => string(source, &at, "url")?.to_owned(),
        _ => {
            return Err(ApiError::invalid(
                at,
                "an image source must be of type base64 or url",
            ))
        }
    };
    Ok(json!({"type": "image_url", "image_url": {"url": url}}))
}

/// A `tool_result` block as a `tool` message.
fn tool_result(block: &Value, at: &str) -> Result<Value, ApiError> {
    let id = string(block, at, "tool_use_id")?;
    let text = match block.get("content") {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(blocks)) => {
            let mut pieces = Vec::with_capacity(blocks.len());
            for (k, b) in blocks.iter().enumerate() {
                pieces.push(text_block(b, &format!("{at}.content.{k}"))?);
            }
            pieces.join(JOIN)
        }
        Some(_) => {
            return Err(ApiError::invalid(
                format!("{at}.content"),
                "a tool result's content must be a string or text blocks",
            ))
        }
    };
    let text = match block["is_error"].as_bool() {
        Some(true) => format!("Error: {text}"),
        _ => text,
    };
    Ok(json!({"role": "tool", "tool_call_id": id, "content": text}))
}

/// An assistant turn: its text joined, its `tool_use` blocks as tool
/// calls; thinking dropped; left out when nothing remains.
fn assistant_turn(at: &str, content: &Value, out: &mut Vec<Value>) -> Result<(), ApiError> {
    let Value::Array(blocks) = content else {
        if content.as_str().is_some_and(|s| !s.is_empty()) {
            out.push(json!({"role": "assistant", "content": content}));
        }
        return Ok(());
    };
    let (mut text, mut calls) = (String::new(), Vec::new());
    for (j, block) in blocks.iter().enumerate() {
        let at = format!("{at}.content.{j}");
        match block["type"].as_str() {
            Some("text") => text.push_str(string(block, &at, "text")?),
            Some("tool_use") => calls.push(tool_use(block, &at)?),
            Some("thinking" | "redacted_thinking") => {}
            _ => return Err(unsupported(&at, "an assistant turn")),
        }
    }
    let mut msg = Map::new();
    msg.insert("role".into(), json!("assistant"));
    match (text.is_empty(), calls.is_empty()) {
        (true, true) => return Ok(()),
        (true, false) => msg.insert("content".into(), Value::Null),
        (false, _) => msg.insert("content".into(), Value::String(text)),
    };
    if !calls.is_empty() {
        msg.insert("tool_calls".into(), Value::Array(calls));
    }
    out.push(Value::Object(msg));
    Ok(())
}

/// A `tool_use` block as an OpenAI tool call.
fn tool_use(block: &Value, at: &str) -> Result<Value, ApiError> {
    let id = string(block, at, "id")?;
    let name = string(block, at, "name")?;
    let input = match block.get("input") {
        None | Some(Value::Null) => "{}".to_owned(),
        Some(i @ Value::Object(_)) => i.to_string(),
        Some(_) => {
            return Err(ApiError::invalid(
                format!("{at}.input"),
                "input must be an object",
            ))
        }
    };
    Ok(json!({"id": id, "type": "function", "function": {"name": name, "arguments": input}}))
}

/// `tools` and `tool_choice` (both left out when there are no tools, as
/// OpenAI refuses a `tool_choice` without them).
fn tools(b: &Map<String, Value>, out: &mut Map<String, Value>) -> Result<(), ApiError> {
    let list = match field(b, "tools") {
        None => &[][..],
        Some(Value::Array(list)) => list.as_slice(),
        Some(_) => return Err(ApiError::invalid("tools", "tools must be an array")),
    };
    let mut defs = Vec::with_capacity(list.len());
    for (k, t) in list.iter().enumerate() {
        defs.push(tool_def(t, &format!("tools.{k}"))?);
    }
    let choice = tool_choice(b)?;
    if defs.is_empty() {
        return Ok(());
    }
    out.insert("tools".into(), Value::Array(defs));
    if let Some((choice, parallel)) = choice {
        out.insert("tool_choice".into(), choice);
        if !parallel {
            out.insert("parallel_tool_calls".into(), Value::Bool(false));
        }
    }
    Ok(())
}

/// One client tool as an OpenAI function tool.
fn tool_def(t: &Value, at: &str) -> Result<Value, ApiError> {
    if !matches!(t.get("type"), None | Some(Value::Null)) && t["type"].as_str() != Some("custom") {
        return Err(ApiError::invalid(
            format!("{at}.type"),
            "only client tools (name, description, input_schema) are supported",
        ));
    }
    let name = string(t, at, "name").and_then(|n| {
        (!n.is_empty())
            .then_some(n)
            .ok_or_else(|| ApiError::invalid(format!("{at}.name"), "a tool needs a name"))
    })?;
    let schema = match t.get("input_schema") {
        Some(s @ Value::Object(_)) => s,
        _ => {
            return Err(ApiError::invalid(
                format!("{at}.input_schema"),
                "input_schema must be an object",
            ))
        }
    };
    let mut function = Map::new();
    function.insert("name".into(), json!(name));
    match t.get("description") {
        None | Some(Value::Null) => {}
        Some(d @ Value::String(_)) => {
            function.insert("description".into(), d.clone());
        }
        Some(_) => {
            return Err(ApiError::invalid(
                format!("{at}.description"),
                "description must be a string",
            ))
        }
    }
    function.insert("parameters".into(), schema.clone());
    Ok(json!({"type": "function", "function": function}))
}

/// `tool_choice` as OpenAI's, and whether parallel calls stay allowed.
fn tool_choice(b: &Map<String, Value>) -> Result<Option<(Value, bool)>, ApiError> {
    let Some(c) = field(b, "tool_choice") else {
        return Ok(None);
    };
    let choice = match c["type"].as_str() {
        Some("auto") => json!("auto"),
        Some("any") => json!("required"),
        Some("none") => json!("none"),
        Some("tool") => {
            let name = string(c, "tool_choice", "name")?;
            json!({"type": "function", "function": {"name": name}})
        }
        _ => {
            return Err(ApiError::invalid(
                "tool_choice.type",
                "tool_choice.type must be auto, any, tool or none",
            ))
        }
    };
    let parallel = match c.get("disable_parallel_tool_use") {
        None | Some(Value::Null) => true,
        Some(Value::Bool(d)) => !d,
        Some(_) => {
            return Err(ApiError::invalid(
                "tool_choice.disable_parallel_tool_use",
                "disable_parallel_tool_use must be a boolean",
            ))
        }
    };
    Ok(Some((choice, parallel)))
}

/// `temperature`, `top_p`, `stop_sequences`, `stream` and
/// `metadata.user_id`.
fn sampling(b: &Map<String, Value>, out: &mut Map<String, Value>) -> Result<(), ApiError> {
    for key in ["temperature", "top_p"] {
        match field(b, key) {
            None => {}
            Some(v @ Value::Number(_)) => {
                out.insert(key.into(), v.clone());
            }
            Some(_) => return Err(ApiError::invalid(key, format!("{key} must be a number"))),
        }
    }
    match field(b, "stop_sequences") {
        None => {}
        Some(Value::Array(a)) if a.is_empty() => {}
        Some(Value::Array(a)) if a.iter().all(Value::is_string) => {
            out.insert("stop".into(), Value::Array(a.clone()));
        }
        Some(_) => {
            return Err(ApiError::invalid(
                "stop_sequences",
                "stop_sequences must be an array of strings",
            ))
        }
    }
    match field(b, "stream") {
        None | Some(Value::Bool(false)) => {}
        Some(Value::Bool(true)) => {
            out.insert("stream".into(), Value::Bool(true));
            out.insert("stream_options".into(), json!({"include_usage": true}));
        }
        Some(_) => return Err(ApiError::invalid("stream", "stream must be a boolean")),
    }
    user(b, out)
}

/// `metadata.user_id` as `user`.
fn user(b: &Map<String, Value>, out: &mut Map<String, Value>) -> Result<(), ApiError> {
    let meta = match field(b, "metadata") {
        None => return Ok(()),
        Some(Value::Object(m)) => m,
        Some(_) => return Err(ApiError::invalid("metadata", "metadata must be an object")),
    };
    match field(meta, "user_id") {
        None => Ok(()),
        Some(u @ Value::String(_)) => {
            out.insert("user".into(), u.clone());
            Ok(())
        }
        Some(_) => Err(ApiError::invalid(
            "metadata.user_id",
            "metadata.user_id must be a string",
        )),
    }
}
