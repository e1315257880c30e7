//! A WebSocket echo server: text and binary messages come back as sent; the text `__headers__` is
//! answered with the handshake's request headers (`name: value` lines), so a test can see what the
//! proxy forwarded. Pings are answered by the library.

use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpListener;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::handshake::server::{Request, Response};

/// Serves on `listener` until the task is dropped; each connection on its own task.
pub async fn serve(listener: TcpListener) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        tokio::spawn(async move {
            let mut headers = String::new();
            // The error type is tungstenite's, not ours to shrink.
            #[allow(clippy::result_large_err)]
            let callback = |req: &Request, resp: Response| {
                for (k, v) in req.headers() {
                    headers.push_str(&format!("{}: {}\n", k, v.to_str().unwrap_or("")));
                }
                Ok(resp)
            };
            let Ok(mut ws) = tokio_tungstenite::accept_hdr_async(stream, callback).await else {
                return;
            };
            while let Some(Ok(msg)) = ws.next().await {
                let reply = match msg {
                    Message::Text(t) if t.as_str() == "__headers__" => {
                        Message::text(headers.clone())
                    }
                    Message::Text(_) | Message::Binary(_) => msg,
                    Message::Close(_) => break,
                    _ => continue,
                };
                if ws.send(reply).await.is_err() {
                    break;
                }
            }
        });
    }
}
