//! What changes between the client's request and the upstream's, and back: the path (strip,
//! root, rewrite), hop-by-hop headers, `X-Forwarded-*`.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use ipnet::IpNet;
use komainu_http::Activity;
use komainu_runtime::CompiledRoute;
use komainu_tls::PeerChain;

const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
const X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");
const X_REAL_IP: HeaderName = HeaderName::from_static("x-real-ip");
const FORWARDED: HeaderName = HeaderName::from_static("forwarded");

/// The client end of a connection. Its address is formatted for `X-Forwarded-For` once per
/// connection, not once per request.
#[derive(Clone)]
pub struct Client {
    pub addr: SocketAddr,
    forwarded_for: HeaderValue,
    /// What the connection is doing (shared with its guard).
    pub(crate) activity: Arc<Activity>,
    /// Whether the connection is TLS.
    pub tls: bool,
    /// The client certificates the TLS listener verified.
    pub(crate) certs: Option<Arc<PeerChain>>,
    pub(crate) lease: Lease,
}

/// What outlives a request on a connection that is upgraded: the listener's drain signal, and
/// the connection's place among the open ones (held while any clone lives).
#[derive(Clone)]
pub(crate) struct Lease {
    pub stop: tokio::sync::watch::Receiver<bool>,
    pub place: Arc<dyn Send + Sync>,
}

impl Client {
    pub(crate) fn new(
        addr: SocketAddr,
        activity: Arc<Activity>,
        tls: bool,
        certs: Option<Arc<PeerChain>>,
        lease: Lease,
    ) -> Self {
        let forwarded_for = HeaderValue::try_from(addr.ip().to_string())
            .expect("an IP address is a valid header value");
        Client {
            addr,
            forwarded_for,
            activity,
            tls,
            certs,
            lease,
        }
    }
}

/// Who the client really is: the socket peer, unless the peer is a trusted proxy, which then says
/// (the right-most address of `X-Forwarded-For` that is not itself trusted, and the scheme of
/// `X-Forwarded-Proto`).
pub(crate) struct Origin {
    pub ip: IpAddr,
    pub https: bool,
    /// `X-Forwarded-For` to send upstream.
    forwarded_for: HeaderValue,
    /// Whether the peer is trusted: its `X-Real-IP` and `Forwarded` are passed on.
    trusted: bool,
}

/// The networks whose `X-Forwarded-*` headers are believed (`--trusted-proxies`).
#[derive(Clone, Debug, Default)]
pub struct TrustedProxies(pub Vec<IpNet>);

