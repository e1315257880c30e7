//! Finding credentials in a request, as seed 004 lists them, in Otoroshi's order: client id alone,
//! custom headers, JWT, Basic. Each found credential says which header carried it, so that the
//! plugin can strip the gateway's own headers and forward the standard ones.

use base64::Engine;
use base64::engine::DecodePaddingMode;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use http::{HeaderMap, HeaderName, HeaderValue, header};
pub use komainu_http::{cookie, query_param};

use crate::Extractors;
use crate::config::HeaderNames;

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
    /// An Otoroshi bearer (`otoapk_<clientId>_<signature>`).
    OtoBearer {
        id: String,
        signature: String,
        strip: Vec<HeaderName>,
    },
}

impl Presented {
    /// The headers to strip from the upstream request once the key has passed.
    pub fn into_strip(self) -> Vec<HeaderName> {
        match self {
            Presented::ClientId { strip, .. }
            | Presented::Secret { strip, .. }
            | Presented::Jwt { strip, .. }
            | Presented::OtoBearer { strip, .. } => strip,
        }
    }
}

/// `Scheme value` → `value` when the scheme matches (case-insensitive), else `None`. Compares the
/// prefix in place: no search for the space.
fn with_scheme<'a>(value: &'a str, scheme: &str) -> Option<&'a str> {
    let (s, rest) = value.split_at_checked(scheme.len())?;
    (s.eq_ignore_ascii_case(scheme) && rest.starts_with(' ')).then(|| rest.trim())
}

/// `Scheme value` → `value` when the scheme matches; `value` alone is kept.
fn without_scheme<'a>(value: &'a str, scheme: &str) -> &'a str {
    with_scheme(value, scheme).unwrap_or(value)
}

/// Base64 with or without its `=` padding: Java's encoders and many clients leave it out, and
/// Otoroshi accepts both.
const LENIENT: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

fn decode_basic(encoded: &str) -> Option<(String, String)> {
    let mut id = String::from_utf8(LENIENT.decode(encoded.trim()).ok()?).ok()?;
    let colon = id.bytes().position(|b| b == b':')?;
    let secret = id[colon + 1..].to_string();
    id.truncate(colon);
    Some((id, secret))
}

/// A header's value as credentials read it: text, trimmed, not empty.
fn text(v: Option<&HeaderValue>) -> Option<&str> {
    v.and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
}

/// The name to strip from the upstream request (a valid one: it matched a header).
fn strip(name: Option<&HeaderName>) -> Vec<HeaderName> {
    name.cloned().into_iter().collect()
}

/// The client id and secret of an `Authorization: Basic ...` value.
fn basic_credentials(authorization: &str) -> Option<(String, String)> {
    with_scheme(authorization, "basic").and_then(decode_basic)
}

/// The client id and secret of an `Authorization: Basic ...` header.
pub fn basic_auth(h: &HeaderMap) -> Option<(String, String)> {
    text(h.get(header::AUTHORIZATION)).and_then(basic_credentials)
}

/// The headers credentials may come in, each the first of its name (as `HeaderMap::get` gives).
#[derive(Default)]
struct Seen<'a> {
    client_id: Option<&'a HeaderValue>,
    client_secret: Option<&'a HeaderValue>,
    api_key: Option<&'a HeaderValue>,
    jwt: Option<&'a HeaderValue>,
    basic: Option<&'a HeaderValue>,
    authorization: Option<&'a HeaderValue>,
    cookie: bool,
}

impl<'a> Seen<'a> {
    /// One pass over the request's few headers: cheaper than hashing each configured name, twice
    /// for some, as the precedence below would.
    fn scan(h: &'a HeaderMap, n: &HeaderNames) -> Self {
        fn first<'a>(
            slot: &mut Option<&'a HeaderValue>,
            wanted: Option<&HeaderName>,
            name: &HeaderName,
            v: &'a HeaderValue,
        ) {
            if slot.is_none() && wanted == Some(name) {
                *slot = Some(v);
            }
        }
        let mut seen = Seen::default();
        for (name, v) in h {
            if name == header::AUTHORIZATION {
                seen.authorization.get_or_insert(v);
            } else if name == header::COOKIE {
                seen.cookie = true;
            }
            first(&mut seen.client_id, n.client_id.as_ref(), name, v);
            first(&mut seen.client_secret, n.client_secret.as_ref(), name, v);
            first(&mut seen.api_key, n.api_key.as_ref(), name, v);
            first(&mut seen.jwt, n.jwt.as_ref(), name, v);
            first(&mut seen.basic, n.basic.as_ref(), name, v);
        }
        seen
    }
}

