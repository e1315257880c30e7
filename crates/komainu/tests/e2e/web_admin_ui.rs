//! The admin UI in a real headless Chromium: sign in, create and publish an API through the
//! forms, call it through the proxy, see its traffic on the dashboard, and an invalid edit shown at
//! its field with nothing stored. The screenshots are the README's.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::support::browser::Browser;
use crate::support::upstream::Upstream;
use crate::support::{ADMIN_ID, ADMIN_SECRET, Gateway, json};

pub fn screenshots() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/screenshots")
}

/// Signs the browser in on the admin UI.
pub fn sign_in(b: &Browser, gw: &Gateway) {
    b.goto(&gw.url("/"));
    b.fill("#f-client_id", ADMIN_ID);
    b.fill("#f-client_secret", ADMIN_SECRET);
    b.click_button("Sign in");
    b.wait_text("main h1", "Dashboard");
}

#[test]
fn an_admin_creates_publishes_and_edits_an_api_in_the_browser() {
    let up = Upstream::start("books");
    let gw = Gateway::start();
    let b = Browser::start();

    b.goto(&gw.url("/"));
    assert!(b.url().ends_with("/ui/signin"), "{}", b.url());
    b.fill("#f-client_id", ADMIN_ID);
    b.fill("#f-client_secret", "not the secret");
    b.click_button("Sign in");
    b.wait_text("[role=alert]", "not the admin credentials");
    sign_in(&b, &gw);

    // Create the API with the form, then publish it.
    b.goto(&gw.url("/ui/apis/new"));
    b.fill("#f-name", "Books");
    b.fill("#f-context_path", "/books");
    b.fill("#f-backend", &format!("http://127.0.0.1:{}", up.port()));
    b.select("#f-access", "keyless");
    b.click_button("Create API");
    b.wait_text("main h1", "Books");
    b.wait_text("main h1 .badge", "staging");
    b.click_button("Publish");
    b.wait_text("main h1 .badge", "published");
    let id = b
        .url()
        .split("/ui/apis/")
        .nth(1)
        .unwrap()
        .split('?')
        .next()
        .unwrap()
        .to_string();

    // It answers through the proxy.
    gw.wait_status("anything.test", "/books/shelf", 200);
    for _ in 0..5 {
        assert_eq!(gw.proxy_get("anything.test", "/books/shelf").status(), 200);
    }
    assert!(up.hits() >= 5);

    // An invalid edit is shown at its field and changes nothing.
    b.goto(&gw.url(&format!("/ui/apis/{id}?section=exposition")));
    b.fill("#f-context_path", "books-without-slash");
    b.click_button("Save");
    let error = b.text("#f-context_path-error");
    assert!(error.contains("must start with"), "{error}");
    assert_eq!(
        b.script("return document.getElementById('f-context_path').getAttribute('aria-invalid')"),
        "true"
    );
    let (_, stored) = json(gw.get(&format!("/api/apis/{id}")));
    assert_eq!(
        stored["context_path"], "/books",
        "the refused edit was not stored"
    );

    // A part edited as JSON with a wrong type: refused, named, nothing stored. The routes say
    // who they let in.
    b.goto(&gw.url(&format!("/ui/apis/{id}?section=routes")));
    assert_eq!(b.text("td.admits"), "Default: anyone");
    b.click("details summary");
    b.fill(
        "#f-json",
        r#"[{"id": "all", "frontend": {"domains": "not a list"}, "backend": "default"}]"#,
    );
    b.click_button("Save routes");
    b.wait_text("[role=alert]", "routes");
    let (_, stored) = json(gw.get(&format!("/api/apis/{id}")));
    assert_eq!(stored["routes"][0]["frontend"]["domains"][0], "/");

    // A plugin from the catalogue, set with its settings form, acts on the next call; a wrong
    // setting is named at its field and nothing is stored.
    b.goto(&gw.url(&format!("/ui/apis/{id}?section=flows")));
    b.select("#add-0", "cp:otoroshi.next.plugins.Redirection");
    b.click_button("Add the plugin");
    b.wait_text("[role=status]", "added");
    b.fill("input[name='cfg.code']", "302");
    b.fill("input[name='cfg.to']", "https://example.com/moved");
    b.click_button("Save settings of cp:otoroshi.next.plugins.Redirection");
    b.wait_text("[role=status]", "saved");
    let started = Instant::now();
    loop {
        let r = gw.proxy_get("anything.test", "/books/shelf");
        if r.status() == 302 {
            assert_eq!(r.headers()["location"], "https://example.com/moved");
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "still {}",
            r.status()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    b.fill("input[name='cfg.code']", "soon");
    b.click_button("Save settings of cp:otoroshi.next.plugins.Redirection");
    assert!(b.text("[id$='-code-error']").contains("whole number"));
    let (_, stored) = json(gw.get(&format!("/api/apis/{id}")));
    let slots = stored["flows"][0]["plugins"]["slots"].as_array().unwrap();
    let redirection = slots
        .iter()
        .find(|s| s["plugin"] == "cp:otoroshi.next.plugins.Redirection")
        .expect("the plugin is still there");
    assert_eq!(redirection["config"]["code"], 302, "{slots:?}");
    b.click_button("Remove cp:otoroshi.next.plugins.Redirection");
    b.wait_text("[role=status]", "removed");
    gw.wait_status("anything.test", "/books/shelf", 200);

    // The testing section sends a call through the gateway with the API's testing header.
    b.goto(&gw.url(&format!("/ui/apis/{id}?section=testing")));
    b.fill("#f-path", "/shelf");
    let hits = up.hits();
    b.click_button("Send with the testing header");
    assert_eq!(b.text("#try-status"), "200");
    assert_eq!(up.hits(), hits + 1);

    // Two deployments compared: the second publishes a new description.
    let patched = gw.patch(
        &format!("/api/apis/{id}"),
        &serde_json::json!({"description": "Second edition"}),
    );
    assert_eq!(patched.status(), 200);
    assert_eq!(
        gw.post(&format!("/api/apis/{id}/_publish"), &serde_json::json!({}))
            .status(),
        200
    );
    let (_, stored) = json(gw.get(&format!("/api/apis/{id}")));
    let deployments = stored["deployments"].as_array().unwrap();
    assert!(deployments.len() >= 2, "{deployments:?}");
    let (first, last) = (
        deployments[0]["id"].as_str().unwrap(),
        deployments[deployments.len() - 1]["id"].as_str().unwrap(),
    );
    b.goto(&gw.url(&format!("/ui/apis/{id}?section=deployments")));
    b.select("#dep-a", first);
    b.select("#dep-b", last);
    b.click_button("Compare");
    assert!(
        b.wait_text("#compare-result", "description")
            .contains("Fields that differ")
    );

    b.goto(&gw.url(&format!("/ui/apis/{id}?section=information")));
    b.screenshot(&screenshots().join("api-page.png"));

    // The dashboard shows the calls, refreshed live.
    b.goto(&gw.url("/ui/"));
    b.wait(&format!("tr[data-api='{id}']"));
    let before: u64 = b
        .text(&format!("tr[data-api='{id}'] .calls"))
        .parse()
        .unwrap();
    for _ in 0..7 {
        gw.proxy_get("anything.test", "/books/shelf");
    }
    // Client faults (4xx) are counted apart from server errors (5xx).
    for _ in 0..3 {
        gw.proxy_get("anything.test", "/books/status/429");
    }
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let now: u64 = b
            .text(&format!("tr[data-api='{id}'] .calls"))
            .parse()
            .unwrap();
        let client: u64 = b
            .text(&format!("tr[data-api='{id}'] .client-errors"))
            .parse()
            .unwrap();
        if now >= before + 10 && client >= 3 {
            assert_eq!(b.text(&format!("tr[data-api='{id}'] .errors")), "0");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the dashboard still shows {now} calls"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(b.text("[data-state=published]"), "1");
    b.screenshot(&screenshots().join("dashboard.png"));

    let errors = b.console_errors();
    assert!(errors.is_empty(), "console errors: {errors:?}");
}
