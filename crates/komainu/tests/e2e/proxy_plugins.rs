//! Each shipped plugin through the real proxy, with Otoroshi's config keys.

use std::io::Read;

use crate::support::upstream::Upstream;
use crate::support::{Gateway, error_paths, json};
use reqwest::Method;
use serde_json::{Value, json};

const P: &str = "cp:otoroshi.next.plugins.";

/// Creates route `name` on `p.test/<name>` with `plugins` (short names) in front of `up`.
fn with_plugins(gw: &Gateway, up: &Upstream, name: &str, plugins: Value) -> String {
    let slots: Vec<Value> = plugins
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            let mut p = p.clone();
            p["plugin"] = json!(format!("{P}{}", p["plugin"].as_str().unwrap()));
            p
        })
        .collect();
    gw.create(
        "routes",
        &json!({
            "id": name,
            "frontend": {"domains": [format!("p.test/{name}")]},
            "backend": {"targets": [up.target()]},
            "plugins": slots
        }),
    );
    format!("/{name}")
}

fn setup() -> (Gateway, Upstream) {
    (Gateway::start(), Upstream::start("plug"))
}

fn send(gw: &Gateway, m: Method, path: &str) -> reqwest::blocking::Response {
    gw.call(m, "p.test", path).send().unwrap()
}

#[test]
fn headers_in_and_out_added_and_removed() {
    let (gw, up) = setup();
    let add = with_plugins(
        &gw,
        &up,
        "add",
        json!([
            {"plugin": "AdditionalHeadersIn", "config": {"headers": {"x-in": "to-upstream"}}},
            {"plugin": "AdditionalHeadersOut", "config": {"headers": {"x-out": "to-client"}}}
        ]),
    );
    let remove = with_plugins(
        &gw,
        &up,
        "remove",
        json!([
            {"plugin": "RemoveHeadersIn", "config": {"header_names": ["x-drop-me"]}},
            {"plugin": "RemoveHeadersOut", "config": {"names": ["x-upstream"]}}
        ]),
    );
    gw.wait_status("p.test", &remove, 200);
    let resp = send(&gw, Method::GET, &add);
    assert_eq!(resp.headers()["x-out"], "to-client");
    assert_eq!(json(resp).1["headers"]["x-in"], "to-upstream");
    let resp = gw
        .call(Method::GET, "p.test", &remove)
        .header("x-drop-me", "1")
        .header("x-keep", "1")
        .send()
        .unwrap();
    assert!(resp.headers().get("x-upstream").is_none());
    let (_, body) = json(resp);
    assert!(body["headers"].get("x-drop-me").is_none());
    assert_eq!(body["headers"]["x-keep"], "1");
}

#[test]
fn cors_preflight_refusal_and_response_headers() {
    let (gw, up) = setup();
    let path = with_plugins(
        &gw,
        &up,
        "cors",
        json!([{"plugin": "Cors", "config": {
            "allow_origin": "https://app.example.com", "allow_methods": ["GET", "POST"],
            "allow_headers": ["x-token"], "max_age": 600, "expose_headers": ["x-upstream"]
        }}]),
    );
    gw.wait_status("p.test", &path, 200);
    let preflight = |method: &str, headers: &str| {
        gw.call(Method::OPTIONS, "p.test", &path)
            .header("origin", "https://app.example.com")
            .header("access-control-request-method", method)
            .header("access-control-request-headers", headers)
            .send()
            .unwrap()
    };
    let ok = preflight("POST", "x-token");
    assert_eq!(ok.status(), 204);
    assert_eq!(
        ok.headers()["access-control-allow-origin"],
        "https://app.example.com"
    );
    assert_eq!(ok.headers()["access-control-allow-methods"], "GET, POST");
    assert_eq!(ok.headers()["access-control-max-age"], "600");
    let refused = preflight("DELETE", "x-token");
    assert_eq!(refused.status(), 404);
    assert_eq!(
        refused.headers()["otoroshi-error-cause"],
        "errors.cors.error"
    );
    assert_eq!(
        preflight("POST", "x-other").status(),
        404,
        "header not allowed"
    );
    let simple = gw
        .call(Method::GET, "p.test", &path)
        .header("origin", "https://app.example.com")
        .send()
        .unwrap();
    assert_eq!(simple.status(), 200);
    assert_eq!(
        simple.headers()["access-control-allow-origin"],
        "https://app.example.com"
    );
    assert_eq!(
        simple.headers()["access-control-expose-headers"],
        "x-upstream"
    );
}

