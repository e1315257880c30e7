//! The admin API through the real binary: auth, CRUD of every kind on both path styles, both PATCH
//! forms, validation errors, statuses, listing.

use crate::support::{Gateway, Options, error_paths, json};
use reqwest::Method;
use serde_json::{Value, json};

fn target() -> Value {
    json!({"targets": [{"hostname": "127.0.0.1", "port": 8081}]})
}

/// A valid document of each kind, in an order where references resolve.
fn samples() -> Vec<(&'static str, &'static str, Value)> {
    vec![
        (
            "groups",
            "id",
            json!({"id": "g1", "name": "Payment APIs", "tags": ["pay"]}),
        ),
        (
            "backends",
            "id",
            json!({"id": "b1", "name": "B", "backend": target()}),
        ),
        (
            "routes",
            "id",
            json!({"id": "r1", "frontend": {"domains": ["r.example/x"]}, "backend": target()}),
        ),
        (
            "apis",
            "id",
            json!({
                "id": "api1", "domain": "api.example", "context_path": "/v1",
                "state": "published", "clients": [{"id": "o", "name": "O"}],
                "documentation": {"plans": [{"id": "p", "status": "published",
                    "access_mode_configuration_type": "apikey"}]},
                "backends": [{"id": "local", "backend": target()}],
                "routes": [{"id": "ru", "frontend": {"domains": ["x/users"]}, "backend": "local"}]
            }),
        ),
        (
            "apikeys",
            "clientId",
            json!({"clientId": "k1", "clientSecret": "s3cret", "clientName": "K", "authorizedEntities": ["group_g1"]}),
        ),
        ("certificates", "id", {
            let (chain, key) = crate::support::self_signed_pem("c1.example");
            json!({"id": "c1", "name": "C", "chain": chain, "privateKey": key})
        }),
        (
            "jwt-verifiers",
            "id",
            json!({"id": "j1", "name": "J", "algoSettings": {"type": "HSAlgoSettings", "size": 512, "secret": "s3cret"}}),
        ),
        (
            "api-subscriptions",
            "id",
            json!({"id": "s1", "api_ref": "api1", "plan_ref": "p", "owner_ref": "o", "subscription_kind": "apikey"}),
        ),
    ]
}

#[test]
fn admin_calls_need_the_admin_credentials_either_way() {
    let gw = Gateway::start();
    let anonymous = gw.client.get(gw.url("/api/apis")).send().unwrap();
    assert_eq!(anonymous.status(), 401);
    assert_eq!(anonymous.headers()["content-type"], "application/json");
    let (_, body) = json(anonymous);
    assert!(body["error"].as_str().unwrap().contains("missing"));

    let wrong = gw
        .client
        .get(gw.url("/api/apis"))
        .basic_auth(crate::support::ADMIN_ID, Some("nope"))
        .send()
        .unwrap();
    assert_eq!(wrong.status(), 401);
    let basic = gw
        .client
        .get(gw.url("/api/apis"))
        .basic_auth(crate::support::ADMIN_ID, Some(crate::support::ADMIN_SECRET))
        .send()
        .unwrap();
    assert_eq!(basic.status(), 200);
    let headers = gw
        .client
        .get(gw.url("/api/apis"))
        .header("Otoroshi-Client-Id", crate::support::ADMIN_ID)
        .header("Otoroshi-Client-Secret", crate::support::ADMIN_SECRET)
        .send()
        .unwrap();
    assert_eq!(headers.status(), 200);
    let bad_headers = gw
        .client
        .get(gw.url("/apis/entities"))
        .header("Otoroshi-Client-Id", crate::support::ADMIN_ID)
        .header("Otoroshi-Client-Secret", "x")
        .send()
        .unwrap();
    assert_eq!(bad_headers.status(), 401, "generic paths are protected too");
    assert_eq!(
        gw.client.get(gw.url("/health")).send().unwrap().status(),
        200,
        "health is open"
    );
}

