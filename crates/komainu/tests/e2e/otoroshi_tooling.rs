//! The admin API driven exactly as Otoroshi's own tooling drives it: Basic credentials without
//! base64 padding, the generic `/apis/<group>/v1/<plural>` paths with `_template`, `_schema` and
//! `_count`, Otoroshi's operational endpoints in Otoroshi's shapes, and a full export written in
//! Otoroshi's own format imported and exported back.

use base64::Engine;
use base64::engine::general_purpose::STANDARD_NO_PAD;
use reqwest::Method;
use serde_json::{Value, json};

use crate::support::upstream::Upstream;
use crate::support::{ADMIN_ID, ADMIN_SECRET, Gateway, json};

/// `Authorization: Basic` as Java's encoder writes it: no `=` padding.
fn unpadded(id: &str, secret: &str) -> String {
    format!("Basic {}", STANDARD_NO_PAD.encode(format!("{id}:{secret}")))
}

fn tool(gw: &Gateway, method: Method, path: &str) -> reqwest::blocking::RequestBuilder {
    gw.client
        .request(method, gw.url(path))
        .header("authorization", unpadded(ADMIN_ID, ADMIN_SECRET))
}

fn send(rb: reqwest::blocking::RequestBuilder) -> (u16, Value) {
    json(rb.send().unwrap())
}

/// Whether every field of `expected` is in `got` with the same value (`got` may hold more).
fn contains(got: &Value, expected: &Value, at: &str) -> Result<(), String> {
    match (got, expected) {
        (Value::Object(g), Value::Object(e)) => e.iter().try_for_each(|(k, v)| {
            let path = format!("{at}.{k}");
            match g.get(k) {
                Some(gv) => contains(gv, v, &path),
                None if v.is_null() => Ok(()),
                None => Err(format!("{path} missing")),
            }
        }),
        _ if got == expected => Ok(()),
        _ => Err(format!("{at}: {got} instead of {expected}")),
    }
}

#[test]
fn otoroshi_tooling_authenticates_with_unpadded_basic_credentials() {
    // A secret whose base64 needs padding: 28 + 1 + 11 bytes.
    let gw = Gateway::start();
    let header = unpadded(ADMIN_ID, ADMIN_SECRET);
    assert!(!header.ends_with('='));
    let (status, _) = send(tool(&gw, Method::GET, "/apis/proxy.otoroshi.io/v1/routes"));
    assert_eq!(status, 200);
    // And API keys presented the same way through the proxy.
    let up = Upstream::start("up");
    gw.create(
        "routes",
        &json!({"id": "k", "frontend": {"domains": ["pad.test"]}, "backend": {"targets": [up.target()]},
                "plugins": [{"plugin": "cp:otoroshi.next.plugins.ApikeyCalls"}]}),
    );
    gw.create(
        "apikeys",
        &json!({"clientId": "padkey", "clientSecret": "twelve-chars", "authorizedEntities": ["route_k"]}),
    );
    for name in ["authorization", "otoroshi-authorization"] {
        let status = gw
            .call(Method::GET, "pad.test", "/")
            .header(name, unpadded("padkey", "twelve-chars"))
            .send()
            .unwrap()
            .status();
        assert_eq!(status, 200, "{name} without padding");
    }
}

