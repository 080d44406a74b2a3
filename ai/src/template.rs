//! Prompt templates as APIs: a route declares typed variables and chat
//! messages with `{{var}}` placeholders, so that `POST /summarize
//! {"text": "..."}` becomes a Chat Completions request. Templates are
//! checked and split into literal and placeholder segments once, at
//! compile time; rendering checks the input's types and builds the
//! request as JSON values (never by splicing JSON text), so a variable's
//! value can never leave its message's `content` string.

use serde_json::{json, Map, Number, Value};

use crate::chat::ChatRequest;
use crate::error::ApiError;

/// The roles a template's message may have.
const ROLES: [&str; 4] = ["system", "developer", "user", "assistant"];

/// The input key (and request field) kept for the client: `stream`.
const STREAM: &str = "stream";

/// Request fields a template's `params` may not set.
const RESERVED_PARAMS: [&str; 3] = ["messages", "model", STREAM];

/// A template as configured.
#[derive(Debug, Clone, PartialEq)]
pub struct TemplateSpec {
    /// The template's name: the OpenAPI title and `operationId`.
    pub name: String,
    /// The template's version, for the OpenAPI document.
    pub version: String,
    /// The model alias the request asks for.
    pub model: String,
    /// The messages, as (role, text with `{{var}}` placeholders).
    pub messages: Vec<(String, String)>,
    /// The variables the input may (or must) give.
    pub vars: Vec<VarSpec>,
    /// Default request parameters (`temperature`, `max_tokens`...), copied
    /// into every request; never `messages`, `model` or `stream`.
    pub params: Map<String, Value>,
}

/// A variable's type.
#[derive(Debug, Clone, PartialEq)]
pub enum VarKind {
    /// A string of at most `max_len` characters (Unicode scalar values).
    String {
        /// The most characters allowed.
        max_len: Option<usize>,
    },
    /// A JSON number within `min..=max`.
    Number {
        /// The least value allowed.
        min: Option<f64>,
        /// The greatest value allowed.
        max: Option<f64>,
    },
    /// A JSON integer (no fraction, fits an `i64`) within `min..=max`.
    Integer {
        /// The least value allowed.
        min: Option<i64>,
        /// The greatest value allowed.
        max: Option<i64>,
    },
    /// `true` or `false`.
    Boolean,
    /// One of these strings.
    Enum(Vec<String>),
}

/// A variable.
#[derive(Debug, Clone, PartialEq)]
pub struct VarSpec {
    /// Its name: `[A-Za-z_][A-Za-z0-9_]{0,63}`, not `stream`.
    pub name: String,
    /// Its type.
    pub kind: VarKind,
    /// Whether the input must give it (then it has no default).
    pub required: bool,
    /// The value used when the input omits it; an optional variable with
    /// no default renders as the empty string.
    pub default: Option<Value>,
    /// Said in the OpenAPI document.
    pub description: Option<String>,
}

/// A piece of a message's text.
#[derive(Debug, Clone, PartialEq)]
enum Segment {
    /// Text copied as is.
    Literal(String),
    /// The value of the variable at this index of `vars`.
    Var(usize),
}

/// A compiled template.
#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    /// The template as configured.
    spec: TemplateSpec,
    /// Each message's text, split into segments.
    segments: Vec<Vec<Segment>>,
}

impl Template {
    /// Checks `spec` and splits its messages into segments. The error says
    /// what is wrong and names the variable or the message's index.
    pub fn compile(spec: TemplateSpec) -> Result<Template, String> {
        if spec.name.trim().is_empty() {
            return Err("template name is empty".into());
        }
        if spec.model.trim().is_empty() {
            return Err("template model is empty".into());
        }
        check_vars(&spec.vars)?;
        check_params(&spec.params)?;
        if spec.messages.is_empty() {
            return Err("template has no messages".into());
        }
        let mut segments = Vec::with_capacity(spec.messages.len());
        for (i, (role, text)) in spec.messages.iter().enumerate() {
            if !ROLES.contains(&role.as_str()) {
                return Err(format!(
                    "messages[{i}]: role `{role}` is not one of system, developer, user, assistant"
                ));
            }
            segments.push(split(text, &spec.vars).map_err(|e| format!("messages[{i}]: {e}"))?);
        }
        Ok(Template { spec, segments })
    }

