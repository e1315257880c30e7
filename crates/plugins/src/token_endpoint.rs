//! The client-credentials token endpoint of an API with an `oauth2-local` plan:
//! `POST /.well-known/otoroshi/oauth/token` on the API's domain.
//!
//! The client proves itself with the id and secret of a key authorized on the API (form or JSON
//! body fields `client_id` / `client_secret`, or Basic auth) and `grant_type=client_credentials`;
//! it gets `{access_token, token_type: "Bearer", expires_in}`. The token is a JWT signed (HS256)
//! with the key's secret and naming the key in `cid`, so the API's routes accept it as that key,
//! with the key's quotas and state. Refusals are OAuth2's: 400 `unsupported_grant_type`,
//! 401 `access_denied`.

use std::sync::Arc;

use http::request::Parts;
use http::{HeaderValue, Response, StatusCode, header};
use jsonwebtoken::{EncodingKey, Header};
use komainu_keys::{KeyService, basic_auth};
use serde_json::{Map, Value, json};

use crate::{Body, RequestCtx, full};

/// The path the endpoint answers on.
pub const TOKEN_PATH: &str = "/.well-known/otoroshi/oauth/token";
/// Largest body read.
pub const BODY_LIMIT: usize = 16 * 1024;

/// Something the gateway answers itself from a small request body, instead of a backend.
pub trait Endpoint: Send + Sync + 'static {
    fn respond(&self, req: &Parts, body: &[u8], ctx: &mut RequestCtx) -> Response<Body>;
}

pub struct TokenEndpoint {
    keys: Option<Arc<KeyService>>,
    lifetime_s: u64,
}

impl TokenEndpoint {
    pub fn new(keys: Option<Arc<KeyService>>, lifetime_ms: u64) -> Self {
        TokenEndpoint {
            keys,
            lifetime_s: (lifetime_ms / 1000).max(1),
        }
    }
}

fn answer(status: StatusCode, body: Value) -> Response<Body> {
    let mut resp = Response::new(full(body.to_string()));
    *resp.status_mut() = status;
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response<Body> {
    answer(
        status,
        json!({"error": error, "error_description": description}),
    )
}

/// The request's parameters: a JSON object or a form.
fn params(req: &Parts, body: &[u8]) -> Map<String, Value> {
    let json = req
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("json"));
    if json {
        return serde_json::from_slice(body).unwrap_or_default();
    }
    form_urlencoded::parse(body)
        .map(|(k, v)| (k.into_owned(), Value::String(v.into_owned())))
        .collect()
}

impl Endpoint for TokenEndpoint {
    fn respond(&self, req: &Parts, body: &[u8], ctx: &mut RequestCtx) -> Response<Body> {
        let p = params(req, body);
        let text = |k: &str| p.get(k).and_then(Value::as_str).map(str::to_string);
        if text("grant_type").as_deref() != Some("client_credentials") {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                "only grant_type=client_credentials is supported",
            );
        }
        let credentials = match (text("client_id"), text("client_secret")) {
            (Some(id), Some(secret)) => Some((id, secret)),
            _ => basic_auth(&req.headers),
        };
        let denied = || {
            oauth_error(
                StatusCode::UNAUTHORIZED,
                "access_denied",
                "Bad client credentials",
            )
        };
        let (Some(keys), Some((id, secret))) = (&self.keys, credentials) else {
            return denied();
        };
        let now_ms = keys.clock.now_ms();
        let index = keys.index();
        let Some(key) = index.keys.get(&id) else {
            return denied();
        };
        if !key.secret_matches(&secret, now_ms)
            || !key.usable(now_ms)
            || !key.authorized_on(&ctx.route, &index.groups)
        {
            return denied();
        }
        let now_s = now_ms / 1000;
        let mut expires = self.lifetime_s as i64;
        if let Some(until) = key.valid_until {
            expires = expires.min((until - now_ms) / 1000).max(1);
        }
        let scope = text("scope").or_else(|| key.meta("scope").map(str::to_string));
        let scheme = if ctx.https { "https" } else { "http" };
        let mut claims = json!({
            "iss": format!("{scheme}://{}", ctx.host),
            "sub": &*key.client_id,
            "cid": &*key.client_id,
            "iat": now_s,
            "nbf": now_s,
            "exp": now_s + expires,
            "jti": komainu_model::uuid(),
        });
        if let Some(s) = &scope {
            claims["scope"] = Value::String(s.clone());
        }
        let Ok(token) = jsonwebtoken::encode(
            &Header::default(),
            &claims,
            &EncodingKey::from_secret(key.secret().as_bytes()),
        ) else {
            return oauth_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "server_error",
                "cannot sign the token",
            );
        };
        let mut body =
            json!({"access_token": token, "token_type": "Bearer", "expires_in": expires});
        if let Some(s) = scope {
            body["scope"] = Value::String(s);
        }
        answer(StatusCode::OK, body)
    }
}
