//! ForceHttpsTraffic: a plain-HTTP call is redirected (303) to the same host and path over HTTPS.
//! Optional config `port`: the public HTTPS port, when it is not 443.

use std::sync::Arc;

use http::request::Parts;
use http::{HeaderValue, StatusCode};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::redirection::redirect;
use crate::config::ConfigError;
use crate::def::PluginDef;
use crate::{Outcome, Plugin, RequestCtx, config};

#[derive(Deserialize, Serialize, JsonSchema, Default)]
#[serde(default, deny_unknown_fields)]
struct Config {
    port: Option<u16>,
}

struct ForceHttps {
    port: String,
}

impl Plugin for ForceHttps {
    fn pre_route(&self, _req: &mut Parts, ctx: &mut RequestCtx) -> Outcome {
        if ctx.https {
            return Outcome::Continue;
        }
        let location = format!("https://{}{}{}", ctx.host, self.port, ctx.path_and_query());
        match HeaderValue::try_from(location) {
            Ok(v) => redirect(StatusCode::SEE_OTHER, v),
            Err(_) => Outcome::Continue,
        }
    }
}

pub(crate) fn build(
    config: &Value,
    _services: &crate::Services,
) -> Result<Arc<dyn Plugin>, ConfigError> {
    let cfg: Config = config::parse(config)?;
    let port = cfg
        .port
        .filter(|p| *p != 443)
        .map(|p| format!(":{p}"))
        .unwrap_or_default();
    Ok(Arc::new(ForceHttps { port }))
}

pub(crate) const PLUGIN: PluginDef = PluginDef {
    name: "ForceHttpsTraffic",
    title: "Force HTTPS traffic",
    description: "This plugin verifies the current request uses HTTPS",
    categories: &["TrafficControl", "Classic"],
    steps: &["PreRoute"],
    build,
    describe: config::describe::<Config>,
    inert: &[],
};
