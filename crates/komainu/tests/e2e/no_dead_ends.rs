//! No silent no-ops and no silent overwrites: the config file owns what it declares, closed
//! subscriptions stay closed with a 409, imports never overwrite unasked, a missing data dir is an
//! error, a publish that strands a flow says so, the demo answers on any host and leaves with its
//! flag, and upstream failures name their cause.

use std::time::{Duration, Instant};

use crate::support::upstream::Upstream;
use crate::support::{Gateway, Options, error_paths, json, run_cli};
use reqwest::Method;
use serde_json::{Value, json};

/// Polls `read` until `ok` holds of its value (a reloaded file is seen within the 1 s poll).
fn until(what: &str, mut read: impl FnMut() -> Value, ok: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let v = read();
        if ok(&v) {
            return v;
        }
        assert!(Instant::now() < deadline, "{what}: still {v}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn declared(name: &str, with_group_a: bool) -> String {
    let group_a = if with_group_a {
        r#"{"id": "file_group_a", "name": "A"},"#
    } else {
        ""
    };
    format!(
        r#"{{
  "serviceGroups": [{group_a} {{"id": "file_group_b", "name": "B"}}],
  "routes": [{{"id": "file_route", "name": "{name}", "frontend": {{"domains": ["file.test"]}},
              "backend": {{"targets": [{{"hostname": "127.0.0.1", "port": 1}}]}}}}],
  "apis": [{{"id": "file_api", "name": "File API", "domain": "fileapi.test", "state": "published",
            "backends": [{{"id": "b", "backend": {{"targets": [{{"hostname": "127.0.0.1", "port": 1}}]}}}}],
            "routes": [{{"name": "list", "frontend": {{"domains": ["/list"]}}, "backend": "b"}}],
            "documentation": {{"plans": [{{"name": "Free", "access_mode_configuration_type": "keyless"}}]}}}}]
}}"#
    )
}

#[test]
fn the_config_file_owns_what_it_declares() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("komainu.json");
    std::fs::write(&file, declared("v1", true)).unwrap();
    let gw = Gateway::start_with(Options {
        extra_args: vec!["--config".into(), file.display().to_string()],
        ..Default::default()
    });
    gw.create(
        "groups",
        &json!({"id": "admin_group", "name": "made through the admin API"}),
    );
    let (_, route) = json(gw.get("/api/routes/file_route"));
    let target_id = route["backend"]["targets"][0]["id"].clone();
    let (_, api) = json(gw.get("/api/apis/file_api"));
    let (api_route_id, header) = (
        api["routes"][0]["id"].clone(),
        api["testing"]["headerValue"].clone(),
    );
    let plan_id = api["documentation"]["plans"][0]["id"].clone();
    assert!(target_id.as_str().is_some() && api_route_id.as_str().is_some());

    std::fs::write(&file, declared("v2", false)).unwrap();
    until(
        "the route renamed",
        || json(gw.get("/api/routes/file_route")).1,
        |r| r["name"] == "v2",
    );
    assert_eq!(
        gw.get("/api/groups/file_group_a").status(),
        404,
        "removed from the file: gone"
    );
    assert_eq!(gw.get("/api/groups/file_group_b").status(), 200);
    assert_eq!(
        gw.get("/api/groups/admin_group").status(),
        200,
        "the admin's entity is left alone"
    );
    let (_, route) = json(gw.get("/api/routes/file_route"));
    assert_eq!(
        route["backend"]["targets"][0]["id"], target_id,
        "target ids stay stable"
    );
    let (_, api) = json(gw.get("/api/apis/file_api"));
    assert_eq!(
        api["routes"][0]["id"], api_route_id,
        "nested ids stay stable"
    );
    assert_eq!(api["documentation"]["plans"][0]["id"], plan_id);
    assert_eq!(
        api["testing"]["headerValue"], header,
        "a generated value the file leaves out stays"
    );

    // An entity without its id cannot be owned across reloads: the file is refused at start.
    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, r#"{"serviceGroups": [{"name": "no id"}]}"#).unwrap();
    let out = std::process::Command::new(crate::support::bin())
        .args([
            "serve",
            "--config",
            &bad.display().to_string(),
            "--admin-addr",
            "127.0.0.1:0",
            "--http-addr",
            "127.0.0.1:0",
            "--https-addr",
            "127.0.0.1:0",
            "--portal-addr",
            "127.0.0.1:0",
        ])
        .env("KOMAINU_DATA_DIR", dir.path().join("other-data"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("serviceGroups[0].id"), "{stderr}");
}

fn api_with_plan(up: &Upstream, plan_status: &str) -> Value {
    json!({
        "id": "shop", "name": "Shop", "domain": "shop.test", "state": "published",
        "backends": [{"id": "b", "backend": {"targets": [up.target()]}}],
        "routes": [{"id": "r", "frontend": {"domains": ["/"]}, "backend": "b"}],
        "flows": [{"id": "default_plugin_chain", "consumers": ["free"], "plugins": {"slots": []}}],
        "clients": [{"id": "acme", "name": "ACME"}],
        "documentation": {"plans": [{"id": "free", "name": "Free", "status": plan_status,
                                     "access_mode_configuration_type": "apikey"}]}
    })
}

