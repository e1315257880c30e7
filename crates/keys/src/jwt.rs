//! JWTs carrying an API key: signed with the key's secret (HS256, HS384, HS512), naming the key in
//! `clientId`, `client_id`, `cid` or `iss`, with Otoroshi's rules: 10 s leeway on `exp`, `nbf` and
//! `iat`; an http(s) `aud` must prefix the request URL; `xsrfToken` must equal `X-XSRF-TOKEN`;
//! optional maximum lifespan and request binding (`httpPath`, `httpVerb`, `httpHost`).
//! `alg: none` and every other algorithm are refused, as is a `crit` header (no extension is
//! implemented, so none can be understood).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, DecodingKey};
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

/// The claims the rules read; every other claim is skipped, not built into a map. Each is kept as
/// JSON: a claim of an unexpected type is ignored (or, for `exp` and `nbf`, refused), not an error.
#[derive(Deserialize)]
struct Claims {
    #[serde(rename = "clientId")]
    client_id_camel: Option<Value>,
    client_id: Option<Value>,
    cid: Option<Value>,
    iss: Option<Value>,
    exp: Option<Value>,
    nbf: Option<Value>,
    iat: Option<Value>,
    aud: Option<Value>,
    #[serde(rename = "xsrfToken")]
    xsrf_token: Option<Value>,
    #[serde(rename = "httpPath")]
    http_path: Option<Value>,
    #[serde(rename = "httpVerb")]
    http_verb: Option<Value>,
    #[serde(rename = "httpHost")]
    http_host: Option<Value>,
}

#[derive(Deserialize)]
struct Head {
    alg: Algorithm,
    /// Extensions the token says must be understood (RFC 7515 §4.1.11): none is, so any refuses.
    crit: Option<Value>,
}

/// A token read once: its parts and claims, before the key (and so the secret) is known.
pub struct Token<'a> {
    header: &'a str,
    /// `header.payload`, what the signature covers.
    signed: &'a str,
    signature: &'a str,
    claims: Claims,
}

fn decode_json<T: serde::de::DeserializeOwned>(part: &str) -> Option<T> {
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).ok()?).ok()
}

/// Splits `token` and reads its claims, without verifying it (that needs the key's secret).
pub fn read(token: &str) -> Option<Token<'_>> {
    let (signed, signature) = token.rsplit_once('.')?;
    let (header, payload) = signed.split_once('.')?;
    Some(Token {
        header,
        signed,
        signature,
        claims: decode_json(payload)?,
    })
}

impl Token<'_> {
    /// The client id the token names: its first naming claim that is text.
    pub fn client_id(&self) -> Option<&str> {
        let c = &self.claims;
        [&c.client_id_camel, &c.client_id, &c.cid, &c.iss]
            .into_iter()
            .find_map(|v| v.as_ref()?.as_str())
    }
}

/// Whether `token` is signed with one of `secrets` and passes every claim rule.
pub(crate) fn verify(
    token: &Token<'_>,
    secrets: &[&str],
    cfg: &JwtExtractor,
    req: &RequestFacts<'_>,
    now_s: i64,
) -> bool {
    if !cfg.secret_signed {
        return false;
    }
    let Some(Head { alg, crit: None }) = decode_json(token.header) else {
        return false;
    };
    if !matches!(alg, Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512) {
        return false;
    }
    let signed = secrets.iter().any(|secret| {
        let key = DecodingKey::from_secret(secret.as_bytes());
        jsonwebtoken::crypto::verify(token.signature, token.signed.as_bytes(), &key, alg)
            .unwrap_or(false)
    });
    signed && claims_pass(&token.claims, cfg, req, now_s)
}

fn text(v: &Option<Value>) -> Option<&str> {
    v.as_ref().and_then(Value::as_str)
}

