//! The endpoints: each checks its input, then runs one store call in the
//! caller's scope on the blocking pool.

use access::{
    Action, Approval, AuthKind, Id, Page, Scope, ServiceSpec, Store, StoreError, SubState,
    Visibility,
};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::auth::{Caller, RootToken};
use crate::error::ApiError;
use crate::extract::{Body, PathParams as Path, Query};
use crate::OpenStore;

/// The API's state: how to reach the store, and the root token.
#[derive(Clone)]
pub(crate) struct App {
    open: OpenStore,
    /// Tells this API's connections from another's on a shared thread.
    id: u64,
    pub(crate) root: Option<RootToken>,
}

thread_local! {
    /// This blocking thread's connection, and the API it belongs to.
    static CONN: std::cell::RefCell<Option<(u64, Box<dyn Store>)>> =
        const { std::cell::RefCell::new(None) };
}

impl App {
    pub(crate) fn new(open: OpenStore, root: Option<RootToken>) -> App {
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
        let id = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        App { open, id, root }
    }

    /// Runs `f` on this blocking thread's connection to the store (opened
    /// on first use, dropped after a backend error so that the next call
    /// reconnects).
    pub(crate) async fn call<T: Send + 'static>(
        &self,
        f: impl FnOnce(&dyn Store) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, ApiError> {
        let (open, id) = (self.open.clone(), self.id);
        let run = move || {
            CONN.with_borrow_mut(|conn| {
                if conn.as_ref().is_none_or(|(owner, _)| *owner != id) {
                    *conn = Some((id, open()?));
                }
                let Some((_, store)) = conn.as_ref() else {
                    return Err(StoreError::Backend("no connection".into()));
                };
                let out = f(&**store);
                if matches!(out, Err(StoreError::Backend(_))) {
                    *conn = None;
                }
                out
            })
        };
        match tokio::task::spawn_blocking(run).await {
            Ok(r) => r.map_err(ApiError::from),
            Err(e) => Err(ApiError::Store(StoreError::Backend(e.to_string()))),
        }
    }
}

/// Every endpoint, under `/api/v1`.
pub(crate) fn router(app: App) -> Router {
    let v1 = Router::new()
        .route("/openapi.json", get(crate::openapi::document))
        .route("/teams", get(list_teams).post(create_team))
        .route(
            "/teams/{id}",
            get(get_team).put(rename_team).delete(delete_team),
        )
        .route("/teams/{id}/tokens", get(list_tokens).post(create_token))
        .route("/tokens/{id}", axum::routing::delete(delete_token))
        .route("/services", get(list_services).post(create_service))
        .route(
            "/services/{id}",
            get(get_service).put(update_service).delete(delete_service),
        )
        .route("/apps", get(list_apps).post(create_app))
        .route(
            "/apps/{id}",
            get(get_app).put(rename_app).delete(delete_app),
        )
        .route(
            "/apps/{id}/credentials",
            get(list_credentials).post(create_credential),
        )
        .route(
            "/credentials/{id}",
            axum::routing::delete(delete_credential),
        )
        .route("/subscriptions", get(list_subscriptions).post(apply))
        .route("/subscriptions/{id}/{action}", post(decide));
    Router::new()
        .nest("/api/v1", v1)
        .fallback(|| async { ApiError::NoEndpoint })
        .with_state(app)
}

/// `?after=ID&limit=N&team=ID`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct PageQuery {
    #[serde(default)]
    after: Id,
    limit: Option<u32>,
    team: Option<Id>,
}

impl PageQuery {
    fn page(&self) -> Page {
        Page {
            after: self.after,
            limit: self.limit.unwrap_or(Page::default().limit).clamp(1, 1000),
            team: self.team,
        }
    }
}

/// A page of a list, and where the next one starts.
fn listed<T: Serialize>(items: Vec<T>, id: impl Fn(&T) -> Id, page: Page) -> Response {
    let next = match items.len() >= page.limit as usize {
        true => items.last().map(&id),
        false => None,
    };
    Json(json!({ "items": items, "next_after": next })).into_response()
}

fn created<T: Serialize>(v: T) -> Response {
    (StatusCode::CREATED, Json(v)).into_response()
}

/// The team a new object goes to: given, or the caller's own.
fn team_for(scope: Scope, given: Option<Id>) -> Result<Id, ApiError> {
    match (given, scope) {
        (Some(t), _) | (None, Scope::Team(t)) => Ok(t),
        (None, Scope::Root) => Err(ApiError::field("team", "required with the root token")),
    }
}

// === teams and tokens ===

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewTeam {
    name: String,
}

async fn list_teams(
    State(app): State<App>,
    Caller(scope): Caller,
    Query(q): Query<PageQuery>,
) -> Result<Response, ApiError> {
    let page = q.page();
    let items = app.call(move |s| s.teams(scope, page)).await?;
    Ok(listed(items, |t| t.id, page))
}

