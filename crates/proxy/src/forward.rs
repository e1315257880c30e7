//! What changes between the client's request and the upstream's, and back: the path (strip,
//! root, rewrite), hop-by-hop headers, `X-Forwarded-*`.

use std::net::SocketAddr;

use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use komainu_runtime::CompiledRoute;

const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
const X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");

/// The client end of a connection. Its address is formatted for `X-Forwarded-For` once per
/// connection, not once per request.
#[derive(Clone)]
pub struct Client {
    pub addr: SocketAddr,
    forwarded_for: HeaderValue,
}

impl Client {
    pub fn new(addr: SocketAddr) -> Self {
        let forwarded_for = HeaderValue::try_from(addr.ip().to_string())
            .expect("an IP address is a valid header value");
        Client {
            addr,
            forwarded_for,
        }
    }

    /// The client's IP address as text.
    pub fn ip_text(&self) -> &str {
        self.forwarded_for.to_str().unwrap_or_default()
    }
}

/// Headers meaningful for one connection only (RFC 9110 §7.6.1), never forwarded.
const HOP_BY_HOP: [HeaderName; 9] = [
    header::CONNECTION,
    HeaderName::from_static("keep-alive"),
    header::PROXY_AUTHENTICATE,
    header::PROXY_AUTHORIZATION,
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
    HeaderName::from_static("proxy-connection"),
];

/// Removes hop-by-hop headers, including those the `Connection` header names.
pub(crate) fn strip_hop_by_hop(headers: &mut HeaderMap) {
    // One pass over the message's few names marks the hop-by-hop ones present: only those are
    // removed (each removal hashes), and nothing is allocated.
    let mut present = 0u16;
    for name in headers.keys() {
        if let Some(i) = HOP_BY_HOP.iter().position(|h| h == name) {
            present |= 1 << i;
        }
    }
    if present == 0 {
        return;
    }
    let named: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|n| HeaderName::try_from(n.trim()).ok())
        .filter(|n| !HOP_BY_HOP.contains(n) && headers.contains_key(n))
        .collect();
    for (i, name) in HOP_BY_HOP.iter().enumerate() {
        if present & (1 << i) != 0 {
            headers.remove(name);
        }
    }
    for name in named {
        headers.remove(name);
    }
}

/// Sets `X-Forwarded-For` (appending the client), `-Proto` and `-Host`.
pub(crate) fn add_forwarded(
    headers: &mut HeaderMap,
    client: &Client,
    https: bool,
    host: Option<HeaderValue>,
) {
    let value = match headers.get(X_FORWARDED_FOR).and_then(|v| v.to_str().ok()) {
        Some(previous) => HeaderValue::try_from(format!("{previous}, {}", client.ip_text())).ok(),
        None => Some(client.forwarded_for.clone()),
    };
    if let Some(v) = value {
        headers.insert(X_FORWARDED_FOR, v);
    }
    let proto = if https { "https" } else { "http" };
    headers.insert(X_FORWARDED_PROTO, HeaderValue::from_static(proto));
    if let Some(h) = host {
        headers.insert(X_FORWARDED_HOST, h);
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
        h.insert("keep-alive", "timeout=5".parse().unwrap());
        h.insert("proxy-connection", "close".parse().unwrap());
        strip_hop_by_hop(&mut h);
        assert_eq!(h.len(), 1);
        assert!(h.contains_key("x-kept"));
    }
}
