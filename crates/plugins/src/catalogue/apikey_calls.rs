//! ApikeyCalls: the call must present a valid API key authorized on the route (seeds 003 and 004),
//! within its quotas. Config: Otoroshi's (`extractors`, `routing`, `validate`, `mandatory`,
//! `wipe_backend_request`, `update_quotas`).
//!
//! Statuses and cause ids are Otoroshi's: no key 400 `errors.no.api.key`; unknown key or key not
//! authorized here 400 `errors.invalid.api.key.tuple`; wrong secret, disabled, expired or bad JWT
//! 401 `errors.bad.api.key`; tags/metadata not matching `routing` 401 `errors.invalid.api.key`;
//! read-only key writing 405; restriction 403/404; quota 429 `errors.too.much.requests`. Bodies
//! never repeat a secret.

use std::sync::Arc;

use http::request::Parts;
use http::{HeaderName, HeaderValue, StatusCode, header};
use komainu_keys::{
    ApikeyConfig, Denial, KeyService, Presented, Remaining, RequestFacts, Verdict, extract,
};
use serde_json::Value;

use crate::config::ConfigError;
use crate::def::PluginDef;
use crate::{Outcome, Plugin, RequestCtx, Services, config, gateway_error};

const DAILY_REMAINING: HeaderName = HeaderName::from_static("otoroshi-daily-calls-remaining");
const MONTHLY_REMAINING: HeaderName = HeaderName::from_static("otoroshi-monthly-calls-remaining");
const THROTTLING_REMAINING: HeaderName =
    HeaderName::from_static("otoroshi-throttling-calls-remaining");

struct ApikeyCalls {
    cfg: Arc<ApikeyConfig>,
    keys: Option<Arc<KeyService>>,
}

fn remaining_headers(ctx: &mut RequestCtx, r: &Remaining) {
    for (name, value) in [
        (DAILY_REMAINING, r.day),
        (MONTHLY_REMAINING, r.month),
        (THROTTLING_REMAINING, r.second),
    ] {
        ctx.response_headers.push((name, HeaderValue::from(value)));
    }
}

fn refuse(ctx: &RequestCtx, status: StatusCode, cause: &str, message: &str) -> Outcome {
    Outcome::Respond(gateway_error(status, cause, message, ctx.html))
}

impl Plugin for ApikeyCalls {
    fn access(&self, req: &mut Parts, ctx: &mut RequestCtx) -> Outcome {
        let Some(keys) = &self.keys else {
            return refuse(
                ctx,
                StatusCode::INTERNAL_SERVER_ERROR,
                "errors.proxy.error",
                "API keys unavailable",
            );
        };
        decide(&self.cfg, keys, req, ctx, true)
    }

    fn credential_params(&self) -> Vec<String> {
        self.cfg.extractors.query_params()
    }
}

