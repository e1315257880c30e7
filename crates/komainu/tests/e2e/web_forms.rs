//! The admin UI without JSON: an API built from the new-API form, a route, a plan turned into an
//! API-key plan with a quota, a second backend target (a row added without script), published,
//! a key created with its own quota and called — every value typed into a form field generated
//! from the schemas, none into a JSON editor. Then the defects that misled: a duplicate name, the
//! client settings tab, the current tab's marker.

use crate::support::browser::Browser;
use crate::support::upstream::Upstream;
use crate::support::{Gateway, json};
use crate::web_admin_ui::{screenshots, sign_in};
use reqwest::Method;

/// Types `value` into the field at `css`, which must not be a JSON editor.
fn type_in(b: &Browser, css: &str, value: &str) {
    b.wait(css);
    let label = b.script(&format!(
        "const e = document.querySelector({css:?}); return e.labels && e.labels[0] ? e.labels[0].textContent : '';"
    ));
    let label = label.as_str().unwrap_or_default();
    assert!(!label.contains("JSON"), "{css} is a JSON editor ({label})");
    b.fill(css, value);
}

fn api_id(b: &Browser) -> String {
    let url = b.url();
    let rest = url.split("/ui/apis/").nth(1).unwrap();
    rest.split('?').next().unwrap().to_string()
}

#[test]
fn an_api_is_built_published_and_called_with_forms_only() {
    let up = Upstream::start("orders");
    let gw = Gateway::start();
    let b = Browser::start();
    sign_in(&b, &gw);
    let backend = format!("http://127.0.0.1:{}", up.port());

    b.goto(&gw.url("/ui/apis/new"));
    type_in(&b, "#f-name", "Orders");
    type_in(&b, "#f-context_path", "/orders");
    type_in(&b, "#f-backend", &backend);
    b.select("#f-access", "keyless");
    b.click_button("Create API");
    b.wait_text("main h1", "Orders");
    let id = api_id(&b);

    // A route from its form.
    b.goto(&gw.url(&format!("/ui/apis/{id}?section=routes&item=new")));
    type_in(&b, "#f-id", "items");
    type_in(&b, "#f-frontend-domains", "/items");
    type_in(&b, "#f-frontend-methods", "GET");
    type_in(&b, "#f-backend", "default");
    b.click_button("Save");
    b.wait_text("[role=status]", "Route saved.");

    // The plan becomes an API-key plan; its key fields then appear, a daily quota among them.
    b.goto(&gw.url(&format!("/ui/apis/{id}?section=plans&item=0")));
    b.select("#f-access_mode_configuration_type", "apikey");
    b.click_button("Save");
    b.wait_text("[role=status]", "Plan saved.");
    b.goto(&gw.url(&format!("/ui/apis/{id}?section=plans&item=0")));
    type_in(&b, "#f-access_mode_configuration-dailyQuota", "1000");
    b.click_button("Save");
    b.wait_text("[role=status]", "Plan saved.");

    // A second target, its row added by a button (no script), then filled.
    b.goto(&gw.url(&format!("/ui/apis/{id}?section=backends&item=0")));
    b.click_button("Add target");
    type_in(&b, "#f-backend-targets-1-hostname", "127.0.0.1");
    type_in(&b, "#f-backend-targets-1-port", &up.port().to_string());
    b.screenshot(&screenshots().join("api-form.png"));
    b.click_button("Save");
    b.wait_text("[role=status]", "Backend saved.");

    // A wrong value is named at its field and nothing is stored.
    b.goto(&gw.url(&format!("/ui/apis/{id}?section=backends&item=0")));
    type_in(&b, "#f-backend-targets-0-port", "70000");
    b.click_button("Save");
    let error = b.wait_text("#f-backend-targets-0-port-error", "");
    assert!(error.contains("65535"), "{error}");

    let (_, api) = json(gw.get(&format!("/api/apis/{id}")));
    let plan = &api["documentation"]["plans"][0];
    assert_eq!(plan["access_mode_configuration_type"], "apikey", "{plan}");
    assert_eq!(
        plan["access_mode_configuration"]["dailyQuota"], 1000,
        "{plan}"
    );
    assert_eq!(api["routes"][1]["frontend"]["methods"][0], "GET");
    assert_eq!(
        api["backends"][0]["backend"]["targets"]
            .as_array()
            .unwrap()
            .len(),
        2
    );

    b.goto(&gw.url(&format!("/ui/apis/{id}?section=information")));
    b.click_button("Publish");
    b.wait_text("main h1 .badge", "published");

    // A key from the key form, authorized on the API, with a daily quota of 2.
    b.goto(&gw.url("/ui/entities/apikeys"));
    type_in(&b, "#f-clientName", "orders-app");
    type_in(&b, "#f-authorizedEntities", &id);
    type_in(&b, "#f-dailyQuota", "2");
    b.click_button("Create Apikey");
    b.wait_text("main h1", "Apikey");
    let field = |name: &str| {
        let v = b.script(&format!(
            "return document.getElementById('f-{name}').value;"
        ));
        v.as_str().unwrap().to_string()
    };
    let (cid, secret) = (field("clientId"), field("clientSecret"));
    let call = || {
        gw.call(Method::GET, "localhost", "/orders/items")
            .basic_auth(&cid, Some(&secret))
            .send()
            .unwrap()
            .status()
            .as_u16()
    };
    assert_eq!(call(), 200);
    assert_eq!(call(), 200);
    assert_eq!(call(), 429, "the key's daily quota, set in its form");

    // The traffic tab: the calls and the refusal, charted; the key among the top consumers.
    b.goto(&gw.url(&format!("/ui/apis/{id}?section=traffic")));
    let total = b.wait_text(".traffic-total", "3 calls");
    assert!(total.contains("1 client errors (4xx)"), "{total}");
    assert_eq!(
        b.script("return document.querySelectorAll('svg.chart').length;"),
        2
    );
    assert!(b.text(".top-keys").contains("orders-app"));
    b.screenshot(&screenshots().join("api-traffic.png"));
}

