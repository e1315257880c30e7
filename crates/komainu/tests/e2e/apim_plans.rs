//! Plans fail closed: a published API answers an anonymous call only when a published keyless plan
//! admits it, whichever credentialed plans it has and however it was published; a key is admitted
//! only where its own plan is; a refused call is counted once, whatever the number of plans.

use reqwest::Method;
use serde_json::{Value, json};

use crate::support::upstream::Upstream;
use crate::support::{Gateway, json, keyless_plan};

fn plan(id: &str, mode: &str, config: Value) -> Value {
    json!({"id": id, "name": id, "status": "published",
           "access_mode_configuration_type": mode, "access_mode_configuration": config})
}

/// A staging API on `host` whose only flow names no plan, with `plans`.
fn api(id: &str, host: &str, up: &Upstream, plans: Value) -> Value {
    json!({"id": id, "name": id, "domain": host, "state": "staging",
           "backends": [{"id": "b", "backend": {"targets": [up.target()]}}],
           "routes": [{"id": "all", "frontend": {"domains": ["/"]}, "backend": "b"}],
           "documentation": {"plans": plans}})
}

/// One plan of each credentialed access mode. The jwt verifier says `strict: false` (pass without
/// a token), which a plan must not honour.
fn credentialed() -> Vec<(&'static str, Value)> {
    let hs = json!({"verifier": {
        "strict": false,
        "algoSettings": {"type": "HSAlgoSettings", "size": 256, "secret": "hs-secret"}}});
    let jwks = json!({"verifier": {
        "algoSettings": {"type": "JWKSAlgoSettings", "url": "https://issuer.test/jwks.json"}}});
    vec![
        ("apikey", plan("p", "apikey", json!({}))),
        ("jwt", plan("p", "jwt", hs)),
        (
            "mtls",
            plan("p", "mtls", json!({"regex_subject_dns": ["CN=partner"]})),
        ),
        ("oauth2-local", plan("p", "oauth2-local", json!({}))),
        ("oauth2-remote", plan("p", "oauth2-remote", jwks)),
    ]
}

#[test]
fn published_apis_with_only_credentialed_plans_refuse_anonymous_calls() {
    let up = Upstream::start("closed");
    let gw = Gateway::start();
    for (mode, plan) in credentialed() {
        for by_action in [false, true] {
            let id = format!("{}_{}", mode.replace('-', "_"), by_action);
            let host = format!("{id}.test");
            gw.create("apis", &api(&id, &host, &up, json!([plan])));
            let status = if by_action {
                gw.post(&format!("/api/apis/{id}/_publish"), &json!({}))
                    .status()
            } else {
                gw.patch(&format!("/api/apis/{id}"), &json!({"state": "published"}))
                    .status()
            };
            assert_eq!(status, 200, "{id} published");
            let resp = gw.proxy_get(&host, "/orders/list");
            let status = resp.status().as_u16();
            let body = resp.text().unwrap();
            assert!(
                [400, 401, 403].contains(&status),
                "{mode} (published by {}): {status} {body}",
                if by_action { "the action" } else { "PATCH" }
            );
        }
    }
    let hits = up.hits();
    // A published keyless plan opens it again; a closed one does not.
    let mut closed = keyless_plan();
    closed["status"] = json!("closed");
    gw.patch(
        "/api/apis/apikey_false",
        &json!({"documentation": {"plans": [plan("p", "apikey", json!({})), closed]}}),
    );
    assert_eq!(
        gw.proxy_get("apikey_false.test", "/").status(),
        400,
        "no key"
    );
    gw.patch(
        "/api/apis/apikey_false",
        &json!({"documentation": {"plans": [plan("p", "apikey", json!({})), keyless_plan()]}}),
    );
    gw.wait_status("apikey_false.test", "/orders/list", 200);
    assert_eq!(
        up.hits(),
        hits + 1,
        "only the opened API reached the backend"
    );
    // With no plan at all, nothing is served.
    gw.create("apis", &api("bare", "bare.test", &up, json!([])));
    let (status, answer) = json(gw.patch("/api/apis/bare", &json!({"state": "published"})));
    assert_eq!(status, 200);
    assert_eq!(
        answer["warnings"][0]["path"], "flows[0].consumers",
        "publishing says the API admits nobody: {answer}"
    );
    let (status, body) = json(gw.proxy_get("bare.test", "/"));
    assert_eq!((status, &body["error"]), (403, &json!("errors.no.plan")));
}

/// Two keyed plans; `gold` alone admits `/gold`, both admit `/any`.
fn two_plan_api(gw: &Gateway, up: &Upstream) {
    let mut doc = api(
        "shop",
        "shop.test",
        up,
        json!([
            plan("free", "apikey", json!({})),
            plan("gold", "apikey", json!({}))
        ]),
    );
    doc["state"] = json!("published");
    doc["flows"] = json!([
        {"id": "default_plugin_chain", "plugins": {"slots": []}},
        {"id": "gold_only", "consumers": ["gold"], "plugins": {"slots": []}}
    ]);
    doc["routes"] = json!([
        {"id": "any", "frontend": {"domains": ["/any"]}, "backend": "b"},
        {"id": "gold", "frontend": {"domains": ["/gold"]}, "backend": "b", "flow_ref": "gold_only"}
    ]);
    gw.create("apis", &doc);
}

