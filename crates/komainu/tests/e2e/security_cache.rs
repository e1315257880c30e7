//! The response cache never hands one user's answer to another: personal responses are not
//! kept, keys hold the host and the consumer, `Vary` splits them, and credentials the gateway did
//! not read keep a request out of the cache.

use serde_json::{Value, json};

use crate::support::upstream::Upstream;
use crate::support::{Gateway, json};

const P: &str = "cp:otoroshi.next.plugins.";

fn cached_route(gw: &Gateway, id: &str, domains: Value, up: &Upstream, extra: Value) {
    let mut plugins =
        vec![json!({"plugin": format!("{P}NgResponseCache"), "config": {"ttl": 60000}})];
    if !extra.is_null() {
        plugins.insert(0, extra);
    }
    gw.create(
        "routes",
        &json!({"id": id, "frontend": {"domains": domains},
                "backend": {"targets": [up.target()]}, "plugins": plugins}),
    );
}

/// `GET host path` with extra headers: status, `X-Otoroshi-Cache`, and the body.
fn get(gw: &Gateway, host: &str, path: &str, headers: &[(&str, &str)]) -> (u16, String, Value) {
    let mut rb = gw.call(reqwest::Method::GET, host, path);
    for (k, v) in headers {
        rb = rb.header(*k, *v);
    }
    let resp = rb.send().unwrap();
    let cache = resp
        .headers()
        .get("x-otoroshi-cache")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    let (status, body) = json(resp);
    (status, cache, body)
}

#[test]
fn personal_answers_are_never_served_to_someone_else() {
    let up = Upstream::start("cache-up");
    let gw = Gateway::start();
    cached_route(
        &gw,
        "c",
        json!(["a.example", "b.example"]),
        &up,
        Value::Null,
    );

    // A response setting a session cookie, or saying it is private, is not kept: each call
    // reaches the backend.
    for personal in [
        "/respond?set-cookie=session%3Dalice-secret",
        "/respond?cache-control=private",
        "/respond?cache-control=no-store",
    ] {
        get(&gw, "a.example", personal, &[]);
        let hits = up.hits();
        let (_, cache, _) = get(&gw, "a.example", personal, &[]);
        assert_eq!((cache.as_str(), up.hits()), ("", hits + 1), "{personal}");
    }

    // The host is part of the key.
    let (_, _, first) = get(&gw, "a.example", "/page", &[]);
    assert_eq!(
        first["headers"]["x-otoroshi-cache"], "MISS",
        "the backend hears of the miss"
    );
    let (_, cache, again) = get(&gw, "a.example", "/page", &[]);
    assert_eq!((cache.as_str(), &again), ("HIT", &first));
    let (_, cache, other) = get(&gw, "b.example", "/page", &[]);
    assert_eq!(cache, "");
    assert_eq!(
        other["headers"]["host"], "b.example",
        "b.example's own answer"
    );

    // Vary splits an entry: a reflected header poisons nobody else's answer.
    let vary = "/respond?vary=x-lang";
    get(
        &gw,
        "a.example",
        vary,
        &[("x-lang", "<script>evil</script>")],
    );
    let (_, cache, clean) = get(&gw, "a.example", vary, &[("x-lang", "fr")]);
    assert_eq!(cache, "");
    assert_eq!(clean["headers"]["x-lang"], "fr");
    assert_eq!(get(&gw, "a.example", vary, &[("x-lang", "fr")]).1, "HIT");

    // Credentials the gateway did not read keep a request out of the cache, both ways.
    let (_, _, alice) = get(&gw, "a.example", "/me", &[("cookie", "session=alice")]);
    assert_eq!(alice["headers"]["cookie"], "session=alice");
    let (_, _, anonymous) = get(&gw, "a.example", "/me", &[]);
    assert!(anonymous["headers"].get("cookie").is_none(), "{anonymous}");
    let (_, cache, bob) = get(&gw, "a.example", "/me", &[("authorization", "Bearer bob")]);
    assert_eq!(cache, "");
    assert_eq!(bob["headers"]["authorization"], "Bearer bob");
}

#[test]
fn each_consumer_has_its_own_entries_unless_the_cache_is_public() {
    let up = Upstream::start("cache-keys");
    let gw = Gateway::start();
    let keyed = json!({"plugin": format!("{P}ApikeyCalls")});
    cached_route(
        &gw,
        "private-c",
        json!(["keyed.example"]),
        &up,
        keyed.clone(),
    );
    gw.create(
        "routes",
        &json!({"id": "public-c", "frontend": {"domains": ["public.example"]},
                "backend": {"targets": [up.target()]},
                "plugins": [keyed, {"plugin": format!("{P}NgResponseCache"),
                                    "config": {"ttl": 60000, "public": true}}]}),
    );
    for (id, secret) in [("key-a", "secret-a"), ("key-b", "secret-b")] {
        gw.create(
            "apikeys",
            &json!({"clientId": id, "clientSecret": secret,
                    "authorizedEntities": ["route_private-c", "route_public-c"]}),
        );
    }
    let as_key = |host: &str, id: &str, secret: &str| {
        let resp = gw
            .call(reqwest::Method::GET, host, "/report")
            .basic_auth(id, Some(secret))
            .send()
            .unwrap();
        let cache = resp.headers().get("x-otoroshi-cache").cloned();
        let (_, body) = json(resp);
        (cache.map(|v| v.to_str().unwrap().to_string()), body)
    };
    let (_, a) = as_key("keyed.example", "key-a", "secret-a");
    assert_eq!(
        as_key("keyed.example", "key-a", "secret-a").0.as_deref(),
        Some("HIT")
    );
    let (cache, b) = as_key("keyed.example", "key-b", "secret-b");
    assert_eq!(cache, None, "another consumer's entry is not this one's");
    assert_ne!(a["headers"]["authorization"], b["headers"]["authorization"]);

    as_key("public.example", "key-a", "secret-a");
    assert_eq!(
        as_key("public.example", "key-b", "secret-b").0.as_deref(),
        Some("HIT"),
        "a public cache is shared"
    );
}
