//! The TLS listener through real rustls clients: the certificates of a first start, ALPN, SNI
//! selection, session resumption, certificate changes without a restart, and the certificate and
//! PKI endpoints that feed it.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::tls::{TlsClient, leaf_der};
use crate::support::upstream::Upstream;
use crate::support::{Gateway, error_paths, json};

fn echo_route(gw: &Gateway, id: &str, host: &str, up: &Upstream) {
    gw.create(
        "routes",
        &json!({"id": id, "frontend": {"domains": [host]}, "backend": {"targets": [up.target()]}}),
    );
}

/// The PEM chain of a stored certificate.
fn chain(gw: &Gateway, id: &str) -> String {
    let (status, cert) = json(gw.get(&format!("/api/certificates/{id}")));
    assert_eq!(status, 200, "{cert}");
    cert["chain"].as_str().unwrap().to_string()
}

/// A certificate for `hosts` signed by the stored CA `ca`, stored as `id` unless `persist` is false.
fn issue(gw: &Gateway, ca: &str, hosts: &[&str], persist: bool) -> Value {
    let path = format!("/api/pki/cas/{ca}/certs?persist={persist}");
    let (status, cert) = json(gw.post(&path, &json!({"hosts": hosts})));
    assert_eq!(status, 201, "{cert}");
    cert
}

fn new_ca(gw: &Gateway, subject: &str) -> Value {
    let (status, ca) = json(gw.post("/api/pki/cas", &json!({"subject": subject})));
    assert_eq!(status, 201, "{ca}");
    ca
}

/// Which stored certificate a handshake with `sni` is served (by comparing leaves), if any.
fn served(gw: &Gateway, sni: &str) -> Result<Vec<u8>, String> {
    let mut conn = TlsClient::insecure(&["http/1.1"]).connect(&gw.https, Some(sni))?;
    let answer = conn.get(sni, "/")?;
    Ok(answer.peer)
}

fn count_in(text: &str, needle: &str) -> usize {
    text.matches(needle).count()
}

#[test]
fn a_first_start_answers_https_with_a_generated_ca() {
    let up = Upstream::start("tls-up");
    let gw = Gateway::start();
    assert!(
        gw.stderr.lock().unwrap().contains("generated a root CA"),
        "the start-up log says a CA was generated"
    );
    echo_route(&gw, "r-local", "localhost", &up);
    let ca = chain(&gw, "komainu-default-ca");

    // ALPN: h2 when offered, HTTP/1.1 otherwise; the upstream sees the request either way.
    let h2 = TlsClient::new(&[&ca], None, &["h2", "http/1.1"]);
    let a = h2
        .get(&gw.https, Some("localhost"), "localhost", "/hello")
        .unwrap();
    assert_eq!(
        (a.status, a.alpn.as_deref()),
        (200, Some("h2")),
        "{}",
        a.body
    );
    let body: Value = serde_json::from_str(&a.body).unwrap();
    assert_eq!(body["path"], "/hello");
    assert_eq!(body["headers"]["x-forwarded-proto"], "https");
    assert!(a.headers.contains_key("otoroshi-proxy-latency"));
    let h1 = TlsClient::new(&[&ca], None, &["http/1.1"]);
    let a = h1
        .get(&gw.https, Some("localhost"), "localhost", "/")
        .unwrap();
    assert_eq!((a.status, a.alpn.as_deref()), (200, Some("http/1.1")));
    let none = TlsClient::new(&[&ca], None, &[]);
    let a = none
        .get(&gw.https, Some("localhost"), "localhost", "/")
        .unwrap();
    assert_eq!((a.status, a.alpn), (200, None));

    // No SNI at all (a client dialling an IP): the default domain's certificate, which covers
    // 127.0.0.1 too.
    let a = h2.get(&gw.https, None, "localhost", "/").unwrap();
    assert_eq!(a.status, 200);
    assert_eq!(a.peer, leaf_der(&chain(&gw, "komainu-default-cert")));

    // Session resumption: a client that comes back resumes instead of a full handshake.
    let client = TlsClient::new(&[&ca], None, &["h2"]);
    let first = client
        .get(&gw.https, Some("localhost"), "localhost", "/")
        .unwrap();
    let second = client
        .get(&gw.https, Some("localhost"), "localhost", "/")
        .unwrap();
    assert!(
        !first.resumed && second.resumed,
        "the second handshake resumes"
    );

    // The plain port still answers, and the redirect-free TLS port forwards the same request.
    assert_eq!(gw.proxy_get("localhost", "/").status(), 200);
    let metrics = gw.metrics();
    assert!(
        metrics.contains("komainu_proxy_tls_handshakes_total{outcome=\"ok\"}"),
        "{metrics}"
    );
}

