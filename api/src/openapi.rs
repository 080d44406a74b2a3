//! The OpenAPI 3.1 document of the API, built from one table of its
//! endpoints (which a test walks against the router, so that the document
//! never lists an endpoint that does not answer).

use axum::response::IntoResponse;
use axum::Json;
use serde_json::{json, Map, Value};

/// `(path, method, summary, request schema, response schema)`.
pub(crate) const ENDPOINTS: &[(&str, &str, &str, Option<&str>, &str)] = &[
    (
        "/teams",
        "get",
        "List the teams the token sees (?after=ID&limit=N)",
        None,
        "TeamList",
    ),
    (
        "/teams",
        "post",
        "Create a team (root only)",
        Some("NewTeam"),
        "Team",
    ),
    ("/teams/{id}", "get", "Read a team", None, "Team"),
    ("/teams/{id}", "put", "Rename a team (the root or the team)", Some("Name"), "Team"),
    (
        "/teams/{id}",
        "delete",
        "Delete a team and all it owns (root only)",
        None,
        "Empty",
    ),
    (
        "/teams/{id}/tokens",
        "get",
        "List a team's API tokens",
        None,
        "TokenList",
    ),
    (
        "/teams/{id}/tokens",
        "post",
        "Issue a team token (shown once)",
        None,
        "NewToken",
    ),
    (
        "/tokens/{id}",
        "delete",
        "Revoke a team token",
        None,
        "Empty",
    ),
    (
        "/services",
        "get",
        "List the services the token sees (?team=ID&after=ID&limit=N)",
        None,
        "ServiceList",
    ),
    (
        "/services",
        "post",
        "Create a service",
        Some("ServiceBody"),
        "Service",
    ),
    ("/services/{id}", "get", "Read a service", None, "Service"),
    (
        "/services/{id}",
        "put",
        "Replace a service's settings",
        Some("ServiceBody"),
        "Service",
    ),
    (
        "/services/{id}",
        "delete",
        "Delete a service and its subscriptions",
        None,
        "Empty",
    ),
    (
        "/apps",
        "get",
        "List the token's apps (?team=ID&after=ID&limit=N)",
        None,
        "AppList",
    ),
    ("/apps", "post", "Create an app", Some("NewApp"), "App"),
    ("/apps/{id}", "get", "Read an app", None, "App"),
    ("/apps/{id}", "put", "Rename an app", Some("Name"), "App"),
    (
        "/apps/{id}",
        "delete",
        "Delete an app with its credentials and subscriptions",
        None,
        "Empty",
    ),
    (
        "/apps/{id}/credentials",
        "get",
        "List an app's credentials (no secrets)",
        None,
        "CredentialList",
    ),
    (
        "/apps/{id}/credentials",
        "post",
        "Add an API key (shown once) or a Basic credential",
        Some("NewCredential"),
        "Credential",
    ),
    (
        "/credentials/{id}",
        "delete",
        "Delete a credential",
        None,
        "Empty",
    ),
    (
        "/subscriptions",
        "get",
        "List subscriptions of the token's apps and services (?state=pending&team=ID&after=ID&limit=N)",
        None,
        "SubscriptionList",
    ),
    (
        "/subscriptions",
        "post",
        "Apply for an app to use a service",
        Some("NewSubscription"),
        "Subscription",
    ),
    (
        "/subscriptions/{id}/{action}",
        "post",
        "approve, reject or revoke (the service's team)",
        None,
        "Subscription",
    ),
    ("/openapi.json", "get", "This document", None, "Any"),
];

/// `GET /api/v1/openapi.json`.
pub(crate) async fn document() -> impl IntoResponse {
    Json(build())
}

fn build() -> Value {
    let mut paths = Map::new();
    for (path, method, summary, request, response) in ENDPOINTS {
        let entry = paths.entry(*path).or_insert_with(|| json!({}));
        entry[*method] = operation(path, summary, *request, response);
    }
    json!({
        "openapi": "3.1.0",
        "info": { "title": "coregate management API", "version": "1" },
        "servers": [{ "url": "/api/v1" }],
        "security": [{ "bearer": [] }],
        "paths": paths,
        "components": {
            "securitySchemes": { "bearer": { "type": "http", "scheme": "bearer" } },
            "schemas": schemas(),
        },
    })
}

