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

/// Per-request state, created once by the proxy and passed to every phase.
pub struct RequestCtx {
    /// The matched route: what credentials are scoped to.
    pub route: Arc<RouteIdentity>,
    pub client_ip: IpAddr,
    /// Whether the client reached the gateway over TLS.
    pub https: bool,
    /// The host the client asked for, lowercase, without port.
    pub host: String,
    /// The client's path and query, as received.
    pub path_and_query: String,
    /// Whether gateway errors should be an HTML page (the client's `Accept` prefers it).
    pub html: bool,
    /// Set by OverrideHost: the upstream `Host` becomes the chosen target's hostname.
    pub override_host: bool,
    /// Headers added to the response sent to the client, whatever produces it.
    pub response_headers: Vec<(HeaderName, HeaderValue)>,
    /// Values plugins hand to their own later phases.
    pub attrs: http::Extensions,
}

impl RequestCtx {
    /// The path without the query.
    pub fn path(&self) -> &str {
        let pq = self.path_and_query.as_str();
        pq.bytes().position(|b| b == b'?').map_or(pq, |i| &pq[..i])
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
