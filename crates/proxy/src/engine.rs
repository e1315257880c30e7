//! The request engine: one function per request, phase after phase.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use http::header::{self, HeaderName, HeaderValue};
use http::{Request, Response, StatusCode, Uri, Version};
use http_body_util::{BodyExt, Limited};
use hyper::body::{Body as _, Incoming};
use komainu_plugins::token_endpoint::BODY_LIMIT;
use komainu_plugins::{Body, Outcome, RequestCtx, gateway_error};
use komainu_plugins::{RouteIdentity, cookie};
use komainu_runtime::{RequestView, Runtime};
use komainu_upstream::{Caller, STICKY_COOKIE, Target};
use serde_json::json;

use crate::access_log::AccessLog;
use crate::forward::{Client, add_forwarded, strip_hop_by_hop, upstream_path};
use crate::metrics::ProxyMetrics;

const PROXY_LATENCY: HeaderName = HeaderName::from_static("otoroshi-proxy-latency");
const UPSTREAM_LATENCY: HeaderName = HeaderName::from_static("otoroshi-upstream-latency");

/// The proxy's shared state.
pub struct Proxy {
    runtime: Arc<Runtime>,
    access_log: Option<AccessLog>,
    pub metrics: ProxyMetrics,
}

/// What the access log and latency headers need about how a request went.
#[derive(Default)]
struct Trace {
    route: Option<Arc<RouteIdentity>>,
    target: Option<Arc<Target>>,
    upstream: Option<Duration>,
    error: Option<&'static str>,
}

fn host_of(req: &Request<Incoming>) -> String {
    let raw = req
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .or_else(|| req.uri().authority().map(|a| a.as_str()))
        .unwrap_or("");
    let without_port = if raw.starts_with('[') {
        raw.find(']').map_or(raw, |i| &raw[..=i])
    } else {
        raw.rsplit_once(':').map_or(raw, |(h, _)| h)
    };
    without_port.to_ascii_lowercase()
}

fn prefers_html(req: &Request<Incoming>) -> bool {
    req.headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/html"))
}

fn millis(d: Duration) -> HeaderValue {
    HeaderValue::from(d.as_millis() as u64)
}

/// A new tracking id for Sticky load balancing.
fn tracking_id() -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    format!("{nanos:x}{:08x}", rand_u32())
}

fn rand_u32() -> u32 {
    use std::hash::{BuildHasher, RandomState};
    RandomState::new().hash_one(Instant::now()) as u32
}

impl Proxy {
    pub fn new(runtime: Arc<Runtime>, access_log: Option<AccessLog>) -> Self {
        Proxy {
            runtime,
            access_log,
            metrics: ProxyMetrics::default(),
        }
    }

    /// Handles one request from `client`; never fails (errors become gateway error responses).
    pub async fn handle(
        &self,
        req: Request<Incoming>,
        client: &Client,
        https: bool,
    ) -> Response<Body> {
        let started = Instant::now();
        let mut trace = Trace::default();
        let host = host_of(&req);
        let html = prefers_html(&req);
        // Copies of the request line only when a log line will need them.
        let logged = self.access_log.as_ref().map(|_| {
            let path = req.uri().path_and_query().map_or("/", |p| p.as_str());
            (req.method().clone(), path.to_string(), host.clone())
        });
        let mut resp = self.route(req, client, https, host, html, &mut trace).await;

        let total = started.elapsed();
        let upstream = trace.upstream.unwrap_or_default();
        let h = resp.headers_mut();
        h.insert(PROXY_LATENCY, millis(total.saturating_sub(upstream)));
        h.insert(UPSTREAM_LATENCY, millis(upstream));
        self.metrics.response(resp.status().as_u16());
        if let (Some(log), Some((method, path_and_query, host))) = (&self.access_log, logged) {
            log.log(json!({
                "@timestamp": SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or_default(),
                "client_ip": client.ip_text(),
                "method": method.as_str(),
                "host": host,
                "path": path_and_query,
                "status": resp.status().as_u16(),
                "duration_ms": total.as_secs_f64() * 1000.0,
                "upstream_ms": trace.upstream.map(|d| d.as_secs_f64() * 1000.0),
                "route_id": trace.route.as_ref().map(|r| r.id.as_str()),
                "api_id": trace.route.as_ref().and_then(|r| r.api_id.as_deref()),
                "target": trace.target.as_ref().map(|t| t.id()),
                "error": trace.error,
            }));
        }
        resp
    }

