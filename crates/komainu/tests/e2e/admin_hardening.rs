//! The admin API under abuse: hostile documents are refused in milliseconds without stalling the
//! proxy, guessing the admin secret is rate limited per address, and the memory a large body took
//! is given back.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::support::upstream::Upstream;
use crate::support::{Gateway, json};
use serde_json::json;

#[test]
fn hostile_documents_are_refused_fast_and_never_stall_the_proxy() {
    let up = Upstream::start("up");
    let gw = Gateway::start();
    gw.create(
        "routes",
        &json!({"id": "r", "frontend": {"domains": ["live.test"]}, "backend": {"targets": [up.target()]}}),
    );
    let stop = Arc::new(AtomicBool::new(false));
    let worst_us = Arc::new(AtomicU64::new(0));
    let load = {
        let (proxy, client, stop, worst) = (
            gw.proxy.clone(),
            gw.client.clone(),
            stop.clone(),
            worst_us.clone(),
        );
        std::thread::spawn(move || {
            let mut n = 0;
            while !stop.load(Ordering::Relaxed) {
                let t = Instant::now();
                let status = client
                    .get(format!("{proxy}/"))
                    .header("host", "live.test")
                    .send()
                    .unwrap()
                    .status();
                assert_eq!(status, 200);
                worst.fetch_max(t.elapsed().as_micros() as u64, Ordering::Relaxed);
                n += 1;
            }
            n
        })
    };
    let nested = format!("apis: {}{}", "[".repeat(100_000), "]".repeat(100_000));
    let posts: Vec<_> = (0..2)
        .map(|_| {
            let (url, client, body) = (gw.url("/api/import"), gw.client.clone(), nested.clone());
            std::thread::spawn(move || {
                let t = Instant::now();
                let resp = client
                    .post(url)
                    .basic_auth(crate::support::ADMIN_ID, Some(crate::support::ADMIN_SECRET))
                    .header("content-type", "application/yaml")
                    .body(body)
                    .send()
                    .unwrap();
                (resp.status().as_u16(), resp.text().unwrap(), t.elapsed())
            })
        })
        .collect();
    for p in posts {
        let (status, body, took) = p.join().unwrap();
        assert_eq!(status, 400, "{body}");
        assert!(body.contains("nested deeper"), "{body}");
        assert!(took < Duration::from_millis(500), "refused in {took:?}");
    }
    let t = Instant::now();
    assert_eq!(
        gw.client.get(gw.url("/health")).send().unwrap().status(),
        200
    );
    assert!(t.elapsed() < Duration::from_millis(500));
    stop.store(true, Ordering::Relaxed);
    let served = load.join().unwrap();
    let worst = Duration::from_micros(worst_us.load(Ordering::Relaxed));
    println!("hostile imports: proxy served {served} requests meanwhile, slowest {worst:?}");
    assert!(
        worst < Duration::from_millis(500),
        "the proxy stalled for {worst:?}"
    );
}

#[test]
fn guessing_the_admin_secret_is_rate_limited() {
    let gw = Gateway::start();
    let wrong = |secret: &str| {
        gw.client
            .get(gw.url("/api/groups"))
            .basic_auth(crate::support::ADMIN_ID, Some(secret))
            .send()
            .unwrap()
    };
    let mut statuses = Vec::new();
    for i in 0..12 {
        statuses.push(wrong(&format!("guess-{i}")).status().as_u16());
    }
    assert_eq!(&statuses[..10], &[401; 10], "{statuses:?}");
    assert!(statuses[10..].iter().all(|s| *s == 429), "{statuses:?}");
    let locked = gw.get("/api/groups");
    assert_eq!(
        locked.status(),
        429,
        "locked out, even with the right secret"
    );
    let retry: u64 = locked.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry), "{retry}");
    gw.wait_log("admin sign-in failed");
    let log = gw.wait_log("locked");
    assert!(
        !log.contains("guess-3"),
        "a tried secret never reaches the log"
    );
    // Other addresses are not locked out.
    let other = gw.url("/api/groups").replace("127.0.0.1", "127.0.0.2");
    let resp = gw
        .client
        .get(other)
        .basic_auth(crate::support::ADMIN_ID, Some(crate::support::ADMIN_SECRET))
        .send();
    if let Ok(r) = resp {
        assert_eq!(r.status(), 200);
    }
}

#[test]
fn the_memory_of_a_large_body_is_given_back() {
    let gw = Gateway::start();
    let baseline = gw.rss_kib();
    // 200 MiB of JSON strings: parsed, then refused as an import (not an object of arrays).
    let big = format!("{{\"apis\": \"{}\"}}", "x".repeat(200 << 20));
    for _ in 0..2 {
        let (status, body) = json(
            gw.request(reqwest::Method::POST, "/api/import")
                .header("content-type", "application/json")
                .body(big.clone())
                .send()
                .unwrap(),
        );
        assert_eq!(status, 400, "{body}");
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut now = gw.rss_kib();
    while now > baseline + 64 * 1024 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
        now = gw.rss_kib();
    }
    println!(
        "large bodies: RSS {baseline} KiB at start, peak {} KiB, {now} KiB after",
        gw.peak_rss_kib()
    );
    assert!(
        now < baseline + 64 * 1024,
        "resident memory stayed at {now} KiB (baseline {baseline} KiB)"
    );
}