#[test]
fn generated_admin_credentials_are_printed_once_and_kept() {
    let mut gw = Gateway::start_with(Options {
        env_credentials: false,
        ..Default::default()
    });
    let err = gw.stderr.lock().unwrap().clone();
    let field = |name: &str| {
        err.lines()
            .find(|l| l.contains(name))
            .and_then(|l| l.split_whitespace().last())
            .unwrap()
            .to_string()
    };
    let (id, secret) = (field("client id:"), field("client secret:"));
    assert_eq!((id.len(), secret.len()), (16, 64));
    gw.credentials = Some((id.clone(), secret.clone()));
    assert_eq!(gw.get("/api/groups").status(), 200);

    let dir = gw.keep_dir();
    gw.terminate();
    let mut again = Gateway::start_in(
        dir.path(),
        Options {
            env_credentials: false,
            ..Default::default()
        },
    );
    assert!(
        !again.stderr.lock().unwrap().contains("client secret"),
        "printed only once"
    );
    again.credentials = Some((id, secret));
    assert_eq!(
        again.get("/api/groups").status(),
        200,
        "the stored pair still works"
    );
}

#[test]
fn every_resource_supports_crud_and_both_patch_forms() {
    let gw = Gateway::start();
    for (plural, id_field, doc) in samples() {
        let id = doc[id_field].as_str().unwrap().to_string();
        let (status, created) = json(gw.post(&format!("/api/{plural}"), &doc));
        assert_eq!(status, 201, "{plural}: {created}");
        assert_eq!(created[id_field], id.as_str());

        let (status, read) = json(gw.get(&format!("/api/{plural}/{id}")));
        assert_eq!((status, &read), (200, &created), "{plural}");
        let (status, list) = json(gw.get(&format!("/api/{plural}")));
        assert_eq!(status, 200);
        assert!(
            list.as_array()
                .unwrap()
                .iter()
                .any(|d| d[id_field] == id.as_str()),
            "{plural} listed"
        );

        let mut changed = read.clone();
        changed["description"] = json!("replaced");
        let (status, replaced) = json(gw.put(&format!("/api/{plural}/{id}"), &changed));
        assert_eq!(status, 200, "{plural}: {replaced}");
        assert_eq!(replaced["description"], "replaced");

        let (status, patched) = json(gw.patch(
            &format!("/api/{plural}/{id}"),
            &json!([{"op": "replace", "path": "/description", "value": "json-patch"}]),
        ));
        assert_eq!(
            (status, &patched["description"]),
            (200, &json!("json-patch")),
            "{plural}: {patched}"
        );
        let (status, merged) = json(gw.patch(
            &format!("/api/{plural}/{id}"),
            &json!({"description": "merge-patch", "x_extra": {"kept": 1}}),
        ));
        assert_eq!(
            (status, &merged["description"]),
            (200, &json!("merge-patch")),
            "{plural}: {merged}"
        );
        assert_eq!(
            merged["x_extra"],
            json!({"kept": 1}),
            "{plural}: unknown fields survive"
        );
        assert_eq!(
            json(gw.get(&format!("/api/{plural}/{id}"))).1,
            merged,
            "{plural}: patch stored"
        );
    }
    // Deletion in reverse order, so references go before what they name.
    for (plural, id_field, doc) in samples().into_iter().rev() {
        let id = doc[id_field].as_str().unwrap();
        let (status, body) = json(gw.delete(&format!("/api/{plural}/{id}")));
        assert_eq!((status, body), (200, json!({"deleted": true})), "{plural}");
        assert_eq!(
            gw.get(&format!("/api/{plural}/{id}")).status(),
            404,
            "{plural}"
        );
        assert_eq!(
            gw.delete(&format!("/api/{plural}/{id}")).status(),
            404,
            "{plural}"
        );
    }
}

