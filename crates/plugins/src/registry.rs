//! Every plugin, under Otoroshi's id, with what describes it: name, description, the steps it
//! joins, its default config and the JSON Schema of its config (what `GET /api/plugins/all`
//! serves and the admin UI builds its forms from), and the Otoroshi keys it accepts without acting
//! on them. The plugins themselves are the [`catalogue`](crate::catalogue).

use std::sync::Arc;

use komainu_model::PluginProblem;
use serde_json::{Value, json};

use crate::catalogue::PLUGINS;
pub use crate::config::Described;
pub use crate::def::PluginDef;
use crate::{Plugin, Services};

const PREFIX: &str = "otoroshi.next.plugins.";

/// What a key accepted and not acted on is told as.
const INERT: &str = "accepted for compatibility with Otoroshi, not acted on by Komainu";

/// `cp:otoroshi.next.plugins.Cors` (or without `cp:`) → `Cors`.
fn short_name(id: &str) -> Option<&str> {
    id.strip_prefix("cp:").unwrap_or(id).strip_prefix(PREFIX)
}

fn find(id: &str) -> Option<&'static PluginDef> {
    let name = short_name(id)?;
    PLUGINS.iter().find(|p| p.name == name).copied()
}

/// Builds plugin `id` with `config`: an error says whether the id is unknown or the config bad.
pub fn build(id: &str, config: &Value, services: &Services) -> Result<Arc<dyn Plugin>, String> {
    let def = find(id).ok_or_else(|| format!("unknown plugin \"{id}\""))?;
    (def.build)(config, services).map_err(|e| format!("bad config for {id}: {e}"))
}

/// Whether plugin `id` exists and accepts `config` (what the admin API checks on every write);
/// when it does, the config keys it accepts without acting on, as `(path, message)`.
pub fn check(id: &str, config: &Value) -> Result<Vec<(String, String)>, PluginProblem> {
    let def = find(id).ok_or(PluginProblem::Unknown)?;
    (def.build)(config, &Services::default()).map_err(|e| PluginProblem::Config {
        path: e.path,
        message: e.message,
    })?;
    Ok(def
        .inert
        .iter()
        .filter(|key| {
            key.split('.')
                .try_fold(config, |v, k| v.get(k))
                .is_some_and(|v| !v.is_null())
        })
        .map(|key| (key.to_string(), INERT.to_string()))
        .collect())
}

/// Every plugin id, in Otoroshi's full spelling.
pub fn ids() -> impl Iterator<Item = String> {
    PLUGINS.iter().map(|p| format!("cp:{PREFIX}{}", p.name))
}

