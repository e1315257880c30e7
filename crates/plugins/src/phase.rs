//! The request lifecycle as one trait: each phase in the order it runs, each a no-op by default.
//!
//! The phases a plugin joins beyond the header phases (request or response bodies, the log after
//! the response) are declared once by [`Plugin::needs`], when the chain is built: a chain whose
//! plugins need none of them costs a request nothing for them.

use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use komainu_keys::RouteIdentity;

use http::request::Parts;
use http::{HeaderName, HeaderValue, Response};

use crate::Body;

/// What a header phase decides.
pub enum Outcome {
    /// Go on with the next plugin, then the next phase.
    Continue,
    /// Stop here and answer the client with this response (the backend is not called).
    Respond(Response<Body>),
    /// Wait for this (I/O the decision needs), then decide with the request in hand.
    Await(Pending),
}

/// What a plugin waits for, and what it then does with the request.
pub type Pending = Pin<Box<dyn Future<Output = Resume> + Send>>;
/// The rest of a phase after an [`Outcome::Await`], run with the request and its context.
pub type Resume = Box<dyn FnOnce(&mut Parts, &mut RequestCtx) -> Outcome + Send>;

/// What a whole-body phase decides (`H` is the request's or the response's head).
pub enum BodyOutcome<H> {
    /// Go on with the (possibly changed) body.
    Continue,
    /// Answer with this instead (in place of the backend's answer, or of the response).
    Respond(Response<Body>),
    /// Wait for this (work done off the request's thread), then decide with the head and body.
    Await(BodyPending<H>),
}

/// What a body phase waits for.
pub type BodyPending<H> = Pin<Box<dyn Future<Output = BodyResume<H>> + Send>>;
/// The rest of a body phase after a [`BodyOutcome::Await`].
pub type BodyResume<H> =
    Box<dyn FnOnce(&mut H, &mut Bytes, &mut RequestCtx) -> BodyOutcome<H> + Send>;

/// How a plugin reads a body.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum BodyNeed {
    /// It does not.
    #[default]
    None,
    /// Chunk by chunk, as it streams: the plugin wraps the body (`*_body_stream`).
    Stream,
    /// Whole, up to this many bytes (a larger body is refused): the plugin gets it in
    /// `transform_*_body`.
    Buffered(usize),
}

/// The phases beyond the header ones that a plugin joins.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Needs {
    pub request_body: BodyNeed,
    pub response_body: BodyNeed,
    /// `log` after the response is sent.
    pub log: bool,
}

/// How a call ended, for the log phase.
#[derive(Clone, Copy, Debug)]
pub struct Done {
    pub status: u16,
    /// From the request head to the last byte of the response (or the client leaving).
    pub duration: Duration,
    /// Response body bytes sent to the client.
    pub bytes_out: u64,
    /// Whether the response body was sent whole (false: the client went away, or the stream broke).
    pub complete: bool,
}

/// A route's bound on request bodies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BodyLimit {
    pub max: u64,
    /// Cut the body at `max` and forward the start, instead of refusing it with 413.
    pub truncate: bool,
    /// Set by the route (RequestBodyLengthLimiter), not the listener: a refusal says Otoroshi's
    /// cause for it.
    pub by_route: bool,
}

