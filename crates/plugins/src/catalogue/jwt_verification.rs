//! JwtVerification (`verifiers`: any of these stored JWT verifiers admits the call) and
//! JwtVerificationOnly (`verifier`; `fail_if_absent`, default true: a call without a token is
//! refused). A missing token is 400 `error.expected.token.not.found`, a bad one 400
//! `error.bad.token`, or, with `custom_response`, the configured `custom_response_status` (401),
//! `custom_response_headers` and `custom_response_body`. A verifier whose keys come from a JWKS
//! not fetched yet makes the first calls wait for that fetch (bounded by its timeout) instead of
//! refusing them.

use std::collections::BTreeMap;
use std::sync::Arc;

use http::request::Parts;
use http::{HeaderName, HeaderValue, Response, StatusCode, header};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::config::ConfigError;
use crate::consumers::VerifiedClaims;
use crate::def::PluginDef;
use crate::jwt_verifier::{Checked, Verifier};
use crate::{Body, Outcome, Plugin, RequestCtx, Services, config, full, gateway_error};

/// Otoroshi's custom error of the JWT plugins (the `custom_response*` keys of both configs).
struct CustomResponse<'a> {
    custom_response: bool,
    custom_response_status: u16,
    custom_response_headers: &'a BTreeMap<String, String>,
    custom_response_body: &'a str,
}

fn unauthorized() -> String {
    r#"{"error":"unauthorized"}"#.into()
}

fn status_401() -> u16 {
    401
}

/// The configured answer of a refused call.
struct Custom {
    status: StatusCode,
    headers: Vec<(HeaderName, HeaderValue)>,
    body: String,
}

/// A refusal: the custom one when configured, else Otoroshi's.
struct Refusal {
    custom: Option<Custom>,
}

impl Refusal {
    fn new(c: CustomResponse<'_>) -> Result<Refusal, ConfigError> {
        if !c.custom_response {
            return Ok(Refusal { custom: None });
        }
        let status = StatusCode::from_u16(c.custom_response_status)
            .ok()
            .filter(|s| s.as_u16() >= 200)
            .ok_or_else(|| ConfigError::at("custom_response_status", "not an HTTP status"))?;
        let headers = c
            .custom_response_headers
            .iter()
            .map(|(k, v)| {
                let at = || format!("custom_response_headers.{k}");
                Ok((
                    HeaderName::try_from(k.as_str())
                        .map_err(|_| ConfigError::at(at(), "not a header name"))?,
                    HeaderValue::try_from(v.as_str())
                        .map_err(|_| ConfigError::at(at(), "not a header value"))?,
                ))
            })
            .collect::<Result<_, ConfigError>>()?;
        Ok(Refusal {
            custom: Some(Custom {
                status,
                headers,
                body: c.custom_response_body.to_string(),
            }),
        })
    }

    fn answer(&self, ctx: &RequestCtx, absent: bool) -> Response<Body> {
        match &self.custom {
            Some(c) => {
                let mut resp = Response::new(full(c.body.clone()));
                *resp.status_mut() = c.status;
                let h = resp.headers_mut();
                h.insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json"),
                );
                for (k, v) in &c.headers {
                    h.insert(k.clone(), v.clone());
                }
                resp
            }
            None if absent => gateway_error(
                StatusCode::BAD_REQUEST,
                "error.expected.token.not.found",
                "no token found",
                ctx.html,
            ),
            None => gateway_error(
                StatusCode::BAD_REQUEST,
                "error.bad.token",
                "bad token",
                ctx.html,
            ),
        }
    }
}

/// The verifiers named by a config, looked up when the chain is built.
fn verifiers(
    ids: &[String],
    field: &str,
    services: &Services,
) -> Result<Vec<Verifier>, ConfigError> {
    let Some(stored) = &services.verifiers else {
        return Ok(Vec::new()); // checking a config: the verifiers are checked when they are used
    };
    ids.iter()
        .enumerate()
        .map(|(i, id)| {
            let at = || {
                if field == "verifier" {
                    field.to_string()
                } else {
                    format!("{field}[{i}]")
                }
            };
            let v = stored.get(id).ok_or_else(|| {
                ConfigError::at(at(), format!("no stored JWT verifier has id \"{id}\""))
            })?;
            Verifier::build(v, services).map_err(|e| ConfigError::at(at(), e))
        })
        .collect()
}

struct Inner {
    verifiers: Vec<Verifier>,
    /// A call without a token passes (JwtVerificationOnly's `fail_if_absent: false`).
    absent_passes: bool,
    refusal: Refusal,
}