#[test]
fn the_generic_api_and_the_operational_endpoints_have_otoroshis_shapes() {
    let gw = Gateway::start();
    let (status, version) = send(tool(&gw, Method::GET, "/api/version"));
    assert_eq!(status, 200);
    // Exactly Otoroshi's `Version.json`: otoroshictl reads `raw` into a field it also calls
    // `version`, and a document carrying both fails its parse (a duplicate field).
    let mut keys: Vec<&str> = version
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "build",
            "major",
            "minor",
            "patch",
            "raw",
            "str",
            "suffix",
            "suffix_version",
            "value"
        ],
        "{version}"
    );
    assert!(
        version["major"].is_u64() && version["minor"].is_u64(),
        "{version}"
    );
    let (status, infos) = send(tool(&gw, Method::GET, "/api/infos"));
    assert_eq!(status, 200);
    assert!(
        infos["otoroshi_cluster_id"]
            .as_str()
            .is_some_and(|s| !s.is_empty()),
        "{infos}"
    );
    assert_eq!(infos["otoroshi_version_sem"], version);
    let (_, again) = send(tool(&gw, Method::GET, "/api/infos"));
    assert_eq!(
        again["otoroshi_cluster_id"], infos["otoroshi_cluster_id"],
        "stable"
    );
    for path in ["/api/health", "/apis/cluster/node/health"] {
        let (status, health) = send(tool(&gw, Method::GET, path));
        assert_eq!(status, 200, "{path}");
        assert_eq!(health["otoroshi"], "healthy", "{health}");
        assert_eq!(health["datastore"], "healthy");
        assert_eq!(health["proxy"]["status"], "healthy");
    }
    // The generic paths: template, create, read, count, schema, entities.
    let base = "/apis/organize.otoroshi.io/v1/service-groups";
    let (status, template) = send(tool(&gw, Method::GET, &format!("{base}/_template")));
    assert_eq!(status, 200);
    assert!(template["id"].as_str().is_some());
    let mut group = template.clone();
    group["id"] = json!("tooling_group");
    group["name"] = json!("From the tooling");
    let (status, _) = send(tool(&gw, Method::POST, base).json(&group));
    assert_eq!(status, 201);
    let (status, got) = send(tool(&gw, Method::GET, &format!("{base}/tooling_group")));
    assert_eq!((status, &got["name"]), (200, &json!("From the tooling")));
    let (_, count) = send(tool(&gw, Method::GET, &format!("{base}/_count")));
    assert!(
        count["count"].as_u64().unwrap() >= 2,
        "default group and this one"
    );
    let (_, schema) = send(tool(&gw, Method::GET, &format!("{base}/_schema")));
    assert_eq!(schema["type"], "object");
    let (_, entities) = send(tool(&gw, Method::GET, "/apis/entities?schema=false"));
    let kinds: Vec<&str> = entities["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["kind"].as_str().unwrap())
        .collect();
    for k in [
        "Route",
        "Backend",
        "Apikey",
        "ServiceGroup",
        "Api",
        "Certificate",
    ] {
        assert!(kinds.contains(&k), "{k} in {kinds:?}");
    }
    // The plugins, with their default configs and schemas.
    let (status, plugins) = send(tool(&gw, Method::GET, "/api/plugins/all"));
    assert_eq!(status, 200);
    let apikey = plugins
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["id"] == "cp:otoroshi.next.plugins.ApikeyCalls")
        .expect("ApikeyCalls listed");
    assert_eq!(apikey["name"], "Apikeys");
    assert_eq!(apikey["default_config"]["mandatory"], true);
    assert_eq!(apikey["config_schema"]["type"], "object");
    assert!(plugins.as_array().unwrap().len() >= 17);
    for p in plugins.as_array().unwrap() {
        for field in [
            "id",
            "name",
            "description",
            "default_config",
            "config_schema",
            "plugin_steps",
        ] {
            assert!(p.get(field).is_some(), "{field} of {}", p["id"]);
        }
    }
}

#[test]
fn the_openapi_document_describes_what_the_router_serves() {
    let gw = Gateway::start();
    let (status, doc) = send(tool(&gw, Method::GET, "/apis/openapi.json"));
    assert_eq!(status, 200);
    assert_eq!(doc["openapi"], "3.1.0");
    assert!(doc["components"]["schemas"]["Route"]["properties"]["frontend"].is_object());
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in ["get", "post", "put", "patch", "delete"] {
            if item.get(method).is_none() || method != "get" {
                continue;
            }
            let concrete = path.replace("{id}", "nothing-here");
            let resp = tool(&gw, Method::GET, &concrete).send().unwrap();
            let status = resp.status().as_u16();
            let body = resp.text().unwrap();
            assert!(
                !body.contains("no such admin endpoint") && !body.contains("no resource named"),
                "{path} is documented but not served: {status} {body}"
            );
        }
    }
}

