//! WebSocket: an HTTP/1.1 upgrade request goes through the route's plugins like any request (keys,
//! IP lists and quotas see it), then to the backend with its `Upgrade` kept; when the backend
//! answers 101 the two upgraded connections are joined and messages relayed both ways.
//!
//! The relay speaks WebSocket on both sides (tungstenite) rather than copying bytes, so that it
//! can end a connection properly: when the gateway drains (SIGTERM) or the relay has been silent
//! for the backend's `idle_timeout`, both peers get a close frame 1001 (going away). Memory per
//! connection is bounded by [`MAX_MESSAGE`] per direction. Pings are answered on each hop.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use http::header::{self, HeaderMap, HeaderValue};
use http::request::Parts;
use http::{Method, Version};
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;
use tokio::sync::watch;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, Role, WebSocketConfig};

use crate::metrics::OpenWebsocket;

/// The largest message (and frame) relayed; a peer sending more is disconnected.
pub(crate) const MAX_MESSAGE: usize = 16 << 20;

/// How long a peer has to answer a close frame before the connection is dropped.
const CLOSE_GRACE: Duration = Duration::from_secs(5);

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

/// Why a relay ended, for the debug log.
#[derive(Debug)]
enum End {
    ClientClosed,
    UpstreamClosed,
    Idle,
    Draining,
    Failed(String),
}

/// What a relay needs besides the two connections.
pub(crate) struct Relay {
    pub idle: Duration,
    pub stop: watch::Receiver<bool>,
    pub open: OpenWebsocket,
    /// Holds the client connection's place among the listener's open connections, so that a
    /// drain waits for the relay.
    pub lease: std::sync::Arc<dyn Send + Sync>,
}

fn going_away(reason: &'static str) -> Message {
    Message::Close(Some(CloseFrame {
        code: CloseCode::Away,
        reason: reason.into(),
    }))
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
        let config = WebSocketConfig::default()
            .max_message_size(Some(MAX_MESSAGE))
            .max_frame_size(Some(MAX_MESSAGE));
        let client =
            WebSocketStream::from_raw_socket(TokioIo::new(client), Role::Server, Some(config))
                .await;
        let upstream =
            WebSocketStream::from_raw_socket(TokioIo::new(upstream), Role::Client, Some(config))
                .await;
        match run(client, upstream, relay).await {
            End::Failed(why) => tracing::debug!(error = %why, "WebSocket relay failed"),
            end => tracing::debug!(end = ?end, "WebSocket relay ended"),
        }
    });
}

async fn run<C, U>(client: WebSocketStream<C>, upstream: WebSocketStream<U>, relay: Relay) -> End
where
    C: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
    U: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let Relay {
        idle,
        mut stop,
        open: _open,
        lease: _lease,
    } = relay;
    let (mut to_client, mut from_client) = client.split();
    let (mut to_upstream, mut from_upstream) = upstream.split();
    let timer = tokio::time::sleep(idle);
    tokio::pin!(timer);
    let end = loop {
        if *stop.borrow() {
            break End::Draining;
        }
        tokio::select! {
            m = from_client.next() => match m {
                Some(Ok(Message::Close(frame))) => {
                    let _ = to_upstream.send(Message::Close(frame)).await;
                    break End::ClientClosed;
                }
                Some(Ok(m @ (Message::Text(_) | Message::Binary(_)))) => {
                    if let Err(e) = to_upstream.send(m).await {
                        break End::Failed(format!("to the backend: {e}"));
                    }
                }
                Some(Ok(_)) => {}
                Some(Err(e)) => break End::Failed(format!("from the client: {e}")),
                None => break End::ClientClosed,
            },
            m = from_upstream.next() => match m {
                Some(Ok(Message::Close(frame))) => {
                    let _ = to_client.send(Message::Close(frame)).await;
                    break End::UpstreamClosed;
                }
                Some(Ok(m @ (Message::Text(_) | Message::Binary(_)))) => {
                    if let Err(e) = to_client.send(m).await {
                        break End::Failed(format!("to the client: {e}"));
                    }
                }
                Some(Ok(_)) => {}
                Some(Err(e)) => break End::Failed(format!("from the backend: {e}")),
                None => break End::UpstreamClosed,
            },
            () = &mut timer => break End::Idle,
            _ = stop.changed() => break End::Draining,
        }
        timer.as_mut().reset(tokio::time::Instant::now() + idle);
    };
    // Whoever is still there hears why, and has a moment to answer the close.
    let farewell = async {
        match end {
            End::Idle | End::Draining => {
                let why = if matches!(end, End::Idle) {
                    "idle"
                } else {
                    "server going down"
                };
                let _ = to_client.send(going_away(why)).await;
                let _ = to_upstream.send(going_away(why)).await;
            }
            _ => {}
        }
        let _ = to_client.close().await;
        let _ = to_upstream.close().await;
        // Read until each side has answered the close (or gone).
        while let Some(Ok(_)) = from_client.next().await {}
        while let Some(Ok(_)) = from_upstream.next().await {}
    };
    let _ = tokio::time::timeout(CLOSE_GRACE, farewell).await;
    end
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
