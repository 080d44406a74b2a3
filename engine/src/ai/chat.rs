//! One chat (or template, or embeddings) call, start to end: body, budget,
//! tries with failover, the answer translated, the budget settled, the
//! trace filled for the access log and metrics.

use super::call::{self, Failed, Try};
use super::relay;
use super::{body, budget, reply, AiRequest, AiTrace, Endpoint, Front};
use crate::client::{Client, Next};
use crate::ctx::ShardCtx;
use crate::snapshot::ai::AiSet;

/// A call's request as the tries send it.
enum Call {
    Chat(::ai::ChatRequest),
    Embeddings(serde_json::Map<String, serde_json::Value>, String),
}

impl Call {
    fn model(&self) -> &str {
        match self {
            Call::Chat(c) => &c.model,
            Call::Embeddings(_, m) => m,
        }
    }

    fn stream(&self) -> bool {
        matches!(self, Call::Chat(c) if c.stream)
    }

    /// The request for one try's provider.
    fn encode(
        &self,
        p: &tuning::AiProvider,
        model: &str,
    ) -> Result<::ai::Outbound, ::ai::ApiError> {
        let opts = ::ai::EncodeOpts {
            base_path: p.base_path.clone(),
            azure_api_version: p.azure_api_version.clone(),
            default_max_tokens: p.default_max_tokens,
        };
        match self {
            Call::Chat(c) => c.encode(p.kind, model, &opts),
            Call::Embeddings(body, _) => embeddings(p, model, body),
        }
    }
}

/// An embeddings request for OpenAI-format providers.
fn embeddings(
    p: &tuning::AiProvider,
    model: &str,
    body: &serde_json::Map<String, serde_json::Value>,
) -> Result<::ai::Outbound, ::ai::ApiError> {
    let path = match p.kind {
        ::ai::Kind::OpenAi | ::ai::Kind::Compatible => format!("{}/embeddings", p.base_path),
        ::ai::Kind::Azure => format!(
            "{}/deployments/{}/embeddings?api-version={}",
            p.base_path,
            ::ai::chat::path_segment(model),
            ::ai::chat::query_value(&p.azure_api_version)
        ),
        _ => {
            return Err(::ai::ApiError::invalid(
                "model",
                format!(
                    "provider {:?} serves no embeddings through this API",
                    p.name
                ),
            ))
        }
    };
    let mut body = body.clone();
    body.insert("model".to_owned(), model.into());
    Ok(::ai::Outbound {
        path,
        headers: vec![("content-type", "application/json".to_owned())],
        body: serde_json::Value::Object(body).to_string().into_bytes(),
    })
}

/// Runs one call and answers it.
pub(super) async fn run(
    c: &mut Client,
    ctx: &ShardCtx,
    req: &AiRequest<'_>,
    set: &AiSet,
    endpoint: Endpoint,
) -> Next {
    let started = crate::clock::now();
    let raw = match body::read(c, ctx, req.head, set.config.max_body).await {
        Ok(b) => b,
        Err(e) => return body_error(c, ctx, req, e).await,
    };
    req.body_read.set(true);
    let mut call = match parse(set, endpoint, &raw) {
        Ok(call) => call,
        Err(e) => return reply::error(c, ctx, req, &e).await,
    };
    let tries = match call::plan(set, &req.ai.route, call.model(), call::now_ms()) {
        Ok(t) => t,
        Err(e) => return reply::error(c, ctx, req, &e).await,
    };
    let cost = budget_cost(req, set, &mut call, &tries, raw.len());
    let reserved = match budget::reserve(&req.route.limits, &req.facts, cost) {
        Ok(r) => r,
        Err(e) => return reply::error(c, ctx, req, &e).await,
    };
    let mut trace = AiTrace {
        model: cut(call.model(), 128).into(),
        stream: call.stream(),
        ..AiTrace::default()
    };
    if req.ai.route.log_bodies {
        trace.bodies = Some(Box::new((super::bodies::keep(&raw), Box::default())));
    }
    let next = tries_in_turn(c, ctx, req, set, (&call, &tries), &mut trace, started).await;
    // A call no provider answered used nothing; one whose count is
    // unknown (cut short, or a provider that reports none) keeps its
    // whole reservation.
    match (trace.provider, trace.usage_known) {
        (None, _) => reserved.settle(0),
        (Some(_), true) => reserved.settle(trace.usage.total()),
        (Some(_), false) => {}
    }
    if let Some((p, _)) = trace.provider {
        if let Some(p) = set.providers.get(usize::from(p)) {
            trace.cost = cost_of(&p.spec.price, &trace.usage);
        }
    }
    c.trace.ai = Some(Box::new(trace));
    next
}