#[test]
fn generic_otoroshi_paths_serve_the_same_resources() {
    let gw = Gateway::start();
    let (status, _) = json(gw.post(
        "/apis/organize.otoroshi.io/v1/service-groups",
        &json!({"id": "g9", "name": "nine"}),
    ));
    assert_eq!(status, 201);
    assert_eq!(json(gw.get("/api/groups/g9")).1["name"], "nine");
    let (status, key) = json(gw.post(
        "/apis/apim.otoroshi.io/v1/apikeys/kk",
        &json!({"clientName": "upserted"}),
    ));
    assert_eq!(status, 201, "POST on a new id creates: {key}");
    assert_eq!(key["clientId"], "kk");
    assert_eq!(
        json(gw.get("/apis/apim.otoroshi.io/v1/apikeys/_count")).1,
        json!({"count": 1})
    );
    assert_eq!(
        gw.get("/apis/proxy.otoroshi.io/v1/apikeys").status(),
        404,
        "wrong group"
    );
    let (_, entities) = json(gw.get("/apis/entities?schema=false"));
    let kinds: Vec<&str> = entities["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds.len(), 12, "{kinds:?}");
    assert!(entities["resources"][0]["version"].get("schema").is_none());
    let (_, template) = json(gw.get("/api/apis/_template"));
    assert_eq!(template["flows"][0]["id"], "default_plugin_chain");
    let (_, schema) = json(gw.get("/apis/apis.otoroshi.io/v1/apis/_schema"));
    assert!(schema["properties"]["context_path"].is_object());
}

#[test]
fn each_validation_error_class_is_reported_with_its_path() {
    let gw = Gateway::start();
    let api = json!({
        "id": "bad", "enabled": "yes", "state": "live", "blueprint": "SOAP",
        "backends": [
            {"id": "dup", "backend": {"targets": [{"hostname": "h", "port": 1}], "load_balancing": {"type": "Fastest"}}},
            {"id": "dup", "backend": {"targets": [{"hostname": "h", "port": 2}]}}
        ],
        "routes": [
            {"id": "r1", "frontend": {"domains": ["x/a"]}, "backend": "ghost"},
            {"id": "r2", "frontend": {"domains": ["x/b"]}, "backend": "dup", "flow_ref": "nope"}
        ],
        "documentation": {"plans": [{"id": "p", "status": "open", "access_mode_configuration_type": "magic"}]}
    });
    let (status, body) = json(gw.post("/api/apis", &api));
    assert_eq!(status, 400);
    assert_eq!(body["error"], "invalid entity");
    let paths = error_paths(&body);
    for want in [
        "enabled",
        "state",
        "blueprint",
        "backends[0].backend.load_balancing.type",
        "documentation.plans[0].status",
        "documentation.plans[0].access_mode_configuration_type",
        "routes[0].backend",
        "routes[1].flow_ref",
        "backends[1].id",
    ] {
        assert!(paths.iter().any(|p| p == want), "missing {want}: {body:#}");
    }
    let (status, body) = json(gw.post(
        "/api/api-subscriptions",
        &json!({"api_ref": "ghost", "status": "frozen", "subscription_kind": "saml"}),
    ));
    assert_eq!(status, 400);
    assert_eq!(
        error_paths(&body),
        vec!["status", "subscription_kind", "api_ref"],
        "{body:#}"
    );
    assert_eq!(gw.get("/api/apis/bad").status(), 404, "nothing stored");
}

#[test]
fn refused_writes_leave_the_stored_document_untouched() {
    let gw = Gateway::start();
    let (_, original) = json(gw.post("/api/groups", &json!({"id": "g", "name": "kept"})));
    let cases: Vec<(Method, Value, u16)> = vec![
        (Method::PUT, json!({"name": 42}), 400),
        (Method::PUT, json!({"id": "other", "name": "x"}), 400),
        (
            Method::PATCH,
            json!([{"op": "replace", "path": "/name", "value": []}]),
            400,
        ),
        (
            Method::PATCH,
            json!([{"op": "remove", "path": "/nothing/here"}]),
            400,
        ),
        (Method::PATCH, json!({"id": "renamed"}), 400),
        (Method::PATCH, json!("text"), 400),
    ];
    for (method, body, want) in cases {
        let resp = gw
            .request(method.clone(), "/api/groups/g")
            .json(&body)
            .send()
            .unwrap();
        let (status, err) = json(resp);
        assert_eq!(status, want, "{method} {body}: {err}");
        assert_eq!(
            json(gw.get("/api/groups/g")).1,
            original,
            "{method} {body} changed the document"
        );
    }
    let malformed = gw
        .request(Method::PUT, "/api/groups/g")
        .header("content-type", "application/json")
        .body("{\"name\": ")
        .send()
        .unwrap();
    let (status, err) = json(malformed);
    assert_eq!(status, 400);
    assert!(
        err["error"].as_str().unwrap().contains("malformed JSON"),
        "{err}"
    );
    assert_eq!(json(gw.get("/api/groups/g")).1, original);
}

#[test]
fn statuses_for_conflicts_missing_sizes_and_media_types() {
    let gw = Gateway::start();
    assert_eq!(gw.post("/api/groups", &json!({"id": "g"})).status(), 201);
    let (status, body) = json(gw.post("/api/groups", &json!({"id": "g"})));
    assert_eq!(status, 409, "{body}");
    assert_eq!(gw.get("/api/groups/none").status(), 404);
    assert_eq!(
        gw.put("/api/groups/none", &json!({"name": "x"})).status(),
        404
    );
    assert_eq!(
        gw.patch("/api/groups/none", &json!({"name": "x"})).status(),
        404
    );
    assert_eq!(gw.get("/api/nothings").status(), 404);

    let huge = format!(
        "{{\"id\": \"big\", \"description\": \"{}\"}}",
        "x".repeat(9 << 20)
    );
    let resp = gw
        .request(Method::POST, "/api/groups")
        .header("content-type", "application/json")
        .body(huge)
        .send()
        .unwrap();
    assert_eq!(
        resp.headers()["connection"],
        "close",
        "the unread body ends the connection"
    );
    let (status, body) = json(resp);
    assert_eq!(status, 413, "{body}");
    let resp = gw
        .request(Method::POST, "/api/groups")
        .header("content-type", "text/plain")
        .body("{}")
        .send()
        .unwrap();
    assert_eq!(resp.status(), 415);
    let resp = gw
        .request(Method::POST, "/api/groups")
        .header("content-type", "application/merge-patch+json")
        .body("{\"id\":\"mp\"}")
        .send()
        .unwrap();
    assert_eq!(resp.status(), 201, "+json types are JSON");
}

#[test]
fn a_backend_in_use_cannot_be_deleted() {
    let gw = Gateway::start();
    assert_eq!(
        gw.post(
            "/api/backends",
            &json!({"id": "shared", "backend": target()})
        )
        .status(),
        201
    );
    let api =
        json!({"id": "a", "routes": [{"frontend": {"domains": ["x/y"]}, "backend": "shared"}]});
    assert_eq!(
        gw.post("/api/apis", &api).status(),
        201,
        "a route may use a stored backend"
    );
    let (status, body) = json(gw.delete("/api/backends/shared"));
    assert_eq!(status, 409, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("api \"a\""),
        "{body}"
    );
    assert_eq!(gw.delete("/api/apis/a").status(), 200);
    assert_eq!(gw.delete("/api/backends/shared").status(), 200);
}

#[test]
fn lists_page_filter_sort_and_pick_fields() {
    let gw = Gateway::start();
    for i in 0..25 {
        let team = if i % 2 == 0 { "even" } else { "odd" };
        let doc = json!({"id": format!("g{i:02}"), "name": format!("n{i}"), "metadata": {"team": team, "kind": "listed"}, "tags": [team]});
        assert_eq!(gw.post("/api/groups", &doc).status(), 201);
    }
    let resp = gw.get("/api/groups?filter.metadata.kind=listed&page=3&pageSize=10");
    assert_eq!(resp.headers()["x-count"], "25");
    let (_, page) = json(resp);
    let ids: Vec<&str> = page
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec!["g20", "g21", "g22", "g23", "g24"]);
    let (_, odd) = json(gw.get("/api/groups?filter.metadata.team=odd&sorted=id:desc&fields=id"));
    assert_eq!(odd.as_array().unwrap().len(), 12);
    assert_eq!(odd[0], json!({"id": "g23"}));
    let (_, tagged) = json(gw.get("/api/groups?filter.tags=even"));
    assert_eq!(tagged.as_array().unwrap().len(), 13);
    let (status, body) = json(gw.get("/api/groups?page=0"));
    assert_eq!(
        (status, error_paths(&body)),
        (400, vec!["page".to_string()])
    );
}

#[test]
fn health_readiness_and_metrics() {
    let gw = Gateway::start();
    assert_eq!(
        json(gw.client.get(gw.url("/health")).send().unwrap()),
        (200, json!({"status": "ok"}))
    );
    let (status, ready) = json(gw.client.get(gw.url("/ready")).send().unwrap());
    assert_eq!(
        (status, &ready["status"]),
        (200, &json!("ready")),
        "{ready}"
    );
    assert_eq!(ready["applied"], ready["revision"], "{ready}");
    gw.get("/api/groups");
    let text = gw.metrics();
    assert!(
        text.contains("# TYPE komainu_admin_requests_total counter"),
        "{text}"
    );
    assert!(
        text.contains("komainu_admin_requests_total{method=\"GET\",status=\"200\"}"),
        "{text}"
    );
}
