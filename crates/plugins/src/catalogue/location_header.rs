//! OverrideLocationHeader: a redirect (3xx, or 201) whose absolute `Location` points at the target
//! that answered (or at one of `matching_hostnames`, `*` wildcards allowed) is rewritten to the
//! host, scheme and port the client called, with the backend's `root` taken off the path, so the
//! client never learns internal addresses.

use std::sync::Arc;

use http::{HeaderValue, Response, Uri, header};
use regex::RegexSet;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::config::ConfigError;
use crate::def::PluginDef;
use crate::{Body, Plugin, RequestCtx, config};

#[derive(Default, Deserialize, Serialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
struct Config {
    matching_hostnames: Vec<String>,
}

struct OverrideLocation {
    hostnames: RegexSet,
}

impl Plugin for OverrideLocation {
    fn transform_response(&self, resp: &mut Response<Body>, ctx: &mut RequestCtx) {
        let status = resp.status().as_u16();
        if !((300..400).contains(&status) || status == 201) {
            return;
        }
        let Some(location) = resp
            .headers()
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<Uri>().ok())
        else {
            return;
        };
        let Some(host) = location.host() else {
            return; // a relative location is already the client's
        };
        let ours = ctx
            .target_host
            .as_deref()
            .is_some_and(|t| t.eq_ignore_ascii_case(host))
            || self.hostnames.is_match(&host.to_ascii_lowercase());
        if !ours {
            return;
        }
        let scheme = if ctx.https { "https" } else { "http" };
        let path = location.path_and_query().map_or("/", |p| p.as_str());
        let rewritten = format!("{scheme}://{}{path}", ctx.authority());
        if let Ok(v) = HeaderValue::try_from(rewritten) {
            resp.headers_mut().insert(header::LOCATION, v);
        }
    }
}

fn build(config: &Value, _services: &crate::Services) -> Result<Arc<dyn Plugin>, ConfigError> {
    let cfg: Config = config::parse(config)?;
    let lower: Vec<String> = cfg
        .matching_hostnames
        .iter()
        .map(|h| h.to_ascii_lowercase())
        .collect();
    Ok(Arc::new(OverrideLocation {
        hostnames: config::wildcards(&lower, "matching_hostnames")?,
    }))
}

pub(crate) const PLUGIN: PluginDef = PluginDef {
    name: "OverrideLocationHeader",
    title: "Override Location header",
    description: "This plugin override the current Location header with the current frontend host if the location start with the Host of the backend target",
    categories: &["Headers"],
    steps: &["TransformResponse"],
    build,
    describe: config::describe::<Config>,
    inert: &[],
};
