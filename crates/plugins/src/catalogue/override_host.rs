//! OverrideHost: the upstream request's `Host` is the chosen target's hostname, not the client's.

use std::sync::Arc;

use http::request::Parts;
use serde_json::Value;

use crate::config::{self, ConfigError, NoConfig};
use crate::def::PluginDef;
use crate::{Outcome, Plugin, RequestCtx};

struct OverrideHost;

impl Plugin for OverrideHost {
    fn transform_request(&self, _req: &mut Parts, ctx: &mut RequestCtx) -> Outcome {
        // The target is chosen per attempt (retries may change it), so the proxy applies this.
        ctx.override_host = true;
        Outcome::Continue
    }
}

pub(crate) fn build(
    config: &Value,
    _services: &crate::Services,
) -> Result<Arc<dyn Plugin>, ConfigError> {
    let _: NoConfig = config::parse(config)?;
    Ok(Arc::new(OverrideHost))
}

pub(crate) const PLUGIN: PluginDef = PluginDef {
    name: "OverrideHost",
    title: "Override host header",
    description: "This plugin overrides the Host header sent upstream with the target's hostname",
    categories: &["Headers", "Classic"],
    steps: &["TransformRequest"],
    build,
    describe: config::describe::<NoConfig>,
    inert: &[],
};
