//! JQRequest / JQResponse: the JSON body of the request (or of the response) replaced by what a jq
//! `filter` makes of it. The filter is compiled once with the config (one that does not compile is
//! refused naming `filter`) and run in the sandbox's worker processes (`komainu_sandbox`), bounded
//! in time and memory: no filter and no body can stall other requests or end the gateway. A filter
//! giving several values gives their array. A body that is not JSON (or nested deeper than 128),
//! or a filter that fails on it, answers 500 with Otoroshi's body `{"error": "error while
//! transforming response body", "details": [...]}` (503 while the sandbox's queue is full).

use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Response, StatusCode, header};
use komainu_sandbox::{Failure, Sandbox};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::config::ConfigError;
use crate::def::PluginDef;
use crate::{Body, BodyNeed, BodyOutcome, Needs, Plugin, RequestCtx, config, full};

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

/// A filter checked to compile, and where it runs.
struct Jq {
    filter: Arc<str>,
    sandbox: Option<Arc<Sandbox>>,
}

/// Otoroshi's answer to a failed transformation.
fn failed(failure: &Failure) -> Response<Body> {
    tracing::info!(%failure, "jq transformation failed");
    let status = match failure {
        Failure::Busy => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    };
    let body = json!({"error": "error while transforming response body",
                      "details": [failure.to_string()]});
    let mut resp = Response::new(full(body.to_string()));
    *resp.status_mut() = status;
    json_type(resp.headers_mut());
    resp
}

fn json_type(headers: &mut HeaderMap) {
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
}

/// A head whose body a filter may replace.
trait Head: Send + 'static {
    fn headers(&mut self) -> &mut HeaderMap;
}

impl Head for http::request::Parts {
    fn headers(&mut self) -> &mut HeaderMap {
        &mut self.headers
    }
}

impl Head for http::response::Parts {
    fn headers(&mut self) -> &mut HeaderMap {
        &mut self.headers
    }
}

impl Jq {
    fn build(config: &Value, services: &crate::Services) -> Result<Jq, ConfigError> {
        let cfg: Config = config::parse(config)?;
        komainu_sandbox::jq::Program::compile(&cfg.filter)
            .map_err(|e| ConfigError::at("filter", e))?;
        Ok(Jq {
            filter: Arc::from(cfg.filter),
            sandbox: services.sandbox.clone(),
        })
    }

    /// The body through the filter, in the sandbox.
    fn transform<H: Head>(&self, body: &Bytes) -> BodyOutcome<H> {
        if body.is_empty() {
            return BodyOutcome::Continue;
        }
        let Some(sandbox) = self.sandbox.clone() else {
            return BodyOutcome::Respond(failed(&Failure::Crashed("no sandbox".into())));
        };
        let (filter, input) = (self.filter.clone(), body.clone());
        BodyOutcome::Await(Box::pin(async move {
            let result = sandbox.jq(filter, input).await;
            Box::new(
                move |head: &mut H, body: &mut Bytes, _: &mut RequestCtx| match result {
                    Ok(out) => {
                        *body = Bytes::from(out);
                        json_type(head.headers());
                        BodyOutcome::Continue
                    }
                    Err(failure) => BodyOutcome::Respond(failed(&failure)),
                },
            ) as crate::BodyResume<H>
        }))
    }
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
        _req: &mut http::request::Parts,
        body: &mut Bytes,
        _ctx: &mut RequestCtx,
    ) -> BodyOutcome<http::request::Parts> {
        self.0.transform(body)
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
        _resp: &mut http::response::Parts,
        body: &mut Bytes,
        _ctx: &mut RequestCtx,
    ) -> BodyOutcome<http::response::Parts> {
        self.0.transform(body)
    }
}

fn build_request(
    config: &Value,
    services: &crate::Services,
) -> Result<Arc<dyn Plugin>, ConfigError> {
    Ok(Arc::new(JqRequest(Jq::build(config, services)?)))
}

fn build_response(
    config: &Value,
    services: &crate::Services,
) -> Result<Arc<dyn Plugin>, ConfigError> {
    Ok(Arc::new(JqResponse(Jq::build(config, services)?)))
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
    fn filters_are_checked_when_configured() {
        let services = crate::Services::default();
        assert!(build_request(&json!({"filter": ".a | length"}), &services).is_ok());
        let err = build_request(&json!({"filter": ".["}), &services)
            .err()
            .unwrap();
        assert_eq!(err.path, "filter");
        let deep = "(".repeat(50_000);
        assert!(build_response(&json!({"filter": deep}), &services).is_err());
    }
}
