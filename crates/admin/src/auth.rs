//! Admin credentials: bootstrapped once, checked on every `/api` and `/apis` call.
//!
//! Only a SHA-256 of the secret is kept (in memory and in the store); comparisons are constant-time.

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use komainu_model::random_alphanumeric;
use komainu_store::{Store, StoreResult};
use serde_json::json;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::Admin;
use crate::error::ApiError;

const META_KEY: &str = "admin_credentials";

/// The admin client id and the digest of its secret.
#[derive(Clone)]
pub struct AdminAuth {
    client_id: String,
    secret_sha256: [u8; 32],
}

fn digest(secret: &str) -> [u8; 32] {
    Sha256::digest(secret.as_bytes()).into()
}

impl AdminAuth {
    pub fn new(client_id: &str, secret: &str) -> Self {
        AdminAuth {
            client_id: client_id.to_string(),
            secret_sha256: digest(secret),
        }
    }

    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    /// Whether `id`/`secret` are the admin's, in time independent of how much of them matches.
    pub fn accepts(&self, id: &str, secret: &str) -> bool {
        let id_ok = digest(id).ct_eq(&digest(&self.client_id));
        let secret_ok = digest(secret).ct_eq(&self.secret_sha256);
        (id_ok & secret_ok).into()
    }

    /// Credentials from the environment when given; else those stored at first start; else a new
    /// pair, stored and printed once on standard error.
    pub async fn bootstrap(
        store: &dyn Store,
        from_env: Option<(String, String)>,
    ) -> StoreResult<Self> {
        if let Some((id, secret)) = from_env {
            return Ok(AdminAuth::new(&id, &secret));
        }
        if let Some(stored) = store.meta(META_KEY).await? {
            let id = stored["clientId"].as_str().unwrap_or_default();
            let hash = stored["secretSha256"].as_str().unwrap_or_default();
            if let Some(secret_sha256) = decode_hex(hash) {
                return Ok(AdminAuth {
                    client_id: id.to_string(),
                    secret_sha256,
                });
            }
            tracing::warn!("stored admin credentials are unreadable: generating new ones");
        }
        let id = random_alphanumeric(16);
        let secret = random_alphanumeric(64);
        let auth = AdminAuth::new(&id, &secret);
        let hash: String = auth
            .secret_sha256
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        store
            .set_meta(META_KEY, &json!({"clientId": id, "secretSha256": hash}))
            .await?;
        eprintln!(
            "\nkomainu: generated admin credentials (shown once; set KOMAINU_ADMIN_CLIENT_ID and \
             KOMAINU_ADMIN_CLIENT_SECRET to choose your own)\n  client id:     {id}\n  client secret: {secret}\n"
        );
        Ok(auth)
    }
}

fn decode_hex(s: &str) -> Option<[u8; 32]> {
    if s.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(s.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

/// `Authorization: Basic base64(id:secret)`, or `Otoroshi-Client-Id` + `Otoroshi-Client-Secret`.
fn presented(headers: &HeaderMap) -> Option<(String, String)> {
    let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    if let (Some(id), Some(secret)) = (text("otoroshi-client-id"), text("otoroshi-client-secret")) {
        return Some((id.to_string(), secret.to_string()));
    }
    let basic = text(header::AUTHORIZATION.as_str())?;
    let (scheme, encoded) = basic.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = String::from_utf8(STANDARD.decode(encoded.trim()).ok()?).ok()?;
    let (id, secret) = decoded.split_once(':')?;
    Some((id.to_string(), secret.to_string()))
}

/// Middleware refusing any call without the admin credentials.
pub async fn require(State(admin): State<Admin>, request: Request, next: Next) -> Response {
    match presented(request.headers()) {
        Some((id, secret)) if admin.auth.accepts(&id, &secret) => next.run(request).await,
        found => {
            let why = if found.is_some() {
                "bad admin credentials"
            } else {
                "missing admin credentials: use Basic auth or Otoroshi-Client-Id/Otoroshi-Client-Secret"
            };
            let mut response = ApiError::new(StatusCode::UNAUTHORIZED, why).into_response();
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"komainu admin\""),
            );
            response
        }
    }
}
