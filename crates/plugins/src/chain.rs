//! A compiled plugin chain: instances with their path filters, run phase by phase.

use std::sync::Arc;

use http::Response;
use http::request::Parts;
use komainu_model::PluginSlot;
use regex::RegexSet;

use crate::config::regexes;
use crate::{Body, Outcome, Plugin, RequestCtx, Services, registry};

/// One configured plugin, applying to the paths its `include`/`exclude` patterns select.
pub struct PluginInstance {
    plugin: Arc<dyn Plugin>,
    include: Option<RegexSet>,
    exclude: Option<RegexSet>,
}

impl PluginInstance {
    /// Whether the plugin applies to `path`: matches an include pattern (if any) and no exclude one.
    fn applies(&self, path: &str) -> bool {
        self.include.as_ref().is_none_or(|set| set.is_match(path))
            && !self.exclude.as_ref().is_some_and(|set| set.is_match(path))
    }
}

/// The enabled plugins of a route or flow, in order.
#[derive(Default)]
pub struct Chain {
    instances: Vec<PluginInstance>,
}

macro_rules! run_phase {
    ($self:ident, $phase:ident, $req:ident, $ctx:ident) => {{
        for i in &$self.instances {
            if i.applies($ctx.path()) {
                if let Outcome::Respond(r) = i.plugin.$phase($req, $ctx) {
                    return Outcome::Respond(r);
                }
            }
        }
        Outcome::Continue
    }};
}

impl Chain {
    /// Builds every enabled slot. An error names the slot index and what is wrong with it.
    pub fn compile(slots: &[PluginSlot], services: &Services) -> Result<Chain, (usize, String)> {
        let mut instances = Vec::with_capacity(slots.len());
        for (i, slot) in slots.iter().enumerate() {
            if !slot.enabled {
                continue;
            }
            let config = serde_json::Value::Object(slot.config.clone());
            let plugin = registry::build(&slot.plugin, &config, services).map_err(|e| (i, e))?;
            instances.push(PluginInstance {
                plugin,
                include: regexes(&slot.include, "include").map_err(|e| (i, e.to_string()))?,
                exclude: regexes(&slot.exclude, "exclude").map_err(|e| (i, e.to_string()))?,
            });
        }
        Ok(Chain { instances })
    }

    /// Runs `plugin` before every other plugin of the chain, on every path (a flow's plan security).
    pub fn prepend(&mut self, plugin: Arc<dyn Plugin>) {
        self.instances.insert(
            0,
            PluginInstance {
                plugin,
                include: None,
                exclude: None,
            },
        );
    }

    pub fn is_empty(&self) -> bool {
        self.instances.is_empty()
    }

    pub fn pre_route(&self, req: &mut Parts, ctx: &mut RequestCtx) -> Outcome {
        run_phase!(self, pre_route, req, ctx)
    }

    pub fn access(&self, req: &mut Parts, ctx: &mut RequestCtx) -> Outcome {
        run_phase!(self, access, req, ctx)
    }

    pub fn transform_request(&self, req: &mut Parts, ctx: &mut RequestCtx) -> Outcome {
        run_phase!(self, transform_request, req, ctx)
    }

    pub fn backend_call(&self, req: &Parts, ctx: &mut RequestCtx) -> Option<Response<Body>> {
        for i in &self.instances {
            if i.applies(ctx.path())
                && let Some(resp) = i.plugin.backend_call(req, ctx)
            {
                return Some(resp);
            }
        }
        None
    }

    pub fn transform_response(&self, resp: &mut Response<Body>, ctx: &mut RequestCtx) {
        for i in &self.instances {
            if i.applies(ctx.path()) {
                i.plugin.transform_response(resp, ctx);
            }
        }
    }
}
