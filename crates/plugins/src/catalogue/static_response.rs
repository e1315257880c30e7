//! StaticResponse: answers in place of the backend. Config: `status` (200), `headers`, `body` (text,
//! or `Base64(...)` for bytes).

use std::collections::BTreeMap;
use std::sync::Arc;

use base64::Engine;
use bytes::Bytes;
use http::request::Parts;
use http::{HeaderName, HeaderValue, Response, StatusCode};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::config::ConfigError;
use crate::def::PluginDef;
use crate::{Body, Plugin, RequestCtx, config, full};

#[derive(Deserialize, Serialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
struct Config {
    status: u16,
    headers: BTreeMap<String, String>,
    body: String,
    /// Otoroshi's expression language in the body: accepted, not evaluated.
    #[allow(dead_code)]
    apply_el: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            status: 200,
            headers: BTreeMap::new(),
            body: String::new(),
            apply_el: false,
        }
    }
}

struct StaticResponse {
    status: StatusCode,
    headers: Vec<(HeaderName, HeaderValue)>,
    body: Bytes,
}

impl Plugin for StaticResponse {
    fn backend_call(&self, _req: &Parts, _ctx: &mut RequestCtx) -> Option<Response<Body>> {
        let mut resp = Response::new(full(self.body.clone()));
        *resp.status_mut() = self.status;
        for (n, v) in &self.headers {
            resp.headers_mut().insert(n.clone(), v.clone());
        }
        Some(resp)
    }
}

pub(crate) fn build(
    config: &Value,
    _services: &crate::Services,
) -> Result<Arc<dyn Plugin>, ConfigError> {
    let cfg: Config = config::parse(config)?;
    let status = StatusCode::from_u16(cfg.status)
        .map_err(|_| ConfigError::at("status", format!("{} is not an HTTP status", cfg.status)))?;
    let body = match cfg
        .body
        .strip_prefix("Base64(")
        .and_then(|b| b.strip_suffix(')'))
    {
        Some(encoded) => base64::engine::general_purpose::STANDARD
            .decode(encoded.trim())
            .map_err(|e| ConfigError::at("body", format!("bad Base64: {e}")))?
            .into(),
        None => Bytes::from(cfg.body),
    };
    let headers = cfg
        .headers
        .iter()
        .map(|(n, v)| {
            Ok((
                HeaderName::try_from(n.as_str())
                    .map_err(|_| ConfigError::at(format!("headers.{n}"), "not a header name"))?,
                HeaderValue::try_from(v.as_str()).map_err(|_| {
                    ConfigError::at(format!("headers.{n}"), "not a valid header value")
                })?,
            ))
        })
        .collect::<Result<_, ConfigError>>()?;
    Ok(Arc::new(StaticResponse {
        status,
        headers,
        body,
    }))
}

pub(crate) const PLUGIN: PluginDef = PluginDef {
    name: "StaticResponse",
    title: "Static Response",
    description: "This plugin returns static responses",
    categories: &["TrafficControl"],
    steps: &["CallBackend"],
    build,
    describe: config::describe::<Config>,
    inert: &["apply_el"],
};
