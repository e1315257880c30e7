//! State survives restarts and crashes; export and import round-trip the whole state.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::support::{Gateway, Options, error_paths, json, run_cli};
use reqwest::Method;
use serde_json::{Value, json};

fn seed_api() -> Value {
    serde_json::from_str(include_str!(
        "../../../model/tests/fixtures/api_users_service.json"
    ))
    .unwrap()
}

/// One entity of each kind, the seed API among them.
fn populate(gw: &Gateway) {
    let docs = [
        (
            "groups",
            json!({"id": "group_payment_apis", "name": "Payment APIs", "metadata": {"department": "finance"}}),
        ),
        (
            "backends",
            json!({"id": "shared", "backend": {"targets": [{"hostname": "10.0.0.1", "port": 80}]}}),
        ),
        (
            "routes",
            json!({"id": "r1", "frontend": {"domains": ["r.example"]}, "backend_ref": "shared"}),
        ),
        ("apis", seed_api()),
        (
            "apikeys",
            json!({"clientId": "k1", "clientSecret": "s", "authorizedEntities": ["group_payment_apis"]}),
        ),
        ("certificates", {
            let (chain, key) = crate::support::self_signed_pem("c1.example");
            json!({"id": "c1", "chain": chain, "privateKey": key})
        }),
        ("jwt-verifiers", json!({"id": "j1"})),
        (
            "api-subscriptions",
            json!({"id": "s1", "api_ref": "api_users_service", "plan_ref": "plan_free", "owner_ref": "client_acme"}),
        ),
    ];
    for (plural, doc) in docs {
        let (status, body) = json(gw.post(&format!("/api/{plural}"), &doc));
        assert_eq!(status, 201, "{plural}: {body}");
    }
}

fn export(gw: &Gateway) -> Value {
    let (status, mut doc) = json(gw.get("/api/export"));
    assert_eq!(status, 200);
    let obj = doc.as_object_mut().unwrap();
    obj.remove("dateRaw");
    doc
}

#[test]
fn state_survives_a_restart() {
    let mut gw = Gateway::start();
    populate(&gw);
    let before = export(&gw);
    let dir = gw.keep_dir();
    assert!(gw.terminate().success(), "SIGTERM exits 0");
    let again = Gateway::start_in(dir.path(), Options::default());
    assert_eq!(export(&again), before);
}

/// A small deterministic generator (xorshift), seeded per run and printed, so a failure can be
/// replayed.
struct Rng(u64);

impl Rng {
    fn next(&mut self, below: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % below
    }
}

/// What writers had acknowledged when the gateway was killed.
#[derive(Default)]
struct Acked {
    /// Groups created (and never deleted).
    created: Vec<String>,
    /// Groups created then deleted, the delete acknowledged.
    deleted: Vec<String>,
    /// Per writer: the last description acknowledged on its own group, and the one in flight.
    patched: Vec<(String, u64)>,
}

fn writer(
    url: String,
    client: reqwest::blocking::Client,
    w: usize,
    cycle: usize,
    acked: Arc<Mutex<Acked>>,
) {
    let auth = |rb: reqwest::blocking::RequestBuilder| {
        rb.basic_auth(crate::support::ADMIN_ID, Some(crate::support::ADMIN_SECRET))
    };
    let own = format!("own-{w}");
    for i in 0u64.. {
        let ok = |r: Result<reqwest::blocking::Response, reqwest::Error>, want: u16| matches!(r, Ok(r) if r.status() == want);
        match i % 3 {
            0 => {
                let id = format!("c{cycle}-w{w}-{i}");
                let r = auth(client.post(format!("{url}/api/groups")))
                    .json(&json!({"id": id, "name": id}))
                    .send();
                if !ok(r, 201) {
                    return;
                }
                acked.lock().unwrap().created.push(id);
            }
            1 => {
                let r = auth(client.patch(format!("{url}/api/groups/{own}")))
                    .json(&json!({"description": format!("{cycle}:{i}")}))
                    .send();
                if !ok(r, 200) {
                    return;
                }
                let mut a = acked.lock().unwrap();
                a.patched.retain(|(g, _)| *g != own);
                a.patched.push((own.clone(), i));
            }
            _ => {
                let id = format!("d{cycle}-w{w}-{i}");
                let created = auth(client.post(format!("{url}/api/groups")))
                    .json(&json!({"id": id, "name": id}))
                    .send();
                if !ok(created, 201) {
                    return;
                }
                let r = auth(client.delete(format!("{url}/api/groups/{id}"))).send();
                // A delete in flight when the gateway died may or may not have landed.
                if !ok(r, 200) {
                    return;
                }
                acked.lock().unwrap().deleted.push(id);
            }
        }
    }
}

