//! GlobalThrottling and GlobalPerIpAddressThrottling: the global configuration's
//! `throttlingQuota` (calls per second, every route with the plugin counting together) and
//! `perIpThrottlingQuota` (calls per second of one client address). Beyond, 429
//! `errors.too.much.requests` (`[GLOBAL] ...` / `[IP] ...`, Otoroshi's messages). No config.

use std::sync::Arc;

use http::request::Parts;
use serde_json::Value;

use crate::config::{ConfigError, NoConfig};
use crate::counters::Window;
use crate::def::PluginDef;
use crate::limits::{Meter, too_many};
use crate::{Outcome, Plugin, RequestCtx, config};

const SECOND: Window = Window::Millis(1000);

struct Global {
    quota: u64,
    meter: Meter,
}

impl Plugin for Global {
    fn access(&self, _req: &mut Parts, ctx: &mut RequestCtx) -> Outcome {
        if self
            .meter
            .within(ctx, "global-throttling", SECOND, self.quota)
        {
            Outcome::Continue
        } else {
            Outcome::Respond(too_many(ctx, "[GLOBAL] You performed too much requests"))
        }
    }
}

struct PerIp {
    quota: u64,
    meter: Meter,
}

impl Plugin for PerIp {
    fn access(&self, _req: &mut Parts, ctx: &mut RequestCtx) -> Outcome {
        let key = format!("ip-throttling:{}", ctx.client_ip);
        if self.meter.within(ctx, &key, SECOND, self.quota) {
            Outcome::Continue
        } else {
            Outcome::Respond(too_many(ctx, "[IP] You performed too much requests"))
        }
    }
}

fn build_global(
    config: &Value,
    services: &crate::Services,
) -> Result<Arc<dyn Plugin>, ConfigError> {
    config::parse::<NoConfig>(config)?;
    Ok(Arc::new(Global {
        quota: services.global.throttling_quota,
        meter: Meter::new(services),
    }))
}

fn build_per_ip(
    config: &Value,
    services: &crate::Services,
) -> Result<Arc<dyn Plugin>, ConfigError> {
    config::parse::<NoConfig>(config)?;
    Ok(Arc::new(PerIp {
        quota: services.global.per_ip_throttling_quota,
        meter: Meter::new(services),
    }))
}

pub(crate) const PLUGIN_GLOBAL: PluginDef = PluginDef {
    name: "GlobalThrottling",
    title: "Global throttling",
    description: "Enforce global throttling (the global configuration's throttlingQuota, calls per second)",
    categories: &["AccessControl"],
    steps: &["ValidateAccess"],
    build: build_global,
    describe: config::describe::<NoConfig>,
    inert: &[],
};

pub(crate) const PLUGIN_PER_IP: PluginDef = PluginDef {
    name: "GlobalPerIpAddressThrottling",
    title: "Global per ip address throttling",
    description: "Enforce global per ip address throttling (the global configuration's perIpThrottlingQuota, calls per second)",
    categories: &["AccessControl", "Classic"],
    steps: &["ValidateAccess"],
    build: build_per_ip,
    describe: config::describe::<NoConfig>,
    inert: &[],
};
