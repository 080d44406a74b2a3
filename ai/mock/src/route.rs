//! Dispatch: finds the endpoint, records the request, checks the key, applies
//! pushed and model-named faults, and asks the format modules for the reply.

use std::sync::atomic::Ordering;
use std::time::Duration;

use serde_json::Value;

use crate::convo::{Convo, Plan};
use crate::frame::{shape, End, Frame};
use crate::http::Request;
use crate::{
    anthropic, fault, gemini, lock, openai, Fault, MockConfig, Recorded, Shared, RECORD_LIMIT,
};

/// The wire format an endpoint speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Format {
    OpenAi,
    Azure,
    Anthropic,
    Gemini,
}

/// What an endpoint does.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Endpoint {
    /// A chat call; the model when the path names it, and whether the path streams.
    Chat {
        model: Option<String>,
        stream: bool,
    },
    Models,
    Embeddings,
}

/// An error to answer in the endpoint's format.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Failure {
    pub(crate) status: u16,
    pub(crate) message: String,
    /// The offending field, where there is one.
    pub(crate) param: Option<String>,
}

impl Failure {
    /// A 400 about this field.
    pub(crate) fn bad(message: impl Into<String>, param: Option<&str>) -> Failure {
        Failure {
            status: 400,
            message: message.into(),
            param: param.map(str::to_string),
        }
    }

    fn new(status: u16, message: &str) -> Failure {
        Failure {
            status,
            message: message.to_string(),
            param: None,
        }
    }
}

/// What to send back.
#[derive(Debug)]
pub(crate) enum Reply {
    /// A whole response with Content-Length.
    Whole {
        status: u16,
        headers: Vec<(&'static str, String)>,
        body: Vec<u8>,
    },
    /// A 200 SSE stream, `pace` before each frame.
    Stream {
        frames: Vec<Frame>,
        pace: Duration,
        end: End,
    },
    /// Announce this whole JSON body, send half of it, then close.
    Cut { body: Vec<u8> },
    /// Send nothing for this long, then close.
    Stall(Duration),
    /// Close without answering.
    Close,
}

/// The request's context once it is routed and authorized.
struct Ctx<'a> {
    cfg: &'a MockConfig,
    format: Format,
    seq: u64,
    pushed: Option<Fault>,
}

/// Answers one request.
pub(crate) fn handle(shared: &Shared, req: &Request) -> Reply {
    let seq = shared.served.fetch_add(1, Ordering::SeqCst) + 1;
    let route = route(&req.method, req.path());
    let key = route.as_ref().and_then(|(f, _)| presented_key(*f, req));
    record(shared, req, key.clone());
    let pushed = lock(&shared.faults).pop_front();
    let format = route.as_ref().map_or(Format::OpenAi, |(f, _)| *f);
    if let Some(reply) = pushed.as_ref().and_then(|f| immediate(format, f)) {
        return reply;
    }
    let Some((format, endpoint)) = route else {
        let msg = format!("Invalid URL ({} {})", req.method, req.path());
        return error(format, &Failure::new(404, &msg));
    };
    if let Err(f) = authorize(&shared.cfg, key.as_deref()) {
        return error(format, &f);
    }
    let ctx = Ctx {
        cfg: &shared.cfg,
        format,
        seq,
        pushed,
    };
    match endpoint {
        Endpoint::Chat { model, stream } => chat(&ctx, req, model.as_deref(), stream),
        Endpoint::Models => finish_whole(&ctx, None, &openai::models()),
        Endpoint::Embeddings => embeddings(&ctx, req),
    }
}

/// Maps a method and path to a format and endpoint.
fn route(method: &str, path: &str) -> Option<(Format, Endpoint)> {
    let chat = |model: Option<&str>, stream| Endpoint::Chat {
        model: model.map(str::to_string),
        stream,
    };
    match (method, path) {
        ("POST", "/v1/chat/completions") => return Some((Format::OpenAi, chat(None, false))),
        ("POST", "/v1/messages") => return Some((Format::Anthropic, chat(None, false))),
        ("GET", "/v1/models") => return Some((Format::OpenAi, Endpoint::Models)),
        ("POST", "/v1/embeddings") => return Some((Format::OpenAi, Endpoint::Embeddings)),
        ("POST", _) => {}
        _ => return None,
    }
    if let Some(rest) = path.strip_prefix("/openai/deployments/") {
        let deployment = rest.strip_suffix("/chat/completions")?;
        let ok = !deployment.is_empty() && !deployment.contains('/');
        return ok.then(|| (Format::Azure, chat(Some(deployment), false)));
    }
    let rest = path.strip_prefix("/v1beta/models/")?;
    let (model, action) = rest.rsplit_once(':')?;
    let stream = match action {
        "generateContent" => false,
        "streamGenerateContent" => true,
        _ => return None,
    };
    let ok = !model.is_empty() && !model.contains('/');
    ok.then(|| (Format::Gemini, chat(Some(model), stream)))
}

