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
use komainu_http::{Body, Busy, Upload, empty};
use komainu_model::{NgBackend, NgClientConfig};
use komainu_tls::CertIndex;

use crate::balancer::{Balancer, Pick};
use crate::body::UpstreamBody;
use crate::connect;
use crate::error::{UpstreamError, UpstreamErrorKind as Kind};
use crate::health;
use crate::sender::Sender;
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
    idle_timeout: Duration,
}

pub struct Backend {
    targets: Vec<Arc<Target>>,
    balancer: Balancer,
    settings: Settings,
}

/// Who is calling: what load balancing may key on besides the request itself, and the state of
/// the client's upload (a call timing out while the client still uploads is the client's fault).
pub struct Caller<'a> {
    pub client_ip: std::net::IpAddr,
    /// The client's `otoroshi-tracking` id (Sticky), generated when it had none.
    pub tracking_id: Option<&'a str>,
    /// Set when the request has a streamed body.
    pub upload: Option<Upload>,
    /// The client's own deadline (gRPC's `grpc-timeout`): it bounds the whole call, body included.
    pub deadline: Option<Duration>,
}

/// What a successful call went through, for headers and logs.
pub struct CallInfo {
    pub target: Arc<Target>,
    /// Time from the first attempt to the response headers.
    pub upstream_latency: Duration,
    pub attempts: u32,
}

/// When a call started and when `globalTimeout` (or the client's earlier deadline) ends it.
struct Clock {
    started: Instant,
    global: Instant,
    /// What sets `global`: `globalTimeout` or the client's deadline.
    global_name: &'static str,
    /// Whether the client's deadline also ends the response stream.
    deadline: bool,
}

impl Clock {
    /// The earlier of a wait's own limit and the global one, with the name of the one that wins
    /// (for the error message).
    fn bound(&self, own: Instant, name: &'static str) -> (Instant, &'static str) {
        if own < self.global {
            (own, name)
        } else {
            (self.global, self.global_name)
        }
    }
}

/// A response head received: the call's result.
struct Done {
    response: Response<Body>,
    target: Arc<Target>,
    /// When the head arrived.
    answered: Instant,
    attempts: u32,
}

