//! HMACValidator: the call carries `Authorization: hmac algorithm="hmac-sha256", headers="Date
//! X-Nonce", signature="<base64>"` (or the header named by `authorizationHeader`, else
//! `Proxy-Authorization`), where the signature is the HMAC of the listed headers' values joined by
//! a space, keyed by `secret` (else the secret of the API key the call presented). Algorithms
//! HMAC-SHA256, -SHA384, -SHA512. Anything else is 400 `errors.bad.signature`.

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use http::request::Parts;
use http::{HeaderName, StatusCode, header};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use subtle::ConstantTimeEq;

use crate::config::ConfigError;
use crate::def::PluginDef;
use crate::{Outcome, Plugin, RequestCtx, config, gateway_error};

#[derive(Default, Deserialize, Serialize, JsonSchema)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
struct Config {
    secret: Option<String>,
    authorization_header: Option<String>,
}

struct HmacValidator {
    secret: Option<String>,
    header: Option<HeaderName>,
}

fn mac(algorithm: &str, secret: &[u8], data: &[u8]) -> Option<Vec<u8>> {
    macro_rules! sign {
        ($h:ty) => {{
            let mut m = Hmac::<$h>::new_from_slice(secret).ok()?;
            m.update(data);
            Some(m.finalize().into_bytes().to_vec())
        }};
    }
    match algorithm.to_ascii_uppercase().as_str() {
        "HMAC-SHA256" => sign!(sha2::Sha256),
        "HMAC-SHA384" => sign!(sha2::Sha384),
        "HMAC-SHA512" => sign!(sha2::Sha512),
        _ => None,
    }
}

/// Whether `authorization` is a valid signature of `req` with `secret`.
fn valid(authorization: &str, req: &Parts, secret: &str) -> bool {
    let params = authorization
        .trim()
        .strip_prefix("hmac ")
        .or_else(|| authorization.trim().strip_prefix("HMAC "))
        .unwrap_or(authorization);
    let mut algorithm = "HMAC-SHA256";
    let (mut names, mut signature) = ("", None);
    for part in params.split(',') {
        let Some((k, v)) = part.split_once('=') else {
            continue;
        };
        let v = v.trim().trim_matches('"');
        match k.trim() {
            "algorithm" => algorithm = v,
            "headers" => names = v,
            "signature" => signature = Some(v),
            _ => {}
        }
    }
    let Some(signature) = signature.and_then(|s| STANDARD.decode(s).ok()) else {
        return false;
    };
    let mut values = Vec::new();
    for name in names.split_whitespace() {
        match req.headers.get(name).and_then(|v| v.to_str().ok()) {
            Some(v) => values.push(v),
            None => return false,
        }
    }
    mac(algorithm, secret.as_bytes(), values.join(" ").as_bytes())
        .is_some_and(|expected| bool::from(expected.ct_eq(&signature)))
}

impl Plugin for HmacValidator {
    fn access(&self, req: &mut Parts, ctx: &mut RequestCtx) -> Outcome {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64);
        let secrets: Vec<String> = match (&self.secret, &ctx.apikey) {
            (Some(s), _) => vec![s.clone()],
            (None, Some(key)) => key.secrets(now).into_iter().map(str::to_string).collect(),
            (None, None) => Vec::new(),
        };
        let authorization = self
            .header
            .as_ref()
            .and_then(|h| req.headers.get(h))
            .or_else(|| req.headers.get(header::AUTHORIZATION))
            .or_else(|| req.headers.get(header::PROXY_AUTHORIZATION))
            .and_then(|v| v.to_str().ok());
        match authorization {
            Some(a) if secrets.iter().any(|s| valid(a, req, s)) => Outcome::Continue,
            _ => Outcome::Respond(gateway_error(
                StatusCode::BAD_REQUEST,
                "errors.bad.signature",
                "no valid HMAC signature",
                ctx.html,
            )),
        }
    }
}

fn build(config: &Value, _services: &crate::Services) -> Result<Arc<dyn Plugin>, ConfigError> {
    let cfg: Config = config::parse(config)?;
    let header = cfg
        .authorization_header
        .map(|h| {
            HeaderName::try_from(h)
                .map_err(|_| ConfigError::at("authorizationHeader", "not a header name"))
        })
        .transpose()?;
    Ok(Arc::new(HmacValidator {
        secret: cfg.secret.filter(|s| !s.is_empty()),
        header,
    }))
}

pub(crate) const PLUGIN: PluginDef = PluginDef {
    name: "HMACValidator",
    title: "HMAC access validator",
    description: "This plugin can be used to check if a HMAC signature is present and valid in Authorization header.",
    categories: &["AccessControl"],
    steps: &["ValidateAccess"],
    build,
    describe: config::describe::<Config>,
    inert: &[],
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_cover_the_listed_headers() {
        let (mut parts, _) = http::Request::get("/").body(()).unwrap().into_parts();
        parts
            .headers
            .insert("date", "Tue, 01 Dec 2026 10:00:00 GMT".parse().unwrap());
        let sig =
            STANDARD.encode(mac("HMAC-SHA256", b"k", b"Tue, 01 Dec 2026 10:00:00 GMT").unwrap());
        let auth = format!(r#"hmac algorithm="hmac-sha256", headers="Date", signature="{sig}""#);
        assert!(valid(&auth, &parts, "k"));
        assert!(!valid(&auth, &parts, "other"));
        assert!(!valid(&auth.replace("Date", "X-Missing"), &parts, "k"));
        assert!(!valid(&auth.replace("sha256", "sha1"), &parts, "k"));
    }
}