#[test]
fn the_defects_that_misled_are_gone() {
    let up = Upstream::start("dup");
    let gw = Gateway::start();
    let b = Browser::start();
    sign_in(&b, &gw);
    let backend = format!("http://127.0.0.1:{}", up.port());
    for context in ["/orders", "/other"] {
        b.goto(&gw.url("/ui/apis/new"));
        type_in(&b, "#f-name", "Orders");
        type_in(&b, "#f-context_path", context);
        type_in(&b, "#f-backend", &backend);
        b.click_button("Create API");
        // The first is created (its page shown) before the second is asked for.
        if context == "/orders" {
            b.wait_text("main h1", "Orders");
        }
    }
    b.wait_text("#f-name-error", "named so already");
    let (_, apis) = json(gw.get("/api/apis"));
    assert_eq!(apis.as_array().unwrap().len(), 1, "one Orders");
    b.goto(&gw.url("/ui/apis/new"));
    type_in(&b, "#f-name", "Other orders");
    type_in(&b, "#f-context_path", "/orders");
    type_in(&b, "#f-backend", &backend);
    b.click_button("Create API");
    b.wait_text("#f-context_path-error", "served here already");

    // The client settings tab edits client settings, with one JSON editor on the page, and the
    // current tab is marked.
    let id = apis[0]["id"].as_str().unwrap();
    b.goto(&gw.url(&format!("/ui/apis/{id}?section=clients-config")));
    let count = b.script("return document.querySelectorAll('#f-json').length;");
    assert_eq!(count, 1);
    assert!(!b.source().contains("The API (JSON)"));
    let weight = b.script(
        "return getComputedStyle(document.querySelector('.sections a[aria-current=page]')).fontWeight;",
    );
    assert_eq!(weight, "700");

    // An imported API's `keyless` plan renamed in its form: the flow that admits it follows, in
    // one save (the plans and flows editors used to refuse each other's half of the change).
    let spec = serde_json::json!({"openapi": "3.0.0", "info": {"title": "Pets", "version": "1"},
        "paths": {"/pets": {"get": {}}}});
    let (code, _) = json(gw.post(
        &format!("/api/apis/_openapi?id=pets&backend={backend}"),
        &spec,
    ));
    assert_eq!(code, 201);
    b.goto(&gw.url("/ui/apis/pets?section=plans&item=0"));
    type_in(&b, "#f-id", "free");
    b.click_button("Save");
    b.wait_text("[role=status]", "Plan saved.");
    let (_, pets) = json(gw.get("/api/apis/pets"));
    assert_eq!(pets["documentation"]["plans"][0]["id"], "free");
    assert_eq!(pets["flows"][0]["consumers"], serde_json::json!(["free"]));

    // Signed out, a page asked for is the page landed on after signing in.
    let fresh = Browser::start();
    fresh.goto(&gw.url(&format!("/ui/apis/{id}?section=plans")));
    fresh.fill("#f-client_id", crate::support::ADMIN_ID);
    fresh.fill("#f-client_secret", crate::support::ADMIN_SECRET);
    fresh.click_button("Sign in");
    fresh.wait_text("main h1", "Orders");
    assert!(
        fresh
            .url()
            .ends_with(&format!("/ui/apis/{id}?section=plans")),
        "{}",
        fresh.url()
    );
}

