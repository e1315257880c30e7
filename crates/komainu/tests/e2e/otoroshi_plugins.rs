//! Otoroshi's plugin behaviours where a user of the same plugin id expects them (read in MAIF's
//! `app/next/plugins/`): CanaryMode's signed ids (cookie or `Otoroshi-Canary-Id`), what
//! NgTrafficMirroring sends its mirror, EchoBackend's echo, RequestBodyLengthLimiter's refusal.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::upstream::Upstream;
use crate::support::{Gateway, json};

const P: &str = "cp:otoroshi.next.plugins.";

fn plugin(name: &str, config: Value) -> Value {
    json!({"plugin": format!("{P}{name}"), "config": config})
}

fn set_cookie(resp: &reqwest::blocking::Response) -> Option<String> {
    resp.headers()
        .get("set-cookie")
        .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_string())
}

#[test]
fn canary_ids_are_signed_and_read_from_the_cookie_or_the_header() {
    let (main, canary) = (Upstream::start("main"), Upstream::start("canary"));
    let gw = Gateway::start();
    gw.create(
        "routes",
        &json!({"id": "split", "frontend": {"domains": ["split.test"]},
                "backend": {"targets": [main.target()]},
                "plugins": [plugin("CanaryMode", json!({"traffic": 0.5,
                    "targets": [{"id": "c", "hostname": "127.0.0.1", "port": canary.port()}]}))]}),
    );
    let call = |header: Option<(&str, &str)>| {
        let mut rb = gw.call(reqwest::Method::GET, "split.test", "/");
        if let Some((k, v)) = header {
            rb = rb.header(k, v);
        }
        let resp = rb.send().unwrap();
        let side = resp.headers()["x-upstream"].to_str().unwrap().to_string();
        (side, set_cookie(&resp))
    };
    for _ in 0..10 {
        let (side, cookie) = call(None);
        let cookie = cookie.expect("a new client gets its id");
        let signed = cookie.strip_prefix("otoroshi-canary=").unwrap().to_string();
        let (signature, id) = signed.split_once("::").expect("Otoroshi's signed form");
        assert_eq!(signature.len(), 64, "HMAC-SHA256, hex");
        // The same client by its header, as Otoroshi reads it: same side, no new id.
        for _ in 0..3 {
            assert_eq!(
                call(Some(("otoroshi-canary-id", &signed))),
                (side.clone(), None)
            );
            assert_eq!(call(Some(("cookie", &cookie))), (side.clone(), None));
        }
        // An id written by the client, or a signature that does not check, is a new client.
        let forged = format!("{}::{id}", "0".repeat(64));
        assert!(call(Some(("otoroshi-canary-id", &forged))).1.is_some());
        assert!(
            call(Some(("cookie", &format!("otoroshi-canary={id}"))))
                .1
                .is_some()
        );
    }
}

#[test]
fn the_mirror_gets_the_request_the_backend_gets() {
    let main = Upstream::start("main");
    let mirror = Upstream::start("mirror");
    let gw = Gateway::start();
    let mut target = main.target();
    target["id"] = json!("m");
    gw.create(
        "routes",
        &json!({"id": "mirrored", "frontend": {"domains": ["mirror.test/api"]},
                "backend": {"targets": [target], "root": "/v2"},
                "plugins": [plugin("NgTrafficMirroring",
                                   json!({"to": format!("http://127.0.0.1:{}", mirror.port())}))]}),
    );
    let resp = gw.proxy_get("mirror.test", "/api/orders?id=7");
    assert_eq!(resp.status(), 200);
    assert_eq!(main.seen(), ["GET /v2/orders?id=7"]);
    let started = Instant::now();
    while mirror.seen().is_empty() {
        assert!(started.elapsed() < Duration::from_secs(5), "never mirrored");
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(mirror.seen(), main.seen(), "after strip_path and root");
}

#[test]
fn echo_backend_and_body_limits_answer_as_otoroshi_does() {
    let up = Upstream::start("echo-up");
    let gw = Gateway::start();
    for (id, plugins) in [
        ("echo", json!([plugin("EchoBackend", json!({"limit": 64}))])),
        (
            "limited",
            json!([plugin(
                "RequestBodyLengthLimiter",
                json!({"max_length": 10, "fail": true})
            )]),
        ),
    ] {
        gw.create(
            "routes",
            &json!({"id": id, "frontend": {"domains": [format!("{id}.test")]},
                    "backend": {"targets": [up.target()]}, "plugins": plugins}),
        );
    }
    let post = |host: &str, ct: &str, body: &str| {
        json(
            gw.call(reqwest::Method::POST, host, "/things?page=2")
                .header("content-type", ct)
                .header("cookie", "theme=dark")
                .body(body.to_string())
                .send()
                .unwrap(),
        )
    };
    let (status, echo) = post("echo.test", "application/json", r#"{"a": [1, 2]}"#);
    assert_eq!(status, 200);
    assert_eq!(
        echo["body"],
        json!({"a": [1, 2]}),
        "a JSON body is echoed as JSON"
    );
    assert_eq!(echo["method"], "POST");
    assert_eq!(echo["raw_path"], "/things?page=2");
    assert_eq!(echo["query"], json!({"page": "2"}));
    assert_eq!(echo["cookies"]["theme"]["value"], "dark");
    let (_, echo) = post("echo.test", "application/octet-stream", "\u{1}\u{2}");
    assert_eq!(echo["body"], "AQI=", "anything else in base64");
    let (status, over) = post("echo.test", "application/json", &"x".repeat(100));
    assert_eq!(status, 413);
    assert_eq!(
        over,
        json!({"error": "request_body_too_large",
               "message": "Request body exceeds maximum allowed size of 64 bytes", "limit": 64})
    );

    let (status, refused) = post("limited.test", "text/plain", &"y".repeat(20));
    assert_eq!(status, 413);
    assert_eq!(refused["error"], "errors.failed.response.entityTooLarge");
}
