//! NgCustomQuotas and NgCustomThrottling: quotas (`daily_quota`, `monthly_quota`) or calls per
//! second (`throttling_quota`, default 100) counted per `expression` (default `${req.ip}`), within
//! a `group` (an expression; else the route with `per_route`, the default, or one group for the
//! whole gateway with `global`). Beyond, 403 `forbidden`, as Otoroshi answers. Otoroshi reads
//! `per_route` as `perRoute` for the throttling plugin; both spellings are accepted.

use std::sync::Arc;

use http::request::Parts;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::config::ConfigError;
use crate::counters::Window;
use crate::def::PluginDef;
use crate::expr::Template;
use crate::limits::{Meter, UNLIMITED, forbidden};
use crate::{Outcome, Plugin, RequestCtx, config};

#[derive(Deserialize, Serialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
struct QuotasConfig {
    daily_quota: u64,
    monthly_quota: u64,
    #[serde(alias = "perRoute")]
    per_route: bool,
    global: bool,
    group: Option<String>,
    expression: String,
}

impl Default for QuotasConfig {
    fn default() -> Self {
        QuotasConfig {
            daily_quota: UNLIMITED,
            monthly_quota: UNLIMITED,
            per_route: true,
            global: false,
            group: None,
            expression: "${req.ip}".into(),
        }
    }
}

#[derive(Deserialize, Serialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
struct ThrottlingConfig {
    throttling_quota: u64,
    #[serde(alias = "perRoute")]
    per_route: bool,
    global: bool,
    group: Option<String>,
    expression: String,
}

impl Default for ThrottlingConfig {
    fn default() -> Self {
        ThrottlingConfig {
            throttling_quota: 100,
            per_route: true,
            global: false,
            group: None,
            expression: "${req.ip}".into(),
        }
    }
}

/// Where a counter belongs: a group expression, the route, or the whole gateway.
enum Group {
    Expr(Template),
    Route,
    Global,
}

impl Group {
    fn new(group: Option<&str>, per_route: bool) -> Result<Group, ConfigError> {
        Ok(match group {
            Some(g) => Group::Expr(Template::parse(g, "group")?),
            None if per_route => Group::Route,
            None => Group::Global,
        })
    }

    fn key(&self, expr: &Template, req: &Parts, ctx: &RequestCtx) -> String {
        let group = match self {
            Group::Expr(t) => t.render(req, ctx),
            Group::Route => ctx.route.id.clone(),
            Group::Global => "global".into(),
        };
        format!("custom:{group}:{}", expr.render(req, ctx))
    }
}

struct CustomQuotas {
    group: Group,
    expr: Template,
    daily: u64,
    monthly: u64,
    meter: Meter,
}

impl Plugin for CustomQuotas {
    fn access(&self, req: &mut Parts, ctx: &mut RequestCtx) -> Outcome {
        let key = self.group.key(&self.expr, req, ctx);
        let day = self
            .meter
            .within(ctx, &format!("{key}:day"), Window::Day, self.daily);
        let month = self
            .meter
            .within(ctx, &format!("{key}:month"), Window::Month, self.monthly);
        if day && month {
            Outcome::Continue
        } else {
            Outcome::Respond(forbidden(ctx))
        }
    }
}

struct CustomThrottling {
    group: Group,
    expr: Template,
    quota: u64,
    meter: Meter,
}

impl Plugin for CustomThrottling {
    fn access(&self, req: &mut Parts, ctx: &mut RequestCtx) -> Outcome {
        let key = self.group.key(&self.expr, req, ctx);
        if self.meter.within(
            ctx,
            &format!("{key}:second"),
            Window::Millis(1000),
            self.quota,
        ) {
            Outcome::Continue
        } else {
            Outcome::Respond(forbidden(ctx))
        }
    }
}

fn build_quotas(
    config: &Value,
    services: &crate::Services,
) -> Result<Arc<dyn Plugin>, ConfigError> {
    let cfg: QuotasConfig = config::parse(config)?;
    Ok(Arc::new(CustomQuotas {
        group: Group::new(cfg.group.as_deref(), cfg.per_route && !cfg.global)?,
        expr: Template::parse(&cfg.expression, "expression")?,
        daily: cfg.daily_quota,
        monthly: cfg.monthly_quota,
        meter: Meter::new(services),
    }))
}

fn build_throttling(
    config: &Value,
    services: &crate::Services,
) -> Result<Arc<dyn Plugin>, ConfigError> {
    let cfg: ThrottlingConfig = config::parse(config)?;
    Ok(Arc::new(CustomThrottling {
        group: Group::new(cfg.group.as_deref(), cfg.per_route && !cfg.global)?,
        expr: Template::parse(&cfg.expression, "expression")?,
        quota: cfg.throttling_quota,
        meter: Meter::new(services),
    }))
}

pub(crate) const PLUGIN_QUOTAS: PluginDef = PluginDef {
    name: "NgCustomQuotas",
    title: "Custom quotas",
    description: "This plugin will enforce quotas on the current route based on whatever you want",
    categories: &["Other"],
    steps: &["ValidateAccess"],
    build: build_quotas,
    describe: config::describe::<QuotasConfig>,
    inert: &[],
};

pub(crate) const PLUGIN_THROTTLING: PluginDef = PluginDef {
    name: "NgCustomThrottling",
    title: "Custom throttling",
    description: "This plugin will enforce throttling on the current route based on whatever you want",
    categories: &["Other"],
    steps: &["ValidateAccess"],
    build: build_throttling,
    describe: config::describe::<ThrottlingConfig>,
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
            build_quotas(
                &json!({"expression": "${req.headers.X-User}", "daily_quota": 3}),
                &s
            )
            .is_ok()
        );
        assert!(build_throttling(&json!({"perRoute": false, "throttling_quota": 5}), &s).is_ok());
        for (bad, path) in [
            (json!({"expression": "${user.email}"}), "expression"),
            (json!({"group": "${nope}"}), "group"),
            (json!({"daily_quota": "lots"}), "daily_quota"),
            (json!({"dailyQuota": 3}), ""),
        ] {
            let err = build_quotas(&bad, &s).err().expect("refused");
            assert!(err.path.starts_with(path), "{bad}: {err}");
        }
    }
}
