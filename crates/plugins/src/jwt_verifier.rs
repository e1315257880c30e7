//! JWT verification with a verifier (`jwt` and `oauth2-remote` plans): the token is read where the
//! verifier says, its signature checked with an HMAC secret, an RSA/EC public key or a remote JWKS,
//! its `exp`/`nbf` with 10 s leeway, and the claims the verifier requires must be present.

use std::sync::Arc;

use http::request::Parts;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use komainu_keys::{cookie, query_param};
use komainu_model::{AlgoSettings, JwtVerifier, TokenSource};
use serde_json::Value;

use crate::Services;
use crate::jwks::{KeySet, Source};

const LEEWAY_S: u64 = 10;

enum Keys {
    Static(Algorithm, DecodingKey),
    Remote(Arc<KeySet>),
}

pub struct Verifier {
    source: TokenSource,
    keys: Keys,
    fields: Vec<(String, String)>,
    array_fields: Vec<(String, String)>,
    strict: bool,
}

/// The outcome of verifying a request.
pub enum Checked {
    Passed(Value),
    /// No token where the verifier looks (a pass when the verifier is not strict).
    Absent,
    Bad,
}

fn by_size(size: u16, algs: [Algorithm; 3]) -> Result<Algorithm, String> {
    match size {
        256 => Ok(algs[0]),
        384 => Ok(algs[1]),
        512 => Ok(algs[2]),
        other => Err(format!("unsupported key size {other}")),
    }
}

impl Verifier {
    pub fn build(v: &JwtVerifier, services: &Services) -> Result<Verifier, String> {
        use Algorithm::*;
        let keys = match &v.algo_settings {
            AlgoSettings::Hs {
                size,
                secret,
                base64,
            } => {
                let key = if *base64 {
                    DecodingKey::from_base64_secret(secret).map_err(|e| e.to_string())?
                } else {
                    DecodingKey::from_secret(secret.as_bytes())
                };
                Keys::Static(by_size(*size, [HS256, HS384, HS512])?, key)
            }
            AlgoSettings::Rs {
                size, public_key, ..
            } => Keys::Static(
                by_size(*size, [RS256, RS384, RS512])?,
                DecodingKey::from_rsa_pem(public_key.as_bytes()).map_err(|e| e.to_string())?,
            ),
            AlgoSettings::Es {
                size, public_key, ..
            } => {
                let alg = match size {
                    256 => ES256,
                    384 => ES384,
                    other => return Err(format!("unsupported EC key size {other}")),
                };
                let key =
                    DecodingKey::from_ec_pem(public_key.as_bytes()).map_err(|e| e.to_string())?;
                Keys::Static(alg, key)
            }
            AlgoSettings::Jwks {
                url,
                headers,
                timeout,
                ttl,
            } => Keys::Remote(services.jwks.set(Source {
                url: url.clone(),
                headers: headers.clone().into_iter().collect(),
                timeout_ms: *timeout,
                ttl_ms: *ttl,
            })),
        };
        let s = &v.strategy.verification_settings;
        Ok(Verifier {
            source: v.source.clone(),
            keys,
            fields: s.fields.clone().into_iter().collect(),
            array_fields: s.array_fields.clone().into_iter().collect(),
            strict: v.strict,
        })
    }

    fn token<'a>(&self, req: &'a Parts) -> Option<&'a str> {
        let token = match &self.source {
            TokenSource::InHeader { name, remove } => {
                let value = req.headers.get(name.as_str())?.to_str().ok()?.trim();
                match value.get(..remove.len()) {
                    Some(p) if !remove.is_empty() && p.eq_ignore_ascii_case(remove) => {
                        &value[remove.len()..]
                    }
                    _ => value,
                }
            }
            TokenSource::InQueryParam { name } => query_param(req.uri.query(), name)?,
            TokenSource::InCookie { name } => cookie(&req.headers, name)?,
        };
        Some(token.trim()).filter(|t| !t.is_empty())
    }

    /// Whether a missing token is refused.
    pub fn strict(&self) -> bool {
        self.strict
    }

    /// Whether the request carries a token where the verifier looks.
    pub fn has_token(&self, req: &Parts) -> bool {
        self.token(req).is_some()
    }

    /// The remote key set's first fetch, while it has not ended.
    pub fn first_fetch(&self) -> Option<impl std::future::Future<Output = ()> + Send + 'static> {
        match &self.keys {
            Keys::Remote(set) => set.first_fetch(),
            Keys::Static(..) => None,
        }
    }

    pub fn check(&self, req: &Parts) -> Checked {
        let Some(token) = self.token(req) else {
            return Checked::Absent;
        };
        // A `crit` header names extensions that must be understood: none is (RFC 7515 §4.1.11).
        let Ok(header) = jsonwebtoken::decode_header(token) else {
            return Checked::Bad;
        };
        if header.crit.is_some() {
            return Checked::Bad;
        }
        let claims = match &self.keys {
            Keys::Static(alg, key) if header.alg == *alg => decode(token, *alg, key),
            Keys::Static(..) => None,
            Keys::Remote(set) => {
                let keys = set.keys();
                let mut candidates = keys
                    .iter()
                    .filter(|k| header.kid.is_none() || k.kid == header.kid)
                    .filter(|k| k.alg.is_none_or(|a| a == header.alg))
                    .peekable();
                if candidates.peek().is_none() {
                    set.missing_key();
                }
                candidates.find_map(|k| decode(token, header.alg, &k.key))
            }
        };
        match claims {
            Some(c) if self.claims_match(&c) => Checked::Passed(c),
            _ => Checked::Bad,
        }
    }

    fn claims_match(&self, claims: &Value) -> bool {
        let has = |name: &str, expected: &str| match claims.get(name) {
            Some(Value::String(s)) => s == expected,
            Some(Value::Array(items)) => items.iter().any(|i| i.as_str() == Some(expected)),
            Some(Value::Number(n)) => n.to_string() == expected,
            Some(Value::Bool(b)) => b.to_string() == expected,
            _ => false,
        };
        self.fields.iter().all(|(k, v)| has(k, v))
            && self.array_fields.iter().all(|(k, v)| has(k, v))
    }
}

fn decode(token: &str, alg: Algorithm, key: &DecodingKey) -> Option<Value> {
    let mut validation = Validation::new(alg);
    validation.leeway = LEEWAY_S;
    validation.required_spec_claims.clear();
    validation.validate_exp = true;
    validation.validate_nbf = true;
    validation.validate_aud = false;
    jsonwebtoken::decode::<Value>(token, key, &validation)
        .ok()
        .map(|d| d.claims)
}
