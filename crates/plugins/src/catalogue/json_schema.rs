//! JsonSchemaRequestValidator / JsonSchemaResponseValidator: JSON bodies (a `json` content type)
//! checked against `schema` (a JSON Schema, as an object or as JSON text; Otoroshi writes text)
//! in the draft `specification` names (2020-12 by default; 2019-09, 07, 06, 04), compiled once with
//! the config. With `fail_on_validation_error` (default) a non-conforming request is answered
//! 422 and a non-conforming response replaced by a 502, with Otoroshi's body
//! `{"error": "...", "validation_errors": [...]}`; without it the problems are only logged.
//!
//! A body is read by serde_json (nesting past 128 levels is refused, never recursed into); one
//! over [`INLINE`] bytes is checked on the blocking pool so that it never holds a request thread.

use std::sync::Arc;

use bytes::Bytes;
use http::request::Parts;
use http::{HeaderMap, HeaderValue, Response, StatusCode, header};
use jsonschema::{Draft, Validator};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::config::ConfigError;
use crate::def::PluginDef;
use crate::{Body, BodyNeed, BodyOutcome, BodyResume, Needs, Plugin, RequestCtx, config, full};

const MAX_BODY: usize = 4 * 1024 * 1024;
/// Bodies up to this size are checked where the request runs (tens of microseconds at most).
const INLINE: usize = 64 << 10;

#[derive(Deserialize, Serialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
struct Config {
    schema: Option<Value>,
    specification: String,
    fail_on_validation_error: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            schema: None,
            specification: "https://json-schema.org/draft/2020-12/schema".into(),
            fail_on_validation_error: true,
        }
    }
}

fn draft(spec: &str) -> Result<Draft, ConfigError> {
    let s = spec.trim_end_matches('#');
    Ok(if s.contains("2020-12") {
        Draft::Draft202012
    } else if s.contains("2019-09") {
        Draft::Draft201909
    } else if s.contains("draft-07") || s.ends_with("07") {
        Draft::Draft7
    } else if s.contains("draft-06") || s.ends_with("06") {
        Draft::Draft6
    } else if s.contains("draft-04") || s.ends_with("04") {
        Draft::Draft4
    } else {
        return Err(ConfigError::at(
            "specification",
            format!("\"{spec}\" is not a JSON Schema draft"),
        ));
    })
}

struct Check {
    validator: Option<Validator>,
    fail: bool,
}

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
        .is_some_and(|ct| ct == "application/json" || ct.ends_with("+json"))
}

impl Check {
    /// The problems of `body` (none when it conforms, or no schema is set).
    fn problems(&self, body: &[u8]) -> Vec<String> {
        let Some(v) = &self.validator else {
            return Vec::new();
        };
        match serde_json::from_slice::<Value>(body) {
            Ok(instance) => v
                .iter_errors(&instance)
                .map(|e| {
                    let at = e.instance_path().to_string();
                    if at.is_empty() {
                        e.to_string()
                    } else {
                        format!("{at}: {e}")
                    }
                })
                .collect(),
            Err(e) => vec![format!("not JSON: {e}")],
        }
    }

    fn refusal(&self, status: StatusCode, what: &str, problems: Vec<String>) -> Response<Body> {
        let body = json!({"error": format!("{what} body does not match the json schema"),
                          "validation_errors": problems});
        let mut resp = Response::new(full(body.to_string()));
        *resp.status_mut() = status;
        resp.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        resp
    }
}

/// `body` checked against `check`: inline when small, else on the blocking pool; `decide` turns
/// the problems into the phase's decision.
fn checked<H: Send + 'static>(
    check: &Arc<Check>,
    body: &Bytes,
    decide: fn(&Check, Vec<String>, &RequestCtx) -> BodyOutcome<H>,
    ctx: &RequestCtx,
) -> BodyOutcome<H> {
    if body.len() <= INLINE {
        return decide(check, check.problems(body), ctx);
    }
    let (check, body) = (check.clone(), body.clone());
    BodyOutcome::Await(Box::pin(async move {
        let worker = check.clone();
        let problems = tokio::task::spawn_blocking(move || worker.problems(&body))
            .await
            .unwrap_or_else(|e| vec![format!("the check failed: {e}")]);
        Box::new(move |_: &mut H, _: &mut Bytes, ctx: &mut RequestCtx| {
            decide(&check, problems, ctx)
        }) as BodyResume<H>
    }))
}

struct RequestValidator(Arc<Check>);

impl RequestValidator {
    fn decide(check: &Check, problems: Vec<String>, ctx: &RequestCtx) -> BodyOutcome<Parts> {
        if problems.is_empty() {
            return BodyOutcome::Continue;
        }
        tracing::info!(route = %ctx.route.id, problems = problems.len(), "request body does not match its JSON schema");
        if !check.fail {
            return BodyOutcome::Continue;
        }
        BodyOutcome::Respond(check.refusal(StatusCode::UNPROCESSABLE_ENTITY, "request", problems))
    }
}