impl Inner {
    fn decide(&self, req: &mut Parts, ctx: &mut RequestCtx) -> Outcome {
        let mut absent = true;
        for v in &self.verifiers {
            match v.check(req) {
                Checked::Passed(claims) => {
                    ctx.attrs.insert(VerifiedClaims(Arc::new(claims)));
                    return Outcome::Continue;
                }
                Checked::Absent if !v.strict() => return Outcome::Continue,
                Checked::Absent => {}
                Checked::Bad => absent = false,
            }
        }
        if absent && self.absent_passes {
            return Outcome::Continue;
        }
        Outcome::Respond(self.refusal.answer(ctx, absent))
    }
}

struct JwtVerification(Arc<Inner>);

impl Plugin for JwtVerification {
    fn access(&self, req: &mut Parts, ctx: &mut RequestCtx) -> Outcome {
        // A token to check against keys still on their way: wait for them, then decide.
        let waiting = self
            .0
            .verifiers
            .iter()
            .find(|v| v.has_token(req))
            .and_then(Verifier::first_fetch);
        if let Some(fetched) = waiting {
            let inner = self.0.clone();
            return Outcome::Await(Box::pin(async move {
                fetched.await;
                Box::new(move |req: &mut Parts, ctx: &mut RequestCtx| inner.decide(req, ctx))
                    as crate::Resume
            }));
        }
        self.0.decide(req, ctx)
    }
}

#[derive(Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct Config {
    /// Ids of stored JWT verifiers: any one admits the call.
    #[serde(default)]
    verifiers: Vec<String>,
    #[serde(default)]
    custom_response: bool,
    #[serde(default = "status_401")]
    custom_response_status: u16,
    #[serde(default)]
    custom_response_headers: BTreeMap<String, String>,
    #[serde(default = "unauthorized")]
    custom_response_body: String,
}

#[derive(Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct OnlyConfig {
    #[serde(default)]
    verifier: Option<String>,
    #[serde(default = "yes")]
    fail_if_absent: bool,
    #[serde(default)]
    custom_response: bool,
    #[serde(default = "status_401")]
    custom_response_status: u16,
    #[serde(default)]
    custom_response_headers: BTreeMap<String, String>,
    #[serde(default = "unauthorized")]
    custom_response_body: String,
}

fn yes() -> bool {
    true
}

/// The defaults are serde's (one place says them).
impl Default for Config {
    fn default() -> Self {
        serde_json::from_value(serde_json::json!({})).expect("every field has a default")
    }
}

impl Default for OnlyConfig {
    fn default() -> Self {
        serde_json::from_value(serde_json::json!({})).expect("every field has a default")
    }
}

macro_rules! custom {
    ($cfg:expr) => {
        CustomResponse {
            custom_response: $cfg.custom_response,
            custom_response_status: $cfg.custom_response_status,
            custom_response_headers: &$cfg.custom_response_headers,
            custom_response_body: &$cfg.custom_response_body,
        }
    };
}

fn build(config: &Value, services: &Services) -> Result<Arc<dyn Plugin>, ConfigError> {
    let cfg: Config = config::parse(config)?;
    // Naming no verifier (the default config) admits nothing: every call is refused.
    Ok(Arc::new(JwtVerification(Arc::new(Inner {
        verifiers: verifiers(&cfg.verifiers, "verifiers", services)?,
        absent_passes: false,
        refusal: Refusal::new(custom!(cfg))?,
    }))))
}

fn build_only(config: &Value, services: &Services) -> Result<Arc<dyn Plugin>, ConfigError> {
    let cfg: OnlyConfig = config::parse(config)?;
    let ids: Vec<String> = cfg.verifier.iter().cloned().collect();
    Ok(Arc::new(JwtVerification(Arc::new(Inner {
        verifiers: verifiers(&ids, "verifier", services)?,
        absent_passes: !cfg.fail_if_absent,
        refusal: Refusal::new(custom!(cfg))?,
    }))))
}

pub(crate) const PLUGIN: PluginDef = PluginDef {
    name: "JwtVerification",
    title: "Jwt verifiers",
    description: "This plugin verifies the current request with one or more jwt verifier",
    categories: &["AccessControl", "Classic"],
    steps: &["ValidateAccess", "TransformRequest"],
    build,
    describe: config::describe::<Config>,
    inert: &[],
};

pub(crate) const PLUGIN_ONLY: PluginDef = PluginDef {
    name: "JwtVerificationOnly",
    title: "Jwt verification only",
    description: "This plugin verifies the current request with one jwt verifier",
    categories: &["AccessControl", "Classic"],
    steps: &["ValidateAccess"],
    build: build_only,
    describe: config::describe::<OnlyConfig>,
    inert: &[],
};