#[test]
fn a_closed_subscription_cannot_be_reopened_silently() {
    let up = Upstream::start("up");
    let gw = Gateway::start();
    gw.create("apis", &api_with_plan(&up, "published"));
    gw.create(
        "api-subscriptions",
        &json!({"id": "s", "api_ref": "shop", "plan_ref": "free", "owner_ref": "acme"}),
    );
    assert_eq!(
        gw.patch("/api/api-subscriptions/s", &json!({"status": "closed"}))
            .status(),
        200
    );
    for patch in [json!({"enabled": true}), json!({"status": "enabled"})] {
        let (status, body) = json(gw.patch("/api/api-subscriptions/s", &patch));
        assert_eq!(status, 409, "{patch}: {body}");
        assert!(body["error"].as_str().unwrap().contains("closed"), "{body}");
    }
    let (_, sub) = json(gw.get("/api/api-subscriptions/s"));
    assert_eq!(sub["status"], "closed");
}

#[test]
fn a_publish_that_strands_a_flow_says_so() {
    let up = Upstream::start("up");
    let gw = Gateway::start();
    gw.create("apis", &api_with_plan(&up, "published"));
    let mut next = api_with_plan(&up, "closed");
    next["state"] = json!("published");
    assert_eq!(gw.put("/api/apis/shop/draft", &next).status(), 200);
    let (status, published) = json(
        gw.request(Method::POST, "/api/apis/shop/_publish")
            .send()
            .unwrap(),
    );
    assert_eq!(status, 200, "{published}");
    assert_eq!(
        error_paths(&json!({"details": published["warnings"]})),
        vec!["flows[0].consumers"],
        "{published}"
    );
    let (_, stored) = json(gw.get("/api/apis/shop"));
    assert!(
        stored.get("warnings").is_none(),
        "warnings are the answer's, not the entity's"
    );
}

#[test]
fn imports_and_exports_never_guess() {
    let dir = tempfile::tempdir().unwrap();
    let spec = format!(
        "{}/tests/fixtures/petstore.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let (ok, _, err) = run_cli(
        &["openapi", "import", &spec, "--domain", "pets.test"],
        dir.path(),
    );
    assert!(ok, "{err}");
    let (ok, _, err) = run_cli(
        &["openapi", "import", &spec, "--domain", "pets.test"],
        dir.path(),
    );
    assert!(!ok, "a second import of the same API is refused");
    assert!(err.contains("--replace"), "{err}");
    let (ok, _, err) = run_cli(
        &[
            "openapi",
            "import",
            &spec,
            "--domain",
            "pets.test",
            "--replace",
        ],
        dir.path(),
    );
    assert!(ok, "{err}");
    let (ok, out, err) = run_cli(
        &["openapi", "import", &spec, "--id", "api_pets_v2"],
        dir.path(),
    );
    assert!(ok && out.contains("api_pets_v2"), "{out} {err}");
    let missing = dir.path().join("not-there");
    let (ok, _, err) = run_cli(&["export"], &missing);
    assert!(!ok, "exporting a data dir that does not exist fails");
    assert!(err.contains("no Komainu store"), "{err}");
    assert!(!missing.exists(), "and creates nothing");
    // The admin API takes the id too, and answers 409 rather than overwrite.
    let gw = Gateway::start();
    let body: Value = serde_json::from_str(&std::fs::read_to_string(&spec).unwrap()).unwrap();
    let (status, api) = json(gw.post("/api/apis/_openapi?id=api_mine&domain=pets.test", &body));
    assert_eq!((status, &api["id"]), (201, &json!("api_mine")));
    let (status, _) = json(gw.post("/api/apis/_openapi?id=api_mine", &body));
    assert_eq!(status, 409);
}

#[test]
fn the_demo_answers_on_any_host_and_leaves_with_its_flag() {
    let mut gw = Gateway::start_with(Options {
        extra_args: vec!["--demo".into()],
        ..Default::default()
    });
    for host in ["localhost", "127.0.0.1", "demo.example.com"] {
        let (status, body) = json(gw.proxy_get(host, "/demo/hello"));
        assert_eq!(status, 200, "{host}: {body}");
        assert_eq!(body["message"], "hello from komainu");
    }
    let dir = gw.keep_dir();
    assert!(gw.terminate().success());
    let gw = Gateway::start_in(dir.path(), Options::default());
    assert_eq!(gw.proxy_get("localhost", "/demo/hello").status(), 404);
    assert_eq!(
        gw.get("/api/apis/api_komainu_demo").status(),
        404,
        "not left in the store"
    );
    assert!(gw.stderr.lock().unwrap().contains("demo API removed"));
}

#[test]
fn upstream_failures_name_their_cause_and_are_logged() {
    let gw = Gateway::start();
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    for (host, target, cause) in [
        (
            "dns.test",
            json!({"hostname": "no-such-host.invalid", "port": 80}),
            "errors.dns.error",
        ),
        (
            "refused.test",
            json!({"hostname": "127.0.0.1", "port": port}),
            "errors.connection.refused",
        ),
    ] {
        gw.create(
            "routes",
            &json!({"id": host, "frontend": {"domains": [host]},
                    "backend": {"targets": [target], "client": {"retries": 0}}}),
        );
        let resp = gw.proxy_get(host, "/");
        assert_eq!(resp.status(), 502, "{host}");
        assert_eq!(resp.headers()["otoroshi-error-cause"], cause, "{host}");
        let deadline = Instant::now() + Duration::from_secs(3);
        loop {
            let log = gw.stderr.lock().unwrap().clone();
            let line = log
                .lines()
                .find(|l| l.contains("WARN") && l.contains(cause) && l.contains(host));
            if let Some(line) = line {
                assert!(
                    line.contains("no-such-host.invalid") || line.contains(&port.to_string()),
                    "{line}"
                );
                break;
            }
            assert!(Instant::now() < deadline, "no WARN line for {host}:\n{log}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}