#[test]
fn the_plugin_chain_is_reordered_disabled_scoped_and_its_problems_shown() {
    let up = Upstream::start("chain");
    let gw = Gateway::start();
    gw.create(
        "apis",
        &serde_json::json!({"id": "shop", "name": "Shop", "domain": "shop.test",
            "backends": [{"id": "b", "backend": {"targets": [up.target()]}}],
            "routes": [{"id": "all", "frontend": {"domains": ["/"]}, "backend": "b"}],
            "flows": [{"id": "default_plugin_chain", "consumers": ["gold"], "plugins": {"slots": [
                {"plugin": "cp:otoroshi.next.plugins.AdditionalHeadersIn", "config": {"headers": {"x-a": "1"}}},
                {"plugin": "cp:otoroshi.next.plugins.AdditionalHeadersOut", "config": {"headers": {"x-b": "2"}}}]}}],
            "documentation": {"plans": [
                {"id": "free", "name": "Free", "status": "published", "access_mode_configuration_type": "keyless"},
                {"id": "gold", "name": "Gold", "status": "published", "access_mode_configuration_type": "apikey"}]}}),
    );
    let b = Browser::start();
    sign_in(&b, &gw);
    let stored = || json(gw.get("/api/apis/shop")).1["flows"][0].clone();
    b.goto(&gw.url("/ui/apis/shop?section=flows"));
    b.wait_text(".chain-problems", "No flow admits the plan \"free\"");

    // Reordered: the second plugin moved up.
    b.click("button[aria-label='Move up cp:otoroshi.next.plugins.AdditionalHeadersOut']");
    b.wait_text("[role=status]", "Plugin moved.");
    assert_eq!(
        stored()["plugins"]["slots"][0]["plugin"],
        "cp:otoroshi.next.plugins.AdditionalHeadersOut"
    );

    // Disabled, and said so.
    b.click("button[aria-label='Disable cp:otoroshi.next.plugins.AdditionalHeadersIn']");
    b.wait_text(".chain-problems", "AdditionalHeadersIn is disabled");
    assert_eq!(stored()["plugins"]["slots"][1]["enabled"], false);

    // Scoped to some paths.
    b.click("section[aria-label='Plugin cp:otoroshi.next.plugins.AdditionalHeadersOut'] details summary");
    b.fill("#f-include-0-0", "/admin.*");
    b.click_button("Save the paths of cp:otoroshi.next.plugins.AdditionalHeadersOut");
    b.wait_text("[role=status]", "Paths saved.");
    assert_eq!(
        stored()["plugins"]["slots"][0]["include"],
        serde_json::json!(["/admin.*"])
    );

    // The flow admits both plans: that problem is gone.
    b.click("#c-0-free");
    b.click_button("Save the plans of flow default_plugin_chain");
    b.wait_text("[role=status]", "Plans saved.");
    assert_eq!(stored()["consumers"], serde_json::json!(["free", "gold"]));
    assert!(!b.text(".chain-problems").contains("No flow admits"));
}
