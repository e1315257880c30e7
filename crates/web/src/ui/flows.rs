//! An API's plugin chains: each flow's slots with a settings form built from the plugin's config
//! schema (its scalar settings) and the whole config as JSON, adding a plugin from the catalogue
//! (`GET /api/plugins/all`) with its default config, and removing one. Every change is a JSON Patch
//! of the API, so the admin API's strict config checks answer, at the config key's path.

use maud::{Markup, html};
use serde_json::{Map, Value, json};

use super::seg;
use crate::Web;
use crate::form::Fields;
use crate::page::{self, Problems};
use crate::session::Session;

/// The catalogue entry of `plugin`.
fn entry<'c>(catalog: &'c [Value], plugin: &str) -> Option<&'c Value> {
    catalog.iter().find(|p| p["id"] == plugin)
}

/// The config keys a form can hold: `(key, JSON type)` of scalar properties.
fn scalar_keys(schema: &Value) -> Vec<(String, String)> {
    schema["properties"]
        .as_object()
        .into_iter()
        .flatten()
        .filter_map(|(k, p)| {
            let ty = match &p["type"] {
                Value::String(t) => t.clone(),
                Value::Array(ts) => ts
                    .iter()
                    .filter_map(Value::as_str)
                    .find(|t| *t != "null")?
                    .to_string(),
                _ => return None,
            };
            matches!(ty.as_str(), "string" | "integer" | "number" | "boolean")
                .then(|| (k.clone(), ty))
        })
        .collect()
}

