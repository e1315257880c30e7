//! The traffic plugins through the real proxy: canary splits that stick to a client, mirroring
//! that never slows the main call, a response cache that spares the backend, routing
//! restrictions, and an echo backend.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::upstream::Upstream;
use crate::support::{Gateway, json};

const P: &str = "cp:otoroshi.next.plugins.";

fn route(gw: &Gateway, host: &str, up: &Upstream, plugins: Value) {
    gw.create(
        "routes",
        &json!({"id": host.replace('.', "_"), "frontend": {"domains": [host]},
                "backend": {"targets": [up.target()]}, "plugins": plugins}),
    );
}

fn plugin(name: &str, config: Value) -> Value {
    json!({"plugin": format!("{P}{name}"), "config": config})
}

fn served_by(resp: reqwest::blocking::Response) -> String {
    resp.headers()["x-upstream"].to_str().unwrap().to_string()
}

#[test]
fn canary_mode_splits_clients_and_keeps_each_on_its_side() {
    let (main, canary) = (Upstream::start("main"), Upstream::start("canary"));
    let gw = Gateway::start();
    route(
        &gw,
        "split.test",
        &main,
        json!([plugin(
            "CanaryMode",
            json!({
        "traffic": 0.5, "targets": [{"id": "c", "hostname": "127.0.0.1", "port": canary.port()}], "root": "/v2"})
        )]),
    );
    let mut sides = std::collections::HashMap::new();
    let mut cookies = Vec::new();
    for _ in 0..200 {
        let resp = gw.proxy_get("split.test", "/hello");
        let cookie = resp.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .split(';')
            .next()
            .unwrap()
            .to_string();
        *sides.entry(served_by(resp)).or_insert(0) += 1;
        cookies.push(cookie);
    }
    assert!(
        sides["main"] > 50 && sides["canary"] > 50,
        "about half each: {sides:?}"
    );
    assert!(
        canary.seen().iter().all(|l| l.starts_with("GET /v2/hello")),
        "{:?}",
        canary.seen()
    );
    // A client that comes back with its cookie stays where it was.
    for cookie in cookies.iter().take(20) {
        let first = served_by(
            gw.call(reqwest::Method::GET, "split.test", "/")
                .header("cookie", cookie)
                .send()
                .unwrap(),
        );
        for _ in 0..5 {
            let again = gw
                .call(reqwest::Method::GET, "split.test", "/")
                .header("cookie", cookie)
                .send()
                .unwrap();
            assert!(again.headers().get("set-cookie").is_none(), "no new id");
            assert_eq!(served_by(again), first);
        }
    }
}

#[test]
fn mirroring_copies_calls_without_slowing_them() {
    let main = Upstream::start("main");
    let mirror = Upstream::slow("mirror", Duration::from_secs(2));
    let gw = Gateway::start();
    route(
        &gw,
        "mirror.test",
        &main,
        json!([plugin(
            "NgTrafficMirroring",
            json!({
        "to": format!("http://127.0.0.1:{}", mirror.port()), "headers": {"x-mirrored": "yes"}})
        )]),
    );
    let started = Instant::now();
    let resp = gw
        .call(reqwest::Method::POST, "mirror.test", "/orders?id=7")
        .body("x".repeat(5000))
        .send()
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert!(
        started.elapsed() < Duration::from_millis(1500),
        "the 2 s mirror is not waited for: {:?}",
        started.elapsed()
    );
    assert_eq!(main.bodies(), vec![("/orders?id=7".to_string(), 5000)]);
    // The mirror gets the same call, body included, a little later.
    let started = Instant::now();
    while mirror.bodies().is_empty() {
        assert!(started.elapsed() < Duration::from_secs(5), "never mirrored");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(mirror.bodies(), vec![("/orders?id=7".to_string(), 5000)]);
}

#[test]
fn the_response_cache_spares_the_backend() {
    let up = Upstream::start("cached");
    let gw = Gateway::start();
    route(
        &gw,
        "cache.test",
        &up,
        json!([plugin("NgResponseCache", json!({"ttl": 60000}))]),
    );
    route(
        &gw,
        "short.test",
        &up,
        json!([plugin("NgResponseCache", json!({"ttl": 1}))]),
    );
    let first = gw.proxy_get("cache.test", "/items?page=1");
    assert!(first.headers().get("age").is_none());
    let body = first.text().unwrap();
    let hits = up.hits();
    let second = gw.proxy_get("cache.test", "/items?page=1");
    assert!(
        second.headers().get("age").is_some(),
        "answered from the cache"
    );
    assert_eq!(second.text().unwrap(), body);
    assert_eq!(up.hits(), hits, "the backend was not called");
    gw.proxy_get("cache.test", "/items?page=2");
    assert_eq!(up.hits(), hits + 1, "another query is another entry");
    gw.call(reqwest::Method::POST, "cache.test", "/items?page=1")
        .send()
        .unwrap();
    assert_eq!(up.hits(), hits + 2, "only GET is cached");
    gw.proxy_get("cache.test", "/status/500");
    gw.proxy_get("cache.test", "/status/500");
    assert_eq!(up.hits(), hits + 4, "only 200s are kept");
    gw.proxy_get("short.test", "/");
    std::thread::sleep(Duration::from_millis(5));
    let before = up.hits();
    gw.proxy_get("short.test", "/");
    assert_eq!(up.hits(), before + 1, "an expired entry is fetched again");
}

#[test]
fn routing_restrictions_and_the_echo_backend() {
    let up = Upstream::start("restricted");
    let gw = Gateway::start();
    route(
        &gw,
        "rr.test",
        &up,
        json!([plugin(
            "RoutingRestrictions",
            json!({
        "allow_last": false,
        "allowed": [{"method": "GET", "path": "/public/.*"}],
        "forbidden": [{"method": "*", "path": "/public/.*"}]})
        )]),
    );
    assert_eq!(gw.proxy_get("rr.test", "/public/a").status(), 200);
    let (status, err) = json(
        gw.call(reqwest::Method::DELETE, "rr.test", "/public/a")
            .send()
            .unwrap(),
    );
    assert_eq!(
        (status, err["error"].clone()),
        (403, json!("errors.forbidden"))
    );
    assert_eq!(gw.proxy_get("rr.test", "/admin").status(), 404);

    route(
        &gw,
        "echo.test",
        &up,
        json!([
            plugin("EchoBackend", json!({})),
            plugin("AdditionalHeadersIn", json!({"headers": {"x-added": "1"}}))
        ]),
    );
    let hits = up.hits();
    let (status, echo) = json(
        gw.call(reqwest::Method::PUT, "echo.test", "/things/3?x=y")
            .header("content-type", "text/plain")
            .body("payload")
            .send()
            .unwrap(),
    );
    assert_eq!(status, 200);
    assert_eq!(echo["method"], "PUT");
    assert_eq!(echo["path"], "/things/3");
    assert_eq!(echo["query"], json!({"x": "y"}));
    assert_eq!(echo["raw_path"], "/things/3?x=y");
    assert_eq!(echo["body"], "payload");
    assert_eq!(
        echo["headers"]["x-added"], "1",
        "what the plugins did is seen"
    );
    assert_eq!(up.hits(), hits, "no backend was called");
}
