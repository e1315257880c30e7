//! Admin credentials: bootstrapped once, checked on every `/api` and `/apis` call.
//!
//! Only a SHA-256 of the secret is kept (in memory and in the store); comparisons are constant-time.
//! Attempts are counted per source address ([`crate::lockout`]), so the secret cannot be guessed
//! at network speed.

use std::net::IpAddr;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use komainu_model::random_alphanumeric;
use komainu_store::{Store, StoreResult};
use serde_json::json;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::Admin;
use crate::caller::{peer, presented};
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

    /// How logs and events name the id a failed sign-in gave: as typed when it is a known admin
    /// id, else only a fingerprint of it (what is typed there is sometimes the secret).
    pub fn shown_id(&self, id: &str) -> String {
        if bool::from(digest(id).ct_eq(&digest(&self.client_id))) {
            return id.to_string();
        }
        let hash = digest(id);
        format!(
            "unknown (sha256:{})",
            hash[..4]
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<String>()
        )
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

/// A 429 telling the client when to try again.
pub(crate) fn too_many_attempts(wait: Duration) -> Response {
    let mut response = ApiError::new(
        StatusCode::TOO_MANY_REQUESTS,
        "too many failed sign-ins from this address: try again later",
    )
    .into_response();
    let secs = wait.as_secs().max(1);
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(secs));
    response
}

/// Marks a call made inside this process for a signed-in admin UI session: it carries no
/// credentials because the session was checked where the browser's request arrived. No request
/// read from a socket carries it.
#[derive(Clone, Copy, Debug)]
pub struct InProcess;

/// What a sign-in attempt from outside the REST API (the admin UI's form) came to.
pub enum SignIn {
    Accepted,
    Refused,
    /// Too many failures from this address: try again after this long.
    LockedOut(Duration),
}

impl Admin {
    /// Checks the admin credentials typed into a form, with the same per-address lockout and
    /// `LoginFailed` events as the REST API's.
    pub fn sign_in(&self, ip: IpAddr, id: &str, secret: &str) -> SignIn {
        let attempt = match self.lockout.attempt(ip) {
            Ok(a) => a,
            Err(wait) => return SignIn::LockedOut(wait),
        };
        if self.auth.accepts(id, secret) {
            attempt.succeeded();
            return SignIn::Accepted;
        }
        let shown = self.auth.shown_id(id);
        tracing::info!(%ip, client_id = %shown, "admin UI sign-in failed");
        let locked = attempt.failed();
        crate::audit::login_failed(self, ip, Some(&shown), locked.is_some());
        match locked {
            Some(wait) => SignIn::LockedOut(wait),
            None => SignIn::Refused,
        }
    }
}

/// Middleware refusing any call without the admin credentials.
pub async fn require(State(admin): State<Admin>, request: Request, next: Next) -> Response {
    if request.extensions().get::<InProcess>().is_some() {
        return next.run(request).await;
    }
    let ip = peer(&request);
    let attempt = match admin.lockout.attempt(ip) {
        Ok(a) => a,
        Err(wait) => return too_many_attempts(wait),
    };
    match presented(request.headers()) {
        Some((id, secret)) if admin.auth.accepts(&id, &secret) => {
            attempt.succeeded();
            next.run(request).await
        }
        found => {
            let why = if found.is_some() {
                "bad admin credentials"
            } else {
                "missing admin credentials: use Basic auth or Otoroshi-Client-Id/Otoroshi-Client-Secret"
            };
            if let Some((id, _)) = &found {
                let shown = admin.auth.shown_id(id);
                tracing::info!(%ip, client_id = %shown, "admin sign-in failed");
                let locked = attempt.failed();
                if let Some(wait) = locked {
                    tracing::warn!(%ip, lockout_s = wait.as_secs(), "admin sign-ins locked for this address after repeated failures");
                }
                crate::audit::login_failed(&admin, ip, Some(&shown), locked.is_some());
            }
            let mut response = ApiError::new(StatusCode::UNAUTHORIZED, why).into_response();
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"komainu admin\""),
            );
            response
        }
    }
}
