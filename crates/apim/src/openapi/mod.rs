//! OpenAPI 3.x and Swagger 2.0 → an `Api` in `staging`: `info` gives name, description and
//! version; the servers give one backend (a target per server, root from the first server's path);
//! each path × method becomes an exact route (`{id}` → `:id`); a keyless plan secures the default
//! flow. Routes forward the whole request path after the backend's root.

use komainu_model::FieldError;
use serde_json::{Value, json};

const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

/// Where the imported API is served.
#[derive(Clone, Debug, Default)]
pub struct Placement {
    pub domain: String,
    pub context_path: String,
}

/// A server URL split into what a target and a backend root need.
struct Server {
    hostname: String,
    port: u16,
    tls: bool,
    path: String,
}

/// `https://api.example.com:8443/v1` (server variables replaced by their defaults).
fn server(url: &str, variables: Option<&Value>) -> Result<Server, String> {
    let mut url = url.to_string();
    if let Some(vars) = variables.and_then(Value::as_object) {
        for (name, var) in vars {
            let default = var
                .get("default")
                .and_then(Value::as_str)
                .unwrap_or_default();
            url = url.replace(&format!("{{{name}}}"), default);
        }
    }
    let (tls, rest) = if let Some(r) = url.strip_prefix("https://") {
        (true, r)
    } else if let Some(r) = url.strip_prefix("http://") {
        (false, r)
    } else {
        return Err(format!(
            "\"{url}\" is not an absolute http(s) URL: the backend needs a host"
        ));
    };
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let (hostname, port) = match authority.rsplit_once(':') {
        Some((h, p)) if !h.ends_with(']') || authority.starts_with('[') => (
            h.to_string(),
            p.parse::<u16>()
                .map_err(|_| format!("bad port in \"{url}\""))?,
        ),
        _ => (authority.to_string(), if tls { 443 } else { 80 }),
    };
    if hostname.is_empty() {
        return Err(format!("no host in \"{url}\""));
    }
    Ok(Server {
        hostname,
        port,
        tls,
        path: if path.is_empty() {
            "/".into()
        } else {
            path.to_string()
        },
    })
}

fn servers(spec: &Value) -> Result<Vec<Server>, FieldError> {
    if spec.get("swagger").is_some() {
        let host = spec.get("host").and_then(Value::as_str).ok_or_else(|| {
            FieldError::new("host", "Swagger 2.0: `host` is needed to build the backend")
        })?;
        let base = spec.get("basePath").and_then(Value::as_str).unwrap_or("/");
        let schemes: Vec<&str> = spec
            .get("schemes")
            .and_then(Value::as_array)
            .map(|s| s.iter().filter_map(Value::as_str).collect())
            .unwrap_or_else(|| vec!["https"]);
        let scheme = if schemes.contains(&"https") {
            "https"
        } else {
            "http"
        };
        return server(&format!("{scheme}://{host}{base}"), None)
            .map(|s| vec![s])
            .map_err(|e| FieldError::new("host", e));
    }
    let list = spec
        .get("servers")
        .and_then(Value::as_array)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| {
            FieldError::new(
                "servers",
                "at least one server URL is needed to build the backend",
            )
        })?;
    list.iter()
        .enumerate()
        .map(|(i, s)| {
            let url = s.get("url").and_then(Value::as_str).unwrap_or_default();
            server(url, s.get("variables"))
                .map_err(|e| FieldError::new(format!("servers[{i}].url"), e))
        })
        .collect()
}

/// `/pets/{petId}` → `/pets/:petId`.
fn route_path(path: &str) -> String {
    path.split('/')
        .map(
            |seg| match seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                Some(name) => format!(":{name}"),
                None => seg.to_string(),
            },
        )
        .collect::<Vec<_>>()
        .join("/")
}

