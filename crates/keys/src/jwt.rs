//! JWTs carrying an API key: signed with the key's secret (HS256, HS384, HS512), naming the key in
//! `clientId`, `client_id`, `cid` or `iss`, with Otoroshi's rules: 10 s leeway on `exp`, `nbf` and
//! `iat`; an http(s) `aud` must prefix the request URL; `xsrfToken` must equal `X-XSRF-TOKEN`;
//! optional maximum lifespan and request binding (`httpPath`, `httpVerb`, `httpHost`).
//! `alg: none` and every other algorithm are refused.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use serde_json::Value;

use crate::config::JwtExtractor;

const LEEWAY_S: u64 = 10;

/// What a token may be bound to in the request.
pub struct RequestFacts<'a> {
    pub method: &'a str,
    pub host: &'a str,
    pub path: &'a str,
    /// `scheme://host/path?query`, for `aud` checks.
    pub url: &'a str,
    pub xsrf_header: Option<&'a str>,
}

/// The claims that may name the key; every other claim is skipped, not built into a map.
#[derive(Deserialize)]
struct Names {
    #[serde(rename = "clientId")]
    client_id_camel: Option<Value>,
    client_id: Option<Value>,
    cid: Option<Value>,
    iss: Option<Value>,
}

/// The client id a token names, read without verifying it (verification needs the key's secret).
pub(crate) fn client_id(token: &str) -> Option<String> {
    let payload = token.split('.').nth(1)?;
    let names: Names =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload.trim_end_matches('=')).ok()?)
            .ok()?;
    [names.client_id_camel, names.client_id, names.cid, names.iss]
        .into_iter()
        .find_map(|c| match c {
            Some(Value::String(id)) => Some(id),
            _ => None,
        })
}

/// Whether `token` is signed with one of `secrets` and passes every claim rule.
pub(crate) fn verify(
    token: &str,
    secrets: &[&str],
    cfg: &JwtExtractor,
    req: &RequestFacts<'_>,
    now_s: i64,
) -> bool {
    if !cfg.secret_signed {
        return false;
    }
    let Ok(header) = jsonwebtoken::decode_header(token) else {
        return false;
    };
    if !matches!(
        header.alg,
        Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512
    ) {
        return false;
    }
    let mut validation = Validation::new(header.alg);
    validation.leeway = LEEWAY_S;
    validation.required_spec_claims.clear();
    validation.validate_exp = true;
    validation.validate_nbf = true;
    validation.validate_aud = false;
    let claims = secrets.iter().find_map(|secret| {
        jsonwebtoken::decode::<Value>(
            token,
            &DecodingKey::from_secret(secret.as_bytes()),
            &validation,
        )
        .ok()
        .map(|data| data.claims)
    });
    let Some(claims) = claims else {
        return false;
    };
    claims_pass(&claims, cfg, req, now_s)
}

fn claims_pass(claims: &Value, cfg: &JwtExtractor, req: &RequestFacts<'_>, now_s: i64) -> bool {
    let num = |c: &str| claims.get(c).and_then(Value::as_i64);
    let text = |c: &str| claims.get(c).and_then(Value::as_str);
    if num("iat").is_some_and(|iat| iat > now_s + LEEWAY_S as i64) {
        return false;
    }
    if let Some(max) = cfg.max_jwt_lifespan_sec {
        match (num("iat"), num("exp")) {
            (Some(iat), Some(exp)) if exp - iat <= max as i64 => {}
            _ => return false,
        }
    }
    if let Some(aud) = text("aud")
        && (aud.starts_with("http://") || aud.starts_with("https://"))
        && !req.url.starts_with(aud)
    {
        return false;
    }
    if let Some(xsrf) = text("xsrfToken")
        && req.xsrf_header != Some(xsrf)
    {
        return false;
    }
    if cfg.include_request_attrs {
        let same =
            |claim: &str, actual: &str| text(claim).is_some_and(|v| v.eq_ignore_ascii_case(actual));
        if !(same("httpPath", req.path)
            && same("httpVerb", req.method)
            && same("httpHost", req.host))
        {
            return false;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(claims: &str) -> String {
        format!("e30.{}.sig", URL_SAFE_NO_PAD.encode(claims))
    }

    #[test]
    fn the_client_id_comes_from_the_first_naming_claim_that_is_text() {
        let id = |claims: &str| client_id(&token(claims));
        assert_eq!(
            id(r#"{"iss":"i","cid":"c","clientId":"k"}"#),
            Some("k".into())
        );
        assert_eq!(id(r#"{"iss":"i","client_id":"c"}"#), Some("c".into()));
        assert_eq!(
            id(r#"{"clientId":42,"iss":"i","x":{"deep":[1]}}"#),
            Some("i".into())
        );
        assert_eq!(id(r#"{"sub":"s"}"#), None);
        assert_eq!(client_id("not-a-token"), None);
    }
}