/// The first `n` characters of `s`.
fn cut(s: &str, n: usize) -> &str {
    match s.char_indices().nth(n) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

/// Prompts larger than this are estimated at a token per byte instead of
/// tokenized: tiktoken runs on the shard, at about 25 µs a KiB.
const TOKENIZE_MAX: usize = 64 << 10;

/// What a call reserves from the route's token budgets: its prompt's
/// estimate plus the most it may answer (times `n` choices). When the
/// client set no limit, the reserved one is written into the request, so
/// that the provider cannot answer past the reservation. 1 on routes
/// without a budget (estimating costs tens of µs).
fn budget_cost(
    req: &AiRequest<'_>,
    set: &AiSet,
    call: &mut Call,
    tries: &[Try],
    raw: usize,
) -> u64 {
    let Call::Chat(chat) = call else {
        return 1;
    };
    if !req.route.limits.iter().any(|p| p.spec.tokens) {
        return 1;
    }
    let output = match chat.max_tokens {
        Some(n) => n,
        None => {
            let n = default_max(set, tries);
            chat.body
                .insert("max_completion_tokens".to_owned(), n.into());
            chat.max_tokens = Some(n);
            n
        }
    };
    let choices = chat
        .body
        .get("n")
        .and_then(serde_json::Value::as_u64)
        .unwrap_or(1)
        .clamp(1, 128);
    let input = match raw > TOKENIZE_MAX {
        true => raw as u64,
        false => ::ai::tokens::estimate_input(chat),
    };
    input.saturating_add(output.saturating_mul(choices))
}

/// The `max_tokens` a call reserves when it sets none: its first target's.
fn default_max(set: &AiSet, tries: &[Try]) -> u64 {
    tries
        .first()
        .and_then(|t| set.providers.get(t.provider))
        .map_or(4096, |p| p.spec.default_max_tokens)
}

/// The request body as a call.
fn parse(set: &AiSet, endpoint: Endpoint, raw: &[u8]) -> Result<Call, ::ai::ApiError> {
    match endpoint {
        Endpoint::Template(t) => match set.config.templates.get(t) {
            Some(t) => t.0.render(raw).map(Call::Chat),
            None => Err(::ai::ApiError::new(500, "server_error", "template missing")),
        },
        Endpoint::Embeddings => {
            let v: serde_json::Value = serde_json::from_slice(raw)
                .map_err(|_| ::ai::ApiError::invalid("body", "the body is not a JSON object"))?;
            let serde_json::Value::Object(map) = v else {
                return Err(::ai::ApiError::invalid(
                    "body",
                    "the body is not a JSON object",
                ));
            };
            let model = match map.get("model").and_then(|m| m.as_str()) {
                Some(m) if ::ai::chat::is_model_name(m) => m.to_owned(),
                _ => {
                    return Err(::ai::ApiError::invalid(
                        "model",
                        "`model` is required: visible characters, no spaces",
                    ))
                }
            };
            Ok(Call::Embeddings(map, model))
        }
        Endpoint::Messages => ::ai::messages::parse_request(raw).map(Call::Chat),
        _ => ::ai::ChatRequest::parse(raw).map(Call::Chat),
    }
}

/// Tries in turn until one answers; relays that answer.
async fn tries_in_turn(
    c: &mut Client,
    ctx: &ShardCtx,
    req: &AiRequest<'_>,
    set: &AiSet,
    (call, tries): (&Call, &[Try]),
    trace: &mut AiTrace,
    started: std::time::Instant,
) -> Next {
    let mut refused: Option<::ai::ApiError> = None;
    let mut skip: Option<usize> = None;
    for t in tries {
        let Some(p) = set.providers.get(t.provider) else {
            continue;
        };
        // A provider that timed out is not asked again with another key.
        if skip == Some(t.provider) {
            continue;
        }
        let out = match call.encode(&p.spec, &t.model) {
            Ok(o) => o,
            // This provider cannot take the request (an image URL for
            // Gemini): another target may.
            Err(e) => {
                refused.get_or_insert(e);
                continue;
            }
        };
        let here = (t.provider as u16, t.key as u16);
        match call::attempt(ctx, req.view, p, t, &out).await {
            Ok(answer) => match answered(c, ctx, req, (call, p), answer, trace, started).await {
                Ok(next) => {
                    trace.provider = Some(here);
                    return next;
                }
                Err(why) => {
                    if why == "upstream_header_timeout" {
                        skip = Some(t.provider);
                    }
                    trace.failovers.push((here.0, here.1, why));
                }
            },
            Err(Failed::Next(why)) => {
                if why == "upstream_header_timeout" {
                    skip = Some(t.provider);
                }
                trace.failovers.push((here.0, here.1, why));
            }
            Err(Failed::Final(answer)) => {
                let (head, up) = *answer;
                trace.provider = Some(here);
                trace.usage_known = true;
                let status = head.status();
                let a = call::Answer { head, up };
                let body = relay::whole(ctx, a, p.spec.idle_timeout)
                    .await
                    .unwrap_or_default();
                let e = ::ai::decode_error(p.spec.kind, status, &body);
                return reply::error(c, ctx, req, &e).await;
            }
        }
    }
    let e = match (refused, trace.failovers.is_empty()) {
        (Some(e), true) => e,
        _ => exhausted(set, tries, trace),
    };
    reply::error(c, ctx, req, &e).await
}

/// Relays the answer of the try that succeeded.
async fn answered(
    c: &mut Client,
    ctx: &ShardCtx,
    req: &AiRequest<'_>,
    (call, p): (&Call, &crate::snapshot::ai::Provider),
    answer: call::Answer,
    trace: &mut AiTrace,
    started: std::time::Instant,
) -> Result<Next, &'static str> {
    c.trace.upstream = Some(answer.up.addr);
    c.trace.upstream_status = Some(answer.head.status());
    let id = format!("chatcmpl-{}", String::from_utf8_lossy(req.id));
    let created = crate::limit::unix_now();
    let idle = p.spec.idle_timeout;
    if let Call::Chat(chat) = call {
        if chat.stream {
            let tr = ::ai::StreamTranslator::new(
                p.spec.kind,
                &chat.model,
                &id,
                created,
                chat.include_usage,
            );
            let tr = match req.front.get() {
                Front::OpenAi => relay::Translator::OpenAi(tr),
                Front::Anthropic => relay::Translator::messages(tr, &chat.model, &id),
            };
            let keep = trace.bodies.is_some();
            let spec = &p.spec;
            let waits = (
                [spec.first_byte_timeout, idle, spec.stream_timeout],
                started,
                keep,
            );
            let s = match relay::stream(c, ctx, req, answer, tr, waits).await {
                relay::Stream::Relayed(s) => s,
                relay::Stream::NotStarted(why) => return Err(why),
            };
            trace.usage = s.usage;
            trace.usage_known = s.complete;
            trace.first_token = s.first_frame;
            if let Some(b) = &mut trace.bodies {
                b.1 = s.kept.into();
            }
            return Ok(s.next);
        }
    }
    trace.first_token = Some(crate::clock::now().saturating_duration_since(started));
    let body = match relay::whole(ctx, answer, idle).await {
        Ok(b) => b,
        Err(e) => {
            let e = ::ai::ApiError::new(
                502,
                "upstream_error",
                format!("the provider's answer failed: {}", e.as_str()),
            );
            return Ok(reply::error(c, ctx, req, &e).await);
        }
    };
    let decoded = match call {
        Call::Chat(chat) => ::ai::decode_response(p.spec.kind, &body, &chat.model, &id, created)
            .and_then(|(out, usage)| match req.front.get() {
                Front::OpenAi => Ok((out, usage)),
                Front::Anthropic => {
                    ::ai::messages::encode_response(&out, &chat.model).map(|(out, _)| (out, usage))
                }
            }),
        Call::Embeddings(..) => embeddings_usage(&body),
    };
    match decoded {
        Ok((out, usage)) => {
            trace.usage = usage;
            trace.usage_known = usage.total() > 0;
            if let Some(b) = &mut trace.bodies {
                b.1 = super::bodies::keep(&out);
            }
            Ok(reply::json(c, ctx, req, 200, &[], &out).await)
        }
        Err(e) => Ok(reply::error(c, ctx, req, &e).await),
    }
}

