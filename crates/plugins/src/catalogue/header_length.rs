//! RejectHeaderInTooLong / RejectHeaderOutTooLong: headers longer than `value` bytes (default
//! 8 KiB) are removed from the upstream request or from the response, and each removal logged
//! (name and length, never the value), as Otoroshi does.

use std::sync::Arc;

use http::request::Parts;
use http::{HeaderMap, Response};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::config::ConfigError;
use crate::def::PluginDef;
use crate::{Body, Outcome, Plugin, RequestCtx, config};

#[derive(Deserialize, Serialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
struct Config {
    value: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config { value: 8 * 1024 }
    }
}

fn remove_long(headers: &mut HeaderMap, max: usize, ctx: &RequestCtx, direction: &str) {
    let long: Vec<_> = headers
        .iter()
        .filter(|(_, v)| v.len() > max)
        .map(|(k, v)| (k.clone(), v.len()))
        .collect();
    for (name, len) in long {
        tracing::info!(route = %ctx.route.id, header = %name, length = len, direction, "removed a header over the length limit");
        headers.remove(name);
    }
}

struct RejectIn(usize);

impl Plugin for RejectIn {
    fn transform_request(&self, req: &mut Parts, ctx: &mut RequestCtx) -> Outcome {
        remove_long(&mut req.headers, self.0, ctx, "request");
        Outcome::Continue
    }
}

struct RejectOut(usize);

impl Plugin for RejectOut {
    fn transform_response(&self, resp: &mut Response<Body>, ctx: &mut RequestCtx) {
        remove_long(resp.headers_mut(), self.0, ctx, "response");
    }
}

fn build_in(config: &Value, _services: &crate::Services) -> Result<Arc<dyn Plugin>, ConfigError> {
    Ok(Arc::new(RejectIn(config::parse::<Config>(config)?.value)))
}

fn build_out(config: &Value, _services: &crate::Services) -> Result<Arc<dyn Plugin>, ConfigError> {
    Ok(Arc::new(RejectOut(config::parse::<Config>(config)?.value)))
}

pub(crate) const PLUGIN_IN: PluginDef = PluginDef {
    name: "RejectHeaderInTooLong",
    title: "Reject headers in too long",
    description: "This plugin remove all headers to backend with a length above a max",
    categories: &["Headers"],
    steps: &["TransformRequest"],
    build: build_in,
    describe: config::describe::<Config>,
    inert: &[],
};

pub(crate) const PLUGIN_OUT: PluginDef = PluginDef {
    name: "RejectHeaderOutTooLong",
    title: "Reject headers out too long",
    description: "This plugin remove all headers from backend response with a length above a max",
    categories: &["Headers"],
    steps: &["TransformResponse"],
    build: build_out,
    describe: config::describe::<Config>,
    inert: &[],
};