#[test]
fn methods_allowed_forbidden_and_read_only() {
    let (gw, up) = setup();
    let allow = with_plugins(
        &gw,
        &up,
        "allow",
        json!([{"plugin": "AllowHttpMethods", "config": {"allowed": ["GET", "post"]}}]),
    );
    let forbid = with_plugins(
        &gw,
        &up,
        "forbid",
        json!([{"plugin": "AllowHttpMethods", "config": {"forbidden": ["DELETE"]}}]),
    );
    let ro = with_plugins(&gw, &up, "ro", json!([{"plugin": "ReadOnlyCalls"}]));
    gw.wait_status("p.test", &ro, 200);
    assert_eq!(send(&gw, Method::POST, &allow).status(), 200);
    let put = send(&gw, Method::PUT, &allow);
    assert_eq!(put.status(), 405);
    assert_eq!(
        put.headers()["otoroshi-error-cause"],
        "errors.method.not.allowed"
    );
    assert_eq!(send(&gw, Method::PATCH, &forbid).status(), 200);
    assert_eq!(send(&gw, Method::DELETE, &forbid).status(), 405);
    assert_eq!(send(&gw, Method::HEAD, &ro).status(), 200);
    let (status, body) = json(send(&gw, Method::POST, &ro));
    assert_eq!(status, 405);
    assert_eq!(
        body["error_description"],
        "Method not allowed. Can only handle GET, HEAD, OPTIONS"
    );
}

#[test]
fn ip_address_allowed_and_block_lists() {
    let (gw, up) = setup();
    let other = with_plugins(
        &gw,
        &up,
        "other_net",
        json!([{"plugin": "IpAddressAllowedList", "config": {"addresses": ["10.0.0.0/8"]}}]),
    );
    let wildcard = with_plugins(
        &gw,
        &up,
        "wildcard",
        json!([{"plugin": "IpAddressAllowedList", "config": {"addresses": ["127.0.0.*"]}}]),
    );
    let blocked = with_plugins(
        &gw,
        &up,
        "blocked",
        json!([{"plugin": "IpAddressBlockList", "config": {"addresses": ["127.0.0.1"]}}]),
    );
    let unblocked = with_plugins(
        &gw,
        &up,
        "unblocked",
        json!([{"plugin": "IpAddressBlockList", "config": {"addresses": ["192.168.0.0/16"]}}]),
    );
    gw.wait_status("p.test", &unblocked, 200);
    let resp = send(&gw, Method::GET, &other);
    assert_eq!(resp.status(), 403);
    assert_eq!(
        resp.headers()["otoroshi-error-cause"],
        "errors.ip.address.not.allowed"
    );
    assert_eq!(send(&gw, Method::GET, &wildcard).status(), 200);
    assert_eq!(send(&gw, Method::GET, &blocked).status(), 403);
}

