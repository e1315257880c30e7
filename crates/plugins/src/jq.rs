//! JQRequest / JQResponse: the JSON body of the request (or of the response) replaced by what a jq
//! `filter` makes of it (jaq, compiled once with the config; a filter that does not compile is
//! refused naming `filter`). A filter giving several values gives their array. A body that is not
//! JSON, or a filter that fails on it, answers 500 `errors.transformation.failed`, as Otoroshi
//! does (its message names the error, never the body).

use std::sync::Arc;

use bytes::Bytes;
use http::request::Parts;
use http::{HeaderValue, Response, StatusCode, header};
use jaq_core::load::{Arena, File, Loader};
use jaq_core::{Ctx, Vars, data, unwrap_valr};
use jaq_json::Val;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::config::ConfigError;
use crate::registry::PluginDef;
use crate::{Body, BodyNeed, Needs, Plugin, RequestCtx, config, gateway_error};

/// The largest body a filter reads.
const MAX_BODY: usize = 4 * 1024 * 1024;

#[derive(Deserialize, Serialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
struct Config {
    filter: String,
}

impl Default for Config {
    fn default() -> Self {
        Config { filter: ".".into() }
    }
}

type Filter = jaq_core::compile::Filter<jaq_core::Native<data::JustLut<Val>>>;

/// A compiled jq program.
struct Jq(Filter);

impl Jq {
    fn compile(code: &str) -> Result<Jq, ConfigError> {
        let defs = jaq_core::defs()
            .chain(jaq_std::defs())
            .chain(jaq_json::defs());
        let funs = jaq_core::funs()
            .chain(jaq_std::funs())
            .chain(jaq_json::funs());
        let loader = Loader::new(defs);
        let arena = Arena::default();
        let modules = loader
            .load(&arena, File { code, path: () })
            .map_err(|errs| {
                ConfigError::at(
                    "filter",
                    format!("does not parse ({} error(s))", errs.len()),
                )
            })?;
        let filter = jaq_core::Compiler::default()
            .with_funs(funs)
            .compile(modules)
            .map_err(|errs| {
                ConfigError::at(
                    "filter",
                    format!("does not compile ({} error(s))", errs.len()),
                )
            })?;
        Ok(Jq(filter))
    }

    /// `body` (JSON) through the filter, as JSON bytes.
    fn apply(&self, body: &[u8]) -> Result<Bytes, String> {
        let input = jaq_json::read::parse_single(body).map_err(|e| format!("not JSON: {e}"))?;
        let ctx = Ctx::<data::JustLut<Val>>::new(&self.0.lut, Vars::new([]));
        let mut out: Vec<Val> = Vec::new();
        for v in self.0.id.run((ctx, input)).map(unwrap_valr) {
            out.push(v.map_err(|e| format!("the filter failed: {e}"))?);
        }
        let text = match out.len() {
            0 => "null".to_string(),
            1 => out[0].to_string(),
            _ => format!(
                "[{}]",
                out.iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(",")
            ),
        };
        Ok(Bytes::from(text))
    }
}

fn failed(ctx: &RequestCtx, why: &str) -> Response<Body> {
    gateway_error(
        StatusCode::INTERNAL_SERVER_ERROR,
        "errors.transformation.failed",
        why,
        ctx.html,
    )
}

fn json_type(headers: &mut http::HeaderMap) {
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
}

struct JqRequest(Jq);

impl Plugin for JqRequest {
    fn needs(&self) -> Needs {
        Needs {
            request_body: BodyNeed::Buffered(MAX_BODY),
            ..Needs::default()
        }
    }

    fn transform_request_body(
        &self,
        req: &mut Parts,
        body: &mut Bytes,
        ctx: &mut RequestCtx,
    ) -> Result<(), Response<Body>> {
        if body.is_empty() {
            return Ok(());
        }
        *body = self.0.apply(body).map_err(|e| failed(ctx, &e))?;
        json_type(&mut req.headers);
        Ok(())
    }
}

struct JqResponse(Jq);

impl Plugin for JqResponse {
    fn needs(&self) -> Needs {
        Needs {
            response_body: BodyNeed::Buffered(MAX_BODY),
            ..Needs::default()
        }
    }

    fn transform_response_body(
        &self,
        resp: &mut http::response::Parts,
        body: &mut Bytes,
        ctx: &mut RequestCtx,
    ) -> Result<(), Response<Body>> {
        if body.is_empty() {
            return Ok(());
        }
        *body = self.0.apply(body).map_err(|e| failed(ctx, &e))?;
        json_type(&mut resp.headers);
        Ok(())
    }
}

fn build_request(
    config: &Value,
    _services: &crate::Services,
) -> Result<Arc<dyn Plugin>, ConfigError> {
    let cfg: Config = config::parse(config)?;
    Ok(Arc::new(JqRequest(Jq::compile(&cfg.filter)?)))
}

fn build_response(
    config: &Value,
    _services: &crate::Services,
) -> Result<Arc<dyn Plugin>, ConfigError> {
    let cfg: Config = config::parse(config)?;
    Ok(Arc::new(JqResponse(Jq::compile(&cfg.filter)?)))
}

pub(crate) const PLUGIN_REQUEST: PluginDef = PluginDef {
    name: "JQRequest",
    title: "JQ transform request",
    description: "This plugin transform the request body using JQ filters",
    categories: &["Transformations"],
    steps: &["TransformRequest"],
    build: build_request,
    describe: config::describe::<Config>,
    inert: &[],
};

pub(crate) const PLUGIN_RESPONSE: PluginDef = PluginDef {
    name: "JQResponse",
    title: "JQ transform response",
    description: "This plugin transform the response body using JQ filters",
    categories: &["Transformations"],
    steps: &["TransformResponse"],
    build: build_response,
    describe: config::describe::<Config>,
    inert: &[],
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_compile_once_and_transform_bodies() {
        let jq = Jq::compile("{name: .user.name, n: (.items | length)}").unwrap();
        let out = jq
            .apply(br#"{"user": {"name": "alice"}, "items": [1, 2, 3]}"#)
            .unwrap();
        let v: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v, serde_json::json!({"name": "alice", "n": 3}));
        assert_eq!(
            Jq::compile(".[]").unwrap().apply(b"[1,2]").unwrap(),
            Bytes::from("[1,2]")
        );
        assert!(Jq::compile(".[").is_err());
        assert!(Jq::compile("nosuchfunction").is_err());
        assert!(jq.apply(b"not json").is_err());
    }
}