    /// The template's name.
    pub fn name(&self) -> &str {
        &self.spec.name
    }

    /// The template's version.
    pub fn version(&self) -> &str {
        &self.spec.version
    }

    /// The model alias the template's requests ask for.
    pub fn model(&self) -> &str {
        &self.spec.model
    }

    /// The template as configured.
    pub fn spec(&self) -> &TemplateSpec {
        &self.spec
    }

    /// The Chat Completions request for `input` (a JSON object of the
    /// variables, plus an optional `stream` boolean).
    pub fn render(&self, input: &[u8]) -> Result<ChatRequest, ApiError> {
        ChatRequest::from_value(self.render_value(input)?)
    }

    /// The Chat Completions body for `input`: `{"model", "messages",
    /// ...params, "stream"?}`. A 400 names every unknown key, every missing
    /// required variable, or the variable of the wrong type or value.
    pub fn render_value(&self, input: &[u8]) -> Result<Value, ApiError> {
        let input = parse_input(input)?;
        self.check_keys(&input)?;
        let values = self.values(&input)?;
        let mut body = Map::new();
        body.insert("model".into(), Value::String(self.spec.model.clone()));
        body.insert("messages".into(), Value::Array(self.messages(&values)));
        for (k, v) in &self.spec.params {
            body.insert(k.clone(), v.clone());
        }
        match input.get(STREAM) {
            None | Some(Value::Null) => {}
            Some(Value::Bool(b)) => {
                body.insert(STREAM.into(), Value::Bool(*b));
            }
            Some(_) => return Err(ApiError::invalid(STREAM, "`stream` must be a boolean")),
        }
        Ok(Value::Object(body))
    }

    /// One 400 for all unknown keys, else one for all missing required
    /// variables.
    fn check_keys(&self, input: &Map<String, Value>) -> Result<(), ApiError> {
        let mut unknown: Vec<&str> = input
            .keys()
            .map(String::as_str)
            .filter(|k| *k != STREAM && !self.spec.vars.iter().any(|v| v.name == *k))
            .collect();
        unknown.sort_unstable();
        if let Some(first) = unknown.first() {
            let noun = if unknown.len() == 1 {
                "variable"
            } else {
                "variables"
            };
            return Err(ApiError::invalid(
                *first,
                format!("unknown {noun}: {}", unknown.join(", ")),
            ));
        }
        let missing: Vec<&str> = self
            .spec
            .vars
            .iter()
            .filter(|v| v.required && input.get(&v.name).is_none_or(Value::is_null))
            .map(|v| v.name.as_str())
            .collect();
        if let Some(first) = missing.first() {
            let noun = if missing.len() == 1 {
                "variable"
            } else {
                "variables"
            };
            return Err(ApiError::invalid(
                *first,
                format!("missing required {noun}: {}", missing.join(", ")),
            ));
        }
        Ok(())
    }

    /// Each variable's text, in `vars` order, type-checked.
    fn values(&self, input: &Map<String, Value>) -> Result<Vec<String>, ApiError> {
        let mut out = Vec::with_capacity(self.spec.vars.len());
        for var in &self.spec.vars {
            let given = input.get(&var.name).filter(|v| !v.is_null());
            let text = match given.or(var.default.as_ref()) {
                Some(v) => {
                    check_value(&var.kind, v).map_err(|e| {
                        ApiError::invalid(var.name.as_str(), format!("`{}` {e}", var.name))
                    })?;
                    value_text(v)
                }
                None => String::new(),
            };
            out.push(text);
        }
        Ok(out)
    }

