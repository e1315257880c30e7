//! WebSocket: an HTTP/1.1 upgrade request goes through the route's plugins like any request (keys,
//! IP lists and quotas see it), then to the backend with its `Upgrade` kept; when the backend
//! answers 101 the two upgraded connections are joined by a [`relay`] that copies frames both
//! ways, checked but untouched ([`frames`]). The only extension offered on to the backend is
//! `permessage-deflate` (what every browser offers): compressed frames then pass as they are, and
//! no other extension can give the reserved bits a meaning the relay does not know.

pub(crate) mod frames;
mod relay;

use std::time::Duration;

use http::header::{self, HeaderMap, HeaderValue};
use http::request::Parts;
use http::{Method, Version};
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;
use tokio::sync::watch;

use crate::metrics::OpenWebsocket;

/// The largest message relayed (its frames' payloads as they travel); more ends the relay (1009).
pub(crate) const MAX_MESSAGE: u64 = 16 << 20;

const EXTENSIONS: header::HeaderName = header::SEC_WEBSOCKET_EXTENSIONS;

fn has_token(headers: &HeaderMap, name: header::HeaderName, token: &str) -> bool {
    headers.get_all(name).iter().any(|v| {
        v.to_str()
            .is_ok_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
    })
}

/// Whether the client asks for a WebSocket (`GET`, HTTP/1.1, `Connection: upgrade`,
/// `Upgrade: websocket`).
pub(crate) fn is_upgrade(parts: &Parts) -> bool {
    parts.method == Method::GET
        && parts.version == Version::HTTP_11
        && has_token(&parts.headers, header::CONNECTION, "upgrade")
        && has_token(&parts.headers, header::UPGRADE, "websocket")
}

/// Puts back the two hop-by-hop headers an upgrade needs (request to the backend, 101 to the
/// client), after the others were removed.
pub(crate) fn keep_upgrade(headers: &mut HeaderMap) {
    headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
}

/// What a relay needs besides the two connections.
pub(crate) struct Relay {
    pub idle: Duration,
    pub stop: watch::Receiver<bool>,
    pub open: OpenWebsocket,
    /// Holds the client connection's place among the listener's open connections, so that a
    /// drain waits for the relay.
    pub lease: std::sync::Arc<dyn Send + Sync>,
    /// The backend accepted `permessage-deflate`.
    pub deflate: bool,
}

/// Keeps only the `permessage-deflate` offers of a client's `Sec-WebSocket-Extensions`.
pub(crate) fn offer_deflate_only(headers: &mut HeaderMap) {
    let offers: Vec<String> = headers
        .get_all(&EXTENSIONS)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|o| extension_name(o) == "permessage-deflate")
        .map(str::to_string)
        .collect();
    headers.remove(&EXTENSIONS);
    if let Ok(v) = HeaderValue::try_from(offers.join(", "))
        && !offers.is_empty()
    {
        headers.insert(EXTENSIONS, v);
    }
}

/// Whether a backend's 101 accepted `permessage-deflate`.
pub(crate) fn deflate_accepted(headers: &HeaderMap) -> bool {
    headers
        .get_all(&EXTENSIONS)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|e| extension_name(e) == "permessage-deflate")
}

fn extension_name(offer: &str) -> &str {
    offer.split(';').next().unwrap_or("").trim()
}

/// Joins the client and the backend once both upgrades complete, on a task of its own.
pub(crate) fn spawn(client: OnUpgrade, upstream: OnUpgrade, relay: Relay) {
    tokio::spawn(async move {
        let (client, upstream) = match tokio::join!(client, upstream) {
            (Ok(c), Ok(u)) => (c, u),
            (c, u) => {
                tracing::debug!(client = ?c.err(), upstream = ?u.err(), "WebSocket upgrade failed");
                return;
            }
        };
        let Relay {
            idle,
            stop,
            open: _open,
            lease: _lease,
            deflate,
        } = relay;
        let limits = relay::Limits {
            idle,
            deflate,
            max_message: MAX_MESSAGE,
        };
        match relay::run(TokioIo::new(client), TokioIo::new(upstream), limits, stop).await {
            relay::End::Failed(why) => tracing::debug!(error = %why, "WebSocket relay failed"),
            end => tracing::debug!(end = ?end, "WebSocket relay ended"),
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(version: Version, connection: &str, upgrade: &str) -> Parts {
        let (mut p, _) = http::Request::get("/").body(()).unwrap().into_parts();
        p.version = version;
        p.headers
            .insert(header::CONNECTION, connection.parse().unwrap());
        p.headers.insert(header::UPGRADE, upgrade.parse().unwrap());
        p
    }

    #[test]
    fn only_deflate_is_offered_on() {
        let mut h = HeaderMap::new();
        h.insert(
            EXTENSIONS,
            "permessage-deflate; client_max_window_bits, x-webkit-deflate-frame, x-rsv2"
                .parse()
                .unwrap(),
        );
        offer_deflate_only(&mut h);
        assert_eq!(h[&EXTENSIONS], "permessage-deflate; client_max_window_bits");
        assert!(deflate_accepted(&h));
        let mut none = HeaderMap::new();
        none.insert(EXTENSIONS, "x-other".parse().unwrap());
        offer_deflate_only(&mut none);
        assert!(none.get(&EXTENSIONS).is_none());
    }

    #[test]
    fn only_http11_websocket_upgrades_are_relayed() {
        assert!(is_upgrade(&parts(
            Version::HTTP_11,
            "keep-alive, Upgrade",
            "WebSocket"
        )));
        assert!(!is_upgrade(&parts(
            Version::HTTP_11,
            "keep-alive",
            "websocket"
        )));
        assert!(!is_upgrade(&parts(Version::HTTP_11, "upgrade", "h2c")));
        assert!(!is_upgrade(&parts(
            Version::HTTP_10,
            "upgrade",
            "websocket"
        )));
    }
}
