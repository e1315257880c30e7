//! Client certificates both ways: clients presenting certificates to the TLS listener (trust from
//! `tlsSettings.trustedCAsServer`, `--tls-client-auth`), the plugins and the `mtls` plan that read
//! the verified chain, and the gateway presenting its own certificate to a backend that asks.

use std::sync::Arc;

use base64::Engine;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use serde_json::{Value, json};

use crate::support::tls::{TlsClient, leaf_der, roots};
use crate::support::upstream::Upstream;
use crate::support::{Gateway, Options, json};

const PLUGINS: &str = "cp:otoroshi.next.plugins.";

fn post(gw: &Gateway, path: &str, body: Value) -> Value {
    let (status, doc) = json(gw.post(path, &body));
    assert_eq!(status, 201, "{path}: {doc}");
    doc
}

/// A CA (stored) and certificates it issues.
struct Pki {
    ca: Value,
}

impl Pki {
    fn new(gw: &Gateway, subject: &str) -> Pki {
        Pki {
            ca: post(gw, "/api/pki/cas", json!({"subject": subject})),
        }
    }

    fn id(&self) -> &str {
        self.ca["id"].as_str().unwrap()
    }

    fn pem(&self) -> &str {
        self.ca["chain"].as_str().unwrap()
    }

    /// A client certificate for `subject` (not stored).
    fn client(&self, gw: &Gateway, subject: &str) -> (String, String) {
        let cert = post(
            gw,
            &format!("/api/pki/cas/{}/certs?persist=false", self.id()),
            json!({"subject": subject, "client": true}),
        );
        (
            cert["chain"].as_str().unwrap().to_string(),
            cert["privateKey"].as_str().unwrap().to_string(),
        )
    }
}

fn trust(gw: &Gateway, ca_ids: &[&str]) {
    let (status, body) = json(gw.patch(
        "/api/globalconfig",
        &json!({"tlsSettings": {"trustedCAsServer": ca_ids}}),
    ));
    assert_eq!(status, 200, "{body}");
}

fn plugin(name: &str, config: Value) -> Value {
    json!({"plugin": format!("{PLUGINS}{name}"), "enabled": true, "config": config})
}

/// `GET /` on `host` over TLS presenting `identity`.
fn call(
    gw: &Gateway,
    host: &str,
    identity: Option<&(String, String)>,
) -> Result<(u16, Value), String> {
    let ca = default_ca(gw);
    let client = TlsClient::new(
        &[&ca],
        identity.map(|(c, k)| (c.as_str(), k.as_str())),
        &["h2"],
    );
    let a = client.get(&gw.https, Some("localhost"), host, "/")?;
    Ok((
        a.status,
        serde_json::from_str(&a.body).unwrap_or(json!(a.body)),
    ))
}

fn default_ca(gw: &Gateway) -> String {
    let (_, ca) = json(gw.get("/api/certificates/komainu-default-ca"));
    ca["chain"].as_str().unwrap().to_string()
}

