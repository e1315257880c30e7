//! FixedWindow: at most `quota.window` calls per `windowDurationMs` (default 10 s) for each
//! `bucketKey` (an expression; the route by default), and `quota.daily` / `quota.monthly` on the
//! same key; beyond, 429 `errors.too.much.requests`. Counting is exact: each call takes its place
//! with one atomic increment, so exactly `quota.window` calls pass per window under any load.

use std::sync::Arc;

use http::request::Parts;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::config::ConfigError;
use crate::counters::Window;
use crate::def::PluginDef;
use crate::expr::Template;
use crate::limits::{Meter, Quota, too_many};
use crate::{Outcome, Plugin, RequestCtx, config};

#[derive(Deserialize, Serialize, JsonSchema)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
struct Config {
    /// Otoroshi's strategy name (`FixedWindowStrategyConfig`).
    id: Option<String>,
    bucket_key: Option<String>,
    window_duration_ms: u64,
    quota: Quota,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            id: None,
            bucket_key: None,
            window_duration_ms: 10_000,
            quota: Quota::default(),
        }
    }
}

struct FixedWindow {
    key: Template,
    window: Window,
    quota: Quota,
    meter: Meter,
}

impl Plugin for FixedWindow {
    fn access(&self, req: &mut Parts, ctx: &mut RequestCtx) -> Outcome {
        let key = format!("window:{}:{}", ctx.route.id, self.key.render(req, ctx));
        if self.meter.within(ctx, &key, self.window, self.quota.window)
            && self.quota.day_and_month(&self.meter, ctx, &key)
        {
            Outcome::Continue
        } else {
            Outcome::Respond(too_many(ctx, "Too much requests"))
        }
    }
}

fn build(config: &Value, services: &crate::Services) -> Result<Arc<dyn Plugin>, ConfigError> {
    let cfg: Config = config::parse(config)?;
    config::strategy(cfg.id.as_deref(), "FixedWindowStrategyConfig")?;
    if cfg.window_duration_ms == 0 {
        return Err(ConfigError::at("windowDurationMs", "at least 1"));
    }
    Ok(Arc::new(FixedWindow {
        key: Template::parse(cfg.bucket_key.as_deref().unwrap_or(""), "bucketKey")?,
        window: Window::Millis(cfg.window_duration_ms),
        quota: cfg.quota,
        meter: Meter::new(services),
    }))
}

pub(crate) const PLUGIN: PluginDef = PluginDef {
    name: "FixedWindow",
    title: "Fixed Window",
    description: "Fixed Window Throttling is a rate-limiting strategy that restricts each user to a maximum of M requests within a fixed time window (for example, 100 requests per minute).",
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
        assert!(
            build(
                &json!({"quota": {"window": 10}, "windowDurationMs": 1000}),
                &s
            )
            .is_ok()
        );
        for (bad, path) in [
            (json!({"windowDurationMs": 0}), "windowDurationMs"),
            (json!({"windowDuration": 10}), ""),
            (json!({"quota": {"window": -1}}), "quota.window"),
            (json!({"bucketKey": "${req.headers}"}), "bucketKey"),
        ] {
            let err = build(&bad, &s).err().expect("refused");
            assert!(err.path.starts_with(path), "{bad}: {err}");
        }
    }
}
