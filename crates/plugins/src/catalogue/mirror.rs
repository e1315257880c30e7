//! NgTrafficMirroring: a copy of each call (a `percentage` of them, default 100) is sent to `to`
//! (a base URL: the path and query the backend is sent are appended, after `strip_path` and `root`,
//! as Otoroshi's mirror.scala sends the backend's request) with `headers` added, after the call's
//! body has gone to the backend; the main call never waits for the mirror, and the mirror's answer
//! is ignored. Bodies over 1 MiB are not mirrored (the call is, without its body). `enabled: false`
//! turns it off. Otoroshi's `capture_response` and `generate_events` are accepted, not acted on.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::request::Parts;
use http::{HeaderMap, HeaderName, HeaderValue, Method};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::missing_headers::header_pairs;
use crate::config::ConfigError;
use crate::def::PluginDef;
use crate::tee::Tee;
use crate::{Body, BodyNeed, Needs, Outcome, Plugin, RequestCtx, config};

const MAX_MIRRORED_BODY: usize = 1024 * 1024;

#[derive(Deserialize, Serialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
struct Config {
    to: String,
    enabled: bool,
    capture_response: bool,
    generate_events: bool,
    headers: std::collections::BTreeMap<String, String>,
    salt: Option<String>,
    percentage: f64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            to: "https://foo.bar.dev".into(),
            enabled: true,
            capture_response: false,
            generate_events: false,
            headers: Default::default(),
            salt: None,
            percentage: 100.0,
        }
    }
}

struct Mirror {
    base: String,
    headers: Vec<(HeaderName, HeaderValue)>,
    /// Out of 10,000.
    share: u32,
    client: Option<reqwest::Client>,
}

/// What the mirrored call is, decided in `transform_request` (its URL once the backend's path is
/// known, when the body goes).
#[derive(Clone)]
struct Planned {
    method: Method,
    headers: HeaderMap,
}

fn sampled(share: u32) -> bool {
    use std::hash::{BuildHasher, RandomState};
    let roll = RandomState::new().hash_one(std::time::Instant::now()) % 10_000;
    (roll as u32) < share
}

impl Plugin for Mirror {
    fn needs(&self) -> Needs {
        Needs {
            request_body: BodyNeed::Stream,
            ..Needs::default()
        }
    }

    fn transform_request(&self, req: &mut Parts, ctx: &mut RequestCtx) -> Outcome {
        if self.client.is_some() && sampled(self.share) {
            let mut headers = req.headers.clone();
            headers.remove(http::header::HOST);
            for (n, v) in &self.headers {
                headers.insert(n.clone(), v.clone());
            }
            ctx.attrs.insert(Planned {
                method: req.method.clone(),
                headers,
            });
        }
        Outcome::Continue
    }

    fn request_body_stream(&self, body: Body, ctx: &mut RequestCtx) -> Body {
        let (Some(plan), Some(client)) = (ctx.attrs.remove::<Planned>(), self.client.clone())
        else {
            return body;
        };
        let target = ctx.upstream_target.as_deref();
        let url = format!("{}{}", self.base, target.unwrap_or(ctx.path_and_query()));
        Tee::wrap(
            body,
            MAX_MIRRORED_BODY,
            Box::new(move |copy: Option<Bytes>| {
                let Ok(rt) = tokio::runtime::Handle::try_current() else {
                    return;
                };
                rt.spawn(async move {
                    let mut request = client.request(plan.method, &url).headers(plan.headers);
                    if let Some(b) = copy {
                        request = request.body(b);
                    }
                    if let Err(e) = request.send().await {
                        tracing::debug!(%url, error = %e, "mirrored call failed");
                    }
                });
            }),
        )
    }
}

fn build(config: &Value, services: &crate::Services) -> Result<Arc<dyn Plugin>, ConfigError> {
    let cfg: Config = config::parse(config)?;
    let to: http::Uri = cfg
        .to
        .parse()
        .ok()
        .filter(|u: &http::Uri| u.scheme().is_some() && u.host().is_some())
        .ok_or_else(|| ConfigError::at("to", "an absolute http(s) URL"))?;
    if !(0.0..=100.0).contains(&cfg.percentage) {
        return Err(ConfigError::at("percentage", "between 0 and 100"));
    }
    let client = (services.live && cfg.enabled)
        .then(|| {
            reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .map_err(|e| ConfigError::at("to", e.to_string()))
        })
        .transpose()?;
    Ok(Arc::new(Mirror {
        base: to.to_string().trim_end_matches('/').to_string(),
        headers: header_pairs(&cfg.headers)?,
        share: (cfg.percentage * 100.0).round() as u32,
        client,
    }))
}

pub(crate) const PLUGIN: PluginDef = PluginDef {
    name: "NgTrafficMirroring",
    title: "Traffic Mirroring",
    description: "This plugin will mirror every request to other targets",
    categories: &["Other"],
    steps: &["TransformRequest"],
    build,
    describe: config::describe::<Config>,
    inert: &["capture_response", "generate_events", "salt"],
};