impl Plugin for RequestValidator {
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
    ) -> BodyOutcome<Parts> {
        if body.is_empty() || !is_json(&req.headers) {
            return BodyOutcome::Continue;
        }
        checked(&self.0, body, RequestValidator::decide, ctx)
    }
}

struct ResponseValidator(Arc<Check>);

impl ResponseValidator {
    fn decide(
        check: &Check,
        problems: Vec<String>,
        ctx: &RequestCtx,
    ) -> BodyOutcome<http::response::Parts> {
        if problems.is_empty() {
            return BodyOutcome::Continue;
        }
        tracing::warn!(route = %ctx.route.id, problems = problems.len(), "response body does not match its JSON schema");
        if !check.fail {
            return BodyOutcome::Continue;
        }
        BodyOutcome::Respond(check.refusal(StatusCode::BAD_GATEWAY, "response", problems))
    }
}

impl Plugin for ResponseValidator {
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
    ) -> BodyOutcome<http::response::Parts> {
        if !is_json(&resp.headers) {
            return BodyOutcome::Continue;
        }
        checked(&self.0, body, ResponseValidator::decide, ctx)
    }
}

fn check(config: &Value) -> Result<Check, ConfigError> {
    let cfg: Config = config::parse(config)?;
    let draft = draft(&cfg.specification)?;
    let schema = match cfg.schema {
        Some(Value::String(text)) if text.trim().is_empty() => None,
        Some(Value::String(text)) => Some(
            serde_json::from_str::<Value>(&text)
                .map_err(|e| ConfigError::at("schema", format!("not JSON: {e}")))?,
        ),
        Some(Value::Null) | None => None,
        Some(other) => Some(other),
    };
    let validator = schema
        .map(|s| {
            jsonschema::options()
                .with_draft(draft)
                .build(&s)
                .map_err(|e| ConfigError::at("schema", e.to_string()))
        })
        .transpose()?;
    Ok(Check {
        validator,
        fail: cfg.fail_on_validation_error,
    })
}

/// What both plugins check a body with, built from `config`: the problems of a body.
#[cfg(fuzzing)]
pub fn checker(
    config: &Value,
) -> Result<impl Fn(&[u8]) -> Vec<String> + Send + Sync + use<>, String> {
    let check = check(config).map_err(|e| e.to_string())?;
    Ok(move |body: &[u8]| check.problems(body))
}

fn build_request(
    config: &Value,
    _services: &crate::Services,
) -> Result<Arc<dyn Plugin>, ConfigError> {
    Ok(Arc::new(RequestValidator(Arc::new(check(config)?))))
}

fn build_response(
    config: &Value,
    _services: &crate::Services,
) -> Result<Arc<dyn Plugin>, ConfigError> {
    Ok(Arc::new(ResponseValidator(Arc::new(check(config)?))))
}

pub(crate) const PLUGIN_REQUEST: PluginDef = PluginDef {
    name: "JsonSchemaRequestValidator",
    title: "Json schema request validator",
    description: "Validates the body of incoming HTTP requests against a JSON schema",
    categories: &["Security"],
    steps: &["TransformRequest"],
    build: build_request,
    describe: config::describe::<Config>,
    inert: &[],
};

pub(crate) const PLUGIN_RESPONSE: PluginDef = PluginDef {
    name: "JsonSchemaResponseValidator",
    title: "Json schema response validator",
    description: "Validates the body of outgoing HTTP responses against a JSON schema",
    categories: &["Security"],
    steps: &["TransformResponse"],
    build: build_response,
    describe: config::describe::<Config>,
    inert: &[],
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schemas_are_read_as_text_or_objects_and_checked_once() {
        let text =
            check(&json!({"schema": "{\"type\": \"object\", \"required\": [\"name\"]}"})).unwrap();
        assert!(text.problems(br#"{"name": "x"}"#).is_empty());
        assert_eq!(text.problems(br#"{"age": 3}"#).len(), 1);
        let object = check(&json!({"schema": {"type": "array"}, "specification": "http://json-schema.org/draft-07/schema#"})).unwrap();
        assert!(object.problems(b"[]").is_empty());
        assert_eq!(
            check(&json!({"schema": "{nope"})).err().unwrap().path,
            "schema"
        );
        assert_eq!(
            check(&json!({"schema": {"type": 12}})).err().unwrap().path,
            "schema"
        );
        assert_eq!(
            check(&json!({"specification": "draft-99"}))
                .err()
                .unwrap()
                .path,
            "specification"
        );
    }
}