#[test]
fn plugins_read_the_verified_client_chain() {
    let up = Upstream::start("mtls-up");
    let gw = Gateway::start();
    let clients = Pki::new(&gw, "CN=Clients CA, O=Acme");
    let rogue = Pki::new(&gw, "CN=Rogue CA, O=Evil");
    trust(&gw, &[clients.id()]);
    let alice = clients.client(&gw, "CN=alice, O=Acme");
    let mallory = clients.client(&gw, "CN=mallory, O=Acme");
    let forged = rogue.client(&gw, "CN=alice, O=Acme");
    gw.create(
        "routes",
        &json!({"id": "r-mtls", "frontend": {"domains": ["mtls.test"]},
        "backend": {"targets": [up.target()]},
        "plugins": [
            plugin("NgHasClientCertMatchingValidator",
                   json!({"subject_dns": ["O=Acme, CN=alice"]})),
            plugin("NgClientCertChainHeader",
                   json!({"send_dns": true, "send_chain": true, "send_pem": true})),
            plugin("NgRfc9440ClientCertHeader", json!({})),
        ]}),
    );
    gw.create(
        "routes",
        &json!({"id": "r-any", "frontend": {"domains": ["any.test"]},
                "backend": {"targets": [up.target()]},
                "plugins": [plugin("NgHasClientCertValidator", json!({})),
                            plugin("NgRfc9440ClientCertHeader", json!({}))]}),
    );

    // Alice: admitted, and the upstream reads her chain in every form.
    let (status, seen) = call(&gw, "mtls.test", Some(&alice)).unwrap();
    assert_eq!(status, 200, "{seen}");
    let headers = &seen["headers"];
    assert_eq!(
        headers["x-client-cert-dns"],
        json!(["O=Acme, CN=alice", "O=Acme, CN=Clients CA"]).to_string()
    );
    let chain: Value =
        serde_json::from_str(headers["x-client-cert-chain"].as_str().unwrap()).unwrap();
    assert_eq!(chain[0]["subjectCN"], "alice");
    assert_eq!(chain[0]["issuerCN"], "Clients CA");
    assert_eq!(chain[0]["issuerDN"], "O=Acme, CN=Clients CA");
    assert!(chain[0]["notAfter"].as_i64().unwrap() > chain[0]["notBefore"].as_i64().unwrap());
    assert!(
        chain[0]["serialNumber"]
            .as_str()
            .unwrap()
            .chars()
            .all(|c| c.is_ascii_hexdigit())
    );
    let b64 = base64::engine::general_purpose::STANDARD.encode(leaf_der(&alice.0));
    assert_eq!(headers["client-cert"], format!(":{b64}:"));
    assert!(
        headers["client-cert-chain"]
            .as_str()
            .unwrap()
            .starts_with(':')
    );
    assert!(
        headers["x-client-cert-pem"]
            .as_str()
            .unwrap()
            .starts_with(&format!(
                "-----BEGIN CERTIFICATE----- {b64} -----END CERTIFICATE-----,"
            ))
    );

    // Mallory's certificate is trusted but does not match: 403 forbidden, as Otoroshi answers.
    let (status, err) = call(&gw, "mtls.test", Some(&mallory)).unwrap();
    assert_eq!(
        (status, err["error"].clone()),
        (403, json!("forbidden")),
        "{err}"
    );
    // Any trusted certificate passes the plain validator; none at all does not.
    assert_eq!(call(&gw, "any.test", Some(&mallory)).unwrap().0, 200);
    let (status, err) = call(&gw, "any.test", None).unwrap();
    assert_eq!((status, err["error"].clone()), (403, json!("forbidden")));
    let (status, _) = call(&gw, "mtls.test", None).unwrap();
    assert_eq!(status, 403);
    // A certificate from a CA nobody trusts never gets past the handshake.
    let refused = call(&gw, "any.test", Some(&forged));
    assert!(
        refused.is_err(),
        "an untrusted certificate is refused: {refused:?}"
    );
    // The plain port has no certificates at all.
    assert_eq!(gw.proxy_get("any.test", "/").status(), 403);
}

#[test]
fn forged_certificate_headers_never_reach_the_upstream() {
    let up = Upstream::start("forge-up");
    let gw = Gateway::start();
    gw.create(
        "routes",
        &json!({"id": "r-hdr", "frontend": {"domains": ["hdr.test"]},
                "backend": {"targets": [up.target()]},
                "plugins": [plugin("NgClientCertChainHeader", json!({"send_dns": true})),
                            plugin("NgRfc9440ClientCertHeader", json!({}))]}),
    );
    let resp = gw
        .call(reqwest::Method::GET, "hdr.test", "/")
        .header("client-cert", ":Zm9yZ2Vk:")
        .header("client-cert-chain", ":Zm9yZ2Vk:")
        .header("x-client-cert-dns", "[\"O=Acme, CN=admin\"]")
        .send()
        .unwrap();
    let (status, seen) = json(resp);
    assert_eq!(status, 200);
    for h in ["client-cert", "client-cert-chain", "x-client-cert-dns"] {
        assert!(seen["headers"].get(h).is_none(), "{h} was stripped: {seen}");
    }
}

