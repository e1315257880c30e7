//! Observability through the real binary: Prometheus families that move with calls, W3C trace
//! context continued upstream and spans at a real OTLP/HTTP collector, gateway and admin events in
//! a file and at an HTTP receiver (also after it was down), the seed's `capture`,
//! `export_reporting` and `debug_flow` switches, precise upstream failures, and per-API stats.

use std::time::Duration;

use crate::support::upstream::Upstream;
use crate::support::{Gateway, Options, json, series, until};
use komainu_test_peers::sink::Sink;
use reqwest::Method;
use serde_json::{Value, json};

fn shop(up: &Upstream, switches: Value) -> Value {
    let mut api = json!({
        "id": "shop", "domain": "shop.test", "state": "published",
        "backends": [
            {"id": "b", "backend": {"targets": [up.target()]}},
            {"id": "gone", "backend": {"targets": [{"id": "gone", "hostname": "no-such-host.invalid", "port": 80}]}}
        ],
        "flows": [
            {"id": "open", "consumers": ["free"], "plugins": {"slots": []}},
            {"id": "limited", "consumers": ["free"], "plugins": {"slots": [
                {"plugin": "cp:otoroshi.next.plugins.LocalTokenBucket", "enabled": true,
                 "config": {"capacity": 2, "refillRequestIntervalMs": 3600000, "refillRequestedTokens": 1}}
            ]}},
            {"id": "tagged", "consumers": ["free"], "plugins": {"slots": [
                {"plugin": "cp:otoroshi.next.plugins.AdditionalHeadersIn", "enabled": true,
                 "config": {"headers": {"x-tag": "1"}}}
            ]}}
        ],
        "routes": [
            {"id": "r_items", "frontend": {"domains": ["/items"]}, "backend": "b", "flow_ref": "tagged"},
            {"id": "r_limited", "frontend": {"domains": ["/limited"]}, "backend": "b", "flow_ref": "limited"},
            {"id": "r_gone", "frontend": {"domains": ["/gone"]}, "backend": "gone", "flow_ref": "open"}
        ],
        "documentation": {"plans": [
            {"id": "free", "name": "free", "status": "published", "access_mode_configuration_type": "keyless"}
        ]}
    });
    if let (Some(a), Value::Object(s)) = (api.as_object_mut(), switches) {
        a.extend(s);
    }
    api
}

