//! LocalTokenBucket: a token bucket per `bucketKey` (an expression; default the route): up to
//! `capacity` calls at once, refilled with `refillRequestedTokens` every `refillRequestIntervalMs`,
//! and `quota.daily` / `quota.monthly` on the same key. A call without a token is refused with 429
//! `errors.too.much.requests`. Otoroshi's config keys; its `id` is accepted as written.

use std::sync::Arc;

use http::request::Parts;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::config::ConfigError;
use crate::def::PluginDef;
use crate::expr::Template;
use crate::limits::{Meter, Quota, too_many};
use crate::{Outcome, Plugin, RequestCtx, config};

#[derive(Deserialize, Serialize, JsonSchema)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
struct Config {
    /// Otoroshi's strategy name (`LocalTokensBucketStrategyConfig`).
    id: Option<String>,
    /// What shares a bucket (an expression such as `${req.ip}`); the route by default.
    bucket_key: Option<String>,
    capacity: u64,
    refill_request_interval_ms: u64,
    refill_requested_tokens: u64,
    quota: Quota,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            id: None,
            bucket_key: None,
            capacity: 300,
            refill_request_interval_ms: 50,
            refill_requested_tokens: 50,
            quota: Quota::default(),
        }
    }
}

struct TokenBucket {
    key: Template,
    capacity: f64,
    per_second: f64,
    quota: Quota,
    meter: Meter,
}

impl Plugin for TokenBucket {
    fn access(&self, req: &mut Parts, ctx: &mut RequestCtx) -> Outcome {
        let key = format!("bucket:{}:{}", ctx.route.id, self.key.render(req, ctx));
        let (now, w) = self.meter.now();
        let took = self.meter.counters.take_token(
            (&ctx.route.id, &key),
            (self.capacity, self.per_second),
            now,
            &w,
        );
        if took && self.quota.day_and_month(&self.meter, ctx, &key) {
            Outcome::Continue
        } else {
            Outcome::Respond(too_many(ctx, "Too much requests"))
        }
    }
}

fn build(config: &Value, services: &crate::Services) -> Result<Arc<dyn Plugin>, ConfigError> {
    let cfg: Config = config::parse(config)?;
    config::strategy(cfg.id.as_deref(), "LocalTokensBucketStrategyConfig")?;
    if cfg.capacity == 0 {
        return Err(ConfigError::at("capacity", "at least 1"));
    }
    if cfg.refill_request_interval_ms == 0 {
        return Err(ConfigError::at("refillRequestIntervalMs", "at least 1"));
    }
    Ok(Arc::new(TokenBucket {
        key: Template::parse(cfg.bucket_key.as_deref().unwrap_or(""), "bucketKey")?,
        capacity: cfg.capacity as f64,
        per_second: cfg.refill_requested_tokens as f64 * 1000.0
            / cfg.refill_request_interval_ms as f64,
        quota: cfg.quota,
        meter: Meter::new(services),
    }))
}

pub(crate) const PLUGIN: PluginDef = PluginDef {
    name: "LocalTokenBucket",
    title: "Local Token Bucket",
    description: "Applies a token bucket strategy to smoothly limit traffic while allowing controlled bursts.",
    categories: &["AccessControl"],
    steps: &["ValidateAccess"],
    build,
    describe: config::describe::<Config>,
    inert: &[],
};

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn configs_are_checked() {
        let s = crate::Services::default();
        assert!(build(&json!({}), &s).is_ok());
        assert!(
            build(
                &json!({"bucketKey": "${req.headers.X-User}", "capacity": 5}),
                &s
            )
            .is_ok()
        );
        for (bad, path) in [
            (json!({"capacity": 0}), "capacity"),
            (json!({"capacity": "many"}), "capacity"),
            (json!({"bucketKey": "${nope}"}), "bucketKey"),
            (
                json!({"refillRequestIntervalMs": 0}),
                "refillRequestIntervalMs",
            ),
            (json!({"quota": {"dayly": 3}}), "quota"),
            (json!({"id": "FixedWindowStrategyConfig"}), "id"),
        ] {
            let err = build(&bad, &s).err().expect("refused");
            assert!(err.path.starts_with(path), "{bad}: {err}");
        }
    }
}
