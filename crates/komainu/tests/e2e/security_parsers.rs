//! Hostile bodies and filters against the body plugins: nothing a client or a backend sends, and no
//! jq filter an admin writes, ends the gateway, stalls its other routes or takes its memory.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::upstream::Upstream;
use crate::support::{Gateway, Options, json};

const P: &str = "cp:otoroshi.next.plugins.";

fn route(gw: &Gateway, host: &str, up: &Upstream, plugins: Value) {
    gw.create(
        "routes",
        &json!({"id": host.replace('.', "_"), "frontend": {"domains": [host]},
                "backend": {"targets": [up.target()]}, "plugins": plugins}),
    );
}

fn jq(name: &str, filter: &str) -> Value {
    json!([{"plugin": format!("{P}{name}"), "config": {"filter": filter}}])
}

fn post(gw: &Gateway, host: &str, path: &str, body: String) -> (u16, Value) {
    json(
        gw.call(reqwest::Method::POST, host, path)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .unwrap(),
    )
}

/// 2,000 nested arrays: 4 KB that overflowed the stack of a recursive reader.
fn deep() -> String {
    format!("{}{}", "[".repeat(2000), "]".repeat(2000))
}

#[test]
fn deeply_nested_bodies_are_refused_and_every_listener_keeps_serving() {
    let up = Upstream::start("deep");
    let gw = Gateway::start();
    route(&gw, "jq-in.test", &up, jq("JQRequest", "."));
    route(&gw, "jq-out.test", &up, jq("JQResponse", "."));
    route(
        &gw,
        "schema.test",
        &up,
        json!([{"plugin": format!("{P}JsonSchemaRequestValidator"),
                "config": {"schema": {"type": "array"}}}]),
    );
    route(&gw, "plain.test", &up, json!([]));

    let (status, body) = post(&gw, "jq-in.test", "/", deep());
    assert_eq!(status, 500, "{body}");
    assert_eq!(body["error"], "error while transforming response body");
    assert!(
        body["details"][0].as_str().unwrap().contains("not JSON"),
        "{body}"
    );
    // The backend echoes the deep body: the response filter refuses it the same way.
    let (status, body) = post(&gw, "jq-out.test", "/echo-body", deep());
    assert_eq!(status, 500, "{body}");
    let (status, body) = post(&gw, "schema.test", "/", deep());
    assert_eq!(status, 422, "{body}");
    assert!(
        body["validation_errors"][0]
            .as_str()
            .unwrap()
            .contains("recursion limit"),
        "{body}"
    );

    assert_eq!(gw.proxy_get("plain.test", "/").status(), 200);
    assert_eq!(gw.get("/health").status(), 200);
    assert_eq!(
        gw.client
            .get(format!("{}/", gw.portal))
            .send()
            .unwrap()
            .status(),
        200
    );
    // Within the bound, a document goes through.
    let (status, body) = post(&gw, "jq-out.test", "/echo-body", "[[[1]]]".into());
    assert_eq!((status, body), (200, json!([[[1]]])));
}

/// Calls `plain.test` until `stop`, returning the slowest answer; every one must be a 200.
fn watch_other_route(gw: &Gateway, stop: &AtomicBool) -> Duration {
    let mut slowest = Duration::ZERO;
    while !stop.load(Ordering::Relaxed) {
        let t = Instant::now();
        assert_eq!(gw.proxy_get("plain.test", "/").status(), 200);
        slowest = slowest.max(t.elapsed());
        std::thread::sleep(Duration::from_millis(5));
    }
    slowest
}

#[test]
fn a_filter_is_bounded_in_time_and_memory_and_stalls_no_other_route() {
    let up = Upstream::start("filters");
    let gw = Gateway::start_with(Options {
        extra_args: vec!["--jq-max-memory".into(), "64".into()],
        ..Options::default()
    });
    route(
        &gw,
        "memory.test",
        &up,
        jq("JQRequest", "[range(40000000)] | length"),
    );
    route(
        &gw,
        "time.test",
        &up,
        jq("JQRequest", "reduce range(1000000000000) as $i (0; . + 1)"),
    );
    route(&gw, "env.test", &up, jq("JQResponse", "env | keys"));
    route(
        &gw,
        "good.test",
        &up,
        jq("JQRequest", "{n: (.items | length)}"),
    );
    route(&gw, "plain.test", &up, json!([]));
    let rss_before = gw.rss_kib();

    let stop = Arc::new(AtomicBool::new(false));
    let slowest = std::thread::scope(|s| {
        let watcher = s.spawn(|| watch_other_route(&gw, &stop));
        let (status, body) = post(&gw, "memory.test", "/", "{}".into());
        assert_eq!(status, 500, "{body}");
        assert!(
            body["details"][0]
                .as_str()
                .unwrap()
                .contains("out of memory"),
            "{body}"
        );
        let started = Instant::now();
        let (status, body) = post(&gw, "time.test", "/", "{}".into());
        assert_eq!(status, 500, "{body}");
        assert!(
            body["details"][0].as_str().unwrap().contains("out of time"),
            "{body}"
        );
        assert!(started.elapsed() < Duration::from_secs(5));
        stop.store(true, Ordering::Relaxed);
        watcher.join().unwrap()
    });
    // The filters ran a second and more; the other route never waited on them.
    eprintln!("measured: the other route's slowest answer under the attack {slowest:?}");
    assert!(slowest < Duration::from_millis(500), "{slowest:?}");
    // The filter's memory was its worker's, never the gateway's.
    let grown = gw.peak_rss_kib().saturating_sub(rss_before);
    eprintln!("measured: the gateway's peak RSS grew by {grown} KiB under the jq attacks");
    assert!(grown < 64 * 1024, "the gateway grew by {grown} KiB");

    // The gateway's environment (its admin secret) is not the filter's to read.
    let (status, body) = post(&gw, "env.test", "/", "{}".into());
    assert_eq!((status, body), (200, json!([])));
    // A fresh worker takes the next job.
    let (status, body) = post(
        &gw,
        "good.test",
        "/echo-body",
        r#"{"items": [1, 2]}"#.into(),
    );
    assert_eq!((status, body), (200, json!({"n": 2})));
}

