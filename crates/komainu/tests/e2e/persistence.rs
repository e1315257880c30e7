//! State survives restarts and crashes; export and import round-trip the whole state.

use std::sync::atomic::{AtomicBool, Ordering};
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
        ("certificates", json!({"id": "c1"})),
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

#[test]
fn every_acknowledged_write_survives_kill_9() {
    let mut gw = Gateway::start();
    let dir = gw.keep_dir();
    let acked = Arc::new(Mutex::new(Vec::<String>::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = (0..4)
        .map(|w| {
            let (url, client) = (gw.url("/api/groups"), gw.client.clone());
            let (acked, stop) = (acked.clone(), stop.clone());
            std::thread::spawn(move || {
                for i in 0.. {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let id = format!("w{w}-{i}");
                    let resp = client
                        .post(&url)
                        .basic_auth(crate::support::ADMIN_ID, Some(crate::support::ADMIN_SECRET))
                        .json(&json!({"id": id, "name": id}))
                        .send();
                    match resp {
                        Ok(r) if r.status() == 201 => acked.lock().unwrap().push(id),
                        _ => break,
                    }
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(1500));
    gw.kill9(); // SIGKILL while the writers are mid-burst
    stop.store(true, Ordering::Relaxed);
    for w in writers {
        w.join().unwrap();
    }
    let acked = acked.lock().unwrap().clone();
    assert!(
        acked.len() > 20,
        "the burst wrote something ({})",
        acked.len()
    );
    let again = Gateway::start_in(dir.path(), Options::default());
    let (_, groups) = json(again.get("/api/groups"));
    let stored: std::collections::HashSet<&str> = groups
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["id"].as_str().unwrap())
        .collect();
    let lost: Vec<&String> = acked
        .iter()
        .filter(|id| !stored.contains(id.as_str()))
        .collect();
    assert!(
        lost.is_empty(),
        "{} of {} acknowledged writes lost: {lost:?}",
        lost.len(),
        acked.len()
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
