//! The API product between its pieces: a rotated secret keeps working for the plan's grace period
//! and no longer; a rejection carries its reason to the developer; the approval queue says who
//! asks; the portal's example call works as it is written.

use reqwest::Method;
use serde_json::{Value, json};

use crate::security_portal::{browser, csrf_of, signed_up};
use crate::support::upstream::Upstream;
use crate::support::{ADMIN_ID, ADMIN_SECRET, Gateway, Options, json};

const HOST: &str = "orders.test";

/// A published API on `HOST` at `/orders`, a GET route `/list/:page`, an `apikey` plan `free`
/// (rotation grace of one hour) and a `manual` one `gold`.
fn orders_api(up: &Upstream) -> Value {
    let keyed = |id: &str, validation: &str| {
        json!({"id": id, "name": id.to_uppercase(), "status": "published", "validation": validation,
               "access_mode_configuration_type": "apikey",
               "access_mode_configuration": {"rotation": {"gracePeriod": 1}}})
    };
    json!({"id": "orders", "name": "Orders", "domain": HOST, "context_path": "/orders",
           "state": "published",
           "clients": [{"id": "acme", "name": "ACME"}],
           "backends": [{"id": "b", "backend": {"targets": [up.target()]}}],
           "routes": [{"id": "list", "frontend": {"domains": ["/list/:page"], "methods": ["GET"]},
                       "backend": "b"}],
           "documentation": {"enabled": true,
                             "plans": [keyed("free", "auto"), keyed("gold", "manual")]}})
}

fn call(gw: &Gateway, id: &str, secret: &str) -> u16 {
    gw.call(Method::GET, HOST, "/orders/list/1")
        .basic_auth(id, Some(secret))
        .send()
        .unwrap()
        .status()
        .as_u16()
}

#[test]
fn a_rotated_secret_works_for_the_grace_period_then_is_refused() {
    let up = Upstream::start("rotation");
    let gw = Gateway::start_with(Options {
        extra_args: vec!["--testing-clock".into()],
        ..Options::default()
    });
    gw.create("apis", &orders_api(&up));
    let sub = gw.create(
        "api-subscriptions",
        &json!({"id": "s1", "api_ref": "orders", "plan_ref": "free", "owner_ref": "acme"}),
    );
    let id = sub["token_refs"][0].as_str().unwrap().to_string();
    let old = json(gw.get(&format!("/api/apikeys/{id}"))).1["clientSecret"]
        .as_str()
        .unwrap()
        .to_string();
    gw.wait_status(HOST, "/orders/list/1", 400);
    assert_eq!(call(&gw, &id, &old), 200);

    let before = json(gw.put("/api/_testing/clock", &json!({"offset_ms": 0}))).1["now"]
        .as_i64()
        .unwrap();
    let (status, key) = json(gw.post("/api/api-subscriptions/s1/_rotate", &json!({})));
    assert_eq!(status, 200, "{key}");
    let new = key["clientSecret"].as_str().unwrap().to_string();
    assert_ne!(new, old);
    assert_eq!(key["rotation"]["previousSecret"], old.as_str());
    let until = key["previousSecretUntil"].as_i64().unwrap();
    assert!(
        (until - before - 3_600_000).abs() < 60_000,
        "an hour: {key}"
    );
    assert_eq!(call(&gw, &id, &new), 200, "the new secret");
    assert_eq!(
        call(&gw, &id, &old),
        200,
        "the old one, in its grace period"
    );

    // 59 minutes later the old one still works; at 61 it is refused.
    gw.put("/api/_testing/clock", &json!({"offset_ms": 59 * 60_000}));
    assert_eq!(call(&gw, &id, &old), 200);
    gw.put("/api/_testing/clock", &json!({"offset_ms": 61 * 60_000}));
    assert_eq!(call(&gw, &id, &old), 401, "past the grace period");
    assert_eq!(call(&gw, &id, &new), 200);

    // Only an enabled subscription rotates.
    gw.patch("/api/api-subscriptions/s1", &json!({"enabled": false}));
    let (status, body) = json(gw.post("/api/api-subscriptions/s1/_rotate", &json!({})));
    assert_eq!(status, 409, "{body}");
    let (status, _) = json(gw.post("/api/api-subscriptions/nope/_rotate", &json!({})));
    assert_eq!(status, 404);
}

/// Signs the admin UI in over plain HTTP: its session cookie.
fn admin_ui(gw: &Gateway) -> String {
    let r = browser("127.0.0.1")
        .post(gw.url("/ui/signin"))
        .form(&[("client_id", ADMIN_ID), ("client_secret", ADMIN_SECRET)])
        .send()
        .unwrap();
    assert_eq!(r.status(), 303);
    let line = r.headers()["set-cookie"].to_str().unwrap();
    line.split(';').next().unwrap().to_string()
}

