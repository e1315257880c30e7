//! AdditionalHeadersIn / AdditionalHeadersOut: set headers on the upstream request or on the
//! response. Config: `{"headers": {"name": "value"}}`; a header already present is replaced.

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

fn headers(value: &Value) -> Result<Vec<(HeaderName, HeaderValue)>, ConfigError> {
    let cfg: Config = config::parse(value)?;
    cfg.headers
        .into_iter()
        .map(|(name, value)| {
            let n = HeaderName::try_from(name.as_str())
                .map_err(|_| ConfigError::at(format!("headers.{name}"), "not a header name"))?;
            let v = HeaderValue::try_from(value.as_str()).map_err(|_| {
                ConfigError::at(format!("headers.{name}"), "not a valid header value")
            })?;
            Ok((n, v))
        })
        .collect()
}

struct HeadersIn(Vec<(HeaderName, HeaderValue)>);

impl Plugin for HeadersIn {
    fn transform_request(&self, req: &mut Parts, _ctx: &mut RequestCtx) -> Outcome {
        for (n, v) in &self.0 {
            req.headers.insert(n.clone(), v.clone());
        }
        Outcome::Continue
    }
}

struct HeadersOut(Vec<(HeaderName, HeaderValue)>);

impl Plugin for HeadersOut {
    fn transform_response(&self, resp: &mut Response<Body>, _ctx: &mut RequestCtx) {
        for (n, v) in &self.0 {
            resp.headers_mut().insert(n.clone(), v.clone());
        }
    }
}

pub(crate) fn build_in(
    config: &Value,
    _services: &crate::Services,
) -> Result<Arc<dyn Plugin>, ConfigError> {
    Ok(Arc::new(HeadersIn(headers(config)?)))
}

pub(crate) fn build_out(
    config: &Value,
    _services: &crate::Services,
) -> Result<Arc<dyn Plugin>, ConfigError> {
    Ok(Arc::new(HeadersOut(headers(config)?)))
}

pub(crate) const PLUGIN_IN: PluginDef = PluginDef {
    name: "AdditionalHeadersIn",
    title: "Additional headers in",
    description: "This plugin adds headers in the incoming otoroshi request",
    categories: &["Headers", "Classic"],
    steps: &["TransformRequest"],
    build: build_in,
    describe: config::describe::<Config>,
    inert: &[],
};

pub(crate) const PLUGIN_OUT: PluginDef = PluginDef {
    name: "AdditionalHeadersOut",
    title: "Additional headers out",
    description: "This plugin adds headers in the otoroshi response",
    categories: &["Headers", "Classic"],
    steps: &["TransformResponse"],
    build: build_out,
    describe: config::describe::<Config>,
    inert: &[],
};