#[test]
fn the_mtls_plan_admits_matching_certificates() {
    let up = Upstream::start("plan-up");
    let gw = Gateway::start();
    let clients = Pki::new(&gw, "CN=Partners CA, O=Acme");
    trust(&gw, &[clients.id()]);
    let partner = clients.client(&gw, "CN=partner-1, O=Acme");
    let stranger = clients.client(&gw, "CN=someone, O=Other");
    let api = json!({
        "id": "partners", "domain": "partners.test", "state": "published",
        "backends": [{"id": "b", "backend": {"targets": [up.target()]}}],
        "flows": [{"id": "f", "consumers": ["certs"], "plugins": {"slots": []}}],
        "routes": [{"id": "r", "frontend": {"domains": ["partners.test"]}, "backend": "b", "flow_ref": "f"}],
        "documentation": {"plans": [{
            "id": "certs", "name": "certs", "status": "published",
            "access_mode_configuration_type": "mtls",
            "access_mode_configuration": {"regex_subject_dns": ["O=Acme, CN=partner-.*"]}
        }]}
    });
    gw.create("apis", &api);
    assert_eq!(call(&gw, "partners.test", Some(&partner)).unwrap().0, 200);
    let (status, err) = call(&gw, "partners.test", Some(&stranger)).unwrap();
    assert_eq!(
        (status, err["error"].clone()),
        (403, json!("forbidden")),
        "{err}"
    );
    assert_eq!(call(&gw, "partners.test", None).unwrap().0, 403);

    // A bad pattern is refused when written, naming the plan's field.
    let mut bad = api.clone();
    bad["documentation"]["plans"][0]["access_mode_configuration"]["regex_subject_dns"] =
        json!(["("]);
    let (status, body) = json(gw.put("/api/apis/partners", &bad));
    assert_eq!(status, 400, "{body}");
    assert!(
        body.to_string().contains("access_mode_configuration"),
        "{body}"
    );
    assert_eq!(
        call(&gw, "partners.test", Some(&partner)).unwrap().0,
        200,
        "the stored API is intact"
    );
}

#[test]
fn tls_client_auth_need_refuses_clients_without_a_trusted_certificate() {
    let gw = Gateway::start_with(Options {
        extra_args: vec!["--tls-client-auth".into(), "need".into()],
        ..Options::default()
    });
    let up = Upstream::start("need-up");
    gw.create(
        "routes",
        &json!({"id": "r-need", "frontend": {"domains": ["need.test"]},
                "backend": {"targets": [up.target()]}}),
    );
    // Needed but nothing trusted yet: every client is refused, and the log says why.
    assert!(call(&gw, "need.test", None).is_err());
    gw.wait_log("no trusted CA is set");
    let clients = Pki::new(&gw, "CN=Need CA");
    trust(&gw, &[clients.id()]);
    let someone = clients.client(&gw, "CN=someone");
    let started = std::time::Instant::now();
    while call(&gw, "need.test", Some(&someone)).map(|r| r.0) != Ok(200) {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(2),
            "trust applies within a second"
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert!(
        call(&gw, "need.test", None).is_err(),
        "no certificate, no handshake"
    );
}

/// A TLS server for `localhost` (certificate from `server_ca`) that requires client certificates
/// issued by `client_ca`.
fn mtls_upstream(server: &(String, String), client_ca: &str) -> Upstream {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
        Arc::new(roots(&[client_ca])),
        provider.clone(),
    )
    .build()
    .unwrap();
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(server.0.as_bytes())
        .map(|c| c.unwrap())
        .collect();
    let key = PrivateKeyDer::from_pem_slice(server.1.as_bytes()).unwrap();
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, key)
        .unwrap();
    Upstream::start_tls_with("mtls-backend", config)
}

