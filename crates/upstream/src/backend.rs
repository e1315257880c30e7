//! A backend at run time: its targets, balancer and client settings, and the call itself: pick a
//! target, reuse or open a connection, send, and retry where it is safe.
//!
//! Retry safety is exact: a request hyper never wrote (connection refused, pooled connection found
//! closed) is sent again whatever its method, body untouched; a request that was written is sent
//! again only if its method is idempotent and it has no body to replay.

use std::sync::Arc;
use std::time::{Duration, Instant};

use http::request::Parts;
use http::{HeaderValue, Method, Request, Response, header};
use hyper::body::Body as HttpBody;
use hyper::client::conn::http1::SendRequest;
use komainu_model::{NgBackend, NgClientConfig};
use komainu_plugins::{Body, empty};

use crate::balancer::{Balancer, Pick};
use crate::body::UpstreamBody;
use crate::connect;
use crate::error::{UpstreamError, UpstreamErrorKind as Kind};
use crate::health;
use crate::target::{Inflight, Target};

/// The cookie carrying a client's tracking id for Sticky load balancing (Otoroshi's name).
pub const STICKY_COOKIE: &str = "otoroshi-tracking";

struct Settings {
    retries: u32,
    retry_initial_delay: Duration,
    backoff_factor: f64,
    connection_timeout: Duration,
    call_timeout: Duration,
    call_and_stream_timeout: Duration,
    global_timeout: Duration,
}

pub struct Backend {
    targets: Vec<Arc<Target>>,
    balancer: Balancer,
    settings: Settings,
}

/// Who is calling: what load balancing may key on besides the request itself.
pub struct Caller<'a> {
    pub client_ip: std::net::IpAddr,
    /// The client's `otoroshi-tracking` id (Sticky), generated when it had none.
    pub tracking_id: Option<&'a str>,
}

/// What a successful call went through, for headers and logs.
pub struct CallInfo {
    pub target: Arc<Target>,
    /// Time from the first attempt to the response headers.
    pub upstream_latency: Duration,
    pub attempts: u32,
}

enum Attempt {
    Done(Response<Body>, Arc<Target>),
    /// Failed before anything was written: the request comes back whole.
    NotSent(Request<Body>, UpstreamError),
    /// Failed after the request was written.
    Sent(UpstreamError),
}

fn ms(v: u64) -> Duration {
    Duration::from_millis(v)
}

fn idempotent(m: &Method) -> bool {
    matches!(
        *m,
        Method::GET | Method::HEAD | Method::OPTIONS | Method::PUT | Method::DELETE | Method::TRACE
    )
}

impl Backend {
    /// Builds the runtime backend and starts its health checks (they stop when it is dropped).
    pub fn new(cfg: &NgBackend, client: &NgClientConfig) -> Arc<Backend> {
        let targets: Vec<Arc<Target>> = cfg
            .targets
            .iter()
            .map(|t| Arc::new(Target::new(t, client)))
            .collect();
        let balancer = Balancer::new(&cfg.load_balancing, &targets);
        let settings = Settings {
            retries: client.retries,
            retry_initial_delay: ms(client.retry_initial_delay),
            backoff_factor: client.backoff_factor.max(1.0),
            connection_timeout: ms(client.connection_timeout),
            call_timeout: ms(client.call_timeout),
            call_and_stream_timeout: ms(client.call_and_stream_timeout),
            global_timeout: ms(client.global_timeout),
        };
        let backend = Arc::new(Backend {
            targets,
            balancer,
            settings,
        });
        if let Some(hc) = cfg.health_check.as_ref().filter(|h| h.enabled) {
            health::spawn(Arc::downgrade(&backend), hc.clone());
        }
        backend
    }

    pub fn targets(&self) -> &[Arc<Target>] {
        &self.targets
    }

    /// Whether clients need an `otoroshi-tracking` cookie (Sticky load balancing).
    pub fn needs_tracking_cookie(&self) -> bool {
        self.balancer.needs_tracking_cookie()
    }

    /// Sends the request to a target and returns the response as soon as its headers arrive; the
    /// body streams afterwards. `parts.uri` is the upstream path and query.
    pub async fn call(
        &self,
        parts: Parts,
        body: Body,
        caller: &Caller<'_>,
        override_host: bool,
    ) -> Result<(Response<Body>, CallInfo), UpstreamError> {
        let started = Instant::now();
        match tokio::time::timeout(
            self.settings.global_timeout,
            self.attempts(parts, body, caller, override_host),
        )
        .await
        {
            Ok(Ok((resp, target, attempts))) => Ok((
                resp,
                CallInfo {
                    target,
                    upstream_latency: started.elapsed(),
                    attempts,
                },
            )),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(UpstreamError::new(Kind::Timeout, "globalTimeout reached")),
        }
    }

