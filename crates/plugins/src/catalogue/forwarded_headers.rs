//! XForwardedHeaders and ForwardedHeader: what the backend learns of the client. Komainu always
//! sets `X-Forwarded-For`, `-Proto` and `-Host` (believing a trusted proxy's, `--trusted-proxies`);
//! XForwardedHeaders adds `X-Forwarded-Prefix` (the path the route strips), ForwardedHeader the
//! RFC 7239 `Forwarded` header (`for=...;proto=...;host=...`; IPv6 addresses quoted). No config.

use std::sync::Arc;

use http::request::Parts;
use http::{HeaderName, HeaderValue};
use serde_json::Value;

use crate::config::{ConfigError, NoConfig};
use crate::def::PluginDef;
use crate::{Outcome, Plugin, RequestCtx, config};

const X_FORWARDED_PREFIX: HeaderName = HeaderName::from_static("x-forwarded-prefix");
const FORWARDED: HeaderName = HeaderName::from_static("forwarded");

struct XForwarded;

impl Plugin for XForwarded {
    fn transform_request(&self, req: &mut Parts, ctx: &mut RequestCtx) -> Outcome {
        match ctx
            .stripped_prefix()
            .and_then(|p| HeaderValue::try_from(p).ok())
        {
            Some(prefix) => {
                req.headers.insert(X_FORWARDED_PREFIX, prefix);
            }
            None => {
                req.headers.remove(X_FORWARDED_PREFIX);
            }
        }
        Outcome::Continue
    }
}

struct Forwarded;

impl Plugin for Forwarded {
    fn transform_request(&self, req: &mut Parts, ctx: &mut RequestCtx) -> Outcome {
        let ip = ctx.client_ip;
        let node = if ip.is_ipv6() {
            format!("\"[{ip}]\"")
        } else {
            ip.to_string()
        };
        let proto = if ctx.https { "https" } else { "http" };
        let value = format!("for={node};proto={proto};host=\"{}\"", ctx.host);
        if let Ok(v) = HeaderValue::try_from(value) {
            req.headers.insert(FORWARDED, v);
        }
        Outcome::Continue
    }
}

fn build_x(config: &Value, _services: &crate::Services) -> Result<Arc<dyn Plugin>, ConfigError> {
    config::parse::<NoConfig>(config)?;
    Ok(Arc::new(XForwarded))
}

fn build_forwarded(
    config: &Value,
    _services: &crate::Services,
) -> Result<Arc<dyn Plugin>, ConfigError> {
    config::parse::<NoConfig>(config)?;
    Ok(Arc::new(Forwarded))
}

pub(crate) const PLUGIN_X: PluginDef = PluginDef {
    name: "XForwardedHeaders",
    title: "X-Forwarded-* headers",
    description: "This plugin adds all the X-Forwarded-* headers to the request for the backend target",
    categories: &["Headers"],
    steps: &["TransformRequest"],
    build: build_x,
    describe: config::describe::<NoConfig>,
    inert: &[],
};

pub(crate) const PLUGIN_FORWARDED: PluginDef = PluginDef {
    name: "ForwardedHeader",
    title: "Forwarded header",
    description: "This plugin adds all the Forwarded header to the request for the backend target",
    categories: &["Headers"],
    steps: &["TransformRequest"],
    build: build_forwarded,
    describe: config::describe::<NoConfig>,
    inert: &[],
};
