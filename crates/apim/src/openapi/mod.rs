//! OpenAPI 3.x and Swagger 2.0 → an `Api` in `staging`: `info` gives name, description and
//! version; the servers (or the importer's backend) give the backends ([`servers`]); each path ×
//! method becomes an exact route ([`paths`]); a keyless plan secures the default flow. Routes
//! forward the whole request path after the backend's root.
//!
//! The document itself is kept apart, as an `ApiDocument` the API's documentation points to
//! ([`document`]): the API stays small to read, write and snapshot whatever the document's size.

mod paths;
mod servers;

use komainu_model::FieldError;
use serde_json::{Value, json};

pub use paths::Skipped;

/// Where the imported API is served, and what the importer says beside the document.
#[derive(Clone, Debug, Default)]
pub struct Source {
    pub domain: String,
    pub context_path: String,
    /// The API's id (default: `api_` + the title).
    pub id: Option<String>,
    /// The backend's URL, when the document's servers give none or are to be overridden.
    pub backend: Option<String>,
    /// The name when the document has no `info.title` (a file's name).
    pub name: Option<String>,
}

/// The API, and what could not become a route.
#[derive(Debug)]
pub struct Imported {
    pub api: Value,
    pub skipped: Vec<Skipped>,
}

/// The id of the `ApiDocument` holding an imported API's specification.
pub fn document_id(api_id: &str) -> String {
    format!("openapi_{api_id}")
}

/// The `ApiDocument` holding `spec` for API `api_id`.
pub fn document(api_id: &str, spec: Value) -> Value {
    json!({"id": document_id(api_id), "api_ref": api_id, "content_type": "application/json", "content": spec})
}

/// The API document described by `spec`, or every problem found (with its path in the spec).
pub fn import(spec: &Value, src: &Source) -> Result<Imported, Vec<FieldError>> {
    let version = spec
        .get("openapi")
        .or_else(|| spec.get("swagger"))
        .and_then(Value::as_str)
        .unwrap_or_default();
    if !(version.starts_with("3.") || version == "2.0") {
        return Err(vec![FieldError::new(
            "openapi",
            "not an OpenAPI 3.x document (`openapi: 3.x`) nor Swagger 2.0 (`swagger: \"2.0\"`)",
        )]);
    }
    let text = |k: &str| {
        spec["info"][k]
            .as_str()
            .unwrap_or_default()
            .trim()
            .to_string()
    };
    let name = Some(text("title"))
        .filter(|t| !t.is_empty())
        .or_else(|| src.name.clone().filter(|n| !n.trim().is_empty()))
        .unwrap_or_else(|| "api".into());
    let (servers, mut errors) = servers::of(spec);
    let backends = match servers::backends(&servers, src.backend.as_deref(), &name) {
        Ok(b) => b,
        Err(e) => {
            errors.push(e);
            Vec::new()
        }
    };
    if !spec["paths"].is_object() && spec.get("webhooks").is_none() {
        errors.push(FieldError::new("paths", "expected an object of paths"));
    }
    let (routes, skipped) = paths::routes(spec);
    if !errors.is_empty() {
        return Err(errors);
    }
    let id = src
        .id
        .clone()
        .filter(|i| !i.trim().is_empty())
        .map(|i| i.trim().to_string())
        .unwrap_or_else(|| format!("api_{}", paths::slug(&name)));
    let version = Some(text("version"))
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| "1.0.0".into());
    let api = json!({
        "id": id,
        "name": name,
        "description": text("description"),
        "version": version,
        "state": "staging",
        "domain": src.domain,
        "context_path": src.context_path,
        "backends": backends,
        "flows": [{
            "id": "default_plugin_chain",
            "name": "Default flow",
            "plugins": {"slots": [{"plugin": "cp:otoroshi.next.plugins.OverrideHost", "enabled": true, "include": [], "exclude": [], "config": {}}]},
            "consumers": ["keyless"],
        }],
        "documentation": {"enabled": true, "resources": [{
            "path": ["reference"],
            "title": "API reference",
            "content_type": "application/json",
            "document_ref": document_id(&id),
        }], "plans": [{
            "id": "keyless",
            "name": "Keyless",
            "status": "published",
            "access_mode_configuration_type": "keyless",
        }]},
        "routes": routes,
    });
    Ok(Imported { api, skipped })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn openapi3_paths_become_exact_routes() {
        let spec = json!({
            "openapi": "3.0.3",
            "info": {"title": "Pet Store", "version": "2.1.0", "description": "Pets"},
            "servers": [{"url": "https://{env}.pets.example:8443/v2", "variables": {"env": {"default": "api"}}}],
            "paths": {
                "/pets": {"get": {"operationId": "listPets"}, "post": {"summary": "Add a pet"}},
                "/pets/{petId}": {"get": {}}
            }
        });
        let src = Source {
            domain: "pets.local".into(),
            context_path: "/store".into(),
            ..Source::default()
        };
        let api = import(&spec, &src).unwrap().api;
        assert_eq!(api["id"], "api_pet_store");
        assert_eq!(
            (api["name"].as_str(), api["version"].as_str()),
            (Some("Pet Store"), Some("2.1.0"))
        );
        let t = &api["backends"][0]["backend"]["targets"][0];
        assert_eq!(
            (
                t["hostname"].as_str(),
                t["port"].as_u64(),
                t["tls"].as_bool()
            ),
            (Some("api.pets.example"), Some(8443), Some(true))
        );
        assert_eq!(api["backends"][0]["backend"]["root"], "/v2");
        let routes = api["routes"].as_array().unwrap();
        assert_eq!(routes.len(), 3);
        assert_eq!(routes[0]["id"], "route_listpets");
        assert_eq!(routes[1]["name"], "Add a pet");
        assert_eq!(routes[2]["frontend"]["domains"][0], "/pets/:petId");
        assert_eq!(
            api["documentation"]["resources"][0]["document_ref"],
            "openapi_api_pet_store"
        );
    }

    #[test]
    fn swagger2_relative_servers_and_errors() {
        let spec = json!({"swagger": "2.0", "info": {"title": "Old"}, "host": "old.example", "basePath": "/api", "schemes": ["http"], "paths": {"/a": {"delete": {}}}});
        let api = import(&spec, &Source::default()).unwrap().api;
        assert_eq!(api["backends"][0]["backend"]["targets"][0]["port"], 80);
        assert_eq!(api["routes"][0]["id"], "route_delete_a");
        // No title, a relative server: the file's name, and the importer's backend.
        let relative = json!({"openapi": "3.1.0", "info": {}, "servers": [{"url": "/relative"}], "paths": {"/x": {"get": {}}}});
        let refused = import(&relative, &Source::default()).unwrap_err();
        assert_eq!(refused[0].path, "servers");
        let src = Source {
            name: Some("petstore".into()),
            backend: Some("http://127.0.0.1:3000".into()),
            ..Source::default()
        };
        let api = import(&relative, &src).unwrap().api;
        assert_eq!(
            (
                api["name"].as_str(),
                api["backends"][0]["backend"]["root"].as_str()
            ),
            (Some("petstore"), Some("/relative"))
        );
        assert_eq!(
            import(&json!({"hello": 1}), &Source::default()).unwrap_err()[0].path,
            "openapi"
        );
    }
}
