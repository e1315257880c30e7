//! Notifications through real peers: a real SMTP server (aiosmtpd) and a webhook receiver. A
//! developer proves their address by the mailed link, then hears of each approval, rejection,
//! rotation, quota threshold (once per window) and API deprecation and removal (once per
//! developer); a webhook that fails is retried until it acknowledges, and never again after;
//! a forgotten password is reset by a mailed link that works once.

use reqwest::Method;
use serde_json::{Value, json};

use crate::security_portal::{Dev, browser, signed_in};
use crate::support::inbox::{Hook, Smtp};
use crate::support::upstream::Upstream;
use crate::support::{Gateway, Options, json};

const HOST: &str = "news.test";
const DEV: &str = "ines@example.com";

fn gateway(smtp: &Smtp, hook: &Hook) -> Gateway {
    Gateway::start_with(Options {
        extra_args: vec![
            "--notify-webhook".into(),
            hook.url.clone(),
            "--smtp-url".into(),
            smtp.url(),
            "--smtp-from".into(),
            "Komainu APIs <apis@komainu.test>".into(),
        ],
        ..Options::default()
    })
}

fn news_api(up: &Upstream) -> Value {
    let plan = |id: &str, validation: &str, config: Value| {
        json!({"id": id, "name": id.to_uppercase(), "status": "published", "validation": validation,
               "access_mode_configuration_type": "apikey", "access_mode_configuration": config})
    };
    json!({"id": "news", "name": "News", "domain": HOST, "state": "published",
    "backends": [{"id": "b", "backend": {"targets": [up.target()]}}],
    "routes": [{"id": "all", "frontend": {"domains": ["/"]}, "backend": "b"}],
    "documentation": {"enabled": true, "plans": [
        plan("free", "auto", json!({"dailyQuota": 5, "rotation": {"gracePeriod": 2}})),
        plan("gold", "manual", json!({})),
    ]}})
}

/// The link a mail holds to `path` on the portal.
fn link(mail: &Value, path: &str) -> String {
    let body = mail["body"].as_str().unwrap();
    let at = body
        .find(path)
        .unwrap_or_else(|| panic!("{path} in {body}"));
    let start = body[..at].rfind("http").unwrap();
    body[start..].split_whitespace().next().unwrap().to_string()
}

fn subscribe(gw: &Gateway, dev: &Dev, plan: &str, app: &str) -> String {
    let client = browser("127.0.0.4");
    let r = client
        .post(format!("{}/apis/news/subscribe", gw.portal))
        .header("cookie", &dev.cookie)
        .form(&[("csrf", dev.csrf.as_str()), ("plan", plan), ("app", app)])
        .send()
        .unwrap();
    assert_eq!(r.status(), 303, "{}", r.text().unwrap());
    let (_, subs) = json(gw.get("/api/api-subscriptions"));
    subs.as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"].as_str().unwrap().starts_with(app))
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string()
}

/// Signs up on the portal; the account waits for its address proof.
fn sign_up(gw: &Gateway) {
    let r = browser("127.0.0.4")
        .post(format!("{}/signup", gw.portal))
        .form(&[("email", DEV), ("password", "a long passphrase")])
        .send()
        .unwrap();
    assert_eq!(r.status(), 303);
}

