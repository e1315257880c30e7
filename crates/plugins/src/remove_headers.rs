//! RemoveHeadersIn / RemoveHeadersOut: drop headers from the upstream request or from the response.
//! Config: `{"header_names": [...]}` (Otoroshi also reads `headers` and `names`).

use std::sync::Arc;

use http::request::Parts;
use http::{HeaderName, Response};
use serde::Deserialize;
use serde_json::Value;

use crate::config::ConfigError;
use crate::{Body, Outcome, Plugin, RequestCtx, config};

#[derive(Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
struct Config {
    header_names: Vec<String>,
    headers: Vec<String>,
    names: Vec<String>,
}

fn names(value: &Value) -> Result<Vec<HeaderName>, ConfigError> {
    let cfg: Config = config::parse(value)?;
    let list = [cfg.header_names, cfg.headers, cfg.names]
        .into_iter()
        .find(|l| !l.is_empty())
        .unwrap_or_default();
    list.iter()
        .map(|n| {
            HeaderName::try_from(n.as_str()).map_err(|_| {
                ConfigError::at("header_names", format!("\"{n}\" is not a header name"))
            })
        })
        .collect()
}

struct RemoveIn(Vec<HeaderName>);

impl Plugin for RemoveIn {
    fn transform_request(&self, req: &mut Parts, _ctx: &mut RequestCtx) -> Outcome {
        for n in &self.0 {
            req.headers.remove(n);
        }
        Outcome::Continue
    }
}

struct RemoveOut(Vec<HeaderName>);

impl Plugin for RemoveOut {
    fn transform_response(&self, resp: &mut Response<Body>, _ctx: &mut RequestCtx) {
        for n in &self.0 {
            resp.headers_mut().remove(n);
        }
    }
}

pub(crate) fn build_in(
    config: &Value,
    _services: &crate::Services,
) -> Result<Arc<dyn Plugin>, ConfigError> {
    Ok(Arc::new(RemoveIn(names(config)?)))
}

pub(crate) fn build_out(
    config: &Value,
    _services: &crate::Services,
) -> Result<Arc<dyn Plugin>, ConfigError> {
    Ok(Arc::new(RemoveOut(names(config)?)))
}