/// Per-request state, created once by the proxy and passed to every phase.
pub struct RequestCtx {
    /// The matched route: what credentials are scoped to.
    pub route: Arc<RouteIdentity>,
    /// The client's address: the socket peer, or what a trusted proxy says it is.
    pub client_ip: IpAddr,
    /// Whether the client reached the gateway over TLS (or a trusted proxy says it did).
    pub https: bool,
    /// The host the client asked for, lowercase, without port.
    pub host: String,
    /// The host and port as the client gave them (`Host` or `:authority`).
    pub host_header: Option<HeaderValue>,
    /// The canonical path (`komainu_http::path`) and the query, as forwarded upstream.
    path_and_query: String,
    path_len: usize,
    /// The canonical path without matrix parameters, when it has some.
    match_path: Option<String>,
    /// Whether gateway errors should be an HTML page (the client's `Accept` prefers it).
    pub html: bool,
    /// Set by OverrideHost: the upstream `Host` becomes the chosen target's hostname.
    pub override_host: bool,
    /// How large a request body this route accepts, when a plugin says (else the listener's).
    pub body_limit: Option<BodyLimit>,
    /// The client certificates the TLS listener verified (mTLS).
    pub client_certs: Option<Arc<komainu_tls::PeerChain>>,
    /// This call's id (Otoroshi's snowflake form: time, node, sequence).
    pub request_id: u64,
    /// When the request head was read, milliseconds since the epoch.
    pub started_ms: i64,
    /// The segments of the path the route's `strip_path` takes off (None: not stripped).
    pub strip_depth: Option<usize>,
    /// The path and query the backend is sent (its route's `strip_path`, `root` and `rewrite`
    /// applied), once the header phases are done.
    pub upstream_target: Option<String>,
    /// The host of the target that answered, once the backend has.
    pub target_host: Option<Arc<str>>,
    /// Another backend for this call than the route's (CanaryMode), and the root of its paths.
    pub backend: Option<(Arc<komainu_upstream::Backend>, Arc<str>)>,
    /// The API key the call presented, once ApikeyCalls (or a plan) accepted it.
    pub apikey: Option<Arc<komainu_keys::CompiledKey>>,
    /// The request body, when a plugin of the chain reads it whole (`BodyNeed::Buffered`): what a
    /// backend-call plugin answers from.
    pub request_body: Option<Bytes>,
    /// Headers added to the response sent to the client, whatever produces it.
    pub response_headers: Vec<(HeaderName, HeaderValue)>,
    /// Values plugins hand to their own later phases.
    pub attrs: http::Extensions,
    /// The plan that admitted the call, when the route's flow has plans.
    pub plan: Option<Arc<str>>,
    /// The call's execution report, when its API asks for one (`debug_flow`, `export_reporting`):
    /// each plugin step and how long it took.
    pub report: Option<Vec<Step>>,
}

/// One step of a call's execution report.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Step {
    /// The plugin (its configured id), or what the gateway did (`call-backend`).
    pub task: Arc<str>,
    pub phase: &'static str,
    pub duration_us: u64,
}

impl RequestCtx {
    /// The context of a request for `route`; `path` is canonical.
    pub fn new(
        route: Arc<RouteIdentity>,
        client_ip: IpAddr,
        https: bool,
        host: String,
        path: &str,
        query: Option<&str>,
        html: bool,
    ) -> Self {
        let mut path_and_query =
            String::with_capacity(path.len() + query.map_or(0, |q| q.len() + 1));
        path_and_query.push_str(path);
        if let Some(q) = query {
            path_and_query.push('?');
            path_and_query.push_str(q);
        }
        let match_path = match komainu_http::match_path(path) {
            std::borrow::Cow::Owned(m) => Some(m),
            std::borrow::Cow::Borrowed(_) => None,
        };
        RequestCtx {
            route,
            client_ip,
            https,
            host,
            path_and_query,
            path_len: path.len(),
            match_path,
            html,
            override_host: false,
            body_limit: None,
            client_certs: None,
            host_header: None,
            request_id: 0,
            started_ms: 0,
            strip_depth: None,
            upstream_target: None,
            target_host: None,
            backend: None,
            apikey: None,
            request_body: None,
            response_headers: Vec::new(),
            attrs: http::Extensions::new(),
            plan: None,
            report: None,
        }
    }

    /// The path routes and path rules match: canonical, without matrix parameters.
    pub fn path(&self) -> &str {
        self.match_path
            .as_deref()
            .unwrap_or(&self.path_and_query[..self.path_len])
    }

    /// The canonical path as forwarded (matrix parameters kept).
    pub fn forwarded_path(&self) -> &str {
        &self.path_and_query[..self.path_len]
    }

    /// The query, as received.
    pub fn query(&self) -> Option<&str> {
        self.path_and_query.get(self.path_len + 1..)
    }

    /// The canonical path and the query.
    pub fn path_and_query(&self) -> &str {
        &self.path_and_query
    }

