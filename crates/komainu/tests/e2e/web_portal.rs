//! The developer portal in a real headless Chromium: the catalogue, documentation pages whose
//! injected script never runs, plans as their status and visibility say, sign-up, self-service
//! subscription issuing credentials that work through the proxy, usage, and manual approval.

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{Value, json};

use crate::support::browser::Browser;
use crate::support::upstream::Upstream;
use crate::support::{Gateway, json as read};
use crate::web_admin_ui::{screenshots, sign_in};

const HOST: &str = "weather.test";

fn plan(id: &str, status: &str, extra: Value) -> Value {
    let mut p = json!({
        "id": id, "name": id.to_uppercase(), "status": status,
        "description": format!("The {id} plan"),
        "access_mode_configuration_type": "apikey",
        "access_mode_configuration": {"dailyQuota": 100},
        "pricing": {"enabled": true, "price": 9.5, "currency": "EUR", "name": "per month"},
    });
    for (k, v) in extra.as_object().unwrap() {
        p[k] = v.clone();
    }
    p
}

fn weather_api(up: &Upstream) -> Value {
    json!({
        "id": "weather", "name": "Weather", "description": "Forecasts by city",
        "domain": HOST, "context_path": "/v1", "state": "published",
        "backends": [{"id": "b", "backend": {"targets": [up.target()]}}],
        "routes": [{"id": "all", "frontend": {"domains": ["/"]}, "backend": "b"}],
        "flows": [{"id": "default_plugin_chain", "consumers": ["basic", "gold"], "plugins": {"slots": []}}],
        "documentation": {
            "enabled": true,
            "home": {"text_content": "# Weather {#top onmouseover=window.__pwned=4 data-refresh=/apis/weather/pages/guide}\n\nForecasts.<script>window.__pwned = 1</script>\n\n<img src=x onerror=\"window.__pwned = 2\">\n\n[click](javascript:window.__pwned=3)"},
            "resources": [
                {"path": ["guide"], "title": "Guide", "text_content": "## Cities\n\nAsk for *Paris*."},
                {"path": ["reference"], "title": "Reference", "content_type": "application/json", "json_content": {
                    "openapi": "3.0.3", "info": {"title": "Weather"},
                    "paths": {"/forecast": {"get": {"summary": "A forecast", "parameters": [{"name": "city", "in": "query", "required": true, "schema": {"type": "string"}}], "responses": {"200": {"description": "The forecast"}}}}}
                }}
            ],
            "plans": [
                plan("basic", "published", json!({})),
                plan("gold", "published", json!({"validation": {"kind": "manual"}})),
                plan("legacy", "deprecated", json!({})),
                plan("old", "closed", json!({})),
                plan("secret", "published", json!({"visibility": {"kind": "private"}})),
            ],
        },
    })
}

fn call(gw: &Gateway, id: &str, secret: &str) -> u16 {
    gw.call(Method::GET, HOST, "/v1/forecast")
        .header("Otoroshi-Client-Id", id)
        .header("Otoroshi-Client-Secret", secret)
        .send()
        .unwrap()
        .status()
        .as_u16()
}

