//! JwtSigner: the upstream gets a token signed with a stored JWT verifier's key (HMAC secret, or
//! the RSA/EC `privateKey` of its `algoSettings`), put where the verifier reads tokens (header,
//! query parameter or cookie). Claims: `jti`, `iat`, `nbf`, `iss: Otoroshi`, `exp` (a minute),
//! `sub` (the API key's client id, else `anonymous`), `aud: backend`, then the verifier
//! strategy's `token` object (its string values are expressions; `{iat}`, `{nbf}`, `{exp}` are
//! replaced by those times). Config: `verifier`, `replace_if_present` (default true: a token
//! already there is replaced), `fail_if_present` (default true: a call already carrying a token is
//! refused with 400 `error.token.already.present`; Otoroshi's check is inverted here, and Komainu
//! does what the name says).

use std::sync::Arc;

use http::request::Parts;
use http::{HeaderValue, StatusCode, header};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use komainu_model::{AlgoSettings, JwtVerifier, TokenSource};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::config::ConfigError;
use crate::def::PluginDef;
use crate::expr::Template;
use crate::jwt_verifier::Verifier;
use crate::{Outcome, Plugin, RequestCtx, Services, config, gateway_error};

#[derive(Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct Config {
    #[serde(default)]
    verifier: Option<String>,
    #[serde(default = "yes")]
    replace_if_present: bool,
    #[serde(default = "yes")]
    fail_if_present: bool,
}

fn yes() -> bool {
    true
}

impl Default for Config {
    fn default() -> Self {
        serde_json::from_value(json!({})).expect("every field has a default")
    }
}

/// A claim of the verifier's token template.
enum Claim {
    Fixed(Value),
    Rendered(Template),
    Iat,
    Nbf,
    Exp,
}

struct Signer {
    source: TokenSource,
    reader: Verifier,
    alg: Algorithm,
    key: EncodingKey,
    claims: Vec<(String, Claim)>,
    replace: bool,
    fail_if_present: bool,
}

fn signing_key(v: &JwtVerifier) -> Result<(Algorithm, EncodingKey), String> {
    use Algorithm::*;
    let pick = |size: u16, algs: [Algorithm; 3]| match size {
        256 => Ok(algs[0]),
        384 => Ok(algs[1]),
        512 => Ok(algs[2]),
        other => Err(format!("unsupported key size {other}")),
    };
    match &v.algo_settings {
        AlgoSettings::Hs {
            size,
            secret,
            base64,
        } => Ok((
            pick(*size, [HS256, HS384, HS512])?,
            if *base64 {
                EncodingKey::from_base64_secret(secret).map_err(|e| e.to_string())?
            } else {
                EncodingKey::from_secret(secret.as_bytes())
            },
        )),
        AlgoSettings::Rs {
            size,
            private_key: Some(pem),
            ..
        } => Ok((
            pick(*size, [RS256, RS384, RS512])?,
            EncodingKey::from_rsa_pem(pem.as_bytes()).map_err(|e| e.to_string())?,
        )),
        AlgoSettings::Es {
            size,
            private_key: Some(pem),
            ..
        } => Ok((
            if *size == 384 { ES384 } else { ES256 },
            EncodingKey::from_ec_pem(pem.as_bytes()).map_err(|e| e.to_string())?,
        )),
        _ => Err("the verifier has no key to sign with (an HMAC secret or a privateKey)".into()),
    }
}

fn template(v: &JwtVerifier) -> Vec<(String, Claim)> {
    let Some(Value::Object(token)) = v.strategy.extra.get("token") else {
        return Vec::new();
    };
    token
        .iter()
        .map(|(k, value)| {
            let claim = match value.as_str() {
                Some("{iat}") => Claim::Iat,
                Some("{nbf}") => Claim::Nbf,
                Some("{exp}") => Claim::Exp,
                Some(s) if s.contains("${") => match Template::parse(s, k) {
                    Ok(t) => Claim::Rendered(t),
                    Err(_) => Claim::Fixed(value.clone()),
                },
                _ => Claim::Fixed(value.clone()),
            };
            (k.clone(), claim)
        })
        .collect()
}

fn bad_request(ctx: &RequestCtx, cause: &str, message: &str) -> Outcome {
    Outcome::Respond(gateway_error(
        StatusCode::BAD_REQUEST,
        cause,
        message,
        ctx.html,
    ))
}

