//! Backends through the real proxy: load balancing, retries, timeouts, circuit breaker, health
//! checks and streaming bodies.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::support::upstream::{Hangup, Upstream};
use crate::support::{Gateway, Options, json};
use reqwest::Method;
use serde_json::{Value, json};

/// A route on `host` to `targets` with `lb` and `client` settings.
fn route(host: &str, targets: Vec<Value>, lb: Value, client: Value) -> Value {
    json!({
        "id": format!("route_{}", host.replace('.', "_")),
        "frontend": {"domains": [host]},
        "backend": {"targets": targets, "load_balancing": lb, "client": client}
    })
}

/// Which upstream answered each of `n` calls.
fn tally(
    gw: &Gateway,
    host: &str,
    n: usize,
    tweak: impl Fn(usize, reqwest::blocking::RequestBuilder) -> reqwest::blocking::RequestBuilder,
) -> HashMap<String, usize> {
    let mut counts = HashMap::new();
    for i in 0..n {
        let resp = tweak(i, gw.call(Method::GET, host, "/")).send().unwrap();
        assert_eq!(resp.status(), 200);
        let name = resp.headers()["x-upstream"].to_str().unwrap().to_string();
        *counts.entry(name).or_default() += 1;
    }
    counts
}

fn get(counts: &HashMap<String, usize>, name: &str) -> usize {
    counts.get(name).copied().unwrap_or(0)
}

#[test]
fn upstream_connections_are_kept_alive_and_reused() {
    let up = Upstream::start("pool");
    let gw = Gateway::start();
    gw.create(
        "routes",
        &route("pool.test", vec![up.target()], json!({}), json!({})),
    );
    gw.wait_status("pool.test", "/", 200);
    let before = up.connections();
    for i in 0..50 {
        // Sized bodies (JSON echo), chunked bodies and empty ones all give the connection back.
        let path = match i % 3 {
            0 => "/".to_string(),
            1 => "/bytes/100000".to_string(),
            _ => "/status/204".to_string(),
        };
        let resp = gw.proxy_get("pool.test", &path);
        assert!(resp.status().is_success());
        resp.bytes().unwrap();
    }
    assert!(
        up.connections() - before <= 1,
        "50 sequential calls opened {} connections",
        up.connections() - before
    );
}

#[test]
fn round_robin_is_weighted_and_exact() {
    let (a, b) = (Upstream::start("a"), Upstream::start("b"));
    let gw = Gateway::start();
    let mut ta = a.target();
    ta["weight"] = json!(3);
    gw.create(
        "routes",
        &route(
            "rr.test",
            vec![ta, b.target()],
            json!({"type": "RoundRobin"}),
            json!({}),
        ),
    );
    gw.wait_status("rr.test", "/", 200);
    let c = tally(&gw, "rr.test", 400, |_, r| r);
    let (na, nb) = (get(&c, "a"), get(&c, "b"));
    assert!(
        (299..=301).contains(&na) && (99..=101).contains(&nb),
        "3:1 expected, got {c:?}"
    );
}

#[test]
fn random_and_power_of_two_spread_over_targets() {
    let (a, b) = (Upstream::start("a"), Upstream::start("b"));
    let gw = Gateway::start();
    gw.create(
        "routes",
        &route(
            "rnd.test",
            vec![a.target(), b.target()],
            json!({"type": "Random"}),
            json!({}),
        ),
    );
    gw.create(
        "routes",
        &route(
            "p2c.test",
            vec![a.target(), b.target()],
            json!({"type": "PowerOfTwoRandomChoices"}),
            json!({}),
        ),
    );
    gw.create(
        "routes",
        &route(
            "lc.test",
            vec![a.target(), b.target()],
            json!({"type": "LeastConnections"}),
            json!({}),
        ),
    );
    gw.wait_status("lc.test", "/", 200);
    for host in ["rnd.test", "p2c.test", "lc.test"] {
        let c = tally(&gw, host, 300, |_, r| r);
        assert!(
            get(&c, "a") > 60 && get(&c, "b") > 60,
            "{host} spreads: {c:?}"
        );
    }
}

