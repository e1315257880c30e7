//! `GET /apis/openapi.json`: the admin API described as OpenAPI 3.1. The entity resources are
//! generated from the resource registry ([`Kind::ALL`] and each kind's JSON Schema), so a kind
//! added to the registry is described at once, under both path styles; the other endpoints are
//! the table [`ENDPOINTS`], which a test checks against the router.

use axum::Json;
use serde_json::{Map, Value, json};

use komainu_model::Kind;

/// The admin endpoints that are not entity CRUD: method, path, summary.
pub(crate) const ENDPOINTS: &[(&str, &str, &str)] = &[
    (
        "get",
        "/api/version",
        "This build's version, as Otoroshi describes one",
    ),
    (
        "get",
        "/api/globalconfig",
        "The global configuration (tlsSettings, ...)",
    ),
    (
        "put",
        "/api/globalconfig",
        "Replace the global configuration",
    ),
    (
        "patch",
        "/api/globalconfig",
        "Patch the global configuration",
    ),
    (
        "post",
        "/api/pki/cas",
        "Generate a self-signed CA (stored unless ?persist=false)",
    ),
    (
        "post",
        "/api/pki/certs",
        "Generate a self-signed certificate",
    ),
    (
        "post",
        "/api/pki/cas/{ca}/certs",
        "Generate a certificate signed by a stored CA",
    ),
    ("get", "/api/infos", "Cluster id, version, OS and datastore"),
    (
        "get",
        "/api/health",
        "Health of the gateway and its store (503 when unhealthy)",
    ),
    (
        "get",
        "/apis/cluster/node/health",
        "Health of this node (as /api/health)",
    ),
    ("get", "/api/export", "Every entity in one document"),
    (
        "post",
        "/api/import",
        "Import an export document (?mode=merge|replace)",
    ),
    (
        "get",
        "/api/otoroshi.json",
        "Full export in Otoroshi's shape",
    ),
    (
        "post",
        "/api/otoroshi.json",
        "Full import of an Otoroshi export (replaces the state)",
    ),
    (
        "get",
        "/api/plugins/all",
        "Every plugin: id, name, steps, default config, config schema",
    ),
    (
        "get",
        "/apis/entities",
        "Every resource kind, its names and schema",
    ),
    ("get", "/apis/openapi.json", "This document"),
    (
        "get",
        "/api/apikeys/{id}/quotas",
        "A key's quota consumption",
    ),
    (
        "delete",
        "/api/apikeys/{id}/quotas",
        "Reset a key's quota consumption",
    ),
    (
        "get",
        "/api/apikeys/{id}/bearer",
        "A key's Otoroshi bearer token",
    ),
    (
        "get",
        "/api/groups/{id}/apikeys",
        "The keys authorized on a service group",
    ),
    (
        "get",
        "/api/apis/{id}/apikeys",
        "The keys authorized on an API or its groups",
    ),
    (
        "get",
        "/api/routes/{id}/apikeys",
        "The keys authorized on a route or its groups",
    ),
    ("get", "/api/apis/{id}/draft", "An API's draft"),
    ("put", "/api/apis/{id}/draft", "Save an API's draft"),
    ("delete", "/api/apis/{id}/draft", "Drop an API's draft"),
    (
        "post",
        "/api/apis/{id}/_publish",
        "Publish an API (applying its draft)",
    ),
    (
        "get",
        "/api/apis/{id}/deployments/_diff",
        "The JSON Patch between two deployments (from, to)",
    ),
    (
        "post",
        "/api/apis/{id}/deployments/{deployment}/_rollback",
        "Make a deployment's definition live again",
    ),
    (
        "post",
        "/api/api-subscriptions/{id}/_rotate",
        "A new secret for the subscription's key, the old one kept for the grace period",
    ),
    (
        "post",
        "/api/api-subscriptions/{id}/_reject",
        "Reject a subscription with a reason",
    ),
    (
        "post",
        "/api/apis/_openapi",
        "Create an API from an OpenAPI or Swagger document",
    ),
    (
        "post",
        "/apis/apis.otoroshi.io/v1/apis/_openapi",
        "Create an API from an OpenAPI document",
    ),
    (
        "get",
        "/api/apis/{id}/documentation",
        "An API's documentation data",
    ),
    ("get", "/api/apis/{id}/usage", "Calls per plan of an API"),
    (
        "get",
        "/api/api-subscriptions/{id}/usage",
        "Calls per day of a subscription",
    ),
];

