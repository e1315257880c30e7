//! Operational endpoints: `/health` (alive), `/ready` (store answers, snapshot loaded), `/metrics`
//! (Prometheus text) and the admin request counter behind it.

use komainu_observe::prom::{self, Kind};
use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::Ordering;
use std::time::Instant;

use axum::Json;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::Admin;
use crate::error::ApiError;

type Source = Box<dyn Fn(&mut String) + Send + Sync>;

/// Metrics of the whole process; other parts (the proxy) add their families as sources.
pub struct Metrics {
    started: Instant,
    admin_requests: Mutex<BTreeMap<(String, u16), u64>>,
    sources: Mutex<Vec<Source>>,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            started: Instant::now(),
            admin_requests: Mutex::default(),
            sources: Mutex::default(),
        }
    }
}

impl Metrics {
    /// Adds a writer of more metric families, called on every scrape.
    pub fn add_source(&self, source: impl Fn(&mut String) + Send + Sync + 'static) {
        self.sources
            .lock()
            .expect("metrics lock")
            .push(Box::new(source));
    }

    pub(crate) fn render(&self) -> String {
        let mut out = String::with_capacity(1024);
        let version = format!("version=\"{}\"", env!("CARGO_PKG_VERSION"));
        prom::family(
            &mut out,
            "komainu_build_info",
            Kind::Gauge,
            "Komainu version.",
        );
        prom::sample(&mut out, "komainu_build_info", &version, 1);
        let uptime = format!("{:.3}", self.started.elapsed().as_secs_f64());
        let help = "Seconds since the process started.";
        prom::single(
            &mut out,
            "komainu_uptime_seconds",
            Kind::Gauge,
            help,
            uptime,
        );
        let name = "komainu_admin_requests_total";
        prom::family(
            &mut out,
            name,
            Kind::Counter,
            "Admin API requests by method and status.",
        );
        for ((method, status), n) in self.admin_requests.lock().expect("metrics lock").iter() {
            prom::sample(
                &mut out,
                name,
                &format!("method=\"{method}\",status=\"{status}\""),
                n,
            );
        }
        for source in self.sources.lock().expect("metrics lock").iter() {
            source(&mut out);
        }
        out
    }
}

pub(crate) async fn count_requests(
    State(admin): State<Admin>,
    request: Request,
    next: Next,
) -> Response {
    let method = request.method().as_str().to_string();
    let response = next.run(request).await;
    let key = (method, response.status().as_u16());
    *admin
        .metrics
        .admin_requests
        .lock()
        .expect("metrics lock")
        .entry(key)
        .or_default() += 1;
    response
}

/// Bodies above this size leave the allocator holding memory worth giving back.
const LARGE_BODY: u64 = 4 << 20;

pub(crate) async fn release_after_large_bodies(
    State(admin): State<Admin>,
    request: Request,
    next: Next,
) -> Response {
    let length = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    // Unknown length (chunked): as large as it may be.
    let large = length.is_none_or(|n| n > LARGE_BODY)
        && (length.is_some() || request.headers().contains_key(header::TRANSFER_ENCODING));
    let response = next.run(request).await;
    if large && let Some(release) = admin.release_memory {
        tokio::task::spawn_blocking(release);
    }
    response
}

/// Read-your-writes: a successful write is answered once this node serves it, with the store
/// revision that holds it in `Komainu-Revision`.
pub(crate) async fn live_after_writes(
    State(admin): State<Admin>,
    request: Request,
    next: Next,
) -> Response {
    let writes = !matches!(
        *request.method(),
        axum::http::Method::GET | axum::http::Method::HEAD | axum::http::Method::OPTIONS
    );
    let mut response = next.run(request).await;
    if !writes || !response.status().is_success() {
        return response;
    }
    let revision = admin.store.revision();
    if let Some(live) = &admin.live {
        live.applied_within(revision, "a write").await;
    }
    response
        .headers_mut()
        .insert("komainu-revision", revision.into());
    response
}

pub(crate) async fn health() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

pub(crate) async fn ready(State(admin): State<Admin>) -> Response {
    let loaded = admin.ready.load(Ordering::Acquire);
    match admin.store.ping().await {
        Ok(()) if loaded => {
            let mut body = json!({"status": "ready", "revision": admin.store.revision()});
            if let Some(live) = &admin.live {
                let applied = live.followers.iter().map(|f| f.get()).min();
                body["applied"] = json!(applied);
                body["generation"] = json!((live.generation)());
            }
            Json(body).into_response()
        }
        Ok(()) => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "configuration not loaded yet",
        )
        .into_response(),
        Err(e) => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("store unreachable: {e}"),
        )
        .into_response(),
    }
}

pub(crate) async fn metrics(State(admin): State<Admin>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        admin.metrics.render(),
    )
        .into_response()
}

pub(crate) async fn not_found() -> ApiError {
    ApiError::not_found("no such admin endpoint")
}

/// `GET /api/cluster/members`: the nodes whose heartbeat is current (on the embedded store, this
/// node alone).
pub(crate) async fn members(State(admin): State<Admin>) -> Result<Json<Value>, ApiError> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    Ok(Json(Value::Array(admin.store.members(now).await?)))
}