#[test]
fn an_otoroshi_export_imports_and_exports_back() {
    let original: Value =
        serde_json::from_str(include_str!("../fixtures/otoroshi-export.json")).unwrap();
    let up = Upstream::start_with("billing", "127.0.0.1:0", std::time::Duration::ZERO);
    let gw = Gateway::start();
    // The route's target is port 3000 in the document: point it at a live upstream for the call.
    let mut doc = original.clone();
    doc["routes"][0]["backend"]["targets"][0]["port"] = json!(up.port());
    let (status, report) = send(tool(&gw, Method::POST, "/api/otoroshi.json").json(&doc));
    assert_eq!(status, 200, "{report:#}");
    assert_eq!(report["imported"]["routes"], 1);
    assert_eq!(report["imported"]["apiKeys"], 1);
    let warned: Vec<&str> = report["warnings"]
        .as_array()
        .map(|w| w.iter().map(|w| w["path"].as_str().unwrap()).collect())
        .unwrap_or_default();
    assert!(
        warned.contains(&"scripts"),
        "kinds Komainu lacks are reported: {report:#}"
    );
    assert!(warned.contains(&"simpleAdmins"), "{report:#}");
    assert!(
        warned.iter().any(|w| w.contains("pass_with_user")),
        "keys taken without effect are reported: {report:#}"
    );
    // The imported route serves with the imported key.
    let status = gw
        .call(Method::GET, "pay.oto.test", "/charge/42")
        .basic_auth("payment-service-key", Some("s3cr3t-payment-service-key"))
        .send()
        .unwrap()
        .status();
    assert_eq!(status, 200);
    // And it exports back in Otoroshi's shape, every field it came with kept.
    let (status, exported) = send(tool(&gw, Method::GET, "/api/otoroshi.json"));
    assert_eq!(status, 200);
    for key in [
        "label",
        "date",
        "stats",
        "config",
        "serviceGroups",
        "apiKeys",
        "routes",
        "backends",
        "serviceDescriptors",
        "scripts",
        "extensions",
    ] {
        assert!(exported.get(key).is_some(), "{key} in the export");
    }
    for (key, id_field) in [
        ("serviceGroups", "id"),
        ("apiKeys", "clientId"),
        ("routes", "id"),
        ("backends", "id"),
    ] {
        for item in original[key].as_array().unwrap() {
            let id = &item[id_field];
            let back = exported[key]
                .as_array()
                .unwrap()
                .iter()
                .find(|e| &e[id_field] == id)
                .unwrap_or_else(|| panic!("{key} {id} exported"));
            let mut item = item.clone();
            if key == "routes" {
                item["backend"]["targets"][0]["port"] = json!(up.port());
            }
            if let Err(e) = contains(back, &item, &format!("{key}[{id}]")) {
                panic!("round trip: {e}");
            }
        }
    }
    assert_eq!(
        exported["config"]["otoroshiId"],
        original["config"]["otoroshiId"]
    );
    // The bearer of the imported key, and the keys of the route.
    let (status, bearer) = send(tool(
        &gw,
        Method::GET,
        "/api/apikeys/payment-service-key/bearer",
    ));
    assert_eq!(status, 200);
    let bearer = bearer["bearer"].as_str().unwrap().to_string();
    assert!(
        bearer.starts_with("otoapk_payment-service-key_"),
        "{bearer}"
    );
    let status = gw
        .call(Method::GET, "pay.oto.test", "/charge/1")
        .bearer_auth(&bearer)
        .send()
        .unwrap()
        .status();
    assert_eq!(status, 200, "the bearer works through the proxy");
    let forged = format!("{}0", &bearer[..bearer.len() - 1]);
    let status = gw
        .call(Method::GET, "pay.oto.test", "/charge/1")
        .bearer_auth(&forged)
        .send()
        .unwrap()
        .status();
    assert_eq!(status, 401, "a forged bearer is refused");
    let (status, keys) = send(tool(
        &gw,
        Method::GET,
        "/api/routes/route_process_payment/apikeys",
    ));
    assert_eq!(status, 200);
    assert_eq!(
        keys[0]["clientId"], "payment-service-key",
        "through the route's group"
    );
}