impl Signer {
    fn token(&self, req: &Parts, ctx: &RequestCtx) -> Option<String> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let mut claims = Map::new();
        let sub = ctx
            .apikey
            .as_ref()
            .map_or("anonymous".to_string(), |k| k.client_id.to_string());
        for (k, v) in [
            ("jti", json!(komainu_model::uuid())),
            ("iat", json!(now)),
            ("nbf", json!(now)),
            ("iss", json!("Otoroshi")),
            ("exp", json!(now + 60)),
            ("sub", json!(sub)),
            ("aud", json!("backend")),
        ] {
            claims.insert(k.into(), v);
        }
        for (k, claim) in &self.claims {
            let value = match claim {
                Claim::Fixed(v) => v.clone(),
                Claim::Rendered(t) => json!(t.render(req, ctx)),
                Claim::Iat | Claim::Nbf => json!(now),
                Claim::Exp => json!(now + 60),
            };
            claims.insert(k.clone(), value);
        }
        jsonwebtoken::encode(&Header::new(self.alg), &claims, &self.key).ok()
    }
}

impl Plugin for Signer {
    fn transform_request(&self, req: &mut Parts, ctx: &mut RequestCtx) -> Outcome {
        if self.reader.has_token(req) {
            if self.fail_if_present {
                return bad_request(
                    ctx,
                    "error.token.already.present",
                    "the call already carries a token",
                );
            }
            if !self.replace {
                return Outcome::Continue;
            }
        }
        let Some(token) = self.token(req, ctx) else {
            return bad_request(ctx, "errors.proxy.error", "the token could not be signed");
        };
        match &self.source {
            TokenSource::InHeader { name, remove } => {
                if let (Ok(n), Ok(v)) = (
                    http::HeaderName::try_from(name.as_str()),
                    HeaderValue::try_from(format!("{remove}{token}")),
                ) {
                    req.headers.insert(n, v);
                }
            }
            TokenSource::InQueryParam { name } => {
                let kept: Vec<&str> = ctx
                    .query()
                    .unwrap_or("")
                    .split('&')
                    .filter(|kv| !kv.is_empty() && kv.split('=').next() != Some(name.as_str()))
                    .collect();
                let mut query = kept.join("&");
                if !query.is_empty() {
                    query.push('&');
                }
                query.push_str(&format!("{name}={token}"));
                ctx.set_query(Some(&query));
            }
            TokenSource::InCookie { name } => {
                if let Ok(v) = HeaderValue::try_from(format!("{name}={token}")) {
                    req.headers.append(header::COOKIE, v);
                }
            }
        }
        Outcome::Continue
    }
}

/// Refuses every call: what a signer whose verifier is gone or cannot sign does.
struct Broken(String);

impl Plugin for Broken {
    fn transform_request(&self, _req: &mut Parts, ctx: &mut RequestCtx) -> Outcome {
        bad_request(ctx, "errors.proxy.error", &self.0)
    }
}

fn build(config: &Value, services: &Services) -> Result<Arc<dyn Plugin>, ConfigError> {
    let cfg: Config = config::parse(config)?;
    let Some(id) = cfg.verifier else {
        return Ok(Arc::new(Broken("JwtSigner names no JWT verifier".into())));
    };
    let Some(stored) = &services.verifiers else {
        return Ok(Arc::new(Broken(String::new()))); // checking a config only
    };
    let Some(v) = stored.get(&id) else {
        tracing::warn!(verifier = %id, "JwtSigner names a JWT verifier that is not stored: its calls are refused");
        return Ok(Arc::new(Broken(format!("no JWT verifier \"{id}\""))));
    };
    let (alg, key) = match signing_key(v) {
        Ok(k) => k,
        Err(e) => {
            tracing::warn!(verifier = %id, error = %e, "JwtSigner cannot sign: its calls are refused");
            return Ok(Arc::new(Broken(e)));
        }
    };
    Ok(Arc::new(Signer {
        source: v.source.clone(),
        reader: Verifier::build(v, services).map_err(|e| ConfigError::at("verifier", e))?,
        alg,
        key,
        claims: template(v),
        replace: cfg.replace_if_present,
        fail_if_present: cfg.fail_if_present,
    }))
}

pub(crate) const PLUGIN: PluginDef = PluginDef {
    name: "JwtSigner",
    title: "Jwt signer",
    description: "This plugin can only generate token",
    categories: &["Transformations"],
    steps: &["ValidateAccess", "TransformRequest"],
    build,
    describe: config::describe::<Config>,
    inert: &[],
};