/// Moves every `$defs` of `schema` into `defs` and points its references there: a schema placed
/// under `components/schemas` refers to its definitions from the document's root.
fn hoist(mut schema: Value, defs: &mut Map<String, Value>) -> Value {
    if let Some(obj) = schema.as_object_mut() {
        obj.remove("$schema");
        if let Some(Value::Object(local)) = obj.remove("$defs") {
            for (name, def) in local {
                let def = hoist(def, defs);
                defs.entry(name).or_insert(def);
            }
        }
    }
    rewrite_refs(&mut schema);
    schema
}

fn rewrite_refs(v: &mut Value) {
    match v {
        Value::Object(obj) => {
            if let Some(Value::String(r)) = obj.get_mut("$ref")
                && let Some(name) = r.strip_prefix("#/$defs/")
            {
                *r = format!("#/components/schemas/{name}");
            }
            obj.values_mut().for_each(rewrite_refs);
        }
        Value::Array(items) => items.iter_mut().for_each(rewrite_refs),
        _ => {}
    }
}

fn error_response() -> Value {
    json!({"description": "An error: status, `error` and `details[]` with paths",
           "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}})
}

fn entity_paths(kind: Kind, base: &str, paths: &mut Map<String, Value>) {
    let schema = json!({"$ref": format!("#/components/schemas/{}", kind.name())});
    let one =
        json!({"description": "The entity", "content": {"application/json": {"schema": schema}}});
    let body = json!({"required": true, "content": {"application/json": {"schema": schema}}});
    let patch = json!({"required": true, "content": {"application/json": {"schema": {
        "oneOf": [{"type": "array", "description": "JSON Patch (RFC 6902)"},
                  {"type": "object", "description": "JSON merge patch (RFC 7396)"}]}}}});
    let id_param = json!([{"name": "id", "in": "path", "required": true, "schema": {"type": "string"},
                           "description": format!("the entity's `{}`", kind.id_field())}]);
    let list_params = json!([
        {"name": "page", "in": "query", "schema": {"type": "integer", "minimum": 1}},
        {"name": "pageSize", "in": "query", "schema": {"type": "integer", "minimum": 1}},
        {"name": "fields", "in": "query", "schema": {"type": "string"}, "description": "comma separated"},
        {"name": "sorted", "in": "query", "schema": {"type": "string"}, "description": "field[:desc]"},
    ]);
    let name = kind.name();
    paths.insert(
        base.to_string(),
        json!({
            "get": {"summary": format!("List {name} entities (total in X-Count)"), "parameters": list_params,
                    "responses": {"200": {"description": "A page", "content": {"application/json": {"schema": {"type": "array", "items": schema}}}}}},
            "post": {"summary": format!("Create a {name} (409 if the id exists)"), "requestBody": body,
                     "responses": {"201": one, "400": error_response(), "409": error_response()}},
        }),
    );
    paths.insert(
        format!("{base}/{{id}}"),
        json!({
            "parameters": id_param,
            "get": {"summary": format!("Read a {name}"), "responses": {"200": one, "404": error_response()}},
            "put": {"summary": format!("Replace a {name}"), "requestBody": body, "responses": {"200": one, "400": error_response(), "404": error_response()}},
            "patch": {"summary": format!("Patch a {name}"), "requestBody": patch, "responses": {"200": one, "400": error_response(), "404": error_response()}},
            "post": {"summary": format!("Create or replace a {name}"), "requestBody": body, "responses": {"200": one, "400": error_response()}},
            "delete": {"summary": format!("Delete a {name}"), "responses": {"200": {"description": "Deleted"}, "404": error_response(), "409": error_response()}},
        }),
    );
    for (suffix, summary) in [
        ("_template", "A new entity with every default filled"),
        ("_schema", "The JSON Schema of the entity"),
        ("_count", "How many are stored"),
    ] {
        paths.insert(
            format!("{base}/{suffix}"),
            json!({"get": {"summary": format!("{name}: {summary}"), "responses": {"200": {"description": summary}}}}),
        );
    }
}

/// The whole document.
pub(crate) fn document() -> Value {
    let mut schemas = Map::new();
    let mut defs = Map::new();
    for kind in Kind::ALL {
        let schema = hoist(komainu_model::schema(kind).clone(), &mut defs);
        schemas.insert(kind.name().to_string(), schema);
    }
    for (name, def) in defs {
        schemas.entry(name).or_insert(def);
    }
    schemas.insert(
        "Error".into(),
        json!({"type": "object", "required": ["error"], "properties": {
            "error": {"type": "string"},
            "details": {"type": "array", "items": {"type": "object", "properties": {
                "path": {"type": "string"}, "message": {"type": "string"}}}}}}),
    );
    let mut paths = Map::new();
    for kind in Kind::ALL {
        entity_paths(kind, &format!("/api/{}", kind.plural()), &mut paths);
        entity_paths(
            kind,
            &format!("/apis/{}/v1/{}", kind.group(), kind.generic_plural()),
            &mut paths,
        );
    }
    for (method, path, summary) in ENDPOINTS {
        let item = paths.entry(path.to_string()).or_insert_with(|| json!({}));
        item[*method] = json!({"summary": summary, "responses": {"200": {"description": "OK"}}});
        let params: Vec<Value> = path
            .split('{')
            .skip(1)
            .filter_map(|p| p.split_once('}').map(|(name, _)| name))
            .map(|name| json!({"name": name, "in": "path", "required": true, "schema": {"type": "string"}}))
            .collect();
        if !params.is_empty() {
            item["parameters"] = Value::Array(params);
        }
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Komainu admin API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Entities with Otoroshi's field names, on /api/<plural> and on Otoroshi's generic /apis/<group>/v1/<plural>.",
        },
        "security": [{"basicAuth": []}, {"otoroshiClientId": [], "otoroshiClientSecret": []}],
        "components": {
            "securitySchemes": {
                "basicAuth": {"type": "http", "scheme": "basic"},
                "otoroshiClientId": {"type": "apiKey", "in": "header", "name": "Otoroshi-Client-Id"},
                "otoroshiClientSecret": {"type": "apiKey", "in": "header", "name": "Otoroshi-Client-Secret"},
            },
            "schemas": schemas,
        },
        "paths": paths,
    })
}

pub(crate) async fn serve() -> Json<Value> {
    Json(document())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refs(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::Object(o) => {
                if let Some(Value::String(r)) = o.get("$ref") {
                    out.push(r.clone());
                }
                o.values().for_each(|v| refs(v, out));
            }
            Value::Array(a) => a.iter().for_each(|v| refs(v, out)),
            _ => {}
        }
    }

    #[test]
    fn every_reference_resolves_and_every_kind_is_described() {
        let doc = document();
        let mut all = Vec::new();
        refs(&doc, &mut all);
        for r in all {
            let name = r
                .strip_prefix("#/components/schemas/")
                .unwrap_or_else(|| panic!("{r} points outside components"));
            assert!(doc["components"]["schemas"].get(name).is_some(), "{r}");
        }
        for kind in Kind::ALL {
            assert!(
                doc["paths"]
                    .get(format!("/api/{}/{{id}}", kind.plural()))
                    .is_some()
            );
        }
    }
}