/// The first credentials `cfg` allows, or `None`. An Otoroshi bearer comes where a JWT or a lone
/// client id would (its `otoapk_` prefix tells it apart), or in cookie `bearer`.
pub fn extract(h: &HeaderMap, q: Option<&str>, cfg: &Extractors) -> Option<Presented> {
    let found = credentials(h, q, cfg);
    if !cfg.oto_bearer.enabled {
        return found;
    }
    let bearer = |value: &str, strip: Vec<HeaderName>| {
        crate::bearer::split(value).map(|(id, signature)| Presented::OtoBearer {
            id: id.to_string(),
            signature: signature.to_string(),
            strip,
        })
    };
    match found {
        Some(Presented::Jwt { token, strip }) if crate::bearer::is_bearer(&token) => {
            bearer(&token, strip)
        }
        Some(Presented::ClientId { id, strip }) if crate::bearer::is_bearer(&id) => {
            bearer(&id, strip)
        }
        None => cookie(h, "bearer")
            .filter(|v| crate::bearer::is_bearer(v))
            .and_then(|v| bearer(v, Vec::new())),
        other => other,
    }
}

fn credentials(h: &HeaderMap, q: Option<&str>, cfg: &Extractors) -> Option<Presented> {
    let n = cfg.names();
    let seen = Seen::scan(h, n);
    let (id, secret) = (text(seen.client_id), text(seen.client_secret));
    let authorization = text(seen.authorization);
    let cookie = |name: &str| if seen.cookie { cookie(h, name) } else { None };

    if cfg.client_id.enabled {
        if let Some(id) = id.filter(|_| secret.is_none()) {
            return Some(Presented::ClientId {
                id: id.to_string(),
                strip: strip(n.client_id.as_ref()),
            });
        }
        let q_name = cfg.client_id.query_name.as_deref().unwrap_or("x-api-key");
        let c_name = cfg.client_id.header_name.as_deref().unwrap_or("x-api-key");
        if let Some(id) = text(seen.api_key)
            .or_else(|| query_param(q, q_name))
            .or_else(|| cookie(c_name))
        {
            return Some(Presented::ClientId {
                id: id.to_string(),
                strip: strip(n.api_key.as_ref()),
            });
        }
    }
    if cfg.custom_headers.enabled
        && let (Some(id), Some(secret)) = (id, secret)
    {
        let mut names = strip(n.client_id.as_ref());
        names.extend(strip(n.client_secret.as_ref()));
        return Some(Presented::Secret {
            id: id.to_string(),
            secret: secret.to_string(),
            strip: names,
        });
    }
    if cfg.jwt.enabled {
        if let Some(v) = text(seen.jwt) {
            return Some(Presented::Jwt {
                token: without_scheme(v, "bearer").to_string(),
                strip: strip(n.jwt.as_ref()),
            });
        }
        if let Some(token) = authorization.and_then(|v| with_scheme(v, "bearer")) {
            return Some(Presented::Jwt {
                token: token.to_string(),
                strip: Vec::new(),
            });
        }
        let c_name = cfg.jwt.cookie_name.as_deref().unwrap_or("access_token");
        let q_name = cfg.jwt.query_name.as_deref().unwrap_or("bearer_auth");
        if let Some(token) = cookie(c_name).or_else(|| query_param(q, q_name)) {
            return Some(Presented::Jwt {
                token: token.to_string(),
                strip: Vec::new(),
            });
        }
    }
    if cfg.basic.enabled {
        if let Some((id, secret)) =
            text(seen.basic).and_then(|v| decode_basic(without_scheme(v, "basic")))
        {
            return Some(Presented::Secret {
                id,
                secret,
                strip: strip(n.basic.as_ref()),
            });
        }
        if let Some((id, secret)) = authorization.and_then(basic_credentials) {
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
    use base64::engine::general_purpose::{self, STANDARD};

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
    fn schemes_match_case_insensitively_and_whole() {
        assert_eq!(with_scheme("bAsIc  abc ", "basic"), Some("abc"));
        assert_eq!(with_scheme("Basic", "basic"), None);
        assert_eq!(with_scheme("Basicx abc", "basic"), None);
        assert_eq!(with_scheme("Bé abc", "basic"), None);
        assert_eq!(without_scheme("abc", "bearer"), "abc");
        assert_eq!(
            decode_basic(&STANDARD.encode("id:se:cret")),
            Some(("id".into(), "se:cret".into()))
        );
        assert_eq!(decode_basic(&STANDARD.encode("no-colon")), None);
        let unpadded = general_purpose::STANDARD_NO_PAD.encode("id:se");
        assert!(!unpadded.ends_with('='));
        assert_eq!(
            decode_basic(&unpadded),
            Some(("id".into(), "se".into())),
            "padding is optional"
        );
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
    fn the_first_header_of_a_name_counts_and_standard_names_can_be_configured() {
        let mut h = headers(&[("otoroshi-client-id", " ")]);
        h.append("otoroshi-client-id", "id".parse().unwrap());
        assert_eq!(
            extract(&h, None, &Extractors::default()),
            None,
            "first is blank"
        );
        let cfg: Extractors =
            serde_json::from_value(serde_json::json!({"jwt": {"header_name": "Authorization"}}))
                .unwrap();
        assert_eq!(
            extract(&headers(&[("authorization", "Bearer a.b.c")]), None, &cfg),
            Some(Presented::Jwt {
                token: "a.b.c".into(),
                strip: vec![header::AUTHORIZATION]
            })
        );
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
