//! The request engine: one function per request, phase after phase.
//!
//! Before routing, a request is admitted ([`admit`]): its target within the URI limit, exactly one
//! host (the target's authority when it has one, else the one `Host` header), and its path made
//! canonical once (`komainu_http::path`). Everything after reads that canonical path.

use komainu_observe::prom::{self, Kind};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use http::header::{self, HeaderName, HeaderValue};
use http::request::Parts;
use http::{Method, Request, Response, StatusCode, Uri, Version};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper::upgrade::OnUpgrade;
use komainu_http::trial::{self, TrialToken};
use komainu_plugins::cookie;
use komainu_plugins::token_endpoint::BODY_LIMIT;
use komainu_plugins::{Body, BodyLimit, BodyNeed, Chain, RequestCtx, Step, gateway_error};
use komainu_runtime::{RequestView, Runtime};
use komainu_upstream::{Caller, STICKY_COOKIE, UpstreamErrorKind};

use crate::access_log::redact_query;
use crate::completion::{self, Completion, Record, Sinks};
use crate::forward::{
    Client, TrustedProxies, add_forwarded, drop_untrusted, strip_hop_by_hop, upstream_path,
};
use crate::listener::Limits;
use crate::metrics::{ProxyMetrics, Refusal};
use crate::{bodies, grpc, request_id, websocket};

const PROXY_LATENCY: HeaderName = HeaderName::from_static("otoroshi-proxy-latency");
const UPSTREAM_LATENCY: HeaderName = HeaderName::from_static("otoroshi-upstream-latency");
const REQUEST_ID: HeaderName = HeaderName::from_static("otoroshi-request-id");
const TRACEPARENT: HeaderName = HeaderName::from_static("traceparent");

/// How the proxy is set up, from the command line.
#[derive(Clone, Debug, Default)]
pub struct ProxyConfig {
    pub limits: Limits,
    pub trusted_proxies: TrustedProxies,
    /// What vouches for the portal's calls made for a developer.
    pub trial: Option<TrialToken>,
}

/// The proxy's shared state.
pub struct Proxy {
    runtime: Arc<Runtime>,
    sinks: Arc<Sinks>,
    pub metrics: ProxyMetrics,
    pub(crate) limits: Limits,
    trusted: TrustedProxies,
    trial: Option<TrialToken>,
}

/// A request that passed admission: its host and canonical path.
struct Admitted {
    /// Lowercase, without port: what routing matches.
    host: String,
    /// The host and port as the client gave them: what the upstream gets in `Host`.
    host_header: HeaderValue,
    path: String,
}

/// A refusal before routing: status, cause id, message, and what the metric counts.
struct Refused(StatusCode, &'static str, &'static str, Refusal);

/// Whether `h` is `host[:port]` as RFC 3986 writes an authority's host: a name or IPv4 address
/// (letters, digits, `-`, `.`, `_`), or an IPv6 literal in brackets; a port of 1 to 5 digits.
pub fn valid_host(h: &str) -> bool {
    let (host, port) = match h.strip_prefix('[') {
        Some(rest) => match rest.split_once(']') {
            Some((v6, after)) => {
                let v6_ok = !v6.is_empty()
                    && v6
                        .bytes()
                        .all(|b| b.is_ascii_hexdigit() || b == b':' || b == b'.');
                if !v6_ok {
                    return false;
                }
                (None, after)
            }
            None => return false,
        },
        None => {
            let name_end = h.find(':').unwrap_or(h.len());
            (Some(&h[..name_end]), &h[name_end..])
        }
    };
    let name_ok = host.is_none_or(|n| {
        !n.is_empty()
            && n.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'))
    });
    let port = match port.strip_prefix(':') {
        Some(p) => p,
        None if port.is_empty() => "1",
        None => return false,
    };
    name_ok && (1..=5).contains(&port.len()) && port.bytes().all(|b| b.is_ascii_digit())
}

/// `host[:port]` → lowercase host.
pub fn host_only(raw: &str) -> String {
    let without_port = if raw.starts_with('[') {
        raw.find(']').map_or(raw, |i| &raw[..=i])
    } else {
        raw.rsplit_once(':').map_or(raw, |(h, _)| h)
    };
    without_port.to_ascii_lowercase()
}

