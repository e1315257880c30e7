//! The body plugins through the real proxy: JSON Schema validation both ways, jq transformations
//! both ways, brotli and gzip compression, and the response body bound.

use std::io::Read;

use serde_json::{Value, json};

use crate::support::upstream::Upstream;
use crate::support::{Gateway, json};

const P: &str = "cp:otoroshi.next.plugins.";

fn route(gw: &Gateway, host: &str, up: &Upstream, plugins: Value) {
    gw.create(
        "routes",
        &json!({"id": host.replace('.', "_"), "frontend": {"domains": [host]},
                "backend": {"targets": [up.target()]}, "plugins": plugins}),
    );
}

fn plugin(name: &str, config: Value) -> Value {
    json!({"plugin": format!("{P}{name}"), "config": config})
}

fn post(gw: &Gateway, host: &str, path: &str, content_type: &str, body: &str) -> (u16, Value) {
    json(
        gw.call(reqwest::Method::POST, host, path)
            .header("content-type", content_type)
            .body(body.to_string())
            .send()
            .unwrap(),
    )
}

#[test]
fn json_schemas_guard_requests_and_responses() {
    let up = Upstream::start("schema");
    let gw = Gateway::start();
    let schema = r#"{"type": "object", "required": ["name"], "properties": {"name": {"type": "string"}, "age": {"type": "integer", "minimum": 0}}}"#;
    route(
        &gw,
        "in.test",
        &up,
        json!([plugin(
            "JsonSchemaRequestValidator",
            json!({"schema": schema})
        )]),
    );
    route(
        &gw,
        "out.test",
        &up,
        json!([plugin(
            "JsonSchemaResponseValidator",
            json!({
        "schema": {"type": "object", "required": ["release"]}})
        )]),
    );
    route(
        &gw,
        "lenient.test",
        &up,
        json!([plugin(
            "JsonSchemaRequestValidator",
            json!({
        "schema": schema, "fail_on_validation_error": false})
        )]),
    );

    let (status, seen) = post(
        &gw,
        "in.test",
        "/",
        "application/json",
        r#"{"name": "alice", "age": 3}"#,
    );
    assert_eq!(status, 200, "{seen}");
    assert_eq!(seen["body_bytes"], 27, "the body reaches the backend whole");
    let (status, err) = post(&gw, "in.test", "/", "application/json", r#"{"age": -1}"#);
    assert_eq!(status, 422);
    assert_eq!(err["error"], "request body does not match the json schema");
    assert_eq!(
        err["validation_errors"].as_array().unwrap().len(),
        2,
        "{err}"
    );
    assert_eq!(
        post(&gw, "in.test", "/", "application/json", "{not json").0,
        422
    );
    assert_eq!(
        post(&gw, "in.test", "/", "text/plain", "anything").0,
        200,
        "only JSON is checked"
    );
    assert_eq!(
        post(&gw, "lenient.test", "/", "application/json", "{}").0,
        200
    );

    let (status, err) = json(gw.proxy_get("out.test", "/"));
    assert_eq!(status, 502);
    assert_eq!(err["error"], "response body does not match the json schema");
}

#[test]
fn jq_filters_rewrite_bodies_both_ways() {
    let up = Upstream::start("jq");
    let gw = Gateway::start();
    route(
        &gw,
        "jq.test",
        &up,
        json!([plugin(
            "JQRequest",
            json!({"filter": "{user: .name, tags: [.items[] | ascii_upcase]}"})
        ),]),
    );
    route(
        &gw,
        "jqout.test",
        &up,
        json!([plugin(
            "JQResponse",
            json!({"filter": "{upstream: .name, method}"})
        )]),
    );
    let (status, body) = post(
        &gw,
        "jq.test",
        "/echo-body",
        "application/json",
        r#"{"name": "alice", "items": ["a", "b"]}"#,
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(body, json!({"user": "alice", "tags": ["A", "B"]}));
    let (status, body) = json(gw.proxy_get("jqout.test", "/"));
    assert_eq!(
        (status, body),
        (200, json!({"upstream": "jq", "method": "GET"}))
    );
    // A filter failing on the body is Otoroshi's 500 (jq.scala), never a `null` sent on.
    let (status, err) = post(&gw, "jq.test", "/echo-body", "application/json", "[1, 2]");
    assert_eq!(
        (status, err["error"].clone()),
        (500, json!("error while transforming response body"))
    );
    assert!(
        err["details"][0]
            .as_str()
            .unwrap()
            .contains("the filter failed"),
        "{err}"
    );

    let (status, body) = json(gw.post(
        "/api/routes",
        &json!({"id": "r-bad", "frontend": {"domains": ["bad.test"]}, "backend": {"targets": [up.target()]},
                "plugins": [plugin("JQRequest", json!({"filter": ".[ | broken"}))]}),
    ));
    assert_eq!(status, 400);
    assert_eq!(
        body["details"][0]["path"], "plugins[0].config.filter",
        "{body}"
    );
}

#[test]
fn responses_are_compressed_and_bounded() {
    let up = Upstream::start("zip");
    let gw = Gateway::start();
    route(
        &gw,
        "br.test",
        &up,
        json!([plugin(
            "BrotliResponseCompressor",
            json!({"allowed_list": ["application/*"]})
        )]),
    );
    route(
        &gw,
        "gz.test",
        &up,
        json!([plugin("GzipResponseCompressor", json!({}))]),
    );
    route(
        &gw,
        "cap.test",
        &up,
        json!([plugin(
            "ResponseBodyLengthLimiter",
            json!({"max_length": 1000})
        )]),
    );
    route(
        &gw,
        "strict.test",
        &up,
        json!([plugin(
            "ResponseBodyLengthLimiter",
            json!({"max_length": 10, "fail": true})
        )]),
    );
    let raw = |host: &str, path: &str, accept: &str| {
        let resp = gw
            .call(reqwest::Method::GET, host, path)
            .header("accept-encoding", accept)
            .send()
            .unwrap();
        let encoding = resp
            .headers()
            .get("content-encoding")
            .map(|v| v.to_str().unwrap().to_string());
        (encoding, resp.bytes().unwrap().to_vec())
    };
    let (encoding, bytes) = raw("br.test", "/bytes/50000", "gzip, br");
    assert_eq!(encoding.as_deref(), Some("br"));
    let mut plain = Vec::new();
    brotli::Decompressor::new(&bytes[..], 4096)
        .read_to_end(&mut plain)
        .unwrap();
    assert_eq!(plain.len(), 50_000);
    assert!(
        bytes.len() < 1000,
        "50 kB of one byte compress well: {}",
        bytes.len()
    );
    let (encoding, _) = raw("br.test", "/bytes/100", "gzip");
    assert_eq!(
        encoding, None,
        "a client that does not take br gets it plain"
    );
    let (encoding, bytes) = raw("gz.test", "/", "gzip");
    assert_eq!(encoding.as_deref(), Some("gzip"));
    let mut text = String::new();
    flate2::read::GzDecoder::new(&bytes[..])
        .read_to_string(&mut text)
        .unwrap();
    assert!(text.contains("\"name\":\"zip\""));

    let (_, bytes) = raw("cap.test", "/bytes/100000", "identity");
    assert_eq!(bytes.len(), 1000, "cut at max_length");
    let (status, err) = json(gw.proxy_get("strict.test", "/"));
    assert_eq!(
        (status, err["error"].clone()),
        (413, json!("errors.failed.response.entityTooLarge"))
    );
}
