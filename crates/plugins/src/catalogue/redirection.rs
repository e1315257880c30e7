//! Redirection: answers every call with a redirect. Config: `code` (303), `to`.

use std::sync::Arc;

use http::request::Parts;
use http::{HeaderValue, Response, StatusCode, header};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::config::ConfigError;
use crate::def::PluginDef;
use crate::{Outcome, Plugin, RequestCtx, config, empty};

#[derive(Deserialize, Serialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
struct Config {
    code: u16,
    to: String,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            code: 303,
            to: "https://www.otoroshi.io".into(),
        }
    }
}

struct Redirection {
    code: StatusCode,
    to: HeaderValue,
}

/// An empty response sending the client to `location`.
pub(crate) fn redirect(status: StatusCode, location: HeaderValue) -> Outcome {
    let mut resp = Response::new(empty());
    *resp.status_mut() = status;
    resp.headers_mut().insert(header::LOCATION, location);
    Outcome::Respond(resp)
}

impl Plugin for Redirection {
    fn pre_route(&self, _req: &mut Parts, _ctx: &mut RequestCtx) -> Outcome {
        redirect(self.code, self.to.clone())
    }
}

pub(crate) fn build(
    config: &Value,
    _services: &crate::Services,
) -> Result<Arc<dyn Plugin>, ConfigError> {
    let cfg: Config = config::parse(config)?;
    if ![301, 302, 303, 307, 308].contains(&cfg.code) {
        return Err(ConfigError::at(
            "code",
            format!(
                "{} is not a redirection status (301, 302, 303, 307, 308)",
                cfg.code
            ),
        ));
    }
    let to = if cfg.to.trim().is_empty() {
        Config::default().to
    } else {
        cfg.to
    };
    Ok(Arc::new(Redirection {
        code: StatusCode::from_u16(cfg.code).expect("checked"),
        to: HeaderValue::try_from(to).map_err(|_| ConfigError::at("to", "not a valid Location"))?,
    }))
}

pub(crate) const PLUGIN: PluginDef = PluginDef {
    name: "Redirection",
    title: "Redirection",
    description: "This plugin redirects the current request elsewhere",
    categories: &["TrafficControl", "Classic"],
    steps: &["PreRoute"],
    build,
    describe: config::describe::<Config>,
    inert: &[],
};