async fn create_team(
    State(app): State<App>,
    Caller(scope): Caller,
    Body(b): Body<NewTeam>,
) -> Result<Response, ApiError> {
    Ok(created(
        app.call(move |s| s.create_team(scope, &b.name)).await?,
    ))
}

async fn get_team(
    State(app): State<App>,
    Caller(scope): Caller,
    Path(id): Path<Id>,
) -> Result<Response, ApiError> {
    Ok(Json(app.call(move |s| s.team(scope, id)).await?).into_response())
}

async fn rename_team(
    State(app): State<App>,
    Caller(scope): Caller,
    Path(id): Path<Id>,
    Body(b): Body<NewTeam>,
) -> Result<Response, ApiError> {
    Ok(Json(app.call(move |s| s.rename_team(scope, id, &b.name)).await?).into_response())
}

async fn delete_team(
    State(app): State<App>,
    Caller(scope): Caller,
    Path(id): Path<Id>,
) -> Result<StatusCode, ApiError> {
    app.call(move |s| s.delete_team(scope, id)).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn list_tokens(
    State(app): State<App>,
    Caller(scope): Caller,
    Path(team): Path<Id>,
) -> Result<Response, ApiError> {
    let items = app.call(move |s| s.tokens(scope, team)).await?;
    Ok(Json(json!({ "items": items, "next_after": null })).into_response())
}

async fn create_token(
    State(app): State<App>,
    Caller(scope): Caller,
    Path(team): Path<Id>,
) -> Result<Response, ApiError> {
    let (t, token) = app.call(move |s| s.create_token(scope, team)).await?;
    Ok(created(
        json!({ "id": t.id, "team": t.team, "shown": t.shown, "token": token }),
    ))
}

async fn delete_token(
    State(app): State<App>,
    Caller(scope): Caller,
    Path(id): Path<Id>,
) -> Result<StatusCode, ApiError> {
    app.call(move |s| s.delete_token(scope, id)).await?;
    Ok(StatusCode::NO_CONTENT)
}

// === services ===

/// A service as created or replaced.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ServiceBody {
    team: Option<Id>,
    name: String,
    #[serde(default = "public")]
    visibility: Visibility,
    #[serde(default = "required")]
    approval: Approval,
    #[serde(default = "key_only")]
    auth: Vec<AuthKind>,
    #[serde(default = "key_header")]
    key_header: String,
    key_query: Option<String>,
}

fn public() -> Visibility {
    Visibility::Public
}
fn required() -> Approval {
    Approval::Required
}
fn key_only() -> Vec<AuthKind> {
    vec![AuthKind::Key]
}
fn key_header() -> String {
    "x-api-key".to_owned()
}

impl ServiceBody {
    fn spec(self) -> ServiceSpec {
        ServiceSpec {
            name: self.name,
            visibility: self.visibility,
            approval: self.approval,
            auth: self.auth,
            key_header: self.key_header,
            key_query: self.key_query,
        }
    }
}

async fn list_services(
    State(app): State<App>,
    Caller(scope): Caller,
    Query(q): Query<PageQuery>,
) -> Result<Response, ApiError> {
    let page = q.page();
    let items = app.call(move |s| s.services(scope, page)).await?;
    Ok(listed(items, |s| s.id, page))
}

async fn create_service(
    State(app): State<App>,
    Caller(scope): Caller,
    Body(b): Body<ServiceBody>,
) -> Result<Response, ApiError> {
    let team = team_for(scope, b.team)?;
    let spec = b.spec();
    Ok(created(
        app.call(move |s| s.create_service(scope, team, &spec))
            .await?,
    ))
}

async fn get_service(
    State(app): State<App>,
    Caller(scope): Caller,
    Path(id): Path<Id>,
) -> Result<Response, ApiError> {
    Ok(Json(app.call(move |s| s.service(scope, id)).await?).into_response())
}

async fn update_service(
    State(app): State<App>,
    Caller(scope): Caller,
    Path(id): Path<Id>,
    Body(b): Body<ServiceBody>,
) -> Result<Response, ApiError> {
    if b.team.is_some() {
        return Err(ApiError::field(
            "team",
            "a service cannot move to another team",
        ));
    }
    let spec = b.spec();
    Ok(Json(
        app.call(move |s| s.update_service(scope, id, &spec))
            .await?,
    )
    .into_response())
}

async fn delete_service(
    State(app): State<App>,
    Caller(scope): Caller,
    Path(id): Path<Id>,
) -> Result<StatusCode, ApiError> {
    app.call(move |s| s.delete_service(scope, id)).await?;
    Ok(StatusCode::NO_CONTENT)
}

