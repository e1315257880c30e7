//! Several gateway nodes on one real `redis-server`: a write on any node is live on every node,
//! API keys are shared, and a Redis outage leaves traffic flowing while writes are refused.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::support::upstream::Upstream;
use crate::support::{Gateway, Options, json};
use komainu_test_peers::redis::Redis;
use serde_json::json;

fn node(redis: &Redis) -> Gateway {
    Gateway::start_with(Options {
        extra_args: vec!["--store".into(), redis.url()],
        ..Default::default()
    })
}

/// The status of a call through node `n`'s proxy to `host` with API key `id:secret` (Basic).
fn keyed(n: &Gateway, host: &str, id: &str, secret: &str) -> u16 {
    n.client
        .get(format!("{}/", n.proxy))
        .header("host", host)
        .basic_auth(id, Some(secret))
        .send()
        .unwrap()
        .status()
        .as_u16()
}

/// Waits until a call through node `n` with API key `(id, secret)` passes: the key reached it.
fn wait_keyed(n: &Gateway, host: &str, (id, secret): (&str, &str), within: Duration) {
    let deadline = Instant::now() + within;
    loop {
        let status = keyed(n, host, id, secret);
        if status == 200 {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the key has not reached the node within {within:?}: still {status}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn route(id: &str, host: &str, up: &Upstream) -> serde_json::Value {
    json!({"id": id, "frontend": {"domains": [host]}, "backend": {"targets": [up.target()]}})
}

#[test]
fn a_write_on_any_node_is_live_on_every_node_within_a_second() {
    let redis = Redis::start();
    let up = Upstream::start("c");
    let nodes = [node(&redis), node(&redis), node(&redis)];

    // Create on node 0: live on 0 when the write answers (read-your-writes), on 1 and 2 soon.
    let started = Instant::now();
    nodes[0].create("routes", &route("shared", "shared.test", &up));
    assert_eq!(nodes[0].proxy_get("shared.test", "/").status(), 200);
    for n in &nodes[1..] {
        n.wait_status("shared.test", "/", 200);
    }
    let created = started.elapsed();

    // PATCH on node 1 (the route moves host), seen by 0 and 2.
    let started = Instant::now();
    let patch = json!([{"op": "replace", "path": "/frontend/domains", "value": ["moved.test"]}]);
    assert_eq!(nodes[1].patch("/api/routes/shared", &patch).status(), 200);
    for n in [&nodes[0], &nodes[2]] {
        n.wait_status("moved.test", "/", 200);
        n.wait_status("shared.test", "/", 404);
    }
    let patched = started.elapsed();

    // DELETE on node 2.
    let started = Instant::now();
    assert_eq!(nodes[2].delete("/api/routes/shared").status(), 200);
    for n in &nodes[..2] {
        n.wait_status("moved.test", "/", 404);
    }
    let deleted = started.elapsed();
    eprintln!("propagation: create {created:?}, patch {patched:?}, delete {deleted:?}");
    for d in [created, patched, deleted] {
        assert!(d < Duration::from_secs(1), "{d:?}");
    }

    // Every node reads the same documents; the revision moved on all of them.
    let (_, a) = json(nodes[0].get("/api/routes"));
    let (_, b) = json(nodes[2].get("/api/routes"));
    assert_eq!(a, b);
    let (_, ready) = json(nodes[1].get("/ready"));
    assert!(ready["revision"].as_u64().unwrap() >= 3, "{ready}");
}

#[test]
fn api_keys_created_on_one_node_open_the_others() {
    let redis = Redis::start();
    let up = Upstream::start("k");
    let (a, b) = (node(&redis), node(&redis));
    a.create(
        "routes",
        &json!({"id": "keyed", "groups": ["default"], "frontend": {"domains": ["keyed.test"]},
                "backend": {"targets": [up.target()]},
                "plugins": [{"plugin": "cp:otoroshi.next.plugins.ApikeyCalls", "enabled": true, "config": {}}]}),
    );
    b.wait_status("keyed.test", "/", 400);
    a.create(
        "apikeys",
        &json!({"clientId": "shared-key", "clientSecret": "shared-secret", "clientName": "k",
                "authorizedEntities": ["group_default"]}),
    );
    wait_keyed(
        &b,
        "keyed.test",
        ("shared-key", "shared-secret"),
        Duration::from_secs(2),
    );
}

#[test]
fn a_redis_outage_keeps_traffic_flowing_refuses_writes_and_resyncs() {
    let mut redis = Redis::start();
    let up = Upstream::start("o");
    let (a, b) = (node(&redis), node(&redis));
    a.create("routes", &route("steady", "steady.test", &up));
    a.create(
        "routes",
        &json!({"id": "metered", "groups": ["default"], "frontend": {"domains": ["metered.test"]},
                "backend": {"targets": [up.target()]},
                "plugins": [{"plugin": "cp:otoroshi.next.plugins.ApikeyCalls", "enabled": true, "config": {}}]}),
    );
    a.create(
        "apikeys",
        &json!({"clientId": "metered-key", "clientSecret": "metered-secret", "clientName": "m",
                "authorizedEntities": ["group_default"]}),
    );
    b.wait_status("steady.test", "/", 200);
    let metered = |n: &Gateway| keyed(n, "metered.test", "metered-key", "metered-secret");
    wait_keyed(
        &a,
        "metered.test",
        ("metered-key", "metered-secret"),
        Duration::from_secs(2),
    );
    // A key first called during the outage: the node cannot be granted its quota and spends on
    // its own view instead.
    a.create(
        "apikeys",
        &json!({"clientId": "fresh-key", "clientSecret": "fresh-secret", "clientName": "f",
                "authorizedEntities": ["group_default"], "dailyQuota": 1000}),
    );
    let fresh = |n: &Gateway| keyed(n, "metered.test", "fresh-key", "fresh-secret");

    // Traffic on both nodes through the outage.
    let stop = Arc::new(AtomicBool::new(false));
    let (ok, failed) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let load: Vec<_> = [&a, &b]
        .iter()
        .map(|n| {
            let (stop, ok, failed) = (stop.clone(), ok.clone(), failed.clone());
            let (url, client) = (format!("{}/", n.proxy), n.client.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    match client.get(&url).header("host", "steady.test").send() {
                        Ok(r) if r.status() == 200 => ok.fetch_add(1, Ordering::Relaxed),
                        _ => failed.fetch_add(1, Ordering::Relaxed),
                    };
                }
            })
        })
        .collect();

    redis.kill();
    // A write is refused with 503 and says why; nothing is acknowledged that is not stored.
    let refused = json(a.post("/api/routes", &route("during", "during.test", &up)));
    assert_eq!(refused.0, 503, "{}", refused.1);
    assert!(
        refused.1["error"].as_str().unwrap().contains("unreachable"),
        "{}",
        refused.1
    );
    // Readiness says the store is down; liveness stays up.
    assert_eq!(a.get("/ready").status(), 503);
    assert_eq!(a.get("/health").status(), 200);
    // Calls counted during the outage are pushed once Redis is back.
    for _ in 0..10 {
        assert_eq!(metered(&a), 200);
    }
    for _ in 0..5 {
        assert_eq!(fresh(&a), 200);
    }
    std::thread::sleep(Duration::from_millis(1500));

    redis.resume();
    // Writes work again and reach the other node.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (status, _) = json(a.post("/api/routes", &route("after", "after.test", &up)));
        if status == 201 || status == 200 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "writes never came back: {status}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    b.wait_status("after.test", "/", 200);
    assert_eq!(a.get("/ready").status(), 200);
    stop.store(true, Ordering::Relaxed);
    load.into_iter().for_each(|t| t.join().unwrap());
    let (ok, failed) = (ok.load(Ordering::Relaxed), failed.load(Ordering::Relaxed));
    eprintln!("outage: {ok} requests served, {failed} failed");
    assert!(ok > 100, "{ok}");
    assert_eq!(failed, 0, "no request fails for an existing route");
    // The write refused during the outage was never stored.
    assert_eq!(a.get("/api/routes/during").status(), 404);
    // Every call is counted once: what the node was granted and did not spend went back, and
    // what it granted itself during the outage was pushed.
    let stored = |key: &str| -> u64 {
        let out = std::process::Command::new("redis-cli")
            .args([
                "-p",
                &redis.port.to_string(),
                "HGET",
                &format!("komainu:ctr:quota:day:{key}"),
                "v",
            ])
            .output()
            .expect("redis-cli");
        String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse()
            .unwrap_or(0)
    };
    let deadline = Instant::now() + Duration::from_secs(8);
    while (stored("metered-key"), stored("fresh-key")) != (11, 5) {
        assert!(
            Instant::now() < deadline,
            "counts kept through the outage: {} and {}",
            stored("metered-key"),
            stored("fresh-key")
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn an_export_of_a_single_node_imports_into_redis() {
    let single = Gateway::start();
    let up = Upstream::start("m");
    single.create("routes", &route("migrated", "migrated.test", &up));
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("all.json");
    let (_, export) = json(single.get("/api/export"));
    std::fs::write(&file, export.to_string()).unwrap();

    let redis = Redis::start();
    let (ok, out, err) = crate::support::run_cli(
        &["import", file.to_str().unwrap(), "--store", &redis.url()],
        dir.path(),
    );
    assert!(ok, "{out}\n{err}");
    let node = node(&redis);
    node.wait_status("migrated.test", "/", 200);
}

#[test]
fn cluster_members_are_listed_while_their_heartbeat_is_current() {
    let redis = Redis::start();
    let with_id = |id: &str| {
        Gateway::start_with(Options {
            extra_args: vec!["--store".into(), redis.url(), "--node-id".into(), id.into()],
            ..Default::default()
        })
    };
    let a = with_id("node-a");
    let mut b = with_id("node-b");
    let ids = |n: &Gateway| -> Vec<String> {
        let (status, body) = json(n.get("/api/cluster/members"));
        assert_eq!(status, 200, "{body}");
        body.as_array()
            .unwrap()
            .iter()
            .map(|m| m["id"].as_str().unwrap().to_string())
            .collect()
    };
    let deadline = Instant::now() + Duration::from_secs(5);
    while ids(&a) != ["node-a", "node-b"] {
        assert!(Instant::now() < deadline, "{:?}", ids(&a));
        std::thread::sleep(Duration::from_millis(100));
    }
    let (_, members) = json(a.get("/api/cluster/members"));
    let m = &members[1];
    assert_eq!(m["address"], b.proxy.trim_start_matches("http://"));
    assert_eq!(m["store"], "redis", "the engine, never its URL");
    assert!(m["version"].is_string() && m["revision"].is_u64() && m["last_seen"].is_u64());

    b.kill9();
    let deadline = Instant::now() + Duration::from_secs(15);
    while ids(&a) != ["node-a"] {
        assert!(
            Instant::now() < deadline,
            "a dead node leaves the list: {:?}",
            ids(&a)
        );
        std::thread::sleep(Duration::from_millis(200));
    }

    // On the embedded store, a node lists itself.
    let single = Gateway::start();
    assert_eq!(ids(&single).len(), 1);
}

#[test]
fn a_daily_quota_is_exact_across_three_nodes_under_a_simultaneous_burst() {
    let redis = Redis::start();
    let up = Upstream::start("q");
    let nodes = [node(&redis), node(&redis), node(&redis)];
    nodes[0].create(
        "routes",
        &json!({"id": "quota", "groups": ["default"], "frontend": {"domains": ["quota.test"]},
                "backend": {"targets": [up.target()]},
                "plugins": [{"plugin": "cp:otoroshi.next.plugins.ApikeyCalls", "enabled": true, "config": {}}]}),
    );
    nodes[0].create(
        "apikeys",
        &json!({"clientId": "q-key", "clientSecret": "q-secret", "clientName": "q",
                "authorizedEntities": ["group_default"], "dailyQuota": 300, "monthlyQuota": 100000}),
    );
    let call = |n: &Gateway| keyed(n, "quota.test", "q-key", "q-secret");
    // The key is known everywhere before the burst (a call that is not counted: wrong secret).
    for n in &nodes[1..] {
        n.wait_status("quota.test", "/", 400);
    }
    let deadline = Instant::now() + Duration::from_secs(3);
    for n in &nodes {
        loop {
            if keyed(n, "quota.test", "q-key", "wrong") == 401 {
                break;
            }
            assert!(Instant::now() < deadline, "the key never reached a node");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    // 900 calls at once: 6 clients per node, released together.
    let accepted = AtomicUsize::new(0);
    let refused = AtomicUsize::new(0);
    let start = std::sync::Barrier::new(18);
    std::thread::scope(|s| {
        for n in &nodes {
            for _ in 0..6 {
                let (accepted, refused, start, call) = (&accepted, &refused, &start, &call);
                s.spawn(move || {
                    start.wait();
                    for _ in 0..50 {
                        match call(n) {
                            200 => accepted.fetch_add(1, Ordering::Relaxed),
                            429 => refused.fetch_add(1, Ordering::Relaxed),
                            other => panic!("unexpected {other}"),
                        };
                    }
                });
            }
        }
    });
    let burst = accepted.load(Ordering::Relaxed);
    eprintln!(
        "burst: {burst} accepted, {} refused",
        refused.load(Ordering::Relaxed)
    );
    assert!(
        burst <= 300,
        "the quota was overspent: {burst} calls of 300"
    );
    assert!(
        burst >= 297,
        "more than 1% of the quota refused: {burst} of 300"
    );

    // Calls a node was granted and did not spend go back within seconds: the day ends at
    // exactly 300, and every node then refuses.
    let mut total = burst;
    let deadline = Instant::now() + Duration::from_secs(6);
    while total < 300 {
        assert!(
            Instant::now() < deadline,
            "unspent grants never came back: {total}"
        );
        for n in &nodes {
            if call(n) == 200 {
                total += 1;
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(total, 300);
    for n in &nodes {
        assert_eq!(call(n), 429);
    }
    // Every node's report converges on the total.
    for n in &nodes {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let (_, q) = json(n.get("/api/apikeys/q-key/quotas"));
            if q["currentCallsPerDay"] == 300 {
                break;
            }
            assert!(Instant::now() < deadline, "never reported 300: {q}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

#[test]
fn one_node_runs_the_jobs_and_another_takes_over_when_it_dies() {
    let redis = Redis::start();
    let with_id = |id: &str| {
        Gateway::start_with(Options {
            extra_args: vec!["--store".into(), redis.url(), "--node-id".into(), id.into()],
            ..Default::default()
        })
    };
    let mut nodes = [with_id("node-a"), with_id("node-b")];
    let holders = |n: &Gateway| -> (usize, Vec<String>) {
        let (_, body) = json(n.get("/api/cluster/members"));
        let members = body.as_array().cloned().unwrap_or_default();
        let holding = members
            .iter()
            .filter(|m| m["jobs"] == true)
            .map(|m| m["id"].as_str().unwrap().to_string())
            .collect();
        (members.len(), holding)
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    let holder = loop {
        let (count, holding) = holders(&nodes[0]);
        if count == 2 && holding.len() == 1 {
            break holding[0].clone();
        }
        assert!(
            holding.len() <= 1,
            "two nodes hold the jobs lease: {holding:?}"
        );
        assert!(
            Instant::now() < deadline,
            "{count} members, holders {holding:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    let dead = if holder == "node-a" { 0 } else { 1 };
    nodes[dead].kill9();
    let survivor = &nodes[1 - dead];
    let started = Instant::now();
    loop {
        let (_, holding) = holders(survivor);
        if holding.len() == 1 && holding[0] != holder {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the jobs never moved from {holder}: {holding:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    eprintln!(
        "jobs lease taken over {:?} after its holder died",
        started.elapsed()
    );
}

#[test]
fn a_node_started_while_redis_is_down_answers_503_until_it_has_synced() {
    let up = Upstream::start("late");
    let mut redis = Redis::start();
    let writer = node(&redis);
    writer.create("routes", &route("late", "late.test", &up));
    redis.kill();
    let late = node(&redis);
    let r = late.proxy_get("late.test", "/");
    assert_eq!(r.status(), 503);
    assert_eq!(
        r.headers()["otoroshi-error-cause"],
        "errors.cluster.not.synced"
    );
    assert_eq!(json(r).1["error"], "errors.cluster.not.synced");
    assert_eq!(late.get("/health").status(), 200);
    assert_eq!(late.get("/ready").status(), 503);
    let (status, _) = json(late.post("/api/groups", &json!({"id": "g", "name": "g"})));
    assert_eq!(
        status, 503,
        "no write is acknowledged while the store is away"
    );
    assert_eq!(up.hits(), 0);

    redis.resume();
    let started = Instant::now();
    while late.get("/ready").status() != 200 {
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "the node never synced"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    late.wait_status("late.test", "/", 200);
    assert!(
        up.hits() >= 1,
        "the route written before the outage is served"
    );
    eprintln!("synced {:?} after Redis came back", started.elapsed());
}

#[test]
fn concurrent_patches_of_one_entity_from_two_nodes_lose_no_update() {
    let redis = Redis::start();
    let (a, b) = (node(&redis), node(&redis));
    a.create("groups", &json!({"id": "shared", "name": "shared"}));
    let (status, _) = json(b.get("/api/groups/shared"));
    assert_eq!(status, 200);
    // Each PATCH adds its own metadata entry to the same document: a read-modify-write that a
    // node-local lock cannot protect across nodes.
    const EACH: usize = 12;
    std::thread::scope(|s| {
        for (n, node) in [&a, &b].into_iter().enumerate() {
            for t in 0..3 {
                s.spawn(move || {
                    for i in 0..EACH / 3 {
                        let patch = json!({"metadata": {format!("n{n}-t{t}-{i}"): "x"}});
                        // 409 after the node's own retries is an answer a client retries on:
                        // nothing was written.
                        let mut tries = 0;
                        loop {
                            let r = node.patch("/api/groups/shared", &patch);
                            if r.status() == 200 {
                                break;
                            }
                            assert_eq!(r.status(), 409, "{}", r.text().unwrap());
                            tries += 1;
                            assert!(tries < 20, "never written");
                        }
                    }
                });
            }
        }
    });
    let (_, doc) = json(a.get("/api/groups/shared"));
    let metadata = doc["metadata"].as_object().unwrap();
    assert_eq!(metadata.len(), 2 * EACH, "every update kept: {doc}");

    // A write based on an old read is refused outright when the client says which it read.
    let etag = a.get("/api/groups/shared").headers()["etag"].clone();
    assert_eq!(
        b.patch("/api/groups/shared", &json!({"name": "moved"}))
            .status(),
        200
    );
    let stale = a
        .authed(a.client.put(a.url("/api/groups/shared")))
        .header("if-match", etag)
        .json(&json!({"id": "shared", "name": "mine"}))
        .send()
        .unwrap();
    assert_eq!(stale.status(), 412);
    let (_, doc) = json(a.get("/api/groups/shared"));
    assert_eq!(doc["name"], "moved", "the refused write changed nothing");
}

#[test]
fn a_limit_plugins_daily_quota_takes_in_the_other_nodes_calls() {
    let redis = Redis::start();
    let up = Upstream::start("l");
    let (a, b) = (node(&redis), node(&redis));
    a.create(
        "routes",
        &json!({"id": "limited", "frontend": {"domains": ["limited.test"]},
                "backend": {"targets": [up.target()]},
                "plugins": [{"plugin": "cp:otoroshi.next.plugins.FixedWindow", "enabled": true,
                             "config": {"windowDurationMs": 60000,
                                        "quota": {"window": 1000000, "daily": 100}}}]}),
    );
    b.wait_status("limited.test", "/", 200);
    // b made 1 call; a spends the rest of the day's 100.
    let mut passed_a = 0;
    while a.proxy_get("limited.test", "/").status() == 200 {
        passed_a += 1;
        assert!(passed_a <= 100, "node a ignores its own count");
    }
    assert!(passed_a >= 99 - 2, "{passed_a}");
    // b learns the total at its next push (every second): from then on it refuses too. Until
    // then it admits what it is asked, here 10 calls a second.
    let started = Instant::now();
    let mut passed_b = 0;
    while b.proxy_get("limited.test", "/").status() == 200 {
        passed_b += 1;
        assert!(
            started.elapsed() < Duration::from_secs(4),
            "node b never took in node a's calls"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    eprintln!("FixedWindow daily 100: node a {passed_a}, node b {passed_b} more");
    assert!(passed_b <= 25, "{passed_b}");
}

#[test]
fn nodes_reach_redis_over_tls_checked_against_the_given_ca() {
    let redis = Redis::start_tls();
    let tls_node = || {
        Gateway::start_with(Options {
            extra_args: vec![
                "--store".into(),
                redis.url(),
                "--store-ca".into(),
                redis.ca_file().display().to_string(),
            ],
            ..Default::default()
        })
    };
    let up = Upstream::start("t");
    let (a, b) = (tls_node(), tls_node());
    a.create("routes", &route("over-tls", "tls.test", &up));
    b.wait_status("tls.test", "/", 200);
    let (_, ready) = json(b.get("/ready"));
    assert!(ready["revision"].as_u64().unwrap() >= 1, "{ready}");

    // Without the CA the server's certificate is not trusted: nothing is read or written.
    let dir = tempfile::tempdir().unwrap();
    let (ok, out, err) = crate::support::run_cli(&["export", "--store", &redis.url()], dir.path());
    assert!(!ok, "an untrusted server was used: {out}");
    assert!(err.contains("Redis"), "{err}");
    let (ok, out, err) = crate::support::run_cli(
        &[
            "export",
            "--store",
            &redis.url(),
            "--store-ca",
            redis.ca_file().to_str().unwrap(),
        ],
        dir.path(),
    );
    assert!(ok, "{err}");
    assert!(out.contains("over-tls"), "{out}");
}

#[test]
fn a_throttling_quota_is_counted_per_node_within_its_documented_bound() {
    let redis = Redis::start();
    let up = Upstream::start("th");
    let (a, b) = (node(&redis), node(&redis));
    a.create(
        "routes",
        &json!({"id": "throttled", "groups": ["default"], "frontend": {"domains": ["throttled.test"]},
                "backend": {"targets": [up.target()]},
                "plugins": [{"plugin": "cp:otoroshi.next.plugins.ApikeyCalls", "enabled": true, "config": {}}]}),
    );
    a.create(
        "apikeys",
        &json!({"clientId": "t-key", "clientSecret": "t-secret", "clientName": "t",
                "authorizedEntities": ["group_default"], "throttlingQuota": 10}),
    );
    let call = |n: &Gateway| keyed(n, "throttled.test", "t-key", "t-secret");
    wait_keyed(
        &b,
        "throttled.test",
        ("t-key", "t-secret"),
        Duration::from_secs(5),
    );
    // Wait for the start of a second, then 60 calls on each node, most often within that second.
    let since_epoch = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
    };
    std::thread::sleep(Duration::from_millis(
        1000 - u64::from(since_epoch().subsec_millis()),
    ));
    // The bound counts the wall-clock seconds the burst touched: every node counted each call at
    // an instant between the test's first send and its last answer. (A sleep overshooting to
    // the end of a second makes even a short burst span two.)
    let (first, started) = (since_epoch().as_secs(), Instant::now());
    let passed = AtomicUsize::new(0);
    std::thread::scope(|s| {
        for n in [&a, &b] {
            let (passed, call) = (&passed, &call);
            s.spawn(move || {
                for _ in 0..60 {
                    if call(n) == 200 {
                        passed.fetch_add(1, Ordering::Relaxed);
                    }
                }
            });
        }
    });
    let (seconds, took) = (
        (since_epoch().as_secs() - first + 1) as usize,
        started.elapsed(),
    );
    let passed = passed.load(Ordering::Relaxed);
    eprintln!("throttling 10/s on two nodes: {passed} of 120 passed in {took:?} ({seconds} s)");
    // Each node admits its own 10 a second: at most 2 nodes × 10 per second the burst spans.
    assert!(
        passed <= 2 * 10 * seconds,
        "{passed} in {took:?} over {seconds} s"
    );
    assert!(passed >= 10, "{passed}");
}

#[test]
fn every_node_shows_the_calls_admitted_cluster_wide_once_traffic_stops() {
    let mut redis = Redis::start();
    let up = Upstream::start("views");
    let nodes = [node(&redis), node(&redis), node(&redis)];
    nodes[0].create("routes", &route("viewed", "views.test", &up));
    let mut with_key = route("viewed", "views.test", &up);
    with_key["plugins"] = json!([{"plugin": "cp:otoroshi.next.plugins.ApikeyCalls"}]);
    assert_eq!(nodes[0].put("/api/routes/viewed", &with_key).status(), 200);
    nodes[0].create(
        "apikeys",
        &json!({"clientId": "viewer", "clientSecret": "viewer-secret", "dailyQuota": 100_000,
                "authorizedEntities": ["route_viewed"]}),
    );
    for n in &nodes {
        wait_keyed(
            n,
            "views.test",
            ("viewer", "viewer-secret"),
            Duration::from_secs(5),
        );
    }
    // 3 calls just made to open the key; 30 more spread over the nodes, 60 more while Redis is
    // down, then quiet.
    for i in 0..27 {
        assert_eq!(
            keyed(&nodes[i % 3], "views.test", "viewer", "viewer-secret"),
            200
        );
    }
    redis.kill();
    for i in 0..60 {
        assert_eq!(
            keyed(&nodes[i % 3], "views.test", "viewer", "viewer-secret"),
            200
        );
    }
    redis.resume();
    let admitted = 3 + 27 + 60;
    for (i, n) in nodes.iter().enumerate() {
        crate::support::until(&format!("node {i}'s view of {admitted} calls"), || {
            let (_, quotas) = json(n.get("/api/apikeys/viewer/quotas"));
            (quotas["currentCallsPerDay"] == admitted).then_some(())
        });
    }
    // The header a client reads says the same on every node (this call counted too).
    for (i, n) in nodes.iter().enumerate() {
        let remaining = n
            .client
            .get(format!("{}/", n.proxy))
            .header("host", "views.test")
            .basic_auth("viewer", Some("viewer-secret"))
            .send()
            .unwrap()
            .headers()["otoroshi-daily-calls-remaining"]
            .to_str()
            .unwrap()
            .parse::<u64>()
            .unwrap();
        let seen_before = admitted + i as u64;
        assert!(
            (100_000 - seen_before - 1..=100_000 - admitted - 1).contains(&remaining),
            "node {i}: {remaining} left after {} calls",
            seen_before + 1
        );
    }
}