/// The checks every request passes before routing.
fn admit(parts: &Parts, limits: &Limits) -> Result<Admitted, Refused> {
    let target_len = parts.uri.path_and_query().map_or(0, |p| p.as_str().len())
        + parts.uri.authority().map_or(0, |a| a.as_str().len());
    if target_len > limits.max_uri_bytes {
        return Err(Refused(
            StatusCode::URI_TOO_LONG,
            "errors.uri.too.long",
            "request target too long",
            Refusal::UriTooLong,
        ));
    }
    // An absolute-form target (or HTTP/2's :authority) names the host; RFC 9112 §3.2.2 says its
    // Host header is then ignored. Otherwise exactly one Host header.
    let host_header = match parts.uri.authority() {
        Some(a) => HeaderValue::from_str(a.as_str()).ok(),
        None => {
            let mut hosts = parts.headers.get_all(header::HOST).iter();
            match (hosts.next(), hosts.next()) {
                (Some(h), None) => Some(h.clone()),
                _ => None,
            }
        }
    };
    let Some(host_header) = host_header.filter(|h| h.to_str().is_ok_and(valid_host)) else {
        return Err(Refused(
            StatusCode::BAD_REQUEST,
            "errors.bad.request.host",
            "a request needs exactly one valid host",
            Refusal::Host,
        ));
    };
    let host = host_only(host_header.to_str().unwrap_or_default());
    let path = komainu_http::canonical(parts.uri.path()).map_err(|e| {
        Refused(
            StatusCode::BAD_REQUEST,
            "errors.bad.request.path",
            e.message(),
            Refusal::Path,
        )
    })?;
    Ok(Admitted {
        host,
        host_header,
        path: path.into_owned(),
    })
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

/// A gateway error that also closes the connection: what follows a refused request cannot be
/// trusted to be where the client says it is.
fn refuse_and_close(status: StatusCode, cause: &str, message: &str, html: bool) -> Response<Body> {
    let mut resp = gateway_error(status, cause, message, html);
    resp.headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    resp
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
    pub fn new(runtime: Arc<Runtime>, sinks: Sinks, config: ProxyConfig) -> Self {
        Proxy {
            runtime,
            sinks: Arc::new(sinks),
            metrics: ProxyMetrics::default(),
            limits: config.limits,
            trusted: config.trusted_proxies,
            trial: config.trial,
        }
    }

    /// Every proxy family in Prometheus text format: listeners, routes, targets, the snapshot and
    /// the events queue.
    pub fn render_metrics(&self, out: &mut String) {
        self.metrics.render(out);
        self.runtime.stats.render(out);
        let snapshot = self.runtime.snapshot();
        let build_s = self
            .runtime
            .build_us
            .load(std::sync::atomic::Ordering::Relaxed) as f64
            / 1e6;
        for (name, help, value) in [
            (
                "komainu_config_generation",
                "Generation of the routing snapshot being served.",
                snapshot.generation as f64,
            ),
            (
                "komainu_config_build_seconds",
                "How long the current routing snapshot took to build.",
                build_s,
            ),
            (
                "komainu_config_routes",
                "Routes in the snapshot being served.",
                snapshot.routes.len() as f64,
            ),
            (
                "komainu_config_problems",
                "Entities the snapshot could not serve (see the log).",
                snapshot.problems.len() as f64,
            ),
        ] {
            prom::single(out, name, Kind::Gauge, help, value);
        }
        crate::metrics::render_targets(out, &snapshot.routes);
        if let Some(events) = &self.sinks.events {
            events.render(out);
        }
    }

    /// Starts the trace of a request on a route whose W3CTracing traces it.
    fn trace_route(
        &self,
        tracer: &Arc<komainu_observe::Tracer>,
        parts: &Parts,
        trace: &mut Record,
        client_ip: std::net::IpAddr,
    ) {
        let incoming = parts
            .headers
            .get(&TRACEPARENT)
            .and_then(|v| v.to_str().ok());
        trace.trace = Some(tracer.start(incoming));
        trace.tracer = Some(tracer.clone());
        trace.method.get_or_insert_with(|| parts.method.clone());
        trace.http2 = parts.version == Version::HTTP_2;
        trace.client_ip.get_or_insert(client_ip);
    }

    /// Handles one request from `client`; never fails (errors become gateway error responses).
    pub async fn handle(&self, mut req: Request<Incoming>, client: &Client) -> Response<Body> {
        let tls = client.tls;
        let started = Instant::now();
        let (request_id, started_ms) = request_id::next();
        let mut trace = Record {
            request_id,
            started_ms,
            https: tls,
            ..Record::default()
        };
        // Never forwarded, whoever sends it; believed only with this process's token.
        let vouched = req.headers_mut().remove(&trial::HEADER).and_then(|v| {
            let ip = self.trial.as_ref()?.check(&v);
            if ip.is_none() {
                tracing::info!(peer = %client.addr, "a trial header without the token: ignored");
            }
            ip
        });
        let origin = match vouched {
            Some(ip) => crate::forward::Origin::vouched(ip),
            None => self.trusted.origin(req.headers(), client, tls),
        };
        if self.sinks.detailed() {
            trace.method = Some(req.method().clone());
            trace.http2 = req.version() == Version::HTTP_2;
            trace.client_ip = Some(origin.ip);
            trace.user_agent = req.headers().get(header::USER_AGENT).cloned();
        }
        if let Some(tracer) = &self.sinks.tracer {
            let incoming = req
                .headers()
                .get(&TRACEPARENT)
                .and_then(|v| v.to_str().ok());
            trace.trace = Some(tracer.start(incoming));
            if trace.method.is_none() {
                trace.method = Some(req.method().clone());
                trace.http2 = req.version() == Version::HTTP_2;
                trace.client_ip = Some(origin.ip);
            }
        }
        let grpc = grpc::is_grpc(req.headers());
        let method = req.method().clone();
        let (mut resp, chain_log) = self.route(req, client, origin, &mut trace).await;
        // The gateway's own refusals only: an upstream's answer goes as it is.
        if grpc && (trace.error.is_some() || trace.target.is_none()) {
            resp = grpc::refusal(resp);
        }

        let total = started.elapsed();
        let upstream = trace.upstream.unwrap_or_default();
        let h = resp.headers_mut();
        h.insert(PROXY_LATENCY, millis(total.saturating_sub(upstream)));
        h.insert(UPSTREAM_LATENCY, millis(upstream));
        h.insert(REQUEST_ID, HeaderValue::from(request_id));
        let status = resp.status().as_u16();
        self.metrics.response(status);
        trace.status = status;
        trace.total = total;
        if let Some(stats) = &trace.stats {
            stats.record(&komainu_observe::Observation {
                method: method.as_str(),
                status,
                total,
                upstream: trace.upstream,
                bytes_in: trace.upload.as_ref().map_or(0, komainu_http::Upload::bytes),
                plan: trace.plan.as_deref(),
                quota_refused: status == 429 && trace.target.is_none(),
                attempts: trace.attempts,
                upstream_error: trace.upstream_error,
            });
        }
        if self.sinks.detailed() || trace.sampled() || chain_log.is_some() || trace.debug_flow {
            return completion::after_sent(
                resp,
                Completion {
                    record: trace,
                    started,
                    chain_log,
                    sinks: self.sinks.clone(),
                    bytes_out: 0,
                    captured: None,
                },
            );
        }
        match (
            trace.stats,
            hyper::body::Body::size_hint(resp.body()).exact(),
        ) {
            (Some(stats), Some(n)) => {
                stats.sent(n);
                resp
            }
            (Some(stats), None) => completion::count_sent(resp, stats),
            (None, _) => resp,
        }
    }

    async fn route(
        &self,
        req: Request<Incoming>,
        client: &Client,
        origin: crate::forward::Origin,
        trace: &mut Record,
    ) -> (Response<Body>, Option<(Arc<Chain>, Box<RequestCtx>)>) {
        let html = prefers_html(&req);
        let (mut parts, body) = req.into_parts();
        if parts.method == Method::CONNECT {
            trace.error = Some("errors.method.not.allowed");
            let resp = refuse_and_close(
                StatusCode::METHOD_NOT_ALLOWED,
                "errors.method.not.allowed",
                "CONNECT is not supported",
                html,
            );
            return (resp, None);
        }
        let admitted = match admit(&parts, &self.limits) {
            Ok(a) => a,
            Err(Refused(status, cause, message, why)) => {
                self.metrics.refused(why);
                trace.error = Some(cause);
                return (refuse_and_close(status, cause, message, html), None);
            }
        };
        let detailed = self.sinks.detailed();
        let snapshot = self.runtime.snapshot();
        let found = {
            let view = RequestView {
                method: &parts.method,
                headers: &parts.headers,
                query: parts.uri.query(),
            };
            snapshot.router.find(
                &admitted.host,
                &komainu_http::match_path(&admitted.path),
                &view,
            )
        };
        let Some(found) = found else {
            self.metrics.not_found();
            trace.error = Some("not_found");
            if detailed || trace.sampled() {
                note_path(trace, admitted.path, parts.uri.query(), &[]);
                trace.host = Some(admitted.host);
            }
            let resp = gateway_error(StatusCode::NOT_FOUND, "not_found", "no route found !", html);
            return (resp, None);
        };
        let route = found.route;
        if trace.trace.is_none()
            && let Some(tracer) = route.chain.tracer()
        {
            self.trace_route(tracer, &parts, trace, origin.ip);
        }
        trace.route = Some(route.identity.clone());
        trace.stats = Some(route.stats.clone());
        trace.debug_flow = route.report.debug_flow;
        trace.capture = route.report.capture;
        if detailed {
            trace.route_name = Some(route.name.clone());
        }

        let mut ctx = RequestCtx::new(
            route.identity.clone(),
            origin.ip,
            origin.https,
            admitted.host,
            &admitted.path,
            parts.uri.query(),
            html,
        );
        // Reports (and a sampled span) keep the client's path and host: moved, not copied (the
        // host once the chain is done with the context).
        let noted = detailed || trace.sampled();
        if noted {
            let credentials = route.chain.credential_params();
            note_path(trace, admitted.path, parts.uri.query(), credentials);
            if detailed && !credentials.is_empty() {
                trace.credential_params = Some(credentials.clone());
            }
        }
        ctx.client_certs = client.certs.clone();
        drop_untrusted(&mut parts.headers, &origin);
        ctx.host_header = Some(admitted.host_header.clone());
        (ctx.request_id, ctx.started_ms) = (trace.request_id, trace.started_ms);
        if route.report.steps() {
            ctx.report = Some(Vec::new());
        }
        if route.strip_path {
            ctx.strip_depth = Some(route.depth(ctx.path()));
        }
        let chain = &route.chain;
        let early = chain.before_backend(&mut parts, &mut ctx).await;
        let mut resp = match early {
            Err(plugin_answer) => plugin_answer,
            Ok(()) if route.endpoint.is_some() => {
                let endpoint = route.endpoint.as_ref().expect("checked");
                match Limited::new(body, BODY_LIMIT).collect().await {
                    Ok(bytes) => endpoint.respond(&parts, &bytes.to_bytes(), &mut ctx),
                    Err(_) => refuse_and_close(
                        StatusCode::PAYLOAD_TOO_LARGE,
                        "errors.entity.too.big",
                        "request body too large",
                        html,
                    ),
                }
            }
            Ok(()) => {
                let limit = ctx.body_limit.unwrap_or(BodyLimit {
                    max: self.limits.max_body_bytes,
                    truncate: false,
                    by_route: false,
                });
                let capture = (route.report.capture && self.sinks.events.is_some())
                    .then_some(self.sinks.capture_max);
                let silence =
                    (parts.version == Version::HTTP_2).then_some(self.limits.timeouts.body_read);
                // Known before the body goes anywhere: what mirrors are sent is the same.
                let other_root = ctx.backend.as_ref().map(|(_, root)| root.clone());
                ctx.upstream_target = Some(upstream_path(
                    &route,
                    other_root.as_deref(),
                    ctx.forwarded_path(),
                    ctx.path(),
                    ctx.query(),
                ));
                match bodies::request(body, &mut parts, chain, limit, capture, silence, &mut ctx)
                    .await
                {
                    Err(Ok(refusal)) => {
                        let why = if refusal.status == StatusCode::PAYLOAD_TOO_LARGE {
                            Refusal::BodyTooLarge
                        } else {
                            Refusal::BodyAborted
                        };
                        self.metrics.refused(why);
                        trace.error = Some(refusal.cause);
                        refuse_and_close(refusal.status, refusal.cause, refusal.message, html)
                    }
                    Err(Err(plugin_answer)) => plugin_answer,
                    Ok(outgoing) => {
                        trace.upload = outgoing.upload.clone();
                        let mut resp = match chain.backend_call(&parts, &mut ctx) {
                            Some(r) => r,
                            None => {
                                let upstream = Upstream {
                                    host: admitted.host_header,
                                    origin,
                                };
                                let called = ctx.report.is_some().then(Instant::now);
                                let resp = self
                                    .forward(
                                        &route, parts, outgoing, client, upstream, &mut ctx, trace,
                                    )
                                    .await;
                                if let (Some(t), Some(report)) = (called, ctx.report.as_mut()) {
                                    report.push(Step {
                                        task: Arc::from("call-backend"),
                                        phase: "backend",
                                        duration_us: t.elapsed().as_micros() as u64,
                                    });
                                }
                                resp
                            }
                        };
                        if trace.error.is_none() {
                            if let BodyNeed::Buffered(max) = chain.needs().response_body {
                                resp = bodies::buffer_response(resp, max, chain, &mut ctx).await;
                            }
                            chain.transform_response(&mut resp, &mut ctx);
                        }
                        resp
                    }
                }
            }
        };
        resp.headers_mut().extend(ctx.response_headers.drain(..));
        trace.plan = ctx.plan.clone();
        trace.report = ctx.report.take();
        if detailed {
            trace.apikey = ctx.apikey.clone();
        }
        let logs = chain.needs().log;
        if noted {
            trace.host = Some(if logs {
                ctx.host.clone()
            } else {
                std::mem::take(&mut ctx.host)
            });
        }
        let chain_log = logs.then(|| (chain.clone(), Box::new(ctx)));
        (resp, chain_log)
    }

    #[allow(clippy::too_many_arguments)]
    async fn forward(
        &self,
        route: &komainu_runtime::CompiledRoute,
        mut parts: Parts,
        outgoing: bodies::Outgoing,
        client: &Client,
        upstream: Upstream,
        ctx: &mut RequestCtx,
        trace: &mut Record,
    ) -> Response<Body> {
        // CanaryMode may have chosen another backend for this call (its root is in the target).
        let backend = match ctx.backend.take() {
            Some((b, _)) => b,
            None => route.backend.clone(),
        };
        let target = ctx.upstream_target.take().unwrap_or_default();
        parts.uri = Uri::try_from(target).unwrap_or_else(|_| Uri::from_static("/"));
        if self.sinks.detailed() {
            // Shares the URI's bytes: no copy.
            trace.upstream_uri = Some(parts.uri.clone());
        }
        let client_upgrade = websocket::is_upgrade(&parts)
            .then(|| parts.extensions.remove::<OnUpgrade>())
            .flatten();
        parts.version = Version::HTTP_11;
        strip_hop_by_hop(&mut parts.headers);
        if client_upgrade.is_some() {
            websocket::keep_upgrade(&mut parts.headers);
            websocket::offer_deflate_only(&mut parts.headers);
        }
        add_forwarded(
            &mut parts.headers,
            upstream.origin,
            Some(upstream.host.clone()),
        );
        parts.headers.insert(header::HOST, upstream.host);
        // Owned by a shared allocation: the retry template's copy of the headers shares it.
        if let Some(cx) = &trace.trace
            && let Ok(v) =
                HeaderValue::from_maybe_shared(bytes::Bytes::from_owner(cx.traceparent()))
        {
            parts.headers.insert(TRACEPARENT, v);
        }

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
        let bodies::Outgoing { body, upload } = outgoing;
        let caller = Caller {
            client_ip: ctx.client_ip,
            tracking_id: tracking.as_deref(),
            upload,
            deadline: grpc::is_grpc(&parts.headers)
                .then(|| grpc::timeout(&parts.headers))
                .flatten(),
        };
        let busy = Some(client.activity.busy());
        match backend
            .call(parts, body, &caller, ctx.override_host, busy)
            .await
        {
            Ok((mut resp, info)) => {
                trace.upstream = Some(info.upstream_latency);
                trace.attempts = info.attempts;
                ctx.target_host = Some(info.target.host_name());
                trace.target = Some(info.target);
                strip_hop_by_hop(resp.headers_mut());
                // The client's connection speaks its own version, whatever the upstream spoke.
                *resp.version_mut() = Version::default();
                if resp.status() == StatusCode::SWITCHING_PROTOCOLS {
                    let upstream_upgrade = resp.extensions_mut().remove::<OnUpgrade>();
                    let (Some(c), Some(u)) = (client_upgrade, upstream_upgrade) else {
                        trace.error = Some("errors.proxy.error");
                        self.metrics.upstream_error();
                        return gateway_error(
                            StatusCode::BAD_GATEWAY,
                            "errors.proxy.error",
                            "the backend switched protocols unasked",
                            ctx.html,
                        );
                    };
                    websocket::keep_upgrade(resp.headers_mut());
                    client.activity.set_upgraded();
                    websocket::spawn(
                        c,
                        u,
                        websocket::Relay {
                            idle: backend.idle_timeout(),
                            stop: client.lease.stop.clone(),
                            open: self.metrics.listener.websocket(),
                            lease: client.lease.place.clone(),
                            deflate: websocket::deflate_accepted(resp.headers()),
                        },
                    );
                }
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
                let (mut status, mut cause, mut message) = e.response_parts();
                let too_large = e.kind
                    == UpstreamErrorKind::ClientBody(komainu_http::ClientBodyError::TooLarge);
                if let (true, Some(limit)) = (too_large, ctx.body_limit) {
                    let r = bodies::too_large(limit);
                    (status, cause, message) = (r.status, r.cause, r.message);
                }
                trace.error = Some(cause);
                if e.is_client_fault() {
                    let why = match e.kind {
                        UpstreamErrorKind::ClientBody(komainu_http::ClientBodyError::TooLarge) => {
                            Refusal::BodyTooLarge
                        }
                        _ => Refusal::BodyAborted,
                    };
                    self.metrics.refused(why);
                    tracing::debug!(route = %route.identity.id, error = %e, "request refused: the client's body failed");
                    return refuse_and_close(status, cause, message, ctx.html);
                }
                self.metrics.upstream_error();
                trace.attempts = trace.attempts.max(1);
                trace.upstream_error = Some(cause_index(e.kind));
                trace.error_detail = Some(format!("{}: {}", e.kind.label(), e.detail));
                match e.kind {
                    UpstreamErrorKind::CircuitOpen | UpstreamErrorKind::NoTarget => {
                        tracing::debug!(route = %route.identity.id, error = %e, "backend call failed")
                    }
                    _ => {
                        tracing::warn!(route = %route.identity.id, cause, error = %e.detail, "backend call failed")
                    }
                }
                gateway_error(status, cause, message, ctx.html)
            }
        }
    }
}

/// What reports show of where a request went: its canonical path with the query (credentials
/// redacted: the usual parameters, and `route`'s own).
fn note_path(trace: &mut Record, mut path: String, query: Option<&str>, route: &[Box<str>]) {
    if let Some(q) = query {
        path.push('?');
        path.push_str(&redact_query(q, route));
        trace.has_query = true;
    }
    trace.logged_path = Some(path);
}

/// The `komainu_upstream_errors_total{cause}` a failed backend call counts under.
fn cause_index(kind: UpstreamErrorKind) -> usize {
    let label = kind.label();
    komainu_observe::route_stats::CAUSES
        .iter()
        .position(|c| *c == label)
        .unwrap_or(komainu_observe::route_stats::CAUSES.len() - 1)
}

/// What the upstream request is addressed with: the client's host, and who the client is.
struct Upstream {
    host: HeaderValue,
    origin: crate::forward::Origin,
}

#[cfg(test)]
mod tests {
    use super::{host_only, valid_host};

    #[test]
    fn hosts_are_names_or_addresses_with_a_port_at_most() {
        for good in [
            "a.example",
            "A.Example:8080",
            "127.0.0.1",
            "[::1]",
            "[::1]:9000",
            "x_y",
        ] {
            assert!(valid_host(good), "{good}");
        }
        // ::0[:095 was found by the fuzz target `host`.
        for bad in [
            "", "::0[:095", "a:b:c", "a:", "[::1", "[::1]x", "a]b[", "[]", "a:123456",
        ] {
            assert!(!valid_host(bad), "{bad}");
        }
        assert_eq!(host_only("[::1]:9000"), "[::1]");
        assert_eq!(host_only("A.Example:8080"), "a.example");
    }
}