#[test]
fn the_queue_says_who_asks_and_a_rejection_tells_the_developer_why() {
    let up = Upstream::start("approval");
    let gw = Gateway::start();
    gw.create("apis", &orders_api(&up));
    let client = browser("127.0.0.2");
    let dev = signed_up(&gw, &client, "grace@example.com");
    let r = client
        .post(format!("{}/apis/orders/subscribe", gw.portal))
        .header("cookie", &dev.cookie)
        .form(&[
            ("csrf", dev.csrf.as_str()),
            ("plan", "gold"),
            ("app", "billing-app"),
        ])
        .send()
        .unwrap();
    assert_eq!(r.status(), 303, "{}", r.text().unwrap());
    let (_, subs) = json(gw.get("/api/api-subscriptions"));
    let sub = subs[0]["id"].as_str().unwrap().to_string();
    assert_eq!(subs[0]["status"], "pending");

    // The queue names the developer, the application, the API and the plan.
    let ui = admin_ui(&gw);
    let admin = browser("127.0.0.1");
    let page = admin
        .get(gw.url("/ui/subscriptions"))
        .header("cookie", &ui)
        .send()
        .unwrap_or_else(|e| panic!("{e}: {}", gw.stderr.lock().unwrap()))
        .text()
        .unwrap();
    let queue = page.split("All others").next().unwrap();
    for shown in ["grace@example.com", "billing-app on GOLD", "Orders", "GOLD"] {
        assert!(queue.contains(shown), "{shown} in the queue: {queue}");
    }
    assert!(
        !queue.contains(&format!(">{sub}<")),
        "not the raw id: {queue}"
    );

    // Rejecting from the UI asks for the reason first and changes nothing until confirmed.
    let reject = gw.url(&format!("/ui/subscriptions/{sub}/reject"));
    let csrf = csrf_of(&page);
    let confirm = admin
        .post(&reject)
        .header("cookie", &ui)
        .form(&[("csrf", csrf.as_str())])
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(confirm.contains("name=\"reason\""), "{confirm}");
    assert_eq!(
        json(gw.get(&format!("/api/api-subscriptions/{sub}"))).1["status"],
        "pending"
    );
    let reason = "Gold is for customers with a contract <b>yet</b>";
    let r = admin
        .post(&reject)
        .header("cookie", &ui)
        .form(&[
            ("csrf", csrf.as_str()),
            ("confirm", "yes"),
            ("reason", reason),
        ])
        .send()
        .unwrap();
    assert_eq!(r.status(), 303);
    let (_, stored) = json(gw.get(&format!("/api/api-subscriptions/{sub}")));
    assert_eq!(stored["status"], "closed");
    assert_eq!(stored["rejection"]["reason"], reason);

    // The developer reads why, escaped.
    let account = client
        .get(format!("{}/account", gw.portal))
        .header("cookie", &dev.cookie)
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(
        account.contains("Gold is for customers with a contract &lt;b&gt;yet&lt;/b&gt;"),
        "{account}"
    );

    // The admin API refuses a reason that is not text, and a second rejection.
    let (status, body) = json(gw.post(
        &format!("/api/api-subscriptions/{sub}/_reject"),
        &json!({"reason": 3}),
    ));
    assert_eq!(
        (status, crate::support::error_paths(&body)),
        (400, vec!["reason".to_string()])
    );
    let (status, _) = json(gw.post(
        &format!("/api/api-subscriptions/{sub}/_reject"),
        &json!({"reason": "again"}),
    ));
    assert_eq!(status, 409);
}

