//! The limit plugins through the real proxy, under concurrent load: exactly as many calls pass as
//! the limit says (no more, no fewer), each refusal with Otoroshi's status and cause, and daily
//! counts that survive a restart and roll over with the day.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

use crate::support::upstream::Upstream;
use crate::support::{Gateway, Options, json};

const P: &str = "cp:otoroshi.next.plugins.";

fn route(gw: &Gateway, host: &str, up: &Upstream, plugin: &str, config: Value) {
    gw.create(
        "routes",
        &json!({"id": host.replace('.', "_"), "frontend": {"domains": [host]},
                "backend": {"targets": [up.target()]},
                "plugins": [{"plugin": format!("{P}{plugin}"), "config": config}]}),
    );
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

/// Waits until a fresh `window_ms` window has at least `margin_ms` to run (so that a burst falls
/// in one window).
fn at_window_start(window_ms: u64, margin_ms: u64) {
    let into = now_ms() % window_ms;
    if window_ms - into < margin_ms {
        std::thread::sleep(Duration::from_millis(window_ms - into + 5));
    }
}

/// `total` calls from `threads` threads at once; the statuses counted.
fn burst(gw: &Gateway, host: &str, total: usize, headers: &[(&str, &str)]) -> Vec<(u16, usize)> {
    let counts: Arc<Vec<AtomicUsize>> = Arc::new((0..600).map(|_| AtomicUsize::new(0)).collect());
    let next = Arc::new(AtomicUsize::new(0));
    let url = format!("{}/", gw.proxy);
    std::thread::scope(|s| {
        for _ in 0..8 {
            let (counts, next, url) = (counts.clone(), next.clone(), url.clone());
            s.spawn(move || {
                let client = reqwest::blocking::Client::new();
                while next.fetch_add(1, Ordering::SeqCst) < total {
                    let mut rb = client.get(&url).header("host", host);
                    for (k, v) in headers {
                        rb = rb.header(*k, *v);
                    }
                    let status = rb.send().unwrap().status().as_u16();
                    counts[status as usize].fetch_add(1, Ordering::SeqCst);
                }
            });
        }
    });
    (0..600)
        .filter_map(|i| {
            let n = counts[i].load(Ordering::SeqCst);
            (n > 0).then_some((i as u16, n))
        })
        .collect()
}

#[test]
fn fixed_windows_and_token_buckets_admit_exactly_their_limit_under_load() {
    let up = Upstream::start("limits");
    let gw = Gateway::start();
    route(
        &gw,
        "window.test",
        &up,
        "FixedWindow",
        json!({"windowDurationMs": 3_600_000, "quota": {"window": 50}}),
    );
    route(
        &gw,
        "bucket.test",
        &up,
        "LocalTokenBucket",
        json!({"capacity": 20, "refillRequestIntervalMs": 3_600_000, "refillRequestedTokens": 1}),
    );
    route(
        &gw,
        "per-user.test",
        &up,
        "FixedWindow",
        json!({"windowDurationMs": 3_600_000, "quota": {"window": 2}, "bucketKey": "${req.headers.X-User}"}),
    );

    at_window_start(3_600_000, 10_000);
    assert_eq!(
        burst(&gw, "window.test", 200, &[]),
        vec![(200, 50), (429, 150)]
    );
    assert_eq!(
        burst(&gw, "bucket.test", 100, &[]),
        vec![(200, 20), (429, 80)]
    );
    let resp = gw.proxy_get("window.test", "/");
    assert_eq!(resp.status(), 429);
    assert_eq!(
        resp.headers()["otoroshi-error-cause"],
        "errors.too.much.requests"
    );

    // Keyed by an expression: each user has a window of their own.
    let as_user = |u: &str| {
        gw.call(reqwest::Method::GET, "per-user.test", "/")
            .header("x-user", u)
            .send()
            .unwrap()
            .status()
            .as_u16()
    };
    assert_eq!(
        [as_user("alice"), as_user("alice"), as_user("alice")],
        [200, 200, 429]
    );
    assert_eq!(as_user("bob"), 200);

    // A configuration change hands out no fresh allowance.
    gw.create("groups", &json!({"id": "unrelated", "name": "unrelated"}));
    assert_eq!(gw.proxy_get("window.test", "/").status(), 429);
}

#[test]
fn throttling_counts_per_second_globally_per_address_and_per_expression() {
    let up = Upstream::start("throttle");
    let gw = Gateway::start();
    let (status, body) = json(gw.patch(
        "/api/globalconfig",
        &json!({"throttlingQuota": 7, "perIpThrottlingQuota": 4}),
    ));
    assert_eq!(status, 200, "{body}");
    route(&gw, "global.test", &up, "GlobalThrottling", json!({}));
    route(
        &gw,
        "ip.test",
        &up,
        "GlobalPerIpAddressThrottling",
        json!({}),
    );
    route(
        &gw,
        "custom.test",
        &up,
        "NgCustomThrottling",
        json!({"throttling_quota": 3, "expression": "${req.headers.X-Tenant}"}),
    );

    at_window_start(1000, 400);
    assert_eq!(
        burst(&gw, "global.test", 30, &[]),
        vec![(200, 7), (429, 23)]
    );
    at_window_start(1000, 400);
    let refusal = (0..20)
        .map(|_| json(gw.proxy_get("global.test", "/")))
        .find(|(status, _)| *status == 429)
        .expect("refused within the second")
        .1;
    assert_eq!(
        refusal["error_description"],
        "[GLOBAL] You performed too much requests"
    );
    at_window_start(1000, 400);
    assert_eq!(burst(&gw, "ip.test", 30, &[]), vec![(200, 4), (429, 26)]);
    at_window_start(1000, 400);
    assert_eq!(
        burst(&gw, "custom.test", 20, &[("x-tenant", "acme")]),
        vec![(200, 3), (403, 17)],
        "Otoroshi answers 403 for custom throttling"
    );
}

#[test]
fn daily_quotas_survive_a_restart_and_roll_over_with_the_day() {
    let up = Upstream::start("quotas");
    let options = || Options {
        extra_args: vec!["--testing-clock".into()],
        ..Options::default()
    };
    let mut gw = Gateway::start_with(options());
    route(
        &gw,
        "public.test",
        &up,
        "NgServiceQuotas",
        json!({"daily_quota": 5}),
    );
    route(
        &gw,
        "custom.test",
        &up,
        "NgCustomQuotas",
        json!({"daily_quota": 2, "expression": "${req.headers.X-User}"}),
    );
    // Noon: a day away from either midnight.
    let day_ms = 86_400_000i64;
    let offset = day_ms / 2 - (now_ms() as i64 % day_ms);
    assert_eq!(
        gw.put("/api/_testing/clock", &json!({"offset_ms": offset}))
            .status(),
        200
    );
    let statuses = |gw: &Gateway, host: &str, user: &str, n: usize| -> Vec<u16> {
        (0..n)
            .map(|_| {
                gw.call(reqwest::Method::GET, host, "/")
                    .header("x-user", user)
                    .send()
                    .unwrap()
                    .status()
                    .as_u16()
            })
            .collect()
    };
    assert_eq!(statuses(&gw, "public.test", "-", 4), [200; 4]);
    assert_eq!(statuses(&gw, "custom.test", "alice", 3), [200, 200, 403]);
    assert_eq!(statuses(&gw, "custom.test", "bob", 1), [200]);

    // SIGTERM flushes the counts; the next process reads them back.
    let dir = gw.keep_dir();
    assert!(gw.terminate().success());
    let gw = Gateway::start_in(dir.path(), options());
    assert_eq!(
        gw.put("/api/_testing/clock", &json!({"offset_ms": offset}))
            .status(),
        200
    );
    assert_eq!(
        statuses(&gw, "public.test", "-", 2),
        [200, 403],
        "5 a day, 4 already spent"
    );
    assert_eq!(statuses(&gw, "custom.test", "alice", 1), [403]);
    let resp = gw.proxy_get("public.test", "/");
    assert_eq!(resp.headers()["otoroshi-error-cause"], "forbidden");

    // The next day starts from zero.
    assert_eq!(
        gw.put(
            "/api/_testing/clock",
            &json!({"offset_ms": offset + day_ms})
        )
        .status(),
        200
    );
    assert_eq!(statuses(&gw, "public.test", "-", 1), [200]);
    assert_eq!(statuses(&gw, "custom.test", "alice", 1), [200]);
}

#[test]
fn limit_configs_are_refused_with_their_path() {
    let gw = Gateway::start();
    let up = Upstream::start("bad");
    for (plugin, config, path) in [
        (
            "FixedWindow",
            json!({"windowDurationMs": 0}),
            "windowDurationMs",
        ),
        (
            "LocalTokenBucket",
            json!({"bucketKey": "${nope}"}),
            "bucketKey",
        ),
        ("NgCustomQuotas", json!({"daily_quota": -1}), "daily_quota"),
        ("NgServiceQuotas", json!({"dailyQuota": 3}), ""),
        ("GlobalThrottling", json!({"quota": 3}), ""),
    ] {
        let doc = json!({"id": "r", "frontend": {"domains": ["bad.test"]},
                         "backend": {"targets": [up.target()]},
                         "plugins": [{"plugin": format!("{P}{plugin}"), "config": config}]});
        let (status, body) = json(gw.post("/api/routes", &doc));
        assert_eq!(status, 400, "{plugin}: {body}");
        let at = body["details"][0]["path"].as_str().unwrap();
        assert!(at.starts_with("plugins[0].config"), "{plugin}: {body}");
        assert!(at.contains(path), "{plugin}: {body}");
    }
}
