//! Each plan access mode through the real proxy: keyless, apikey, jwt (inline HMAC verifier and a
//! stored RS256 verifier), oauth2-remote (RS256 against a JWKS served by a real server),
//! oauth2-local (the client-credentials token endpoint), and several plans on one flow.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::support::upstream::Upstream;
use crate::support::{Gateway, json};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::Method;
use serde_json::{Value, json};

const HOST: &str = "shop.test";

fn now_s() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn fixture(name: &str) -> String {
    std::fs::read_to_string(format!(
        "{}/tests/fixtures/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

fn hs256(claims: Value, secret: &str) -> String {
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap()
}

fn rs256(claims: Value, kid: Option<&str>) -> String {
    let mut header = Header::new(Algorithm::RS256);
    header.kid = kid.map(str::to_string);
    let key = EncodingKey::from_rsa_pem(fixture("rsa_private.pem").as_bytes()).unwrap();
    jsonwebtoken::encode(&header, &claims, &key).unwrap()
}

fn plan(id: &str, mode: &str, config: Value) -> Value {
    json!({"id": id, "name": id, "status": "published",
           "access_mode_configuration_type": mode, "access_mode_configuration": config})
}

fn flow(id: &str, consumers: &[&str]) -> Value {
    json!({"id": id, "consumers": consumers, "plugins": {"slots": []}})
}

fn route(id: &str, path: &str, flow: &str) -> Value {
    json!({"id": id, "frontend": {"domains": [path]}, "backend": "b", "flow_ref": flow})
}

fn get(gw: &Gateway, path: &str, bearer: Option<&str>) -> (u16, Value) {
    let rb = gw.call(Method::GET, HOST, path);
    let rb = match bearer {
        Some(t) => rb.bearer_auth(t),
        None => rb,
    };
    json(rb.send().unwrap())
}

/// Polls until `path` answers `status` (a JWKS is fetched in the background).
fn eventually(gw: &Gateway, path: &str, bearer: &str, status: u16) {
    let started = Instant::now();
    loop {
        let (got, body) = get(gw, path, Some(bearer));
        if got == status {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{path}: {got} {body}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn jwt_plans_verify_tokens_and_any_plan_of_a_flow_admits() {
    let up = Upstream::start("shop");
    let gw = Gateway::start_fetching_loopback();
    gw.create(
        "jwt-verifiers",
        &json!({
            "id": "rs_verifier", "name": "RS256 issuer",
            "algoSettings": {"type": "RSAlgoSettings", "size": 256, "publicKey": fixture("rsa_public.pem")},
            "strategy": {"type": "PassThrough", "verificationSettings": {"fields": {"iss": "https://issuer.test"}}}
        }),
    );
    let jwks_url = format!("http://127.0.0.1:{}/fixtures/jwks.json", up.port());
    let api = json!({
        "id": "shop", "domain": HOST, "state": "published",
        "backends": [{"id": "b", "backend": {"targets": [up.target()]}}],
        "flows": [
            flow("open", &["keyless"]),
            flow("secure", &["keys", "hs"]),
            flow("rs", &["rs"]),
            flow("remote", &["remote"]),
        ],
        "routes": [
            route("r_open", "/open", "open"),
            route("r_secure", "/secure", "secure"),
            route("r_rs", "/rs", "rs"),
            route("r_remote", "/remote", "remote"),
        ],
        "documentation": {"plans": [
            plan("keyless", "keyless", json!({})),
            plan("keys", "apikey", json!({})),
            plan("hs", "jwt", json!({"verifier": {
                "algoSettings": {"type": "HSAlgoSettings", "size": 256, "secret": "hs-secret"},
                "strategy": {"verificationSettings": {"fields": {"iss": "partner"}}}
            }})),
            plan("rs", "jwt", json!({"verifier": "rs_verifier"})),
            plan("remote", "oauth2-remote", json!({"verifier": {
                "algoSettings": {"type": "JWKSAlgoSettings", "url": jwks_url, "ttl": 60000},
                "strategy": {"verificationSettings": {"fields": {"aud": "shop-api"}}}
            }})),
        ]}
    });
    gw.create("apis", &api);
    gw.wait_status(HOST, "/open", 200);

    // Two plans on one flow: either admits.
    assert_eq!(get(&gw, "/secure", None).0, 400, "no credentials");
    let good = hs256(json!({"iss": "partner", "exp": now_s() + 60}), "hs-secret");
    assert_eq!(
        get(&gw, "/secure", Some(&good)).0,
        200,
        "the jwt plan admits"
    );
    gw.create(
        "apikeys",
        &json!({"clientId": "k1", "clientSecret": "k1-secret", "authorizedEntities": ["api_shop"]}),
    );
    let started = Instant::now();
    while gw
        .call(Method::GET, HOST, "/secure")
        .basic_auth("k1", Some("k1-secret"))
        .send()
        .unwrap()
        .status()
        != 200
    {
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "the apikey plan admits a key of the API"
        );
    }
    // A flow that lists an apikey plan and also has its own ApikeyCalls counts each call once.
    let counted = |gw: &Gateway| {
        let resp = gw
            .call(Method::GET, HOST, "/secure")
            .basic_auth("k1", Some("k1-secret"))
            .send()
            .unwrap();
        resp.headers()["otoroshi-daily-calls-remaining"]
            .to_str()
            .unwrap()
            .parse::<u64>()
            .unwrap()
    };
    let mut both = api.clone();
    both["flows"][1]["plugins"]["slots"] =
        json!([{"plugin": "cp:otoroshi.next.plugins.ApikeyCalls"}]);
    assert_eq!(gw.put("/api/apis/shop", &both).status(), 200);
    let (a, b) = (counted(&gw), counted(&gw));
    assert_eq!(a - b, 1, "one call, one count");
    assert_eq!(gw.put("/api/apis/shop", &api).status(), 200);

    let forged = hs256(json!({"iss": "partner", "exp": now_s() + 60}), "other");
    let (status, body) = get(&gw, "/secure", Some(&forged));
    assert_eq!(status, 400, "{body}");
    let wrong_issuer = hs256(json!({"iss": "stranger"}), "hs-secret");
    assert_eq!(get(&gw, "/secure", Some(&wrong_issuer)).0, 400);
    let expired = hs256(json!({"iss": "partner", "exp": now_s() - 60}), "hs-secret");
    assert_eq!(get(&gw, "/secure", Some(&expired)).0, 400);
    let mut critical = Header::new(Algorithm::HS256);
    critical.crit = Some(vec!["urn:example:must-understand".into()]);
    let crit = jsonwebtoken::encode(
        &critical,
        &json!({"iss": "partner", "exp": now_s() + 60}),
        &EncodingKey::from_secret(b"hs-secret"),
    )
    .unwrap();
    assert_eq!(
        get(&gw, "/secure", Some(&crit)).0,
        400,
        "a crit header naming an extension Komainu does not implement"
    );

    // A stored RS256 verifier.
    let claims = json!({"iss": "https://issuer.test", "sub": "u1", "exp": now_s() + 60});
    assert_eq!(get(&gw, "/rs", Some(&rs256(claims.clone(), None))).0, 200);
    let (status, body) = get(&gw, "/rs", Some(&hs256(claims.clone(), "x")));
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("error.bad.token")),
        "HMAC token on an RSA verifier"
    );
    let (status, body) = get(&gw, "/rs", None);
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("error.expected.token.not.found"))
    );
    assert_eq!(
        get(
            &gw,
            "/rs",
            Some(&rs256(json!({"iss": "https://evil.test"}), None))
        )
        .0,
        400
    );

    // oauth2-remote: RS256 against the keys of a real JWKS endpoint.
    let token = rs256(
        json!({"iss": "idp", "aud": ["shop-api", "other"], "exp": now_s() + 60}),
        Some("test-key-1"),
    );
    eventually(&gw, "/remote", &token, 200);
    let unknown_kid = rs256(
        json!({"aud": "shop-api", "exp": now_s() + 60}),
        Some("rotated-away"),
    );
    assert_eq!(get(&gw, "/remote", Some(&unknown_kid)).0, 400);
    let wrong_aud = rs256(
        json!({"aud": "elsewhere", "exp": now_s() + 60}),
        Some("test-key-1"),
    );
    assert_eq!(get(&gw, "/remote", Some(&wrong_aud)).0, 400);
    assert_eq!(
        get(&gw, "/open", Some(&wrong_aud)).0,
        200,
        "keyless ignores credentials"
    );

    // A verifier in use cannot be deleted; one that does not exist is refused at write time.
    let (status, body) = json(gw.delete("/api/jwt-verifiers/rs_verifier"));
    assert_eq!(status, 409, "{body}");
    let mut bad = api.clone();
    bad["documentation"]["plans"][3]["access_mode_configuration"]["verifier"] = json!("missing");
    let (status, body) = json(gw.put("/api/apis/shop", &bad));
    assert_eq!(status, 400);
    assert_eq!(
        body["details"][0]["path"], "documentation.plans[3].access_mode_configuration.verifier",
        "{body}"
    );
}

#[test]
fn oauth2_local_plans_serve_a_client_credentials_token_endpoint() {
    let up = Upstream::start("shop");
    let gw = Gateway::start();
    gw.create(
        "apis",
        &json!({
            "id": "m2m", "domain": HOST, "context_path": "/api", "state": "published",
            "backends": [{"id": "b", "backend": {"targets": [up.target()]}}],
            "flows": [flow("default_plugin_chain", &["cc"])],
            "routes": [route("r", "/orders", "default_plugin_chain")],
            "clients": [{"id": "robot", "name": "Robot"}],
            "documentation": {"plans": [plan("cc", "oauth2-local", json!({"expiration": 600000}))]}
        }),
    );
    let sub = gw.create(
        "api-subscriptions",
        &json!({"id": "sub_robot", "api_ref": "m2m", "plan_ref": "cc", "owner_ref": "robot"}),
    );
    assert_eq!(sub["subscription_kind"], "oauth2-local");
    let id = sub["token_refs"][0].as_str().unwrap().to_string();
    let (_, key) = json(gw.get(&format!("/api/apikeys/{id}")));
    let secret = key["clientSecret"].as_str().unwrap().to_string();
    gw.wait_status(HOST, "/api/orders", 400);

    let token_url = "/.well-known/otoroshi/oauth/token";
    let form = |grant: &str, secret: &str| {
        gw.call(Method::POST, HOST, token_url)
            .form(&[
                ("grant_type", grant),
                ("client_id", id.as_str()),
                ("client_secret", secret),
            ])
            .send()
            .unwrap()
    };
    // The new key reaches the proxy's index a few milliseconds after the write.
    let started = Instant::now();
    let (status, issued) = loop {
        let (status, issued) = json(form("client_credentials", &secret));
        if status == 200 || started.elapsed() > Duration::from_secs(1) {
            break (status, issued);
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    assert_eq!(status, 200, "{issued}");
    assert_eq!(
        (issued["token_type"].as_str(), issued["expires_in"].as_i64()),
        (Some("Bearer"), Some(600))
    );
    let token = issued["access_token"].as_str().unwrap();
    let (status, echo) = get(&gw, "/api/orders", Some(token));
    assert_eq!(status, 200, "{echo}");

    // Basic auth and a JSON body work too.
    let (status, again) = json(
        gw.call(Method::POST, HOST, token_url)
            .basic_auth(&id, Some(&secret))
            .json(&json!({"grant_type": "client_credentials"}))
            .send()
            .unwrap(),
    );
    assert_eq!(status, 200, "{again}");

    let (status, denied) = json(form("client_credentials", "wrong"));
    assert_eq!(
        (status, denied["error"].as_str()),
        (401, Some("access_denied"))
    );
    let (status, refused) = json(form("password", &secret));
    assert_eq!(
        (status, refused["error"].as_str()),
        (400, Some("unsupported_grant_type"))
    );
    let forged = hs256(json!({"cid": id, "exp": now_s() + 60}), "not-the-secret");
    assert_eq!(get(&gw, "/api/orders", Some(&forged)).0, 401);

    // Pausing the subscription stops both the endpoint and the tokens already issued.
    gw.patch(
        "/api/api-subscriptions/sub_robot",
        &json!({"enabled": false}),
    );
    eventually(&gw, "/api/orders", token, 401);
    assert_eq!(form("client_credentials", &secret).status(), 401);
}
