//! Admin and security events: every successful change through the admin API, API keys created
//! and their secrets rotated, and failed admin sign-ins, sent to `--events` beside the gateway's.
//! A change's event names what changed in its `metadata`, as Otoroshi's `api.scala` does: the
//! entity's kind and id and, for a create or an update, the document as stored, secrets removed
//! (no field named like a secret, a password or a private key, at any depth, is ever part of an
//! event).

use std::net::IpAddr;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::extract::{Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::Admin;

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

fn event(kind: &str, audit: &str, fields: Value) -> Value {
    let ts = now_ms();
    let mut e = json!({
        "@type": kind,
        "@id": format!("{ts:x}{:08x}", rand_u32()),
        "@timestamp": ts,
        "@product": "komainu",
        "audit": audit,
    });
    if let (Some(e), Value::Object(f)) = (e.as_object_mut(), fields) {
        e.extend(f);
    }
    e
}

fn rand_u32() -> u32 {
    use std::hash::{BuildHasher, RandomState};
    RandomState::new().hash_one(std::time::Instant::now()) as u32
}

/// What a successful admin write was, from its method and path.
fn audit_of(method: &Method, path: &str, secret_sent: bool) -> &'static str {
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let on_keys =
        segments.iter().rev().nth(1) == Some(&"apikeys") || segments.last() == Some(&"apikeys");
    match (method, on_keys) {
        (&Method::POST, _) if segments.last() == Some(&"_rotate") => "APIKEY_SECRET_ROTATED",
        (&Method::POST, true) if segments.last() == Some(&"apikeys") => "APIKEY_CREATED",
        (&Method::PUT | &Method::PATCH | &Method::POST, true) if secret_sent => {
            "APIKEY_SECRET_ROTATED"
        }
        (&Method::DELETE, true) => "APIKEY_DELETED",
        _ => "CONFIG_CHANGED",
    }
}

/// Records every successful write (2xx to POST, PUT, PATCH, DELETE) as an `AdminApiEvent`.
pub async fn audit(State(admin): State<Admin>, request: Request, next: Next) -> Response {
    let Some(events) = admin.events.clone() else {
        return next.run(request).await;
    };
    let method = request.method().clone();
    if !matches!(
        method,
        Method::POST | Method::PUT | Method::PATCH | Method::DELETE
    ) {
        return next.run(request).await;
    }
    let path = request.uri().path().to_string();
    let ip = crate::caller::peer(&request);
    let user = crate::caller::presented(request.headers()).map(|(id, _)| id);
    // A key's new secret shows in the body; only whether it did is kept.
    let (request, secret_sent) = if path.contains("apikeys") && method != Method::DELETE {
        let (parts, body) = request.into_parts();
        let Ok(bytes) = axum::body::to_bytes(body, crate::body::ENTITY_LIMIT).await else {
            return crate::error::ApiError::new(
                axum::http::StatusCode::PAYLOAD_TOO_LARGE,
                "request body too large",
            )
            .into_response();
        };
        let sent = memchr::memmem::find(&bytes, b"clientSecret").is_some();
        (
            Request::from_parts(parts, axum::body::Body::from(bytes)),
            sent,
        )
    } else {
        (request, false)
    };
    let response = next.run(request).await;
    if !response.status().is_success() {
        return response;
    }
    let status = response.status().as_u16();
    let (response, stored) = read_json(response).await;
    let audit = audit_of(&method, &path, secret_sent);
    events.emit(&event(
        "AdminApiEvent",
        audit,
        json!({
            "action": format!("{method} {path}"),
            "method": method.as_str(),
            "path": path,
            "status": status,
            "user": user,
            "from": ip.to_string(),
            "metadata": changed(&method, &path, stored),
        }),
    ));
    response
}

/// The JSON body of a write's answer (the stored document), and the answer to send on.
async fn read_json(response: Response) -> (Response, Option<Value>) {
    let json = response
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if !json {
        return (response, None);
    }
    let (parts, body) = response.into_parts();
    // A large document (an OpenAPI specification) goes on untouched, its event without it.
    let size = axum::body::HttpBody::size_hint(&body).upper();
    if size.is_none_or(|n| n > crate::body::ENTITY_LIMIT as u64) {
        return (Response::from_parts(parts, body), None);
    }
    match axum::body::to_bytes(body, crate::body::ENTITY_LIMIT).await {
        Ok(bytes) => {
            let doc = serde_json::from_slice(&bytes).ok();
            (
                Response::from_parts(parts, axum::body::Body::from(bytes)),
                doc,
            )
        }
        Err(_) => (Response::from_parts(parts, axum::body::Body::empty()), None),
    }
}

