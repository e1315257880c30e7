//! What changes between the client's request and the upstream's, and back: the path (strip,
//! root, rewrite), hop-by-hop headers, `X-Forwarded-*`.

use std::net::IpAddr;

use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use komainu_runtime::CompiledRoute;

/// Headers meaningful for one connection only (RFC 9110 §7.6.1), never forwarded.
const HOP_BY_HOP: [HeaderName; 8] = [
    header::CONNECTION,
    HeaderName::from_static("keep-alive"),
    header::PROXY_AUTHENTICATE,
    header::PROXY_AUTHORIZATION,
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
];

/// Removes hop-by-hop headers, including those the `Connection` header names.
pub(crate) fn strip_hop_by_hop(headers: &mut HeaderMap) {
    let named: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|n| HeaderName::try_from(n.trim()).ok())
        .collect();
    for n in named.iter().chain(HOP_BY_HOP.iter()) {
        headers.remove(n);
    }
    headers.remove("proxy-connection");
}

/// Sets `X-Forwarded-For` (appending the client), `-Proto` and `-Host`.
pub(crate) fn add_forwarded(
    headers: &mut HeaderMap,
    client: IpAddr,
    https: bool,
    host: Option<HeaderValue>,
) {
    let xff = HeaderName::from_static("x-forwarded-for");
    let value = match headers.get(&xff).and_then(|v| v.to_str().ok()) {
        Some(previous) => format!("{previous}, {client}"),
        None => client.to_string(),
    };
    if let Ok(v) = HeaderValue::try_from(value) {
        headers.insert(xff, v);
    }
    let proto = if https { "https" } else { "http" };
    headers.insert("x-forwarded-proto", HeaderValue::from_static(proto));
    if let Some(h) = host {
        headers.insert("x-forwarded-host", h);
    }
}

/// `path` without its first `n` segments; empty when nothing is left.
fn after_segments(path: &str, n: usize) -> &str {
    let mut seen = 0;
    let bytes = path.as_bytes();
    let mut i = 0;
    while i < bytes.len() && seen < n {
        while i < bytes.len() && bytes[i] == b'/' {
            i += 1;
        }
        if i == bytes.len() {
            break;
        }
        while i < bytes.len() && bytes[i] != b'/' {
            i += 1;
        }
        seen += 1;
    }
    &path[i..]
}

fn join(root: &str, rest: &str) -> String {
    let root = root.trim_end_matches('/');
    match (root.is_empty(), rest.is_empty()) {
        (true, true) => "/".to_string(),
        (_, true) => root.to_string(),
        _ if rest.starts_with('/') => format!("{root}{rest}"),
        _ => format!("{root}/{rest}"),
    }
}

/// The path and query sent upstream for `path` (the client's) on `route`.
pub(crate) fn upstream_path(route: &CompiledRoute, path: &str, query: Option<&str>) -> String {
    let mut target = if route.rewrite {
        let mut root = route.root.clone();
        for (name, value) in route.path_params(path) {
            root = root.replace(&format!("${{req.pathparams.{name}}}"), value);
        }
        root
    } else if route.strip_path {
        join(&route.root, after_segments(path, route.depth()))
    } else {
        join(&route.root, path)
    };
    if let Some(q) = query {
        target.push('?');
        target.push_str(q);
    }
    target
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_are_skipped_keeping_the_rest() {
        assert_eq!(after_segments("/v1/users/42", 2), "/42");
        assert_eq!(after_segments("/v1/users", 2), "");
        assert_eq!(after_segments("/v1/users/", 2), "/");
        assert_eq!(after_segments("/x", 0), "/x");
        assert_eq!(join("/", "/42"), "/42");
        assert_eq!(join("/api", "/42"), "/api/42");
        assert_eq!(join("/api/", ""), "/api");
        assert_eq!(join("/", ""), "/");
    }

    #[test]
    fn connection_named_headers_go_too() {
        let mut h = HeaderMap::new();
        h.insert(header::CONNECTION, "keep-alive, x-secret".parse().unwrap());
        h.insert("x-secret", "1".parse().unwrap());
        h.insert("x-kept", "1".parse().unwrap());
        h.insert(header::TRANSFER_ENCODING, "chunked".parse().unwrap());
        strip_hop_by_hop(&mut h);
        assert_eq!(h.len(), 1);
        assert!(h.contains_key("x-kept"));
    }
}