#[test]
fn the_gateway_presents_its_certificate_to_backends_that_ask() {
    let gw = Gateway::start();
    let backend_ca = Pki::new(&gw, "CN=Backend CA");
    let server = post(
        &gw,
        &format!("/api/pki/cas/{}/certs?persist=false", backend_ca.id()),
        json!({"hosts": ["localhost"]}),
    );
    let server = (
        server["chain"].as_str().unwrap().to_string(),
        server["privateKey"].as_str().unwrap().to_string(),
    );
    let gateway_ca = Pki::new(&gw, "CN=Gateway clients CA");
    let identity = post(
        &gw,
        &format!("/api/pki/cas/{}/certs", gateway_ca.id()),
        json!({"subject": "CN=komainu-gateway", "client": true}),
    );
    let up = mtls_upstream(&server, gateway_ca.pem());
    let target = |certs: Value| {
        json!({"id": "t", "hostname": "localhost", "ip_address": "127.0.0.1", "port": up.port(),
               "tls": true, "tls_config": {"enabled": true, "certs": certs,
                                           "trusted_certs": [backend_ca.id()]}})
    };
    gw.create(
        "routes",
        &json!({"id": "r-up", "frontend": {"domains": ["up.test"]},
                "backend": {"targets": [target(json!([identity["id"]]))]}}),
    );
    let resp = gw.proxy_get("up.test", "/");
    let (status, seen) = json(resp);
    assert_eq!(status, 200, "{seen}");
    assert_eq!(seen["client_certs"], 2, "the gateway presented its chain");

    // Without a client certificate the backend refuses the handshake: a 502, not a hang.
    gw.create(
        "routes",
        &json!({"id": "r-nocert", "frontend": {"domains": ["nocert.test"]},
                "backend": {"targets": [target(json!([]))]}}),
    );
    assert_eq!(gw.proxy_get("nocert.test", "/").status(), 502);
}

/// A self-signed certificate for `subject` (`CN=..., O=...`), as PEM.
fn self_signed(cn: &str, org: &str) -> String {
    let mut p = rcgen::CertificateParams::default();
    p.distinguished_name = rcgen::DistinguishedName::new();
    p.distinguished_name.push(rcgen::DnType::CommonName, cn);
    p.distinguished_name
        .push(rcgen::DnType::OrganizationName, org);
    p.self_signed(&rcgen::KeyPair::generate().unwrap())
        .unwrap()
        .pem()
}

#[test]
fn rules_match_the_verified_leaf_never_what_the_client_sends_beside_it() {
    let up = Upstream::start("leaf-up");
    let gw = Gateway::start();
    let partners = Pki::new(&gw, "CN=Partners CA, O=Example");
    trust(&gw, &[partners.id()]);
    // The README's own rule.
    gw.create(
        "routes",
        &json!({"id": "r-partners", "frontend": {"domains": ["partners.test"]},
                "backend": {"targets": [up.target()]},
                "plugins": [plugin("NgHasClientCertMatchingValidator",
                                   json!({"subject_dns": ["O=Example, CN=*"]}))]}),
    );
    let alice = partners.client(&gw, "CN=alice, O=Example");
    assert_eq!(call(&gw, "partners.test", Some(&alice)).unwrap().0, 200);

    // A genuine partner leaf of another organisation, sent with the CA's own certificate, or with
    // any self-signed certificate naming the right organisation: refused.
    let (mallory, key) = partners.client(&gw, "CN=mallory, O=Other");
    for extra in [partners.pem().to_string(), self_signed("boss", "Example")] {
        let chain = format!("{mallory}\n{extra}");
        let (status, body) = call(&gw, "partners.test", Some(&(chain, key.clone()))).unwrap();
        assert_eq!(status, 403, "{body}");
    }
    // A value that would read as another attribute if names were split on commas.
    let forged = partners.client(&gw, "CN=boss\\, O=Example, O=Other");
    assert_eq!(call(&gw, "partners.test", Some(&forged)).unwrap().0, 403);
}
