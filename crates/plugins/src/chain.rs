//! A compiled plugin chain: instances with their path filters, run phase by phase.
//!
//! What the chain's plugins need beyond the header phases is summed up when it is built
//! ([`Chain::needs`]), so the engine does body and log work only for chains that ask for it.

use std::sync::Arc;

use bytes::Bytes;
use http::Response;
use http::request::Parts;
use komainu_model::PluginSlot;
use regex::RegexSet;

use crate::config::regexes;
use crate::phase::{BodyNeed, BodyOutcome, Done, Needs, Step};
use crate::{Body, Outcome, Plugin, RequestCtx, Services, registry};

/// One configured plugin, applying to the paths its `include`/`exclude` patterns select.
pub struct PluginInstance {
    /// The configured plugin id, as execution reports name it.
    name: Arc<str>,
    plugin: Arc<dyn Plugin>,
    needs: Needs,
    include: Option<RegexSet>,
    exclude: Option<RegexSet>,
}

impl PluginInstance {
    fn new(
        name: &str,
        plugin: Arc<dyn Plugin>,
        include: Option<RegexSet>,
        exclude: Option<RegexSet>,
    ) -> Self {
        PluginInstance {
            name: Arc::from(name),
            needs: plugin.needs(),
            plugin,
            include,
            exclude,
        }
    }

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
    needs: Needs,
    /// The tracer of the chain's W3CTracing, if it has one.
    tracer: Option<Arc<komainu_observe::Tracer>>,
    /// Query parameters the chain's plugins read credentials from, lower case without `-` or
    /// `_` (how logs compare them).
    credential_params: Arc<[Box<str>]>,
}

/// Which header phase to run.
#[derive(Clone, Copy)]
enum Phase {
    PreRoute,
    Access,
    TransformRequest,
}

impl Phase {
    fn name(self) -> &'static str {
        match self {
            Phase::PreRoute => "pre_route",
            Phase::Access => "access",
            Phase::TransformRequest => "transform_request",
        }
    }
}

/// Keeps the stricter of two buffered needs (the smaller bound), streaming under buffering.
fn combine(a: BodyNeed, b: BodyNeed) -> BodyNeed {
    match (a, b) {
        (BodyNeed::Buffered(x), BodyNeed::Buffered(y)) => BodyNeed::Buffered(x.min(y)),
        (BodyNeed::Buffered(x), _) | (_, BodyNeed::Buffered(x)) => BodyNeed::Buffered(x),
        (BodyNeed::Stream, _) | (_, BodyNeed::Stream) => BodyNeed::Stream,
        _ => BodyNeed::None,
    }
}

/// Runs a body phase to its decision, awaiting what it waits for.
async fn settle<H>(
    mut outcome: BodyOutcome<H>,
    head: &mut H,
    body: &mut Bytes,
    ctx: &mut RequestCtx,
) -> Result<(), Response<Body>> {
    loop {
        match outcome {
            BodyOutcome::Continue => return Ok(()),
            BodyOutcome::Respond(r) => return Err(r),
            BodyOutcome::Await(pending) => {
                let resume = pending.await;
                outcome = resume(head, body, ctx);
            }
        }
    }
}

impl Chain {
    /// Builds every enabled slot. An error names the slot index and what is wrong with it.
    pub fn compile(slots: &[PluginSlot], services: &Services) -> Result<Chain, (usize, String)> {
        let mut chain = Chain::default();
        for (i, slot) in slots.iter().enumerate() {
            if !slot.enabled {
                continue;
            }
            let config = serde_json::Value::Object(slot.config.clone());
            let plugin = registry::build(&slot.plugin, &config, services).map_err(|e| (i, e))?;
            chain.push(PluginInstance::new(
                &slot.plugin,
                plugin,
                regexes(&slot.include, "include").map_err(|e| (i, e.to_string()))?,
                regexes(&slot.exclude, "exclude").map_err(|e| (i, e.to_string()))?,
            ));
        }
        Ok(chain)
    }

    fn push(&mut self, instance: PluginInstance) {
        let n = instance.needs;
        self.needs = Needs {
            request_body: combine(self.needs.request_body, n.request_body),
            response_body: combine(self.needs.response_body, n.response_body),
            log: self.needs.log || n.log,
        };
        if self.tracer.is_none() {
            self.tracer = instance.plugin.tracer();
        }
        let more = instance.plugin.credential_params();
        if !more.is_empty() {
            let mut all: Vec<Box<str>> = self.credential_params.to_vec();
            all.extend(more.iter().map(|name| {
                let plain: String = name
                    .chars()
                    .filter(|c| *c != '-' && *c != '_')
                    .map(|c| c.to_ascii_lowercase())
                    .collect();
                plain.into_boxed_str()
            }));
            self.credential_params = all.into();
        }
        self.instances.push(instance);
    }

    /// Runs `plugin` before every other plugin of the chain, on every path (a flow's plan security).
    pub fn prepend(&mut self, name: &str, plugin: Arc<dyn Plugin>) {
        let instances = std::mem::take(&mut self.instances);
        self.needs = Needs::default();
        self.tracer = None;
        self.credential_params = Arc::default();
        self.push(PluginInstance::new(name, plugin, None, None));
        for i in instances {
            self.push(i);
        }
    }

