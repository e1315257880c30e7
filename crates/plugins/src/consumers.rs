//! The security a flow's plans add (seed 000's consumers): each published or deprecated plan the
//! flow lists admits calls its own way, and a call passes when any one of them admits it.
//!
//! `keyless` admits everything; `apikey` and `oauth2-local` run ApikeyCalls (a key issued by a
//! subscription, or authorized on the API or its groups; oauth2-local's access tokens are JWTs
//! signed with the key's secret, which ApikeyCalls accepts); `jwt` and `oauth2-remote` verify a
//! token with a JWT verifier; `mtls` needs a verified client certificate whose subject and issuer
//! match the plan's patterns (`client_cert::Matcher`). When every plan refuses, the client hears the
//! most telling refusal: one about the credentials it presented rather than about ones it did not
//! present.

use std::sync::Arc;

use http::StatusCode;
use http::request::Parts;
use komainu_model::{JwtVerifier, MtlsAccess};
use serde_json::Value;

use crate::catalogue::apikey_calls;
use crate::catalogue::client_cert::{self, Matcher};
use crate::config::ConfigError;
use crate::jwt_verifier::{Checked, Verifier};
use crate::{Outcome, Plugin, RequestCtx, Services, gateway_error};

/// What one plan needs of a call.
pub enum PlanGuard {
    Keyless,
    /// ApikeyCalls with its default configuration, once for all the keyed plans (`apikey`,
    /// `oauth2-local`) of the flow: a key issued for one of `plans` (or by no subscription) passes
    /// and the call is the key's plan's. `count: false` when the flow's own ApikeyCalls already
    /// counts the call against the key's quotas (a call is counted once).
    Apikey {
        count: bool,
        plans: Vec<String>,
    },
    Jwt(Box<JwtVerifier>),
    Mtls(MtlsAccess),
}

enum Guard {
    Keyless,
    Apikey(Arc<dyn Plugin>, Arc<[Arc<str>]>),
    Jwt(Verifier),
    Mtls(Matcher),
}

/// The claims of the token a `jwt` / `oauth2-remote` plan accepted, for later phases.
#[derive(Clone)]
pub struct VerifiedClaims(pub Arc<Value>);

struct Consumers {
    /// Each plan's id (what metrics and events name) and what it requires.
    guards: Vec<(Arc<str>, Guard)>,
}

/// Causes that mean "no credentials of this kind were presented".
const ABSENT: [&str; 2] = ["errors.no.api.key", "error.expected.token.not.found"];

fn cause(resp: &http::Response<crate::Body>) -> &str {
    resp.headers()
        .get("otoroshi-error-cause")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

impl Plugin for Consumers {
    fn access(&self, req: &mut Parts, ctx: &mut RequestCtx) -> Outcome {
        let mut absent = None;
        let mut refused = None;
        for (plan, guard) in &self.guards {
            let mut presented = true;
            let admitted = |ctx: &mut RequestCtx| {
                ctx.plan = Some(plan.clone());
                Outcome::Continue
            };
            let response = match guard {
                Guard::Keyless => return admitted(ctx),
                Guard::Apikey(p, plans) => match p.access(req, ctx) {
                    Outcome::Continue => {
                        key_plan(ctx, plans);
                        return Outcome::Continue;
                    }
                    Outcome::Respond(r) => r,
                    // A guard that waits decides once it resumes.
                    Outcome::Await(pending) => {
                        let plans = plans.clone();
                        return Outcome::Await(Box::pin(async move {
                            let resume = pending.await;
                            let resume: crate::phase::Resume = Box::new(move |req, ctx| {
                                let outcome = resume(req, ctx);
                                if matches!(outcome, Outcome::Continue) {
                                    key_plan(ctx, &plans);
                                }
                                outcome
                            });
                            resume
                        }));
                    }
                },
                Guard::Jwt(v) => match v.check(req) {
                    Checked::Passed(claims) => {
                        ctx.attrs.insert(VerifiedClaims(Arc::new(claims)));
                        return admitted(ctx);
                    }
                    // A plan is credentialed: a verifier's `strict: false` (pass without a
                    // token) would open it to anonymous calls.
                    Checked::Absent => gateway_error(
                        StatusCode::BAD_REQUEST,
                        "error.expected.token.not.found",
                        "no token found",
                        ctx.html,
                    ),
                    Checked::Bad => gateway_error(
                        StatusCode::BAD_REQUEST,
                        "error.bad.token",
                        "bad token",
                        ctx.html,
                    ),
                },
                Guard::Mtls(m) => match &ctx.client_certs {
                    Some(chain) if m.admits(chain) => return admitted(ctx),
                    Some(_) => client_cert::forbidden(ctx, client_cert::NOT_MATCHING),
                    None => {
                        presented = false;
                        client_cert::forbidden(ctx, client_cert::NO_CERTIFICATE)
                    }
                },
            };
            let slot = if !presented || ABSENT.contains(&cause(&response)) {
                &mut absent
            } else {
                &mut refused
            };
            slot.get_or_insert(response);
        }
        Outcome::Respond(refused.or(absent).unwrap_or_else(|| {
            gateway_error(
                StatusCode::FORBIDDEN,
                "errors.no.plan",
                "no published plan admits calls here",
                ctx.html,
            )
        }))
    }
}

/// Names the plan of the key that passed: the one it was issued for, else the first keyed plan.
fn key_plan(ctx: &mut RequestCtx, plans: &[Arc<str>]) {
    let issued_for = ctx.apikey.as_ref().and_then(|k| k.plan());
    ctx.plan = plans
        .iter()
        .find(|p| Some(&***p) == issued_for)
        .or(plans.first())
        .cloned();
}

/// The plugin enforcing `guards` (an empty list admits nothing: the flow's plans are all closed
/// or unpublished).
pub fn build(
    guards: Vec<(String, PlanGuard)>,
    services: &Services,
) -> Result<Arc<dyn Plugin>, ConfigError> {
    let guards = guards
        .into_iter()
        .map(|(plan, g)| {
            Ok((
                Arc::from(plan),
                match g {
                    PlanGuard::Keyless => Guard::Keyless,
                    PlanGuard::Apikey { count, plans } => Guard::Apikey(
                        apikey_calls::for_plans(count, &plans, services),
                        plans.iter().map(|p| Arc::from(p.as_str())).collect(),
                    ),
                    PlanGuard::Jwt(v) => Guard::Jwt(Verifier::build(&v, services)?),
                    PlanGuard::Mtls(access) => Guard::Mtls(Matcher::for_plan(&access)?),
                },
            ))
        })
        .collect::<Result<Vec<_>, ConfigError>>()?;
    Ok(Arc::new(Consumers { guards }))
}
