//! An API's life through the admin API and the real proxy: testing mode, drafts beside the live
//! version, publication with deployment records, forward-only states, documentation data, and
//! APIs imported from OpenAPI documents (JSON and YAML, over HTTP and by the CLI).

use crate::support::upstream::Upstream;
use crate::support::{Gateway, Options, error_paths, json, run_cli};
use reqwest::Method;
use serde_json::{Value, json};

const HOST: &str = "catalog.test";
const TESTING: &str = "X-OTOROSHI-TESTING";

fn catalog(up: &Upstream) -> Value {
    json!({
        "id": "catalog", "name": "Catalog", "domain": HOST, "version": "1.0.0",
        "testing": {"enabled": true, "headerKey": TESTING, "headerValue": "t0k3n"},
        "backends": [{"id": "b", "backend": {"targets": [up.target()]}}],
        "routes": [{"id": "items", "frontend": {"domains": ["/items"]}, "backend": "b"}],
        "documentation": {"plans": [{"id": "open", "name": "Open", "status": "published",
            "access_mode_configuration_type": "keyless",
            "pricing": {"id": "free", "name": "Free", "enabled": true, "price": 0, "currency": "EUR"}}]}
    })
}

fn status(gw: &Gateway, path: &str, testing: bool) -> u16 {
    let rb = gw.call(Method::GET, HOST, path);
    let rb = if testing {
        rb.header(TESTING, "t0k3n")
    } else {
        rb
    };
    rb.send().unwrap().status().as_u16()
}

/// Polls until `path` (with or without the testing header) answers `want`.
fn until(gw: &Gateway, path: &str, testing: bool, want: u16) {
    let started = std::time::Instant::now();
    while status(gw, path, testing) != want {
        assert!(
            started.elapsed().as_secs() < 3,
            "{path} (testing: {testing}) never answered {want}"
        );
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}

#[test]
fn drafts_are_tested_beside_the_live_api_then_published() {
    let up = Upstream::start("catalog");
    let gw = Gateway::start();
    gw.create("apis", &catalog(&up));

    // Staging with testing on: only calls with the testing header are served.
    until(&gw, "/items", true, 200);
    assert_eq!(status(&gw, "/items", false), 404);

    let (code, published) = json(gw.post("/api/apis/catalog/_publish", &json!({})));
    assert_eq!(code, 200, "{published}");
    assert_eq!(published["state"], "published");
    let deployments = published["deployments"].as_array().unwrap();
    assert_eq!(deployments.len(), 1);
    assert_eq!(deployments[0]["apiRef"], "catalog");
    assert_eq!(deployments[0]["version"], "1.0.0");
    assert_eq!(
        deployments[0]["owner"],
        crate::support::ADMIN_ID,
        "{}",
        deployments[0]
    );
    assert_eq!(deployments[0]["apiDefinition"]["routes"][0]["id"], "items");
    until(&gw, "/items", false, 200);

    // A draft: the next version, served only behind the testing header.
    let mut next = catalog(&up);
    next["version"] = json!("2.0.0");
    next["routes"][0]["frontend"]["domains"] = json!(["/products"]);
    let (code, saved) = json(gw.put("/api/apis/catalog/draft", &next));
    assert_eq!(code, 200, "{saved}");
    let (_, read) = json(gw.get("/api/apis/catalog/draft"));
    assert_eq!(read["version"], "2.0.0");
    until(&gw, "/products", true, 200);
    assert_eq!(
        status(&gw, "/products", false),
        404,
        "the draft is not live"
    );
    assert_eq!(
        status(&gw, "/items", false),
        200,
        "the live API is untouched"
    );
    let (_, live) = json(gw.get("/api/apis/catalog"));
    assert_eq!(
        (
            live["version"].as_str(),
            live["routes"][0]["frontend"]["domains"][0].as_str()
        ),
        (Some("1.0.0"), Some("/items"))
    );

    let mut broken = next.clone();
    broken["routes"][0]["flow_ref"] = json!("nowhere");
    let (code, body) = json(gw.put("/api/apis/catalog/draft", &broken));
    assert_eq!(
        (code, error_paths(&body)),
        (400, vec!["routes[0].flow_ref".to_string()]),
        "{body}"
    );

    // Lifecycle moves forward only.
    let (code, body) = json(gw.patch("/api/apis/catalog", &json!({"state": "staging"})));
    assert_eq!(code, 409);
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("published → staging"),
        "{body}"
    );

    // Publishing applies the draft and records a second deployment.
    let (code, published) = json(gw.post("/api/apis/catalog/_publish", &json!({})));
    assert_eq!(code, 200, "{published}");
    assert_eq!(published["version"], "2.0.0");
    assert_eq!(published["deployments"].as_array().unwrap().len(), 2);
    assert_eq!(published["deployments"][1]["version"], "2.0.0");
    assert_eq!(
        gw.get("/api/apis/catalog/draft").status(),
        404,
        "the draft was used up"
    );
    until(&gw, "/products", false, 200);
    until(&gw, "/items", false, 404);

    // A PUT cannot rewrite the deployment history; a deprecated API cannot be published again.
    let mut rewrite = published.clone();
    rewrite["deployments"] = json!([]);
    let (_, kept) = json(gw.put("/api/apis/catalog", &rewrite));
    assert_eq!(kept["deployments"].as_array().unwrap().len(), 2);
    gw.patch("/api/apis/catalog", &json!({"state": "deprecated"}));
    assert_eq!(
        gw.post("/api/apis/catalog/_publish", &json!({})).status(),
        409
    );
    assert_eq!(gw.delete("/api/apis/catalog/draft").status(), 404);
}

