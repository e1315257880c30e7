//! Each path × method of the document becomes an exact route. Nothing is dropped silently: what
//! cannot become a route is listed with the reason.
//!
//! - a path item that is a local `$ref` (`#/components/pathItems/...`) is followed;
//! - `{name}` segments become parameters; a last segment whose parameter the document marks
//!   `x-multi-segment` (values with `/`) becomes a rest parameter (`{name*}`); segments mixing
//!   literals and parameters (`{sid}.json`, `{base}...{head}`) stay as written, for the router
//!   reads them as templates;
//! - ids come from `operationId` (or method and path), made unique when two collide once
//!   reduced to an id (`List Rules` and `List rules`);
//! - `x-` keys under `paths` are extensions, not paths.

use std::collections::HashSet;

use serde::Serialize;
use serde_json::{Value, json};

const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

/// What the import left out, and why.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Skipped {
    pub path: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    pub reason: String,
}

fn skipped(path: &str, method: Option<&str>, reason: impl Into<String>) -> Skipped {
    Skipped {
        path: path.to_string(),
        method: method.map(str::to_string),
        reason: reason.into(),
    }
}

/// The value a local JSON pointer (`#/components/pathItems/pets`) names.
pub(crate) fn pointer<'v>(spec: &'v Value, reference: &str) -> Option<&'v Value> {
    let ptr = reference.strip_prefix('#')?;
    spec.pointer(ptr)
}

/// The path item, its local `$ref`s followed (siblings of a `$ref` kept, as OpenAPI 3.1 allows).
fn path_item(spec: &Value, item: &Value) -> Result<Value, String> {
    let mut item = item.clone();
    for _ in 0..8 {
        let Some(reference) = item.get("$ref").and_then(Value::as_str).map(str::to_string) else {
            return Ok(item);
        };
        if !reference.starts_with('#') {
            return Err(format!(
                "the path item refers to another document ({reference}), which is not read"
            ));
        }
        let target = pointer(spec, &reference)
            .ok_or_else(|| format!("the path item's $ref {reference} names nothing"))?;
        let mut merged = target.clone();
        if let (Some(m), Some(own)) = (merged.as_object_mut(), item.as_object()) {
            for (k, v) in own.iter().filter(|(k, _)| *k != "$ref") {
                m.insert(k.clone(), v.clone());
            }
        }
        item = merged;
    }
    Err("the path item's $refs go round in a circle".into())
}

/// The parameter, its local `$ref` followed.
fn parameter<'v>(spec: &'v Value, p: &'v Value) -> &'v Value {
    match p.get("$ref").and_then(Value::as_str) {
        Some(r) => pointer(spec, r).unwrap_or(p),
        None => p,
    }
}

/// The names of the path parameters whose values may hold `/` (GitHub's `x-multi-segment`).
fn multi_segment(spec: &Value, item: &Value, op: &Value) -> HashSet<String> {
    let all = item["parameters"]
        .as_array()
        .into_iter()
        .chain(op["parameters"].as_array())
        .flatten();
    all.map(|p| parameter(spec, p))
        .filter(|p| p["in"] == "path" && p["x-multi-segment"] == true)
        .filter_map(|p| p["name"].as_str().map(str::to_string))
        .collect()
}

