//! Operating the proxy: hot reload under load, graceful drain, access log, demo API, metrics.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::support::upstream::Upstream;
use crate::support::{Gateway, Options, json, keyless_plan, until};
use serde_json::{Value, json};

fn api(up: &Upstream, description: &str) -> Value {
    json!({
        "id": "api_live", "domain": "live.test", "state": "published", "description": description,
        "backends": [{"id": "b", "backend": {"targets": [up.target()]}}],
        "documentation": {"plans": [keyless_plan()]},
        "routes": [{"id": "r", "frontend": {"domains": ["x/"]}, "backend": "b"}]
    })
}

#[test]
fn hot_reload_under_load_fails_no_request() {
    let up = Upstream::start("live");
    let other = Upstream::start("other");
    let gw = Gateway::start();
    gw.create("apis", &api(&up, "v0"));
    gw.wait_status("live.test", "/", 200);

    let stop = Arc::new(AtomicBool::new(false));
    let (ok, failed) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let load: Vec<_> = (0..4)
        .map(|_| {
            let (stop, ok, failed) = (stop.clone(), ok.clone(), failed.clone());
            let (url, client) = (format!("{}/", gw.proxy), gw.client.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    match client.get(&url).header("host", "live.test").send() {
                        Ok(r) if r.status() == 200 => ok.fetch_add(1, Ordering::Relaxed),
                        _ => failed.fetch_add(1, Ordering::Relaxed),
                    };
                }
            })
        })
        .collect();
    for i in 0..30 {
        // Alternate the backend between two servers and add routes: every change rebuilds.
        let target = if i % 2 == 0 { &other } else { &up };
        let mut doc = api(target, &format!("v{i}"));
        doc["routes"].as_array_mut().unwrap().push(json!({"id": format!("extra{i}"), "frontend": {"domains": [format!("x/extra{i}")]}, "backend": "b"}));
        assert_eq!(gw.put("/api/apis/api_live", &doc).status(), 200);
        std::thread::sleep(Duration::from_millis(30));
    }
    stop.store(true, Ordering::Relaxed);
    load.into_iter().for_each(|t| t.join().unwrap());
    let (ok, failed) = (ok.load(Ordering::Relaxed), failed.load(Ordering::Relaxed));
    eprintln!("hot reload: {ok} requests served, {failed} failed");
    assert!(ok > 200, "load ran ({ok})");
    assert_eq!(failed, 0);
    assert!(
        other.hits() > 0 && up.hits() > 0,
        "both configurations served"
    );
}

#[test]
fn sigterm_drains_in_flight_requests_and_exits_zero() {
    let up = Upstream::start("drain");
    let mut gw = Gateway::start();
    gw.create("routes", &json!({"id": "slow", "frontend": {"domains": ["drain.test"]}, "backend": {"targets": [up.target()]}}));
    gw.wait_status("drain.test", "/", 200);
    let (url, client) = (format!("{}/slow/1500", gw.proxy), gw.client.clone());
    let hits = up.hits();
    let in_flight = std::thread::spawn(move || {
        client
            .get(&url)
            .header("host", "drain.test")
            .send()
            .map(|r| r.status().as_u16())
    });
    until("the slow call at the upstream", || {
        (up.hits() > hits).then_some(())
    });
    let started = Instant::now();
    let proxy = gw.proxy.clone();
    let status = gw.terminate();
    assert!(status.success(), "exit status {status:?}");
    assert_eq!(
        in_flight.join().unwrap().unwrap(),
        200,
        "the in-flight request finished"
    );
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "waited for it: {:?}",
        started.elapsed()
    );
    let refused = reqwest::blocking::get(format!("{proxy}/"));
    assert!(refused.is_err(), "no longer accepting");
}