#[test]
fn metrics_move_with_calls_by_api_route_method_code_and_plan() {
    let up = Upstream::start("m");
    let gw = Gateway::start();
    gw.create("apis", &shop(&up, json!({})));
    gw.wait_status("shop.test", "/items", 200);
    let before = gw.metrics();
    let base = |name: &str| {
        series(
            &before,
            &format!("{name}{{api=\"shop\",route=\"r_items\",method=\"GET\",code=\"200\"}}"),
        )
        .unwrap_or(0.0)
    };
    let ok_before = base("komainu_http_requests_total");
    for _ in 0..5 {
        assert_eq!(gw.proxy_get("shop.test", "/items/x").status(), 200);
    }
    let post = gw
        .call(Method::POST, "shop.test", "/items")
        .body(vec![b'x'; 1000])
        .send()
        .unwrap();
    assert_eq!(post.status(), 200);
    assert_eq!(gw.proxy_get("shop.test", "/limited").status(), 200);
    assert_eq!(gw.proxy_get("shop.test", "/limited").status(), 200);
    assert_eq!(gw.proxy_get("shop.test", "/limited").status(), 429);
    let gone = gw.proxy_get("shop.test", "/gone");
    assert_eq!(gone.status(), 502);
    assert!(gone.headers().contains_key("otoroshi-request-id"));
    let nothing = gw.proxy_get("nowhere.test", "/");
    assert_eq!(nothing.status(), 404);
    let id = nothing.headers()["otoroshi-request-id"].to_str().unwrap();
    assert!(id.parse::<u64>().is_ok(), "{id}");

    let m = gw.metrics();
    let route = |r: &str| format!("{{api=\"shop\",route=\"{r}\"");
    assert_eq!(
        series(
            &m,
            &format!(
                "komainu_http_requests_total{},method=\"GET\",code=\"200\"}}",
                route("r_items")
            )
        ),
        Some(ok_before + 5.0 + 0.0),
        "{m}"
    );
    assert_eq!(
        series(
            &m,
            &format!(
                "komainu_http_requests_total{},method=\"POST\",code=\"200\"}}",
                route("r_items")
            )
        ),
        Some(1.0)
    );
    assert_eq!(
        series(
            &m,
            &format!(
                "komainu_http_requests_total{},method=\"GET\",code=\"429\"}}",
                route("r_limited")
            )
        ),
        Some(1.0)
    );
    assert_eq!(
        series(
            &m,
            &format!("komainu_quota_refusals_total{}}}", route("r_limited"))
        ),
        Some(1.0)
    );
    assert_eq!(
        series(
            &m,
            &format!(
                "komainu_upstream_errors_total{},cause=\"dns\"}}",
                route("r_gone")
            )
        ),
        Some(1.0),
        "a DNS failure is told apart: {m}"
    );
    assert!(
        series(
            &m,
            &format!(
                "komainu_http_plan_requests_total{},plan=\"free\"}}",
                route("r_items")
            )
        )
        .unwrap()
            >= 6.0
    );
    assert_eq!(
        series(
            &m,
            &format!("komainu_http_request_bytes_total{}}}", route("r_items"))
        ),
        Some(1000.0)
    );
    let out = series(
        &m,
        &format!("komainu_http_response_bytes_total{}}}", route("r_items")),
    )
    .unwrap();
    assert!(out > 100.0, "{out}");
    // Histograms: every call in +Inf, the count equal to the calls.
    let calls = series(
        &m,
        &format!(
            "komainu_http_request_duration_seconds_count{}}}",
            route("r_items")
        ),
    )
    .unwrap();
    assert!(calls >= 6.0, "{calls}");
    assert_eq!(
        series(
            &m,
            &format!(
                "komainu_http_request_duration_seconds_bucket{},le=\"+Inf\"}}",
                route("r_items")
            )
        ),
        Some(calls)
    );
    assert!(
        series(
            &m,
            &format!(
                "komainu_http_upstream_duration_seconds_count{}}}",
                route("r_items")
            )
        )
        .unwrap()
            >= 6.0
    );
    assert!(
        series(
            &m,
            &format!(
                "komainu_http_overhead_duration_seconds_count{}}}",
                route("r_items")
            )
        )
        .unwrap()
            >= 6.0
    );
    assert!(
        series(
            &m,
            &format!("komainu_upstream_attempts_total{}}}", route("r_items"))
        )
        .unwrap()
            >= 6.0
    );
    // Targets, connections, the snapshot.
    let target = format!(
        "komainu_upstream_target_healthy{{route=\"r_items\",target=\"127.0.0.1:{}\"}}",
        up.port()
    );
    assert_eq!(series(&m, &target), Some(1.0), "{m}");
    assert!(
        series(
            &m,
            "komainu_proxy_connections_open_by_protocol{listener=\"http\",protocol=\"http1\"}"
        )
        .is_some()
    );
    assert!(series(&m, "komainu_config_generation").unwrap() >= 2.0);
    assert!(series(&m, "komainu_config_build_seconds").is_some());
    assert!(series(&m, "komainu_store_revision").unwrap() >= 1.0);
    assert!(series(&m, "komainu_store_feed_lag{follower=\"routing\"}").is_some());
    // Every family has HELP and TYPE; label values are bounded (no path, no query in a label).
    for family in [
        "komainu_http_requests_total",
        "komainu_http_request_duration_seconds",
        "komainu_upstream_errors_total",
    ] {
        assert!(m.contains(&format!("# TYPE {family} ")), "{family}");
    }
    assert!(!m.contains("/items"), "paths are never labels");
}

