//! RequestBodyLengthLimiter: bounds the request bodies of a route. Config (Otoroshi's):
//! `max_length` (bytes, default 4 MiB) and `fail`: when true a larger body is refused with 413
//! `errors.entity.too.big` (at once when its Content-Length says so, else when the stream crosses
//! the bound); when false, as Otoroshi does, the body is cut at `max_length` and the start forwarded.

use std::sync::Arc;

use http::header;
use http::request::Parts;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::config::ConfigError;
use crate::registry::PluginDef;
use crate::{BodyLimit, Outcome, Plugin, RequestCtx, config};

const DEFAULT_MAX: u64 = 4 * 1024 * 1024;

#[derive(Deserialize, Serialize, JsonSchema, Default)]
#[serde(default, deny_unknown_fields)]
struct Config {
    max_length: Option<u64>,
    fail: bool,
}

struct RequestBodyLength(BodyLimit);

impl Plugin for RequestBodyLength {
    fn transform_request(&self, req: &mut Parts, ctx: &mut RequestCtx) -> Outcome {
        if self.0.truncate {
            // The forwarded length is no longer the declared one.
            req.headers.remove(header::CONTENT_LENGTH);
        }
        ctx.body_limit = Some(self.0);
        Outcome::Continue
    }
}

pub(crate) fn build_request(
    config: &Value,
    _services: &crate::Services,
) -> Result<Arc<dyn Plugin>, ConfigError> {
    let cfg: Config = config::parse(config)?;
    Ok(Arc::new(RequestBodyLength(BodyLimit {
        max: cfg.max_length.unwrap_or(DEFAULT_MAX),
        truncate: !cfg.fail,
    })))
}

pub(crate) const PLUGIN_REQUEST: PluginDef = PluginDef {
    name: "RequestBodyLengthLimiter",
    title: "Request Body length limiter",
    description: "This plugin will limit request body length",
    categories: &["Transformations"],
    steps: &["TransformRequest"],
    build: build_request,
    describe: config::describe::<Config>,
    inert: &[],
};