/// The plugin's decision. `may_wait`: a key whose shared quota has no granted call on this node
/// waits for a grant (once), then is decided again.
fn decide(
    cfg: &Arc<ApikeyConfig>,
    keys: &Arc<KeyService>,
    req: &mut Parts,
    ctx: &mut RequestCtx,
    may_wait: bool,
) -> Outcome {
    let Some(presented) = extract(&req.headers, req.uri.query(), &cfg.extractors) else {
        return if cfg.mandatory {
            refuse(
                ctx,
                StatusCode::BAD_REQUEST,
                "errors.no.api.key",
                "no apikey",
            )
        } else {
            Outcome::Continue
        };
    };
    // The full URL is only read by a JWT's `aud` check: not built for other credentials.
    let url = if matches!(presented, Presented::Jwt { .. }) {
        format!(
            "{}://{}{}",
            if ctx.https { "https" } else { "http" },
            ctx.host,
            ctx.path_and_query()
        )
    } else {
        String::new()
    };
    let facts = RequestFacts {
        method: req.method.as_str(),
        host: &ctx.host,
        path: ctx.path(),
        url: &url,
        xsrf_header: req
            .headers
            .get("x-xsrf-token")
            .and_then(|v| v.to_str().ok()),
    };
    let verdict = keys.check(presented, cfg, &ctx.route, &req.method, &facts, may_wait);
    let outcome = match verdict {
        Verdict::Passed {
            remaining,
            strip,
            key,
        } => {
            remaining_headers(ctx, &remaining);
            ctx.apikey = Some(key);
            for name in strip {
                req.headers.remove(name);
            }
            if cfg.wipe_backend_request == Some(true) {
                req.headers.remove(header::AUTHORIZATION);
            }
            return Outcome::Continue;
        }
        Verdict::Unknown | Verdict::Denied(Denial::NotAuthorized) => refuse(
            ctx,
            StatusCode::BAD_REQUEST,
            "errors.invalid.api.key.tuple",
            "invalid apikey tuple",
        ),
        Verdict::Denied(Denial::Bad) => refuse(
            ctx,
            StatusCode::UNAUTHORIZED,
            "errors.bad.api.key",
            "bad apikey",
        ),
        Verdict::Denied(Denial::Subscription(why)) => {
            let (cause, message) = match why {
                "paused" => (
                    "errors.subscription.paused",
                    "the subscription of this apikey is paused",
                ),
                "pending" => (
                    "errors.subscription.pending",
                    "the subscription of this apikey waits for approval",
                ),
                _ => (
                    "errors.subscription.closed",
                    "the subscription of this apikey is closed",
                ),
            };
            refuse(ctx, StatusCode::UNAUTHORIZED, cause, message)
        }
        Verdict::NotRouted => refuse(
            ctx,
            StatusCode::UNAUTHORIZED,
            "errors.invalid.api.key",
            "invalid apikey",
        ),
        Verdict::Denied(Denial::ReadOnly) => refuse(
            ctx,
            StatusCode::METHOD_NOT_ALLOWED,
            "errors.method.not.allowed",
            "Method not allowed. Can only handle GET, HEAD, OPTIONS",
        ),
        Verdict::Denied(Denial::Restricted(status)) => {
            let (cause, message) = if status == StatusCode::FORBIDDEN {
                ("errors.forbidden", "forbidden by the key's restrictions")
            } else {
                ("errors.not.found", "not found")
            };
            refuse(ctx, status, cause, message)
        }
        Verdict::NeedsGrant(key) => {
            let (cfg, keys) = (cfg.clone(), keys.clone());
            return Outcome::Await(Box::pin(async move {
                keys.grant(&key, false).await;
                let resume: crate::phase::Resume =
                    Box::new(move |req, ctx| decide(&cfg, &keys, req, ctx, false));
                resume
            }));
        }
        Verdict::OverQuota(remaining) => {
            remaining_headers(ctx, &remaining);
            refuse(
                ctx,
                StatusCode::TOO_MANY_REQUESTS,
                "errors.too.much.requests",
                "You performed too much requests",
            )
        }
    };
    if !cfg.validate && !cfg.mandatory {
        Outcome::Continue
    } else {
        outcome
    }
}

/// The key check of an API's keyed plans: the default config, admitting only keys issued for
/// `plans` (or issued by no subscription), counting the call when `count`.
pub(crate) fn for_plans(count: bool, plans: &[String], services: &Services) -> Arc<dyn Plugin> {
    let cfg = ApikeyConfig {
        update_quotas: count,
        plans: Some(plans.iter().map(|p| p.as_str().into()).collect()),
        ..ApikeyConfig::default()
    };
    Arc::new(ApikeyCalls {
        cfg: Arc::new(cfg),
        keys: services.keys.clone(),
    })
}

pub(crate) fn build(config: &Value, services: &Services) -> Result<Arc<dyn Plugin>, ConfigError> {
    let cfg: ApikeyConfig = config::parse(config)?;
    Ok(Arc::new(ApikeyCalls {
        cfg: Arc::new(cfg),
        keys: services.keys.clone(),
    }))
}

pub(crate) const PLUGIN: PluginDef = PluginDef {
    name: "ApikeyCalls",
    title: "Apikeys",
    description: "This plugin expects to find an apikey to allow the request to pass",
    categories: &["AccessControl"],
    steps: &["MatchRoute", "ValidateAccess", "TransformRequest"],
    build,
    describe: config::describe::<ApikeyConfig>,
    inert: &[
        "pass_with_user",
        "extractors.basic.cookie_name",
        "extractors.basic.path_name",
        "extractors.client_id.cookie_name",
        "extractors.client_id.path_name",
        "extractors.jwt.path_name",
        "extractors.oto_bearer.header_name",
        "extractors.oto_bearer.query_name",
        "extractors.oto_bearer.cookie_name",
        "extractors.oto_bearer.path_name",
    ],
};