fn call(gw: &Gateway, path: &str, id: &str, secret: &str) -> reqwest::blocking::Response {
    gw.call(Method::GET, "shop.test", path)
        .header("otoroshi-client-id", id)
        .header("otoroshi-client-secret", secret)
        .send()
        .unwrap()
}

#[test]
fn a_key_is_admitted_only_where_its_plan_is() {
    let up = Upstream::start("plans");
    let gw = Gateway::start();
    two_plan_api(&gw, &up);
    for (id, plan) in [("free-key", "free"), ("gold-key", "gold")] {
        gw.create(
            "apikeys",
            &json!({"clientId": id, "clientSecret": format!("{id}-secret"),
                    "authorizedEntities": ["api_shop"], "metadata": {"plan_ref": plan}}),
        );
    }
    gw.wait_status("shop.test", "/any", 400);
    assert_eq!(
        call(&gw, "/any", "free-key", "free-key-secret").status(),
        200
    );
    assert_eq!(
        call(&gw, "/gold", "gold-key", "gold-key-secret").status(),
        200
    );
    let hits = up.hits();
    let (status, body) = json(call(&gw, "/gold", "free-key", "free-key-secret"));
    assert_eq!(
        (status, &body["error"]),
        (400, &json!("errors.invalid.api.key.tuple")),
        "a free key on the gold route"
    );
    assert_eq!(up.hits(), hits);
    let (_, q) = json(gw.get("/api/apikeys/free-key/quotas"));
    assert_eq!(
        q["currentCallsPerDay"], 1,
        "the refused call was not counted"
    );
}

#[test]
fn a_refused_call_counts_once_whatever_the_number_of_plans() {
    let up = Upstream::start("once");
    let gw = Gateway::start();
    two_plan_api(&gw, &up);
    gw.create(
        "apikeys",
        &json!({"clientId": "q", "clientSecret": "q-secret", "authorizedEntities": ["api_shop"],
                "dailyQuota": 2}),
    );
    gw.wait_status("shop.test", "/any", 400);
    let statuses: Vec<(u16, Vec<String>)> = (0..4)
        .map(|_| {
            let r = call(&gw, "/any", "q", "q-secret");
            let remaining = r
                .headers()
                .get_all("otoroshi-daily-calls-remaining")
                .iter()
                .map(|v| v.to_str().unwrap().to_string())
                .collect();
            (r.status().as_u16(), remaining)
        })
        .collect();
    assert_eq!(
        statuses,
        [
            (200, vec!["1".to_string()]),
            (200, vec!["0".to_string()]),
            (429, vec!["0".to_string()]),
            (429, vec!["0".to_string()]),
        ]
    );
    let (_, q) = json(gw.get("/api/apikeys/q/quotas"));
    assert_eq!(q["currentCallsPerDay"], 4, "each call once: {q}");
}

#[test]
fn a_plans_validation_is_understood_or_refused_never_read_as_auto() {
    let up = Upstream::start("manual");
    let gw = Gateway::start();
    let mut manual = plan("p", "apikey", json!({}));
    manual["validation"] = json!("manual");
    let mut doc = api("m", "m.test", &up, json!([manual]));
    doc["state"] = json!("published");
    doc["clients"] = json!([{"id": "acme", "name": "ACME"}]);
    let stored = gw.create("apis", &doc);
    assert_eq!(
        stored["documentation"]["plans"][0]["validation"],
        json!({"kind": "manual"}),
        "the short form is the kind"
    );
    let sub = gw.create(
        "api-subscriptions",
        &json!({"api_ref": "m", "plan_ref": "p", "owner_ref": "acme"}),
    );
    assert_eq!(sub["status"], "pending", "{sub}");
    // A misspelt kind, a webhook without a URL, a target protocol nobody speaks: refused, named.
    let before = json(gw.get("/api/apis/m")).1;
    for (patch, path) in [
        (
            json!({"documentation": {"plans": [{"id": "p", "validation": "manaul"}]}}),
            "documentation.plans[0].validation.kind",
        ),
        (
            json!({"documentation": {"plans": [{"id": "p", "validation": {"kind": "webhook"}}]}}),
            "documentation.plans[0].validation.config.url",
        ),
        (
            json!({"documentation": {"plans": [{"id": "p", "visibility": 3}]}}),
            "documentation.plans[0].visibility",
        ),
        (
            json!({"backends": [{"id": "b", "backend": {"targets": [
                {"hostname": "127.0.0.1", "port": 1, "protocol": "HTTP/2"}]}}]}),
            "backends[0].backend.targets[0].protocol",
        ),
    ] {
        let (status, body) = json(gw.patch("/api/apis/m", &patch));
        assert_eq!(status, 400, "{patch}: {body}");
        assert!(
            crate::support::error_paths(&body)
                .iter()
                .any(|p| p.starts_with(path)),
            "{path} in {body}"
        );
    }
    assert_eq!(json(gw.get("/api/apis/m")).1, before, "nothing stored");
}