fn operation(path: &str, summary: &str, request: Option<&str>, response: &str) -> Value {
    let mut op = json!({
        "summary": summary,
        "responses": {
            "200": { "description": "OK", "content": { "application/json": { "schema": reference(response) } } },
            "400": error_response("A field is missing, unknown or of the wrong type; `field` names it"),
            "401": error_response("No valid bearer token"),
            "404": error_response("No such object, or one of another team"),
        },
    });
    let params: Vec<Value> = ["id", "action"]
        .iter()
        .filter(|p| path.contains(&format!("{{{p}}}")))
        .map(|p| json!({ "name": p, "in": "path", "required": true, "schema": { "type": if *p == "id" { "integer" } else { "string" } } }))
        .collect();
    if !params.is_empty() {
        op["parameters"] = json!(params);
    }
    if let Some(r) = request {
        op["requestBody"] = json!({ "required": true, "content": { "application/json": { "schema": reference(r) } } });
    }
    op
}

fn reference(name: &str) -> Value {
    json!({ "$ref": format!("#/components/schemas/{name}") })
}

fn error_response(text: &str) -> Value {
    json!({ "description": text, "content": { "application/json": { "schema": reference("Error") } } })
}

fn list(item: &str) -> Value {
    json!({ "type": "object", "properties": { "items": { "type": "array", "items": reference(item) }, "next_after": { "type": ["integer", "null"] } } })
}

fn schemas() -> Value {
    let id = json!({ "type": "integer" });
    let name = json!({ "type": "string", "minLength": 1, "maxLength": 128 });
    json!({
        "Any": {},
        "Empty": {},
        "Error": { "type": "object", "properties": { "error": { "type": "string" }, "message": { "type": "string" }, "field": { "type": ["string", "null"] } } },
        "Name": { "type": "object", "required": ["name"], "additionalProperties": false, "properties": { "name": name } },
        "NewTeam": { "type": "object", "required": ["name"], "additionalProperties": false, "properties": { "name": name } },
        "Team": { "type": "object", "properties": { "id": id, "name": name } },
        "TeamList": list("Team"),
        "Token": { "type": "object", "properties": { "id": id, "team": id, "shown": { "type": "string" } } },
        "NewToken": { "type": "object", "properties": { "id": id, "team": id, "shown": { "type": "string" }, "token": { "type": "string", "description": "Shown once" } } },
        "TokenList": list("Token"),
        "ServiceBody": { "type": "object", "required": ["name"], "additionalProperties": false, "properties": {
            "team": { "type": "integer", "description": "Required with the root token on create; never on update" },
            "name": name,
            "visibility": { "enum": ["public", "team"], "default": "public" },
            "approval": { "enum": ["required", "auto"], "default": "required" },
            "auth": { "type": "array", "items": { "enum": ["key", "jwt", "basic"] }, "default": ["key"] },
            "key_header": { "type": "string", "default": "x-api-key" },
            "key_query": { "type": ["string", "null"] } } },
        "Service": { "type": "object", "properties": { "id": id, "team": id, "name": name, "visibility": { "type": "string" }, "approval": { "type": "string" }, "auth": { "type": "array", "items": { "type": "string" } }, "key_header": { "type": "string" }, "key_query": { "type": ["string", "null"] } } },
        "ServiceList": list("Service"),
        "NewApp": { "type": "object", "required": ["name"], "additionalProperties": false, "properties": { "team": id, "name": name } },
        "App": { "type": "object", "properties": { "id": id, "team": id, "name": name } },
        "AppList": list("App"),
        "NewCredential": { "oneOf": [
            { "type": "object", "required": ["kind"], "additionalProperties": false, "properties": { "kind": { "const": "key" } } },
            { "type": "object", "required": ["kind", "username", "password"], "additionalProperties": false, "properties": { "kind": { "const": "basic" }, "username": name, "password": { "type": "string", "minLength": 1, "maxLength": 1024 } } },
            { "type": "object", "required": ["kind", "issuer", "algorithm"], "additionalProperties": false, "properties": { "kind": { "const": "jwt" }, "issuer": name, "audience": { "type": "string" }, "algorithm": { "enum": access::model::JWT_ALGORITHMS }, "jwks": { "type": "string", "description": "http(s):// URL or file:/path of a JWKS (asymmetric algorithms)" }, "secret": { "type": "string", "minLength": 32, "description": "HMAC secret (HS algorithms); never shown" } } } ] },
        "Credential": { "type": "object", "properties": { "id": id, "app": id, "kind": { "enum": ["key", "basic"] }, "shown": { "type": "string" }, "username": { "type": "string" }, "key": { "type": "string", "description": "A new key, shown once" } } },
        "CredentialList": list("Credential"),
        "NewSubscription": { "type": "object", "required": ["app", "service"], "additionalProperties": false, "properties": { "app": id, "service": id } },
        "Subscription": { "type": "object", "properties": { "id": id, "app": id, "service": id, "state": { "enum": ["pending", "approved", "rejected", "revoked"] } } },
        "SubscriptionList": list("Subscription"),
    })
}
