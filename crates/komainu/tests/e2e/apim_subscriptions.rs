//! API management through the real proxy and admin API (seeds 000–002): plans securing flows,
//! subscriptions issuing keys whose state follows the subscription, its plan and its API, and
//! consumption counted per subscription.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::support::upstream::Upstream;
use crate::support::{Gateway, json};
use reqwest::Method;
use serde_json::{Value, json};

const HOST: &str = "users.test";

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// A published API whose default flow is secured by plan `free` (apikey, 100 calls a day).
fn users_api(up: &Upstream) -> Value {
    json!({
        "id": "users", "name": "Users", "domain": HOST, "context_path": "/v1", "state": "published",
        "backends": [{"id": "b", "backend": {"targets": [up.target()]}}],
        "routes": [{"id": "list", "frontend": {"domains": ["/users"]}, "backend": "b"}],
        "flows": [{"id": "default_plugin_chain", "consumers": ["free"], "plugins": {"slots": []}}],
        "clients": [{"id": "acme", "name": "ACME"}],
        "documentation": {"plans": [{
            "id": "free", "name": "Free", "status": "published",
            "access_mode_configuration_type": "apikey",
            "access_mode_configuration": {
                "clientIdPattern": "${client.id}-${random}", "clientNamePattern": "${client.name} on ${api.name}",
                "dailyQuota": 100, "tags": ["free"], "metadata": {"tier": "free"}
            },
            "pricing": {"id": "p0", "name": "Free", "enabled": true, "price": 0, "currency": "EUR"}
        }]}
    })
}

fn subscribe(gw: &Gateway, id: &str) -> (String, String) {
    let sub = gw.create(
        "api-subscriptions",
        &json!({"id": id, "name": "ACME", "api_ref": "users", "plan_ref": "free", "owner_ref": "acme"}),
    );
    let client_id = sub["token_refs"][0].as_str().unwrap().to_string();
    let (status, key) = json(gw.get(&format!("/api/apikeys/{client_id}")));
    assert_eq!(status, 200, "{key}");
    (client_id, key["clientSecret"].as_str().unwrap().to_string())
}

fn call(gw: &Gateway, key: Option<(&str, &str)>) -> reqwest::blocking::Response {
    let rb = gw.call(Method::GET, HOST, "/v1/users");
    match key {
        Some((id, secret)) => rb.basic_auth(id, Some(secret)),
        None => rb,
    }
    .send()
    .unwrap()
}