    /// The messages with `values` substituted, as JSON values.
    fn messages(&self, values: &[String]) -> Vec<Value> {
        let parts = self.spec.messages.iter().zip(&self.segments);
        parts
            .map(|((role, _), segs)| {
                let mut content = String::new();
                for seg in segs {
                    match seg {
                        Segment::Literal(s) => content.push_str(s),
                        Segment::Var(i) => {
                            content.push_str(values.get(*i).map_or("", String::as_str))
                        }
                    }
                }
                json!({"role": role, "content": content})
            })
            .collect()
    }

    /// An OpenAPI 3.1 document of the template served at `path`.
    pub fn openapi(&self, path: &str) -> Value {
        let error = json!({"description": "", "content": {"application/json": {
            "schema": {"$ref": "#/components/schemas/Error"}}}});
        let error_with = |description: &str| {
            let mut e = error.clone();
            e["description"] = Value::String(description.into());
            e
        };
        let mut too_many = error_with("Rate or token limit reached");
        too_many["headers"] = json!({"Retry-After": {
            "description": "Seconds to wait before retrying", "schema": {"type": "integer"}}});
        let post = json!({
            "operationId": self.spec.name,
            "summary": format!("Prompt template `{}` (model `{}`)", self.spec.name, self.spec.model),
            "requestBody": {"required": true, "content": {"application/json": {
                "schema": self.input_schema()}}},
            "responses": {
                "200": {"description": "The model's answer; with `stream: true`, chat.completion.chunk events ending with `data: [DONE]`",
                    "content": {
                        "application/json": {"schema": {"$ref": "#/components/schemas/ChatCompletion"}},
                        "text/event-stream": {"schema": {"type": "string"}}}},
                "400": error_with("Invalid input: unknown, missing or ill-typed variables"),
                "401": error_with("Missing or invalid credentials"),
                "429": too_many,
            },
        });
        let mut paths = Map::new();
        paths.insert(path.into(), json!({"post": post}));
        json!({
            "openapi": "3.1.0",
            "info": {"title": self.spec.name, "version": self.spec.version},
            "paths": paths,
            "components": {"schemas": {
                "ChatCompletion": chat_completion_schema(),
                "Error": error_schema(),
            }},
        })
    }

    /// The JSON schema of the input object.
    fn input_schema(&self) -> Value {
        let mut props = Map::new();
        for var in &self.spec.vars {
            props.insert(var.name.clone(), var_schema(var));
        }
        props.insert(
            STREAM.into(),
            json!({"type": "boolean", "description": "Stream the answer as server-sent events", "default": false}),
        );
        let required: Vec<&str> = self
            .spec
            .vars
            .iter()
            .filter(|v| v.required)
            .map(|v| v.name.as_str())
            .collect();
        json!({"type": "object", "properties": props, "required": required,
            "additionalProperties": false})
    }
}

/// Checks variable names, duplicates, enums, ranges and defaults.
fn check_vars(vars: &[VarSpec]) -> Result<(), String> {
    for (i, var) in vars.iter().enumerate() {
        let name = &var.name;
        if !valid_name(name) {
            return Err(format!(
                "vars[{i}]: name `{name}` must match [A-Za-z_][A-Za-z0-9_]{{0,63}}"
            ));
        }
        if name == STREAM {
            return Err(format!("var `{name}`: the name is reserved"));
        }
        if vars[..i].iter().any(|v| v.name == *name) {
            return Err(format!("var `{name}`: declared twice"));
        }
        check_kind(&var.kind).map_err(|e| format!("var `{name}`: {e}"))?;
        match (&var.default, var.required) {
            (Some(_), true) => return Err(format!("var `{name}`: a required var has no default")),
            (Some(d), false) => check_value(&var.kind, d)
                .map_err(|e| format!("var `{name}`: default {}: {e}", d))?,
            (None, _) => {}
        }
    }
    Ok(())
}

