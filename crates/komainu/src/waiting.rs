//! A node whose store (Redis) does not answer when it starts has no configuration to serve. Until
//! the store answers, its proxy and admin listeners say so to every request (503 with Otoroshi's
//! error shape, as an Otoroshi worker answers before its first sync) while `/health` stays 200, so
//! an orchestrator does not restart it in a loop; then the node starts for real on the same sockets.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use komainu_store::Store;
use serde_json::json;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::cli::StorageArgs;
use crate::storage;

/// How often the store is tried again.
const RETRY: Duration = Duration::from_secs(1);

fn not_synced() -> Response {
    let message = "this node has no configuration yet: its store is unreachable";
    let mut r = (
        StatusCode::SERVICE_UNAVAILABLE,
        axum::Json(json!({"error": "errors.cluster.not.synced", "error_description": message})),
    )
        .into_response();
    let h = r.headers_mut();
    h.insert("otoroshi-error", HeaderValue::from_static("true"));
    h.insert("otoroshi-error-msg", HeaderValue::from_static(message));
    h.insert(
        "otoroshi-error-cause",
        HeaderValue::from_static("errors.cluster.not.synced"),
    );
    h.insert(
        axum::http::header::RETRY_AFTER,
        HeaderValue::from_static("1"),
    );
    r
}

fn stand_in() -> Router {
    Router::new()
        .route(
            "/health",
            get(|| async { axum::Json(json!({"status": "waiting for the store"})) }),
        )
        .fallback(|| async { not_synced() })
}

/// A second handle on a listening socket: the stand-in serves from it, and the node keeps the
/// first for when it starts.
fn share(listener: &std::net::TcpListener) -> std::io::Result<TcpListener> {
    let copy = listener.try_clone()?;
    copy.set_nonblocking(true)?;
    TcpListener::from_std(copy)
}

/// Opens the store; while it is unreachable (a Redis store), answers 503 on `listeners` and tries
/// again every second. `announce` logs the listeners' addresses once they answer.
pub async fn open(
    args: &StorageArgs,
    listeners: &[&std::net::TcpListener],
    announce: &dyn Fn(),
) -> anyhow::Result<Arc<dyn Store>> {
    let first = match storage::open(args).await {
        Ok(store) => return Ok(store),
        Err(e) if args.store == "embedded" => return Err(e),
        Err(e) => e,
    };
    tracing::warn!(error = %format!("{first:#}"), "the store is unreachable: answering 503 until it answers");
    let (stop, stopped) = watch::channel(false);
    let mut tasks = Vec::new();
    for listener in listeners {
        let shared = share(listener)?;
        let mut stopped = stopped.clone();
        tasks.push(tokio::spawn(async move {
            let _ = axum::serve(shared, stand_in())
                .with_graceful_shutdown(async move {
                    let _ = stopped.wait_for(|s| *s).await;
                })
                .await;
        }));
    }
    announce();
    let store = loop {
        tokio::time::sleep(RETRY).await;
        match storage::open(args).await {
            Ok(store) => break store,
            Err(e) => tracing::debug!(error = %format!("{e:#}"), "the store is still unreachable"),
        }
    };
    let _ = stop.send(true);
    for t in tasks {
        let _ = t.await;
    }
    tracing::info!("the store answers: loading the configuration");
    Ok(store)
}