/// Polls a keyed call until it answers `status`; the time it took.
fn until(gw: &Gateway, key: (&str, &str), status: u16) -> Duration {
    let started = Instant::now();
    loop {
        let got = call(gw, Some(key)).status().as_u16();
        if got == status {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "still {got}, wanted {status} after a second"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn a_subscription_issues_a_key_that_follows_its_state() {
    let up = Upstream::start("users");
    let gw = Gateway::start();
    gw.create("apis", &users_api(&up));
    gw.wait_status(HOST, "/v1/users", 400);
    let (_, refused) = json(call(&gw, None));
    assert_eq!(refused["error"], "errors.no.api.key");

    // Rules: the owner must be a client of the API, the plan must exist.
    let (status, body) = json(gw.post(
        "/api/api-subscriptions",
        &json!({"api_ref": "users", "plan_ref": "free", "owner_ref": "nobody"}),
    ));
    assert_eq!(
        (status, body["details"][0]["path"].as_str()),
        (400, Some("owner_ref")),
        "{body}"
    );
    let (status, body) = json(gw.post(
        "/api/api-subscriptions",
        &json!({"api_ref": "users", "plan_ref": "gold", "owner_ref": "acme"}),
    ));
    assert_eq!(status, 404, "{body}");
    let (status, _) = json(gw.post(
        "/api/api-subscriptions",
        &json!({"api_ref": "nope", "plan_ref": "free", "owner_ref": "acme"}),
    ));
    assert_eq!(status, 400, "unknown API");

    let before = now_ms();
    let (id, secret) = subscribe(&gw, "sub_acme");
    assert!(id.starts_with("acme-") && id.len() == 5 + 16, "{id}");
    let (_, key) = json(gw.get(&format!("/api/apikeys/{id}")));
    assert_eq!(key["clientName"], "ACME on Users");
    assert_eq!(key["authorizedEntities"], json!(["api_users"]));
    assert_eq!(
        (key["dailyQuota"].as_u64(), key["enabled"].as_bool()),
        (Some(100), Some(true))
    );
    assert_eq!(key["metadata"]["subscription_ref"], "sub_acme");
    let (_, sub) = json(gw.get("/api/api-subscriptions/sub_acme"));
    assert_eq!(
        (sub["status"].as_str(), sub["subscription_kind"].as_str()),
        (Some("enabled"), Some("apikey"))
    );
    for date in ["created_at", "processed_at", "started_at"] {
        assert!(
            sub["dates"][date].as_i64().unwrap() >= before,
            "{date}: {sub}"
        );
    }

    let took = until(&gw, (&id, &secret), 200);
    eprintln!("new subscription usable after {took:?}");
    let ok = call(&gw, Some((&id, &secret)));
    assert_eq!(ok.headers()["otoroshi-daily-calls-remaining"], "98");
    assert_eq!(call(&gw, Some((&id, "wrong"))).status(), 401);

    // Usage: two admitted calls so far, today (the refused one is not counted).
    let (status, usage) = json(gw.get("/api/api-subscriptions/sub_acme/usage"));
    assert_eq!(status, 200, "{usage}");
    assert_eq!(usage["total"], 2, "{usage}");
    assert_eq!(usage["days"][0]["calls"], 2);
    assert_eq!(usage["days"].as_array().unwrap().len(), 1);
    let (_, per_api) = json(gw.get("/api/apis/users/usage"));
    assert_eq!(per_api["total"], 2);
    assert_eq!(per_api["plans"][0]["plan_ref"], "free");
    assert_eq!(
        (
            per_api["plans"][0]["subscriptions"].as_u64(),
            per_api["plans"][0]["total"].as_u64()
        ),
        (Some(1), Some(2))
    );

    // Pause, resume.
    let (_, paused) = json(gw.patch(
        "/api/api-subscriptions/sub_acme",
        &json!({"enabled": false}),
    ));
    assert!(paused["dates"]["paused_at"].is_i64(), "{paused}");
    assert_eq!(paused["status"], "disabled");
    eprintln!(
        "paused → refused after {:?}",
        until(&gw, (&id, &secret), 401)
    );
    let (_, resumed) = json(gw.patch(
        "/api/api-subscriptions/sub_acme",
        &json!({"status": "enabled"}),
    ));
    assert!(
        resumed["dates"]["paused_at"].is_null() && resumed["enabled"] == true,
        "{resumed}"
    );
    until(&gw, (&id, &secret), 200);
    let (_, key_after) = json(gw.get(&format!("/api/apikeys/{id}")));
    assert_eq!(
        key_after["clientSecret"],
        secret.as_str(),
        "the key keeps its secret"
    );

    // An end date in the past ends it; removing it brings it back.
    let past = now_ms() - 1000;
    gw.patch(
        "/api/api-subscriptions/sub_acme",
        &json!({"dates": {"ending_at": past}}),
    );
    until(&gw, (&id, &secret), 401);
    gw.patch(
        "/api/api-subscriptions/sub_acme",
        &json!({"dates": {"ending_at": null}}),
    );
    until(&gw, (&id, &secret), 200);

    // Closing is final.
    let (_, closed) = json(gw.patch(
        "/api/api-subscriptions/sub_acme",
        &json!({"status": "closed"}),
    ));
    assert!(closed["dates"]["closed_at"].is_i64(), "{closed}");
    assert_eq!(closed["status"], "closed");
    until(&gw, (&id, &secret), 401);
    let (status, body) =
        json(gw.patch("/api/api-subscriptions/sub_acme", &json!({"enabled": true})));
    assert_eq!(status, 409, "{body}");
    let (status, _) = json(gw.patch(
        "/api/api-subscriptions/sub_acme",
        &json!({"plan_ref": "other"}),
    ));
    assert_eq!(status, 409, "plan_ref is fixed");

    // Deleting the subscription deletes its key.
    assert_eq!(gw.delete("/api/api-subscriptions/sub_acme").status(), 200);
    assert_eq!(gw.get(&format!("/api/apikeys/{id}")).status(), 404);
    until(&gw, (&id, &secret), 400);
}

#[test]
fn plan_and_api_states_govern_subscriptions() {
    let up = Upstream::start("users");
    let gw = Gateway::start();
    let new_sub = |gw: &Gateway| {
        gw.post(
            "/api/api-subscriptions",
            &json!({"api_ref": "users", "plan_ref": "free", "owner_ref": "acme"}),
        )
        .status()
    };
    let mut staging = users_api(&up);
    staging["state"] = json!("staging");
    gw.create("apis", &staging);
    assert_eq!(new_sub(&gw), 409, "staging API");
    gw.patch(
        "/api/apis/users",
        &json!([{"op": "replace", "path": "/documentation/plans/0/status", "value": "staging"}]),
    );
    gw.patch("/api/apis/users", &json!({"state": "published"}));
    assert_eq!(new_sub(&gw), 409, "staging plan");
    let plan_status = |gw: &Gateway, s: &str| {
        let op = json!([{"op": "replace", "path": "/documentation/plans/0/status", "value": s}]);
        assert_eq!(gw.patch("/api/apis/users", &op).status(), 200);
    };
    plan_status(&gw, "published");
    let (id, secret) = subscribe(&gw, "s1");
    let key = (id.as_str(), secret.as_str());
    until(&gw, key, 200);

    plan_status(&gw, "deprecated");
    assert_eq!(
        new_sub(&gw),
        409,
        "deprecated plans take no new subscriptions"
    );
    until(&gw, key, 200);

    plan_status(&gw, "closed");
    let (_, k) = json(gw.get(&format!("/api/apikeys/{id}")));
    assert_eq!(k["enabled"], false, "a closed plan stops its keys");
    let started = Instant::now();
    let refused = loop {
        let (status, body) = json(call(&gw, Some(key)));
        if status == 403 || started.elapsed() > Duration::from_secs(1) {
            break body;
        }
    };
    assert_eq!(
        refused["error"], "errors.no.plan",
        "the flow's only plan is closed"
    );
    plan_status(&gw, "published");
    until(&gw, key, 200);

    assert_eq!(
        gw.patch("/api/apis/users", &json!({"state": "deprecated"}))
            .status(),
        200
    );
    assert_eq!(new_sub(&gw), 409, "deprecated API");
    until(&gw, key, 200);
    assert_eq!(
        gw.patch("/api/apis/users", &json!({"state": "removed"}))
            .status(),
        200
    );
    gw.wait_status(HOST, "/v1/users", 404);
    let (_, k) = json(gw.get(&format!("/api/apikeys/{id}")));
    assert_eq!(k["enabled"], false, "a removed API stops its keys");
    let (status, body) = json(gw.patch("/api/apis/users", &json!({"state": "published"})));
    assert_eq!(status, 409);
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("removed → published"),
        "{body}"
    );

    assert_eq!(gw.delete("/api/apis/users").status(), 200);
    assert_eq!(
        gw.get("/api/api-subscriptions/s1").status(),
        404,
        "subscriptions go with their API"
    );
    assert_eq!(gw.get(&format!("/api/apikeys/{id}")).status(), 404);
}