/// Every plugin described as Otoroshi's `GET /api/plugins/all` does (plus the keys it accepts and
/// ignores, under `inert_config_keys`).
pub fn catalog() -> Value {
    Value::Array(
        PLUGINS
            .iter()
            .map(|p| {
                let Described {
                    default,
                    mut schema,
                } = (p.describe)();
                // The keys accepted and not acted on say so in the schema too.
                for key in p.inert {
                    if let Some(prop) = schema
                        .pointer_mut(&format!("/properties/{}", key.replace('.', "/properties/")))
                        .and_then(Value::as_object_mut)
                    {
                        prop.insert("description".into(), json!(INERT));
                        prop.insert("x-inert".into(), json!(true));
                    }
                }
                let flow: Vec<&str> = default
                    .as_object()
                    .map(|o| o.keys().map(String::as_str).collect())
                    .unwrap_or_default();
                let on_request = p.steps.iter().any(|s| {
                    matches!(
                        *s,
                        "PreRoute" | "ValidateAccess" | "TransformRequest" | "MatchRoute"
                    )
                });
                let on_response = p
                    .steps
                    .iter()
                    .any(|s| matches!(*s, "TransformResponse" | "CallBackend"));
                json!({
                    "id": format!("cp:{PREFIX}{}", p.name),
                    "name": p.title,
                    "description": p.description,
                    "default_config": default,
                    "config_schema": schema,
                    "config_flow": flow,
                    "no_js_form": false,
                    "plugin_type": "ng",
                    "plugin_visibility": "userland",
                    "plugin_categories": p.categories,
                    "plugin_steps": p.steps,
                    "plugin_tags": [],
                    "plugin_multi_inst": true,
                    "plugin_backend_call_delegates": false,
                    "on_request": on_request,
                    "on_response": on_response,
                    "inert_config_keys": p.inert,
                })
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_plugin_builds_with_its_default_config_and_describes_it() {
        for p in PLUGINS {
            let Described { default, schema } = (p.describe)();
            let id = format!("cp:{PREFIX}{}", p.name);
            assert!(
                check(&id, &default).is_ok(),
                "{id}: its default config is valid"
            );
            assert_eq!(schema["type"], "object", "{id}: {schema}");
            assert!(!p.steps.is_empty() && !p.description.is_empty(), "{id}");
        }
        let ids: Vec<String> = ids().collect();
        let unique: std::collections::HashSet<&String> = ids.iter().collect();
        assert_eq!(unique.len(), ids.len(), "ids are unique");
    }

    #[test]
    fn inert_keys_are_warnings() {
        let id = "cp:otoroshi.next.plugins.GzipResponseCompressor";
        assert_eq!(check(id, &json!({})), Ok(vec![]));
        let warned = check(id, &json!({"buffer_size": 8192})).unwrap();
        assert_eq!(warned.len(), 1);
        assert_eq!(warned[0].0, "buffer_size");
    }

    /// One wrong config per plugin of the catalogue, and the path its refusal names.
    #[test]
    fn wrong_configs_name_their_path() {
        let cases = [
            ("JwtVerification", json!({"verifiers": "one"}), "verifiers"),
            (
                "JwtVerification",
                json!({"custom_response": true, "custom_response_status": 99}),
                "custom_response_status",
            ),
            (
                "JwtVerificationOnly",
                json!({"fail_if_absent": "no"}),
                "fail_if_absent",
            ),
            (
                "JwtSigner",
                json!({"replace_if_present": 1}),
                "replace_if_present",
            ),
            ("SimpleBasicAuth", json!({"users": ["alice"]}), "users"),
            ("SimpleBasicAuth", json!({"realm": "a\nb"}), "realm"),
            (
                "HMACValidator",
                json!({"authorizationHeader": "bad header"}),
                "authorizationHeader",
            ),
            ("NgExpectedConsumer", json!({"strict": true}), ""),
            (
                "MissingHeadersOut",
                json!({"headers": {"x": "a\nb"}}),
                "headers.x",
            ),
            ("XForwardedHeaders", json!({"x": 1}), ""),
            ("ForwardedHeader", json!({"x": 1}), ""),
            (
                "OverrideLocationHeader",
                json!({"matching_hostnames": "a"}),
                "matching_hostnames",
            ),
            ("SendOtoroshiHeadersBack", json!({"x": 1}), ""),
            ("RejectHeaderOutTooLong", json!({"value": -1}), "value"),
            (
                "SecurityHeadersPlugin",
                json!({"csp": {"mode": "SOMETIMES"}}),
                "csp.mode",
            ),
            (
                "JsonSchemaResponseValidator",
                json!({"fail_on_validation_error": "yes"}),
                "fail_on_validation_error",
            ),
            ("JQResponse", json!({"filter": "map("}), "filter"),
            (
                "BrotliResponseCompressor",
                json!({"compression_level": 12}),
                "compression_level",
            ),
            (
                "ResponseBodyLengthLimiter",
                json!({"max_length": "big"}),
                "max_length",
            ),
            ("CanaryMode", json!({"traffic": 2}), "traffic"),
            (
                "CanaryMode",
                json!({"targets": [{"port": 80}]}),
                "targets[0].hostname",
            ),
            ("NgTrafficMirroring", json!({"to": "not a url"}), "to"),
            (
                "NgTrafficMirroring",
                json!({"percentage": 101}),
                "percentage",
            ),
            (
                "NgResponseCache",
                json!({"filter": {"methods": ["GE T"]}}),
                "filter.methods[0]",
            ),
            (
                "NgResponseCache",
                json!({"filter": {"paths": ["("]}}),
                "filter.paths",
            ),
            (
                "RoutingRestrictions",
                json!({"allowed": [{"method": "GET", "path": "("}]}),
                "allowed[0].path",
            ),
            ("EchoBackend", json!({"limit": "all"}), "limit"),
            ("GlobalPerIpAddressThrottling", json!({"quota": 1}), ""),
            (
                "NgCustomThrottling",
                json!({"expression": "${nope}"}),
                "expression",
            ),
            (
                "NgHasClientCertMatchingValidator",
                json!({"regex_subject_dns": ["("]}),
                "regex_subject_dns[0]",
            ),
            (
                "NgRfc9440ClientCertHeader",
                json!({"send_chain": "yes"}),
                "send_chain",
            ),
        ];
        for (name, config, path) in cases {
            let id = format!("cp:{PREFIX}{name}");
            match check(&id, &config) {
                Err(PluginProblem::Config { path: at, .. }) => {
                    assert!(
                        at.starts_with(path),
                        "{name} {config}: named {at:?}, wanted {path:?}"
                    )
                }
                other => panic!("{name} {config}: {other:?}"),
            }
        }
    }
}
