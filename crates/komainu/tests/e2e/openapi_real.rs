//! Real OpenAPI specifications, as registry packages ship them (`scripts/specs`): GitHub's 1,223
//! operations, Stripe's recursive schemas, Twilio's and Discourse's `{Sid}.json` segments, the
//! Swagger 2.0 Petstore and the 3.1 Petstore whose path item is a `$ref`. Each is imported,
//! published, and every operation is called through the gateway from its path template: the
//! upstream must receive the server's root plus that path. The portal's reference of each shows
//! every parameter row filled.

use std::path::PathBuf;
use std::process::Command;

use crate::support::upstream::Upstream;
use crate::support::{Gateway, json, until};
use reqwest::Method;
use serde_json::{Value, json};

const METHODS: [&str; 7] = ["get", "put", "post", "delete", "patch", "head", "options"];

/// The specifications' directory, filled by `scripts/specs` when it is not yet.
fn specs() -> PathBuf {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let dir = root.join("target/specs");
    let ok = Command::new(root.join("scripts/specs"))
        .arg(&dir)
        .status()
        .expect("scripts/specs runs");
    assert!(
        ok.success(),
        "scripts/specs could not fetch the specifications"
    );
    dir
}

fn read(file: &str) -> (Value, Vec<u8>) {
    let bytes = std::fs::read(specs().join(file)).unwrap();
    let doc = if file.ends_with(".yaml") {
        serde_norway::from_slice(&bytes).unwrap()
    } else {
        serde_json::from_slice(&bytes).unwrap()
    };
    (doc, bytes)
}

/// `v` with its local `$ref` followed.
fn resolve<'a>(spec: &'a Value, v: &'a Value) -> &'a Value {
    match v["$ref"].as_str() {
        Some(r) => resolve(spec, spec.pointer(r.trim_start_matches('#')).unwrap()),
        None => v,
    }
}

