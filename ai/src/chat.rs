//! OpenAI Chat Completions requests, and each provider's request built
//! from one.
//!
//! `parse` checks the shape the translations rely on (model, messages,
//! roles, content, tool calls, token limits) and keeps the whole body, so
//! OpenAI-format providers get every field the client sent. Anthropic and
//! Gemini requests are built field by field in the `anthropic` and
//! `gemini` submodules; the fields they leave out are listed there.

use serde_json::{Map, Value};

use crate::error::ApiError;
use crate::provider::Kind;

mod anthropic;
mod check;
mod gemini;

/// A parsed OpenAI Chat Completions request body.
#[derive(Debug, Clone, PartialEq)]
pub struct ChatRequest {
    /// `model` as the client sent it: an alias or `provider/model`.
    pub model: String,
    /// `stream`.
    pub stream: bool,
    /// Whether the client asked for `stream_options.include_usage`.
    pub include_usage: bool,
    /// `max_completion_tokens`, else `max_tokens`.
    pub max_tokens: Option<u64>,
    /// The whole body, every field kept.
    pub body: Map<String, Value>,
}

/// Settings of one provider that shape its requests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodeOpts {
    /// The path prefix the provider's API sits under (`/v1`, `/v1beta`,
    /// `/openai`...), without a trailing `/`.
    pub base_path: String,
    /// Azure's `api-version` query value.
    pub azure_api_version: String,
    /// `max_tokens` sent to Anthropic when the client set none (it is
    /// required there).
    pub default_max_tokens: u64,
}

/// A provider request, without its credential or `Host`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outbound {
    /// Origin-form target: path and query.
    pub path: String,
    /// Extra headers (`content-type`, `anthropic-version`, `accept`).
    pub headers: Vec<(&'static str, String)>,
    /// The JSON body.
    pub body: Vec<u8>,
}

impl ChatRequest {
    /// Parses a body; a 400 names the field at fault.
    pub fn parse(body: &[u8]) -> Result<ChatRequest, ApiError> {
        let v: Value = serde_json::from_slice(body).map_err(|e| {
            ApiError::new(
                400,
                "invalid_request_error",
                format!("the request body is not valid JSON: {e}"),
            )
        })?;
        ChatRequest::from_value(v)
    }

    /// From an already parsed body (prompt templates build one).
    pub fn from_value(v: Value) -> Result<ChatRequest, ApiError> {
        let Value::Object(body) = v else {
            return Err(ApiError::new(
                400,
                "invalid_request_error",
                "the request body must be a JSON object",
            ));
        };
        let model = match body.get("model").and_then(Value::as_str) {
            Some(m) if is_model_name(m) => m.to_owned(),
            _ => {
                return Err(ApiError::invalid(
                    "model",
                    format!("model must be 1 to {MAX_MODEL} visible characters, no spaces"),
                ))
            }
        };
        check::messages(&body)?;
        let stream = check::flag(&body, "stream")?;
        let include_usage = check::include_usage(&body)?;
        let max_tokens = check::max_tokens(&body)?;
        Ok(ChatRequest {
            model,
            stream,
            include_usage,
            max_tokens,
            body,
        })
    }

    /// The request for `kind`, asking for `model`.
    pub fn encode(&self, kind: Kind, model: &str, opts: &EncodeOpts) -> Result<Outbound, ApiError> {
        let base = &opts.base_path;
        match kind {
            Kind::OpenAi | Kind::Compatible => {
                let path = format!("{base}/chat/completions");
                outbound(path, Vec::new(), self.openai_body(model), self.stream)
            }
            Kind::Azure => {
                let path = format!(
                    "{base}/deployments/{}/chat/completions?api-version={}",
                    path_segment(model),
                    query_value(&opts.azure_api_version)
                );
                outbound(path, Vec::new(), self.openai_body(model), self.stream)
            }
            Kind::Anthropic => anthropic::encode(self, model, opts),
            Kind::Gemini => gemini::encode(self, model, opts),
        }
    }

