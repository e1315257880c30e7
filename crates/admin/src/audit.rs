//! Admin and security events: every successful change through the admin API, API keys created
//! and their secrets rotated, and failed admin sign-ins, sent to `--events` beside the gateway's.
//! Secrets are never part of an event.

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
    let ip = crate::auth::peer(&request);
    let user = crate::auth::presented(request.headers()).map(|(id, _)| id);
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
    if response.status().is_success() {
        let audit = audit_of(&method, &path, secret_sent);
        events.emit(&event(
            "AdminApiEvent",
            audit,
            json!({
                "action": format!("{method} {path}"),
                "method": method.as_str(),
                "path": path,
                "status": response.status().as_u16(),
                "user": user,
                "from": ip.to_string(),
            }),
        ));
    }
    response
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