#[test]
fn a_developer_signs_up_subscribes_and_calls_the_api() {
    let up = Upstream::start("weather");
    let gw = Gateway::start();
    gw.create("apis", &weather_api(&up));
    let b = Browser::start();

    // The catalogue and the API's pages.
    b.goto(&gw.portal);
    b.wait_text("main", "Weather");
    b.goto(&format!("{}/apis/weather", gw.portal));
    b.wait_text(".doc h1", "Weather");
    assert_eq!(b.script("return typeof window.__pwned"), "undefined");
    // Heading attributes keep an id and classes only: no handler, no live fragment to inject.
    assert_eq!(
        b.script("return String(document.querySelectorAll('.doc [onmouseover], .doc [data-refresh]').length)"),
        "0"
    );
    assert_eq!(
        b.script("return document.querySelector('.doc h1').id"),
        "top"
    );
    let page = b.source();
    assert!(page.contains("&lt;script&gt;"), "raw HTML is shown as text");
    assert!(
        !page.contains("javascript:"),
        "script links lose their target"
    );
    let plans = b.text("#plans + .cards");
    assert!(plans.contains("BASIC") && plans.contains("GOLD") && plans.contains("LEGACY"));
    for hidden in ["old", "secret"] {
        let gone = format!("return document.querySelector('[data-plan={hidden}]') === null");
        assert_eq!(b.script(&gone), true, "plan {hidden} is not shown: {plans}");
    }
    assert!(b.text("[data-plan=legacy]").contains("deprecated"));
    // A card says what the plan gives: access, quotas in words, price, approval.
    let basic = b.text("[data-plan=basic] .offer");
    for said in [
        "An API key",
        "100 calls a day",
        "9.5 EUR · per month",
        "Immediate",
    ] {
        assert!(basic.contains(said), "{said} in {basic}");
    }
    assert!(
        b.text("[data-plan=gold] .offer")
            .contains("By the API's team")
    );
    b.screenshot(&screenshots().join("portal-api.png"));
    b.goto(&format!("{}/apis/weather/pages/guide", gw.portal));
    b.wait_text(".doc h2", "Cities");

    // Sign up, subscribe to Basic, and read the credentials.
    b.goto(&format!("{}/signup", gw.portal));
    b.fill("#f-email", "ada@example.com");
    b.fill("#f-name", "Ada");
    b.fill("#f-password", "correct horse battery");
    b.click_button("Create the account");
    // The same answer for a new address and a known one: sign in next.
    b.wait_text("main", "it has one now: sign in");
    b.fill("#f-email", "ada@example.com");
    b.fill("#f-password", "correct horse battery");
    b.click_button("Sign in");
    b.wait_text("main h1", "My subscriptions");
    b.goto(&format!("{}/apis/weather", gw.portal));
    b.fill("#f-app-basic", "forecaster");
    b.click_button("Subscribe to BASIC");
    b.wait_text("main h1", "My subscriptions");
    let card = "section[data-subscription]";
    b.wait_text(card, "enabled");
    b.wait_text(&format!("{card} h2"), "forecaster on BASIC");
    let client_id = b.text(&format!("{card} code[id^=cid-]"));
    let secret = b.text(&format!("{card} code[id^=secret-]"));
    assert!(!client_id.is_empty() && secret.len() >= 32);
    for _ in 0..3 {
        assert_eq!(call(&gw, &client_id, &secret), 200);
    }

    // Usage shows the calls.
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        b.goto(&format!("{}/account", gw.portal));
        if b.text(".usage-total") == "3" {
            break;
        }
        assert!(Instant::now() < deadline, "usage never showed the 3 calls");
        std::thread::sleep(Duration::from_millis(200));
    }
    // Calls left in words: the day's quota counts down, the windows without one say so.
    let quotas = b.text(".quotas");
    assert!(
        quotas.contains("3 of 100 calls used") && quotas.contains("97 left"),
        "{quotas}"
    );
    assert!(
        quotas.contains("no limit") && !quotas.contains("10000000"),
        "{quotas}"
    );
    b.screenshot(&screenshots().join("portal.png"));

    // Rotating the secret, once confirmed: the new one works, and the old one for the plan's
    // grace period, which the page says.
    b.click_button("Rotate the secret");
    b.wait_text("main h1", "Rotate the secret?");
    b.click_button("Rotate the secret");
    b.wait_text("main h1", "My subscriptions");
    let rotated = b.text(&format!("{card} code[id^=secret-]"));
    assert_ne!(rotated, secret);
    b.wait_text(&format!("{card} .previous-secret"), "still works until");
    let started = Instant::now();
    while call(&gw, &client_id, &rotated) != 200 {
        assert!(started.elapsed() < Duration::from_secs(5));
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(call(&gw, &client_id, &secret), 200, "in its grace period");

    // The reference, and "try it" through the gateway with the new credentials.
    b.goto(&format!("{}/apis/weather/reference", gw.portal));
    b.wait_text("main", "Operations (1)");
    b.goto(&format!("{}/apis/weather/reference/Operations", gw.portal));
    b.wait_text("main", "A forecast");
    assert!(b.text("main table").contains("city"));
    b.click("#get-forecast details.try summary");
    b.fill("#f-path-get-forecast", "/forecast?city=Paris");
    let hits = up.hits();
    b.click_button("Send GET /forecast");
    assert_eq!(b.text("#try-status"), "200");
    assert_eq!(up.hits(), hits + 1);

    // Gold needs the API team's approval: pending until approved in the admin UI.
    b.goto(&format!("{}/apis/weather", gw.portal));
    b.fill("#f-app-gold", "forecaster");
    b.click_button("Subscribe to GOLD");
    b.wait_text("main", "Waiting for the API's team to approve it");
    let (_, subs) = read(gw.get("/api/api-subscriptions"));
    let gold = subs
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["plan_ref"] == "gold")
        .unwrap()
        .clone();
    assert_eq!(gold["status"], "pending");
    let gold_key = gold["token_refs"][0].as_str().unwrap();
    let (_, key) = read(gw.get(&format!("/api/apikeys/{gold_key}")));
    let gold_secret = key["clientSecret"].as_str().unwrap().to_string();
    assert_ne!(
        call(&gw, gold_key, &gold_secret),
        200,
        "a pending subscription's key does not work"
    );
    sign_in(&b, &gw);
    b.goto(&gw.url("/ui/subscriptions"));
    b.click(&format!(
        "tr[data-subscription='{}'] button",
        gold["id"].as_str().unwrap()
    ));
    // The page's heading says "Waiting for approval" before the click lands too: wait for
    // the approval itself.
    crate::support::until("the approval", || {
        let (_, approved) = read(gw.get(&format!(
            "/api/api-subscriptions/{}",
            gold["id"].as_str().unwrap()
        )));
        (approved["status"] == "enabled").then_some(())
    });
    let started = Instant::now();
    while call(&gw, gold_key, &gold_secret) != 200 {
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "approved, yet the key is refused"
        );
        std::thread::sleep(Duration::from_millis(20));
    }

    // The account is in the admin API, without its password hash.
    let (_, accounts) = read(gw.get("/api/developers"));
    let ada = &accounts[0];
    assert_eq!(ada["email"], "ada@example.com");
    assert!(ada.get("password_hash").is_none(), "{ada}");
    let (_, one) = read(gw.get(&format!("/api/developers/{}", ada["id"].as_str().unwrap())));
    assert!(one.get("password_hash").is_none(), "{one}");
    let (_, export) = read(gw.get("/api/export"));
    let hash = export["developers"][0]["password_hash"]
        .as_str()
        .unwrap_or_default();
    assert!(
        hash.starts_with("$argon2id$"),
        "stored as an Argon2 hash: {hash}"
    );

    let errors = b.console_errors();
    assert!(errors.is_empty(), "console errors: {errors:?}");
}