fn unmapped(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

impl Origin {
    /// A call the portal makes for a developer at `ip` (`komainu_http::trial`): that address,
    /// believed as no proxy's headers are.
    pub(crate) fn vouched(ip: IpAddr) -> Origin {
        Origin {
            ip,
            https: false,
            forwarded_for: HeaderValue::try_from(ip.to_string())
                .expect("an IP address is a valid header value"),
            trusted: false,
        }
    }
}

impl TrustedProxies {
    fn trusts(&self, ip: IpAddr) -> bool {
        let ip = unmapped(ip);
        self.0.iter().any(|n| n.contains(&ip))
    }

    pub(crate) fn origin(&self, headers: &HeaderMap, client: &Client, tls: bool) -> Origin {
        let peer = unmapped(client.addr.ip());
        if self.0.is_empty() || !self.trusts(peer) {
            return Origin {
                ip: peer,
                https: tls,
                forwarded_for: client.forwarded_for.clone(),
                trusted: false,
            };
        }
        let chain: Vec<&str> = headers
            .get_all(X_FORWARDED_FOR)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .collect();
        let mut ip = peer;
        for hop in chain.iter().rev() {
            match hop.parse::<IpAddr>() {
                Ok(addr) => {
                    ip = unmapped(addr);
                    if !self.trusts(ip) {
                        break;
                    }
                }
                // Not an address: nothing left of it can be believed.
                Err(_) => break,
            }
        }
        let https = match headers.get(X_FORWARDED_PROTO).and_then(|v| v.to_str().ok()) {
            Some(p) => p
                .rsplit(',')
                .next()
                .is_some_and(|p| p.trim().eq_ignore_ascii_case("https")),
            None => tls,
        };
        let forwarded_for = if chain.is_empty() {
            client.forwarded_for.clone()
        } else {
            HeaderValue::try_from(format!("{}, {}", chain.join(", "), peer))
                .unwrap_or_else(|_| client.forwarded_for.clone())
        };
        Origin {
            ip,
            https,
            forwarded_for,
            trusted: true,
        }
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

/// Whether a `TE` header asks for trailers (gRPC's `te: trailers`).
fn wants_trailers(headers: &HeaderMap) -> bool {
    headers.get_all(header::TE).iter().any(|v| {
        v.to_str().is_ok_and(|v| {
            v.split(',').any(|t| {
                t.split(';')
                    .next()
                    .unwrap_or("")
                    .trim()
                    .eq_ignore_ascii_case("trailers")
            })
        })
    })
}

/// Removes hop-by-hop headers, including those the `Connection` header names; `TE: trailers`
/// alone is kept (RFC 9113 §8.2.2 allows it on HTTP/2, and gRPC servers require it).
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
    let trailers = present & (1 << 4) != 0 && wants_trailers(headers);
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
    if trailers {
        headers.insert(header::TE, HeaderValue::from_static("trailers"));
    }
}

/// What an untrusted peer said about itself beyond `X-Forwarded-*` goes before any plugin reads
/// the request: its `X-Real-IP` and `Forwarded` (a plugin may set `Forwarded` afresh).
pub(crate) fn drop_untrusted(headers: &mut HeaderMap, origin: &Origin) {
    if !origin.trusted {
        headers.remove(X_REAL_IP);
        headers.remove(FORWARDED);
    }
}

/// Sets `X-Forwarded-For`, `-Proto` and `-Host`. From an untrusted peer, what it said about
/// itself is replaced: its `X-Forwarded-For` by its address.
pub(crate) fn add_forwarded(headers: &mut HeaderMap, origin: Origin, host: Option<HeaderValue>) {
    headers.insert(X_FORWARDED_FOR, origin.forwarded_for);
    let proto = if origin.https { "https" } else { "http" };
    headers.insert(X_FORWARDED_PROTO, HeaderValue::from_static(proto));
    if let Some(h) = host {
        headers.insert(X_FORWARDED_HOST, h);
    }
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

/// The path and query sent upstream on `route`: `path` is the client's canonical path,
/// `match_path` the same without matrix parameters (what path parameters are read from). Another
/// backend than the route's (`other_root`, CanaryMode's) brings its own root, without rewriting.
pub(crate) fn upstream_path(
    route: &CompiledRoute,
    other_root: Option<&str>,
    path: &str,
    match_path: &str,
    query: Option<&str>,
) -> String {
    let root = other_root.unwrap_or(&route.root);
    let mut target = if route.rewrite && other_root.is_none() {
        let mut root = route.root.clone();
        for (name, value) in route.path_params(match_path) {
            root = root.replace(&format!("${{req.pathparams.{name}}}"), value);
        }
        root
    } else if route.strip_path {
        join(
            root,
            komainu_http::after_segments(path, route.depth(match_path)),
        )
    } else {
        join(root, path)
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
        assert_eq!(komainu_http::after_segments("/v1/users/42", 2), "/42");
        assert_eq!(komainu_http::after_segments("/v1/users", 2), "");
        assert_eq!(komainu_http::after_segments("/v1/users/", 2), "/");
        assert_eq!(komainu_http::after_segments("/x", 0), "/x");
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

    #[test]
    fn te_trailers_alone_survives() {
        let mut h = HeaderMap::new();
        h.insert(header::TE, "trailers, deflate;q=0.5".parse().unwrap());
        strip_hop_by_hop(&mut h);
        assert_eq!(h.get(header::TE).unwrap(), "trailers");
        let mut h = HeaderMap::new();
        h.insert(header::TE, "gzip".parse().unwrap());
        strip_hop_by_hop(&mut h);
        assert!(h.is_empty());
    }
}