/// The key presented in the header (or query) the format uses.
fn presented_key(format: Format, req: &Request) -> Option<String> {
    let key = match format {
        Format::OpenAi => req.header("authorization").and_then(|v| {
            let (scheme, token) = v.split_once(' ')?;
            scheme
                .eq_ignore_ascii_case("bearer")
                .then_some(token.trim())
        }),
        Format::Azure => req.header("api-key"),
        Format::Anthropic => req.header("x-api-key"),
        Format::Gemini => req.header("x-goog-api-key").or_else(|| req.query("key")),
    };
    key.map(str::to_string)
}

/// Appends the request to the bounded log.
fn record(shared: &Shared, req: &Request, key: Option<String>) {
    let rec = Recorded {
        method: req.method.clone(),
        path: req.target.clone(),
        headers: req.headers.clone(),
        body: req.body.clone(),
        key,
    };
    let mut log = lock(&shared.log);
    if log.len() >= RECORD_LIMIT {
        log.pop_front();
    }
    log.push_back(rec);
}

/// Accepts a present key that is not revoked and, when keys are listed, is one of them.
fn authorize(cfg: &MockConfig, key: Option<&str>) -> Result<(), Failure> {
    let key = match key {
        Some(k) if !k.is_empty() => k,
        _ => return Err(Failure::new(401, "No API key provided.")),
    };
    let revoked = cfg.revoked.iter().any(|r| r == key);
    let known = cfg.keys.is_empty() || cfg.keys.iter().any(|k| k == key);
    if revoked || !known {
        return Err(Failure::new(401, "Invalid API key provided."));
    }
    Ok(())
}

/// Faults answered without looking at the request: a status, a stall, a close.
fn immediate(format: Format, fault: &Fault) -> Option<Reply> {
    match fault {
        Fault::Status {
            status,
            retry_after,
        } => {
            let mut reply = error(format, &Failure::new(*status, status_message(*status)));
            if let (Reply::Whole { headers, .. }, Some(secs)) = (&mut reply, retry_after) {
                headers.push(("retry-after", secs.to_string()));
            }
            Some(reply)
        }
        Fault::Stall(d) => Some(Reply::Stall(*d)),
        Fault::Close => Some(Reply::Close),
        _ => None,
    }
}

/// The message a status fault carries.
fn status_message(status: u16) -> &'static str {
    match status {
        401 => "Invalid API key provided.",
        429 => "Rate limit reached (mock).",
        529 => "Overloaded",
        503 => "The service is temporarily unavailable (mock).",
        500..=599 => "The server had an error while processing your request (mock).",
        _ => "Request failed (mock).",
    }
}

/// An error in the format's own shape.
pub(crate) fn error(format: Format, f: &Failure) -> Reply {
    let status = if (100..=999).contains(&f.status) {
        f.status
    } else {
        500
    };
    let body = match format {
        Format::OpenAi | Format::Azure => openai::error_body(f),
        Format::Anthropic => anthropic::error_body(f),
        Format::Gemini => gemini::error_body(f),
    };
    json_reply(status, body)
}

fn json_reply(status: u16, body: Vec<u8>) -> Reply {
    Reply::Whole {
        status,
        headers: vec![("content-type", "application/json".to_string())],
        body,
    }
}

/// Checks the format's required headers and query parameters.
fn preflight(ctx: &Ctx<'_>, req: &Request, stream: bool) -> Result<(), Failure> {
    match ctx.format {
        Format::Azure if req.query("api-version").is_none_or(str::is_empty) => Err(Failure::bad(
            "Missing required query parameter: api-version",
            Some("api-version"),
        )),
        Format::Anthropic if req.header("anthropic-version").is_none() => Err(Failure::bad(
            "anthropic-version: header is required",
            Some("anthropic-version"),
        )),
        Format::Gemini if stream && req.query("alt") != Some("sse") => Err(Failure::bad(
            "this mock streams only with alt=sse",
            Some("alt"),
        )),
        _ => Ok(()),
    }
}

/// Parses the body as JSON, or fails with the format's 400.
fn json_body(req: &Request) -> Result<Value, Failure> {
    serde_json::from_slice(&req.body)
        .map_err(|_| Failure::bad("We could not parse the JSON body of your request.", None))
}

