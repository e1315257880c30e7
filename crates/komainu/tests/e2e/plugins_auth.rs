//! The authentication plugins through the real proxy: JWT verification (a stored HMAC verifier,
//! and a JWKS whose first fetch the first call waits for), JWT signing towards the backend, basic
//! auth with clear, bcrypt and argon2 passwords, HMAC signatures, and the expected consumer.

use base64::Engine;
use hmac::{Hmac, Mac};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
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

fn call(gw: &Gateway, host: &str, headers: &[(&str, &str)]) -> (u16, Value) {
    let mut rb = gw.call(reqwest::Method::GET, host, "/");
    for (k, v) in headers {
        rb = rb.header(*k, *v);
    }
    json(rb.send().unwrap())
}

fn hs(claims: Value, secret: &str) -> String {
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap()
}

#[test]
fn jwt_verification_checks_tokens_with_stored_verifiers() {
    let up = Upstream::start("jwt");
    let gw = Gateway::start();
    gw.create(
        "jwt-verifiers",
        &json!({"id": "hs", "name": "hs", "strict": true,
                "algoSettings": {"type": "HSAlgoSettings", "size": 256, "secret": "s3cret"},
                "strategy": {"type": "PassThrough", "verificationSettings": {"fields": {"iss": "me"}}}}),
    );
    route(
        &gw,
        "jwt.test",
        &up,
        json!([plugin("JwtVerification", json!({"verifiers": ["hs"]}))]),
    );
    route(
        &gw,
        "custom.test",
        &up,
        json!([plugin(
            "JwtVerification",
            json!({
        "verifiers": ["hs"], "custom_response": true, "custom_response_status": 403,
        "custom_response_headers": {"x-why": "no-token"}, "custom_response_body": "{\"denied\":true}"})
        )]),
    );
    route(
        &gw,
        "optional.test",
        &up,
        json!([plugin(
            "JwtVerificationOnly",
            json!({"verifier": "hs", "fail_if_absent": false})
        )]),
    );

    let (status, err) = call(&gw, "jwt.test", &[]);
    assert_eq!(
        (status, err["error"].clone()),
        (400, json!("error.expected.token.not.found"))
    );
    let wrong = hs(json!({"iss": "someone else"}), "s3cret");
    let (status, err) = call(
        &gw,
        "jwt.test",
        &[("authorization", &format!("Bearer {wrong}"))],
    );
    assert_eq!(
        (status, err["error"].clone()),
        (400, json!("error.bad.token"))
    );
    let good = hs(json!({"iss": "me"}), "s3cret");
    assert_eq!(
        call(
            &gw,
            "jwt.test",
            &[("authorization", &format!("Bearer {good}"))]
        )
        .0,
        200
    );

    let resp = gw.proxy_get("custom.test", "/");
    assert_eq!(resp.status(), 403);
    assert_eq!(resp.headers()["x-why"], "no-token");
    assert_eq!(resp.text().unwrap(), "{\"denied\":true}");

    assert_eq!(
        call(&gw, "optional.test", &[]).0,
        200,
        "absent passes without fail_if_absent"
    );
    assert_eq!(
        call(
            &gw,
            "optional.test",
            &[("authorization", &format!("Bearer {wrong}"))]
        )
        .0,
        400
    );

    // Naming no verifier admits nothing.
    route(
        &gw,
        "none.test",
        &up,
        json!([plugin("JwtVerification", json!({}))]),
    );
    assert_eq!(
        call(
            &gw,
            "none.test",
            &[("authorization", &format!("Bearer {good}"))]
        )
        .0,
        400
    );
}

