//! Finding credentials in a request, as seed 004 lists them, in Otoroshi's order: client id alone,
//! custom headers, JWT, Basic. Each found credential says which header carried it, so that the
//! plugin can strip the gateway's own headers and forward the standard ones.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use http::{HeaderMap, HeaderName, header};

use crate::Extractors;

/// Credentials found in a request.
#[derive(Debug, PartialEq, Eq)]
pub enum Presented {
    /// A client id without secret (only keys with `allowClientIdOnly` accept it).
    ClientId { id: String, strip: Vec<HeaderName> },
    /// A client id and secret.
    Secret {
        id: String,
        secret: String,
        strip: Vec<HeaderName>,
    },
    /// A JWT whose issuer (or `clientId` claim) names the key.
    Jwt {
        token: String,
        strip: Vec<HeaderName>,
    },
}

impl Presented {
    /// The headers to strip from the upstream request once the key has passed.
    pub fn into_strip(self) -> Vec<HeaderName> {
        match self {
            Presented::ClientId { strip, .. }
            | Presented::Secret { strip, .. }
            | Presented::Jwt { strip, .. } => strip,
        }
    }
}

/// The value of query parameter `name` (as written, not decoded); an empty value counts as absent.
pub fn query_param<'a>(q: Option<&'a str>, name: &str) -> Option<&'a str> {
    q?.split('&')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
        .filter(|v| !v.is_empty())
}

/// The value of cookie `name`; an empty value counts as absent.
pub fn cookie<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a str> {
    h.get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
        .filter(|v| !v.is_empty())
}

/// `Scheme value` → `value` when the scheme matches (case-insensitive); `value` alone is kept.
fn without_scheme<'a>(value: &'a str, scheme: &str) -> &'a str {
    match value.split_once(' ') {
        Some((s, rest)) if s.eq_ignore_ascii_case(scheme) => rest.trim(),
        _ => value,
    }
}

fn with_scheme<'a>(value: &'a str, scheme: &str) -> Option<&'a str> {
    match value.split_once(' ') {
        Some((s, rest)) if s.eq_ignore_ascii_case(scheme) => Some(rest.trim()),
        _ => None,
    }
}

fn decode_basic(encoded: &str) -> Option<(String, String)> {
    let mut id = String::from_utf8(STANDARD.decode(encoded.trim()).ok()?).ok()?;
    let colon = id.find(':')?;
    let secret = id[colon + 1..].to_string();
    id.truncate(colon);
    Some((id, secret))
}

fn value<'a>(h: &'a HeaderMap, name: Option<&HeaderName>) -> Option<&'a str> {
    h.get(name?)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
}

/// The name to strip from the upstream request (a valid one: it matched a header).
fn strip(name: Option<&HeaderName>) -> Vec<HeaderName> {
    name.cloned().into_iter().collect()
}

/// The client id and secret of an `Authorization: Basic ...` header.
pub fn basic_auth(h: &HeaderMap) -> Option<(String, String)> {
    value(h, Some(&header::AUTHORIZATION))
        .and_then(|v| with_scheme(v, "basic"))
        .and_then(decode_basic)
}