/// An embeddings answer passes as it is; its usage is read.
fn embeddings_usage(body: &[u8]) -> Result<(Vec<u8>, ::ai::Usage), ::ai::ApiError> {
    let v: serde_json::Value = serde_json::from_slice(body)
        .map_err(|_| ::ai::ApiError::new(502, "upstream_error", "malformed provider response"))?;
    Ok((body.to_vec(), ::ai::Usage::from_openai(&v["usage"])))
}

/// The error when no try answered: every key resting (`429`, with the
/// soonest `Retry-After`), the last failure a timeout (`504`), else `502`.
fn exhausted(set: &AiSet, tries: &[Try], trace: &AiTrace) -> ::ai::ApiError {
    let now = call::now_ms();
    if tries.is_empty() || trace.failovers.iter().all(|f| f.2 == "429") {
        let mut mine: Vec<usize> = tries.iter().map(|t| t.provider).collect();
        mine.dedup();
        let soonest = set
            .providers
            .iter()
            .enumerate()
            .filter(|(i, _)| mine.contains(i) || tries.is_empty())
            .flat_map(|(_, p)| &p.keys)
            .map(|k| {
                k.state
                    .cool_until
                    .load(std::sync::atomic::Ordering::Relaxed)
            })
            .filter(|&u| u > now)
            .min();
        let mut e = ::ai::ApiError::new(
            429,
            "rate_limit_error",
            "every provider key for this model is rate limited",
        );
        e.retry_after = Some(soonest.map_or(1, |u| (u - now).div_ceil(1000)).max(1));
        if tries.is_empty() && soonest.is_none() {
            e = ::ai::ApiError::new(503, "server_error", "no usable provider key for this model");
            e.retry_after = Some(1);
        }
        return e;
    }
    match trace.failovers.last().map(|f| f.2) {
        Some("upstream_header_timeout") => {
            ::ai::ApiError::new(504, "timeout_error", "the provider did not answer in time")
        }
        _ => ::ai::ApiError::new(502, "upstream_error", "no provider answered"),
    }
}

/// Millionths of a dollar for `u` at `price` (per million tokens).
fn cost_of(price: &tuning::Price, u: &::ai::Usage) -> u64 {
    let fresh = u.input.saturating_sub(u.cached);
    let sum = u128::from(fresh) * u128::from(price.input)
        + u128::from(u.cached) * u128::from(price.cached)
        + u128::from(u.output) * u128::from(price.output);
    u64::try_from(sum / 1_000_000).unwrap_or(u64::MAX)
}

/// Answers a body that could not be read.
async fn body_error(
    c: &mut Client,
    ctx: &ShardCtx,
    req: &AiRequest<'_>,
    e: body::BodyError,
) -> Next {
    let (status, kind, message) = match e {
        body::BodyError::TooLarge => (
            413,
            "invalid_request_error",
            "the request body is too large",
        ),
        body::BodyError::Malformed => (
            400,
            "invalid_request_error",
            "the request body's framing is invalid",
        ),
        body::BodyError::Timeout => (
            408,
            "invalid_request_error",
            "the request body did not arrive in time",
        ),
        body::BodyError::Closed => return Next::Close,
    };
    let e = ::ai::ApiError::new(status, kind, message);
    reply::error(c, ctx, req, &e).await.min_with(Next::Close)
}