    /// The client's body for an OpenAI-format provider: `model` replaced
    /// and, in a stream, usage asked for (the engine drops the usage chunk
    /// when the client did not ask for it).
    fn openai_body(&self, model: &str) -> Map<String, Value> {
        let mut body = self.body.clone();
        body.insert("model".into(), Value::String(model.to_owned()));
        if self.stream {
            let opts = body
                .entry("stream_options")
                .or_insert_with(|| Value::Object(Map::new()));
            if !opts.is_object() {
                *opts = Value::Object(Map::new());
            }
            if let Value::Object(o) = opts {
                o.insert("include_usage".into(), Value::Bool(true));
            }
        }
        body
    }

    /// The messages (empty when the body was built without any).
    fn messages(&self) -> &[Value] {
        self.body
            .get("messages")
            .and_then(Value::as_array)
            .map_or(&[], Vec::as_slice)
    }
}

/// The request with `content-type` (and `accept` for a stream) first.
fn outbound(
    path: String,
    extra: Vec<(&'static str, String)>,
    body: Map<String, Value>,
    stream: bool,
) -> Result<Outbound, ApiError> {
    let mut headers = vec![("content-type", "application/json".to_owned())];
    if stream {
        headers.push(("accept", "text/event-stream".to_owned()));
    }
    headers.extend(extra);
    let body = serde_json::to_vec(&Value::Object(body))
        .map_err(|_| ApiError::new(500, "server_error", "could not encode the provider request"))?;
    Ok(Outbound {
        path,
        headers,
        body,
    })
}

/// Longest model name taken.
pub const MAX_MODEL: usize = 256;

/// Whether `m` can be a model name: 1 to [`MAX_MODEL`] bytes of visible
/// ASCII or UTF-8 text, with no whitespace or control characters (a name
/// goes into paths, headers and log lines).
pub fn is_model_name(m: &str) -> bool {
    !m.is_empty()
        && m.len() <= MAX_MODEL
        && m.chars().all(|c| !c.is_whitespace() && !c.is_control())
}

/// `s` escaped for one path segment (public for other requests the
/// engine builds, such as embeddings): only unreserved characters stay, and
/// `.` or `..` alone is escaped so it cannot climb the path.
pub fn path_segment(s: &str) -> String {
    let dots = s.bytes().all(|b| b == b'.');
    escape(s, |b| {
        b.is_ascii_alphanumeric() || b"-_~".contains(&b) || (b == b'.' && !dots)
    })
}

/// `s` escaped for a query value.
pub fn query_value(s: &str) -> String {
    escape(s, |b| b.is_ascii_alphanumeric() || b"-_.~".contains(&b))
}

fn escape(s: &str, keep: impl Fn(u8) -> bool) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if keep(b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A field that is present and not `null`.
fn field<'a>(m: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    m.get(key).filter(|v| !v.is_null())
}

/// An optional number field, as given.
fn number(m: &Map<String, Value>, key: &str) -> Result<Option<Value>, ApiError> {
    match field(m, key) {
        None => Ok(None),
        Some(v) if v.is_number() => Ok(Some(v.clone())),
        Some(_) => Err(ApiError::invalid(key, format!("{key} must be a number"))),
    }
}

/// `stop` as a list of strings: a string or an array of strings.
fn stop_list(m: &Map<String, Value>) -> Result<Option<Vec<Value>>, ApiError> {
    match field(m, "stop") {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(vec![Value::String(s.clone())])),
        Some(Value::Array(a)) if a.iter().all(Value::is_string) => Ok(Some(a.clone())),
        Some(_) => Err(ApiError::invalid(
            "stop",
            "stop must be a string or an array of strings",
        )),
    }
}

/// `n`, checked to be a positive integer.
fn choice_count(m: &Map<String, Value>) -> Result<Option<u64>, ApiError> {
    match field(m, "n") {
        None => Ok(None),
        Some(v) => match v.as_u64() {
            Some(n) if n >= 1 => Ok(Some(n)),
            _ => Err(ApiError::invalid("n", "n must be a positive integer")),
        },
    }
}

