//! EchoBackend: the gateway answers in place of a backend with what it received, as Otoroshi's
//! echo.scala does: JSON with `method`, `path`, `raw_path`, `query`, `headers`, `cookies` and, when
//! there is one, the `body` (JSON bodies as JSON, text as a string, anything else in base64), up to
//! `limit` bytes (default 512 KiB; a larger body is answered 413 with Otoroshi's
//! `request_body_too_large`). For demos and for checking what plugins did to a request.

use std::sync::Arc;

use http::request::Parts;
use http::{HeaderValue, Response, StatusCode, header};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::config::ConfigError;
use crate::def::PluginDef;
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
        let query: Map<String, Value> =
            form_urlencoded::parse(ctx.query().unwrap_or("").as_bytes())
                .map(|(k, v)| (k.into_owned(), Value::String(v.into_owned())))
                .collect();
        let cookies: Map<String, Value> = req
            .headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .filter_map(|pair| pair.trim().split_once('='))
            .map(|(name, value)| (name.to_string(), json!({"name": name, "value": value})))
            .collect();
        let mut doc = json!({
            "method": req.method.as_str(),
            "path": ctx.path(),
            "raw_path": ctx.path_and_query(),
            "query": query,
            "headers": headers,
            "cookies": cookies,
        });
        if let Some(body) = ctx.request_body.as_ref().filter(|b| !b.is_empty()) {
            doc["body"] = typed_body(&req.headers, body);
        }
        Some(json_response(StatusCode::OK, &doc))
    }

    fn too_large_answer(&self, _ctx: &RequestCtx) -> Option<Response<Body>> {
        let doc = json!({
            "error": "request_body_too_large",
            "message": format!("Request body exceeds maximum allowed size of {} bytes", self.limit),
            "limit": self.limit,
        });
        Some(json_response(StatusCode::PAYLOAD_TOO_LARGE, &doc))
    }
}

/// A body as Otoroshi echoes it: JSON as JSON (a string when it does not parse), forms and text as
/// a string, anything else in base64.
fn typed_body(headers: &http::HeaderMap, body: &[u8]) -> Value {
    let kind = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase())
        .unwrap_or_default();
    let text = || Value::String(String::from_utf8_lossy(body).into_owned());
    match kind.as_str() {
        "application/json" => serde_json::from_slice(body).unwrap_or_else(|_| text()),
        "application/x-www-form-urlencoded" => text(),
        k if k.starts_with("text/") => text(),
        _ => {
            use base64::Engine;
            Value::String(base64::engine::general_purpose::STANDARD.encode(body))
        }
    }
}

fn json_response(status: StatusCode, doc: &Value) -> Response<Body> {
    let mut resp = Response::new(full(doc.to_string()));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
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
