//! AllowHttpMethods: `{"allowed": [...], "forbidden": [...]}`. A method passes when it is allowed
//! (an empty `allowed` allows every method) and not forbidden; else 405 `errors.method.not.allowed`.

use std::sync::Arc;

use http::StatusCode;
use http::request::Parts;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::config::ConfigError;
use crate::def::PluginDef;
use crate::{Outcome, Plugin, RequestCtx, config, gateway_error};

#[derive(Deserialize, Serialize, JsonSchema, Default)]
#[serde(default, deny_unknown_fields)]
struct Config {
    allowed: Vec<String>,
    forbidden: Vec<String>,
}

struct AllowHttpMethods {
    allowed: Vec<String>,
    forbidden: Vec<String>,
}

impl Plugin for AllowHttpMethods {
    fn access(&self, req: &mut Parts, ctx: &mut RequestCtx) -> Outcome {
        let m = req.method.as_str();
        let allowed = self.allowed.is_empty() || self.allowed.iter().any(|a| a == m);
        if allowed && !self.forbidden.iter().any(|f| f == m) {
            return Outcome::Continue;
        }
        Outcome::Respond(gateway_error(
            StatusCode::METHOD_NOT_ALLOWED,
            "errors.method.not.allowed",
            "Method not allowed",
            ctx.html,
        ))
    }
}

pub(crate) fn build(
    config: &Value,
    _services: &crate::Services,
) -> Result<Arc<dyn Plugin>, ConfigError> {
    let cfg: Config = config::parse(config)?;
    let upper = |l: Vec<String>| {
        l.into_iter()
            .map(|m| m.trim().to_ascii_uppercase())
            .collect()
    };
    Ok(Arc::new(AllowHttpMethods {
        allowed: upper(cfg.allowed),
        forbidden: upper(cfg.forbidden),
    }))
}

pub(crate) const PLUGIN: PluginDef = PluginDef {
    name: "AllowHttpMethods",
    title: "Allowed HTTP methods",
    description: "This plugin verifies the current request only uses allowed http methods",
    categories: &["AccessControl", "Classic"],
    steps: &["ValidateAccess"],
    build,
    describe: config::describe::<Config>,
    inert: &[],
};