#[test]
fn hash_balancers_keep_a_key_on_one_target() {
    let ups: Vec<Upstream> = (0..3).map(|i| Upstream::start(&format!("u{i}"))).collect();
    let targets: Vec<Value> = ups.iter().map(Upstream::target).collect();
    let gw = Gateway::start();
    gw.create(
        "routes",
        &route(
            "ip.test",
            targets.clone(),
            json!({"type": "IpAddressHash"}),
            json!({}),
        ),
    );
    gw.create(
        "routes",
        &route(
            "hdr.test",
            targets.clone(),
            json!({"type": "HeaderHash", "header_name": "x-user"}),
            json!({}),
        ),
    );
    gw.create(
        "routes",
        &route(
            "ck.test",
            targets.clone(),
            json!({"type": "CookieHash", "cookie_name": "uid"}),
            json!({}),
        ),
    );
    gw.create(
        "routes",
        &route(
            "q.test",
            targets,
            json!({"type": "QueryHash", "query_name": "user"}),
            json!({}),
        ),
    );
    gw.wait_status("q.test", "/", 200);

    assert_eq!(
        tally(&gw, "ip.test", 30, |_, r| r).len(),
        1,
        "one client address, one target"
    );
    let by_key = |host: &str,
                  with: &dyn Fn(
        usize,
        reqwest::blocking::RequestBuilder,
    ) -> reqwest::blocking::RequestBuilder| {
        let mut seen: HashMap<usize, String> = HashMap::new();
        for i in 0..60 {
            let key = i % 12;
            let resp = with(key, gw.call(Method::GET, host, &format!("/?user=k{key}")))
                .send()
                .unwrap();
            let name = resp.headers()["x-upstream"].to_str().unwrap().to_string();
            let first = seen.entry(key).or_insert_with(|| name.clone());
            assert_eq!(*first, name, "{host}: key {key} moved");
        }
        let distinct: std::collections::HashSet<&String> = seen.values().collect();
        assert!(distinct.len() > 1, "{host}: twelve keys all on one target");
    };
    by_key("hdr.test", &|k, r| r.header("x-user", format!("k{k}")));
    by_key("ck.test", &|k, r| {
        r.header("cookie", format!("a=b; uid=k{k}"))
    });
    by_key("q.test", &|_, r| r);
    let c = tally(&gw, "hdr.test", 30, |_, r| r);
    assert!(c.len() > 1, "without the header: round robin, {c:?}");
}

#[test]
fn sticky_sets_a_tracking_cookie_and_follows_it() {
    let ups: Vec<Upstream> = (0..3).map(|i| Upstream::start(&format!("s{i}"))).collect();
    let gw = Gateway::start();
    gw.create(
        "routes",
        &route(
            "sticky.test",
            ups.iter().map(Upstream::target).collect(),
            json!({"type": "Sticky"}),
            json!({}),
        ),
    );
    gw.wait_status("sticky.test", "/", 200);
    let first = gw.proxy_get("sticky.test", "/");
    let cookie = first.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(cookie.starts_with("otoroshi-tracking="), "{cookie}");
    let pair = cookie.split(';').next().unwrap().to_string();
    let c = tally(&gw, "sticky.test", 20, |_, r| {
        r.header("cookie", pair.clone())
    });
    assert_eq!(c.len(), 1, "one tracking id, one target: {c:?}");
    let with_cookie = gw
        .call(Method::GET, "sticky.test", "/")
        .header("cookie", pair)
        .send()
        .unwrap();
    assert!(
        with_cookie.headers().get("set-cookie").is_none(),
        "a known id is not set again"
    );
}