/// Checks that a kind's bounds make sense.
fn check_kind(kind: &VarKind) -> Result<(), String> {
    match kind {
        VarKind::Enum(values) if values.is_empty() => {
            Err("an enum needs at least one value".into())
        }
        VarKind::Enum(values) => match values
            .iter()
            .enumerate()
            .find(|(i, v)| values[..*i].contains(v))
        {
            Some((_, v)) => Err(format!("enum value `{v}` is listed twice")),
            None => Ok(()),
        },
        VarKind::Number { min, max } => {
            if min.is_some_and(|m| !m.is_finite()) || max.is_some_and(|m| !m.is_finite()) {
                return Err("min and max must be finite".into());
            }
            match (min, max) {
                (Some(lo), Some(hi)) if lo > hi => Err(format!("min {lo} is above max {hi}")),
                _ => Ok(()),
            }
        }
        VarKind::Integer {
            min: Some(lo),
            max: Some(hi),
        } if lo > hi => Err(format!("min {lo} is above max {hi}")),
        _ => Ok(()),
    }
}

/// Checks that `params` sets none of the reserved request fields.
fn check_params(params: &Map<String, Value>) -> Result<(), String> {
    match RESERVED_PARAMS.iter().find(|k| params.contains_key(**k)) {
        Some(k) => Err(format!(
            "params: `{k}` is set by the template, not by params"
        )),
        None => Ok(()),
    }
}

/// Whether `name` matches `[A-Za-z_][A-Za-z0-9_]{0,63}`.
fn valid_name(name: &str) -> bool {
    let b = name.as_bytes();
    !b.is_empty()
        && b.len() <= 64
        && (b[0].is_ascii_alphabetic() || b[0] == b'_')
        && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'_')
}

/// Splits a message's text into literals and placeholders of declared
/// variables.
fn split(text: &str, vars: &[VarSpec]) -> Result<Vec<Segment>, String> {
    let mut segments = Vec::new();
    let mut rest = text;
    while let Some(open) = rest.find("{{") {
        if open > 0 {
            segments.push(Segment::Literal(rest[..open].to_string()));
        }
        let after = &rest[open + 2..];
        let close = after.find("}}").ok_or("`{{` is not closed by `}}`")?;
        let name = after[..close].trim();
        if !valid_name(name) {
            return Err(format!(
                "`{{{{{}}}}}` is not a placeholder of a var name",
                &after[..close]
            ));
        }
        let index = vars
            .iter()
            .position(|v| v.name == name)
            .ok_or_else(|| format!("placeholder `{{{{{name}}}}}` names no declared var"))?;
        segments.push(Segment::Var(index));
        rest = &after[close + 2..];
    }
    if !rest.is_empty() {
        segments.push(Segment::Literal(rest.to_string()));
    }
    Ok(segments)
}

/// The input as a JSON object, or a 400.
fn parse_input(input: &[u8]) -> Result<Map<String, Value>, ApiError> {
    let bad = |m: String| ApiError::new(400, "invalid_request_error", m);
    match serde_json::from_slice::<Value>(input) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(bad(
            "the request body must be a JSON object of the template's variables".into(),
        )),
        Err(e) => Err(bad(format!("the request body is not valid JSON: {e}"))),
    }
}

/// Checks `v` against `kind`; the error completes "`name` ...".
fn check_value(kind: &VarKind, v: &Value) -> Result<(), String> {
    match kind {
        VarKind::String { max_len } => {
            let s = v.as_str().ok_or("must be a string")?;
            match max_len {
                Some(max) if s.chars().count() > *max => {
                    Err(format!("is longer than {max} characters"))
                }
                _ => Ok(()),
            }
        }
        VarKind::Number { min, max } => {
            let n = v
                .as_f64()
                .filter(|_| v.is_number())
                .ok_or("must be a number")?;
            check_range(n, *min, *max)
        }
        VarKind::Integer { min, max } => {
            if v.is_u64() && v.as_i64().is_none() {
                return Err(format!("must be at most {}", max.unwrap_or(i64::MAX)));
            }
            let n = v.as_i64().ok_or("must be an integer")?;
            check_range(n, *min, *max)
        }
        VarKind::Boolean => v
            .as_bool()
            .map(|_| ())
            .ok_or_else(|| "must be a boolean".into()),
        VarKind::Enum(values) => match v.as_str() {
            Some(s) if values.iter().any(|x| x == s) => Ok(()),
            _ => Err(format!("must be one of: {}", values.join(", "))),
        },
    }
}

