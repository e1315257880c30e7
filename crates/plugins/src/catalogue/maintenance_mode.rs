//! MaintenanceMode: every call is answered 503 `errors.service.in.maintenance`.

use std::sync::Arc;

use http::StatusCode;
use http::request::Parts;
use serde_json::Value;

use crate::config::{self, ConfigError, NoConfig};
use crate::def::PluginDef;
use crate::{Outcome, Plugin, RequestCtx, gateway_error};

struct MaintenanceMode;

impl Plugin for MaintenanceMode {
    fn pre_route(&self, _req: &mut Parts, ctx: &mut RequestCtx) -> Outcome {
        Outcome::Respond(gateway_error(
            StatusCode::SERVICE_UNAVAILABLE,
            "errors.service.in.maintenance",
            "Service in maintenance mode",
            ctx.html,
        ))
    }
}

pub(crate) fn build(
    config: &Value,
    _services: &crate::Services,
) -> Result<Arc<dyn Plugin>, ConfigError> {
    let _: NoConfig = config::parse(config)?;
    Ok(Arc::new(MaintenanceMode))
}

pub(crate) const PLUGIN: PluginDef = PluginDef {
    name: "MaintenanceMode",
    title: "Maintenance mode",
    description: "This plugin displays a maintenance page",
    categories: &["AccessControl", "Classic"],
    steps: &["PreRoute"],
    build,
    describe: config::describe::<NoConfig>,
    inert: &[],
};