/// A concrete path for `template`: each `{param}` becomes a value no static segment has; a
/// last parameter the spec lets hold slashes (`x-multi-segment`) gets two segments.
fn concrete(template: &str, multi: &[String]) -> String {
    let mut out = String::new();
    let mut rest = template;
    let mut n = 0;
    while let Some(start) = rest.find('{') {
        let end = start + rest[start..].find('}').unwrap();
        out.push_str(&rest[..start]);
        let name = &rest[start + 1..end];
        n += 1;
        if multi.iter().any(|m| m == name) && end + 1 == rest.len() {
            out.push_str(&format!("dir{n}/file{n}.md"));
        } else {
            out.push_str(&format!("v{n}x"));
        }
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    out
}

/// Every `(method, template, multi-segment parameters)` of the spec, path-item `$ref`s followed.
fn operations(spec: &Value) -> Vec<(String, String, Vec<String>)> {
    let mut ops = Vec::new();
    for (path, item) in spec["paths"].as_object().unwrap() {
        if path.starts_with("x-") {
            continue;
        }
        let item = resolve(spec, item);
        for m in METHODS {
            let Some(op) = item.get(m) else { continue };
            let params = item["parameters"].as_array().into_iter().flatten();
            let params = params.chain(op["parameters"].as_array().into_iter().flatten());
            let multi = params
                .map(|p| resolve(spec, p))
                .filter(|p| p["x-multi-segment"] == true)
                .filter_map(|p| p["name"].as_str().map(str::to_string))
                .collect();
            ops.push((m.to_string(), path.clone(), multi));
        }
    }
    ops
}

/// Imports `file` on `domain` with the upstream as backend, publishes it, and calls every
/// operation. The API's id is the domain's first label.
fn import_and_call(gw: &Gateway, up: &Upstream, file: &str, domain: &str, root: &str) {
    let (spec, bytes) = read(file);
    let id = domain.trim_end_matches(".test");
    let backend = format!("http://127.0.0.1:{}", up.port());
    let kind = if file.ends_with(".yaml") {
        "application/yaml"
    } else {
        "application/json"
    };
    let resp = gw
        .request(
            Method::POST,
            &format!("/api/apis/_openapi?domain={domain}&backend={backend}&id={id}"),
        )
        .header("content-type", kind)
        .body(bytes)
        .send()
        .unwrap();
    let (code, api) = json(resp);
    assert_eq!((code, api["id"].as_str()), (201, Some(id)), "{file}: {api}");
    assert_eq!(api["skipped"], json!([]), "{file}: nothing is skipped");
    let ops = operations(&spec);
    assert_eq!(
        api["routes"].as_array().unwrap().len(),
        ops.len(),
        "{file}: one route per operation"
    );
    let (code, published) = json(gw.post(&format!("/api/apis/{id}/_publish"), &json!({})));
    assert_eq!(code, 200, "{published}");
    let send = |method: &str, path: &str| {
        let method = method.to_uppercase().parse().unwrap();
        gw.call(method, domain, path).send().unwrap().status()
    };
    let (first, template, multi) = &ops[0];
    until("the published API", || {
        (send(first, &concrete(template, multi)) == 200).then_some(())
    });
    for (method, template, multi) in &ops {
        let path = concrete(template, multi);
        let before = up.seen().len();
        let status = send(method, &path);
        assert_eq!(status, 200, "{file}: {method} {template} as {path}");
        let seen = up.seen();
        let want = format!(
            "{} {}{path}",
            method.to_uppercase(),
            root.trim_end_matches('/')
        );
        assert_eq!(seen.get(before), Some(&want), "{file}: {template}");
    }
    eprintln!("{file}: {} operations reached", ops.len());
}

/// Every tag page of the API's reference answers, and no parameter row is blank.
fn reference_is_complete(gw: &Gateway, id: &str) -> usize {
    let get = |path: &str| {
        let resp = reqwest::blocking::get(format!("{}{path}", gw.portal)).unwrap();
        assert_eq!(resp.status(), 200, "{path}");
        resp.text().unwrap()
    };
    let overview = get(&format!("/apis/{id}/reference"));
    let prefix = format!("href=\"/apis/{id}/reference/");
    let mut tags: Vec<&str> = overview
        .split(&prefix)
        .skip(1)
        .map(|s| &s[..s.find('"').unwrap()])
        .collect();
    tags.dedup();
    assert!(!tags.is_empty(), "{overview}");
    let mut rows = 0;
    for tag in tags {
        let page = get(&format!("/apis/{id}/reference/{tag}"));
        for table in page.split("<table class=\"parameters\">").skip(1) {
            let body = &table[..table.find("</table>").unwrap()];
            for row in body.split("<tr>").skip(2) {
                rows += 1;
                let cells: Vec<&str> = row.split("<td>").skip(1).collect();
                assert!(
                    !cells[0].starts_with("<code></code>"),
                    "{tag}: blank name: {row}"
                );
                assert!(!cells[1].starts_with("</td>"), "{tag}: blank place: {row}");
                assert!(!cells[3].starts_with("</td>"), "{tag}: blank type: {row}");
            }
        }
    }
    assert!(get(&format!("/apis/{id}/schemas")).contains("<h1>Schemas</h1>"));
    rows
}

#[test]
fn every_operation_of_real_specifications_is_reachable_and_documented() {
    let up = Upstream::start("real");
    let gw = Gateway::start();
    let cases = [
        ("github.json", "github.test", "/"),
        ("stripe.json", "stripe.test", "/"),
        ("twilio.json", "twilio.test", "/"),
        ("discourse.json", "discourse.test", "/"),
        ("petstore-swagger2.json", "swagger2.test", "/v2"),
        ("petstore-3.1.yaml", "petstore31.test", "/v1"),
        ("server-path-level.json", "pathlevel.test", "/v2"),
    ];
    for (file, domain, root) in cases {
        import_and_call(&gw, &up, file, domain, root);
        let rows = reference_is_complete(&gw, domain.trim_end_matches(".test"));
        eprintln!("{file}: {rows} parameter rows");
    }
    // The documentation's search finds operations of the reference.
    let found = reqwest::blocking::get(format!(
        "{}/apis/petstore31/pages/_search?q=pets",
        gw.portal
    ))
    .unwrap()
    .text()
    .unwrap();
    assert!(
        found.contains("In the API reference") && found.contains("GET /pets/{petId}"),
        "{found}"
    );

    // The document is kept apart: the API itself stays small enough to read and write back.
    let github = "/api/apis/github";
    let api = gw.get(github).bytes().unwrap();
    assert!(api.len() < 2 << 20, "{} bytes", api.len());
    let (code, _) = json(
        gw.request(Method::PUT, github)
            .header("content-type", "application/json")
            .body(api)
            .send()
            .unwrap(),
    );
    assert_eq!(code, 200, "a GET of the imported API is PUT back");
}

/// One limit for a specification, posted, fetched by URL or read by the CLI.
#[test]
fn a_specification_over_the_limit_is_refused_everywhere() {
    let up = Upstream::start("big");
    let gw = Gateway::start_with(crate::support::Options {
        extra_args: vec![
            "--openapi-max-bytes".into(),
            "1000000".into(),
            "--portal-fetch-private".into(),
        ],
        ..Default::default()
    });
    let (_, stripe) = read("stripe.json");
    let resp = gw
        .request(
            Method::POST,
            "/api/apis/_openapi?backend=http://127.0.0.1:9",
        )
        .header("content-type", "application/json")
        .body(stripe)
        .send()
        .unwrap();
    let (code, body) = json(resp);
    assert_eq!(code, 413, "{body}");
    let url = format!("http://127.0.0.1:{}/bytes/50000000", up.port());
    let (code, body) = json(gw.post(
        "/api/apis/_openapi",
        &json!({"url": url, "backend": "http://127.0.0.1:9"}),
    ));
    assert_eq!(code, 502, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("1000000"),
        "{body}"
    );
    assert_eq!(
        gw.get("/api/apis")
            .json::<Value>()
            .unwrap()
            .as_array()
            .map(Vec::len),
        Some(0)
    );
    let data = tempfile::tempdir().unwrap();
    let file = specs().join("stripe.json");
    let args = [
        "openapi",
        "import",
        file.to_str().unwrap(),
        "--max-bytes",
        "1000000",
    ];
    let (ok, _, err) = crate::support::run_cli(&args, data.path());
    assert!(!ok && err.contains("--max-bytes"), "{err}");
}