/// `/pets/{petId}` → `/pets/:petId`; `/contents/{path}` → `/contents/{path*}` when `path` takes
/// slashes.
fn route_path(path: &str, multi: &HashSet<String>) -> String {
    let segs: Vec<&str> = path.split('/').collect();
    let last = segs.len() - 1;
    segs.iter()
        .enumerate()
        .map(|(i, seg)| {
            match seg
                .strip_prefix('{')
                .and_then(|s| s.strip_suffix('}'))
                .filter(|n| !n.contains(['{', '}']))
            {
                Some(name) if i == last && multi.contains(name) => format!("{{{name}*}}"),
                Some(name) => format!(":{name}"),
                None => seg.to_string(),
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

pub(crate) fn slug(text: &str) -> String {
    let s: String = text
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect();
    s.split('_')
        .filter(|p| !p.is_empty())
        .collect::<Vec<_>>()
        .join("_")
}

/// The routes of every operation, and what was skipped.
pub(crate) fn routes(spec: &Value) -> (Vec<Value>, Vec<Skipped>) {
    let (mut routes, mut left_out) = (Vec::new(), Vec::new());
    let mut ids = HashSet::new();
    let Some(paths) = spec["paths"].as_object() else {
        return (routes, left_out);
    };
    for (path, raw) in paths {
        if path.starts_with("x-") {
            continue;
        }
        if !path.starts_with('/') {
            left_out.push(skipped(path, None, "a path starts with \"/\""));
            continue;
        }
        let item = match path_item(spec, raw) {
            Ok(item) if item.is_object() => item,
            Ok(_) => {
                left_out.push(skipped(path, None, "the path item is not an object"));
                continue;
            }
            Err(e) => {
                left_out.push(skipped(path, None, e));
                continue;
            }
        };
        for method in METHODS.iter().filter(|m| item.get(**m).is_some()) {
            let op = &item[*method];
            if !op.is_object() {
                left_out.push(skipped(
                    path,
                    Some(method),
                    "the operation is not an object",
                ));
                continue;
            }
            let op_id = op["operationId"].as_str().filter(|s| !s.trim().is_empty());
            let base = match op_id {
                Some(id) => format!("route_{}", slug(id)),
                None => format!("route_{method}_{}", slug(path)),
            };
            let mut id = base.clone();
            let mut n = 1;
            while !ids.insert(id.clone()) {
                n += 1;
                id = format!("{base}_{n}");
            }
            let title = op["summary"]
                .as_str()
                .or(op_id)
                .map(str::to_string)
                .unwrap_or_else(|| format!("{} {path}", method.to_uppercase()));
            routes.push(json!({
                "id": id,
                "name": title,
                "enabled": true,
                "frontend": {
                    "domains": [route_path(path, &multi_segment(spec, &item, op))],
                    "exact": true,
                    "strip_path": false,
                    "methods": [method.to_uppercase()],
                },
                "backend": "openapi_backend",
                "flow_ref": "default_plugin_chain",
            }));
        }
    }
    (routes, left_out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_operation_becomes_a_route_or_is_listed() {
        let spec = json!({
            "paths": {
                "x-extension": {"anything": 1},
                "/pets": {"$ref": "#/components/pathItems/pets"},
                "/far": {"$ref": "other.yaml#/paths/far"},
                "/rules": {"get": {"operationId": "List Rules"}, "post": {"operationId": "List rules"}},
                "/contents/{path}": {"get": {"parameters": [{"$ref": "#/components/parameters/path"}]}},
                "/Calls/{Sid}.json": {"get": {}},
                "bad": {"get": {}},
            },
            "components": {
                "pathItems": {"pets": {"get": {"operationId": "listPets"}, "post": {}, "delete": {}}},
                "parameters": {"path": {"name": "path", "in": "path", "x-multi-segment": true}}
            }
        });
        let (routes, skipped) = routes(&spec);
        let ids: Vec<&str> = routes.iter().map(|r| r["id"].as_str().unwrap()).collect();
        assert_eq!(
            ids,
            [
                "route_listpets",
                "route_post_pets",
                "route_delete_pets",
                "route_list_rules",
                "route_list_rules_2",
                "route_get_contents_path",
                "route_get_calls_sid_json"
            ]
        );
        let domains: Vec<&str> = routes
            .iter()
            .map(|r| r["frontend"]["domains"][0].as_str().unwrap())
            .collect();
        assert_eq!(domains[5], "/contents/{path*}");
        assert_eq!(domains[6], "/Calls/{Sid}.json");
        let why: Vec<(&str, bool)> = skipped
            .iter()
            .map(|s| (s.path.as_str(), s.reason.is_empty()))
            .collect();
        assert_eq!(why, [("/far", false), ("bad", false)]);
    }
}