#[test]
fn best_response_time_prefers_the_fast_target() {
    let fast = Upstream::start("fast");
    let slow = Upstream::slow("slow", Duration::from_millis(40));
    let gw = Gateway::start();
    let targets = vec![fast.target(), slow.target()];
    gw.create(
        "routes",
        &route(
            "brt.test",
            targets.clone(),
            json!({"type": "BestResponseTime"}),
            json!({}),
        ),
    );
    gw.create(
        "routes",
        &route(
            "wbrt.test",
            targets,
            json!({"type": "WeightedBestResponseTime", "ratio": 0.8}),
            json!({}),
        ),
    );
    gw.wait_status("wbrt.test", "/", 200);
    let c = tally(&gw, "brt.test", 40, |_, r| r);
    assert!(get(&c, "slow") <= 2, "measured once, then avoided: {c:?}");
    let c = tally(&gw, "wbrt.test", 100, |_, r| r);
    assert!(
        get(&c, "fast") > get(&c, "slow") * 2 && get(&c, "slow") >= 2,
        "mostly fast, some random: {c:?}"
    );
}

#[test]
fn connection_failures_retry_on_another_target() {
    let mut dead = Upstream::start("dead");
    dead.stop();
    let live = Upstream::start("live");
    let gw = Gateway::start();
    gw.create(
        "routes",
        &route(
            "retry.test",
            vec![dead.target(), live.target()],
            json!({}),
            json!({"retries": 1, "useCircuitBreaker": false}),
        ),
    );
    gw.wait_status("retry.test", "/", 200);
    for _ in 0..20 {
        let resp = gw
            .call(Method::POST, "retry.test", "/")
            .body("never sent, so safe to resend")
            .send()
            .unwrap();
        assert_eq!(
            resp.status(),
            200,
            "a refused connection is retried, even for a POST"
        );
    }
    let (status, body) = json(
        gw.call(Method::POST, "retry.test", "/")
            .body("x")
            .send()
            .unwrap(),
    );
    assert_eq!((status, body["body_bytes"].clone()), (200, json!(1)));
}

#[test]
fn a_sent_post_is_not_retried_but_a_get_is() {
    let hangup = Hangup::start();
    let live = Upstream::start("live");
    let gw = Gateway::start();
    gw.create(
        "routes",
        &route(
            "sent.test",
            vec![hangup.target(), live.target()],
            json!({}),
            json!({"retries": 1, "useCircuitBreaker": false}),
        ),
    );
    gw.wait_status("sent.test", "/", 200);
    let (before, hung_before) = (live.hits(), hangup.hits());
    let mut failed_posts = 0;
    for _ in 0..10 {
        let resp = gw
            .call(Method::POST, "sent.test", "/")
            .body("payload")
            .send()
            .unwrap();
        if resp.status() == 502 {
            failed_posts += 1;
            assert_eq!(
                resp.headers()["otoroshi-error-cause"],
                "errors.connection.reset",
                "a target closing the connection before answering is a reset"
            );
        }
    }
    assert!(
        failed_posts >= 4,
        "round robin sends half the POSTs to the hang-up target ({failed_posts})"
    );
    assert_eq!(
        live.hits() - before,
        10 - failed_posts,
        "those POSTs were not resent"
    );
    assert_eq!(
        hangup.hits() - hung_before,
        failed_posts,
        "each failed POST reached the hang-up target once"
    );
    for _ in 0..10 {
        assert_eq!(
            gw.proxy_get("sent.test", "/").status(),
            200,
            "a GET without body is resent"
        );
    }
}

