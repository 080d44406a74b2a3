//! An OpenAI Chat Completions request as an Anthropic Messages request.
//!
//! Mapped: system and developer messages (joined into `system`), user,
//! assistant and tool turns (merged so roles alternate), text and image
//! parts, tool calls and results, `tools`, `tool_choice`,
//! `parallel_tool_calls`, `max_completion_tokens`/`max_tokens` (the
//! provider's default when absent), `temperature`, `top_p`, `stop`,
//! `stream` and `user` (as `metadata.user_id`). `n` above 1 is refused.
//!
//! Dropped, having no Anthropic equivalent: `reasoning_effort`,
//! `frequency_penalty`, `presence_penalty`, `logit_bias`, `logprobs`,
//! `top_logprobs`, `seed`, `response_format`, `stream_options`,
//! `service_tier`, `store`, `metadata`, `modalities`, `audio`,
//! `prediction`, `web_search_options`, message `name`s and assistant
//! `reasoning_content`.

use serde_json::{json, Map, Value};

use super::{
    choice_count, field, image_of, number, outbound, stop_list, system_text, text_pieces,
    tool_calls, tool_choice, tool_defs, ChatRequest, Choice, EncodeOpts, Image, Outbound, ToolDef,
    Turns,
};
use crate::error::ApiError;
use crate::provider::ANTHROPIC_VERSION;

/// The Messages request for `req`.
pub(super) fn encode(
    req: &ChatRequest,
    model: &str,
    opts: &EncodeOpts,
) -> Result<Outbound, ApiError> {
    let b = &req.body;
    if choice_count(b)?.is_some_and(|n| n > 1) {
        return Err(ApiError::invalid(
            "n",
            "Anthropic models answer one choice: n must be 1",
        ));
    }
    let mut out = Map::new();
    out.insert("model".into(), json!(model));
    out.insert(
        "max_tokens".into(),
        json!(req.max_tokens.unwrap_or(opts.default_max_tokens)),
    );
    let msgs = req.messages();
    if let Some(system) = system_text(msgs)? {
        out.insert("system".into(), Value::String(system));
    }
    out.insert("messages".into(), messages(msgs)?);
    tools(b, &mut out)?;
    sampling(b, &mut out)?;
    if req.stream {
        out.insert("stream".into(), Value::Bool(true));
    }
    let path = format!("{}/messages", opts.base_path);
    let version = ("anthropic-version", ANTHROPIC_VERSION.to_owned());
    outbound(path, vec![version], out, req.stream)
}

/// `temperature`, `top_p`, `stop` (as `stop_sequences`) and `user` (as
/// `metadata.user_id`).
fn sampling(b: &Map<String, Value>, out: &mut Map<String, Value>) -> Result<(), ApiError> {
    for key in ["temperature", "top_p"] {
        if let Some(v) = number(b, key)? {
            out.insert(key.into(), v);
        }
    }
    if let Some(stop) = stop_list(b)? {
        out.insert("stop_sequences".into(), Value::Array(stop));
    }
    if let Some(user) = field(b, "user") {
        let user = user
            .as_str()
            .ok_or_else(|| ApiError::invalid("user", "user must be a string"))?;
        out.insert("metadata".into(), json!({"user_id": user}));
    }
    Ok(())
}

/// The conversation without its system messages, as alternating turns.
fn messages(msgs: &[Value]) -> Result<Value, ApiError> {
    let mut turns = Turns::default();
    for (i, m) in msgs.iter().enumerate() {
        match m["role"].as_str() {
            Some("user") => turns.push("user", blocks(i, m.get("content"))?),
            Some("assistant") => turns.push("assistant", assistant(i, m)?),
            Some("tool") => turns.push("user", vec![tool_result(i, m)?]),
            _ => {}
        }
    }
    Ok(turns.finish("content", collapse))
}

/// A turn's content: a lone plain text block becomes a string.
fn collapse(blocks: Vec<Value>) -> Value {
    if let [only] = blocks.as_slice() {
        let plain = only.as_object().is_some_and(|o| o.len() == 2);
        if let (true, Some("text"), Some(text)) =
            (plain, only["type"].as_str(), only["text"].as_str())
        {
            return Value::String(text.to_owned());
        }
    }
    Value::Array(blocks)
}

fn text_block(text: &str) -> Value {
    json!({"type": "text", "text": text})
}

