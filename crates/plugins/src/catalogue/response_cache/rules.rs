//! What a shared cache may keep and reuse (RFC 9111, as a gateway in front of many users must
//! read it): what identifies a response (the route, host, method, target and, unless the cache is
//! `public`, the consumer), which responses never go in (`no-store`, `private`, `no-cache`,
//! `Set-Cookie`, `Vary: *`), which requests never use it (credentials the gateway did not read:
//! an `Authorization` or a `Cookie` without an identified consumer), and how `Vary` splits a key.

use std::time::Duration;

use http::{HeaderMap, HeaderName, HeaderValue, Method, header};

/// Directives of a `Cache-Control` header field, lower case.
fn directives(headers: &HeaderMap) -> impl Iterator<Item = String> + '_ {
    headers
        .get_all(header::CACHE_CONTROL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|d| d.trim().to_ascii_lowercase())
}

/// How long a response may be kept (`None`: it may not be stored), given the cache's `ttl`.
pub fn storable_for(headers: &HeaderMap, ttl: Duration) -> Option<Duration> {
    if headers.contains_key(header::SET_COOKIE) {
        return None;
    }
    let mut keep = ttl;
    for d in directives(headers) {
        let (name, value) = d.split_once('=').unwrap_or((&d, ""));
        match name {
            "no-store" | "private" | "no-cache" => return None,
            "s-maxage" | "max-age" => {
                let secs: u64 = value.trim_matches('"').parse().ok()?;
                keep = keep.min(Duration::from_secs(secs));
            }
            _ => {}
        }
    }
    let vary_all = vary_names(headers).is_none();
    (!vary_all && !keep.is_zero()).then_some(keep)
}

/// The header names a response varies on; `None` for `Vary: *` (it varies on anything).
pub fn vary_names(headers: &HeaderMap) -> Option<Vec<HeaderName>> {
    let mut names = Vec::new();
    for value in headers.get_all(header::VARY).iter() {
        for name in value.to_str().unwrap_or("*").split(',') {
            let name = name.trim();
            if name == "*" {
                return None;
            }
            if let Ok(n) = HeaderName::from_bytes(name.as_bytes()) {
                names.push(n);
            }
        }
    }
    Some(names)
}

/// What a request sent for each header a response varies on.
pub fn vary_values(req: &HeaderMap, names: &[HeaderName]) -> Vec<Option<HeaderValue>> {
    names.iter().map(|n| req.get(n).cloned()).collect()
}

/// Whether a request may be answered from the cache and its response kept: it asks for nothing
/// else (`no-store`), and carries no credentials the gateway did not itself read.
pub fn request_may_share(headers: &HeaderMap, consumer: Option<&str>) -> bool {
    let private =
        headers.contains_key(header::AUTHORIZATION) || headers.contains_key(header::COOKIE);
    (consumer.is_some() || !private) && !directives(headers).any(|d| d == "no-store")
}

/// Whether the request asks for a fresh answer (`no-cache`): it is not answered from the cache.
pub fn wants_fresh(headers: &HeaderMap) -> bool {
    directives(headers).any(|d| d == "no-cache")
}

/// The key of a call: the route, the host, the method, the target, and the consumer.
pub fn key(
    route: &str,
    host: &str,
    method: &Method,
    target: &str,
    consumer: Option<&str>,
) -> String {
    format!(
        "{route}\u{0}{host}\u{0}{}\u{0}{target}\u{0}{}",
        method.as_str(),
        consumer.unwrap_or("")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        h
    }

    #[test]
    fn private_and_personal_responses_are_never_kept() {
        let ttl = Duration::from_secs(60);
        assert_eq!(storable_for(&headers(&[]), ttl), Some(ttl));
        for h in [
            ("cache-control", "private"),
            ("cache-control", "public, no-store"),
            ("cache-control", "No-Cache"),
            ("set-cookie", "session=1"),
            ("vary", "*"),
            ("cache-control", "max-age=0"),
        ] {
            assert_eq!(storable_for(&headers(&[h]), ttl), None, "{h:?}");
        }
        assert_eq!(
            storable_for(&headers(&[("cache-control", "public, s-maxage=5")]), ttl),
            Some(Duration::from_secs(5))
        );
    }

    #[test]
    fn credentials_the_gateway_did_not_read_keep_a_request_out() {
        assert!(request_may_share(&headers(&[]), None));
        assert!(!request_may_share(&headers(&[("cookie", "s=1")]), None));
        assert!(!request_may_share(
            &headers(&[("authorization", "Basic x")]),
            None
        ));
        assert!(request_may_share(
            &headers(&[("authorization", "Basic x")]),
            Some("key1")
        ));
        assert!(!request_may_share(
            &headers(&[("cache-control", "no-store")]),
            None
        ));
        assert_ne!(
            key("r", "a.example", &Method::GET, "/x", None),
            key("r", "b.example", &Method::GET, "/x", None)
        );
        assert_eq!(
            vary_names(&headers(&[("vary", "Accept, X-Lang")]))
                .unwrap()
                .len(),
            2
        );
    }
}