    async fn route(
        &self,
        req: Request<Incoming>,
        client: &Client,
        https: bool,
        host: String,
        html: bool,
        trace: &mut Trace,
    ) -> Response<Body> {
        let snapshot = self.runtime.snapshot();
        let (mut parts, body) = req.into_parts();
        let found = {
            let view = RequestView {
                method: &parts.method,
                headers: &parts.headers,
                query: parts.uri.query(),
            };
            snapshot.router.find(&host, parts.uri.path(), &view)
        };
        let Some(found) = found else {
            self.metrics.not_found();
            trace.error = Some("not_found");
            return gateway_error(StatusCode::NOT_FOUND, "not_found", "no route found !", html);
        };
        let route = found.route;
        trace.route = Some(route.identity.clone());

        let mut ctx = RequestCtx {
            route: route.identity.clone(),
            client_ip: client.addr.ip(),
            https,
            host,
            path_and_query: parts
                .uri
                .path_and_query()
                .map_or("/", |p| p.as_str())
                .to_string(),
            html,
            override_host: false,
            response_headers: Vec::new(),
            attrs: http::Extensions::new(),
        };
        let chain = &route.chain;
        let early = match chain.pre_route(&mut parts, &mut ctx) {
            Outcome::Continue => match chain.access(&mut parts, &mut ctx) {
                Outcome::Continue => chain.transform_request(&mut parts, &mut ctx),
                respond => respond,
            },
            respond => respond,
        };
        let mut resp = match early {
            Outcome::Respond(r) => r,
            Outcome::Continue if route.endpoint.is_some() => {
                let endpoint = route.endpoint.as_ref().expect("checked");
                match Limited::new(body, BODY_LIMIT).collect().await {
                    Ok(bytes) => endpoint.respond(&parts, &bytes.to_bytes(), &mut ctx),
                    Err(_) => gateway_error(
                        StatusCode::PAYLOAD_TOO_LARGE,
                        "errors.entity.too.big",
                        "request body too large",
                        html,
                    ),
                }
            }
            Outcome::Continue => {
                let mut resp = match chain.backend_call(&parts, &mut ctx) {
                    Some(r) => r,
                    None => {
                        self.forward(&route, parts, body, client, &mut ctx, trace)
                            .await
                    }
                };
                if trace.error.is_none() {
                    chain.transform_response(&mut resp, &mut ctx);
                }
                resp
            }
        };
        resp.headers_mut().extend(ctx.response_headers.drain(..));
        resp
    }

    async fn forward(
        &self,
        route: &komainu_runtime::CompiledRoute,
        mut parts: http::request::Parts,
        body: Incoming,
        client: &Client,
        ctx: &mut RequestCtx,
        trace: &mut Trace,
    ) -> Response<Body> {
        let original_host = parts.headers.get(header::HOST).cloned().or_else(|| {
            parts
                .uri
                .authority()
                .and_then(|a| HeaderValue::from_str(a.as_str()).ok())
        });
        let target = upstream_path(route, parts.uri.path(), parts.uri.query());
        parts.uri = Uri::try_from(target).unwrap_or_else(|_| Uri::from_static("/"));
        parts.version = Version::HTTP_11;
        strip_hop_by_hop(&mut parts.headers);
        add_forwarded(&mut parts.headers, client, ctx.https, original_host.clone());
        if !parts.headers.contains_key(header::HOST)
            && let Some(h) = original_host
        {
            parts.headers.insert(header::HOST, h);
        }

        let backend = &route.backend;
        let mut new_tracking = None;
        let tracking = if backend.needs_tracking_cookie() {
            let existing = cookie(&parts.headers, STICKY_COOKIE).map(str::to_string);
            Some(existing.unwrap_or_else(|| {
                let id = tracking_id();
                new_tracking = Some(id.clone());
                id
            }))
        } else {
            None
        };
        let caller = Caller {
            client_ip: ctx.client_ip,
            tracking_id: tracking.as_deref(),
        };
        // An empty body needs no box (Empty is zero-sized); a streamed one is boxed once.
        let body: Body = if body.is_end_stream() {
            komainu_plugins::empty()
        } else {
            body.map_err(Into::into).boxed()
        };
        match backend.call(parts, body, &caller, ctx.override_host).await {
            Ok((mut resp, info)) => {
                trace.upstream = Some(info.upstream_latency);
                trace.target = Some(info.target);
                strip_hop_by_hop(resp.headers_mut());
                // The client's connection speaks its own version, whatever the upstream spoke.
                *resp.version_mut() = Version::default();
                if let Some(id) = new_tracking
                    && let Ok(v) = HeaderValue::try_from(format!(
                        "{STICKY_COOKIE}={id}; Path=/; Max-Age=31536000; HttpOnly"
                    ))
                {
                    resp.headers_mut().append(header::SET_COOKIE, v);
                }
                resp
            }
            Err(e) => {
                self.metrics.upstream_error();
                let (status, cause, message) = e.response_parts();
                tracing::debug!(route = %route.identity.id, error = %e, "backend call failed");
                trace.error = Some(cause);
                gateway_error(status, cause, message, ctx.html)
            }
        }
    }
}
