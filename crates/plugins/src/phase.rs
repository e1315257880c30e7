//! The request lifecycle as one trait: each phase in the order it runs, each a no-op by default.

use std::net::IpAddr;
use std::sync::Arc;

use komainu_keys::RouteIdentity;

use http::request::Parts;
use http::{HeaderName, HeaderValue, Response};

use crate::Body;

/// What a phase decides.
pub enum Outcome {
    /// Go on with the next plugin, then the next phase.
    Continue,
    /// Stop here and answer the client with this response (the backend is not called).
    Respond(Response<Body>),
}

/// A route's bound on request bodies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BodyLimit {
    pub max: u64,
    /// Cut the body at `max` and forward the start, instead of refusing it with 413.
    pub truncate: bool,
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
    pub client_certs: Option<Arc<komainu_http::PeerChain>>,
    /// Headers added to the response sent to the client, whatever produces it.
    pub response_headers: Vec<(HeaderName, HeaderValue)>,
    /// Values plugins hand to their own later phases.
    pub attrs: http::Extensions,
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
            response_headers: Vec::new(),
            attrs: http::Extensions::new(),
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
}

/// A plugin: joins the phases it needs. Phases run for every plugin of the chain in order, phase
/// after phase: all `pre_route`s, then all `access`es, and so on.
pub trait Plugin: Send + Sync + 'static {
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

    /// Changes the response before it goes to the client.
    fn transform_response(&self, _resp: &mut Response<Body>, _ctx: &mut RequestCtx) {}
}