/// A user message's content (also a tool result's) as blocks.
fn blocks(i: usize, content: Option<&Value>) -> Result<Vec<Value>, ApiError> {
    match content {
        Some(Value::String(s)) => Ok(vec![text_block(s)]),
        Some(Value::Array(parts)) => parts
            .iter()
            .enumerate()
            .map(|(j, p)| part(i, j, p))
            .collect(),
        _ => Ok(Vec::new()),
    }
}

/// One content part; a `cache_control` on it is kept.
fn part(i: usize, j: usize, p: &Value) -> Result<Value, ApiError> {
    let mut block = match p["type"].as_str() {
        Some("text") => text_block(p["text"].as_str().unwrap_or("")),
        Some("image_url") => image(image_of(i, j, p)?),
        _ => {
            return Err(ApiError::invalid(
                format!("messages[{i}].content[{j}].type"),
                "Anthropic takes text and image_url content parts only",
            ))
        }
    };
    if let (Some(cc), Value::Object(o)) = (p.get("cache_control"), &mut block) {
        o.insert("cache_control".into(), cc.clone());
    }
    Ok(block)
}

/// An image block.
fn image(img: Image<'_>) -> Value {
    match img {
        Image::Inline { mime, data } => json!({"type": "image", "source": {
            "type": "base64", "media_type": mime, "data": data,
        }}),
        Image::Remote(url) => json!({"type": "image", "source": {"type": "url", "url": url}}),
    }
}

/// An assistant message: its text, then its tool calls as `tool_use`.
fn assistant(i: usize, m: &Value) -> Result<Vec<Value>, ApiError> {
    let mut out: Vec<Value> = text_pieces(i, m.get("content"))?
        .iter()
        .filter(|t| !t.is_empty())
        .map(|t| text_block(t))
        .collect();
    for call in tool_calls(i, m)? {
        out.push(json!({
            "type": "tool_use", "id": tool_id(call.id), "name": call.name, "input": call.args,
        }));
    }
    Ok(out)
}

/// A tool call id as Anthropic takes it (`[A-Za-z0-9_-]+`): other
/// characters, such as those of a Gemini id carrying a signature after a
/// fallback, become `_` (the same way in `tool_use` and `tool_result`).
fn tool_id(id: &str) -> String {
    id.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// A tool message as a `tool_result` block.
fn tool_result(i: usize, m: &Value) -> Result<Value, ApiError> {
    let id = tool_id(m["tool_call_id"].as_str().unwrap_or(""));
    let content = match m.get("content") {
        Some(Value::String(s)) => Value::String(s.clone()),
        other => Value::Array(blocks(i, other)?),
    };
    Ok(json!({"type": "tool_result", "tool_use_id": id, "content": content}))
}

/// `tools` and `tool_choice` (with `parallel_tool_calls: false` as
/// `disable_parallel_tool_use`).
fn tools(b: &Map<String, Value>, out: &mut Map<String, Value>) -> Result<(), ApiError> {
    let defs = tool_defs(b)?;
    if let Some(defs) = &defs {
        out.insert("tools".into(), defs.iter().map(tool).collect());
    }
    let serial = matches!(field(b, "parallel_tool_calls"), Some(Value::Bool(false)));
    let choice = match tool_choice(b)? {
        Some(c) => Some(c),
        None if serial && defs.is_some() => Some(Choice::Auto),
        None => None,
    };
    if let Some(c) = choice {
        let mut tc = match c {
            Choice::Auto => json!({"type": "auto"}),
            Choice::Required => json!({"type": "any"}),
            Choice::None => json!({"type": "none"}),
            Choice::Named(name) => json!({"type": "tool", "name": name}),
        };
        if let (true, false, Value::Object(o)) = (serial, c == Choice::None, &mut tc) {
            o.insert("disable_parallel_tool_use".into(), Value::Bool(true));
        }
        out.insert("tool_choice".into(), tc);
    }
    Ok(())
}

/// One tool definition; a tool without parameters takes an empty object.
fn tool(d: &ToolDef<'_>) -> Value {
    let mut t = Map::new();
    t.insert("name".into(), json!(d.name));
    if let Some(desc) = d.description {
        t.insert("description".into(), desc.clone());
    }
    let schema = d
        .parameters
        .cloned()
        .unwrap_or_else(|| json!({"type": "object"}));
    t.insert("input_schema".into(), schema);
    Value::Object(t)
}