    /// The host the client called, with its port when it gave one that is not the scheme's default.
    pub fn authority(&self) -> &str {
        self.host_header
            .as_ref()
            .and_then(|v| v.to_str().ok())
            .unwrap_or(&self.host)
    }

    /// The part of the path the route strips (`X-Forwarded-Prefix`), when it strips one.
    pub fn stripped_prefix(&self) -> Option<&str> {
        let path = self.forwarded_path();
        let rest = komainu_http::after_segments(path, self.strip_depth?);
        Some(&path[..path.len() - rest.len()]).filter(|p| !p.is_empty() && *p != "/")
    }

    /// Replaces the query forwarded upstream.
    pub fn set_query(&mut self, query: Option<&str>) {
        self.path_and_query.truncate(self.path_len);
        if let Some(q) = query {
            self.path_and_query.push('?');
            self.path_and_query.push_str(q);
        }
    }
}

/// A plugin: joins the phases it needs. Phases run for every plugin of the chain in order, phase
/// after phase: all `pre_route`s, then all `access`es, and so on.
pub trait Plugin: Send + Sync + 'static {
    /// The body and log phases this plugin joins (read once, when the chain is built).
    fn needs(&self) -> Needs {
        Needs::default()
    }

    /// Before anything else: may answer at once (redirections, maintenance, CORS preflight).
    fn pre_route(&self, _req: &mut Parts, _ctx: &mut RequestCtx) -> Outcome {
        Outcome::Continue
    }

    /// Decides whether the call may go on (IP lists, methods, credentials).
    fn access(&self, _req: &mut Parts, _ctx: &mut RequestCtx) -> Outcome {
        Outcome::Continue
    }

    /// Changes the request before it goes upstream.
    fn transform_request(&self, _req: &mut Parts, _ctx: &mut RequestCtx) -> Outcome {
        Outcome::Continue
    }

    /// Answers in place of the backend; the first plugin answering wins.
    fn backend_call(&self, _req: &Parts, _ctx: &mut RequestCtx) -> Option<Response<Body>> {
        None
    }

    /// The answer to a body larger than this plugin reads whole (`BodyNeed::Buffered`), in place
    /// of the gateway's 413 (EchoBackend answers Otoroshi's).
    fn too_large_answer(&self, _ctx: &RequestCtx) -> Option<Response<Body>> {
        None
    }

    /// Changes the request body as it streams (`BodyNeed::Stream`): returns the body to forward.
    fn request_body_stream(&self, body: Body, _ctx: &mut RequestCtx) -> Body {
        body
    }

    /// Reads or changes the whole request body (`BodyNeed::Buffered`), after `transform_request`.
    /// Work that may take long (jq, a schema over MiBs) is awaited, not done here.
    fn transform_request_body(
        &self,
        _req: &mut Parts,
        _body: &mut Bytes,
        _ctx: &mut RequestCtx,
    ) -> BodyOutcome<Parts> {
        BodyOutcome::Continue
    }

    /// Changes the response before it goes to the client (its body may be wrapped to stream it
    /// through a transformation).
    fn transform_response(&self, _resp: &mut Response<Body>, _ctx: &mut RequestCtx) {}

    /// Reads or changes the whole response body (`BodyNeed::Buffered`), after
    /// `transform_response`; `Respond` replaces the response.
    fn transform_response_body(
        &self,
        _resp: &mut http::response::Parts,
        _body: &mut Bytes,
        _ctx: &mut RequestCtx,
    ) -> BodyOutcome<http::response::Parts> {
        BodyOutcome::Continue
    }

    /// After the response was sent (or the client left): counts, reports, mirrors' bookkeeping.
    fn log(&self, _ctx: &RequestCtx, _done: &Done) {}

    /// Query parameters this plugin reads credentials from: their values never reach a log or an
    /// event (read once, when the chain is built).
    fn credential_params(&self) -> Vec<String> {
        Vec::new()
    }

    /// The tracer this plugin traces the route's calls with (W3CTracing), run by the engine.
    fn tracer(&self) -> Option<Arc<komainu_observe::Tracer>> {
        None
    }
}