/// A webhook answering by application name: `accept-*` accepted, `refuse-*` refused with a
/// reason, anything else a 500. Returns its URL and what it was asked.
fn decider() -> (String, std::sync::Arc<std::sync::Mutex<Vec<Value>>>) {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/decide", listener.local_addr().unwrap());
    let asked = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let log = asked.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut buf = vec![0u8; 65536];
            let mut got = 0;
            let body = loop {
                let n = stream.read(&mut buf[got..]).unwrap_or(0);
                got += n;
                let text = String::from_utf8_lossy(&buf[..got]).to_string();
                if let Some((head, body)) = text.split_once("\r\n\r\n") {
                    let len = head
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase()
                                .strip_prefix("content-length:")
                                .map(|v| v.trim().parse::<usize>().unwrap())
                        })
                        .unwrap_or(0);
                    if body.len() >= len || n == 0 {
                        break body.to_string();
                    }
                }
                if n == 0 {
                    break String::new();
                }
            };
            let question: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
            let app = question["application"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            log.lock().unwrap().push(question);
            let (status, answer) = if app.starts_with("accept") {
                ("200 OK", r#"{"accepted": true}"#)
            } else if app.starts_with("refuse") {
                ("200 OK", r#"{"accepted": false, "reason": "not for bots"}"#)
            } else {
                ("500 Internal Server Error", "{}")
            };
            let _ = write!(
                stream,
                "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{answer}",
                answer.len()
            );
        }
    });
    (url, asked)
}

#[test]
fn a_plans_webhook_decides_subscriptions() {
    let up = Upstream::start("weather");
    let gw = Gateway::start();
    let (url, asked) = decider();
    let mut api = weather_api(&up);
    api["documentation"]["plans"] = json!([plan(
        "basic",
        "published",
        json!({"validation": {"kind": "webhook", "config": {"url": url, "headers": {"x-team": "weather"}}}})
    )]);
    api["flows"][0]["consumers"] = json!(["basic"]);
    gw.create("apis", &api);
    let http = reqwest::blocking::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let signup = http
        .post(format!("{}/signup", gw.portal))
        .form(&[
            ("email", "bot@example.com"),
            ("password", "long enough password"),
        ])
        .send()
        .unwrap();
    assert_eq!(signup.status(), 303);
    let signin = http
        .post(format!("{}/signin", gw.portal))
        .form(&[
            ("email", "bot@example.com"),
            ("password", "long enough password"),
        ])
        .send()
        .unwrap();
    assert_eq!(signin.status(), 303);
    let cookie = signin.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    let account = http
        .get(format!("{}/account", gw.portal))
        .header("cookie", &cookie)
        .send()
        .unwrap()
        .text()
        .unwrap();
    let at = account.find("name=\"csrf\" value=\"").unwrap() + 19;
    let csrf = account[at..].split('"').next().unwrap().to_string();
    let subscribe = |app: &str| {
        http.post(format!("{}/apis/weather/subscribe", gw.portal))
            .header("cookie", &cookie)
            .form(&[("plan", "basic"), ("app", app), ("csrf", csrf.as_str())])
            .send()
            .unwrap()
    };
    let statuses = || -> Vec<(String, String)> {
        let (_, subs) = read(gw.get("/api/api-subscriptions"));
        subs.as_array()
            .unwrap()
            .iter()
            .map(|s| {
                (
                    s["owner_ref"].as_str().unwrap().to_string(),
                    s["status"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    };

    let refused = subscribe("refuse-bot");
    assert_eq!(refused.status(), 403);
    assert!(refused.text().unwrap().contains("not for bots"));
    assert!(
        statuses().is_empty(),
        "a refused subscription is not stored"
    );

    assert_eq!(subscribe("accept-app").status(), 303);
    assert_eq!(subscribe("undecided-app").status(), 303);
    let mut got = statuses();
    got.sort();
    assert_eq!(got.len(), 2, "{got:?}");
    assert!(
        got[0].0.ends_with("accept-app") && got[0].1 == "enabled",
        "{got:?}"
    );
    assert!(
        got[1].0.ends_with("undecided-app") && got[1].1 == "pending",
        "{got:?}"
    );
    let asked = asked.lock().unwrap();
    assert_eq!(asked.len(), 3);
    assert_eq!(asked[0]["developer"]["email"], "bot@example.com");
    assert_eq!(asked[0]["plan"], "basic");
}
