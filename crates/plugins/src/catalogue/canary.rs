//! CanaryMode: a share (`traffic`, default 0.2) of the route's clients is sent to other `targets`
//! (with their own `root`). A client is recognised by its `otoroshi-canary` cookie or its
//! `Otoroshi-Canary-Id` header, in Otoroshi's signed form `<HMAC-SHA256 of the id, hex>::<id>`
//! (signed with the gateway's key, the same on every node): an id whose signature does not check
//! is a new client, so nobody chooses their side by writing the cookie. A new client's signed id is
//! set in the cookie on its response. The side is a hash of the id, the same on every node.

use std::hash::BuildHasher;
use std::sync::Arc;

use http::request::Parts;
use http::{HeaderValue, Response, header};
use komainu_model::{NgBackend, NgClientConfig, NgTarget};
use komainu_upstream::Backend;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::config::ConfigError;
use crate::def::PluginDef;
use crate::{Body, Outcome, Plugin, RequestCtx, config, cookie};

const COOKIE: &str = "otoroshi-canary";
const HEADER: &str = "otoroshi-canary-id";

#[derive(Deserialize, Serialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
struct Config {
    traffic: f64,
    targets: Vec<NgTarget>,
    root: String,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            traffic: 0.2,
            targets: Vec::new(),
            root: "/".into(),
        }
    }
}

struct Canary {
    /// Out of 10,000.
    share: u64,
    backend: Option<(Arc<Backend>, Arc<str>)>,
    signing: Arc<crate::SigningKey>,
}

/// A client's canary id, new ones set in a cookie on the response.
#[derive(Clone)]
struct NewCanaryId(String);

fn side(id: &str) -> u64 {
    // A fixed-key hash: every node puts a client on the same side.
    std::hash::BuildHasherDefault::<std::collections::hash_map::DefaultHasher>::default()
        .hash_one(id)
        % 10_000
}

impl Plugin for Canary {
    fn pre_route(&self, req: &mut Parts, ctx: &mut RequestCtx) -> Outcome {
        let presented = cookie(&req.headers, COOKIE)
            .or_else(|| req.headers.get(HEADER).and_then(|v| v.to_str().ok()));
        let checked = presented.and_then(|v| {
            let (signature, id) = v.split_once("::")?;
            self.signing.verify(id, signature).then(|| id.to_string())
        });
        let id = match checked {
            Some(id) => id,
            None => {
                let id = komainu_model::uuid();
                ctx.attrs.insert(NewCanaryId(id.clone()));
                id
            }
        };
        if side(&id) < self.share {
            ctx.backend = self.backend.clone();
        }
        Outcome::Continue
    }

    fn transform_response(&self, resp: &mut Response<Body>, ctx: &mut RequestCtx) {
        if let Some(NewCanaryId(id)) = ctx.attrs.get::<NewCanaryId>()
            && let Ok(v) = HeaderValue::try_from(format!(
                "{COOKIE}={}::{id}; Path=/; Max-Age=2592000",
                self.signing.sign(id)
            ))
        {
            resp.headers_mut().append(header::SET_COOKIE, v);
        }
    }
}

fn build(config: &Value, services: &crate::Services) -> Result<Arc<dyn Plugin>, ConfigError> {
    let cfg: Config = config::parse(config)?;
    if !(0.0..=1.0).contains(&cfg.traffic) {
        return Err(ConfigError::at("traffic", "a share between 0 and 1"));
    }
    for (i, t) in cfg.targets.iter().enumerate() {
        if t.hostname.trim().is_empty() {
            return Err(ConfigError::at(
                format!("targets[{i}].hostname"),
                "required",
            ));
        }
    }
    let backend = (services.live && !cfg.targets.is_empty()).then(|| {
        let ng = NgBackend {
            targets: cfg.targets.clone(),
            root: cfg.root.clone(),
            ..NgBackend::default()
        };
        (
            Backend::new(&ng, &NgClientConfig::default(), &services.certs),
            Arc::from(cfg.root.as_str()),
        )
    });
    Ok(Arc::new(Canary {
        share: (cfg.traffic * 10_000.0).round() as u64,
        backend,
        signing: services.signing.clone(),
    }))
}

pub(crate) const PLUGIN: PluginDef = PluginDef {
    name: "CanaryMode",
    title: "Canary mode",
    description: "This plugin can split a portion of the traffic to canary backends",
    categories: &["TrafficControl", "Classic"],
    steps: &["PreRoute", "TransformResponse"],
    build,
    describe: config::describe::<Config>,
    inert: &[],
};
