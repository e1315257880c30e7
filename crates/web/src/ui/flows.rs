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
    let warnings = chain_problems(api, &catalog);
    let plans: Vec<String> = api["documentation"]["plans"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| p["id"].as_str().map(str::to_string))
        .collect();
    html! {
        @if !warnings.is_empty() {
            div class="alert chain-problems" role="alert" { p { "This chain has problems:" } ul { @for w in &warnings { li { (w) } } } }
        }
        @for (fi, flow) in flows.iter().enumerate() {
            h2 { "Flow " code { (flow["id"].as_str().unwrap_or_default()) } " " (flow["name"].as_str().unwrap_or_default()) }
            @let admitted: Vec<&str> = flow["consumers"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
            form method="post" action=(action) class="consumers" {
                (csrf.clone())
                input type="hidden" name="op" value="consumers";
                input type="hidden" name="flow" value=(fi);
                fieldset {
                    legend { "Plans this flow admits (none ticked: every plan of the API)" }
                    @for p in &plans {
                        div class="field check" {
                            input type="checkbox" id={"c-" (fi) "-" (p)} name="plan" value=(p) checked[admitted.contains(&p.as_str())];
                            label for={"c-" (fi) "-" (p)} { (p) }
                        }
                    }
                }
                button type="submit" class="secondary" { "Save the plans of flow " (flow["id"].as_str().unwrap_or_default()) }
            }
            @let slots = flow["plugins"]["slots"].as_array().cloned().unwrap_or_default();
            @if slots.is_empty() { p { "No plugin in this flow." } }
            @for (si, slot) in slots.iter().enumerate() {
                @let plugin = slot["plugin"].as_str().unwrap_or_default();
                @let about = entry(&catalog, plugin);
                @let base = format!("flows[{fi}].plugins.slots[{si}].config");
                @let at = [("flow", fi.to_string()), ("slot", si.to_string())];
                @let enabled = slot["enabled"] != false;
                section class="card" aria-label={"Plugin " (plugin)} {
                    h3 { (si + 1) ". " (about.and_then(|a| a["name"].as_str()).unwrap_or(plugin)) " " code { (plugin) } @if !enabled { " " (page::badge("disabled")) } }
                    div class="slot-actions" {
                        @if si > 0 { (page::action_button(&action, &session.csrf, &[("op", "up"), ("flow", &at[0].1), ("slot", &at[1].1)], "Move up", Some(plugin))) }
                        @if si + 1 < slots.len() { (page::action_button(&action, &session.csrf, &[("op", "down"), ("flow", &at[0].1), ("slot", &at[1].1)], "Move down", Some(plugin))) }
                        (page::action_button(&action, &session.csrf, &[("op", "toggle"), ("flow", &at[0].1), ("slot", &at[1].1)], if enabled { "Disable" } else { "Enable" }, Some(plugin)))
                    }
                    details {
                        summary { "Paths it runs on" }
                        form method="post" action=(action) {
                            (csrf.clone())
                            input type="hidden" name="op" value="paths";
                            input type="hidden" name="flow" value=(fi);
                            input type="hidden" name="slot" value=(si);
                            (page::textarea("Only on these paths (regular expressions, one per line; none: every path)", &format!("include-{fi}-{si}"), &lines(&slot["include"]), problems.at(&format!("flows[{fi}].plugins.slots[{si}].include")), 3))
                            (page::textarea("Never on these paths (one per line)", &format!("exclude-{fi}-{si}"), &lines(&slot["exclude"]), problems.at(&format!("flows[{fi}].plugins.slots[{si}].exclude")), 3))
                            button type="submit" class="secondary" { "Save the paths of " (plugin) }
                        }
                    }
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

fn lines(v: &Value) -> String {
    v.as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(|l| format!("{l}\n"))
        .collect()
}

/// What in the API's chains can never happen as written: a plan no flow admits, a flow no route
/// uses, a plugin the catalogue does not know, a disabled plugin.
pub(crate) fn chain_problems(api: &Value, catalog: &[Value]) -> Vec<String> {
    let flows = api["flows"].as_array().cloned().unwrap_or_default();
    let mut out = Vec::new();
    let admits_all = flows
        .iter()
        .any(|f| f["consumers"].as_array().is_none_or(Vec::is_empty));
    for p in api["documentation"]["plans"]
        .as_array()
        .into_iter()
        .flatten()
    {
        let id = p["id"].as_str().unwrap_or_default();
        let named = flows.iter().any(|f| {
            f["consumers"]
                .as_array()
                .is_some_and(|c| c.iter().any(|x| x == id))
        });
        if !admits_all && !named {
            out.push(format!(
                "No flow admits the plan \"{id}\": its subscribers' calls are refused."
            ));
        }
    }
    let routes = api["routes"].as_array().cloned().unwrap_or_default();
    for (i, f) in flows.iter().enumerate() {
        let fid = f["id"].as_str().unwrap_or_default();
        let used = routes.iter().any(|r| {
            let flow = r["flow_ref"].as_str().unwrap_or_default();
            flow == fid || (flow.is_empty() && i == 0)
        });
        if !used {
            out.push(format!(
                "No route uses the flow \"{fid}\": its plugins never run."
            ));
        }
        for slot in f["plugins"]["slots"].as_array().into_iter().flatten() {
            let plugin = slot["plugin"].as_str().unwrap_or_default();
            if entry(catalog, plugin).is_none() {
                out.push(format!(
                    "The flow \"{fid}\" names \"{plugin}\", which no plugin of this gateway is."
                ));
            } else if slot["enabled"] == false {
                out.push(format!("{plugin} is disabled in the flow \"{fid}\"."));
            }
        }
    }
    out
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
        "up" | "down" => {
            let i: usize = si
                .parse()
                .map_err(|_| Problems::message("No such plugin."))?;
            let to = if fields.get("op") == "up" {
                i.checked_sub(1)
            } else {
                Some(i + 1)
            };
            let to = to.ok_or_else(|| Problems::message("It is first already."))?;
            Ok((
                json!([{"op": "move", "from": slot_path, "path": format!("/flows/{fi}/plugins/slots/{to}")}]),
                "Plugin moved.".into(),
            ))
        }
        "toggle" => {
            let slot = &api["flows"][fi.parse::<usize>().unwrap_or(usize::MAX)]["plugins"]["slots"]
                [si.parse::<usize>().unwrap_or(usize::MAX)];
            let enabled = slot["enabled"] != false;
            Ok((
                json!([{"op": "add", "path": format!("{slot_path}/enabled"), "value": !enabled}]),
                if enabled {
                    "Plugin disabled."
                } else {
                    "Plugin enabled."
                }
                .into(),
            ))
        }
        "paths" => {
            let list = |name: &str| -> Value {
                fields
                    .get(&format!("{name}-{fi}-{si}"))
                    .lines()
                    .map(str::trim)
                    .filter(|l| !l.is_empty())
                    .map(Value::from)
                    .collect()
            };
            Ok((
                json!([
                    {"op": "add", "path": format!("{slot_path}/include"), "value": list("include")},
                    {"op": "add", "path": format!("{slot_path}/exclude"), "value": list("exclude")},
                ]),
                "Paths saved.".into(),
            ))
        }
        "consumers" => {
            let plans: Vec<Value> = fields
                .0
                .iter()
                .filter(|(k, _)| k == "plan")
                .map(|(_, v)| Value::from(v.as_str()))
                .collect();
            Ok((
                json!([{"op": "add", "path": format!("/flows/{fi}/consumers"), "value": plans}]),
                "Plans saved.".into(),
            ))
        }
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
