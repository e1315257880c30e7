//! W3CTracing: traces the route's calls with W3C trace context, as `--otlp-endpoint` does for
//! every route, with every new trace sampled. `kind`: `otlp-http` exports spans to `endpoint`
//! (OTLP/HTTP protobuf, which Jaeger and Zipkin collectors also accept), `logger` logs them,
//! `noop` only propagates `traceparent`. The engine runs it (it needs the whole request); this
//! file validates the config and holds the tracer, kept across snapshots per kind and endpoint.
//! With `--otlp-endpoint` set, the global tracer serves every route and this plugin adds nothing.

use std::collections::BTreeMap;
use std::sync::Arc;

use komainu_observe::Tracer;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::config::ConfigError;
use crate::def::PluginDef;
use crate::{Plugin, Services, config};

#[derive(Deserialize, Serialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
struct Config {
    /// `noop`, `logger` or `otlp-http`.
    kind: String,
    /// The collector's OTLP/HTTP address (`http://collector:4318`), for `otlp-http`.
    endpoint: String,
    timeout: u64,
    baggage: BTreeMap<String, String>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            kind: "noop".into(),
            endpoint: "http://localhost:3333/spans".into(),
            timeout: 30_000,
            baggage: BTreeMap::new(),
        }
    }
}

struct W3cTracing(Arc<Tracer>);

impl Plugin for W3cTracing {
    fn tracer(&self) -> Option<Arc<Tracer>> {
        Some(self.0.clone())
    }
}

fn build(config: &Value, services: &Services) -> Result<Arc<dyn Plugin>, ConfigError> {
    let cfg: Config = config::parse(config)?;
    let kind = cfg.kind.to_ascii_lowercase();
    match kind.as_str() {
        "noop" | "logger" | "otlp-http" => {}
        "jaeger" | "zipkin" | "otlp-grpc" => {
            return Err(ConfigError::at(
                "kind",
                format!(
                    "\"{kind}\" is not supported: use otlp-http (Jaeger and Zipkin collectors accept OTLP over HTTP)"
                ),
            ));
        }
        other => {
            return Err(ConfigError::at(
                "kind",
                format!("\"{other}\": expected noop, logger or otlp-http"),
            ));
        }
    }
    if kind == "otlp-http" && reqwest_url_ok(&cfg.endpoint).is_err() {
        return Err(ConfigError::at("endpoint", "not an http(s) URL"));
    }
    let tracer = if services.live {
        services
            .tracers
            .get(&kind, &cfg.endpoint)
            .map_err(|e| ConfigError::at("endpoint", e))?
    } else {
        Arc::new(Tracer::new(None, 1.0).map_err(|e| ConfigError::at("endpoint", e))?)
    };
    Ok(Arc::new(W3cTracing(tracer)))
}

fn reqwest_url_ok(s: &str) -> Result<(), ()> {
    let rest = s
        .strip_prefix("http://")
        .or_else(|| s.strip_prefix("https://"))
        .ok_or(())?;
    if rest.is_empty() || rest.starts_with('/') {
        return Err(());
    }
    Ok(())
}

pub(crate) const PLUGIN: PluginDef = PluginDef {
    name: "W3CTracing",
    title: "W3C Trace Context",
    description: "This plugin propagates W3C Trace Context headers and exports the route's spans",
    categories: &["Monitoring"],
    steps: &["TransformRequest"],
    build,
    describe: config::describe::<Config>,
    inert: &["timeout", "baggage"],
};
