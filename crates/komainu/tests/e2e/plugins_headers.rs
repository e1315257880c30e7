//! The header plugins through the real proxy, what the backend and the client see.

use serde_json::{Value, json};

use crate::support::upstream::Upstream;
use crate::support::{Gateway, json};

const P: &str = "cp:otoroshi.next.plugins.";

fn route(gw: &Gateway, id: &str, domain: &str, up: &Upstream, plugins: Value) {
    gw.create(
        "routes",
        &json!({"id": id, "frontend": {"domains": [domain]},
                "backend": {"targets": [up.target()]}, "plugins": plugins}),
    );
}

fn plugin(name: &str, config: Value) -> Value {
    json!({"plugin": format!("{P}{name}"), "config": config})
}

#[test]
fn request_headers_are_added_validated_and_bounded() {
    let up = Upstream::start("hdr");
    let gw = Gateway::start();
    route(
        &gw,
        "r1",
        "in.test/api",
        &up,
        json!([
            plugin(
                "MissingHeadersIn",
                json!({"headers": {"x-tenant": "default", "x-kept": "default"}})
            ),
            plugin("XForwardedHeaders", json!({})),
            plugin("ForwardedHeader", json!({})),
            plugin("RejectHeaderInTooLong", json!({"value": 100})),
        ]),
    );
    let resp = gw
        .call(reqwest::Method::GET, "in.test", "/api/users")
        .header("x-kept", "mine")
        .header("x-huge", "y".repeat(200))
        .header("x-small", "z")
        .header("forwarded", "for=6.6.6.6")
        .send()
        .unwrap();
    let (status, seen) = json(resp);
    assert_eq!(status, 200);
    let h = &seen["headers"];
    assert_eq!(h["x-tenant"], "default");
    assert_eq!(h["x-kept"], "mine", "only missing headers are added");
    assert_eq!(h["x-forwarded-prefix"], "/api");
    assert_eq!(seen["path"], "/users");
    assert_eq!(
        h["forwarded"], "for=127.0.0.1;proto=http;host=\"in.test\"",
        "the client's own is replaced"
    );
    assert!(h.get("x-huge").is_none(), "over 100 bytes: removed");
    assert_eq!(h["x-small"], "z");

    route(
        &gw,
        "r2",
        "valid.test",
        &up,
        json!([plugin(
            "HeadersValidation",
            json!({"headers": {
        "x-env": "ContainedIn(prod, staging)", "x-version": "Regex(v[0-9]+)", "x-team": "core"}})
        )]),
    );
    let call = |env: &str, version: &str| {
        gw.call(reqwest::Method::GET, "valid.test", "/")
            .header("x-env", env)
            .header("x-version", version)
            .header("x-team", "core")
            .send()
            .unwrap()
            .status()
            .as_u16()
    };
    assert_eq!(call("prod", "v2"), 200);
    assert_eq!(call("dev", "v2"), 400);
    assert_eq!(call("prod", "2"), 400);
    let (status, err) = json(gw.proxy_get("valid.test", "/"));
    assert_eq!(
        (status, err["error"].clone()),
        (400, json!("errors.bad.request"))
    );
}

#[test]
fn response_headers_are_set_owned_and_rewritten() {
    let up = Upstream::start("resp");
    let gw = Gateway::start();
    route(
        &gw,
        "r1",
        "sec.test",
        &up,
        json!([
            plugin(
                "SecurityHeadersPlugin",
                json!({
            "frame_options": "DENY", "xss_protection": "BLOCK", "content_type_options": true,
            "hsts": {"enabled": true, "max_age": 600, "include_subdomains": true},
            "csp": {"mode": "ENABLED", "csp": "default-src 'self'"},
            "referrer_policy": "no-referrer"})
            ),
            plugin(
                "MissingHeadersOut",
                json!({"headers": {"x-upstream": "overridden?", "x-served-by": "komainu"}})
            ),
            plugin("SendOtoroshiHeadersBack", json!({})),
        ]),
    );
    let resp = gw.proxy_get("sec.test", "/");
    let h = resp.headers();
    assert_eq!(h["x-frame-options"], "DENY");
    assert_eq!(h["x-xss-protection"], "1; mode=block");
    assert_eq!(h["x-content-type-options"], "nosniff");
    assert_eq!(h["content-security-policy"], "default-src 'self'");
    assert_eq!(h["referrer-policy"], "no-referrer");
    assert!(
        h.get("strict-transport-security").is_none(),
        "HSTS over TLS only"
    );
    assert_eq!(
        h["x-upstream"], "resp",
        "MissingHeadersOut keeps what the backend sent"
    );
    assert_eq!(h["x-served-by"], "komainu");
    assert!(
        h["otoroshi-request-id"]
            .to_str()
            .unwrap()
            .parse::<u64>()
            .is_ok()
    );
    assert!(
        h["otoroshi-request-timestamp"]
            .to_str()
            .unwrap()
            .contains('T')
    );

    route(
        &gw,
        "r2",
        "hsts.test",
        &up,
        json!([plugin(
            "SecurityHeadersPlugin",
            json!({
        "hsts": {"enabled": true, "max_age": 600, "on_http": true}})
        )]),
    );
    let resp = gw.proxy_get("hsts.test", "/");
    assert_eq!(resp.headers()["strict-transport-security"], "max-age=600");

    route(
        &gw,
        "r3",
        "loc.test",
        &up,
        json!([plugin("OverrideLocationHeader", json!({}))]),
    );
    let resp = gw.proxy_get("loc.test", "/redirect");
    assert_eq!(resp.status(), 302);
    assert_eq!(
        resp.headers()["location"],
        "http://loc.test/moved?x=1",
        "the internal address is hidden"
    );

    route(
        &gw,
        "r4",
        "long.test",
        &up,
        json!([plugin("RejectHeaderOutTooLong", json!({"value": 50}))]),
    );
    let resp = gw.proxy_get("long.test", "/long-header/80");
    assert!(resp.headers().get("x-long").is_none());
    assert_eq!(resp.headers()["x-short"], "ok");
}

#[test]
fn header_configs_are_refused_with_their_path() {
    let gw = Gateway::start();
    let up = Upstream::start("bad");
    for (name, config, path) in [
        (
            "MissingHeadersIn",
            json!({"headers": {"bad header": "x"}}),
            "headers.bad header",
        ),
        (
            "HeadersValidation",
            json!({"headers": {"x-a": "Regex([)"}}),
            "headers.x-a",
        ),
        (
            "SecurityHeadersPlugin",
            json!({"frame_options": "SOMETIMES"}),
            "frame_options",
        ),
        (
            "SecurityHeadersPlugin",
            json!({"referrer_policy": "whatever"}),
            "referrer_policy",
        ),
        ("RejectHeaderInTooLong", json!({"value": "big"}), "value"),
        ("XForwardedHeaders", json!({"prefix": true}), ""),
    ] {
        let doc = json!({"id": "r", "frontend": {"domains": ["bad.test"]}, "backend": {"targets": [up.target()]},
                         "plugins": [plugin(name, config)]});
        let (status, body) = json(gw.post("/api/routes", &doc));
        assert_eq!(status, 400, "{name}: {body}");
        let at = body["details"][0]["path"].as_str().unwrap();
        assert!(
            at.starts_with("plugins[0].config") && at.contains(path),
            "{name}: {body}"
        );
    }
}
