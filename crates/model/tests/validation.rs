//! The entity pipeline against seed documents: defaults, round trips and error reporting.

use komainu_model::{Api, FieldError, Kind, Refs, parse, prepare, template};
use serde_json::{Value, json};

/// Stored backends: only `shared_backend` exists.
struct Known;
impl Refs for Known {
    fn exists(&self, kind: Kind, id: &str) -> bool {
        kind == Kind::Backend && id == "shared_backend"
    }
    fn check_plugin(
        &self,
        id: &str,
        _config: &Value,
    ) -> Result<Vec<(String, String)>, komainu_model::PluginProblem> {
        if id.starts_with("cp:otoroshi.next.plugins.") {
            Ok(Vec::new())
        } else {
            Err(komainu_model::PluginProblem::Unknown)
        }
    }
}

fn seed_api() -> Value {
    serde_json::from_str(include_str!("fixtures/api_users_service.json")).unwrap()
}

fn errors(kind: Kind, doc: Value) -> Vec<FieldError> {
    prepare(kind, doc, &Known).expect_err("document should be refused")
}

fn paths(errs: &[FieldError]) -> Vec<&str> {
    errs.iter().map(|e| e.path.as_str()).collect()
}

#[test]
fn seed_api_is_accepted_and_round_trips() {
    let stored = prepare(Kind::Api, seed_api(), &Known).unwrap();
    let again = prepare(Kind::Api, stored.clone(), &Known).unwrap();
    assert_eq!(stored, again, "preparing a stored document changes nothing");
    let api: Api = parse(&stored).unwrap();
    assert_eq!(api.context_path, "/v1");
    assert_eq!(api.routes.len(), 2);
    assert_eq!(api.testing.header_value, "secret-test-value");
    assert_eq!(api.clients[0].id, "client_acme");
    assert_eq!(api.documentation.plans[0].id, "plan_free");
    assert_eq!(
        stored["clients_backend_config"][0]["client"]["callTimeout"],
        30000
    );
}

#[test]
fn unknown_fields_survive() {
    let mut doc = seed_api();
    doc["x_custom"] = json!({"a": [1, 2]});
    doc["routes"][0]["frontend"]["x_front"] = json!(true);
    doc["backends"][0]["backend"]["targets"][0]["x_target"] = json!("t");
    let stored = prepare(Kind::Api, doc, &Known).unwrap();
    assert_eq!(stored["x_custom"], json!({"a": [1, 2]}));
    assert_eq!(stored["routes"][0]["frontend"]["x_front"], json!(true));
    assert_eq!(
        stored["backends"][0]["backend"]["targets"][0]["x_target"],
        json!("t")
    );
}

#[test]
fn defaults_follow_otoroshi() {
    let stored = prepare(
        Kind::Api,
        json!({"routes": [{"frontend": {"domains": ["x/y"]}, "backend": "shared_backend"}]}),
        &Known,
    )
    .unwrap();
    assert!(stored["id"].as_str().unwrap().starts_with("api_"));
    assert_eq!(stored["state"], "staging");
    assert_eq!(stored["enabled"], true);
    assert_eq!(stored["flows"][0]["id"], "default_plugin_chain");
    assert_eq!(
        stored["flows"][0]["plugins"]["slots"][0]["plugin"],
        "cp:otoroshi.next.plugins.OverrideHost"
    );
    assert_eq!(stored["testing"]["enabled"], false);
    assert_eq!(stored["testing"]["headerKey"], "X-OTOROSHI-TESTING");
    let value = stored["testing"]["headerValue"].as_str().unwrap();
    assert_eq!(value.len(), 36, "a UUID: {value}");
    let route = &stored["routes"][0];
    assert!(route["id"].as_str().unwrap().starts_with("route_"));
    assert_eq!(route["enabled"], true);
    assert_eq!(route["frontend"]["strip_path"], true);
    assert_eq!(route["frontend"]["exact"], false);
    assert_eq!(route["flow_ref"], "default_plugin_chain");

    let key = prepare(Kind::ApiKey, json!({}), &Known).unwrap();
    let id = key["clientId"].as_str().unwrap();
    let secret = key["clientSecret"].as_str().unwrap();
    assert_eq!(id.len(), 16);
    assert_eq!(secret.len(), 64);
    assert!(
        id.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
    );
    assert_eq!(key["dailyQuota"], 10_000_000);
    assert_eq!(key["rotation"]["rotationEvery"], 744);
    assert_eq!(key["restrictions"]["allowLast"], true);
}