fn slug(text: &str) -> String {
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

/// The API document described by `spec`, or every problem found (with its path in the spec).
pub fn import(spec: &Value, at: &Placement) -> Result<Value, Vec<FieldError>> {
    let mut errors = Vec::new();
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
    let info = spec.get("info").and_then(Value::as_object);
    let text = |k: &str| {
        info.and_then(|i| i.get(k))
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    let name = text("title");
    if name.is_empty() {
        errors.push(FieldError::new("info.title", "an API needs a title"));
    }
    let targets = match servers(spec) {
        Ok(list) => list,
        Err(e) => {
            errors.push(e);
            Vec::new()
        }
    };
    let mut routes = Vec::new();
    match spec.get("paths").and_then(Value::as_object) {
        None => errors.push(FieldError::new("paths", "expected an object of paths")),
        Some(paths) => {
            for (path, item) in paths {
                if !path.starts_with('/') {
                    errors.push(FieldError::new(
                        format!("paths.{path}"),
                        "a path starts with \"/\"",
                    ));
                    continue;
                }
                let Some(item) = item.as_object() else {
                    errors.push(FieldError::new(
                        format!("paths.{path}"),
                        "expected an object",
                    ));
                    continue;
                };
                for method in METHODS.iter().filter(|m| item.contains_key(**m)) {
                    let op = &item[*method];
                    let op_id = op.get("operationId").and_then(Value::as_str);
                    let id = match op_id {
                        Some(id) => format!("route_{}", slug(id)),
                        None => format!("route_{method}_{}", slug(path)),
                    };
                    let title = op
                        .get("summary")
                        .and_then(Value::as_str)
                        .or(op_id)
                        .map(str::to_string)
                        .unwrap_or_else(|| format!("{} {path}", method.to_uppercase()));
                    routes.push(json!({
                        "id": id,
                        "name": title,
                        "enabled": true,
                        "frontend": {
                            "domains": [route_path(path)],
                            "exact": true,
                            "strip_path": false,
                            "methods": [method.to_uppercase()],
                        },
                        "backend": "openapi_backend",
                        "flow_ref": "default_plugin_chain",
                    }));
                }
            }
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    let root = targets.first().map_or("/".to_string(), |s| s.path.clone());
    let targets: Vec<Value> = targets
        .iter()
        .enumerate()
        .map(|(i, s)| {
            json!({"id": format!("target_{}", i + 1), "hostname": s.hostname, "port": s.port, "tls": s.tls, "weight": 1})
        })
        .collect();
    let description = text("description");
    let version = Some(text("version"))
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| "1.0.0".into());
    Ok(json!({
        "id": format!("api_{}", slug(&name)),
        "name": name,
        "description": description,
        "version": version,
        "state": "staging",
        "domain": at.domain,
        "context_path": at.context_path,
        "backends": [{
            "id": "openapi_backend",
            "name": format!("{name} servers"),
            "backend": {"targets": targets, "root": root, "rewrite": false, "load_balancing": {"type": "RoundRobin"}},
        }],
        "flows": [{
            "id": "default_plugin_chain",
            "name": "Default flow",
            "plugins": {"slots": [{"plugin": "cp:otoroshi.next.plugins.OverrideHost", "enabled": true, "include": [], "exclude": [], "config": {}}]},
            "consumers": ["keyless"],
        }],
        // Kept so the developer portal can render the reference.
        "documentation": {"resources": [{
            "path": ["reference"],
            "title": "API reference",
            "content_type": "application/json",
            "json_content": spec,
        }], "plans": [{
            "id": "keyless",
            "name": "Keyless",
            "status": "published",
            "access_mode_configuration_type": "keyless",
        }]},
        "routes": routes,
    }))
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
        let at = Placement {
            domain: "pets.local".into(),
            context_path: "/store".into(),
        };
        let api = import(&spec, &at).unwrap();
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
        assert_eq!(routes[2]["frontend"]["methods"][0], "GET");
    }

    #[test]
    fn swagger2_and_errors() {
        let spec = json!({"swagger": "2.0", "info": {"title": "Old"}, "host": "old.example", "basePath": "/api", "schemes": ["http"], "paths": {"/a": {"delete": {}}}});
        let api = import(&spec, &Placement::default()).unwrap();
        assert_eq!(api["backends"][0]["backend"]["targets"][0]["port"], 80);
        assert_eq!(api["routes"][0]["id"], "route_delete_a");
        let bad = json!({"openapi": "3.1.0", "info": {}, "servers": [{"url": "/relative"}], "paths": {"x": {}}});
        let errors = import(&bad, &Placement::default()).unwrap_err();
        let paths: Vec<&str> = errors.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(paths, ["info.title", "servers[0].url", "paths.x"]);
        assert_eq!(
            import(&json!({"hello": 1}), &Placement::default()).unwrap_err()[0].path,
            "openapi"
        );
    }
}