#[test]
fn developers_hear_what_happens_to_their_subscriptions_keys_apis_and_quotas() {
    let smtp = Smtp::start();
    // The first webhook call fails: it is retried until acknowledged.
    let hook = Hook::start(1);
    let up = Upstream::start("news");
    let gw = gateway(&smtp, &hook);
    gw.create("apis", &news_api(&up));

    // Sign-up mails a proof; until it is followed, sign-in says so.
    sign_up(&gw);
    let proof = smtp.wait(DEV, "Confirm your e-mail address");
    assert_eq!(proof["header_from"], "Komainu APIs <apis@komainu.test>");
    let client = browser("127.0.0.4");
    let r = client
        .post(format!("{}/signin", gw.portal))
        .form(&[("email", DEV), ("password", "a long passphrase")])
        .send()
        .unwrap();
    assert_eq!(r.status(), 403);
    assert!(
        r.text()
            .unwrap()
            .contains("Confirm your e-mail address first")
    );
    let r = client.get(link(&proof, "/verify?token=")).send().unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().unwrap());
    let dev = signed_in(&gw, &client, DEV);

    // Approval and rejection, with the reason.
    let gold = subscribe(&gw, &dev, "gold", "reader");
    gw.patch(
        &format!("/api/api-subscriptions/{gold}"),
        &json!({"status": "enabled", "enabled": true}),
    );
    let approved = hook.wait("subscription.approved");
    assert_eq!(approved["subscription"]["id"], gold.as_str());
    assert_eq!(approved["developer"]["email"], DEV);
    assert_eq!(approved["api"], json!({"id": "news", "name": "News"}));
    smtp.wait(DEV, "News: your subscription is approved");
    let refused = subscribe(&gw, &dev, "gold", "scraper");
    gw.post(
        &format!("/api/api-subscriptions/{refused}/_reject"),
        &json!({"reason": "scraping is not allowed"}),
    );
    assert_eq!(
        hook.wait("subscription.rejected")["reason"],
        "scraping is not allowed"
    );
    let mail = smtp.wait(DEV, "News: your subscription is rejected");
    assert!(
        mail["body"]
            .as_str()
            .unwrap()
            .contains("scraping is not allowed")
    );

    // Rotation says until when the old secret works.
    let free = subscribe(&gw, &dev, "free", "app");
    let (_, key) = json(gw.post(
        &format!("/api/api-subscriptions/{free}/_rotate"),
        &json!({}),
    ));
    let rotated = hook.wait("key.rotated");
    assert_eq!(rotated["previous_secret_until"], key["previousSecretUntil"]);
    smtp.wait(DEV, "News: your secret was rotated");

    // Quotas: 80% and 100% of the day, once each however many calls follow.
    let (id, secret) = (
        key["clientId"].as_str().unwrap().to_string(),
        key["clientSecret"].as_str().unwrap().to_string(),
    );
    for _ in 0..7 {
        gw.call(Method::GET, HOST, "/")
            .basic_auth(&id, Some(&secret))
            .send()
            .unwrap();
    }
    let warning = hook.wait("quota.warning");
    assert_eq!(
        (&warning["window"], &warning["used"], &warning["quota"]),
        (&json!("day"), &json!(4), &json!(5))
    );
    hook.wait("quota.exhausted");
    smtp.wait(DEV, "News: 80% of your day quota used");
    smtp.wait(DEV, "News: all of your day quota used");

    // Deprecation and removal: once for the developer, naming their live subscriptions.
    gw.patch("/api/apis/news", &json!({"state": "deprecated"}));
    let deprecated = hook.wait("api.deprecated");
    let mut subs: Vec<&str> = deprecated["subscriptions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect();
    subs.sort_unstable();
    let mut live = vec![gold.as_str(), free.as_str()];
    live.sort_unstable();
    assert_eq!(subs, live, "the closed one is not named");
    gw.patch(
        "/api/apis/news",
        &json!({"description": "still deprecated"}),
    );
    gw.patch("/api/apis/news", &json!({"state": "removed"}));
    hook.wait("api.removed");
    smtp.wait(DEV, "News: the API is removed");

    // Every event was acknowledged once: the failed first call was retried under the same
    // key, and nothing acknowledged came again.
    let calls = hook.calls();
    assert_eq!(calls[0].status, 500);
    assert_eq!(calls[1].key, calls[0].key, "the retry of the refused call");
    let mut acknowledged: Vec<&str> = calls
        .iter()
        .filter(|c| c.status == 200)
        .map(|c| c.key.as_str())
        .collect();
    let all = acknowledged.len();
    acknowledged.sort_unstable();
    acknowledged.dedup();
    assert_eq!(acknowledged.len(), all, "no duplicate: {calls:?}");
    for event in [
        "subscription.approved",
        "subscription.rejected",
        "key.rotated",
        "quota.warning",
        "quota.exhausted",
        "api.deprecated",
        "api.removed",
    ] {
        assert_eq!(hook.delivered(event).len(), 1, "{event} once: {calls:?}");
    }
}

#[test]
fn a_forgotten_password_is_reset_by_a_link_that_works_once() {
    let smtp = Smtp::start();
    let hook = Hook::start(0);
    let gw = gateway(&smtp, &hook);
    sign_up(&gw);
    let proof = smtp.wait(DEV, "Confirm your e-mail address");
    let client = browser("127.0.0.5");
    client.get(link(&proof, "/verify?token=")).send().unwrap();
    let before = signed_in(&gw, &client, DEV);

    // Asking answers the same for an unknown address, and mails only the known one.
    let forgot = format!("{}/forgot", gw.portal);
    let page = client.get(&forgot).send().unwrap().text().unwrap();
    assert!(page.contains("Forgot your password?"));
    let answers: Vec<String> = ["nobody@example.com", DEV]
        .iter()
        .map(|email| {
            client
                .post(&forgot)
                .form(&[("email", *email)])
                .send()
                .unwrap()
                .text()
                .unwrap()
        })
        .collect();
    assert_eq!(answers[0], answers[1]);
    let mail = smtp.wait(DEV, "Choose a new password");
    let reset = link(&mail, "/reset?token=");
    let form = client.get(&reset).send().unwrap().text().unwrap();
    let token = form
        .split("name=\"token\" value=\"")
        .nth(1)
        .and_then(|t| t.split('"').next())
        .unwrap()
        .to_string();
    let set = |password: &str| {
        client
            .post(format!("{}/reset", gw.portal))
            .form(&[("token", token.as_str()), ("password", password)])
            .send()
            .unwrap()
    };
    assert_eq!(set("short").status(), 400, "the password's rules hold");
    assert_eq!(set("a brand new passphrase").status(), 303);
    assert_eq!(
        set("yet another passphrase").status(),
        400,
        "the link works once"
    );
    assert!(
        smtp.all()
            .iter()
            .all(|m| m["to"][0] != "nobody@example.com")
    );

    // The old password and the old session are gone; the new password signs in.
    let r = client
        .post(format!("{}/signin", gw.portal))
        .form(&[("email", DEV), ("password", "a long passphrase")])
        .send()
        .unwrap();
    assert_eq!(r.status(), 401);
    let account = client
        .get(format!("{}/account", gw.portal))
        .header("cookie", &before.cookie)
        .send()
        .unwrap();
    assert_eq!(account.status(), 303, "signed out");
    let r = client
        .post(format!("{}/signin", gw.portal))
        .form(&[("email", DEV), ("password", "a brand new passphrase")])
        .send()
        .unwrap();
    assert_eq!(r.status(), 303);
}