/// A chat call in any format.
fn chat(ctx: &Ctx<'_>, req: &Request, model: Option<&str>, stream: bool) -> Reply {
    let convo = preflight(ctx, req, stream)
        .and_then(|()| json_body(req))
        .and_then(|body| parse_chat(ctx.format, &body, model, stream));
    let convo = match convo {
        Ok(c) => c,
        Err(f) => return error(ctx.format, &f),
    };
    let named = fault::from_model(&convo.model);
    let fault = ctx.pushed.clone().or(named.fault);
    if let Some(reply) = fault.as_ref().and_then(|f| immediate(ctx.format, f)) {
        return reply;
    }
    let lead = (ctx.format == Format::Anthropic).then_some("ok");
    let plan = Plan::new(&convo, ctx.cfg.words, lead);
    if !convo.stream {
        let body = match ctx.format {
            Format::OpenAi | Format::Azure => openai::whole(&convo, &plan, ctx.seq),
            Format::Anthropic => anthropic::whole(&convo, &plan, ctx.seq),
            Format::Gemini => gemini::whole(&convo, &plan, ctx.seq),
        };
        return finish_whole(ctx, fault.as_ref(), &body);
    }
    let (frames, spoil) = match ctx.format {
        Format::OpenAi | Format::Azure => {
            (openai::frames(&convo, &plan, ctx.seq), openai::spoilers())
        }
        Format::Anthropic => (
            anthropic::frames(&convo, &plan, ctx.seq),
            anthropic::spoilers(),
        ),
        Format::Gemini => (gemini::frames(&convo, &plan, ctx.seq), gemini::spoilers()),
    };
    let (frames, end) = shape(frames, fault.as_ref(), spoil);
    let pace = named.pace.unwrap_or(ctx.cfg.frame_delay);
    Reply::Stream { frames, pace, end }
}

/// Reads a chat request in its format.
fn parse_chat(
    format: Format,
    body: &Value,
    model: Option<&str>,
    stream: bool,
) -> Result<Convo, Failure> {
    match format {
        Format::OpenAi | Format::Azure => openai::parse(body, model),
        Format::Anthropic => anthropic::parse(body),
        Format::Gemini => gemini::parse(body, model.unwrap_or(""), stream),
    }
}

/// A whole 200 JSON answer, unless a fault spoils it.
fn finish_whole(ctx: &Ctx<'_>, fault: Option<&Fault>, body: &Value) -> Reply {
    match fault.or(ctx.pushed.as_ref()) {
        Some(Fault::Malformed) => json_reply(200, b"{\"id\": \"broken".to_vec()),
        Some(Fault::Cut) => Reply::Cut {
            body: body.to_string().into_bytes(),
        },
        Some(Fault::MidStreamError) => error(ctx.format, &Failure::new(500, status_message(500))),
        _ => json_reply(200, body.to_string().into_bytes()),
    }
}

/// `POST /v1/embeddings`.
fn embeddings(ctx: &Ctx<'_>, req: &Request) -> Reply {
    let parsed = json_body(req).and_then(|body| openai::embeddings(&body));
    let (model, body) = match parsed {
        Ok(v) => v,
        Err(f) => return error(ctx.format, &f),
    };
    let fault = ctx.pushed.clone().or(fault::from_model(&model).fault);
    if let Some(reply) = fault.as_ref().and_then(|f| immediate(ctx.format, f)) {
        return reply;
    }
    finish_whole(ctx, fault.as_ref(), &body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes() {
        let chat = |m: Option<&str>, s| Endpoint::Chat {
            model: m.map(str::to_string),
            stream: s,
        };
        assert_eq!(
            route("POST", "/openai/deployments/gpt4/chat/completions"),
            Some((Format::Azure, chat(Some("gpt4"), false)))
        );
        assert_eq!(
            route("POST", "/v1beta/models/gemini-2.0:streamGenerateContent"),
            Some((Format::Gemini, chat(Some("gemini-2.0"), true)))
        );
        assert_eq!(route("POST", "/v1beta/models/:generateContent"), None);
        assert_eq!(route("POST", "/v1beta/models/m:countTokens"), None);
        assert_eq!(route("GET", "/v1/chat/completions"), None);
        assert_eq!(route("POST", "/openai/deployments//chat/completions"), None);
        assert_eq!(
            route("GET", "/v1/models"),
            Some((Format::OpenAi, Endpoint::Models))
        );
    }

    #[test]
    fn keys() {
        let cfg = MockConfig {
            keys: vec!["a".into(), "r".into()],
            revoked: vec!["r".into()],
            ..MockConfig::default()
        };
        assert!(authorize(&cfg, Some("a")).is_ok());
        for k in [None, Some(""), Some("b"), Some("r")] {
            assert_eq!(authorize(&cfg, k).map_err(|f| f.status), Err(401));
        }
        assert!(authorize(&MockConfig::default(), Some("anything")).is_ok());
    }
}