#[test]
fn every_acknowledged_write_survives_kill_9_at_random_moments() {
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
        | 1;
    println!("kill -9 cycles: seed {seed}");
    let mut rng = Rng(seed);
    let mut gw = Gateway::start();
    let dir = gw.keep_dir();
    for w in 0..4 {
        gw.create("groups", &json!({"id": format!("own-{w}"), "name": "own"}));
    }
    let mut total = 0;
    for cycle in 0..20 {
        let acked = Arc::new(Mutex::new(Acked::default()));
        let writers: Vec<_> = (0..4)
            .map(|w| {
                let (url, client, acked) = (gw.admin.clone(), gw.client.clone(), acked.clone());
                std::thread::spawn(move || writer(url, client, w, cycle, acked))
            })
            .collect();
        std::thread::sleep(Duration::from_millis(50 + rng.next(400)));
        gw.kill9();
        for w in writers {
            w.join().unwrap();
        }
        gw = Gateway::start_in(dir.path(), Options::default());
        let acked = acked.lock().unwrap();
        let (_, groups) = json(gw.get("/api/groups"));
        let stored: std::collections::HashMap<String, Value> = groups
            .as_array()
            .unwrap()
            .iter()
            .map(|g| (g["id"].as_str().unwrap().to_string(), g.clone()))
            .collect();
        for id in &acked.created {
            assert!(
                stored.contains_key(id),
                "cycle {cycle} (seed {seed}): acknowledged create {id} lost"
            );
        }
        for id in &acked.deleted {
            assert!(
                !stored.contains_key(id),
                "cycle {cycle} (seed {seed}): acknowledged delete of {id} undone"
            );
        }
        for (own, i) in &acked.patched {
            let got = stored[own]["description"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            let (acked_value, next) = (format!("{cycle}:{i}"), format!("{cycle}:{}", i + 3));
            assert!(
                got == acked_value || got == next,
                "cycle {cycle} (seed {seed}): {own} is {got:?}, acknowledged {acked_value:?}"
            );
        }
        total += acked.created.len() + acked.deleted.len() + acked.patched.len();
    }
    println!("kill -9 cycles: 20 cycles, {total} acknowledged writes checked");
    assert!(total > 100, "the writers wrote ({total})");
}

#[test]
fn quota_counts_survive_kill_9_within_a_second() {
    let up = crate::support::upstream::Upstream::start("q");
    let mut gw = Gateway::start();
    let dir = gw.keep_dir();
    gw.create(
        "routes",
        &json!({"id": "q", "frontend": {"domains": ["q.test"]}, "backend": {"targets": [up.target()]},
                "plugins": [{"plugin": "cp:otoroshi.next.plugins.ApikeyCalls"}]}),
    );
    gw.create(
        "apikeys",
        &json!({"clientId": "qk", "clientSecret": "qk-secret", "authorizedEntities": ["route_q"], "dailyQuota": 1000000}),
    );
    let started = std::time::Instant::now();
    let mut calls: Vec<std::time::Instant> = Vec::new();
    while started.elapsed() < Duration::from_millis(2600) {
        let status = gw
            .call(Method::GET, "q.test", "/")
            .basic_auth("qk", Some("qk-secret"))
            .send()
            .unwrap()
            .status();
        assert_eq!(status, 200);
        calls.push(std::time::Instant::now());
    }
    let killed = std::time::Instant::now();
    gw.kill9();
    let again = Gateway::start_in(dir.path(), Options::default());
    let (_, quotas) = json(again.get("/api/apikeys/qk/quotas"));
    let kept = quotas["currentCallsPerDay"].as_u64().unwrap() as usize;
    let older_than_a_second = calls
        .iter()
        .filter(|t| killed.duration_since(**t) > Duration::from_millis(1100))
        .count();
    println!(
        "kill -9 during keyed traffic: {} calls made, {kept} counted after restart, {} made in the last second",
        calls.len(),
        calls.len() - older_than_a_second
    );
    assert!(kept <= calls.len(), "never more than made");
    assert!(
        kept >= older_than_a_second,
        "at most the last second is lost: {kept} kept, {older_than_a_second} older than a second"
    );
}

#[test]
fn export_then_import_into_an_empty_store_gives_identical_documents() {
    let gw = Gateway::start();
    populate(&gw);
    let exported = export(&gw);
    let fresh = Gateway::start();
    let (status, report) = json(fresh.post("/api/import", &exported));
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["imported"]["apis"], 1);
    assert_eq!(export(&fresh), exported);

    let (status, yaml) = {
        let resp = gw.get("/api/export?format=yaml");
        (resp.status().as_u16(), resp.text().unwrap())
    };
    assert_eq!(status, 200);
    let other = Gateway::start();
    let resp = other
        .request(Method::POST, "/api/import")
        .header("content-type", "application/yaml")
        .body(yaml)
        .send()
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(export(&other), exported, "YAML round trip");
}