/// Checks `min <= n <= max`.
fn check_range<T: PartialOrd + std::fmt::Display>(
    n: T,
    min: Option<T>,
    max: Option<T>,
) -> Result<(), String> {
    if let Some(lo) = min.filter(|lo| n < *lo) {
        return Err(format!("must be at least {lo}"));
    }
    if let Some(hi) = max.filter(|hi| n > *hi) {
        return Err(format!("must be at most {hi}"));
    }
    Ok(())
}

/// A value's text in a message: strings as they are, others as JSON.
fn value_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// One variable's JSON schema.
fn var_schema(var: &VarSpec) -> Value {
    let mut s = Map::new();
    let mut put = |k: &str, v: Value| {
        s.insert(k.into(), v);
    };
    match &var.kind {
        VarKind::String { max_len } => {
            put("type", "string".into());
            if let Some(m) = max_len {
                put("maxLength", (*m as u64).into());
            }
        }
        VarKind::Number { min, max } => {
            put("type", "number".into());
            if let Some(n) = min.and_then(Number::from_f64) {
                put("minimum", Value::Number(n));
            }
            if let Some(n) = max.and_then(Number::from_f64) {
                put("maximum", Value::Number(n));
            }
        }
        VarKind::Integer { min, max } => {
            put("type", "integer".into());
            if let Some(n) = min {
                put("minimum", (*n).into());
            }
            if let Some(n) = max {
                put("maximum", (*n).into());
            }
        }
        VarKind::Boolean => put("type", "boolean".into()),
        VarKind::Enum(values) => {
            put("type", "string".into());
            put("enum", values.clone().into());
        }
    }
    if let Some(d) = &var.default {
        put("default", d.clone());
    }
    if let Some(d) = &var.description {
        put("description", d.clone().into());
    }
    Value::Object(s)
}

/// The schema of an OpenAI `chat.completion` object.
fn chat_completion_schema() -> Value {
    json!({
        "type": "object",
        "required": ["id", "object", "created", "model", "choices"],
        "properties": {
            "id": {"type": "string"},
            "object": {"type": "string", "const": "chat.completion"},
            "created": {"type": "integer", "description": "Unix seconds"},
            "model": {"type": "string"},
            "choices": {"type": "array", "items": {
                "type": "object",
                "required": ["index", "message", "finish_reason"],
                "properties": {
                    "index": {"type": "integer"},
                    "message": {"type": "object", "required": ["role", "content"], "properties": {
                        "role": {"type": "string", "const": "assistant"},
                        "content": {"type": ["string", "null"]},
                        "refusal": {"type": ["string", "null"]},
                    }},
                    "finish_reason": {"type": ["string", "null"],
                        "enum": ["stop", "length", "tool_calls", "content_filter", null]},
                },
            }},
            "usage": {"type": "object", "required": ["prompt_tokens", "completion_tokens", "total_tokens"],
                "properties": {
                    "prompt_tokens": {"type": "integer"},
                    "completion_tokens": {"type": "integer"},
                    "total_tokens": {"type": "integer"},
                }},
        },
    })
}

/// The schema of an OpenAI error object.
fn error_schema() -> Value {
    json!({
        "type": "object",
        "required": ["error"],
        "properties": {"error": {
            "type": "object",
            "required": ["message", "type"],
            "properties": {
                "message": {"type": "string"},
                "type": {"type": "string"},
                "param": {"type": ["string", "null"]},
                "code": {"type": ["string", "null"]},
            },
        }},
    })
}