/// The first credentials `cfg` allows, or `None`.
pub fn extract(h: &HeaderMap, q: Option<&str>, cfg: &Extractors) -> Option<Presented> {
    let n = cfg.names();
    let (id_header, secret_header) = (n.client_id.as_ref(), n.client_secret.as_ref());
    let authorization = Some(&header::AUTHORIZATION);

    if cfg.client_id.enabled {
        let alone = value(h, id_header).filter(|_| value(h, secret_header).is_none());
        if let Some(id) = alone {
            return Some(Presented::ClientId {
                id: id.to_string(),
                strip: strip(id_header),
            });
        }
        let q_name = cfg.client_id.query_name.as_deref().unwrap_or("x-api-key");
        let c_name = cfg.client_id.header_name.as_deref().unwrap_or("x-api-key");
        if let Some(id) = value(h, n.api_key.as_ref())
            .or_else(|| query_param(q, q_name))
            .or_else(|| cookie(h, c_name))
        {
            return Some(Presented::ClientId {
                id: id.to_string(),
                strip: strip(n.api_key.as_ref()),
            });
        }
    }
    if cfg.custom_headers.enabled
        && let (Some(id), Some(secret)) = (value(h, id_header), value(h, secret_header))
    {
        let mut names = strip(id_header);
        names.extend(strip(secret_header));
        return Some(Presented::Secret {
            id: id.to_string(),
            secret: secret.to_string(),
            strip: names,
        });
    }
    if cfg.jwt.enabled {
        if let Some(v) = value(h, n.jwt.as_ref()) {
            return Some(Presented::Jwt {
                token: without_scheme(v, "bearer").to_string(),
                strip: strip(n.jwt.as_ref()),
            });
        }
        if let Some(token) = value(h, authorization).and_then(|v| with_scheme(v, "bearer")) {
            return Some(Presented::Jwt {
                token: token.to_string(),
                strip: Vec::new(),
            });
        }
        let c_name = cfg.jwt.cookie_name.as_deref().unwrap_or("access_token");
        let q_name = cfg.jwt.query_name.as_deref().unwrap_or("bearer_auth");
        if let Some(token) = cookie(h, c_name).or_else(|| query_param(q, q_name)) {
            return Some(Presented::Jwt {
                token: token.to_string(),
                strip: Vec::new(),
            });
        }
    }
    if cfg.basic.enabled {
        if let Some((id, secret)) =
            value(h, n.basic.as_ref()).and_then(|v| decode_basic(without_scheme(v, "basic")))
        {
            return Some(Presented::Secret {
                id,
                secret,
                strip: strip(n.basic.as_ref()),
            });
        }
        if let Some((id, secret)) = basic_auth(h) {
            return Some(Presented::Secret {
                id,
                secret,
                strip: Vec::new(),
            });
        }
        let q_name = cfg.basic.query_name.as_deref().unwrap_or("basic_auth");
        if let Some((id, secret)) = query_param(q, q_name).and_then(decode_basic) {
            return Some(Presented::Secret {
                id,
                secret,
                strip: Vec::new(),
            });
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(s: &str) -> HeaderName {
        HeaderName::try_from(s).unwrap()
    }

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        pairs
            .iter()
            .map(|(k, v)| (HeaderName::try_from(*k).unwrap(), v.parse().unwrap()))
            .collect()
    }

    #[test]
    fn each_way_of_presenting_a_key() {
        let cfg = Extractors::default();
        let basic = STANDARD.encode("id:secret");
        let secret = |strip: Vec<HeaderName>| {
            Some(Presented::Secret {
                id: "id".into(),
                secret: "secret".into(),
                strip,
            })
        };
        assert_eq!(
            extract(
                &headers(&[("otoroshi-authorization", &format!("Basic {basic}"))]),
                None,
                &cfg
            ),
            secret(vec![name("otoroshi-authorization")])
        );
        assert_eq!(
            extract(&headers(&[("otoroshi-authorization", &basic)]), None, &cfg),
            secret(vec![name("otoroshi-authorization")]),
            "Basic optional"
        );
        assert_eq!(
            extract(
                &headers(&[("authorization", &format!("Basic {basic}"))]),
                None,
                &cfg
            ),
            secret(vec![])
        );
        assert_eq!(
            extract(
                &headers(&[
                    ("otoroshi-client-id", "id"),
                    ("otoroshi-client-secret", "secret")
                ]),
                None,
                &cfg
            ),
            secret(vec![
                name("otoroshi-client-id"),
                name("otoroshi-client-secret")
            ])
        );
        let jwt = |strip: Vec<HeaderName>| {
            Some(Presented::Jwt {
                token: "a.b.c".into(),
                strip,
            })
        };
        assert_eq!(
            extract(&headers(&[("otoroshi-token", "Bearer a.b.c")]), None, &cfg),
            jwt(vec![name("otoroshi-token")])
        );
        assert_eq!(
            extract(&headers(&[("otoroshi-token", "a.b.c")]), None, &cfg),
            jwt(vec![name("otoroshi-token")]),
            "Bearer optional"
        );
        assert_eq!(
            extract(&headers(&[("authorization", "Bearer a.b.c")]), None, &cfg),
            jwt(vec![])
        );
        assert_eq!(
            extract(
                &headers(&[("cookie", "x=1; access_token=a.b.c")]),
                None,
                &cfg
            ),
            jwt(vec![])
        );
        assert_eq!(
            extract(&headers(&[("otoroshi-client-id", "id")]), None, &cfg),
            Some(Presented::ClientId {
                id: "id".into(),
                strip: vec![name("otoroshi-client-id")]
            })
        );
        assert_eq!(
            extract(&headers(&[]), Some("x-api-key=id"), &cfg),
            Some(Presented::ClientId {
                id: "id".into(),
                strip: vec![name("x-api-key")]
            })
        );
        assert_eq!(extract(&headers(&[]), None, &cfg), None);
    }

    #[test]
    fn cookies_and_query_parameters() {
        let h = headers(&[("cookie", "a=1; session-id=abc; b=2")]);
        assert_eq!(cookie(&h, "session-id"), Some("abc"));
        assert_eq!(cookie(&h, "c"), None);
        assert_eq!(
            query_param(Some("x=1&session-id=q"), "session-id"),
            Some("q")
        );
        assert_eq!(query_param(Some("x=1&y="), "y"), None);
        assert_eq!(query_param(None, "x"), None);
    }

    #[test]
    fn extractors_can_be_renamed_and_switched_off() {
        let cfg: Extractors = serde_json::from_value(serde_json::json!({
            "basic": {"enabled": false},
            "custom_headers": {"client_id_header_name": "x-id", "client_secret_header_name": "x-secret"}
        }))
        .unwrap();
        let basic = STANDARD.encode("id:secret");
        assert_eq!(
            extract(
                &headers(&[("authorization", &format!("Basic {basic}"))]),
                None,
                &cfg
            ),
            None
        );
        let found = extract(&headers(&[("x-id", "id"), ("x-secret", "s")]), None, &cfg);
        assert!(matches!(found, Some(Presented::Secret { .. })));
    }
}
