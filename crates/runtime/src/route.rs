//! A route ready to serve: where it listens, what it checks, which plugins run, where it forwards.

use std::sync::Arc;

use komainu_observe::RouteStats;

use http::{HeaderMap, HeaderName, Method};
use komainu_plugins::token_endpoint::Endpoint;
use komainu_plugins::{Chain, RouteIdentity};
use komainu_upstream::Backend;

use crate::pattern::Segment;

/// What a route's extra conditions look at in a request.
pub struct RequestView<'a> {
    pub method: &'a Method,
    pub headers: &'a HeaderMap,
    pub query: Option<&'a str>,
}

pub struct CompiledRoute {
    /// Id, API and groups: what API keys are scoped to.
    pub identity: Arc<RouteIdentity>,
    pub name: Arc<str>,
    pub(crate) pattern: Vec<Segment>,
    pub exact: bool,
    pub strip_path: bool,
    methods: Vec<Method>,
    headers: Vec<(HeaderName, String)>,
    query: Vec<(String, String)>,
    /// The testing header a draft route requires.
    testing: Option<(HeaderName, String)>,
    /// Path prepended upstream (`/` is none).
    pub root: String,
    /// Forward to `root` alone, with `${req.pathparams.NAME}` substituted.
    pub rewrite: bool,
    pub backend: Arc<Backend>,
    pub chain: Arc<Chain>,
    /// Answered by the gateway itself (the OAuth2 token endpoint), not by the backend.
    pub endpoint: Option<Arc<dyn Endpoint>>,
    /// The route's counters, the same across snapshots.
    pub stats: Arc<RouteStats>,
    /// What the route's calls report beyond metrics (the API's, or the route's own, switches).
    pub report: Report,
}

/// Seed 001's switches: `debug_flow`, `export_reporting` and `capture`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Report {
    /// Log each call's execution report (its plugin steps and their durations).
    pub debug_flow: bool,
    /// Add the execution report to each call's gateway event.
    pub export_reporting: bool,
    /// Add the request and response bodies (bounded) to each call's gateway event.
    pub capture: bool,
}

impl Report {
    /// Whether calls need their plugin steps timed.
    pub fn steps(&self) -> bool {
        self.debug_flow || self.export_reporting
    }
}

pub(crate) struct RouteSpec {
    pub id: String,
    pub name: String,
    pub api_id: Option<String>,
    pub groups: Vec<String>,
    pub path: String,
    pub exact: bool,
    pub strip_path: bool,
    pub methods: Vec<String>,
    pub headers: Vec<(String, String)>,
    pub query: Vec<(String, String)>,
    pub testing: Option<(String, String)>,
    pub root: String,
    pub rewrite: bool,
    pub backend: Arc<Backend>,
    pub chain: Arc<Chain>,
    pub endpoint: Option<Arc<dyn Endpoint>>,
    pub report: Report,
}

impl CompiledRoute {
    pub(crate) fn new(spec: RouteSpec, stats: Arc<RouteStats>) -> Self {
        let header =
            |(k, v): (String, String)| HeaderName::try_from(k.as_str()).ok().map(|n| (n, v));
        CompiledRoute {
            identity: Arc::new(RouteIdentity {
                id: spec.id,
                api_id: spec.api_id,
                groups: spec.groups,
            }),
            name: Arc::from(spec.name),
            pattern: crate::pattern::parse(&spec.path),
            exact: spec.exact,
            strip_path: spec.strip_path,
            methods: spec
                .methods
                .iter()
                .filter_map(|m| Method::from_bytes(m.as_bytes()).ok())
                .collect(),
            headers: spec.headers.into_iter().filter_map(header).collect(),
            query: spec.query,
            testing: spec.testing.and_then(header),
            root: spec.root,
            rewrite: spec.rewrite,
            backend: spec.backend,
            chain: spec.chain,
            endpoint: spec.endpoint,
            stats,
            report: spec.report,
        }
    }

    /// Sort key among routes ending at the same path node: most specific first, then by id.
    pub(crate) fn priority(&self) -> (bool, bool, bool, usize, &str) {
        (
            self.testing.is_none(),
            !self.exact,
            self.methods.is_empty(),
            usize::MAX - (self.headers.len() + self.query.len()),
            &self.identity.id,
        )
    }

    /// Whether method, headers, query and testing header match.
    pub fn accepts(&self, req: &RequestView<'_>) -> bool {
        let header_is = |name: &HeaderName, value: &str| {
            req.headers
                .get(name)
                .is_some_and(|v| v.as_bytes() == value.as_bytes())
        };
        (self.methods.is_empty() || self.methods.contains(req.method))
            && self.headers.iter().all(|(n, v)| header_is(n, v))
            && self.testing.as_ref().is_none_or(|(n, v)| header_is(n, v))
            && self
                .query
                .iter()
                .all(|(k, v)| query_value(req.query, k) == Some(v.as_str()))
    }

    /// How many segments of `path` the route's pattern consumes: all of them after a rest
    /// parameter.
    pub fn depth(&self, path: &str) -> usize {
        match self.pattern.last() {
            Some(Segment::Rest(_)) => path.split('/').filter(|s| !s.is_empty()).count(),
            _ => self.pattern.len(),
        }
    }

    /// The values of the pattern's parameters in `path` (a rest parameter's spans the rest).
    pub fn path_params<'p>(&self, path: &'p str) -> Vec<(&str, &'p str)> {
        let mut params = Vec::new();
        let segs = path.split('/').filter(|s| !s.is_empty());
        for (i, (seg, value)) in self.pattern.iter().zip(segs).enumerate() {
            match seg {
                Segment::Param(name) => params.push((name.as_str(), value)),
                Segment::Template(t) => {
                    t.read(value, |name, v| params.push((name, v)));
                }
                Segment::Rest(name) => {
                    let rest = komainu_http::after_segments(path, i);
                    params.push((name.as_str(), rest.trim_start_matches('/')));
                }
                Segment::Static(_) => {}
            }
        }
        params
    }
}

fn query_value<'a>(query: Option<&'a str>, key: &str) -> Option<&'a str> {
    query?
        .split('&')
        .filter_map(|kv| kv.split_once('=').or(Some((kv, ""))))
        .find(|(k, _)| *k == key)
        .map(|(_, v)| v)
}
