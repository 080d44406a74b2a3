//! Checks of a client's request body: the fields every translation relies
//! on, each failure a 400 naming the field.
//!
//! Content parts other than `text` and `image_url` pass here (OpenAI
//! providers take `input_audio`, `file`...); the Anthropic and Gemini
//! translations refuse them.

use serde_json::{Map, Value};

use super::field;
use crate::error::ApiError;

const ROLES: [&str; 5] = ["system", "developer", "user", "assistant", "tool"];

/// `messages`: a non-empty array of well-formed messages.
pub(super) fn messages(body: &Map<String, Value>) -> Result<(), ApiError> {
    let msgs = body
        .get("messages")
        .and_then(Value::as_array)
        .filter(|m| !m.is_empty())
        .ok_or_else(|| ApiError::invalid("messages", "messages must be a non-empty array"))?;
    msgs.iter().enumerate().try_for_each(|(i, m)| message(i, m))
}

fn message(i: usize, m: &Value) -> Result<(), ApiError> {
    let obj = m.as_object().ok_or_else(|| {
        ApiError::invalid(format!("messages[{i}]"), "a message must be an object")
    })?;
    let role = obj
        .get("role")
        .and_then(Value::as_str)
        .filter(|r| ROLES.contains(r))
        .ok_or_else(|| {
            ApiError::invalid(
                format!("messages[{i}].role"),
                "role must be one of system, developer, user, assistant, tool",
            )
        })?;
    let mut has_calls = false;
    if role == "assistant" {
        if let Some(calls) = field(obj, "tool_calls") {
            tool_calls(i, calls)?;
            has_calls = calls.as_array().is_some_and(|c| !c.is_empty());
        }
    }
    content(i, field(obj, "content"), has_calls)?;
    if role == "tool" && !obj.get("tool_call_id").is_some_and(Value::is_string) {
        return Err(ApiError::invalid(
            format!("messages[{i}].tool_call_id"),
            "a tool message needs a tool_call_id string",
        ));
    }
    Ok(())
}

fn content(i: usize, c: Option<&Value>, may_be_null: bool) -> Result<(), ApiError> {
    match c {
        None if may_be_null => Ok(()),
        Some(Value::String(_)) => Ok(()),
        Some(Value::Array(parts)) => parts
            .iter()
            .enumerate()
            .try_for_each(|(j, p)| part(i, j, p)),
        _ => Err(ApiError::invalid(
            format!("messages[{i}].content"),
            "content must be a string or an array of content parts \
             (null only in an assistant message with tool_calls)",
        )),
    }
}

fn part(i: usize, j: usize, p: &Value) -> Result<(), ApiError> {
    let at = |f: &str| format!("messages[{i}].content[{j}]{f}");
    match p["type"].as_str() {
        Some("text") if !p["text"].is_string() => Err(ApiError::invalid(
            at(".text"),
            "a text part needs a text string",
        )),
        Some("image_url") if !(p["image_url"]["url"].is_string() || p["image_url"].is_string()) => {
            Err(ApiError::invalid(
                at(".image_url"),
                "an image_url part needs image_url.url",
            ))
        }
        Some(_) => Ok(()),
        None => Err(ApiError::invalid(
            at(".type"),
            "a content part needs a type",
        )),
    }
}

fn tool_calls(i: usize, calls: &Value) -> Result<(), ApiError> {
    let list = calls.as_array().ok_or_else(|| {
        ApiError::invalid(
            format!("messages[{i}].tool_calls"),
            "tool_calls must be an array",
        )
    })?;
    for (j, c) in list.iter().enumerate() {
        let at = |f: &str| format!("messages[{i}].tool_calls[{j}]{f}");
        let checks = [
            (c["id"].is_string(), ".id", "a tool call needs an id string"),
            (
                c["function"]["name"].is_string(),
                ".function.name",
                "a tool call needs function.name",
            ),
            (
                c["function"]["arguments"].is_string(),
                ".function.arguments",
                "function.arguments must be a string holding JSON",
            ),
        ];
        if let Some((_, f, msg)) = checks.iter().find(|(ok, _, _)| !ok) {
            return Err(ApiError::invalid(at(f), *msg));
        }
    }
    Ok(())
}

/// A boolean field; absent or `null` is `false`.
pub(super) fn flag(body: &Map<String, Value>, key: &str) -> Result<bool, ApiError> {
    match field(body, key) {
        None => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(_) => Err(ApiError::invalid(key, format!("{key} must be a boolean"))),
    }
}

/// `stream_options.include_usage`.
pub(super) fn include_usage(body: &Map<String, Value>) -> Result<bool, ApiError> {
    match field(body, "stream_options") {
        None => Ok(false),
        Some(Value::Object(o)) => match field(o, "include_usage") {
            None => Ok(false),
            Some(Value::Bool(b)) => Ok(*b),
            Some(_) => Err(ApiError::invalid(
                "stream_options.include_usage",
                "stream_options.include_usage must be a boolean",
            )),
        },
        Some(_) => Err(ApiError::invalid(
            "stream_options",
            "stream_options must be an object",
        )),
    }
}

/// `max_completion_tokens`, else `max_tokens`: non-negative integers.
/// The largest `max_tokens` taken: far above any model's output, and
/// small enough that budgets' sums never overflow.
const MAX_TOKENS: u64 = 100_000_000;

pub(super) fn max_tokens(body: &Map<String, Value>) -> Result<Option<u64>, ApiError> {
    let read = |key: &str| match field(body, key) {
        None => Ok(None),
        Some(v) => v
            .as_u64()
            .map(Some)
            .ok_or_else(|| ApiError::invalid(key, format!("{key} must be a non-negative integer"))),
    };
    let completion = read("max_completion_tokens")?;
    let legacy = read("max_tokens")?;
    match completion.or(legacy) {
        Some(n) if n > MAX_TOKENS => {
            let key = if completion.is_some() {
                "max_completion_tokens"
            } else {
                "max_tokens"
            };
            Err(ApiError::invalid(
                key,
                format!("{key} may be at most {MAX_TOKENS}"),
            ))
        }
        n => Ok(n),
    }
}
