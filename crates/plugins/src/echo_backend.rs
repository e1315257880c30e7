//! EchoBackend: the gateway answers in place of a backend with what it received, as JSON (`method`,
//! `path`, `query`, `headers`, `body` as text up to `limit` bytes, default 512 KiB): for demos and
//! for checking what plugins did to a request.

use std::sync::Arc;

use http::request::Parts;
use http::{HeaderValue, Response, header};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::config::ConfigError;
use crate::registry::PluginDef;
use crate::{Body, BodyNeed, Needs, Plugin, RequestCtx, config, full};

#[derive(Deserialize, Serialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
struct Config {
    limit: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config { limit: 512 * 1024 }
    }
}

struct Echo {
    limit: usize,
}

impl Plugin for Echo {
    fn needs(&self) -> Needs {
        Needs {
            request_body: BodyNeed::Buffered(self.limit),
            ..Needs::default()
        }
    }

    fn backend_call(&self, req: &Parts, ctx: &mut RequestCtx) -> Option<Response<Body>> {
        let headers: Map<String, Value> = req
            .headers
            .iter()
            .map(|(k, v)| (k.to_string(), json!(String::from_utf8_lossy(v.as_bytes()))))
            .collect();
        let body = ctx
            .request_body
            .as_ref()
            .map(|b| String::from_utf8_lossy(b).into_owned());
        let doc = json!({
            "method": req.method.as_str(),
            "path": ctx.path(),
            "query": ctx.query(),
            "headers": headers,
            "body": body,
        });
        let mut resp = Response::new(full(doc.to_string()));
        resp.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        Some(resp)
    }
}

fn build(config: &Value, _services: &crate::Services) -> Result<Arc<dyn Plugin>, ConfigError> {
    let cfg: Config = config::parse(config)?;
    Ok(Arc::new(Echo { limit: cfg.limit }))
}

pub(crate) const PLUGIN: PluginDef = PluginDef {
    name: "EchoBackend",
    title: "Request Echo",
    description: "This plugin returns request content as json",
    categories: &["Other"],
    steps: &["CallBackend"],
    build,
    describe: config::describe::<Config>,
    inert: &[],
};