/// The text of a message's content: a string, or its text parts in
/// order. Any other part is refused, naming it.
fn text_pieces(i: usize, content: Option<&Value>) -> Result<Vec<String>, ApiError> {
    match content {
        Some(Value::String(s)) => Ok(vec![s.clone()]),
        Some(Value::Array(parts)) => parts
            .iter()
            .enumerate()
            .map(|(j, p)| match (p["type"].as_str(), p["text"].as_str()) {
                (Some("text"), Some(t)) => Ok(t.to_owned()),
                _ => Err(ApiError::invalid(
                    format!("messages[{i}].content[{j}]"),
                    "only text content parts are allowed here",
                )),
            })
            .collect(),
        _ => Ok(Vec::new()),
    }
}

/// The system and developer messages' text, joined by a blank line, or
/// `None` when there are none.
fn system_text(messages: &[Value]) -> Result<Option<String>, ApiError> {
    let mut pieces = Vec::new();
    for (i, m) in messages.iter().enumerate() {
        if matches!(m["role"].as_str(), Some("system" | "developer")) {
            pieces.extend(text_pieces(i, m.get("content"))?);
        }
    }
    Ok((!pieces.is_empty()).then(|| pieces.join("\n\n")))
}

/// An `image_url` part's image.
#[derive(Debug, PartialEq)]
enum Image<'a> {
    /// A `data:<mime>;base64,<data>` URI.
    Inline { mime: &'a str, data: &'a str },
    /// An `http(s)` URL.
    Remote(&'a str),
}

/// The image of part `j` of message `i`: a base64 data URI or an http(s)
/// URL; anything else is a 400.
fn image_of(i: usize, j: usize, part: &Value) -> Result<Image<'_>, ApiError> {
    let param = || format!("messages[{i}].content[{j}].image_url");
    let url = part["image_url"]["url"]
        .as_str()
        .or_else(|| part["image_url"].as_str())
        .ok_or_else(|| ApiError::invalid(param(), "image_url.url must be a string"))?;
    let lower = url.get(..8).unwrap_or(url).to_ascii_lowercase();
    if lower.starts_with("http://") || lower.starts_with("https://") {
        return Ok(Image::Remote(url));
    }
    if lower.starts_with("data:") {
        if let Some(img) = data_uri(url.get(5..).unwrap_or("")) {
            return Ok(img);
        }
        return Err(ApiError::invalid(
            param(),
            "an image data URI must read data:<mime>;base64,<data>",
        ));
    }
    Err(ApiError::invalid(
        param(),
        "an image URL must be http(s) or a base64 data URI",
    ))
}

/// `<mime>;base64,<data>` (the part after `data:`).
fn data_uri(rest: &str) -> Option<Image<'_>> {
    let (header, data) = rest.split_once(',')?;
    let (mime, params) = header.split_once(';')?;
    let base64 = params
        .rsplit(';')
        .next()
        .is_some_and(|p| p.eq_ignore_ascii_case("base64"));
    (base64 && !mime.is_empty() && !data.is_empty()).then_some(Image::Inline { mime, data })
}

/// One assistant tool call, its arguments parsed.
#[derive(Debug)]
struct ToolCall<'a> {
    id: &'a str,
    name: &'a str,
    args: Map<String, Value>,
}

/// The tool calls of assistant message `i`; arguments that are not a
/// JSON object are a 400 (an empty string reads as `{}`).
fn tool_calls(i: usize, msg: &Value) -> Result<Vec<ToolCall<'_>>, ApiError> {
    let Some(calls) = msg["tool_calls"].as_array() else {
        return Ok(Vec::new());
    };
    let mut out = Vec::with_capacity(calls.len());
    for (j, call) in calls.iter().enumerate() {
        let raw = call["function"]["arguments"].as_str().unwrap_or("");
        let args = if raw.trim().is_empty() {
            Map::new()
        } else {
            match serde_json::from_str::<Value>(raw) {
                Ok(Value::Object(o)) => o,
                _ => {
                    return Err(ApiError::invalid(
                        format!("messages[{i}].tool_calls[{j}].function.arguments"),
                        "function.arguments must be a JSON object in a string",
                    ))
                }
            }
        };
        out.push(ToolCall {
            id: call["id"].as_str().unwrap_or(""),
            name: call["function"]["name"].as_str().unwrap_or(""),
            args,
        });
    }
    Ok(out)
}

