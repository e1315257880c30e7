//! RoutingRestrictions: which method and path pairs the route serves (`allowed`, `forbidden`,
//! `not_found`, each `{"method", "path"}` with a full-match path regex; `allow_last`, default true),
//! decided as an API key's restrictions are (`komainu_keys::RestrictionRules`): 403
//! `errors.forbidden` or 404 `errors.not.found`.

use std::sync::Arc;

use http::StatusCode;
use http::request::Parts;
use komainu_keys::RestrictionRules;
use komainu_model::Restriction;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::config::ConfigError;
use crate::def::PluginDef;
use crate::{Outcome, Plugin, RequestCtx, config, gateway_error};

#[derive(Deserialize, Serialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
struct Config {
    allow_last: bool,
    allowed: Vec<Restriction>,
    forbidden: Vec<Restriction>,
    not_found: Vec<Restriction>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            allow_last: true,
            allowed: Vec::new(),
            forbidden: Vec::new(),
            not_found: Vec::new(),
        }
    }
}

struct RoutingRestrictions(RestrictionRules);

impl Plugin for RoutingRestrictions {
    fn access(&self, req: &mut Parts, ctx: &mut RequestCtx) -> Outcome {
        match self.0.decide(req.method.as_str(), &ctx.host, ctx.path()) {
            None => Outcome::Continue,
            Some(StatusCode::FORBIDDEN) => Outcome::Respond(gateway_error(
                StatusCode::FORBIDDEN,
                "errors.forbidden",
                "forbidden by the route's restrictions",
                ctx.html,
            )),
            Some(_) => Outcome::Respond(gateway_error(
                StatusCode::NOT_FOUND,
                "errors.not.found",
                "not found",
                ctx.html,
            )),
        }
    }
}

fn build(config: &Value, _services: &crate::Services) -> Result<Arc<dyn Plugin>, ConfigError> {
    let cfg: Config = config::parse(config)?;
    let rules =
        RestrictionRules::strict(cfg.allow_last, &cfg.allowed, &cfg.forbidden, &cfg.not_found)
            .map_err(|(at, why)| ConfigError::at(at, why))?;
    Ok(Arc::new(RoutingRestrictions(rules)))
}

pub(crate) const PLUGIN: PluginDef = PluginDef {
    name: "RoutingRestrictions",
    title: "Routing Restrictions",
    description: "This plugin apply routing restriction `method domain/path` on the current request/route",
    categories: &["AccessControl"],
    steps: &["ValidateAccess"],
    build,
    describe: config::describe::<Config>,
    inert: &[],
};
