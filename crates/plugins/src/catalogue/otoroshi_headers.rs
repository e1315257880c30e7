//! SendOtoroshiHeadersBack: the response tells the client about its call: `Otoroshi-Request-Id`,
//! `Otoroshi-Request-Timestamp` (ISO 8601), and, for keyed calls, the daily and monthly calls left
//! (ApikeyCalls already adds those). The latency headers are on every response already. No config.

use std::sync::Arc;

use http::{HeaderName, HeaderValue, Response};
use serde_json::Value;

use crate::config::{ConfigError, NoConfig};
use crate::def::PluginDef;
use crate::{Body, Plugin, RequestCtx, config};

const REQUEST_ID: HeaderName = HeaderName::from_static("otoroshi-request-id");
const REQUEST_TIMESTAMP: HeaderName = HeaderName::from_static("otoroshi-request-timestamp");

struct SendBack;

impl Plugin for SendBack {
    fn transform_response(&self, resp: &mut Response<Body>, ctx: &mut RequestCtx) {
        let h = resp.headers_mut();
        h.insert(REQUEST_ID, HeaderValue::from(ctx.request_id));
        if let Some(at) = chrono::DateTime::from_timestamp_millis(ctx.started_ms)
            && let Ok(v) = HeaderValue::try_from(at.format("%Y-%m-%dT%H:%M:%S%.3f%:z").to_string())
        {
            h.insert(REQUEST_TIMESTAMP, v);
        }
    }
}

fn build(config: &Value, _services: &crate::Services) -> Result<Arc<dyn Plugin>, ConfigError> {
    config::parse::<NoConfig>(config)?;
    Ok(Arc::new(SendBack))
}

pub(crate) const PLUGIN: PluginDef = PluginDef {
    name: "SendOtoroshiHeadersBack",
    title: "Send otoroshi headers back",
    description: "This plugin adds response header containing useful informations about the current call",
    categories: &["Headers"],
    steps: &["TransformResponse"],
    build,
    describe: config::describe::<NoConfig>,
    inert: &[],
};