/// A tool definition: name, description and parameters.
#[derive(Debug)]
struct ToolDef<'a> {
    name: &'a str,
    description: Option<&'a Value>,
    parameters: Option<&'a Value>,
}

/// `tools`, checked: every entry a `function` with a name.
fn tool_defs(m: &Map<String, Value>) -> Result<Option<Vec<ToolDef<'_>>>, ApiError> {
    let Some(tools) = field(m, "tools") else {
        return Ok(None);
    };
    let list = tools
        .as_array()
        .ok_or_else(|| ApiError::invalid("tools", "tools must be an array"))?;
    let mut out = Vec::with_capacity(list.len());
    for (k, t) in list.iter().enumerate() {
        if t["type"].as_str() != Some("function") {
            return Err(ApiError::invalid(
                format!("tools[{k}].type"),
                "only function tools are supported",
            ));
        }
        let f = &t["function"];
        let name = f["name"]
            .as_str()
            .filter(|n| !n.is_empty())
            .ok_or_else(|| {
                ApiError::invalid(format!("tools[{k}].function.name"), "a tool needs a name")
            })?;
        out.push(ToolDef {
            name,
            description: f.get("description").filter(|d| !d.is_null()),
            parameters: f.get("parameters").filter(|p| !p.is_null()),
        });
    }
    Ok(Some(out))
}

/// OpenAI's `tool_choice`.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Choice<'a> {
    Auto,
    Required,
    None,
    Named(&'a str),
}

/// `tool_choice`, checked.
fn tool_choice(m: &Map<String, Value>) -> Result<Option<Choice<'_>>, ApiError> {
    let Some(v) = field(m, "tool_choice") else {
        return Ok(None);
    };
    let choice =
        match (v.as_str(), v["function"]["name"].as_str()) {
            (Some("auto"), _) => Choice::Auto,
            (Some("required"), _) => Choice::Required,
            (Some("none"), _) => Choice::None,
            (None, Some(name)) if v["type"].as_str() == Some("function") => Choice::Named(name),
            _ => return Err(ApiError::invalid(
                "tool_choice",
                "tool_choice must be auto, required, none or {type: function, function: {name}}",
            )),
        };
    Ok(Some(choice))
}

/// Conversation turns being built: consecutive turns of one role merge.
#[derive(Debug, Default)]
struct Turns {
    list: Vec<(&'static str, Vec<Value>)>,
}

impl Turns {
    /// Adds `blocks` to a `role` turn (nothing when empty).
    fn push(&mut self, role: &'static str, blocks: Vec<Value>) {
        if blocks.is_empty() {
            return;
        }
        match self.list.last_mut() {
            Some((r, prev)) if *r == role => prev.extend(blocks),
            _ => self.list.push((role, blocks)),
        }
    }

    /// The turns as `{role, <key>: content}` objects, each content made
    /// by `content`.
    fn finish(self, key: &str, content: impl Fn(Vec<Value>) -> Value) -> Value {
        let turns = self
            .list
            .into_iter()
            .map(|(role, blocks)| {
                let mut turn = Map::new();
                turn.insert("role".into(), Value::String(role.to_owned()));
                turn.insert(key.to_owned(), content(blocks));
                Value::Object(turn)
            })
            .collect();
        Value::Array(turns)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_and_data_uris() {
        assert_eq!(path_segment("gpt-4o.mini"), "gpt-4o.mini");
        assert_eq!(path_segment("a/b?c"), "a%2Fb%3Fc");
        assert_eq!(path_segment(".."), "%2E%2E");
        assert_eq!(
            data_uri("image/png;base64,AAAA"),
            Some(Image::Inline {
                mime: "image/png",
                data: "AAAA"
            })
        );
        assert_eq!(data_uri("image/png,AAAA"), None);
        assert_eq!(data_uri(";base64,AAAA"), None);
    }
}
