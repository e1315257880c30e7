//! API keys through the real proxy (seeds 003 and 004): each way of presenting a key and what
//! reaches the upstream, JWT rules, group/route/API authorization, key states, quotas and their
//! windows, rotation, and the error statuses.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::support::upstream::Upstream;
use crate::support::{Gateway, Options, json, keyless_plan};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::Method;
use serde_json::{Value, json};

const APIKEY: &str = "cp:otoroshi.next.plugins.ApikeyCalls";
const HOST: &str = "pay.test";

fn now_s() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn jwt(alg: Algorithm, claims: Value, secret: &str) -> String {
    jsonwebtoken::encode(
        &Header::new(alg),
        &claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap()
}

/// Seed 003's setup: group `group_payment_apis`, a route in it guarded by ApikeyCalls, key k1.
fn payment_setup(gw: &Gateway, up: &Upstream, config: Value) {
    gw.create(
        "groups",
        &json!({"id": "group_payment_apis", "name": "Payment APIs"}),
    );
    gw.create(
        "routes",
        &json!({
            "id": "route_process_payment", "groups": ["group_payment_apis"],
            "frontend": {"domains": [HOST]},
            "backend": {"targets": [up.target()]},
            "plugins": [{"plugin": APIKEY, "config": config}]
        }),
    );
    gw.create("apikeys", &json!({"clientId": "k1", "clientSecret": "s1-secret", "clientName": "Payment service key", "authorizedEntities": ["group_payment_apis"]}));
    wait_until(gw, |gw| {
        call(
            gw,
            &[
                ("otoroshi-client-id", "k1"),
                ("otoroshi-client-secret", "s1-secret"),
            ],
        )
        .0 == 200
    });
}

fn wait_until(gw: &Gateway, ok: impl Fn(&Gateway) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !ok(gw) {
        assert!(Instant::now() < deadline, "condition not reached");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn call_with(
    gw: &Gateway,
    method: Method,
    path: &str,
    headers: &[(&str, &str)],
) -> (u16, Value, reqwest::header::HeaderMap) {
    let mut rb = gw.call(method, HOST, path);
    for (k, v) in headers {
        rb = rb.header(*k, *v);
    }
    let resp = rb.send().unwrap();
    let h = resp.headers().clone();
    let (s, b) = json(resp);
    (s, b, h)
}

fn call(gw: &Gateway, headers: &[(&str, &str)]) -> (u16, Value) {
    let (s, b, _) = call_with(gw, Method::GET, "/", headers);
    (s, b)
}

fn basic(id: &str, secret: &str) -> String {
    STANDARD.encode(format!("{id}:{secret}"))
}

/// Headers sent, the header carrying the credential, whether it reaches the upstream.
type Presentation = (Vec<(&'static str, String)>, &'static str, bool);

#[test]
fn six_ways_to_present_a_key_and_what_reaches_the_upstream() {
    let up = Upstream::start("pay");
    let gw = Gateway::start();
    payment_setup(&gw, &up, json!({}));
    let token = jwt(
        Algorithm::HS256,
        json!({"iss": "k1", "name": "John Doe"}),
        "s1-secret",
    );
    let b = basic("k1", "s1-secret");
    let cases: Vec<Presentation> = vec![
        (
            vec![("otoroshi-authorization", format!("Basic {b}"))],
            "otoroshi-authorization",
            false,
        ),
        (
            vec![("otoroshi-authorization", b.clone())],
            "otoroshi-authorization",
            false,
        ),
        (
            vec![("authorization", format!("Basic {b}"))],
            "authorization",
            true,
        ),
        (
            vec![("otoroshi-token", format!("Bearer {token}"))],
            "otoroshi-token",
            false,
        ),
        (
            vec![("otoroshi-token", token.clone())],
            "otoroshi-token",
            false,
        ),
        (
            vec![("authorization", format!("Bearer {token}"))],
            "authorization",
            true,
        ),
        (
            vec![("cookie", format!("access_token={token}"))],
            "cookie",
            true,
        ),
        (
            vec![
                ("otoroshi-client-id", "k1".into()),
                ("otoroshi-client-secret", "s1-secret".into()),
            ],
            "otoroshi-client-secret",
            false,
        ),
    ];
    for (headers, header, forwarded) in cases {
        let hs: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let (status, body, resp_headers) = call_with(&gw, Method::GET, "/", &hs);
        assert_eq!(status, 200, "{headers:?}: {body}");
        assert_eq!(
            body["headers"].get(header).is_some(),
            forwarded,
            "{header} forwarded={forwarded}"
        );
        assert!(body["headers"].get("otoroshi-client-id").is_none());
        assert!(resp_headers.contains_key("otoroshi-daily-calls-remaining"));
    }
}

#[test]
fn client_id_only_renamed_extractors_and_wiping() {
    let up = Upstream::start("pay");
    let gw = Gateway::start();
    payment_setup(&gw, &up, json!({}));
    gw.create("apikeys", &json!({"clientId": "public", "allowClientIdOnly": true, "authorizedEntities": ["group_payment_apis"]}));
    wait_until(&gw, |gw| call(gw, &[("x-api-key", "public")]).0 == 200);
    assert_eq!(call(&gw, &[("otoroshi-client-id", "public")]).0, 200);
    assert_eq!(
        call(&gw, &[("x-api-key", "k1")]).0,
        401,
        "k1 needs its secret"
    );
    let (status, _, _) = call_with(&gw, Method::GET, "/?x-api-key=public", &[]);
    assert_eq!(status, 200, "query parameter");

    gw.create("routes", &json!({
        "id": "custom", "groups": ["group_payment_apis"],
        "frontend": {"domains": ["custom.test"]},
        "backend": {"targets": [up.target()]},
        "plugins": [{"plugin": APIKEY, "config": {
            "extractors": {"basic": {"enabled": false}, "custom_headers": {"client_id_header_name": "x-id", "client_secret_header_name": "x-secret"}},
            "wipe_backend_request": true
        }}]
    }));
    let on_custom = |headers: &[(&str, &str)]| {
        let mut rb = gw.call(Method::GET, "custom.test", "/");
        for (k, v) in headers {
            rb = rb.header(*k, *v);
        }
        json(rb.send().unwrap())
    };
    wait_until(&gw, |_| {
        on_custom(&[("x-id", "k1"), ("x-secret", "s1-secret")]).0 == 200
    });
    let (status, body) = on_custom(&[("x-id", "k1"), ("x-secret", "s1-secret")]);
    assert_eq!(status, 200);
    assert!(
        body["headers"].get("x-secret").is_none(),
        "renamed headers are stripped too"
    );
    assert_eq!(
        on_custom(&[(
            "authorization",
            &format!("Basic {}", basic("k1", "s1-secret"))
        )])
        .0,
        400,
        "basic switched off: no key"
    );
    let token = jwt(Algorithm::HS256, json!({"iss": "k1"}), "s1-secret");
    let (status, body) = on_custom(&[("authorization", &format!("Bearer {token}"))]);
    assert_eq!(status, 200);
    assert!(
        body["headers"].get("authorization").is_none(),
        "wipe_backend_request drops Authorization"
    );
}

#[test]
fn jwt_rules() {
    let up = Upstream::start("pay");
    let gw = Gateway::start();
    payment_setup(&gw, &up, json!({}));
    let bearer = |t: &str| call(&gw, &[("authorization", &format!("Bearer {t}"))]).0;
    for alg in [Algorithm::HS256, Algorithm::HS384, Algorithm::HS512] {
        assert_eq!(
            bearer(&jwt(alg, json!({"iss": "k1"}), "s1-secret")),
            200,
            "{alg:?}"
        );
    }
    assert_eq!(
        bearer(&jwt(
            Algorithm::HS256,
            json!({"clientId": "k1", "iss": "someone"}),
            "s1-secret"
        )),
        200,
        "clientId claim first"
    );
    let none = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#),
        URL_SAFE_NO_PAD.encode(r#"{"iss":"k1"}"#)
    );
    assert_eq!(bearer(&none), 401, "alg none");
    let rs = format!(
        "{}.{}.c2ln",
        URL_SAFE_NO_PAD.encode(r#"{"alg":"RS256","typ":"JWT"}"#),
        URL_SAFE_NO_PAD.encode(r#"{"iss":"k1"}"#)
    );
    assert_eq!(bearer(&rs), 401, "other algorithms");
    assert_eq!(
        bearer(&jwt(Algorithm::HS256, json!({"iss": "k1"}), "wrong-secret")),
        401,
        "bad signature"
    );
    assert_eq!(
        bearer(&jwt(
            Algorithm::HS256,
            json!({"iss": "nobody"}),
            "s1-secret"
        )),
        400,
        "unknown issuer"
    );
    let t = now_s();
    assert_eq!(
        bearer(&jwt(
            Algorithm::HS256,
            json!({"iss": "k1", "exp": t - 60}),
            "s1-secret"
        )),
        401,
        "expired"
    );
    assert_eq!(
        bearer(&jwt(
            Algorithm::HS256,
            json!({"iss": "k1", "exp": t - 5}),
            "s1-secret"
        )),
        200,
        "within the 10 s leeway"
    );
    assert_eq!(
        bearer(&jwt(
            Algorithm::HS256,
            json!({"iss": "k1", "nbf": t + 60}),
            "s1-secret"
        )),
        401,
        "not yet valid"
    );
    assert_eq!(
        bearer(&jwt(
            Algorithm::HS256,
            json!({"iss": "k1", "iat": t + 60}),
            "s1-secret"
        )),
        401,
        "issued in the future"
    );
    assert_eq!(bearer("not.a.jwt"), 401);
}

#[test]
fn authorization_by_group_route_and_api_and_deleted_groups() {
    let up = Upstream::start("pay");
    let gw = Gateway::start();
    payment_setup(&gw, &up, json!({}));
    gw.create("apikeys", &json!({"clientId": "by_route", "clientSecret": "route-key-secret", "authorizedEntities": ["route_route_process_payment"]}));
    gw.create("apikeys", &json!({"clientId": "elsewhere", "clientSecret": "elsewhere-key-secret", "authorizedEntities": ["group_other"]}));
    gw.create("apis", &json!({
        "id": "api_cards", "domain": "cards.test", "state": "published", "groups": ["group_payment_apis"],
        "backends": [{"id": "b", "backend": {"targets": [up.target()]}}],
        "flows": [{"id": "default_plugin_chain", "plugins": {"slots": [{"plugin": APIKEY}]}}],
        "documentation": {"plans": [keyless_plan()]},
        "routes": [{"id": "cards", "frontend": {"domains": ["x/"]}, "backend": "b"}]
    }));
    gw.create("apikeys", &json!({"clientId": "by_api", "clientSecret": "api-key-secret", "authorizedEntities": [{"kind": "api", "id": "api_cards"}]}));
    let with = |host: &str, id: &str, secret: &str| {
        let resp = gw
            .call(Method::GET, host, "/")
            .header("otoroshi-client-id", id)
            .header("otoroshi-client-secret", secret)
            .send()
            .unwrap();
        let status = resp.status().as_u16();
        let text = resp.text().unwrap();
        assert!(
            status == 200 || !text.contains(secret),
            "a refusal never repeats a secret: {text}"
        );
        status
    };
    wait_until(&gw, |_| {
        with("cards.test", "by_api", "api-key-secret") == 200
    });
    assert_eq!(
        with(HOST, "by_route", "route-key-secret"),
        200,
        "route_<id>"
    );
    assert_eq!(
        with(HOST, "elsewhere", "elsewhere-key-secret"),
        400,
        "not authorized here"
    );
    assert_eq!(
        with("cards.test", "k1", "s1-secret"),
        200,
        "the API's groups"
    );
    assert_eq!(
        with(HOST, "by_api", "api-key-secret"),
        400,
        "an API key scope does not reach other routes"
    );
    assert_eq!(with(HOST, "k1", "s1-wrong"), 401, "bad secret");

    let (_, keys) = json(gw.get("/api/groups/group_payment_apis/apikeys"));
    let ids: Vec<&str> = keys
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["clientId"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec!["k1"]);
    let (_, keys) = json(gw.get("/api/apis/api_cards/apikeys"));
    let mut ids: Vec<&str> = keys
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["clientId"].as_str().unwrap())
        .collect();
    ids.sort();
    assert_eq!(ids, vec!["by_api", "k1"]);

    let (_, key_before) = json(gw.get("/api/apikeys/k1"));
    let (_, route_before) = json(gw.get("/api/routes/route_process_payment"));
    assert_eq!(gw.delete("/api/groups/group_payment_apis").status(), 200);
    wait_until(&gw, |_| with(HOST, "k1", "s1-secret") == 400);
    assert_eq!(
        json(gw.get("/api/apikeys/k1")).1,
        key_before,
        "keys are left untouched"
    );
    assert_eq!(
        json(gw.get("/api/routes/route_process_payment")).1,
        route_before,
        "routes too"
    );
}

#[test]
fn key_states_read_only_and_restrictions() {
    let up = Upstream::start("pay");
    let gw = Gateway::start();
    payment_setup(&gw, &up, json!({}));
    let key = |id: &str, extra: Value| {
        let mut doc = json!({"clientId": id, "clientSecret": "s", "authorizedEntities": ["group_payment_apis"]});
        doc.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        gw.create("apikeys", &doc);
    };
    let past = (now_s() - 3600) * 1000;
    key("off", json!({"enabled": false}));
    key("expired", json!({"validUntil": past}));
    key("ro", json!({"readOnly": true}));
    key("constrained", json!({"constrainedServicesOnly": true}));
    key(
        "deny_last",
        json!({"restrictions": {"enabled": true, "allowLast": true,
        "forbidden": [{"method": "DELETE", "path": "/.*"}], "notFound": [{"method": "*", "path": "/secret.*"}]}}),
    );
    key(
        "allow_only",
        json!({"restrictions": {"enabled": true, "allowLast": false,
        "allowed": [{"method": "GET", "path": "/public/.*"}], "forbidden": [{"method": "GET", "path": "/admin"}]}}),
    );
    let as_key = |id: &str, m: Method, path: &str| {
        call_with(
            &gw,
            m,
            path,
            &[("otoroshi-client-id", id), ("otoroshi-client-secret", "s")],
        )
        .0
    };
    wait_until(&gw, |_| {
        as_key("allow_only", Method::GET, "/public/x") == 200
    });
    assert_eq!(as_key("off", Method::GET, "/"), 401);
    assert_eq!(as_key("expired", Method::GET, "/"), 401);
    assert_eq!(as_key("ro", Method::GET, "/"), 200);
    assert_eq!(as_key("ro", Method::HEAD, "/"), 200);
    let (status, body, _) = call_with(
        &gw,
        Method::POST,
        "/",
        &[
            ("otoroshi-client-id", "ro"),
            ("otoroshi-client-secret", "s"),
        ],
    );
    assert_eq!(
        (status, body["error"].clone()),
        (405, json!("errors.method.not.allowed"))
    );
    assert_eq!(
        as_key("constrained", Method::GET, "/"),
        400,
        "only on routes constraining keys"
    );
    assert_eq!(as_key("deny_last", Method::GET, "/anything"), 200);
    assert_eq!(as_key("deny_last", Method::DELETE, "/anything"), 403);
    assert_eq!(as_key("deny_last", Method::GET, "/secret/x"), 404);
    assert_eq!(as_key("allow_only", Method::GET, "/public/x"), 200);
    assert_eq!(as_key("allow_only", Method::GET, "/admin"), 403);
    assert_eq!(as_key("allow_only", Method::GET, "/other"), 404);
    assert_eq!(
        gw.patch("/api/apikeys/off", &json!({"enabled": true}))
            .status(),
        200
    );
    wait_until(&gw, |_| as_key("off", Method::GET, "/") == 200);
}

#[test]
fn error_statuses_and_optional_keys() {
    let up = Upstream::start("pay");
    let gw = Gateway::start();
    payment_setup(&gw, &up, json!({}));
    let (status, body) = call(&gw, &[]);
    assert_eq!(
        (status, body["error"].clone()),
        (400, json!("errors.no.api.key"))
    );
    let (status, body) = call(
        &gw,
        &[
            ("otoroshi-client-id", "ghost"),
            ("otoroshi-client-secret", "x"),
        ],
    );
    assert_eq!(
        (status, body["error"].clone()),
        (400, json!("errors.invalid.api.key.tuple"))
    );
    let (status, body) = call(
        &gw,
        &[
            ("otoroshi-client-id", "k1"),
            ("otoroshi-client-secret", "nope"),
        ],
    );
    assert_eq!(
        (status, body["error"].clone()),
        (401, json!("errors.bad.api.key"))
    );

    gw.create("routes", &json!({
        "id": "optional", "groups": ["group_payment_apis"], "frontend": {"domains": ["opt.test"]},
        "backend": {"targets": [up.target()]},
        "plugins": [{"plugin": APIKEY, "config": {"mandatory": false}}]
    }));
    let opt = |headers: &[(&str, &str)]| {
        let mut rb = gw.call(Method::GET, "opt.test", "/");
        for (k, v) in headers {
            rb = rb.header(*k, *v);
        }
        rb.send().unwrap().status().as_u16()
    };
    wait_until(&gw, |_| opt(&[]) == 200);
    assert_eq!(
        opt(&[
            ("otoroshi-client-id", "k1"),
            ("otoroshi-client-secret", "nope")
        ]),
        401,
        "a bad key is still refused"
    );
}

fn quota_headers(h: &reqwest::header::HeaderMap) -> (u64, u64) {
    let n = |name: &str| h[name].to_str().unwrap().parse().unwrap();
    (
        n("otoroshi-daily-calls-remaining"),
        n("otoroshi-monthly-calls-remaining"),
    )
}

#[test]
fn daily_and_monthly_quotas_with_headers_reset_and_windows() {
    let up = Upstream::start("pay");
    let gw = Gateway::start_with(Options {
        extra_args: vec!["--testing-clock".into()],
        ..Default::default()
    });
    payment_setup(&gw, &up, json!({}));
    // Start the clock on the 10th of a month, 12:00 UTC: a day shift stays within the month.
    let day_ms: i64 = 86_400_000;
    let now_ms = now_s() * 1000;
    let day_of_month = {
        let days = now_ms / day_ms;
        let (_, _, d) = civil(days);
        d
    };
    let offset = (10 - day_of_month) * day_ms + (day_ms / 2 - now_ms % day_ms);
    let shift = |ms: i64| {
        assert_eq!(
            gw.put("/api/_testing/clock", &json!({"offset_ms": ms}))
                .status(),
            200
        )
    };
    shift(offset);
    gw.create("apikeys", &json!({"clientId": "q", "clientSecret": "s", "dailyQuota": 3, "monthlyQuota": 5, "authorizedEntities": ["group_payment_apis"]}));
    let as_q = || {
        call_with(
            &gw,
            Method::GET,
            "/",
            &[("otoroshi-client-id", "q"), ("otoroshi-client-secret", "s")],
        )
    };
    wait_until(&gw, |_| json(gw.get("/api/apikeys/q/quotas")).0 == 200);
    for remaining in [2, 1, 0] {
        let (status, _, h) = as_q();
        assert_eq!(status, 200);
        assert_eq!(quota_headers(&h).0, remaining);
    }
    let hits = up.hits();
    let (status, body, h) = as_q();
    assert_eq!(
        (status, body["error"].clone()),
        (429, json!("errors.too.much.requests"))
    );
    assert_eq!(quota_headers(&h), (0, 1));
    assert_eq!(up.hits(), hits, "the upstream was not called");
    let (_, q) = json(gw.get("/api/apikeys/q/quotas"));
    assert_eq!(
        (
            q["authorizedCallsPerDay"].clone(),
            q["currentCallsPerDay"].clone(),
            q["remainingCallsPerDay"].clone()
        ),
        (json!(3), json!(4), json!(0))
    );

    shift(offset + day_ms);
    let (status, _, h) = as_q();
    assert_eq!(status, 200, "a new day");
    assert_eq!(quota_headers(&h), (2, 0), "the month goes on: 5 counted");
    assert_eq!(as_q().0, 429, "monthly quota reached");
    shift(offset + 31 * day_ms);
    assert_eq!(as_q().0, 200, "a new month");

    let (status, q) = json(gw.delete("/api/apikeys/q/quotas"));
    assert_eq!(
        (
            status,
            q["currentCallsPerDay"].clone(),
            q["currentCallsPerMonth"].clone()
        ),
        (200, json!(0), json!(0))
    );
    let (_, _, h) = as_q();
    assert_eq!(quota_headers(&h), (2, 4), "reset");
}

/// (year, month, day) of a day count since 1970-01-01 (Howard Hinnant's civil_from_days).
fn civil(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

#[test]
fn throttling_quota_per_second() {
    let up = Upstream::start("pay");
    let gw = Gateway::start();
    payment_setup(&gw, &up, json!({}));
    gw.create("apikeys", &json!({"clientId": "t", "clientSecret": "s", "throttlingQuota": 2, "authorizedEntities": ["group_payment_apis"]}));
    wait_until(&gw, |gw| json(gw.get("/api/apikeys/t/quotas")).0 == 200);
    let statuses: Vec<u16> = (0..5)
        .map(|_| {
            call(
                &gw,
                &[("otoroshi-client-id", "t"), ("otoroshi-client-secret", "s")],
            )
            .0
        })
        .collect();
    assert!(
        statuses.contains(&429) && statuses.contains(&200),
        "{statuses:?}"
    );
    let (_, _, h) = call_with(
        &gw,
        Method::GET,
        "/",
        &[
            ("otoroshi-client-id", "k1"),
            ("otoroshi-client-secret", "s1-secret"),
        ],
    );
    assert!(h.contains_key("otoroshi-throttling-calls-remaining"));
}

#[test]
fn counts_survive_a_restart() {
    let up = Upstream::start("pay");
    let mut gw = Gateway::start();
    payment_setup(&gw, &up, json!({}));
    for _ in 0..4 {
        assert_eq!(
            call(
                &gw,
                &[
                    ("otoroshi-client-id", "k1"),
                    ("otoroshi-client-secret", "s1-secret")
                ]
            )
            .0,
            200
        );
    }
    let counted = json(gw.get("/api/apikeys/k1/quotas")).1["currentCallsPerDay"]
        .as_u64()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1300));
    let dir = gw.keep_dir();
    assert!(gw.terminate().success());
    let again = Gateway::start_in(dir.path(), Options::default());
    let (_, q) = json(again.get("/api/apikeys/k1/quotas"));
    assert_eq!(q["currentCallsPerDay"].as_u64(), Some(counted));
    assert_eq!(q["currentCallsPerMonth"].as_u64(), Some(counted));
}

#[test]
fn secrets_rotate_on_schedule_with_grace_periods() {
    let up = Upstream::start("pay");
    let gw = Gateway::start_with(Options {
        extra_args: vec!["--testing-clock".into()],
        ..Default::default()
    });
    payment_setup(&gw, &up, json!({}));
    gw.create("apikeys", &json!({"clientId": "rot", "clientSecret": "first", "authorizedEntities": ["group_payment_apis"],
        "rotation": {"enabled": true, "rotationEvery": 10, "gracePeriod": 2}}));
    let key = || json(gw.get("/api/apikeys/rot")).1;
    wait_until(&gw, |_| key()["rotation"]["rotationStartedAt"].is_i64());
    let with = |secret: &str| {
        call(
            &gw,
            &[
                ("otoroshi-client-id", "rot"),
                ("otoroshi-client-secret", secret),
            ],
        )
        .0
    };
    assert_eq!(with("first"), 200);
    let hour: i64 = 3_600_000;
    let shift = |h: f64| {
        assert_eq!(
            gw.put(
                "/api/_testing/clock",
                &json!({"offset_ms": (h * hour as f64) as i64})
            )
            .status(),
            200
        )
    };

    shift(8.5);
    wait_until(&gw, |_| key()["rotation"]["nextSecret"].is_string());
    let next = key()["rotation"]["nextSecret"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(with("first"), 200, "current secret during the grace period");
    assert_eq!(with(&next), 200, "the next secret is accepted already");

    shift(10.5);
    wait_until(&gw, |_| key()["clientSecret"] == next.as_str());
    assert_eq!(key()["rotation"]["previousSecret"], "first");
    assert_eq!(with(&next), 200);
    assert_eq!(
        with("first"),
        200,
        "the previous secret during the grace period after rotation"
    );

    shift(13.0);
    assert_eq!(with("first"), 401, "after the grace period");
    assert_eq!(with(&next), 200);
}