#[test]
fn the_portals_example_calls_work_as_written_and_rotation_is_confirmed() {
    let up = Upstream::start("example");
    let gw = Gateway::start();
    gw.create("apis", &orders_api(&up));
    let client = browser("127.0.0.3");
    let dev = signed_up(&gw, &client, "lin@example.com");
    let r = client
        .post(format!("{}/apis/orders/subscribe", gw.portal))
        .header("cookie", &dev.cookie)
        .form(&[
            ("csrf", dev.csrf.as_str()),
            ("plan", "free"),
            ("app", "shop"),
        ])
        .send()
        .unwrap();
    assert_eq!(r.status(), 303);
    let account = |c: &reqwest::blocking::Client| {
        c.get(format!("{}/account", gw.portal))
            .header("cookie", &dev.cookie)
            .send()
            .unwrap()
            .text()
            .unwrap()
    };
    let page = account(&client);
    let example = page
        .split("<pre class=\"example\">")
        .nth(1)
        .and_then(|p| p.split("</pre>").next())
        .expect("an example call")
        .replace("&#39;", "'")
        .replace("&quot;", "\"")
        .replace("&amp;", "&");
    // Every line is a command that reaches the backend through a real route: the headers form
    // and the Basic form alike.
    for line in example.lines() {
        assert!(line.contains("/orders/list/1"), "{line}");
        let hits = up.hits();
        let out = std::process::Command::new("sh")
            .args(["-c", &format!("{line} -s -o /dev/null -w '%{{http_code}}'")])
            .output()
            .unwrap();
        let status = String::from_utf8_lossy(&out.stdout);
        assert_eq!(status, "200", "{line}");
        assert_eq!(up.hits(), hits + 1, "{line}");
    }

    // Rotation asks first; confirmed, the page says until when the old secret works.
    let sub = json(gw.get("/api/api-subscriptions")).1[0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let rotate = format!("{}/subscriptions/{sub}/rotate", gw.portal);
    let before = json(gw.get("/api/apikeys")).1[0]["clientSecret"].clone();
    let confirm = client
        .post(&rotate)
        .header("cookie", &dev.cookie)
        .form(&[("csrf", dev.csrf.as_str())])
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(confirm.contains("keeps working for 1 hours"), "{confirm}");
    assert_eq!(json(gw.get("/api/apikeys")).1[0]["clientSecret"], before);
    let r = client
        .post(&rotate)
        .header("cookie", &dev.cookie)
        .form(&[("csrf", dev.csrf.as_str()), ("confirm", "yes")])
        .send()
        .unwrap();
    assert_eq!(r.status(), 303);
    let key = &json(gw.get("/api/apikeys")).1[0];
    assert_ne!(key["clientSecret"], before);
    let page = account(&client);
    assert!(
        page.contains("The previous secret still works until"),
        "{page}"
    );
    let id = key["clientId"].as_str().unwrap();
    assert_eq!(call(&gw, id, before.as_str().unwrap()), 200);
    assert_eq!(call(&gw, id, key["clientSecret"].as_str().unwrap()), 200);
}

#[test]
fn a_deprecated_apis_responses_say_so_and_when_it_sunsets() {
    let up = Upstream::start("old");
    let gw = Gateway::start();
    let mut api = orders_api(&up);
    api["documentation"]["plans"][0]["status"] = json!("published");
    api["documentation"]["plans"]
        .as_array_mut()
        .unwrap()
        .push(crate::support::keyless_plan());
    api["flows"] = json!([{"id": "default_plugin_chain", "plugins": {"slots": []}},
                          {"id": "paid", "consumers": ["free"], "plugins": {"slots": []}}]);
    api["routes"]
        .as_array_mut()
        .unwrap()
        .push(json!({"id": "paid", "frontend": {"domains": ["/paid"]}, "backend": "b", "flow_ref": "paid"}));
    gw.create("apis", &api);
    let r = gw.proxy_get(HOST, "/orders/list/1");
    assert_eq!(r.status(), 200);
    assert!(r.headers().get("deprecation").is_none(), "published");

    let (status, body) = json(gw.patch(
        "/api/apis/orders",
        &json!({"state": "deprecated", "metadata": {"sunset": "next summer"}}),
    ));
    assert_eq!(
        (status, crate::support::error_paths(&body)),
        (400, vec!["metadata.sunset".to_string()])
    );
    let now_s = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let (status, stored) = json(gw.patch(
        "/api/apis/orders",
        &json!({"state": "deprecated", "metadata": {"sunset": "2027-06-30"}}),
    ));
    assert_eq!(status, 200, "{stored}");
    let r = gw.proxy_get(HOST, "/orders/list/1");
    assert_eq!(r.status(), 200);
    let h = r.headers();
    let deprecation = h["deprecation"].to_str().unwrap();
    let at: i64 = deprecation.trim_start_matches('@').parse().unwrap();
    assert!((at - now_s).abs() <= 5, "{deprecation}");
    assert_eq!(h["sunset"], "Wed, 30 Jun 2027 00:00:00 GMT");
    let link = h["link"].to_str().unwrap();
    assert!(
        link.starts_with("<http://localhost:")
            && link.contains(&format!(
                ":{}/apis/orders>",
                gw.portal.rsplit(':').next().unwrap()
            ))
            && link.contains("rel=\"deprecation\""),
        "{link}"
    );
    // A refusal says it too, and a later write keeps the moment it was deprecated.
    let r = gw.proxy_get(HOST, "/orders/paid");
    assert_eq!(r.status(), 400, "no key");
    assert_eq!(r.headers()["deprecation"], deprecation);
    gw.patch(
        "/api/apis/orders",
        &json!({"description": "still here", "deprecated_at": 1}),
    );
    let (_, again) = json(gw.get("/api/apis/orders"));
    assert_eq!(again["deprecated_at"], stored["deprecated_at"]);
}

#[test]
fn deployments_compare_and_roll_back() {
    let up = Upstream::start("deploy");
    let gw = Gateway::start();
    let mut api = orders_api(&up);
    api["description"] = json!("first");
    api["documentation"]["plans"]
        .as_array_mut()
        .unwrap()
        .push(crate::support::keyless_plan());
    gw.create("apis", &api);
    gw.patch("/api/apis/orders", &json!({"description": "second"}));
    assert_eq!(
        gw.post("/api/apis/orders/_publish", &json!({})).status(),
        200
    );
    let (_, stored) = json(gw.get("/api/apis/orders"));
    let ids: Vec<String> = stored["deployments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(ids.len(), 2, "{stored}");
    let diff = |from: &str, to: &str| {
        json(gw.get(&format!(
            "/api/apis/orders/deployments/_diff?from={from}&to={to}"
        )))
    };
    assert_eq!(
        diff(&ids[0], &ids[1]),
        (
            200,
            json!([{"op": "replace", "path": "/description", "value": "second"}])
        )
    );
    assert_eq!(diff(&ids[1], &ids[1]), (200, json!([])));
    assert_eq!(diff(&ids[0], "nope").0, 404);

    let (status, rolled) = json(gw.post(
        &format!("/api/apis/orders/deployments/{}/_rollback", ids[0]),
        &json!({}),
    ));
    assert_eq!(status, 200, "{rolled}");
    assert_eq!(rolled["description"], "first");
    assert_eq!(rolled["state"], "published");
    let history = rolled["deployments"].as_array().unwrap();
    assert_eq!(history.len(), 3, "recorded, earlier ones kept");
    assert_eq!(history[2]["apiDefinition"]["description"], "first");
    assert_eq!(gw.proxy_get(HOST, "/orders/list/1").status(), 200);
    let (status, _) = json(gw.post("/api/apis/orders/deployments/nope/_rollback", &json!({})));
    assert_eq!(status, 404);
    // A deprecated API is not brought back by a rollback.
    gw.patch("/api/apis/orders", &json!({"state": "deprecated"}));
    let (status, _) = json(gw.post(
        &format!("/api/apis/orders/deployments/{}/_rollback", ids[1]),
        &json!({}),
    ));
    assert_eq!(status, 409);
}

#[test]
fn destructive_ui_actions_take_effect_only_once_confirmed() {
    let up = Upstream::start("confirm");
    let gw = Gateway::start();
    gw.create("apis", &orders_api(&up));
    gw.create(
        "apikeys",
        &json!({"clientId": "doomed", "clientSecret": "doomed-secret", "authorizedEntities": ["api_orders"]}),
    );
    let ui = admin_ui(&gw);
    let admin = browser("127.0.0.1");
    let page = admin
        .get(gw.url("/ui/entities/apikeys/doomed"))
        .header("cookie", &ui)
        .send()
        .unwrap()
        .text()
        .unwrap();
    let csrf = csrf_of(&page);
    let post = |path: &str, form: &[(&str, &str)]| {
        let mut fields = vec![("csrf", csrf.as_str())];
        fields.extend_from_slice(form);
        admin
            .post(gw.url(path))
            .header("cookie", &ui)
            .form(&fields)
            .send()
            .unwrap()
    };
    // Deleting a key asks first.
    let asked = post("/ui/entities/apikeys/doomed/delete", &[]);
    assert_eq!(asked.status(), 200);
    assert!(asked.text().unwrap().contains("Delete Apikey doomed?"));
    assert_eq!(gw.get("/api/apikeys/doomed").status(), 200, "still there");
    let done = post("/ui/entities/apikeys/doomed/delete", &[("confirm", "yes")]);
    assert_eq!(done.status(), 303);
    assert_eq!(gw.get("/api/apikeys/doomed").status(), 404);

    // Replacing everything on import asks first, and carries the document through.
    let (_, export) = json(gw.get("/api/export"));
    let mut emptier = export.clone();
    emptier["apis"] = json!([]);
    let document = emptier.to_string();
    let asked = post(
        "/ui/transfer/import",
        &[("mode", "replace"), ("document", &document)],
    );
    assert!(
        asked
            .text()
            .unwrap()
            .contains("Replace everything with this document?")
    );
    assert_eq!(
        gw.get("/api/apis/orders").status(),
        200,
        "nothing replaced yet"
    );
    let done = post(
        "/ui/transfer/import",
        &[
            ("mode", "replace"),
            ("document", &document),
            ("confirm", "yes"),
        ],
    );
    assert_eq!(done.status(), 200);
    assert_eq!(gw.get("/api/apis/orders").status(), 404, "replaced");
}