#[test]
fn documentation_is_served_with_its_remote_source() {
    let up = Upstream::start("docs");
    let gw = Gateway::start_fetching_loopback();
    let mut api = catalog(&up);
    api["documentation"]["enabled"] = json!(true);
    api["documentation"]["references"] =
        json!([{"title": "Status", "link": "https://status.test"}]);
    gw.create("apis", &api);
    let (code, doc) = json(gw.get("/api/apis/catalog/documentation"));
    assert_eq!(code, 200);
    assert_eq!(doc["plans"][0]["pricing"]["currency"], "EUR");
    assert_eq!(doc["references"][0]["title"], "Status");

    let source = format!("http://127.0.0.1:{}/fixtures/docs.json", up.port());
    gw.patch(
        "/api/apis/catalog",
        &json!({"documentation": {"source": {"url": source}}}),
    );
    let (code, doc) = json(gw.get("/api/apis/catalog/documentation"));
    assert_eq!(code, 200, "{doc}");
    assert_eq!(doc["resources"][0]["title"], "Getting started");
    assert_eq!(doc["plans"][0]["id"], "open", "local fields stay");

    gw.patch(
        "/api/apis/catalog",
        &json!({"documentation": {"source": {"url": "http://127.0.0.1:9/nothing"}}}),
    );
    assert_eq!(gw.get("/api/apis/catalog/documentation").status(), 502);
    assert_eq!(gw.get("/api/apis/none/documentation").status(), 404);
}

fn petstore(up: &Upstream) -> Value {
    json!({
        "openapi": "3.0.3",
        "info": {"title": "Pet Store", "version": "1.2.0", "description": "Pets"},
        "servers": [{"url": format!("http://127.0.0.1:{}/base", up.port())}],
        "paths": {
            "/pets": {"get": {"operationId": "listPets"}, "post": {"summary": "Add a pet"}},
            "/pets/{petId}": {"get": {"operationId": "showPet"}}
        }
    })
}