#[test]
fn maintenance_static_response_redirection_and_https() {
    let (gw, up) = setup();
    let maint = with_plugins(&gw, &up, "maint", json!([{"plugin": "MaintenanceMode"}]));
    let stat = with_plugins(
        &gw,
        &up,
        "static",
        json!([{"plugin": "StaticResponse", "config": {
            "status": 201, "headers": {"x-static": "yes"}, "body": "Base64(aGVsbG8gYnl0ZXM=)"
        }}]),
    );
    let redirect = with_plugins(
        &gw,
        &up,
        "redirect",
        json!([{"plugin": "Redirection", "config": {"code": 302, "to": "https://elsewhere.example/"}}]),
    );
    let https = with_plugins(&gw, &up, "https", json!([{"plugin": "ForceHttpsTraffic"}]));
    gw.wait_status("p.test", &https, 303);
    let hits = up.hits();
    let resp = send(&gw, Method::GET, &maint);
    assert_eq!(resp.status(), 503);
    assert_eq!(
        resp.headers()["otoroshi-error-cause"],
        "errors.service.in.maintenance"
    );
    let resp = send(&gw, Method::GET, &stat);
    assert_eq!(resp.status(), 201);
    assert_eq!(resp.headers()["x-static"], "yes");
    assert_eq!(resp.text().unwrap(), "hello bytes");
    let client = reqwest::blocking::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let resp = client
        .get(format!("{}{redirect}", gw.proxy))
        .header("host", "p.test")
        .send()
        .unwrap();
    assert_eq!(resp.status(), 302);
    assert_eq!(resp.headers()["location"], "https://elsewhere.example/");
    let resp = client
        .get(format!("{}{https}/x?y=1", gw.proxy))
        .header("host", "p.test")
        .send()
        .unwrap();
    assert_eq!(resp.headers()["location"], "https://p.test/https/x?y=1");
    assert_eq!(up.hits(), hits, "none of these reached the backend");
}

#[test]
fn gzip_compresses_for_clients_that_accept_it() {
    let (gw, up) = setup();
    let path = with_plugins(
        &gw,
        &up,
        "gz",
        json!([{"plugin": "GzipResponseCompressor"}]),
    );
    gw.wait_status("p.test", &path, 200);
    let plain = send(&gw, Method::GET, &path);
    assert!(plain.headers().get("content-encoding").is_none());
    let plain_body = json(plain).1;
    let resp = gw
        .call(Method::GET, "p.test", &path)
        .header("accept-encoding", "br, gzip")
        .send()
        .unwrap();
    assert_eq!(resp.headers()["content-encoding"], "gzip");
    let mut text = String::new();
    flate2::read::GzDecoder::new(&resp.bytes().unwrap()[..])
        .read_to_string(&mut text)
        .unwrap();
    let decoded: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(decoded["name"], plain_body["name"]);
    let binary = gw
        .call(Method::GET, "p.test", &format!("{path}/bytes/1000"))
        .header("accept-encoding", "gzip")
        .send()
        .unwrap();
    assert!(
        binary.headers().get("content-encoding").is_none(),
        "octet-stream is not in the allowed list"
    );
}

#[test]
fn include_and_exclude_select_paths() {
    let (gw, up) = setup();
    let path = with_plugins(
        &gw,
        &up,
        "sel",
        json!([{
            "plugin": "MaintenanceMode", "include": ["/sel/admin.*"], "exclude": ["/sel/admin/health"]
        }]),
    );
    gw.wait_status("p.test", &path, 200);
    assert_eq!(send(&gw, Method::GET, "/sel/admin/users").status(), 503);
    assert_eq!(send(&gw, Method::GET, "/sel/admin/health").status(), 200);
    assert_eq!(send(&gw, Method::GET, "/sel/public").status(), 200);
    let disabled = with_plugins(
        &gw,
        &up,
        "off",
        json!([{"plugin": "MaintenanceMode", "enabled": false}]),
    );
    gw.wait_status("p.test", &disabled, 200);
}

