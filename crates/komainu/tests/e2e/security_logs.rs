//! Secrets never reach a log or an event: credentials in a query (the usual names in any case
//! and spelling, and a route's renamed API-key parameters), what a failed admin sign-in typed as
//! its id; and session cookies are `Secure` when their page was served over TLS.

use serde_json::json;

use crate::support::upstream::Upstream;
use crate::support::{Gateway, Options, until};

#[test]
fn credentials_in_queries_and_mistyped_ids_never_reach_logs_or_events() {
    let up = Upstream::start("logs-up");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("events.jsonl");
    let gw = Gateway::start_with(Options {
        extra_args: vec![
            "--access-log".into(),
            "--events".into(),
            format!("file:{}", file.display()),
        ],
        ..Options::default()
    });
    gw.create(
        "routes",
        &json!({"id": "keyed", "frontend": {"domains": ["keyed.test"]},
                "backend": {"targets": [up.target()]},
                "plugins": [{"plugin": "cp:otoroshi.next.plugins.ApikeyCalls",
                             "config": {"extractors": {"client_id": {"query_name": "k"}}}}]}),
    );
    gw.create(
        "apikeys",
        &json!({"clientId": "only-id-key-42", "clientSecret": "unused-secret-value",
                "allowClientIdOnly": true, "authorizedEntities": ["route_keyed"]}),
    );
    let path = "/report?k=only-id-key-42&clientSecret=shh-one&Client-Secret=shh-two&page=3";
    assert_eq!(gw.proxy_get("keyed.test", path).status(), 200);
    // A secret typed where the admin client id goes.
    let typed = gw
        .client
        .get(gw.url("/api/apis"))
        .basic_auth("MySecretTypedAsId-77", Some("x"))
        .send()
        .unwrap();
    assert_eq!(typed.status(), 401);

    let events = until("the events", || {
        let text = std::fs::read_to_string(&file).unwrap_or_default();
        (text.contains("GatewayEvent") && text.contains("ADMIN_LOGIN_FAILED")).then_some(text)
    });
    let access = until("the access log", || {
        let out = gw.stdout.lock().unwrap().clone();
        out.contains("/report").then_some(out)
    });
    let log = gw.wait_log("admin sign-in failed");
    for (name, text) in [("events", &events), ("access log", &access), ("log", &log)] {
        for secret in [
            "only-id-key-42",
            "shh-one",
            "shh-two",
            "MySecretTypedAsId-77",
        ] {
            if name == "events" && secret == "only-id-key-42" {
                continue; // the event names the key that called (identity), not the query
            }
            assert!(!text.contains(secret), "{secret} in the {name}:\n{text}");
        }
    }
    assert!(
        access.contains("page=3") && access.contains("k=REDACTED"),
        "{access}"
    );
    assert!(events.contains("unknown (sha256:"), "{events}");
}

#[test]
fn session_cookies_are_secure_when_their_page_was_served_over_tls() {
    let gw = Gateway::start();
    let portal_host = gw.portal.trim_start_matches("http://").to_string();
    let client = reqwest::blocking::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let form = [
        ("email", "dev@example.com"),
        ("password", "a long passphrase"),
    ];
    client
        .post(format!("{}/signup", gw.portal))
        .form(&form)
        .send()
        .unwrap();
    let cookie = |origin: &str| {
        let r = client
            .post(format!("{}/signin", gw.portal))
            .header("origin", origin)
            .form(&form)
            .send()
            .unwrap();
        assert_eq!(r.status(), 303);
        r.headers()["set-cookie"].to_str().unwrap().to_string()
    };
    assert!(cookie(&format!("https://{portal_host}")).contains("; Secure"));
    assert!(!cookie(&format!("http://{portal_host}")).contains("Secure"));
}

#[test]
fn admin_events_name_the_entity_that_changed_without_its_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("events.jsonl");
    let gw = Gateway::start_with(Options {
        extra_args: vec!["--events".into(), format!("file:{}", file.display())],
        ..Options::default()
    });
    gw.create(
        "apikeys",
        &json!({"clientId": "evented", "clientSecret": "never-in-an-event", "name": "Evented"}),
    );
    gw.create(
        "routes",
        &json!({"id": "r-basic", "frontend": {"domains": ["basic.test"]},
                "backend": {"targets": [{"hostname": "127.0.0.1", "port": 9}]},
                "plugins": [{"plugin": "cp:otoroshi.next.plugins.SimpleBasicAuth",
                             "config": {"users": {"alice": "alice-password-value"}}}]}),
    );
    assert_eq!(gw.delete("/api/apikeys/evented").status(), 200);
    let events = until("three admin events", || {
        let text = std::fs::read_to_string(&file).unwrap_or_default();
        let admin: Vec<serde_json::Value> = text
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .filter(|e: &serde_json::Value| e["@type"] == "AdminApiEvent")
            .collect();
        (admin.len() >= 3).then_some((text, admin))
    });
    let (text, admin) = events;
    assert!(!text.contains("never-in-an-event"), "{text}");
    assert!(!text.contains("alice-password-value"), "{text}");
    assert_eq!(admin[0]["metadata"]["kind"], "Apikey");
    assert_eq!(admin[0]["metadata"]["id"], "evented");
    assert_eq!(admin[0]["metadata"]["entity"]["name"], "Evented");
    assert_eq!(admin[1]["metadata"]["kind"], "Route");
    assert_eq!(
        admin[1]["metadata"]["entity"]["frontend"]["domains"][0],
        "basic.test"
    );
    assert_eq!(
        admin[2]["metadata"],
        json!({"kind": "Apikey", "id": "evented"})
    );
}