#[test]
fn otoroshi_spellings_are_read_and_seed_spellings_written() {
    let doc = json!({
        "contextPath": "/v2",
        "clients": [{"id": "c1", "client": {"max_errors": 3, "call_timeout": 1000}}],
        "consumers": [{"id": "p1", "status": "published", "access_mode_configuration_type": "apikey"}]
    });
    let stored = prepare(Kind::Api, doc, &Known).unwrap();
    assert_eq!(stored["context_path"], "/v2");
    assert!(stored.get("contextPath").is_none());
    assert_eq!(
        stored["clients_backend_config"][0]["client"]["maxErrors"],
        3
    );
    assert_eq!(
        stored["clients_backend_config"][0]["client"]["callTimeout"],
        1000
    );
    assert_eq!(stored["clients"], json!([]));
    assert_eq!(stored["documentation"]["plans"][0]["id"], "p1");
}

#[test]
fn every_type_and_enum_error_is_reported_with_its_path() {
    let mut doc = seed_api();
    doc["state"] = json!("live");
    doc["blueprint"] = json!("SOAP");
    doc["enabled"] = json!("yes");
    doc["routes"][1]["frontend"]["strip_path"] = json!(1);
    doc["backends"][0]["backend"]["targets"][0]["port"] = json!("8080");
    doc["backends"][0]["backend"]["load_balancing"]["type"] = json!("Fastest");
    doc["documentation"]["plans"][0]["status"] = json!("open");
    doc["documentation"]["plans"][0]["access_mode_configuration_type"] = json!("magic");
    let errs = errors(Kind::Api, doc);
    let got = paths(&errs);
    for want in [
        "state",
        "blueprint",
        "enabled",
        "routes[1].frontend.strip_path",
        "backends[0].backend.targets[0].port",
        "backends[0].backend.load_balancing.type",
        "documentation.plans[0].status",
        "documentation.plans[0].access_mode_configuration_type",
    ] {
        assert!(got.contains(&want), "missing {want} in {errs:#?}");
    }
}

#[test]
fn references_and_duplicates_are_checked() {
    let mut doc = seed_api();
    doc["routes"][0]["backend"] = json!("nowhere");
    doc["routes"][1]["backend"] = json!("shared_backend");
    doc["routes"][1]["flow_ref"] = json!("no_such_flow");
    let first = doc["routes"][0].clone();
    doc["routes"].as_array_mut().unwrap().push(first);
    doc["routes"][2]["backend"] = json!("users_backend");
    doc["flows"][0]["plugins"]["slots"][0]["plugin"] = json!("cp:com.example.Nope");
    let errs = errors(Kind::Api, doc);
    let got = paths(&errs);
    assert!(got.contains(&"routes[0].backend"), "{errs:#?}");
    assert!(
        !got.contains(&"routes[1].backend"),
        "stored backend accepted"
    );
    assert!(got.contains(&"routes[1].flow_ref"), "{errs:#?}");
    assert!(
        got.contains(&"routes[2].id"),
        "duplicate route id: {errs:#?}"
    );
    assert!(
        got.contains(&"flows[0].plugins.slots[0].plugin"),
        "{errs:#?}"
    );
    assert_eq!(errs.len(), 4, "{errs:#?}");
}

#[test]
fn subscription_and_key_enums_are_checked() {
    let errs = errors(
        Kind::ApiSubscription,
        json!({"subscription_kind": "saml", "status": "frozen", "dates": {"created_at": "now"}}),
    );
    assert_eq!(
        paths(&errs),
        vec!["subscription_kind", "status", "dates.created_at"],
        "{errs:#?}"
    );
    let errs = errors(
        Kind::ApiKey,
        json!({"authorizedEntities": [{"kind": "planet", "id": "x"}, ""], "dailyQuota": -1}),
    );
    let got = paths(&errs);
    assert!(got.contains(&"dailyQuota"), "{errs:#?}");
}

#[test]
fn templates_exist_for_every_kind() {
    for kind in Kind::ALL {
        let t = template(kind);
        assert!(kind.id_of(&t).is_some_and(|id| !id.is_empty()), "{kind}");
    }
}

#[test]
fn a_document_must_be_an_object() {
    let errs = errors(Kind::Group, json!([1]));
    assert_eq!(errs[0].path, "");
}

#[test]
fn type_errors_and_reference_errors_come_back_together() {
    let errs = errors(
        Kind::Api,
        json!({
            "state": "live",
            "backends": [{"id": "b", "backend": {"targets": [{"port": 99999}]}}],
            "routes": [{"backend": "nowhere"}]
        }),
    );
    assert_eq!(
        paths(&errs),
        vec![
            "state",
            "backends[0].backend.targets[0].port",
            "routes[0].backend",
            "backends[0].backend.targets[0].hostname",
        ],
        "{errs:#?}"
    );
    assert!(
        errs[0].message.contains("\"deprecated\""),
        "lists every state: {}",
        errs[0].message
    );
}