#[test]
fn trace_context_is_continued_upstream_and_spans_reach_the_collector() {
    let collector = Sink::start();
    let up = Upstream::start("t");
    let gw = Gateway::start_with(Options {
        extra_args: vec![
            "--otlp-endpoint".into(),
            collector.url("/"),
            "--trace-sampling".into(),
            "0".into(),
        ],
        env: vec![("OTEL_BSP_SCHEDULE_DELAY".into(), "100".into())],
        ..Default::default()
    });
    gw.create("apis", &shop(&up, json!({})));
    gw.wait_status("shop.test", "/items", 200);

    let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    let parent = "00f067aa0ba902b7";
    let (status, echoed) = json(
        gw.call(Method::GET, "shop.test", "/items/traced")
            .header("traceparent", format!("00-{trace_id}-{parent}-01"))
            .header("tracestate", "vendor=opaque")
            .send()
            .unwrap(),
    );
    assert_eq!(status, 200);
    let sent = echoed["headers"]["traceparent"]
        .as_str()
        .expect("traceparent upstream");
    let parts: Vec<&str> = sent.split('-').collect();
    assert_eq!(parts[1], trace_id, "the trace is continued");
    assert_ne!(
        parts[2], parent,
        "the gateway's own span is the upstream's parent"
    );
    assert_eq!(parts[3], "01");
    assert_eq!(echoed["headers"]["tracestate"], "vendor=opaque");

    let span = until("the span at the collector", || {
        collector
            .spans()
            .into_iter()
            .find(|s| s.trace_id == hex(trace_id))
    });
    assert_eq!(
        span.parent_span_id,
        hex(parent),
        "parent is the client's span"
    );
    assert_eq!(
        span.span_id,
        hex(parts[2]),
        "the span is the one the upstream saw"
    );
    assert_eq!(span.kind, 2, "SERVER");
    let attr = |k: &str| {
        span.attributes
            .iter()
            .find(|a| a.key == k)
            .and_then(|a| a.value.as_ref())
            .map(|v| format!("{:?}", v.value))
            .unwrap_or_default()
    };
    assert!(attr("http.request.method").contains("GET"));
    assert!(attr("http.response.status_code").contains("200"));
    assert!(attr("komainu.route.id").contains("r_items"));

    // Not sampled by the client, and no sampling of new traces: propagated, never exported.
    let quiet = "5bf92f3577b34da6a3ce929d0e0e4736";
    let (_, echoed) = json(
        gw.call(Method::GET, "shop.test", "/items/quiet")
            .header("traceparent", format!("00-{quiet}-{parent}-00"))
            .send()
            .unwrap(),
    );
    assert!(
        echoed["headers"]["traceparent"]
            .as_str()
            .unwrap()
            .ends_with("-00")
    );
    // A new trace for a request without one.
    let (_, echoed) = json(gw.proxy_get("shop.test", "/items/fresh"));
    let fresh = echoed["headers"]["traceparent"].as_str().unwrap();
    assert_eq!(fresh.len(), 55, "{fresh}");
    // A sampled call made after the unsampled ones is exported; the unsampled one never is.
    let after = "6bf92f3577b34da6a3ce929d0e0e4736";
    gw.call(Method::GET, "shop.test", "/items/after")
        .header("traceparent", format!("00-{after}-{parent}-01"))
        .send()
        .unwrap();
    until("the later span", || {
        collector
            .spans()
            .into_iter()
            .find(|s| s.trace_id == hex(after))
    });
    assert!(!collector.spans().iter().any(|s| s.trace_id == hex(quiet)));
}

fn hex(s: &str) -> Vec<u8> {
    (0..s.len() / 2)
        .map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).unwrap())
        .collect()
}

fn events_in(path: &std::path::Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).expect("each line is JSON"))
        .collect()
}

