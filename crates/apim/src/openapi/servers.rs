//! Where an imported API forwards: its backends from the document's servers (OpenAPI 3) or
//! `host`/`basePath`/`schemes` (Swagger 2.0), or from the backend the importer gives.
//!
//! One backend per distinct origin (scheme, host, port): the routes use the first; the others are
//! kept beside it, never mixed into one round robin over unrelated hosts. A relative server
//! (`/api/v1`), a protocol-relative one (`//host`) or none at all gives only a root path: the
//! host then comes from the importer's `backend`, and the import is refused only when neither
//! gives one.

use komainu_model::FieldError;
use serde_json::{Value, json};

/// A server: its origin (`None` for a relative URL) and its path.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Server {
    pub origin: Option<Origin>,
    pub path: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Origin {
    pub hostname: String,
    pub port: u16,
    pub tls: bool,
}

/// `https://api.example.com:8443/v1`, `//host/v1`, `/v1` or empty (server variables replaced by
/// their defaults). A protocol-relative URL is taken as HTTPS.
pub(crate) fn parse(url: &str, variables: Option<&Value>) -> Result<Server, String> {
    let mut url = url.trim().to_string();
    if let Some(vars) = variables.and_then(Value::as_object) {
        for (name, var) in vars {
            let default = var["default"].as_str().unwrap_or_default();
            url = url.replace(&format!("{{{name}}}"), default);
        }
    }
    let (tls, rest) = if let Some(r) = url.strip_prefix("https://") {
        (true, r)
    } else if let Some(r) = url.strip_prefix("http://") {
        (false, r)
    } else if let Some(r) = url.strip_prefix("//") {
        (true, r)
    } else if url.is_empty() || url.starts_with('/') {
        return Ok(Server {
            origin: None,
            path: root_of(&url),
        });
    } else {
        return Err(format!(
            "\"{url}\" is neither an http(s) URL nor a path: give the backend"
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
        origin: Some(Origin {
            hostname,
            port,
            tls,
        }),
        path: root_of(path),
    })
}

fn root_of(path: &str) -> String {
    let p = path.split(['?', '#']).next().unwrap_or_default();
    if p.is_empty() {
        "/".into()
    } else {
        p.to_string()
    }
}

/// The document's servers, in order; `Err` for the ones that cannot be read.
pub(crate) fn of(spec: &Value) -> (Vec<Server>, Vec<FieldError>) {
    if spec.get("swagger").is_some() {
        let base = spec["basePath"].as_str().unwrap_or("/");
        let Some(host) = spec["host"].as_str().filter(|h| !h.is_empty()) else {
            return (
                vec![Server {
                    origin: None,
                    path: root_of(base),
                }],
                Vec::new(),
            );
        };
        let schemes: Vec<&str> = spec["schemes"]
            .as_array()
            .map(|s| s.iter().filter_map(Value::as_str).collect())
            .unwrap_or_else(|| vec!["https"]);
        let scheme = if schemes.contains(&"https") {
            "https"
        } else {
            "http"
        };
        return match parse(&format!("{scheme}://{host}{base}"), None) {
            Ok(s) => (vec![s], Vec::new()),
            Err(e) => (Vec::new(), vec![FieldError::new("host", e)]),
        };
    }
    let list = spec["servers"].as_array().filter(|s| !s.is_empty());
    let Some(list) = list else {
        // OpenAPI's default server is `/`.
        return (
            vec![Server {
                origin: None,
                path: "/".into(),
            }],
            Vec::new(),
        );
    };
    let (mut servers, mut errors) = (Vec::new(), Vec::new());
    for (i, s) in list.iter().enumerate() {
        match parse(s["url"].as_str().unwrap_or_default(), s.get("variables")) {
            Ok(server) => servers.push(server),
            Err(e) => errors.push(FieldError::new(format!("servers[{i}].url"), e)),
        }
    }
    (servers, errors)
}

/// The API's backends: the importer's `backend` (its origin, and its path or else the first
/// server's as root) or one per distinct origin of the servers. `Err` when no host is known.
pub(crate) fn backends(
    servers: &[Server],
    backend: Option<&str>,
    name: &str,
) -> Result<Vec<Value>, FieldError> {
    let first_root = servers.first().map_or("/".to_string(), |s| s.path.clone());
    let chosen: Vec<(Origin, String)> = match backend.filter(|b| !b.trim().is_empty()) {
        Some(url) => {
            let s = parse(url, None).map_err(|e| FieldError::new("backend", e))?;
            let origin = s
                .origin
                .ok_or_else(|| FieldError::new("backend", "expected an http(s) URL with a host"))?;
            let root = if s.path == "/" { first_root } else { s.path };
            vec![(origin, root)]
        }
        None => {
            let mut distinct: Vec<(Origin, String)> = Vec::new();
            for s in servers {
                if let Some(o) = &s.origin
                    && !distinct.iter().any(|(d, _)| d == o)
                {
                    distinct.push((o.clone(), s.path.clone()));
                }
            }
            distinct
        }
    };
    if chosen.is_empty() {
        return Err(FieldError::new(
            "servers",
            "no server of the document gives a host (relative, or none): give the backend \
             (`backend` parameter or field, `--backend` on the command line)",
        ));
    }
    Ok(chosen
        .into_iter()
        .enumerate()
        .map(|(i, (o, root))| {
            let id = if i == 0 { "openapi_backend".to_string() } else { format!("openapi_backend_{}", i + 1) };
            json!({
                "id": id,
                "name": if i == 0 { format!("{name} servers") } else { format!("{name}: {}", o.hostname) },
                "backend": {
                    "targets": [{"id": "target_1", "hostname": o.hostname, "port": o.port, "tls": o.tls, "weight": 1}],
                    "root": root, "rewrite": false, "load_balancing": {"type": "RoundRobin"},
                },
            })
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_urls_of_every_form() {
        let s = parse(
            "https://{env}.x.test:8443/v2",
            Some(&json!({"env": {"default": "api"}})),
        )
        .unwrap();
        let o = s.origin.unwrap();
        assert_eq!(
            (o.hostname.as_str(), o.port, o.tls, s.path.as_str()),
            ("api.x.test", 8443, true, "/v2")
        );
        assert_eq!(
            parse("/api/v1", None).unwrap(),
            Server {
                origin: None,
                path: "/api/v1".into()
            }
        );
        assert_eq!(parse("", None).unwrap().path, "/");
        let p = parse("//cdn.test/x", None).unwrap();
        assert_eq!(p.origin.unwrap().port, 443);
        assert!(parse("ftp://x", None).is_err());
    }

    #[test]
    fn one_backend_per_origin_and_the_importers_wins() {
        let servers = vec![
            parse("https://a.test/v1", None).unwrap(),
            parse("https://a.test/v2", None).unwrap(),
            parse("http://a.test/v1", None).unwrap(),
            parse("https://b.test", None).unwrap(),
        ];
        let b = backends(&servers, None, "X").unwrap();
        assert_eq!(b.len(), 3, "{b:?}");
        assert_eq!(b[0]["backend"]["root"], "/v1");
        assert_eq!(b[1]["backend"]["targets"][0]["tls"], false);
        let relative = vec![parse("/api", None).unwrap()];
        assert_eq!(backends(&relative, None, "X").unwrap_err().path, "servers");
        let given = backends(&relative, Some("http://127.0.0.1:3000"), "X").unwrap();
        assert_eq!(given[0]["backend"]["root"], "/api");
        assert_eq!(given[0]["backend"]["targets"][0]["port"], 3000);
    }
}