#[test]
fn on_one_core_one_thread_proxies_concurrent_calls_and_drains() {
    let up = Upstream::start("one");
    let mut gw = Gateway::start_with(Options {
        one_core: true,
        ..Default::default()
    });
    assert!(
        gw.stderr
            .lock()
            .unwrap()
            .contains("scheduler=\"one thread\""),
        "a one-core gateway runs its async work on one thread"
    );
    gw.create("routes", &json!({"id": "one", "frontend": {"domains": ["one.test"]}, "backend": {"targets": [up.target()]}}));
    gw.wait_status("one.test", "/", 200);
    // A slow call in flight must not hold the others back: the one thread interleaves them.
    let (slow_url, client) = (format!("{}/slow/3000", gw.proxy), gw.client.clone());
    let hits = up.hits();
    let slow = std::thread::spawn(move || {
        client
            .get(&slow_url)
            .header("host", "one.test")
            .send()
            .map(|r| r.status().as_u16())
    });
    until("the slow call at the upstream", || {
        (up.hits() > hits).then_some(())
    });
    let callers: Vec<_> = (0..4)
        .map(|_| {
            let (url, client) = (format!("{}/fast", gw.proxy), gw.client.clone());
            std::thread::spawn(move || {
                (0..50)
                    .map(|_| {
                        client
                            .get(&url)
                            .header("host", "one.test")
                            .send()
                            .unwrap()
                            .status()
                            .as_u16()
                    })
                    .filter(|s| *s == 200)
                    .count()
            })
        })
        .collect();
    let served: usize = callers.into_iter().map(|c| c.join().unwrap()).sum();
    assert_eq!(served, 200);
    assert!(
        !slow.is_finished(),
        "200 calls were served while the slow one was still in flight"
    );
    let status = gw.terminate();
    assert!(status.success(), "exit status {status:?}");
    assert_eq!(slow.join().unwrap().unwrap(), 200, "the slow call drained");
}

#[test]
fn access_log_writes_one_json_line_per_request() {
    let up = Upstream::start("log");
    let gw = Gateway::start_with(Options {
        extra_args: vec!["--access-log".into()],
        ..Default::default()
    });
    gw.create("routes", &json!({"id": "logged", "frontend": {"domains": ["log.test"]}, "backend": {"targets": [up.target()]}}));
    gw.wait_status("log.test", "/", 200);
    gw.proxy_get("log.test", "/hello?x=1");
    gw.proxy_get(
        "log.test",
        "/secret?access_token=eyJhbGciOi.payload.sig&page=2",
    );
    gw.proxy_get("nothing.test", "/");
    let deadline = Instant::now() + Duration::from_secs(3);
    let lines: Vec<Value> = loop {
        let text = gw.stdout.lock().unwrap().clone();
        let lines: Vec<Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).expect("each line is JSON"))
            .collect();
        if lines.iter().any(|l| l["host"] == "nothing.test") || Instant::now() > deadline {
            break lines;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let hello = lines
        .iter()
        .find(|l| l["path"] == "/hello?x=1")
        .expect("logged");
    assert_eq!(hello["status"], 200);
    assert_eq!(hello["route_id"], "logged");
    assert_eq!(hello["target"], format!("127.0.0.1:{}", up.port()));
    assert!(hello["upstream_ms"].as_f64().is_some());
    assert!(
        lines
            .iter()
            .any(|l| l["path"] == "/secret?access_token=REDACTED&page=2"),
        "credentials in the query never reach the log: {lines:?}"
    );
    assert!(!gw.stdout.lock().unwrap().contains("eyJhbGciOi"));
    let miss = lines
        .iter()
        .find(|l| l["host"] == "nothing.test")
        .expect("404 logged");
    assert_eq!(
        (miss["status"].clone(), miss["error"].clone()),
        (json!(404), json!("not_found"))
    );

    let quiet = Gateway::start();
    quiet.proxy_get("log.test", "/");
    std::thread::sleep(Duration::from_millis(100));
    assert!(quiet.stdout.lock().unwrap().is_empty(), "off by default");
}

#[test]
fn the_demo_api_answers_without_any_upstream() {
    let gw = Gateway::start_with(Options {
        extra_args: vec!["--demo".into()],
        ..Default::default()
    });
    let (status, body) = json(gw.proxy_get("localhost", "/demo/hello"));
    assert_eq!(
        (status, body),
        (200, json!({"message": "hello from komainu"}))
    );
    let (status, api) = json(gw.get("/api/apis/api_komainu_demo"));
    assert_eq!(
        (status, api["state"].clone()),
        (200, json!("published")),
        "stored like any API"
    );
}

#[test]
fn metrics_count_proxied_responses() {
    let gw = Gateway::start();
    gw.proxy_get("none.test", "/");
    let text = gw.metrics();
    assert!(
        text.contains("komainu_proxy_responses_total{code=\"4xx\"} 1"),
        "{text}"
    );
    assert!(
        text.contains("komainu_proxy_route_not_found_total 1"),
        "{text}"
    );
}
