//! Read-your-writes: a 2xx from an admin write means the change already serves on the node that
//! answered, with the store revision holding it in `Komainu-Revision` and in `/ready`.

use crate::support::upstream::Upstream;
use crate::support::{Gateway, Options, json, until};
use serde_json::json;

#[test]
fn a_write_serves_as_soon_as_it_is_answered() {
    let up = Upstream::start("up");
    let gw = Gateway::start();
    let resp = gw.post(
        "/api/routes",
        &json!({"id": "k", "frontend": {"domains": ["rw.test"]},
                "backend": {"targets": [up.target()]},
                "plugins": [{"plugin": "cp:otoroshi.next.plugins.ApikeyCalls"}]}),
    );
    assert_eq!(resp.status(), 201);
    let first: u64 = resp.headers()["komainu-revision"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    // Never polled: each answer must already be true.
    assert_eq!(
        gw.proxy_get("rw.test", "/").status(),
        400,
        "the route serves"
    );
    let mut last = first;
    for i in 0..60 {
        let resp = gw.post(
            "/api/apikeys",
            &json!({"clientId": format!("rw{i}"), "clientSecret": "rw-secret", "authorizedEntities": ["route_k"]}),
        );
        assert_eq!(resp.status(), 201);
        let rev: u64 = resp.headers()["komainu-revision"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!(rev > last, "revisions increase: {rev} after {last}");
        last = rev;
        let status = gw
            .call(reqwest::Method::GET, "rw.test", "/")
            .basic_auth(format!("rw{i}"), Some("rw-secret"))
            .send()
            .unwrap()
            .status();
        assert_eq!(status, 200, "key rw{i} works as soon as it is created");
    }
    assert_eq!(gw.delete("/api/routes/k").status(), 200);
    assert_eq!(gw.proxy_get("rw.test", "/").status(), 404, "deleted: gone");
    let (status, ready) = json(gw.client.get(gw.url("/ready")).send().unwrap());
    assert_eq!(status, 200);
    assert!(ready["revision"].as_u64().unwrap() > last, "{ready}");
    assert_eq!(ready["applied"], ready["revision"], "{ready}");
    assert!(ready["generation"].as_u64().unwrap() >= 2, "{ready}");
}

/// What the node stores while it starts (here a config file's keys, applied by the key index's
/// own follower) serves once `/ready` says ready (from the first answer unless the node is slow).
#[test]
fn what_a_node_stores_while_it_starts_serves_once_it_is_ready() {
    let up = Upstream::start("up");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("komainu.json");
    let keys: Vec<_> = (0..4000)
        .map(|i| json!({"clientId": format!("boot{i}"), "clientSecret": "boot-secret", "authorizedEntities": ["route_b"]}))
        .collect();
    let doc = json!({
        "routes": [{"id": "b", "frontend": {"domains": ["boot.test"]},
                    "backend": {"targets": [up.target()]},
                    "plugins": [{"plugin": "cp:otoroshi.next.plugins.ApikeyCalls"}]}],
        "apiKeys": keys,
    });
    std::fs::write(&file, doc.to_string()).unwrap();
    let gw = Gateway::start_with(Options {
        extra_args: vec!["--config".into(), file.display().to_string()],
        ..Default::default()
    });
    // As an orchestrator does: wait for ready, then everything must already be true.
    let ready = until("ready", || {
        let (status, ready) = json(gw.client.get(gw.url("/ready")).send().unwrap());
        (status == 200).then_some(ready)
    });
    assert_eq!(ready["applied"], ready["revision"], "{ready}");
    let status = gw
        .call(reqwest::Method::GET, "boot.test", "/")
        .basic_auth("boot3999", Some("boot-secret"))
        .send()
        .unwrap()
        .status();
    assert_eq!(status, 200, "the last key of the file opens the route");
}