#[test]
fn a_restart_keeps_the_generated_certificates() {
    let mut gw = Gateway::start();
    let before = chain(&gw, "komainu-default-ca");
    let dir = gw.keep_dir();
    gw.terminate();
    let gw = Gateway::start_in(dir.path(), Default::default());
    assert_eq!(chain(&gw, "komainu-default-ca"), before);
    let (_, list) = json(gw.get("/api/certificates"));
    assert_eq!(
        list.as_array().unwrap().len(),
        2,
        "nothing generated twice: {list}"
    );
}

#[test]
fn private_keys_are_read_by_id_only() {
    let gw = Gateway::start();
    let (status, list) = json(gw.get("/api/certificates"));
    assert_eq!(status, 200);
    for cert in list.as_array().unwrap() {
        assert!(
            cert.get("privateKey").is_none(),
            "a list shows no key: {cert}"
        );
        assert!(
            cert["chain"]
                .as_str()
                .unwrap()
                .contains("BEGIN CERTIFICATE")
        );
    }
    let (status, generic) = json(gw.get("/apis/pki.otoroshi.io/v1/certificates"));
    assert_eq!(status, 200);
    assert_eq!(generic.as_array().unwrap().len(), 2);
    assert!(
        generic[0].get("privateKey").is_none(),
        "Otoroshi's path lists no key either"
    );
    let (_, one) = json(gw.get("/api/certificates/komainu-default-cert"));
    assert!(one["privateKey"].as_str().unwrap().contains("PRIVATE KEY"));
    assert_eq!(one["domain"], "localhost");
    assert_eq!(one["caRef"], "komainu-default-ca");
    assert_eq!(one["ca"], false);
    assert_eq!(one["valid"], true);
    let (_, schema) = json(gw.get("/api/certificates/_schema"));
    for field in [
        "chain",
        "privateKey",
        "password",
        "caRef",
        "domain",
        "sans",
        "client",
    ] {
        assert!(
            schema["properties"].get(field).is_some(),
            "_schema describes {field}: {schema}"
        );
    }
}