#[test]
fn gateway_and_admin_events_go_to_a_file_with_the_seed_switches() {
    let up = Upstream::start("e");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("events.jsonl");
    let gw = Gateway::start_with(Options {
        extra_args: vec![
            "--events".into(),
            format!("file:{}", file.display()),
            "--capture-max-bytes".into(),
            "100".into(),
            "--access-log".into(),
        ],
        ..Default::default()
    });
    let switches = json!({"capture": true, "export_reporting": true, "debug_flow": true});
    gw.create("apis", &shop(&up, switches));
    gw.wait_status("shop.test", "/items", 200);
    let resp = gw
        .call(
            Method::POST,
            "shop.test",
            "/items/big?page=2&access_token=tok-secret-99",
        )
        .header("user-agent", r#"observe-test/1 "quoted" \ back"#)
        .body(vec![b'a'; 10_000])
        .send()
        .unwrap();
    assert_eq!(resp.status(), 200);
    let req_id = resp.headers()["otoroshi-request-id"]
        .to_str()
        .unwrap()
        .to_string();
    gw.proxy_get("shop.test", "/gone");

    // Admin and security events: a key created, its secret rotated, a failed sign-in.
    gw.create(
        "apikeys",
        &json!({"clientId": "k1", "clientSecret": "sekret-one-77", "clientName": "k1", "authorizedEntities": ["api_shop"]}),
    );
    assert_eq!(
        gw.patch(
            "/api/apikeys/k1",
            &json!([{"op": "replace", "path": "/clientSecret", "value": "sekret-two-77"}])
        )
        .status(),
        200
    );
    let refused = reqwest::blocking::Client::new()
        .get(gw.url("/api/routes"))
        .basic_auth("intruder", Some("guess"))
        .send()
        .unwrap();
    assert_eq!(refused.status(), 401);

    let events = until("the events", || {
        let e = events_in(&file);
        (e.iter().any(|e| e["audit"] == "ADMIN_LOGIN_FAILED")
            && e.iter().any(|e| e["reqId"] == req_id.as_str())
            && e.iter().any(|e| e["status"] == 502))
        .then_some(e)
    });
    let call = events
        .iter()
        .find(|e| e["reqId"] == req_id.as_str())
        .unwrap();
    assert_eq!(call["@type"], "GatewayEvent");
    assert_eq!(call["@id"], req_id.as_str());
    assert_eq!(call["method"], "POST");
    assert_eq!(call["status"], 200);
    assert_eq!(call["protocol"], "HTTP/1.1");
    assert_eq!(call["to"]["host"], "shop.test");
    // A credential in the query is redacted wherever the event shows the request.
    assert_eq!(call["to"]["uri"], "/items/big?page=2&access_token=REDACTED");
    // The route strips its prefix: the backend was sent `/big`.
    assert_eq!(call["target"]["uri"], "/big?page=2&access_token=REDACTED");
    assert_eq!(call["target"]["host"], format!("127.0.0.1:{}", up.port()));
    assert_eq!(call["route"]["id"], "r_items");
    assert_eq!(call["api"]["id"], "shop");
    assert_eq!(call["plan"], "free");
    assert_eq!(call["data"]["dataIn"], 10_000);
    assert!(call["data"]["dataOut"].as_u64().unwrap() > 0);
    assert!(call["duration"].as_u64().is_some() && call["overhead"].as_u64().is_some());
    assert_eq!(call["err"], false);
    // Written by hand: what a client sends is escaped (the line parsed above).
    assert_eq!(call["userAgent"], r#"observe-test/1 "quoted" \ back"#);
    assert_eq!(
        call["url"],
        "http://shop.test/items/big?page=2&access_token=REDACTED"
    );
    // capture: bounded bodies.
    let req_body = &call["capture"]["request"];
    assert_eq!(req_body["body"].as_str().unwrap().len(), 100);
    assert_eq!(req_body["size"], 10_000);
    assert_eq!(req_body["truncated"], true);
    assert!(call["capture"]["response"]["body"].as_str().unwrap().len() <= 100);
    // export_reporting: each plugin step with its duration.
    let steps: Vec<&str> = call["report"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["task"].as_str().unwrap())
        .collect();
    for task in [
        "plans",
        "cp:otoroshi.next.plugins.AdditionalHeadersIn",
        "call-backend",
    ] {
        assert!(steps.contains(&task), "{task} in {steps:?}");
    }
    assert!(call["report"][0]["duration_us"].as_u64().is_some());
    // debug_flow: the report in the log for every call.
    gw.wait_log("debug flow");
    // A failed call says precisely why.
    let failed = events.iter().find(|e| e["status"] == 502).unwrap();
    assert_eq!(failed["gwError"], "errors.dns.error");
    assert_eq!(failed["err"], true);
    assert!(
        failed["errorDetail"].as_str().unwrap().starts_with("dns"),
        "{failed}"
    );
    gw.wait_log("backend call failed");

    let audits: Vec<&str> = events.iter().filter_map(|e| e["audit"].as_str()).collect();
    for a in [
        "CONFIG_CHANGED",
        "APIKEY_CREATED",
        "APIKEY_SECRET_ROTATED",
        "ADMIN_LOGIN_FAILED",
    ] {
        assert!(audits.contains(&a), "{a} in {audits:?}");
    }
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(!text.contains("sekret-"), "no key secret in events");
    assert!(!text.contains("guess"), "no password in events");
    // Bodies are captured as they were sent (this upstream echoes the request's target back).
    let shown: Vec<Value> = events
        .iter()
        .map(|e| {
            let mut e = e.clone();
            if let Some(o) = e.as_object_mut() {
                o.remove("capture");
            }
            e
        })
        .collect();
    let shown = serde_json::to_string(&shown).unwrap();
    assert!(
        !shown.contains("tok-secret-99"),
        "no query credential in events"
    );

    // The access log line: request id, query presence, bytes, user agent, target address.
    let line = until("the access log line", || {
        gw.stdout
            .lock()
            .unwrap()
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .find(|l| l["request_id"] == req_id.as_str())
    });
    assert_eq!(line["query"], true);
    assert_eq!(line["bytes_in"], 10_000);
    assert!(line["bytes_out"].as_u64().unwrap() > 0);
    assert_eq!(line["user_agent"], r#"observe-test/1 "quoted" \ back"#);
    assert_eq!(line["target"], format!("127.0.0.1:{}", up.port()));
}

#[test]
fn events_reach_an_http_receiver_after_it_was_down_and_losses_are_counted() {
    let up = Upstream::start("h");
    // A port nobody listens on yet: the receiver is down.
    let addr = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let gw = Gateway::start_with(Options {
        extra_args: vec![
            "--events".into(),
            format!("http://{addr}/events"),
            "--events-buffer".into(),
            "50".into(),
        ],
        ..Default::default()
    });
    gw.create("apis", &shop(&up, json!({})));
    gw.wait_status("shop.test", "/items", 200);
    for _ in 0..300 {
        gw.proxy_get("shop.test", "/items");
    }
    let dropped = until("drops while the receiver is down", || {
        series(&gw.metrics(), "komainu_events_dropped_total").filter(|d| *d > 0.0)
    });
    let m = gw.metrics();
    assert!(
        series(&m, "komainu_events_queued").unwrap() <= 50.0,
        "bounded: {m}"
    );
    assert!(series(&m, "komainu_events_push_failures_total").unwrap() >= 1.0);

    let receiver = Sink::start_on(&addr.to_string()).unwrap();
    let delivered = || -> usize {
        receiver
            .received()
            .iter()
            .map(|(_, b)| serde_json::from_slice::<Vec<Value>>(b).map_or(0, |v| v.len()))
            .sum()
    };
    // Every event is either delivered or counted as dropped.
    let (emitted, dropped_now) = until("the queue to drain", || {
        let m = gw.metrics();
        let emitted = series(&m, "komainu_events_emitted_total")?;
        let dropped = series(&m, "komainu_events_dropped_total")?;
        (delivered() as f64 + dropped == emitted).then_some((emitted, dropped))
    });
    assert!(dropped_now >= dropped);
    assert!(emitted >= 300.0, "{emitted}");
    assert_eq!(
        series(&gw.metrics(), "komainu_events_sent_total"),
        Some(delivered() as f64)
    );
    // After recovery, new events flow again.
    gw.proxy_get("shop.test", "/items/late");
    until("a new event", || {
        receiver
            .received()
            .iter()
            .any(|(_, b)| String::from_utf8_lossy(b).contains("/items/late"))
            .then_some(())
    });
}

#[test]
fn api_stats_give_percentiles_within_a_bucket_by_route_and_plan() {
    let up = Upstream::slow("s", Duration::from_millis(30));
    let gw = Gateway::start();
    gw.create("apis", &shop(&up, json!({})));
    gw.wait_status("shop.test", "/items", 200);
    for _ in 0..20 {
        assert_eq!(gw.proxy_get("shop.test", "/items").status(), 200);
    }
    let (status, stats) = json(gw.get("/api/apis/shop/stats"));
    assert_eq!(status, 200, "{stats}");
    let calls = stats["total"]["calls"].as_u64().unwrap();
    assert!(calls >= 20, "{stats}");
    for q in ["p50_ms", "p95_ms", "p99_ms"] {
        let v = stats["total"][q].as_f64().unwrap();
        assert!(
            (25.0..=50.0).contains(&v),
            "{q} = {v}: the 30 ms calls are in (25, 50] ms"
        );
    }
    let items = stats["routes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["route"] == "r_items")
        .unwrap();
    assert_eq!(items["calls"].as_u64(), Some(calls));
    assert_eq!(stats["plans"][0]["plan"], "free");
    assert!(!stats["intervals"].as_array().unwrap().is_empty());

    let (status, body) = json(gw.get("/api/apis/shop/stats?from=abc"));
    assert_eq!(status, 400);
    assert!(
        body["error"].as_str().unwrap().starts_with("from:"),
        "{body}"
    );
    let (status, body) = json(gw.get("/api/apis/shop/stats?from=20&to=10"));
    assert_eq!(status, 400, "{body}");
    assert_eq!(gw.get("/api/apis/nope/stats").status(), 404);
}

#[test]
fn otoroshis_w3c_tracing_plugin_traces_its_route() {
    let collector = Sink::start();
    let up = Upstream::start("w3c");
    let gw = Gateway::start_with(Options {
        env: vec![("OTEL_BSP_SCHEDULE_DELAY".into(), "100".into())],
        ..Default::default()
    });
    let plugin = |kind: &str| {
        json!([{"plugin": "cp:otoroshi.next.plugins.W3CTracing", "enabled": true,
                "config": {"kind": kind, "endpoint": collector.url("/"), "timeout": 30000, "baggage": {}}}])
    };
    let refused = gw.post(
        "/api/routes",
        &json!({"id": "zip", "frontend": {"domains": ["zip.test"]}, "backend": {"targets": [up.target()]},
                "plugins": plugin("zipkin")}),
    );
    let (status, body) = json(refused);
    assert_eq!(status, 400, "{body}");
    assert!(body.to_string().contains("kind"), "{body}");
    gw.create(
        "routes",
        &json!({"id": "traced", "frontend": {"domains": ["traced.test"]}, "backend": {"targets": [up.target()]},
                "plugins": plugin("otlp-http")}),
    );
    gw.create(
        "routes",
        &json!({"id": "plain", "frontend": {"domains": ["plain.test"]}, "backend": {"targets": [up.target()]}}),
    );
    gw.wait_status("traced.test", "/", 200);
    gw.wait_status("plain.test", "/", 200);
    let (_, echoed) = json(gw.proxy_get("traced.test", "/w3c"));
    let sent = echoed["headers"]["traceparent"]
        .as_str()
        .expect("a new trace upstream")
        .to_string();
    let trace_id = hex(&sent[3..35]);
    until("the plugin's span", || {
        collector
            .spans()
            .into_iter()
            .find(|s| s.trace_id == trace_id)
    });
    let (_, echoed) = json(gw.proxy_get("plain.test", "/"));
    assert!(
        echoed["headers"]["traceparent"].is_null(),
        "other routes are untouched"
    );
}