// === apps and credentials ===

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewApp {
    team: Option<Id>,
    name: String,
}

/// `{"kind": "key"}` or `{"kind": "basic", "username": .., "password": ..}`.
#[derive(Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
enum NewCredential {
    Key,
    Basic { username: String, password: String },
    Jwt(access::JwtSpec),
}

async fn list_apps(
    State(app): State<App>,
    Caller(scope): Caller,
    Query(q): Query<PageQuery>,
) -> Result<Response, ApiError> {
    let page = q.page();
    let items = app.call(move |s| s.apps(scope, page)).await?;
    Ok(listed(items, |a| a.id, page))
}

async fn create_app(
    State(app): State<App>,
    Caller(scope): Caller,
    Body(b): Body<NewApp>,
) -> Result<Response, ApiError> {
    let team = team_for(scope, b.team)?;
    Ok(created(
        app.call(move |s| s.create_app(scope, team, &b.name))
            .await?,
    ))
}

async fn get_app(
    State(app): State<App>,
    Caller(scope): Caller,
    Path(id): Path<Id>,
) -> Result<Response, ApiError> {
    Ok(Json(app.call(move |s| s.app(scope, id)).await?).into_response())
}

/// `{"name": ...}`: an app's new name.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AppName {
    name: String,
}

async fn rename_app(
    State(app): State<App>,
    Caller(scope): Caller,
    Path(id): Path<Id>,
    Body(b): Body<AppName>,
) -> Result<Response, ApiError> {
    Ok(Json(app.call(move |s| s.rename_app(scope, id, &b.name)).await?).into_response())
}

async fn delete_app(
    State(app): State<App>,
    Caller(scope): Caller,
    Path(id): Path<Id>,
) -> Result<StatusCode, ApiError> {
    app.call(move |s| s.delete_app(scope, id)).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn list_credentials(
    State(app): State<App>,
    Caller(scope): Caller,
    Path(id): Path<Id>,
) -> Result<Response, ApiError> {
    let items = app.call(move |s| s.credentials(scope, id)).await?;
    Ok(Json(json!({ "items": items, "next_after": null })).into_response())
}

/// A new API key comes back once, in `key`; only its digest is kept.
async fn create_credential(
    State(app): State<App>,
    Caller(scope): Caller,
    Path(id): Path<Id>,
    Body(b): Body<NewCredential>,
) -> Result<Response, ApiError> {
    match b {
        NewCredential::Key => {
            let (cred, key) = app.call(move |s| s.add_key(scope, id)).await?;
            let mut v = serde_json::to_value(cred).unwrap_or_default();
            v["key"] = json!(key);
            Ok(created(v))
        }
        NewCredential::Basic { username, password } => {
            let add = move |s: &dyn Store| s.add_basic(scope, id, &username, &password);
            Ok(created(app.call(add).await?))
        }
        NewCredential::Jwt(spec) => Ok(created(
            app.call(move |s| s.add_jwt(scope, id, &spec)).await?,
        )),
    }
}

async fn delete_credential(
    State(app): State<App>,
    Caller(scope): Caller,
    Path(id): Path<Id>,
) -> Result<StatusCode, ApiError> {
    app.call(move |s| s.delete_credential(scope, id)).await?;
    Ok(StatusCode::NO_CONTENT)
}

// === subscriptions ===

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewSubscription {
    app: Id,
    service: Id,
}

/// `?state=pending&after=ID&limit=N&team=ID`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SubscriptionQuery {
    state: Option<SubState>,
    #[serde(default)]
    after: Id,
    limit: Option<u32>,
    team: Option<Id>,
}

async fn list_subscriptions(
    State(app): State<App>,
    Caller(scope): Caller,
    Query(q): Query<SubscriptionQuery>,
) -> Result<Response, ApiError> {
    let page = PageQuery {
        after: q.after,
        limit: q.limit,
        team: q.team,
    }
    .page();
    let state = q.state;
    let items = app
        .call(move |s| s.subscriptions(scope, state, page))
        .await?;
    Ok(listed(items, |s| s.id, page))
}

async fn apply(
    State(app): State<App>,
    Caller(scope): Caller,
    Body(b): Body<NewSubscription>,
) -> Result<Response, ApiError> {
    Ok(created(
        app.call(move |s| s.apply(scope, b.app, b.service)).await?,
    ))
}

async fn decide(
    State(app): State<App>,
    Caller(scope): Caller,
    Path((id, action)): Path<(Id, String)>,
) -> Result<Response, ApiError> {
    let action = match action.as_str() {
        "approve" => Action::Approve,
        "reject" => Action::Reject,
        "revoke" => Action::Revoke,
        _ => return Err(ApiError::NoEndpoint),
    };
    Ok(Json(app.call(move |s| s.decide(scope, id, action)).await?).into_response())
}
