//! The AI front end on the data path: an OpenAI-style API
//! (`/v1/chat/completions` streamed or not, `/v1/models`,
//! `/v1/embeddings`) and prompt-template APIs, served by routes with
//! `ai = {...}`. A call reads its body whole, reserves its token budget,
//! tries the alias's targets and keys in order (failing over only before
//! the client saw a byte), translates the provider's answer (whole, or
//! frame by frame) and settles the budget with the provider's count. The
//! translation itself is the `ai` crate's; this module owns sockets, keys,
//! fallback and accounting.

mod bodies;
mod body;
mod budget;
mod call;
mod relay;
mod reply;

use parser::{Method, RequestHead};

use crate::client::{Client, Next};
use crate::ctx::ShardCtx;
use crate::snapshot::ai::AiSet;
use crate::view::SnapView;

pub(crate) use bodies::{masked, AiAction};
pub(crate) use budget::Facts;

/// What an AI call leaves for the access log and metrics.
#[derive(Debug, Default, Clone)]
pub(crate) struct AiTrace {
    /// The provider and key that answered (indexes into the snapshot's
    /// AI set), and the model asked of it.
    pub(crate) provider: Option<(u16, u16)>,
    pub(crate) model: Box<str>,
    pub(crate) usage: ::ai::Usage,
    /// The provider reported the call's usage (a budget settles with it).
    pub(crate) usage_known: bool,
    /// Millionths of a dollar.
    pub(crate) cost: u64,
    pub(crate) first_token: Option<std::time::Duration>,
    /// Every try before the one that answered: provider, key, why.
    pub(crate) failovers: Vec<(u16, u16, &'static str)>,
    pub(crate) stream: bool,
    /// The first bytes of the prompt and of the answer, on routes that log
    /// them (masked when the log line is written).
    pub(crate) bodies: Option<Box<(Box<[u8]>, Box<[u8]>)>>,
}

/// A request routed to an AI route.
pub(crate) struct AiRequest<'a> {
    pub(crate) view: &'a SnapView,
    pub(crate) route: &'a crate::snapshot::route::Route,
    pub(crate) ai: &'a AiAction,
    pub(crate) head: &'a RequestHead,
    /// The normalised path and query the route matched.
    pub(crate) path: &'a [u8],
    pub(crate) id: &'a [u8],
    pub(crate) facts: Facts<'a>,
    /// The request's body has been read (the connection may carry another
    /// request).
    pub(crate) body_read: std::cell::Cell<bool>,
    /// The API the client speaks, for the shape of answers and errors.
    pub(crate) front: std::cell::Cell<Front>,
}

/// The API a client speaks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) enum Front {
    /// OpenAI Chat Completions.
    #[default]
    OpenAi,
    /// Anthropic Messages.
    Anthropic,
}

/// Which API a request calls.
enum Endpoint {
    Chat,
    /// `POST /v1/messages`: Anthropic's API.
    Messages,
    Template(usize),
    Models,
    Embeddings,
    /// `GET` on a template's route: its OpenAPI description.
    Describe(usize),
}

/// Serves one AI request.
pub(crate) async fn serve(c: &mut Client, ctx: &ShardCtx, req: AiRequest<'_>) -> Next {
    let set = &req.view.snap.ai;
    let endpoint = match endpoint(&req) {
        Ok(e) => e,
        Err(e) => return reply::error(c, ctx, &req, &e).await,
    };
    match endpoint {
        Endpoint::Models => models(c, ctx, &req, set).await,
        Endpoint::Describe(t) => describe(c, ctx, &req, set, t).await,
        Endpoint::Chat | Endpoint::Messages | Endpoint::Template(_) | Endpoint::Embeddings => {
            chat::run(c, ctx, &req, set, endpoint).await
        }
    }
}

/// The API a request calls, from its method and path.
fn endpoint(req: &AiRequest<'_>) -> Result<Endpoint, ::ai::ApiError> {
    let path = req.path.split(|&b| b == b'?').next().unwrap_or_default();
    let method = req.head.method();
    let (want, e) = match req.ai.route.template {
        // A template's route publishes its own description.
        Some(t) if method == Method::Get => (Method::Get, Endpoint::Describe(t)),
        Some(t) => (Method::Post, Endpoint::Template(t)),
        None if path.ends_with(b"/v1/chat/completions") => (Method::Post, Endpoint::Chat),
        None if path.ends_with(b"/v1/messages") => {
            req.front.set(Front::Anthropic);
            (Method::Post, Endpoint::Messages)
        }
        None if path.ends_with(b"/v1/embeddings") => (Method::Post, Endpoint::Embeddings),
        None if path.ends_with(b"/v1/models") => (Method::Get, Endpoint::Models),
        None => {
            let mut e = ::ai::ApiError::new(404, "invalid_request_error", "unknown API path");
            e.code = Some("unknown_url".to_owned());
            return Err(e);
        }
    };
    match method == want {
        true => Ok(e),
        false => Err(::ai::ApiError::new(
            405,
            "invalid_request_error",
            format!(
                "use {} on this path",
                if want == Method::Post { "POST" } else { "GET" }
            ),
        )),
    }
}

/// The OpenAPI description of a template's input, versioned with it.
async fn describe(
    c: &mut Client,
    ctx: &ShardCtx,
    req: &AiRequest<'_>,
    set: &AiSet,
    t: usize,
) -> Next {
    let Some(t) = set.config.templates.get(t) else {
        let e = ::ai::ApiError::new(404, "invalid_request_error", "no such template");
        return reply::error(c, ctx, &req, &e).await;
    };
    let path = req.path.split(|&b| b == b'?').next().unwrap_or_default();
    let doc = t.0.openapi(&String::from_utf8_lossy(path));
    reply::json(c, ctx, req, 200, &[], doc.to_string().as_bytes()).await
}

/// `GET /v1/models`: the aliases, then `provider/model` for every
/// provider's mapped models.
async fn models(c: &mut Client, ctx: &ShardCtx, req: &AiRequest<'_>, set: &AiSet) -> Next {
    let mut data = Vec::new();
    let entry = |id: String, owner: &str| serde_json::json!({"id": id, "object": "model", "created": 0, "owned_by": owner});
    let allowed = |id: &str| req.ai.route.allows(id);
    for m in set.config.models.iter().filter(|m| allowed(&m.name)) {
        data.push(entry(m.name.clone(), "coregate"));
    }
    for p in &set.providers {
        for (name, _) in &p.spec.models {
            let id = format!("{}/{}", p.spec.name, name);
            if allowed(&id) {
                data.push(entry(id, &p.spec.name));
            }
        }
    }
    let body = serde_json::json!({"object": "list", "data": data}).to_string();
    reply::json(c, ctx, req, 200, &[], body.as_bytes()).await
}

mod chat;