#[test]
fn unknown_plugins_and_bad_configs_are_refused_with_their_path() {
    let gw = Gateway::start();
    let (status, body) = json(gw.post("/api/routes", &json!({
        "frontend": {"domains": ["x.test"]},
        "plugins": [
            {"plugin": format!("{P}OverrideHost")},
            {"plugin": "cp:otoroshi.next.plugins.DoesNotExist"},
            {"plugin": format!("{P}IpAddressAllowedList"), "config": {"addresses": ["1.2.3.4", "10.0.0.0/99"]}},
            {"plugin": format!("{P}Redirection"), "config": {"code": 200}},
            {"plugin": format!("{P}IpAddressBlockList"), "config": {"adresses": ["1.2.3.4"]}},
            {"plugin": format!("{P}Cors"), "config": {"max_age": "one hour"}},
            {"plugin": format!("{P}MaintenanceMode"), "config": {"enabled": true}},
            {"plugin": format!("{P}ApikeyCalls"), "config": {"extractors": {"jwt": {"secret_signd": true}}}},
            {"plugin": format!("{P}OverrideHost"), "include": ["/a(b"]}
        ]
    })));
    assert_eq!(status, 400);
    assert_eq!(
        error_paths(&body),
        vec![
            "plugins[1].plugin",
            "plugins[2].config.addresses[1]",
            "plugins[3].config.code",
            "plugins[4].config.adresses",
            "plugins[5].config.max_age",
            "plugins[6].config.enabled",
            "plugins[7].config.extractors.jwt.secret_signd",
            "plugins[8].include[0]",
        ],
        "{body:#}"
    );
    assert!(
        body["details"][3]["message"]
            .as_str()
            .unwrap()
            .contains("adresses"),
        "the unknown key is named: {body:#}"
    );

    assert!(
        body["details"][0]["message"]
            .as_str()
            .unwrap()
            .contains("DoesNotExist")
    );
    // A route must listen somewhere: a body holding only an unknown field is refused.
    let (status, body) = json(gw.post("/api/routes", &json!({"frontnd": {"domains": ["x.test"]}})));
    assert_eq!(status, 400, "{body}");
    assert_eq!(error_paths(&body), vec!["frontend.domains"]);
    // What Otoroshi writes in an ApikeyCalls config is accepted.
    let (status, body) = json(gw.post("/api/routes", &json!({
        "frontend": {"domains": ["otoroshi.test"]},
        "plugins": [{"plugin": format!("{P}ApikeyCalls"), "config": {
            "extractors": {
                "basic": {"enabled": true, "header_name": null, "query_name": null, "cookie_name": null, "path_name": null},
                "custom_headers": {"enabled": true, "client_id_header_name": null, "client_secret_header_name": null},
                "client_id": {"enabled": true, "header_name": null, "query_name": null, "cookie_name": null, "path_name": null},
                "jwt": {"enabled": true, "secret_signed": true, "keypair_signed": true, "include_request_attrs": false,
                        "max_jwt_lifespan_sec": null, "header_name": null, "query_name": null, "cookie_name": null, "path_name": null},
                "oto_bearer": {"enabled": true}
            },
            "routing": {"enabled": false, "none_tagIn": []},
            "validate": true, "mandatory": true, "pass_with_user": false, "wipe_backend_request": true, "update_quotas": true
        }}]
    })));
    assert_eq!(status, 201, "{body:#}");
    let (status, body) = json(gw.post(
        "/api/apis",
        &json!({
            "flows": [{"id": "f", "plugins": {"slots": [{"plugin": "cp:nope"}]}}]
        }),
    ));
    assert_eq!(status, 400);
    assert_eq!(error_paths(&body), vec!["flows[0].plugins.slots[0].plugin"]);
}

#[test]
fn browsers_get_error_pages() {
    let (gw, up) = setup();
    let path = with_plugins(&gw, &up, "page", json!([{"plugin": "MaintenanceMode"}]));
    gw.wait_status("p.test", &path, 503);
    let resp = gw
        .call(Method::GET, "p.test", &path)
        .header("accept", "text/html,application/xhtml+xml")
        .send()
        .unwrap();
    assert_eq!(resp.status(), 503);
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    assert!(
        resp.text()
            .unwrap()
            .contains("errors.service.in.maintenance")
    );
}
