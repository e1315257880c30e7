//! NgExpectedConsumer: the call must have been made by a consumer a previous plugin identified
//! (an API key, a verified JWT, a client certificate); otherwise 401 `errors.auth.unauthorized`.

use std::sync::Arc;

use http::StatusCode;
use http::request::Parts;
use serde_json::Value;

use crate::config::{ConfigError, NoConfig};
use crate::consumers::VerifiedClaims;
use crate::def::PluginDef;
use crate::{Outcome, Plugin, RequestCtx, config, gateway_error};

struct ExpectedConsumer;

impl Plugin for ExpectedConsumer {
    fn access(&self, _req: &mut Parts, ctx: &mut RequestCtx) -> Outcome {
        if ctx.apikey.is_some()
            || ctx.attrs.get::<VerifiedClaims>().is_some()
            || ctx.client_certs.is_some()
        {
            return Outcome::Continue;
        }
        Outcome::Respond(gateway_error(
            StatusCode::UNAUTHORIZED,
            "errors.auth.unauthorized",
            "You're not authorized here !",
            ctx.html,
        ))
    }
}

fn build(config: &Value, _services: &crate::Services) -> Result<Arc<dyn Plugin>, ConfigError> {
    config::parse::<NoConfig>(config)?;
    Ok(Arc::new(ExpectedConsumer))
}

pub(crate) const PLUGIN: PluginDef = PluginDef {
    name: "NgExpectedConsumer",
    title: "Expected consumer",
    description: "This plugin expect that a user or an apikey made the call",
    categories: &["Authentication"],
    steps: &["ValidateAccess"],
    build,
    describe: config::describe::<NoConfig>,
    inert: &[],
};