fn shown(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

pub(crate) async fn section(
    web: &Web,
    session: &Session,
    id: &str,
    api: &Value,
    problems: &Problems,
) -> Markup {
    let catalog = web.0.api.list("/api/plugins/all").await;
    let action = format!("/ui/apis/{}/flow", seg(id));
    let csrf = page::csrf_input(&session.csrf);
    let flows = api["flows"].as_array().cloned().unwrap_or_default();
    html! {
        @for (fi, flow) in flows.iter().enumerate() {
            h2 { "Flow " code { (flow["id"].as_str().unwrap_or_default()) } " " (flow["name"].as_str().unwrap_or_default()) }
            p { "Plans: " (flow["consumers"].as_array().map_or("any".to_string(), |c| c.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(", "))) }
            @let slots = flow["plugins"]["slots"].as_array().cloned().unwrap_or_default();
            @if slots.is_empty() { p { "No plugin in this flow." } }
            @for (si, slot) in slots.iter().enumerate() {
                @let plugin = slot["plugin"].as_str().unwrap_or_default();
                @let about = entry(&catalog, plugin);
                @let base = format!("flows[{fi}].plugins.slots[{si}].config");
                section class="card" aria-label={"Plugin " (plugin)} {
                    h3 { (about.and_then(|a| a["name"].as_str()).unwrap_or(plugin)) " " code { (plugin) } }
                    @if let Some(d) = about.and_then(|a| a["description"].as_str()) { p { (d) } }
                    form method="post" action=(action) {
                        (csrf.clone())
                        input type="hidden" name="op" value="fields";
                        input type="hidden" name="flow" value=(fi);
                        input type="hidden" name="slot" value=(si);
                        @for (key, ty) in about.map(|a| scalar_keys(&a["config_schema"])).unwrap_or_default() {
                            @let name = format!("cfg.{key}");
                            @let value = shown(&slot["config"][&key]);
                            @let path = format!("{base}.{key}");
                            @if ty == "boolean" {
                                div class="field" {
                                    label for={"f-" (fi) "-" (si) "-" (key)} { (key) }
                                    select id={"f-" (fi) "-" (si) "-" (key)} name=(name) {
                                        option value="" selected[value.is_empty()] { "(default)" }
                                        option value="true" selected[value == "true"] { "true" }
                                        option value="false" selected[value == "false"] { "false" }
                                    }
                                    @if let Some(e) = problems.at(&path) { p class="error" { (e) } }
                                }
                            } @else {
                                (page::input_with_id("text", &format!("{key} ({ty})"), &format!("f-{fi}-{si}-{key}"), &name, &value, problems.at(&path), false))
                            }
                        }
                        button type="submit" { "Save settings of " (plugin) }
                    }
                    details {
                        summary { "Config as JSON" }
                        form method="post" action=(action) {
                            (csrf.clone())
                            input type="hidden" name="op" value="json";
                            input type="hidden" name="flow" value=(fi);
                            input type="hidden" name="slot" value=(si);
                            (page::textarea(&format!("Config of {plugin} (flow {fi}, slot {si})"), &format!("config-{fi}-{si}"), &page::pretty(&slot["config"]), problems.at(&base), 8))
                            button type="submit" { "Save config of " (plugin) }
                        }
                    }
                    (page::action_button(&action, &session.csrf, &[("op", "remove"), ("flow", &fi.to_string()), ("slot", &si.to_string())], &format!("Remove {plugin}"), None))
                }
            }
            form method="post" action=(action) {
                (csrf.clone())
                input type="hidden" name="op" value="add";
                input type="hidden" name="flow" value=(fi);
                div class="field" {
                    label for={"add-" (fi)} { "Add a plugin to flow " (flow["id"].as_str().unwrap_or_default()) }
                    select id={"add-" (fi)} name="plugin" {
                        @for p in &catalog { option value=(p["id"].as_str().unwrap_or_default()) { (p["name"].as_str().unwrap_or_default()) " (" (p["id"].as_str().unwrap_or_default()) ")" } }
                    }
                }
                button type="submit" { "Add the plugin" }
            }
        }
    }
}

/// A value typed into a settings field, as the schema's type wants it.
fn typed(raw: &str, ty: &str) -> Result<Value, String> {
    match ty {
        "integer" => raw
            .trim()
            .parse::<i64>()
            .map(Value::from)
            .map_err(|_| format!("expected a whole number, got \"{raw}\"")),
        "number" => raw
            .trim()
            .parse::<f64>()
            .map(Value::from)
            .map_err(|_| format!("expected a number, got \"{raw}\"")),
        "boolean" => Ok(Value::Bool(raw == "true")),
        _ => Ok(Value::String(raw.to_string())),
    }
}

/// The JSON Patch a flow form asks for, or the problems found before asking.
pub(crate) async fn patch(
    web: &Web,
    api: &Value,
    fields: &Fields,
) -> Result<(Value, String), Problems> {
    let (fi, si) = (fields.get("flow"), fields.get("slot"));
    let slot_path = format!("/flows/{fi}/plugins/slots/{si}");
    match fields.get("op") {
        "add" => {
            let plugin = fields.get("plugin");
            let catalog = web.0.api.list("/api/plugins/all").await;
            let Some(about) = entry(&catalog, plugin) else {
                return Err(Problems::message(format!(
                    "\"{plugin}\" is not a plugin of the catalogue"
                )));
            };
            let slot =
                json!({"plugin": plugin, "enabled": true, "config": about["default_config"]});
            Ok((
                json!([{"op": "add", "path": format!("/flows/{fi}/plugins/slots/-"), "value": slot}]),
                format!("{plugin} added."),
            ))
        }
        "remove" => Ok((
            json!([{"op": "remove", "path": slot_path}]),
            "Plugin removed.".into(),
        )),
        "json" => {
            let text = fields.get(&format!("config-{fi}-{si}"));
            let config: Value = serde_json::from_str(text).map_err(|e| Problems {
                message: Some("Nothing was saved.".into()),
                fields: vec![(
                    format!("flows[{fi}].plugins.slots[{si}].config"),
                    format!("not valid JSON: {e}"),
                )],
            })?;
            Ok((
                json!([{"op": "replace", "path": format!("{slot_path}/config"), "value": config}]),
                "Config saved.".into(),
            ))
        }
        _ => {
            let slot = &api["flows"][fi.parse::<usize>().unwrap_or(usize::MAX)]["plugins"]["slots"]
                [si.parse::<usize>().unwrap_or(usize::MAX)];
            let plugin = slot["plugin"].as_str().unwrap_or_default();
            let catalog = web.0.api.list("/api/plugins/all").await;
            let keys = entry(&catalog, plugin)
                .map(|a| scalar_keys(&a["config_schema"]))
                .unwrap_or_default();
            let mut config: Map<String, Value> =
                slot["config"].as_object().cloned().unwrap_or_default();
            let mut problems = Vec::new();
            for (key, ty) in keys {
                let raw = fields.get(&format!("cfg.{key}"));
                if raw.is_empty() {
                    config.remove(&key);
                    continue;
                }
                match typed(raw, &ty) {
                    Ok(v) => {
                        config.insert(key, v);
                    }
                    Err(e) => {
                        problems.push((format!("flows[{fi}].plugins.slots[{si}].config.{key}"), e))
                    }
                }
            }
            if !problems.is_empty() {
                return Err(Problems {
                    message: Some("Nothing was saved.".into()),
                    fields: problems,
                });
            }
            Ok((
                json!([{"op": "replace", "path": format!("{slot_path}/config"), "value": config}]),
                format!("Settings of {plugin} saved."),
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scalar_settings_become_fields() {
        let schema = json!({"properties": {
            "a": {"type": "string"}, "b": {"type": ["integer", "null"]}, "c": {"type": "object"}, "d": {"type": "boolean"}
        }});
        let keys = scalar_keys(&schema);
        assert_eq!(
            keys,
            vec![
                ("a".into(), "string".into()),
                ("b".into(), "integer".into()),
                ("d".into(), "boolean".into())
            ]
        );
        assert_eq!(typed("12", "integer").unwrap(), json!(12));
        assert!(typed("x", "integer").is_err());
        assert_eq!(typed("true", "boolean").unwrap(), json!(true));
    }
}