enum Attempt {
    Done(Done),
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
    /// `certs` holds what targets' `tls_config` names (trusted CAs, client certificates).
    pub fn new(cfg: &NgBackend, client: &NgClientConfig, certs: &CertIndex) -> Arc<Backend> {
        let targets: Vec<Arc<Target>> = cfg
            .targets
            .iter()
            .map(|t| Arc::new(Target::new(t, client, certs)))
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
            idle_timeout: ms(client.idle_timeout),
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

    /// How long an idle connection is kept: pooled ones, and relayed WebSockets with no message
    /// either way.
    pub fn idle_timeout(&self) -> Duration {
        self.settings.idle_timeout
    }

    /// Whether clients need an `otoroshi-tracking` cookie (Sticky load balancing).
    pub fn needs_tracking_cookie(&self) -> bool {
        self.balancer.needs_tracking_cookie()
    }

    /// Sends the request to a target and returns the response as soon as its headers arrive; the
    /// body streams afterwards. `parts.uri` is the upstream path and query.
    ///
    /// Every wait of the call (connect, send, back-off) is bounded by the earlier of its own
    /// timeout and `globalTimeout`, so a call arms one timer at a time instead of nesting them.
    ///
    /// `busy` marks the client connection busy while the response streams: it rides in the body.
    pub async fn call(
        &self,
        parts: Parts,
        body: Body,
        caller: &Caller<'_>,
        override_host: bool,
        busy: Option<Busy>,
    ) -> Result<(Response<Body>, CallInfo), UpstreamError> {
        let started = Instant::now();
        let global = started + self.settings.global_timeout;
        let clock = match caller.deadline.map(|d| started + d) {
            Some(deadline) if deadline < global => Clock {
                started,
                global: deadline,
                global_name: "grpc-timeout",
                deadline: true,
            },
            _ => Clock {
                started,
                global,
                global_name: "globalTimeout",
                deadline: false,
            },
        };
        let done = self
            .attempts(parts, body, caller, override_host, &clock, busy)
            .await?;
        Ok((
            done.response,
            CallInfo {
                target: done.target,
                upstream_latency: done.answered - started,
                attempts: done.attempts,
            },
        ))
    }

    async fn attempts(
        &self,
        parts: Parts,
        body: Body,
        caller: &Caller<'_>,
        override_host: bool,
        clock: &Clock,
        mut busy: Option<Busy>,
    ) -> Result<Done, UpstreamError> {
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
            // The first attempt starts with the call; later ones after their back-off.
            let mut begun = clock.started;
            if attempt > 0 {
                let wake = Instant::now() + delay;
                if wake >= clock.global {
                    tokio::time::sleep_until(clock.global.into()).await;
                    return Err(UpstreamError::new(
                        Kind::Timeout,
                        format!("{} reached", clock.global_name),
                    ));
                }
                tokio::time::sleep_until(wake.into()).await;
                delay = delay.mul_f64(self.settings.backoff_factor);
                begun = Instant::now();
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
            match self
                .attempt(&target, req, override_host, begun, clock, caller, &mut busy)
                .await
            {
                Attempt::Done(mut done) => {
                    done.attempts = attempt + 1;
                    return Ok(done);
                }
                Attempt::NotSent(req, err) => {
                    tracing::debug!(target = %target.connect_to, error = %err, "attempt failed before sending");
                    request = Some(req);
                    last = err;
                }
                Attempt::Sent(err) => {
                    tracing::debug!(target = %target.connect_to, error = %err, "attempt failed after sending");
                    if !retry_after_send || err.is_client_fault() {
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

    #[allow(clippy::too_many_arguments)]
    async fn attempt(
        &self,
        target: &Arc<Target>,
        mut req: Request<Body>,
        override_host: bool,
        begun: Instant,
        clock: &Clock,
        caller: &Caller<'_>,
        busy: &mut Option<Busy>,
    ) -> Attempt {
        // A failure the client caused is not the target's: the breaker does not hear of it.
        let fail = |e: UpstreamError| {
            if let Some(b) = &target.breaker
                && !e.is_client_fault()
            {
                b.failure();
            }
            e
        };
        if override_host && let Ok(v) = HeaderValue::from_str(target.hostname()) {
            req.headers_mut().insert(header::HOST, v);
        }
        let mut sender = match self.connection(target, clock).await {
            Ok(s) => s,
            Err(e) => return Attempt::NotSent(req, fail(e)),
        };
        let inflight = Inflight::start(target.clone());
        let (until, limit) = clock.bound(begun + self.settings.call_timeout, "callTimeout");
        // One timer per attempt: it bounds the wait for the response head, then the body stream.
        let mut timer = Box::pin(tokio::time::sleep_until(until.into()));
        let sent = tokio::select! {
            biased;
            sent = sender.try_send_request(req) => sent,
            () = &mut timer => {
                let uploading = caller.upload.as_ref().is_some_and(|u| !u.is_finished());
                let kind = if uploading { Kind::ClientTooSlow } else { Kind::Timeout };
                return Attempt::Sent(fail(UpstreamError::new(
                    kind,
                    format!("{limit} reached"),
                )));
            }
        };
        match sent {
            Ok(resp) => {
                let answered = Instant::now();
                target.record_response_time(answered - begun);
                if let Some(b) = &target.breaker {
                    b.success();
                }
                let mut stream_until = begun + self.settings.call_and_stream_timeout;
                if clock.deadline {
                    stream_until = stream_until.min(clock.global);
                }
                // A connection switched to another protocol (101) is the upgrade's, never pooled.
                let reusable =
                    (resp.status() != http::StatusCode::SWITCHING_PROTOCOLS).then_some(sender);
                let (parts, incoming) = resp.into_parts();
                let body = UpstreamBody::new(
                    incoming,
                    timer,
                    stream_until,
                    reusable,
                    inflight,
                    busy.take(),
                );
                Attempt::Done(Done {
                    response: Response::from_parts(parts, Body::new(body)),
                    target: target.clone(),
                    answered,
                    attempts: 1,
                })
            }
            Err(mut e) => {
                let err = fail(UpstreamError::from_hyper(e.error()));
                match e.take_message() {
                    Some(req) => Attempt::NotSent(req, err),
                    None => Attempt::Sent(err),
                }
            }
        }
    }

    /// A pooled connection that is ready, or a new one; for an HTTP/2 target, the shared one.
    async fn connection(&self, target: &Target, clock: &Clock) -> Result<Sender, UpstreamError> {
        if target.h2 {
            if let Some(shared) = target.pool.shared() {
                return Ok(Sender::H2(shared));
            }
            let _opening = target.pool.h2_opening.lock().await;
            if let Some(shared) = target.pool.shared() {
                return Ok(Sender::H2(shared));
            }
            let (until, limit) = clock.bound(
                Instant::now() + self.settings.connection_timeout,
                "connectionTimeout",
            );
            let opened = connect::open(target, until, limit).await?;
            if let Sender::H2(s) = &opened {
                target.pool.share(s.clone());
            }
            return Ok(opened);
        }
        while let Some(sender) = target.pool.take() {
            let mut sender = Sender::H1(sender);
            // A pooled connection becomes ready once its previous response has been read; most
            // already are, and need no timer.
            if sender.is_ready() {
                return Ok(sender);
            }
            let (until, _) = clock.bound(Instant::now() + Duration::from_millis(50), "");
            if let Ok(Ok(())) = tokio::time::timeout_at(until.into(), sender.ready()).await {
                return Ok(sender);
            }
        }
        let (until, limit) = clock.bound(
            Instant::now() + self.settings.connection_timeout,
            "connectionTimeout",
        );
        connect::open(target, until, limit).await
    }
}
