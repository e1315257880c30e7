//! Plugin ids (Otoroshi's) and their constructors. Adding a plugin: its file and one line here.

use std::sync::Arc;

use komainu_model::PluginProblem;
use serde_json::Value;

use crate::config::ConfigError;
use crate::{Plugin, Services};
use crate::{
    additional_headers, allow_http_methods, apikey_calls, body_length, cors, force_https, gzip,
    ip_address_lists, maintenance_mode, override_host, read_only_calls, redirection,
    remove_headers, static_response,
};

type Build = fn(&Value, &Services) -> Result<Arc<dyn Plugin>, ConfigError>;

const PREFIX: &str = "otoroshi.next.plugins.";

const PLUGINS: &[(&str, Build)] = &[
    ("OverrideHost", override_host::build),
    ("AdditionalHeadersIn", additional_headers::build_in),
    ("AdditionalHeadersOut", additional_headers::build_out),
    ("RemoveHeadersIn", remove_headers::build_in),
    ("RemoveHeadersOut", remove_headers::build_out),
    ("Cors", cors::build),
    ("AllowHttpMethods", allow_http_methods::build),
    ("IpAddressAllowedList", ip_address_lists::build_allowed),
    ("IpAddressBlockList", ip_address_lists::build_blocked),
    ("MaintenanceMode", maintenance_mode::build),
    ("StaticResponse", static_response::build),
    ("Redirection", redirection::build),
    ("ForceHttpsTraffic", force_https::build),
    ("ReadOnlyCalls", read_only_calls::build),
    ("GzipResponseCompressor", gzip::build),
    ("ApikeyCalls", apikey_calls::build),
    ("RequestBodyLengthLimiter", body_length::build_request),
];

/// `cp:otoroshi.next.plugins.Cors` (or without `cp:`) → `Cors`.
fn short_name(id: &str) -> Option<&str> {
    id.strip_prefix("cp:").unwrap_or(id).strip_prefix(PREFIX)
}

fn constructor(id: &str) -> Option<Build> {
    let name = short_name(id)?;
    PLUGINS.iter().find(|(n, _)| *n == name).map(|(_, b)| *b)
}

/// Builds plugin `id` with `config`: an error says whether the id is unknown or the config bad.
pub fn build(id: &str, config: &Value, services: &Services) -> Result<Arc<dyn Plugin>, String> {
    let build = constructor(id).ok_or_else(|| format!("unknown plugin \"{id}\""))?;
    build(config, services).map_err(|e| format!("bad config for {id}: {e}"))
}

/// Whether plugin `id` exists and accepts `config` (what the admin API checks on every write).
pub fn check(id: &str, config: &Value) -> Result<(), PluginProblem> {
    let build = constructor(id).ok_or(PluginProblem::Unknown)?;
    build(config, &Services::default())
        .map(|_| ())
        .map_err(|e| PluginProblem::Config {
            path: e.path,
            message: e.message,
        })
}

/// Every plugin id, in Otoroshi's full spelling.
pub fn ids() -> impl Iterator<Item = String> {
    PLUGINS.iter().map(|(n, _)| format!("cp:{PREFIX}{n}"))
}