#[test]
fn timeouts_answer_504_and_stall_is_cut() {
    let up = Upstream::start("t");
    let gw = Gateway::start();
    let client = json!({"callTimeout": 300, "callAndStreamTimeout": 600, "retries": 0, "useCircuitBreaker": false});
    gw.create(
        "routes",
        &route("to.test", vec![up.target()], json!({}), client),
    );
    let global = json!({"callTimeout": 1000, "globalTimeout": 400, "retries": 3, "useCircuitBreaker": false});
    gw.create(
        "routes",
        &route("global.test", vec![up.target()], json!({}), global),
    );
    gw.wait_status("to.test", "/", 200);

    let started = Instant::now();
    let resp = gw.proxy_get("to.test", "/slow/3000");
    assert_eq!(resp.status(), 504);
    assert_eq!(
        resp.headers()["otoroshi-error-cause"],
        "errors.request.timeout"
    );
    assert!(
        started.elapsed() < Duration::from_millis(2500),
        "callTimeout cut it: {:?}",
        started.elapsed()
    );

    let started = Instant::now();
    assert_eq!(gw.proxy_get("global.test", "/slow/900").status(), 504);
    assert!(
        started.elapsed() < Duration::from_millis(850),
        "globalTimeout bounds retries: {:?}",
        started.elapsed()
    );

    let asked = Instant::now();
    let resp = gw.proxy_get("to.test", "/stall");
    assert_eq!(resp.status(), 200, "headers came in time");
    assert!(resp.bytes().is_err(), "the stalled body is cut, not hung");
    let cut = asked.elapsed();
    assert!(
        cut >= Duration::from_millis(590) && cut < Duration::from_secs(3),
        "the body gets callAndStreamTimeout (600 ms), not callTimeout (300 ms): cut after {cut:?}"
    );
}

#[test]
fn connection_timeout_answers_504() {
    // A listener whose accept queue is full drops new SYNs: connecting hangs.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let _fill: Vec<_> = (0..300)
        .filter_map(|_| {
            std::net::TcpStream::connect_timeout(
                &listener.local_addr().unwrap(),
                Duration::from_millis(50),
            )
            .ok()
        })
        .collect();
    let gw = Gateway::start();
    let target = json!({"hostname": "127.0.0.1", "port": port});
    let client = json!({"connectionTimeout": 300, "retries": 0, "useCircuitBreaker": false});
    gw.create("routes", &route("ct.test", vec![target], json!({}), client));
    let started = Instant::now();
    let resp = gw.proxy_get("ct.test", "/");
    assert_eq!(resp.status(), 504, "{:?}", resp.headers());
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn the_circuit_opens_after_max_errors_and_closes_again() {
    let mut up = Upstream::start("cb");
    let addr = up.addr;
    up.stop();
    let gw = Gateway::start();
    let client =
        json!({"useCircuitBreaker": true, "maxErrors": 3, "sampleInterval": 800, "retries": 0});
    gw.create(
        "routes",
        &route("cb.test", vec![up.target()], json!({}), client),
    );
    for _ in 0..3 {
        let resp = gw.proxy_get("cb.test", "/");
        assert_eq!(resp.status(), 502);
        assert_eq!(
            resp.headers()["otoroshi-error-cause"],
            "errors.connection.refused"
        );
    }
    let resp = gw.proxy_get("cb.test", "/");
    assert_eq!(resp.status(), 503, "open after 3 errors");
    assert_eq!(
        resp.headers()["otoroshi-error-cause"],
        "errors.circuit.breaker.open"
    );
    let _back = Upstream::start_with("cb", &addr.to_string(), Duration::ZERO);
    assert_eq!(gw.proxy_get("cb.test", "/").status(), 503, "still open");
    std::thread::sleep(Duration::from_millis(900));
    assert_eq!(
        gw.proxy_get("cb.test", "/").status(),
        200,
        "half-open trial succeeds"
    );
    assert_eq!(gw.proxy_get("cb.test", "/").status(), 200, "closed");
}

#[test]
fn health_checks_take_failing_targets_out_and_back() {
    let mut sick = Upstream::start("sick");
    let addr = sick.addr;
    let well = Upstream::start("well");
    let gw = Gateway::start();
    let mut r = route(
        "hc.test",
        vec![sick.target(), well.target()],
        json!({}),
        json!({"useCircuitBreaker": false, "retries": 0}),
    );
    r["backend"]["health_check"] =
        json!({"enabled": true, "url": "/health", "interval": 100, "timeout": 200});
    gw.create("routes", &r);
    gw.wait_status("hc.test", "/", 200);
    let healthy =
        format!("komainu_upstream_target_healthy{{route=\"route_hc_test\",target=\"{addr}\"}}");
    gw.wait_metric(&healthy, 1.0);
    sick.stop();
    gw.wait_metric(&healthy, 0.0);
    let c = tally(&gw, "hc.test", 20, |_, r| r);
    assert_eq!(
        get(&c, "well"),
        20,
        "the failing target left the rotation: {c:?}"
    );
    let _back = Upstream::start_with("sick", &addr.to_string(), Duration::ZERO);
    gw.wait_metric(&healthy, 1.0);
    let c = tally(&gw, "hc.test", 20, |_, r| r);
    assert_eq!(get(&c, "sick"), 10, "back in the rotation: {c:?}");
}

#[test]
fn no_target_answers_503() {
    let gw = Gateway::start();
    gw.create(
        "routes",
        &json!({"id": "empty", "frontend": {"domains": ["empty.test"]}}),
    );
    gw.wait_status("empty.test", "/", 503);
    let resp = gw.proxy_get("empty.test", "/");
    assert_eq!(resp.headers()["content-type"], "application/json");
}

/// Feeds `total` bytes without ever holding them.
struct Zeros(u64);

impl std::io::Read for Zeros {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = (buf.len() as u64).min(self.0) as usize;
        buf[..n].fill(0);
        self.0 -= n as u64;
        Ok(n)
    }
}

