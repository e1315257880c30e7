//! Cors: answers preflights and adds CORS headers to responses, with Otoroshi's rules. Config:
//! `allow_origin` ("*"), `expose_headers`, `allow_headers`, `allow_methods`, `excluded_patterns`
//! (paths getting no CORS headers), `max_age` (seconds), `allow_credentials` (true).

use std::sync::Arc;

use http::request::Parts;
use http::{HeaderMap, HeaderName, HeaderValue, Method, Response, StatusCode, header};
use regex::RegexSet;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::config::ConfigError;
use crate::def::PluginDef;
use crate::{Outcome, Plugin, RequestCtx, config, empty, gateway_error};

#[derive(Deserialize, Serialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
struct Config {
    allow_origin: String,
    expose_headers: Vec<String>,
    allow_headers: Vec<String>,
    allow_methods: Vec<String>,
    excluded_patterns: Vec<String>,
    max_age: Option<u64>,
    allow_credentials: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            allow_origin: "*".into(),
            expose_headers: Vec::new(),
            allow_headers: Vec::new(),
            allow_methods: Vec::new(),
            excluded_patterns: Vec::new(),
            max_age: None,
            allow_credentials: true,
        }
    }
}

struct Cors {
    allow_origin: String,
    allow_headers: Vec<String>,
    allow_methods: Vec<String>,
    excluded: Option<RegexSet>,
    /// The headers sent on every response CORS applies to, computed once.
    headers: Vec<(HeaderName, HeaderValue)>,
}

impl Cors {
    /// Otoroshi's `shouldNotPass`: origin, requested headers and requested method must all be allowed.
    fn refuses(&self, h: &HeaderMap) -> bool {
        let text = |name: &str| h.get(name).and_then(|v| v.to_str().ok());
        let origin_ok = match text("origin") {
            Some(o) => self.allow_origin == "*" || o.to_ascii_lowercase() == self.allow_origin,
            None => self.allow_origin == "*",
        };
        let credentials = h.contains_key(header::COOKIE) || h.contains_key(header::AUTHORIZATION);
        let headers_ok = if !credentials && self.allow_headers.iter().any(|a| a == "*") {
            true
        } else {
            match text("access-control-request-headers") {
                Some(list) => list
                    .split(',')
                    .map(|s| s.trim().to_ascii_lowercase())
                    .all(|s| self.allow_headers.contains(&s)),
                None => true,
            }
        };
        let method_ok = match text("access-control-request-method") {
            Some(m) => self
                .allow_methods
                .iter()
                .any(|a| a.eq_ignore_ascii_case(m.trim())),
            None => true,
        };
        !(origin_ok && headers_ok && method_ok)
    }

    fn applies(&self, path: &str) -> bool {
        !self.excluded.as_ref().is_some_and(|set| set.is_match(path))
    }
}

impl Plugin for Cors {
    fn pre_route(&self, req: &mut Parts, ctx: &mut RequestCtx) -> Outcome {
        let preflight = req.method == Method::OPTIONS
            && req.headers.contains_key("access-control-request-method");
        if preflight {
            if self.refuses(&req.headers) {
                return Outcome::Respond(gateway_error(
                    StatusCode::NOT_FOUND,
                    "errors.cors.error",
                    "Cors error",
                    ctx.html,
                ));
            }
            let mut resp = Response::new(empty());
            *resp.status_mut() = StatusCode::NO_CONTENT;
            if self.applies(ctx.path()) {
                resp.headers_mut().extend(self.headers.iter().cloned());
            }
            return Outcome::Respond(resp);
        }
        if self.applies(ctx.path()) && !self.refuses(&req.headers) {
            ctx.response_headers.extend(self.headers.iter().cloned());
        }
        Outcome::Continue
    }
}

pub(crate) fn build(
    config: &Value,
    _services: &crate::Services,
) -> Result<Arc<dyn Plugin>, ConfigError> {
    let cfg: Config = config::parse(config)?;
    let lower = |l: &[String]| {
        l.iter()
            .map(|s| s.trim().to_ascii_lowercase())
            .collect::<Vec<_>>()
    };
    let value = |name: &str, v: String| {
        HeaderValue::try_from(v).map_err(|_| ConfigError::at(name, "not a valid header value"))
    };
    let mut headers = vec![
        (
            header::ACCESS_CONTROL_ALLOW_ORIGIN,
            value("allow_origin", cfg.allow_origin.clone())?,
        ),
        (
            header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
            HeaderValue::from_static(if cfg.allow_credentials {
                "true"
            } else {
                "false"
            }),
        ),
    ];
    if !cfg.expose_headers.is_empty() {
        headers.push((
            header::ACCESS_CONTROL_EXPOSE_HEADERS,
            value("expose_headers", cfg.expose_headers.join(", "))?,
        ));
    }
    if !cfg.allow_headers.is_empty() {
        headers.push((
            header::ACCESS_CONTROL_ALLOW_HEADERS,
            value("allow_headers", cfg.allow_headers.join(", "))?,
        ));
    }
    if !cfg.allow_methods.is_empty() {
        headers.push((
            header::ACCESS_CONTROL_ALLOW_METHODS,
            value("allow_methods", cfg.allow_methods.join(", "))?,
        ));
    }
    if let Some(age) = cfg.max_age {
        headers.push((header::ACCESS_CONTROL_MAX_AGE, HeaderValue::from(age)));
    }
    let excluded = config::regexes(&cfg.excluded_patterns, "excluded_patterns")?;
    Ok(Arc::new(Cors {
        allow_origin: cfg.allow_origin.to_ascii_lowercase(),
        allow_headers: lower(&cfg.allow_headers),
        allow_methods: cfg.allow_methods,
        excluded,
        headers,
    }))
}

pub(crate) const PLUGIN: PluginDef = PluginDef {
    name: "Cors",
    title: "CORS",
    description: "This plugin applies CORS rules",
    categories: &["AccessControl", "Classic"],
    steps: &["PreRoute", "TransformResponse"],
    build,
    describe: config::describe::<Config>,
    inert: &[],
};