#[test]
fn openapi_documents_become_apis() {
    let up = Upstream::start("pets");
    let gw = Gateway::start_fetching_loopback();

    // JSON over HTTP.
    let (code, api) = json(gw.post(
        "/api/apis/_openapi?domain=pets.test&context_path=/store",
        &petstore(&up),
    ));
    assert_eq!(code, 201, "{api}");
    assert_eq!(
        (
            api["id"].as_str(),
            api["state"].as_str(),
            api["version"].as_str()
        ),
        (Some("api_pet_store"), Some("staging"), Some("1.2.0"))
    );
    assert_eq!(api["routes"].as_array().unwrap().len(), 3);
    assert_eq!(
        gw.post("/api/apis/api_pet_store/_publish", &json!({}))
            .status(),
        200
    );
    gw.wait_status("pets.test", "/store/pets/42", 200);
    let (_, echo) = json(gw.proxy_get("pets.test", "/store/pets/42"));
    assert_eq!(echo["path"], "/base/store/pets/42", "{echo}");
    assert_eq!(
        gw.call(Method::POST, "pets.test", "/store/pets")
            .send()
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        gw.call(Method::DELETE, "pets.test", "/store/pets")
            .send()
            .unwrap()
            .status(),
        404,
        "no such operation"
    );
    assert_eq!(
        gw.proxy_get("pets.test", "/store/pets/42/extra").status(),
        404,
        "routes are exact"
    );

    // YAML over HTTP.
    let mut spec = petstore(&up);
    spec["info"]["title"] = json!("Pet Store YAML");
    let yaml = serde_norway::to_string(&spec).unwrap();
    let resp = gw
        .request(Method::POST, "/api/apis/_openapi?domain=yaml.test")
        .header("content-type", "application/yaml")
        .body(yaml)
        .send()
        .unwrap();
    let (code, api) = json(resp);
    assert_eq!(
        (code, api["id"].as_str()),
        (201, Some("api_pet_store_yaml")),
        "{api}"
    );

    // By URL.
    let url = format!("http://127.0.0.1:{}/fixtures/petstore.json", up.port());
    let (code, api) = json(gw.post("/api/apis/_openapi", &json!({"url": url})));
    assert_eq!(
        (code, api["name"].as_str()),
        (201, Some("Remote Pets")),
        "{api}"
    );

    // Malformed documents say where.
    let (code, body) = json(gw.post(
        "/api/apis/_openapi",
        &json!({"openapi": "3.0.0", "info": {}, "paths": {}}),
    ));
    assert_eq!(code, 400);
    assert_eq!(
        error_paths(&body),
        vec!["servers"],
        "no host: give the backend"
    );
    assert!(body.to_string().contains("backend"), "{body}");
    let (code, body) = json(gw.post("/api/apis/_openapi", &json!({"hello": "world"})));
    assert_eq!(
        (code, error_paths(&body)),
        (400, vec!["openapi".to_string()])
    );
    let (code, _) = json(gw.post("/api/apis/_openapi?domain=pets.test", &petstore(&up)));
    assert_eq!(code, 409, "the API exists already");
}

#[test]
fn the_cli_imports_yaml_openapi_documents() {
    let up = Upstream::start("pets");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("pets.yaml");
    std::fs::write(&file, serde_norway::to_string(&petstore(&up)).unwrap()).unwrap();
    let data = dir.path().join("data");
    let args = [
        "openapi",
        "import",
        file.to_str().unwrap(),
        "--domain",
        "cli.test",
        "--context-path",
        "/v2",
    ];
    let (ok, out, err) = run_cli(&args, &data);
    assert!(ok, "{out}{err}");
    assert!(out.contains("api_pet_store"), "{out}");
    let bad = dir.path().join("bad.yaml");
    std::fs::write(&bad, "openapi: 3.0.0\ninfo: {}\npaths: {}\n").unwrap();
    let (ok, _, err) = run_cli(&["openapi", "import", bad.to_str().unwrap()], &data);
    assert!(
        !ok && err.contains("servers") && err.contains("--backend"),
        "{err}"
    );

    let gw = Gateway::start_in(&data, Options::default());
    let (_, api) = json(gw.get("/api/apis/api_pet_store"));
    assert_eq!(
        (
            api["domain"].as_str(),
            api["context_path"].as_str(),
            api["state"].as_str()
        ),
        (Some("cli.test"), Some("/v2"), Some("staging"))
    );
    assert_eq!(
        gw.post("/api/apis/api_pet_store/_publish", &json!({}))
            .status(),
        200
    );
    gw.wait_status("cli.test", "/v2/pets", 200);
}
