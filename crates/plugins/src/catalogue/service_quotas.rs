//! NgServiceQuotas ("public quotas"): calls per second (`throttling_quota`), per day
//! (`daily_quota`) and per month (`monthly_quota`) on the route, whoever calls. Beyond, 403
//! `forbidden`, as Otoroshi answers.

use std::sync::Arc;

use http::request::Parts;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::config::ConfigError;
use crate::counters::Window;
use crate::def::PluginDef;
use crate::limits::{Meter, UNLIMITED, forbidden};
use crate::{Outcome, Plugin, RequestCtx, config};

#[derive(Deserialize, Serialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
struct Config {
    throttling_quota: u64,
    daily_quota: u64,
    monthly_quota: u64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            throttling_quota: UNLIMITED,
            daily_quota: UNLIMITED,
            monthly_quota: UNLIMITED,
        }
    }
}

struct ServiceQuotas {
    cfg: Config,
    meter: Meter,
}

impl Plugin for ServiceQuotas {
    fn access(&self, _req: &mut Parts, ctx: &mut RequestCtx) -> Outcome {
        let id = &ctx.route.id;
        // Every window counts the call, as Otoroshi's do, whichever refuses it.
        let second = self.meter.within(
            ctx,
            &format!("service:{id}:second"),
            Window::Millis(1000),
            self.cfg.throttling_quota,
        );
        let day = self.meter.within(
            ctx,
            &format!("service:{id}:day"),
            Window::Day,
            self.cfg.daily_quota,
        );
        let month = self.meter.within(
            ctx,
            &format!("service:{id}:month"),
            Window::Month,
            self.cfg.monthly_quota,
        );
        if second && day && month {
            Outcome::Continue
        } else {
            Outcome::Respond(forbidden(ctx))
        }
    }
}

fn build(config: &Value, services: &crate::Services) -> Result<Arc<dyn Plugin>, ConfigError> {
    Ok(Arc::new(ServiceQuotas {
        cfg: config::parse(config)?,
        meter: Meter::new(services),
    }))
}

pub(crate) const PLUGIN: PluginDef = PluginDef {
    name: "NgServiceQuotas",
    title: "Public quotas",
    description: "This plugin will enforce public quotas on the current route",
    categories: &["Other"],
    steps: &["ValidateAccess"],
    build,
    describe: config::describe::<Config>,
    inert: &[],
};