    async fn attempts(
        &self,
        parts: Parts,
        body: Body,
        caller: &Caller<'_>,
        override_host: bool,
    ) -> Result<(Response<Body>, Arc<Target>, u32), UpstreamError> {
        let replayable = body.is_end_stream();
        let retry_after_send = replayable && idempotent(&parts.method);
        // Kept only when a written request may have to be written again.
        let template = (retry_after_send && self.settings.retries > 0).then(|| {
            (
                parts.method.clone(),
                parts.uri.clone(),
                parts.version,
                parts.headers.clone(),
            )
        });
        let mut request = Some(Request::from_parts(parts, body));
        let mut tried: Vec<usize> = Vec::new();
        let mut last = UpstreamError::new(Kind::NoTarget, "this backend has no target");
        let mut delay = self.settings.retry_initial_delay;
        for attempt in 0..=self.settings.retries {
            if attempt > 0 {
                tokio::time::sleep(delay).await;
                delay = delay.mul_f64(self.settings.backoff_factor);
            }
            // The request of this attempt: the one not sent yet, else a copy of the written one.
            let req = match (request.take(), &template) {
                (Some(r), _) => r,
                (None, Some((m, u, v, h))) => {
                    let mut r = Request::new(empty());
                    *r.method_mut() = m.clone();
                    *r.uri_mut() = u.clone();
                    *r.version_mut() = *v;
                    *r.headers_mut() = h.clone();
                    r
                }
                (None, None) => return Err(last),
            };
            let pick = Pick {
                client_ip: caller.client_ip,
                headers: req.headers(),
                query: req.uri().query(),
                tracking_id: caller.tracking_id,
            };
            let Some(index) = self.balancer.select(&self.targets, &pick, &tried) else {
                return Err(self.unavailable());
            };
            tried.push(index);
            let target = self.targets[index].clone();
            if !target.breaker.as_ref().is_none_or(|b| b.allows()) {
                request = Some(req);
                last = UpstreamError::new(Kind::CircuitOpen, "circuit breaker open");
                continue;
            }
            match self.attempt(&target, req, override_host).await {
                Attempt::Done(resp, target) => return Ok((resp, target, attempt + 1)),
                Attempt::NotSent(req, err) => {
                    tracing::debug!(target = %target.connect_to, error = %err, "attempt failed before sending");
                    request = Some(req);
                    last = err;
                }
                Attempt::Sent(err) => {
                    tracing::debug!(target = %target.connect_to, error = %err, "attempt failed after sending");
                    if !retry_after_send {
                        return Err(err);
                    }
                    last = err;
                }
            }
        }
        Err(last)
    }

    /// The error when no target can be picked: circuit open if that is why, else no target.
    fn unavailable(&self) -> UpstreamError {
        let open = self
            .targets
            .iter()
            .any(|t| t.is_healthy() && t.breaker.as_ref().is_some_and(|b| b.is_open()));
        if open {
            UpstreamError::new(
                Kind::CircuitOpen,
                "every available target has its circuit open",
            )
        } else {
            UpstreamError::new(Kind::NoTarget, "no healthy target")
        }
    }

    async fn attempt(
        &self,
        target: &Arc<Target>,
        mut req: Request<Body>,
        override_host: bool,
    ) -> Attempt {
        let fail = |e: UpstreamError| {
            if let Some(b) = &target.breaker {
                b.failure();
            }
            e
        };
        if override_host && let Ok(v) = HeaderValue::from_str(target.hostname()) {
            req.headers_mut().insert(header::HOST, v);
        }
        let mut sender = match self.connection(target).await {
            Ok(s) => s,
            Err(e) => return Attempt::NotSent(req, fail(e)),
        };
        let inflight = Inflight::start(target.clone());
        let started = Instant::now();
        let sent =
            tokio::time::timeout(self.settings.call_timeout, sender.try_send_request(req)).await;
        match sent {
            Ok(Ok(resp)) => {
                target.record_response_time(started.elapsed());
                if let Some(b) = &target.breaker {
                    b.success();
                }
                let deadline = tokio::time::sleep(
                    self.settings
                        .call_and_stream_timeout
                        .saturating_sub(started.elapsed()),
                );
                let (parts, incoming) = resp.into_parts();
                let body = UpstreamBody::new(incoming, deadline, sender, inflight);
                Attempt::Done(Response::from_parts(parts, Body::new(body)), target.clone())
            }
            Ok(Err(mut e)) => {
                let err = fail(UpstreamError::new(Kind::Other, e.error().to_string()));
                match e.take_message() {
                    Some(req) => Attempt::NotSent(req, err),
                    None => Attempt::Sent(err),
                }
            }
            Err(_) => Attempt::Sent(fail(UpstreamError::new(
                Kind::Timeout,
                "callTimeout reached",
            ))),
        }
    }

    /// A pooled connection that is ready, or a new one.
    async fn connection(&self, target: &Target) -> Result<SendRequest<Body>, UpstreamError> {
        while let Some(mut sender) = target.pool.take() {
            // A pooled connection becomes ready once its previous response has been read; most
            // already are, and need no timer.
            if sender.is_ready() {
                return Ok(sender);
            }
            if let Ok(Ok(())) =
                tokio::time::timeout(Duration::from_millis(50), sender.ready()).await
            {
                return Ok(sender);
            }
        }
        connect::open(target, self.settings.connection_timeout).await
    }
}
