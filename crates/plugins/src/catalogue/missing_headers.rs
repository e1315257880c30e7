//! MissingHeadersIn / MissingHeadersOut: set headers on the upstream request or on the response
//! only where they are missing. Config: `{"headers": {"name": "value"}}`.

use std::collections::BTreeMap;
use std::sync::Arc;

use http::request::Parts;
use http::{HeaderName, HeaderValue, Response};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::config::ConfigError;
use crate::def::PluginDef;
use crate::{Body, Outcome, Plugin, RequestCtx, config};

#[derive(Deserialize, Serialize, JsonSchema, Default)]
#[serde(default, deny_unknown_fields)]
struct Config {
    headers: BTreeMap<String, String>,
}

/// Config `headers` as typed pairs; an error names `headers.NAME`.
pub(crate) fn header_pairs(
    headers: &BTreeMap<String, String>,
) -> Result<Vec<(HeaderName, HeaderValue)>, ConfigError> {
    headers
        .iter()
        .map(|(name, value)| {
            let at = || format!("headers.{name}");
            Ok((
                HeaderName::try_from(name.as_str())
                    .map_err(|_| ConfigError::at(at(), "not a header name"))?,
                HeaderValue::try_from(value.as_str())
                    .map_err(|_| ConfigError::at(at(), "not a valid header value"))?,
            ))
        })
        .collect()
}

struct MissingIn(Vec<(HeaderName, HeaderValue)>);

impl Plugin for MissingIn {
    fn transform_request(&self, req: &mut Parts, _ctx: &mut RequestCtx) -> Outcome {
        for (n, v) in &self.0 {
            req.headers.entry(n.clone()).or_insert_with(|| v.clone());
        }
        Outcome::Continue
    }
}

struct MissingOut(Vec<(HeaderName, HeaderValue)>);

impl Plugin for MissingOut {
    fn transform_response(&self, resp: &mut Response<Body>, _ctx: &mut RequestCtx) {
        for (n, v) in &self.0 {
            resp.headers_mut()
                .entry(n.clone())
                .or_insert_with(|| v.clone());
        }
    }
}

fn build_in(config: &Value, _services: &crate::Services) -> Result<Arc<dyn Plugin>, ConfigError> {
    let cfg: Config = config::parse(config)?;
    Ok(Arc::new(MissingIn(header_pairs(&cfg.headers)?)))
}

fn build_out(config: &Value, _services: &crate::Services) -> Result<Arc<dyn Plugin>, ConfigError> {
    let cfg: Config = config::parse(config)?;
    Ok(Arc::new(MissingOut(header_pairs(&cfg.headers)?)))
}

pub(crate) const PLUGIN_IN: PluginDef = PluginDef {
    name: "MissingHeadersIn",
    title: "Missing headers in",
    description: "This plugin adds headers (if missing) in the incoming otoroshi request",
    categories: &["Headers"],
    steps: &["TransformRequest"],
    build: build_in,
    describe: config::describe::<Config>,
    inert: &[],
};

pub(crate) const PLUGIN_OUT: PluginDef = PluginDef {
    name: "MissingHeadersOut",
    title: "Missing headers out",
    description: "This plugin adds headers (if missing) in the otoroshi response",
    categories: &["Headers"],
    steps: &["TransformResponse"],
    build: build_out,
    describe: config::describe::<Config>,
    inert: &[],
};