    pub fn is_empty(&self) -> bool {
        self.instances.is_empty()
    }

    /// The tracer a W3CTracing plugin of the chain traces calls with.
    pub fn tracer(&self) -> Option<&Arc<komainu_observe::Tracer>> {
        self.tracer.as_ref()
    }

    /// Query parameters the chain's plugins read credentials from (never logged).
    pub fn credential_params(&self) -> &Arc<[Box<str>]> {
        &self.credential_params
    }

    /// What the chain's plugins need beyond the header phases.
    pub fn needs(&self) -> Needs {
        self.needs
    }

    /// Runs a header phase; `Err` is the answer a plugin gave instead of going on.
    async fn run(
        &self,
        phase: Phase,
        req: &mut Parts,
        ctx: &mut RequestCtx,
    ) -> Result<(), Response<Body>> {
        for i in &self.instances {
            if !i.applies(ctx.path()) {
                continue;
            }
            let started = ctx.report.is_some().then(std::time::Instant::now);
            let mut outcome = match phase {
                Phase::PreRoute => i.plugin.pre_route(req, ctx),
                Phase::Access => i.plugin.access(req, ctx),
                Phase::TransformRequest => i.plugin.transform_request(req, ctx),
            };
            // A plugin waiting on I/O resumes with the request once it lands.
            while let Outcome::Await(pending) = outcome {
                let resume = pending.await;
                outcome = resume(req, ctx);
            }
            if let (Some(t), Some(report)) = (started, ctx.report.as_mut()) {
                report.push(Step {
                    task: i.name.clone(),
                    phase: phase.name(),
                    duration_us: t.elapsed().as_micros() as u64,
                });
            }
            if let Outcome::Respond(r) = outcome {
                return Err(r);
            }
        }
        Ok(())
    }

    /// The header phases before the backend: every `pre_route`, then every `access`, then every
    /// `transform_request`; `Err` is a plugin's answer in place of the backend's.
    pub async fn before_backend(
        &self,
        req: &mut Parts,
        ctx: &mut RequestCtx,
    ) -> Result<(), Response<Body>> {
        self.run(Phase::PreRoute, req, ctx).await?;
        self.run(Phase::Access, req, ctx).await?;
        self.run(Phase::TransformRequest, req, ctx).await
    }

    /// The request body through every plugin that streams it.
    pub fn request_body_stream(&self, mut body: Body, ctx: &mut RequestCtx) -> Body {
        for i in &self.instances {
            if i.needs.request_body == BodyNeed::Stream && i.applies(ctx.path()) {
                body = i.plugin.request_body_stream(body, ctx);
            }
        }
        body
    }

    /// The whole request body through every plugin that reads it whole.
    pub async fn transform_request_body(
        &self,
        req: &mut Parts,
        body: &mut Bytes,
        ctx: &mut RequestCtx,
    ) -> Result<(), Response<Body>> {
        for i in &self.instances {
            if matches!(i.needs.request_body, BodyNeed::Buffered(_)) && i.applies(ctx.path()) {
                let outcome = i.plugin.transform_request_body(req, body, ctx);
                settle(outcome, req, body, ctx).await?;
            }
        }
        Ok(())
    }

    /// The answer of the plugin whose bound a buffered request body went over, if it has one.
    pub fn too_large_answer(&self, ctx: &RequestCtx) -> Option<Response<Body>> {
        let BodyNeed::Buffered(max) = self.needs.request_body else {
            return None;
        };
        self.instances
            .iter()
            .filter(|i| i.needs.request_body == BodyNeed::Buffered(max) && i.applies(ctx.path()))
            .find_map(|i| i.plugin.too_large_answer(ctx))
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
                let started = ctx.report.is_some().then(std::time::Instant::now);
                i.plugin.transform_response(resp, ctx);
                if let (Some(t), Some(report)) = (started, ctx.report.as_mut()) {
                    report.push(Step {
                        task: i.name.clone(),
                        phase: "transform_response",
                        duration_us: t.elapsed().as_micros() as u64,
                    });
                }
            }
        }
    }

    /// The whole response body through every plugin that reads it whole.
    pub async fn transform_response_body(
        &self,
        resp: &mut http::response::Parts,
        body: &mut Bytes,
        ctx: &mut RequestCtx,
    ) -> Result<(), Response<Body>> {
        for i in &self.instances {
            if matches!(i.needs.response_body, BodyNeed::Buffered(_)) && i.applies(ctx.path()) {
                let outcome = i.plugin.transform_response_body(resp, body, ctx);
                settle(outcome, resp, body, ctx).await?;
            }
        }
        Ok(())
    }

    pub fn log(&self, ctx: &RequestCtx, done: &Done) {
        for i in &self.instances {
            if i.needs.log && i.applies(ctx.path()) {
                i.plugin.log(ctx, done);
            }
        }
    }
}