#[test]
fn sni_picks_exact_then_wildcard_then_the_default_domain() {
    let up = Upstream::start("sni-up");
    let gw = Gateway::start();
    echo_route(&gw, "r-sni", "*.example.test", &up);
    let ca = new_ca(&gw, "CN=SNI test CA");
    let ca_id = ca["id"].as_str().unwrap();
    let exact = issue(&gw, ca_id, &["api.example.test"], true);
    let wild = issue(&gw, ca_id, &["*.example.test"], true);
    let default = leaf_der(&chain(&gw, "komainu-default-cert"));
    let leaf = |c: &Value| leaf_der(c["chain"].as_str().unwrap());

    assert_eq!(served(&gw, "api.example.test").unwrap(), leaf(&exact));
    assert_eq!(
        served(&gw, "API.Example.Test").unwrap(),
        leaf(&exact),
        "names ignore case"
    );
    assert_eq!(served(&gw, "other.example.test").unwrap(), leaf(&wild));
    // A wildcard covers one label only: two labels fall through to the default domain.
    assert_eq!(served(&gw, "a.b.example.test").unwrap(), default);
    assert_eq!(served(&gw, "nothing.test").unwrap(), default);

    // A client that trusts the CA verifies what it was served.
    let trusting = TlsClient::new(&[ca["chain"].as_str().unwrap()], None, &["h2"]);
    let a = trusting
        .get(
            &gw.https,
            Some("other.example.test"),
            "other.example.test",
            "/",
        )
        .unwrap();
    assert_eq!(a.status, 200);

    // Without a default domain an unknown name fails the handshake, logged once with its name.
    let (status, body) = json(gw.patch(
        "/api/globalconfig",
        &json!([{"op": "replace", "path": "/tlsSettings/defaultDomain", "value": null}]),
    ));
    assert_eq!(status, 200, "{body}");
    for _ in 0..3 {
        let err = served(&gw, "nothing.test").unwrap_err();
        assert!(err.contains("handshake"), "{err}");
    }
    let started = Instant::now();
    let log = loop {
        let log = gw.stderr.lock().unwrap().clone();
        if count_in(&log, "sni=\"nothing.test\"") > 0 || started.elapsed() > Duration::from_secs(5)
        {
            break log;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    assert_eq!(
        count_in(&log, "sni=\"nothing.test\""),
        1,
        "logged once with its name:\n{log}"
    );
    assert_eq!(
        served(&gw, "api.example.test").unwrap(),
        leaf(&exact),
        "known names still served"
    );

    // randomIfNotFound: any server certificate rather than a failed handshake.
    let (status, body) = json(gw.patch(
        "/api/globalconfig",
        &json!({"tlsSettings": {"randomIfNotFound": true}}),
    ));
    assert_eq!(status, 200, "{body}");
    assert!(served(&gw, "nothing.test").is_ok());
    let metrics = gw.metrics();
    assert!(
        metrics.contains("komainu_proxy_tls_handshakes_total{outcome=\"failed\"} 3"),
        "{metrics}"
    );
}

/// Polls until a handshake with `sni` is served `wanted`; returns how long it took.
fn wait_served(gw: &Gateway, sni: &str, wanted: &[u8]) -> Duration {
    let started = Instant::now();
    loop {
        if served(gw, sni).ok().as_deref() == Some(wanted) {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{sni}: still the old certificate"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn certificate_changes_reach_new_handshakes_and_spare_open_connections() {
    let up = Upstream::start("hot-up");
    let gw = Gateway::start();
    echo_route(&gw, "r-hot", "hot.test", &up);
    let ca = new_ca(&gw, "CN=Hot CA");
    let ca_id = ca["id"].as_str().unwrap();
    let first = issue(&gw, ca_id, &["hot.test"], true);
    let id = first["id"].as_str().unwrap().to_string();
    let ca_pem = ca["chain"].as_str().unwrap().to_string();
    let client = TlsClient::new(&[&ca_pem], None, &["http/1.1"]);
    let mut open = client.connect(&gw.https, Some("hot.test")).unwrap();
    assert_eq!(open.get("hot.test", "/").unwrap().status, 200);

    // A new certificate under the same id: the next handshake gets it, within a second.
    let next = issue(&gw, ca_id, &["hot.test"], false);
    let mut doc = first.clone();
    doc["chain"] = next["chain"].clone();
    doc["privateKey"] = next["privateKey"].clone();
    let (status, body) = json(gw.put(&format!("/api/certificates/{id}"), &doc));
    assert_eq!(status, 200, "{body}");
    let took = wait_served(&gw, "hot.test", &leaf_der(next["chain"].as_str().unwrap()));
    assert!(took < Duration::from_secs(1), "applied in {took:?}");
    assert_eq!(
        open.get("hot.test", "/").unwrap().status,
        200,
        "the open connection lives on"
    );

    // Deleted: the name falls back to the default domain's certificate.
    assert_eq!(gw.delete(&format!("/api/certificates/{id}")).status(), 200);
    wait_served(
        &gw,
        "hot.test",
        &leaf_der(&chain(&gw, "komainu-default-cert")),
    );
    assert_eq!(open.get("hot.test", "/").unwrap().status, 200);
}

/// A self-signed certificate for `host` that expired yesterday, and its key.
fn expired(host: &str) -> (String, String) {
    let mut params = rcgen::CertificateParams::new(vec![host.to_string()]).unwrap();
    params.distinguished_name = rcgen::DistinguishedName::new();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, host);
    let now = time::OffsetDateTime::now_utc();
    params.not_before = now - time::Duration::days(30);
    params.not_after = now - time::Duration::days(1);
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = params.self_signed(&key).unwrap();
    (cert.pem(), key.serialize_pem())
}

#[test]
fn an_expired_certificate_is_stored_as_invalid_and_never_served() {
    let gw = Gateway::start();
    let (pem, key) = expired("old.test");
    let (status, cert) = json(gw.post(
        "/api/certificates",
        &json!({"id": "old", "chain": pem, "privateKey": key}),
    ));
    assert_eq!(status, 201, "{cert}");
    assert_eq!(
        (cert["valid"].clone(), cert["domain"].clone()),
        (json!(false), json!("old.test"))
    );
    assert!(cert["to"].as_i64().unwrap() < cert["from"].as_i64().unwrap() + 31 * 86_400_000);
    // Served the default certificate, never the expired one.
    assert_eq!(
        served(&gw, "old.test").unwrap(),
        leaf_der(&chain(&gw, "komainu-default-cert"))
    );
}

#[test]
fn certificate_documents_are_checked_field_by_field() {
    let gw = Gateway::start();
    let ca = new_ca(&gw, "CN=Check CA");
    let good = issue(&gw, ca["id"].as_str().unwrap(), &["check.test"], false);
    let other = issue(&gw, ca["id"].as_str().unwrap(), &["other.test"], false);
    let (pem, key) = (
        good["chain"].as_str().unwrap(),
        good["privateKey"].as_str().unwrap(),
    );
    let refused = |doc: Value, field: &str| {
        let (status, body) = json(gw.post("/api/certificates", &doc));
        assert_eq!(status, 400, "{body}");
        assert!(
            error_paths(&body).contains(&field.to_string()),
            "{field}: {body}"
        );
    };
    refused(json!({"chain": "not a pem", "privateKey": key}), "chain");
    refused(
        json!({"chain": "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", "privateKey": key}),
        "chain",
    );
    refused(json!({"chain": pem, "privateKey": "garbage"}), "privateKey");
    refused(
        json!({"chain": pem, "privateKey": other["privateKey"]}),
        "privateKey",
    );
    refused(
        json!({"chain": pem, "caRef": "no-such-ca", "privateKey": key}),
        "caRef",
    );

    // An encrypted PKCS#8 key (as `openssl pkcs8 -topk8` writes it) needs its password.
    let encrypted = encrypt(key, "s3cret");
    refused(json!({"chain": pem, "privateKey": encrypted}), "password");
    refused(
        json!({"chain": pem, "privateKey": encrypted, "password": "wrong"}),
        "password",
    );
    let (status, stored) = json(gw.post(
        "/api/certificates",
        &json!({"id": "enc", "chain": pem, "privateKey": encrypted, "password": "s3cret"}),
    ));
    assert_eq!(status, 201, "{stored}");
    assert_eq!(stored["domain"], "check.test");
    assert_eq!(stored["sans"], json!(["check.test"]));
    assert_eq!(stored["selfSigned"], false);
    assert!(stored["subject"].as_str().unwrap().contains("check.test"));
    // The listener can use it: the key is decrypted when loaded.
    assert_eq!(served(&gw, "check.test").unwrap(), leaf_der(pem));

    // A refused update leaves the stored document as it was.
    let mut bad = stored.clone();
    bad["privateKey"] = json!("garbage");
    assert_eq!(gw.put("/api/certificates/enc", &bad).status(), 400);
    let (_, now) = json(gw.get("/api/certificates/enc"));
    assert_eq!(now["privateKey"], stored["privateKey"]);
}

/// `key` encrypted with `password` by the openssl command (PKCS#8, PBES2, AES-256-CBC).
fn encrypt(key: &str, password: &str) -> String {
    use std::io::Write;
    let mut child = std::process::Command::new("openssl")
        .args(["pkcs8", "-topk8", "-v2", "aes-256-cbc", "-passout"])
        .arg(format!("pass:{password}"))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("openssl (scripts/test installs it)");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(key.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let pem = String::from_utf8(out.stdout).unwrap();
    assert!(pem.contains("BEGIN ENCRYPTED PRIVATE KEY"));
    pem
}

#[test]
fn the_pki_generates_cas_and_certificates_otoroshi_style() {
    let up = Upstream::start("pki-up");
    let gw = Gateway::start();
    echo_route(&gw, "r-pki", "svc.test", &up);
    let ca = new_ca(&gw, "CN=PKI CA, O=Test");
    assert_eq!(
        (ca["ca"].clone(), ca["selfSigned"].clone()),
        (json!(true), json!(true))
    );
    assert_eq!(ca["certId"], ca["id"]);
    let ca_id = ca["id"].as_str().unwrap();
    assert_eq!(
        gw.get(&format!("/api/certificates/{ca_id}")).status(),
        200,
        "stored"
    );

    let cert = issue(&gw, ca_id, &["svc.test"], true);
    assert_eq!(cert["caRef"], ca_id);
    assert_eq!(cert["ca"], false);
    let trusting = TlsClient::new(&[ca["chain"].as_str().unwrap()], None, &["h2"]);
    let a = trusting
        .get(&gw.https, Some("svc.test"), "svc.test", "/")
        .unwrap();
    assert_eq!(a.status, 200, "served and verified by its CA");

    // `persist=false` answers without storing.
    let loose = issue(&gw, ca_id, &["loose.test"], false);
    let loose_id = loose["id"].as_str().unwrap();
    assert_eq!(
        gw.get(&format!("/api/certificates/{loose_id}")).status(),
        404
    );

    // Self-signed, RSA, a client certificate.
    let (status, rsa) = json(gw.post(
        "/api/pki/certs?persist=false",
        &json!({"hosts": ["rsa.test"], "key": {"algo": "rsa", "size": 2048}, "client": true,
                "duration": 86_400_000}),
    ));
    assert_eq!(status, 201, "{rsa}");
    assert_eq!(
        (rsa["selfSigned"].clone(), rsa["client"].clone()),
        (json!(true), json!(true))
    );
    let span = rsa["to"].as_i64().unwrap() - rsa["from"].as_i64().unwrap();
    assert!((86_000_000..=86_500_000).contains(&span), "a day: {span}");

    // Mistakes name their field; an unknown CA is a 404.
    for (body, field) in [
        (json!({"hosts": ["x.test"], "key": {"algo": "dsa"}}), "key"),
        (
            json!({"hosts": ["x.test"], "key": {"algo": "ecdsa", "size": 100}}),
            "key",
        ),
        (json!({"hosts": "x.test"}), "hosts"),
        (json!({"hosts": ["x.test"], "duration": -5}), "duration"),
    ] {
        let (status, err) = json(gw.post("/api/pki/certs?persist=false", &body));
        assert_eq!(status, 400, "{body}: {err}");
        assert!(
            error_paths(&err).iter().any(|p| p.starts_with(field)),
            "{field}: {err}"
        );
    }
    let (status, _) = json(gw.post("/api/pki/cas/nope/certs", &json!({"hosts": ["x.test"]})));
    assert_eq!(status, 404);
    let leaf_id = cert["id"].as_str().unwrap();
    let (status, err) = json(gw.post(
        &format!("/api/pki/cas/{leaf_id}/certs"),
        &json!({"hosts": ["x.test"]}),
    ));
    assert_eq!(status, 400, "a leaf cannot sign: {err}");
}

#[test]
fn the_global_configuration_holds_tls_settings() {
    let gw = Gateway::start();
    let (status, global) = json(gw.get("/api/globalconfig"));
    assert_eq!(status, 200);
    assert_eq!(global["tlsSettings"]["defaultDomain"], "localhost");
    let (status, err) = json(gw.patch(
        "/api/globalconfig",
        &json!({"tlsSettings": {"trustedCAsServer": ["no-such-ca"]}}),
    ));
    assert_eq!(status, 400);
    assert_eq!(error_paths(&err), vec!["tlsSettings.trustedCAsServer[0]"]);
    let (status, err) = json(gw.patch(
        "/api/globalconfig",
        &json!({"tlsSettings": {"clientAuth": "Sometimes"}}),
    ));
    assert_eq!(status, 400, "{err}");
    let mut doc = global.clone();
    doc["tlsSettings"]["randomIfNotFound"] = json!(true);
    doc["maintenanceMode"] = json!(false);
    let (status, put) = json(gw.put("/api/globalconfig", &doc));
    assert_eq!(status, 200, "{put}");
    let (_, now) = json(gw.get("/api/globalconfig"));
    assert_eq!(now["tlsSettings"]["randomIfNotFound"], true);
    assert_eq!(
        now["maintenanceMode"], false,
        "Otoroshi's other fields are kept"
    );
    // Otoroshi's generic path reaches the same document.
    let (status, generic) = json(gw.get("/apis/config.otoroshi.io/v1/global-configs/global"));
    assert_eq!(status, 200, "{generic}");
    assert_eq!(generic["tlsSettings"]["randomIfNotFound"], true);
}

#[test]
fn force_https_redirects_plain_http_only() {
    let up = Upstream::start("force-up");
    let gw = Gateway::start();
    gw.create(
        "routes",
        &json!({"id": "r-force", "frontend": {"domains": ["secure.test"]},
                "backend": {"targets": [up.target()]},
                "plugins": [{"plugin": "cp:otoroshi.next.plugins.ForceHttpsTraffic"}]}),
    );
    let resp = gw.proxy_get("secure.test", "/pay?x=1");
    assert_eq!(resp.status(), 303);
    assert_eq!(resp.headers()["location"], "https://secure.test/pay?x=1");
    let ca = new_ca(&gw, "CN=Force CA");
    issue(&gw, ca["id"].as_str().unwrap(), &["secure.test"], true);
    let a = TlsClient::new(&[ca["chain"].as_str().unwrap()], None, &["h2"])
        .get(&gw.https, Some("secure.test"), "secure.test", "/pay?x=1")
        .unwrap();
    assert_eq!(a.status, 200, "over TLS the call goes through: {}", a.body);
    let seen: Value = serde_json::from_str(&a.body).unwrap();
    assert_eq!(seen["headers"]["x-forwarded-proto"], "https");
}