#[test]
fn large_bodies_are_checked_off_the_request_threads_with_the_same_answers() {
    let up = Upstream::start("large");
    let gw = Gateway::start();
    route(
        &gw,
        "schema.test",
        &up,
        json!([{"plugin": format!("{P}JsonSchemaRequestValidator"),
                "config": {"schema": {"type": "array", "items": {"type": "integer"}}}}]),
    );
    let items: Vec<u32> = (0..50_000).collect();
    let large = serde_json::to_string(&items).unwrap();
    assert!(large.len() > 64 << 10);
    let (status, body) = post(&gw, "schema.test", "/", large.clone());
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["body_bytes"], large.len());
    let bad = large.replacen("1,", "\"one\",", 1);
    let (status, body) = post(&gw, "schema.test", "/", bad);
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["validation_errors"].as_array().unwrap().len(), 1);
}

#[test]
fn every_parser_of_outside_input_refuses_deep_nesting_and_the_gateway_keeps_serving() {
    use base64::Engine;
    let up = Upstream::start("parsers");
    let gw = Gateway::start();
    route(&gw, "plain.test", &up, json!([]));
    let alive = || assert_eq!(gw.proxy_get("plain.test", "/").status(), 200);

    // YAML and an OpenAPI document, by the admin API.
    let deep_yaml = format!("a: {}{}", "[".repeat(50_000), "]".repeat(50_000));
    let r = gw
        .request(reqwest::Method::POST, "/api/apis/_openapi")
        .header("content-type", "application/yaml")
        .body(deep_yaml)
        .send()
        .unwrap();
    assert_eq!(r.status(), 400);
    let mut spec = json!({"openapi": "3.0.0", "info": {"title": "Deep"}, "paths": {}});
    let mut schema = json!({"type": "object"});
    for _ in 0..200 {
        schema = json!({"type": "object", "properties": {"x": schema}});
    }
    spec["components"] = json!({"schemas": {"Deep": schema}});
    let (status, _) = json(gw.post("/api/apis/_openapi", &spec));
    assert_eq!(status, 400);
    alive();

    // Markdown: a page of 100,000 nested quotes renders small and quickly.
    gw.create(
        "apis",
        &json!({"id": "md", "name": "md", "domain": "md.test", "state": "published",
                "documentation": {"enabled": true, "home": {"text_content": ">".repeat(100_000)}}}),
    );
    let page = gw
        .client
        .get(format!("{}/apis/md", gw.portal))
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(page.len() < 100_000, "{} bytes", page.len());
    alive();

    // A JWT whose claims nest 10,000 levels deep.
    gw.create(
        "routes",
        &json!({"id": "jwt", "frontend": {"domains": ["jwt.test"]},
                "backend": {"targets": [up.target()]},
                "plugins": [{"plugin": "cp:otoroshi.next.plugins.ApikeyCalls"}]}),
    );
    let b64 = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
    let claims = format!(
        "{{\"iss\":\"k\",\"x\":{}{}}}",
        "[".repeat(10_000),
        "]".repeat(10_000)
    );
    let token = format!("{}.{}.c2ln", b64(r#"{"alg":"HS256"}"#), b64(&claims));
    let r = gw
        .call(reqwest::Method::GET, "jwt.test", "/")
        .bearer_auth(token)
        .send()
        .unwrap();
    assert!(r.status().is_client_error(), "{}", r.status());
    alive();

    // A form far over the portal's body limit: 413, or the connection cut while it is sent.
    let r = gw
        .client
        .post(format!("{}/signin", gw.portal))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("email={}", "a".repeat(8 << 20)))
        .send();
    if let Ok(r) = r {
        assert_eq!(r.status(), 413);
    }
    alive();
}