/// `otoroshictl resources apply` posts each entity to its id's path as `application/yaml` and
/// reads 201 (created) or 200 with `Otoroshi-Entity-Updated`; `otoroshictl metrics` reads an
/// array of `{name, type, value}`.
#[test]
fn otoroshictl_apply_and_metrics_speak_its_wire() {
    let gw = Gateway::start();
    let path = "/apis/proxy.otoroshi.io/v1/routes/applied-route";
    let spec = "id: applied-route\nname: applied\nfrontend:\n  domains: [\"applied.test\"]\n\
                backend:\n  targets:\n    - hostname: 127.0.0.1\n      port: 9\n";
    let apply = |body: &str| {
        let resp = tool(&gw, Method::POST, path)
            .header("content-type", "application/yaml")
            .body(body.to_string())
            .send()
            .unwrap();
        let updated = resp
            .headers()
            .get("otoroshi-entity-updated")
            .map(|v| v.to_str().unwrap().to_string());
        let (status, doc) = json(resp);
        (status, updated, doc)
    };
    let (status, updated, doc) = apply(spec);
    assert_eq!((status, updated), (201, None), "{doc}");
    assert_eq!(doc["frontend"]["domains"][0], "applied.test");
    let (status, updated, _) = apply(spec);
    assert_eq!(
        (status, updated.as_deref()),
        (200, Some("false")),
        "unchanged"
    );
    let (status, updated, doc) = apply(&spec.replace("name: applied", "name: renamed"));
    assert_eq!((status, updated.as_deref()), (200, Some("true")), "{doc}");
    assert_eq!(doc["name"], "renamed");
    // Malformed YAML names the problem; an unknown content type says what is taken.
    let (status, _, doc) = apply("id: [unclosed");
    assert_eq!(status, 400, "{doc}");
    assert!(doc["error"].as_str().unwrap().contains("YAML"), "{doc}");
    let (status, doc) = send(
        tool(&gw, Method::POST, path)
            .header("content-type", "text/csv")
            .body("a,b"),
    );
    assert_eq!(status, 415);
    assert!(
        doc["error"].as_str().unwrap().contains("application/yaml"),
        "{doc}"
    );
    let (_, stored) = send(tool(&gw, Method::GET, path));
    assert_eq!(stored["name"], "renamed", "a refused write changes nothing");

    let (status, metrics) = send(tool(
        &gw,
        Method::GET,
        "/.well-known/otoroshi/monitoring/metrics",
    ));
    assert_eq!(status, 200);
    let series = metrics.as_array().expect("an array of series");
    assert!(!series.is_empty());
    for s in series {
        assert!(s["name"].is_string() && s["type"].is_string(), "{s}");
        assert!(s.get("value").is_some(), "{s}");
    }
    let (_, registry) = send(tool(
        &gw,
        Method::GET,
        "/.well-known/otoroshi/monitoring/metrics?format=old_json",
    ));
    assert!(registry["counters"].is_object(), "{registry}");
    let text = tool(
        &gw,
        Method::GET,
        "/.well-known/otoroshi/monitoring/metrics?format=prometheus",
    )
    .send()
    .unwrap()
    .text()
    .unwrap();
    assert!(text.contains("# TYPE "), "{text}");
}
