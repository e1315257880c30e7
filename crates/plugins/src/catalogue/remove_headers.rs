//! RemoveHeadersIn / RemoveHeadersOut: drop headers from the upstream request or from the response.
//! Config: `{"header_names": [...]}` (Otoroshi also reads `headers` and `names`).

use std::sync::Arc;

use http::request::Parts;
use http::{HeaderName, Response};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::config::ConfigError;
use crate::def::PluginDef;
use crate::{Body, Outcome, Plugin, RequestCtx, config};

#[derive(Deserialize, Serialize, JsonSchema, Default)]
#[serde(default, deny_unknown_fields)]
struct Config {
    header_names: Vec<String>,
    headers: Vec<String>,
    names: Vec<String>,
}

fn names(value: &Value) -> Result<Vec<HeaderName>, ConfigError> {
    let cfg: Config = config::parse(value)?;
    let list = [cfg.header_names, cfg.headers, cfg.names]
        .into_iter()
        .find(|l| !l.is_empty())
        .unwrap_or_default();
    list.iter()
        .map(|n| {
            HeaderName::try_from(n.as_str()).map_err(|_| {
                ConfigError::at("header_names", format!("\"{n}\" is not a header name"))
            })
        })
        .collect()
}

struct RemoveIn(Vec<HeaderName>);

impl Plugin for RemoveIn {
    fn transform_request(&self, req: &mut Parts, _ctx: &mut RequestCtx) -> Outcome {
        for n in &self.0 {
            req.headers.remove(n);
        }
        Outcome::Continue
    }
}

struct RemoveOut(Vec<HeaderName>);

impl Plugin for RemoveOut {
    fn transform_response(&self, resp: &mut Response<Body>, _ctx: &mut RequestCtx) {
        for n in &self.0 {
            resp.headers_mut().remove(n);
        }
    }
}

pub(crate) fn build_in(
    config: &Value,
    _services: &crate::Services,
) -> Result<Arc<dyn Plugin>, ConfigError> {
    Ok(Arc::new(RemoveIn(names(config)?)))
}

pub(crate) fn build_out(
    config: &Value,
    _services: &crate::Services,
) -> Result<Arc<dyn Plugin>, ConfigError> {
    Ok(Arc::new(RemoveOut(names(config)?)))
}

pub(crate) const PLUGIN_IN: PluginDef = PluginDef {
    name: "RemoveHeadersIn",
    title: "Remove headers in",
    description: "This plugin removes headers in the incoming otoroshi request",
    categories: &["Headers", "Classic"],
    steps: &["TransformRequest"],
    build: build_in,
    describe: config::describe::<Config>,
    inert: &[],
};

pub(crate) const PLUGIN_OUT: PluginDef = PluginDef {
    name: "RemoveHeadersOut",
    title: "Remove headers out",
    description: "This plugin removes headers in the otoroshi response",
    categories: &["Headers", "Classic"],
    steps: &["TransformResponse"],
    build: build_out,
    describe: config::describe::<Config>,
    inert: &[],
};
