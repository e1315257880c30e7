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
    assert!(slowest < Duration::from_millis(500), "{slowest:?}");
    // The filter's memory was its worker's, never the gateway's.
    let grown = gw.peak_rss_kib().saturating_sub(rss_before);
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