/// What a write changed: the kind and id of the entity its path names and, unless it was
/// deleted, the document as stored, without its secrets.
fn changed(method: &Method, path: &str, stored: Option<Value>) -> Value {
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let (plural, id) = match segments.as_slice() {
        ["api", plural, rest @ ..] => (*plural, rest.first().copied()),
        ["apis", _, "v1", plural, rest @ ..] => (*plural, rest.first().copied()),
        _ => return Value::Null,
    };
    let Some(kind) = komainu_model::Kind::from_plural(plural) else {
        return Value::Null;
    };
    // A subscription's rotation answers (and changes) its key.
    let (kind, id) = if segments.last() == Some(&"_rotate") {
        (komainu_model::Kind::ApiKey, None)
    } else {
        (kind, id)
    };
    let id = id
        .filter(|i| !i.starts_with('_'))
        .map(str::to_string)
        .or_else(|| {
            stored
                .as_ref()
                .and_then(|d| kind.id_of(d))
                .map(str::to_string)
        });
    let mut meta = json!({"kind": kind.name(), "id": id});
    if *method != Method::DELETE
        && let Some(mut doc) = stored
    {
        without_secrets(&mut doc);
        meta["entity"] = doc;
    }
    meta
}

/// Removes, at any depth, every field whose name says it holds a secret, and every plugin's
/// config (a slot: an object naming its `plugin`), whose secrets have no telling names (Basic
/// auth users are `{"alice": "<password>"}`).
fn without_secrets(doc: &mut Value) {
    const SECRET: [&str; 6] = [
        "secret",
        "password",
        "privatekey",
        "passphrase",
        "token",
        "hash",
    ];
    match doc {
        Value::Object(map) => {
            if map.contains_key("plugin") {
                map.remove("config");
            }
            map.retain(|k, _| {
                let k = k.to_ascii_lowercase().replace(['_', '-'], "");
                !SECRET.iter().any(|s| k.contains(s))
            });
            map.values_mut().for_each(without_secrets);
        }
        Value::Array(items) => items.iter_mut().for_each(without_secrets),
        _ => {}
    }
}

/// A failed admin sign-in, as a security event (the client id presented, never a secret).
pub(crate) fn login_failed(admin: &Admin, ip: IpAddr, client_id: Option<&str>, locked: bool) {
    if let Some(events) = &admin.events {
        events.emit(&event(
            "AuditEvent",
            "ADMIN_LOGIN_FAILED",
            json!({
                "alert": locked.then_some("ADMIN_LOCKED_OUT"),
                "from": ip.to_string(),
                "user": client_id,
            }),
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_changes_event_names_the_entity_and_never_its_secrets() {
        let stored = json!({"clientId": "k1", "clientSecret": "s3cret", "name": "K",
                            "rotation": {"nextSecret": "n"},
                            "plugins": [{"plugin": "SimpleBasicAuth", "config": {"users": {"a": "p"}}}]});
        let meta = changed(&Method::POST, "/api/apikeys", Some(stored));
        assert_eq!(meta["kind"], "Apikey");
        assert_eq!(meta["id"], "k1");
        let text = meta.to_string();
        for secret in ["s3cret", "\"n\"", "\"p\""] {
            assert!(!text.contains(secret), "{text}");
        }
        assert_eq!(meta["entity"]["name"], "K");
        let deleted = changed(
            &Method::DELETE,
            "/apis/proxy.otoroshi.io/v1/routes/r1",
            None,
        );
        assert_eq!(deleted, json!({"kind": "Route", "id": "r1"}));
        assert_eq!(
            changed(&Method::POST, "/api/apis/a1/_publish", None)["id"],
            "a1"
        );
    }

    #[test]
    fn writes_are_named_by_what_they_change() {
        assert_eq!(
            audit_of(&Method::POST, "/api/apikeys", false),
            "APIKEY_CREATED"
        );
        assert_eq!(
            audit_of(&Method::POST, "/apis/apim.otoroshi.io/v1/apikeys", false),
            "APIKEY_CREATED"
        );
        assert_eq!(
            audit_of(&Method::PATCH, "/api/apikeys/k1", true),
            "APIKEY_SECRET_ROTATED"
        );
        assert_eq!(
            audit_of(&Method::PUT, "/api/apikeys/k1", false),
            "CONFIG_CHANGED"
        );
        assert_eq!(
            audit_of(&Method::DELETE, "/api/apikeys/k1", false),
            "APIKEY_DELETED"
        );
        assert_eq!(
            audit_of(&Method::PUT, "/api/routes/r1", false),
            "CONFIG_CHANGED"
        );
    }
}