fn claims_pass(c: &Claims, cfg: &JwtExtractor, req: &RequestFacts<'_>, now_s: i64) -> bool {
    let leeway = LEEWAY_S as i64;
    // `exp` and `nbf` must be whole seconds when present.
    let seconds = |v: &Option<Value>| match v {
        None => Some(None),
        Some(v) => v.as_u64().map(|n| Some(n.min(i64::MAX as u64) as i64)),
    };
    let (Some(exp), Some(nbf)) = (seconds(&c.exp), seconds(&c.nbf)) else {
        return false;
    };
    if exp.is_some_and(|exp| exp < now_s - leeway) || nbf.is_some_and(|nbf| nbf > now_s + leeway) {
        return false;
    }
    let num = |v: &Option<Value>| v.as_ref().and_then(Value::as_i64);
    if num(&c.iat).is_some_and(|iat| iat > now_s + leeway) {
        return false;
    }
    if let Some(max) = cfg.max_jwt_lifespan_sec {
        match (num(&c.iat), num(&c.exp)) {
            (Some(iat), Some(exp)) if exp - iat <= max as i64 => {}
            _ => return false,
        }
    }
    if let Some(aud) = text(&c.aud)
        && (aud.starts_with("http://") || aud.starts_with("https://"))
        && !req.url.starts_with(aud)
    {
        return false;
    }
    if let Some(xsrf) = text(&c.xsrf_token)
        && req.xsrf_header != Some(xsrf)
    {
        return false;
    }
    if cfg.include_request_attrs {
        let same = |claim: &Option<Value>, actual: &str| {
            text(claim).is_some_and(|v| v.eq_ignore_ascii_case(actual))
        };
        if !(same(&c.http_path, req.path)
            && same(&c.http_verb, req.method)
            && same(&c.http_host, req.host))
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
        let id =
            |claims: &str| read(&token(claims)).and_then(|t| t.client_id().map(str::to_string));
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
        assert!(read("not-a-token").is_none());
        assert!(
            read(&format!("e30.{}", URL_SAFE_NO_PAD.encode("[]"))).is_none(),
            "claims not an object"
        );
    }

    fn signed(claims: serde_json::Value, secret: &str) -> String {
        let key = jsonwebtoken::EncodingKey::from_secret(secret.as_bytes());
        jsonwebtoken::encode(&jsonwebtoken::Header::default(), &claims, &key).unwrap()
    }

    fn passes(token: &str, secrets: &[&str], now_s: i64) -> bool {
        let facts = RequestFacts {
            method: "GET",
            host: "h",
            path: "/",
            url: "http://h/",
            xsrf_header: None,
        };
        read(token).is_some_and(|t| verify(&t, secrets, &JwtExtractor::default(), &facts, now_s))
    }

    #[test]
    fn any_current_secret_verifies_and_time_claims_follow_the_leeway() {
        let now = 1_700_000_000;
        let ok = signed(serde_json::json!({"iss": "k"}), "new");
        assert!(passes(&ok, &["old", "new"], now), "second secret");
        assert!(!passes(&ok, &["old"], now), "wrong secret");
        let tampered = format!("{}x", ok);
        assert!(!passes(&tampered, &["new"], now));
        let with = |claims| signed(claims, "s");
        assert!(passes(
            &with(serde_json::json!({"exp": now - 10})),
            &["s"],
            now
        ));
        assert!(!passes(
            &with(serde_json::json!({"exp": now - 11})),
            &["s"],
            now
        ));
        assert!(passes(
            &with(serde_json::json!({"nbf": now + 10})),
            &["s"],
            now
        ));
        assert!(!passes(
            &with(serde_json::json!({"nbf": now + 11})),
            &["s"],
            now
        ));
        assert!(!passes(
            &with(serde_json::json!({"iat": now + 11})),
            &["s"],
            now
        ));
        assert!(
            !passes(&with(serde_json::json!({"exp": "soon"})), &["s"], now),
            "exp not a number"
        );
        assert!(
            !passes(&with(serde_json::json!({"nbf": 1.5})), &["s"], now),
            "nbf not whole"
        );
        let none = format!(
            "{}.{}.",
            URL_SAFE_NO_PAD.encode(r#"{"alg":"none"}"#),
            URL_SAFE_NO_PAD.encode("{}")
        );
        assert!(!passes(&none, &["s"], now), "alg none");
        let header = jsonwebtoken::Header {
            crit: Some(vec!["exp-ext".into()]),
            ..Default::default()
        };
        let crit = jsonwebtoken::encode(
            &header,
            &serde_json::json!({"iss": "k"}),
            &jsonwebtoken::EncodingKey::from_secret(b"s"),
        )
        .unwrap();
        assert!(
            !passes(&crit, &["s"], now),
            "an extension that must be understood"
        );
    }
}
