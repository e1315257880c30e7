//! Who is calling the admin API: the address the request came from and the credentials it
//! presents (the Otoroshi headers, else Basic). Read by authentication and by the audit trail.

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, Request};
use axum::http::HeaderMap;

/// `Authorization: Basic base64(id:secret)` (padding optional, as Otoroshi reads it), or
/// `Otoroshi-Client-Id` + `Otoroshi-Client-Secret`.
pub(crate) fn presented(headers: &HeaderMap) -> Option<(String, String)> {
    let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    if let (Some(id), Some(secret)) = (text("otoroshi-client-id"), text("otoroshi-client-secret")) {
        return Some((id.to_string(), secret.to_string()));
    }
    komainu_keys::basic_auth(headers)
}

/// The address a request came from (the admin listener's socket peer).
pub(crate) fn peer(request: &Request) -> IpAddr {
    request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map_or(IpAddr::from([0, 0, 0, 0]), |c| c.0.ip())
}
