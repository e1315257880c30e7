//! ReadOnlyCalls: only GET, HEAD and OPTIONS pass; anything else is 405 `errors.method.not.allowed`.

use std::sync::Arc;

use http::request::Parts;
use http::{Method, StatusCode};
use serde_json::Value;

use crate::config::{self, ConfigError, NoConfig};
use crate::def::PluginDef;
use crate::{Outcome, Plugin, RequestCtx, gateway_error};

struct ReadOnlyCalls;

impl Plugin for ReadOnlyCalls {
    fn access(&self, req: &mut Parts, ctx: &mut RequestCtx) -> Outcome {
        if matches!(req.method, Method::GET | Method::HEAD | Method::OPTIONS) {
            return Outcome::Continue;
        }
        Outcome::Respond(gateway_error(
            StatusCode::METHOD_NOT_ALLOWED,
            "errors.method.not.allowed",
            "Method not allowed. Can only handle GET, HEAD, OPTIONS",
            ctx.html,
        ))
    }
}

pub(crate) fn build(
    config: &Value,
    _services: &crate::Services,
) -> Result<Arc<dyn Plugin>, ConfigError> {
    let _: NoConfig = config::parse(config)?;
    Ok(Arc::new(ReadOnlyCalls))
}

pub(crate) const PLUGIN: PluginDef = PluginDef {
    name: "ReadOnlyCalls",
    title: "Read only requests",
    description: "This plugin verifies the current request only reads data",
    categories: &["AccessControl", "Classic"],
    steps: &["ValidateAccess"],
    build,
    describe: config::describe::<NoConfig>,
    inert: &[],
};