#[test]
fn the_first_call_waits_for_the_jwks_instead_of_being_refused() {
    let up = Upstream::slow("jwks", std::time::Duration::from_millis(300));
    let gw = Gateway::start_fetching_loopback();
    let url = format!("http://127.0.0.1:{}/fixtures/jwks.json", up.port());
    gw.create(
        "jwt-verifiers",
        &json!({"id": "remote", "name": "remote", "strict": true,
                "algoSettings": {"type": "JWKSAlgoSettings", "url": url, "timeout": 3000}}),
    );
    let backend = Upstream::start("backend");
    route(
        &gw,
        "remote.test",
        &backend,
        json!([plugin("JwtVerification", json!({"verifiers": ["remote"]}))]),
    );
    let key = std::fs::read(format!(
        "{}/tests/fixtures/rsa_private.pem",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some("test-key-1".into());
    let token = jsonwebtoken::encode(
        &header,
        &json!({"sub": "x"}),
        &EncodingKey::from_rsa_pem(&key).unwrap(),
    )
    .unwrap();
    // The key set takes 300 ms to arrive: the call waits for it.
    let (status, body) = call(
        &gw,
        "remote.test",
        &[("authorization", &format!("Bearer {token}"))],
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(backend.hits(), 1);
}

#[test]
fn jwt_signer_hands_the_backend_a_signed_token() {
    let up = Upstream::start("signed");
    let gw = Gateway::start();
    gw.create(
        "jwt-verifiers",
        &json!({"id": "signer", "name": "signer",
                "source": {"type": "InHeader", "name": "X-JWT-Assertion", "remove": ""},
                "algoSettings": {"type": "HSAlgoSettings", "size": 256, "secret": "backend-secret"},
                "strategy": {"type": "DefaultToken", "token": {"user": "${req.headers.X-User}", "team": "core"}}}),
    );
    route(
        &gw,
        "signed.test",
        &up,
        json!([plugin("JwtSigner", json!({"verifier": "signer"}))]),
    );
    let (status, seen) = call(&gw, "signed.test", &[("x-user", "alice")]);
    assert_eq!(status, 200, "{seen}");
    let token = seen["headers"]["x-jwt-assertion"]
        .as_str()
        .expect("a token upstream");
    let mut validation = Validation::new(Algorithm::HS256);
    validation.set_audience(&["backend"]);
    let claims = jsonwebtoken::decode::<Value>(
        token,
        &DecodingKey::from_secret(b"backend-secret"),
        &validation,
    )
    .unwrap()
    .claims;
    assert_eq!(claims["iss"], "Otoroshi");
    assert_eq!(claims["sub"], "anonymous");
    assert_eq!(claims["user"], "alice");
    assert_eq!(claims["team"], "core");
    assert!(claims["exp"].as_u64().unwrap() > claims["iat"].as_u64().unwrap());
    // A call that already carries a token is refused (fail_if_present, the default).
    let (status, err) = call(&gw, "signed.test", &[("x-jwt-assertion", "forged")]);
    assert_eq!(
        (status, err["error"].clone()),
        (400, json!("error.token.already.present"))
    );
}

#[test]
fn basic_auth_accepts_clear_bcrypt_and_argon2_passwords() {
    use argon2::PasswordHasher;
    let up = Upstream::start("basic");
    let gw = Gateway::start();
    let bcrypt = bcrypt::hash("bob-pw", 4).unwrap();
    let salt = argon2::password_hash::SaltString::encode_b64(b"0123456789abcdef").unwrap();
    let argon = argon2::Argon2::default()
        .hash_password(b"carol-pw", &salt)
        .unwrap()
        .to_string();
    route(
        &gw,
        "basic.test",
        &up,
        json!([plugin(
            "SimpleBasicAuth",
            json!({
        "realm": "partners", "users": {"alice": "alice-pw", "bob": bcrypt, "carol": argon}})
        )]),
    );
    let basic = |u: &str, p: &str| {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{u}:{p}"))
        )
    };
    let resp = gw.proxy_get("basic.test", "/");
    assert_eq!(resp.status(), 401);
    assert_eq!(
        resp.headers()["www-authenticate"],
        "Basic realm=\"partners\""
    );
    for (user, pw, status) in [
        ("alice", "alice-pw", 200),
        ("alice", "wrong", 401),
        ("bob", "bob-pw", 200),
        ("bob", "bob-pw", 200), // remembered: no second hash
        ("bob", "nope", 401),
        ("carol", "carol-pw", 200),
        ("mallory", "x", 401),
    ] {
        let (got, _) = call(&gw, "basic.test", &[("authorization", &basic(user, pw))]);
        assert_eq!(got, status, "{user}:{pw}");
    }
    let (status, body) = json(gw.post(
        "/api/routes",
        &json!({"id": "r-bad", "frontend": {"domains": ["bad.test"]}, "backend": {"targets": [up.target()]},
                "plugins": [plugin("SimpleBasicAuth", json!({"users": {"x": "$argon2id$broken"}}))]}),
    ));
    assert_eq!(status, 400);
    assert!(body.to_string().contains("users.x"), "{body}");
}

fn hmac_signature(secret: &str, data: &str) -> String {
    let mut m = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    m.update(data.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(m.finalize().into_bytes())
}

#[test]
fn hmac_signatures_and_expected_consumers() {
    let up = Upstream::start("hmac");
    let gw = Gateway::start();
    route(
        &gw,
        "hmac.test",
        &up,
        json!([plugin("HMACValidator", json!({"secret": "shared"}))]),
    );
    gw.create("groups", &json!({"id": "signed", "name": "signed"}));
    gw.create(
        "routes",
        &json!({"id": "r-keyed", "groups": ["signed"], "frontend": {"domains": ["keyed.test"]},
                "backend": {"targets": [up.target()]},
                "plugins": [plugin("ApikeyCalls", json!({"validate": false, "mandatory": false})),
                            plugin("NgExpectedConsumer", json!({})),
                            plugin("HMACValidator", json!({}))]}),
    );
    gw.create("apikeys", &json!({"clientId": "signer", "clientSecret": "key-secret", "authorizedEntities": ["group_signed"]}));
    let date = "Tue, 01 Dec 2026 10:00:00 GMT";
    let auth = |secret: &str| {
        format!(
            r#"hmac algorithm="hmac-sha256", headers="Date X-Nonce", signature="{}""#,
            hmac_signature(secret, &format!("{date} n-1"))
        )
    };
    let signed = |secret: &str| {
        [
            ("date", date.to_string()),
            ("x-nonce", "n-1".to_string()),
            ("authorization", auth(secret)),
        ]
    };
    let h = signed("shared");
    let headers: Vec<(&str, &str)> = h.iter().map(|(k, v)| (*k, v.as_str())).collect();
    assert_eq!(call(&gw, "hmac.test", &headers).0, 200);
    let h = signed("guess");
    let headers: Vec<(&str, &str)> = h.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (status, err) = call(&gw, "hmac.test", &headers);
    assert_eq!(
        (status, err["error"].clone()),
        (400, json!("errors.bad.signature"))
    );

    // No key: the expected consumer refuses. With the key, its secret signs.
    let (status, err) = call(&gw, "keyed.test", &[]);
    assert_eq!(
        (status, err["error"].clone()),
        (401, json!("errors.auth.unauthorized"))
    );
    let sig = hmac_signature("key-secret", &format!("{date} n-1"));
    let authz =
        format!(r#"hmac algorithm="hmac-sha512", headers="Date X-Nonce", signature="{sig}""#);
    let (status, _) = call(
        &gw,
        "keyed.test",
        &[
            ("otoroshi-client-id", "signer"),
            ("otoroshi-client-secret", "key-secret"),
            ("date", date),
            ("x-nonce", "n-1"),
            ("proxy-authorization", &authz),
        ],
    );
    assert_eq!(status, 400, "a SHA-256 signature declared as SHA-512 fails");
    let authz = authz.replace("hmac-sha512", "hmac-sha256");
    let (status, body) = call(
        &gw,
        "keyed.test",
        &[
            ("otoroshi-client-id", "signer"),
            ("otoroshi-client-secret", "key-secret"),
            ("date", date),
            ("x-nonce", "n-1"),
            ("proxy-authorization", &authz),
        ],
    );
    assert_eq!(status, 200, "{body}");
}