#[test]
fn a_refused_import_writes_nothing_and_replace_mode_replaces() {
    let gw = Gateway::start();
    assert_eq!(
        gw.post("/api/groups", &json!({"id": "before"})).status(),
        201
    );
    let bad = json!({
        "serviceGroups": [{"id": "new1"}, {"id": "new1"}],
        "apis": [{"id": "a", "routes": [{"frontend": {"domains": ["x"]}, "backend": "ghost"}]}],
        "apiKeys": "nope"
    });
    let (status, body) = json(gw.post("/api/import", &bad));
    assert_eq!(status, 400);
    let paths = error_paths(&body);
    assert!(
        paths.contains(&"serviceGroups[1].id".to_string()),
        "{body:#}"
    );
    assert!(
        paths.contains(&"apis[0].routes[0].backend".to_string()),
        "{body:#}"
    );
    assert!(paths.contains(&"apiKeys".to_string()), "{body:#}");
    assert_eq!(gw.get("/api/groups/new1").status(), 404, "nothing written");

    let (status, _) = json(gw.post(
        "/api/import?mode=replace",
        &json!({"serviceGroups": [{"id": "only"}]}),
    ));
    assert_eq!(status, 200);
    let (_, groups) = json(gw.get("/api/groups"));
    assert_eq!(groups.as_array().unwrap().len(), 1);
    assert_eq!(groups[0]["id"], "only");
}

#[test]
fn cli_export_and_import_round_trip_offline() {
    let mut gw = Gateway::start();
    populate(&gw);
    let exported = export(&gw);
    let dir = gw.keep_dir();
    gw.terminate();

    let (ok, stdout, stderr) = run_cli(&["export"], dir.path());
    assert!(ok, "{stderr}");
    let mut from_cli: Value = serde_json::from_str(&stdout).unwrap();
    from_cli.as_object_mut().unwrap().remove("dateRaw");
    assert_eq!(from_cli, exported);

    let file = dir.path().join("state.yaml");
    let (ok, _, stderr) = run_cli(
        &["export", "--yaml", "-o", file.to_str().unwrap()],
        dir.path(),
    );
    assert!(ok, "{stderr}");
    let empty = tempfile::tempdir().unwrap();
    let (ok, stdout, stderr) = run_cli(&["import", file.to_str().unwrap()], empty.path());
    assert!(ok, "{stderr}");
    assert!(stdout.contains("\"done\": true"), "{stdout}");
    let fresh = Gateway::start_in(empty.path(), Options::default());
    assert_eq!(export(&fresh), exported);

    let broken = empty.path().join("broken.json");
    std::fs::write(&broken, r#"{"serviceGroups": [{"id": 5}]}"#).unwrap();
    drop(fresh);
    let (ok, _, stderr) = run_cli(&["import", broken.to_str().unwrap()], empty.path());
    assert!(!ok);
    assert!(stderr.contains("serviceGroups[0].id"), "{stderr}");
}

#[test]
fn the_cli_refuses_a_data_dir_in_use() {
    let gw = Gateway::start();
    let (ok, _, stderr) = run_cli(&["export"], &gw.data_dir);
    assert!(!ok);
    assert!(stderr.contains("in use"), "{stderr}");
}

#[test]
fn the_config_file_is_loaded_at_start_and_on_change() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("komainu.yaml");
    std::fs::write(&file, "serviceGroups:\n  - id: from_file\n    name: v1\n").unwrap();
    let gw = Gateway::start_with(Options {
        extra_args: vec!["--config".into(), file.display().to_string()],
        ..Default::default()
    });
    assert_eq!(json(gw.get("/api/groups/from_file")).1["name"], "v1");
    std::thread::sleep(Duration::from_millis(1100));
    std::fs::write(&file, "serviceGroups:\n  - id: from_file\n    name: v2\n").unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        if json(gw.get("/api/groups/from_file")).1["name"] == "v2" {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "change not picked up");
        std::thread::sleep(Duration::from_millis(100));
    }
}