#[test]
fn large_bodies_stream_both_ways_in_constant_memory() {
    const SIZE: u64 = 512 << 20;
    let up = Upstream::start("big");
    let gw = Gateway::start_with(Options {
        extra_args: vec!["--max-request-body".into(), "0".into()],
        ..Options::default()
    });
    gw.create(
        "routes",
        &route("big.test", vec![up.target()], json!({}), json!({})),
    );
    gw.wait_status("big.test", "/", 200);
    let before = gw.peak_rss_kib();

    let upload = reqwest::blocking::Body::sized(Zeros(SIZE), SIZE);
    let client = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(120))
        .build()
        .unwrap();
    let resp = client
        .post(format!("{}/upload", gw.proxy))
        .header("host", "big.test")
        .body(upload)
        .send()
        .unwrap();
    let (status, body) = json(resp);
    assert_eq!((status, body["body_bytes"].as_u64()), (200, Some(SIZE)));

    let mut resp = client
        .get(format!("{}/bytes/{SIZE}", gw.proxy))
        .header("host", "big.test")
        .send()
        .unwrap();
    let got = std::io::copy(&mut resp, &mut std::io::sink()).unwrap();
    assert_eq!(got, SIZE);

    let grew_mib = (gw.peak_rss_kib() - before) / 1024;
    assert!(
        grew_mib < 48,
        "1 GiB moved, peak memory grew {grew_mib} MiB"
    );
}

#[test]
fn tls_targets_verify_certificates_unless_told_to_trust_all() {
    let up = Upstream::start_tls("secure");
    let gw = Gateway::start();
    let target = |trust_all: bool| {
        json!({"hostname": "localhost", "ip_address": "127.0.0.1", "port": up.port(), "tls": true,
        "tls_config": {"trust_all": trust_all}})
    };
    let client = json!({"retries": 0, "useCircuitBreaker": false});
    gw.create(
        "routes",
        &route(
            "trusting.test",
            vec![target(true)],
            json!({}),
            client.clone(),
        ),
    );
    gw.create(
        "routes",
        &route("strict.test", vec![target(false)], json!({}), client),
    );
    gw.wait_status("trusting.test", "/", 200);
    let (status, body) = json(gw.proxy_get("trusting.test", "/over-tls"));
    assert_eq!(
        (status, body["name"].clone(), body["path"].clone()),
        (200, json!("secure"), json!("/over-tls"))
    );
    let resp = gw.proxy_get("strict.test", "/");
    assert_eq!(
        resp.status(),
        502,
        "a self-signed certificate is refused by default"
    );
    assert_eq!(resp.headers()["otoroshi-error-cause"], "errors.tls.error");
}
