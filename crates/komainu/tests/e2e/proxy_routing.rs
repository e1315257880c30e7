//! Routing through the real proxy: API expansion, lifecycle states, testing mode, matchers, path
//! rewriting and forwarded headers.

use crate::support::upstream::Upstream;
use crate::support::{Gateway, json, keyless_plan};
use reqwest::Method;
use serde_json::{Value, json};

fn echo(resp: reqwest::blocking::Response) -> (u16, Value) {
    json(resp)
}

/// The seed's shape: domain api.example.com, context /v1, route `oto.tools/users` (GET).
fn users_api(up: &Upstream, state: &str) -> Value {
    json!({
        "id": "api_users", "name": "Users", "domain": "api.example.com", "context_path": "/v1",
        "state": state,
        "backends": [{"id": "users_backend", "backend": {"targets": [up.target()]}}],
        "documentation": {"plans": [keyless_plan()]},
        "routes": [
            {"id": "list_users", "frontend": {"domains": ["oto.tools/users"], "methods": ["GET"]}, "backend": "users_backend"},
            {"id": "orders", "frontend": {"domains": ["oto.tools/orders"]}, "backend": "users_backend"}
        ]
    })
}

#[test]
fn api_routes_are_served_at_domain_context_path_and_route_path() {
    let up = Upstream::start("users");
    let gw = Gateway::start();
    gw.create("apis", &users_api(&up, "published"));
    gw.wait_status("api.example.com", "/v1/users", 200);

    let (status, body) = echo(gw.proxy_get("api.example.com", "/v1/users/42?x=1"));
    assert_eq!(status, 200);
    assert_eq!(body["name"], "users");
    assert_eq!(
        body["path"], "/42?x=1",
        "matched prefix stripped, query kept"
    );
    assert_eq!(
        gw.proxy_get("oto.tools", "/users").status(),
        404,
        "the route's own host is replaced by the API's"
    );
    assert_eq!(
        gw.proxy_get("api.example.com", "/users").status(),
        404,
        "context path required"
    );
    assert_eq!(
        gw.proxy_get("api.example.com", "/v1/usersx").status(),
        404,
        "prefixes end on a segment"
    );
    let post = gw
        .call(Method::POST, "api.example.com", "/v1/users")
        .send()
        .unwrap();
    assert_eq!(post.status(), 404, "route restricted to GET");
    assert_eq!(
        gw.call(Method::POST, "api.example.com", "/v1/orders")
            .send()
            .unwrap()
            .status(),
        200
    );
}

#[test]
fn only_enabled_published_or_deprecated_apis_serve() {
    let up = Upstream::start("u");
    let gw = Gateway::start();
    gw.create("apis", &users_api(&up, "staging"));
    assert_eq!(
        gw.proxy_get("api.example.com", "/v1/users").status(),
        404,
        "staging serves nothing"
    );

    let took = [("published", 200), ("deprecated", 200), ("removed", 404)].map(|(state, want)| {
        assert_eq!(
            gw.patch("/api/apis/api_users", &json!({"state": state}))
                .status(),
            200
        );
        gw.wait_status("api.example.com", "/v1/users", want)
    });
    eprintln!("changes live after {took:?}");

    assert_eq!(
        gw.patch("/api/apis/api_users", &json!({"state": "published"}))
            .status(),
        409,
        "a removed API does not come back"
    );
    assert_eq!(gw.delete("/api/apis/api_users").status(), 200);
    gw.create("apis", &users_api(&up, "published"));
    assert_eq!(
        gw.patch("/api/apis/api_users", &json!({"enabled": false}))
            .status(),
        200
    );
    gw.wait_status("api.example.com", "/v1/orders", 404);
    assert_eq!(
        gw.patch("/api/apis/api_users", &json!({"enabled": true}))
            .status(),
        200
    );
    gw.wait_status("api.example.com", "/v1/orders", 200);

    let disable_one = json!([{"op": "replace", "path": "/routes/0/enabled", "value": false}]);
    assert_eq!(gw.patch("/api/apis/api_users", &disable_one).status(), 200);
    gw.wait_status("api.example.com", "/v1/users", 404);
    assert_eq!(
        gw.proxy_get("api.example.com", "/v1/orders").status(),
        200,
        "a route switches alone"
    );
}

#[test]
fn staging_routes_answer_only_with_the_testing_header() {
    let up = Upstream::start("u");
    let gw = Gateway::start();
    let mut api = users_api(&up, "staging");
    api["testing"] =
        json!({"enabled": true, "headerKey": "X-OTOROSHI-TESTING", "headerValue": "let-me-in"});
    gw.create("apis", &api);
    let with = |value: &str| {
        gw.call(Method::GET, "api.example.com", "/v1/users")
            .header("X-OTOROSHI-TESTING", value)
            .send()
            .unwrap()
            .status()
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while with("let-me-in") != 200 {
        assert!(
            std::time::Instant::now() < deadline,
            "draft route never served"
        );
    }
    assert_eq!(with("wrong"), 404);
    assert_eq!(gw.proxy_get("api.example.com", "/v1/users").status(), 404);
}

fn route(id: &str, domain: &str, up: &Upstream, root: &str, frontend: Value) -> Value {
    let mut f = json!({"domains": [domain]});
    f.as_object_mut()
        .unwrap()
        .extend(frontend.as_object().unwrap().clone());
    json!({"id": id, "frontend": f, "backend": {"root": root, "targets": [up.target()]}})
}

/// Which route answered: each route's backend root is its own name.
fn who(gw: &Gateway, method: Method, host: &str, path: &str, headers: &[(&str, &str)]) -> String {
    let mut rb = gw.call(method, host, path);
    for (k, v) in headers {
        rb = rb.header(*k, *v);
    }
    let (status, body) = json(rb.send().unwrap());
    if status != 200 {
        return status.to_string();
    }
    let path = body["path"].as_str().unwrap();
    path.split('?')
        .next()
        .unwrap()
        .split('/')
        .nth(1)
        .unwrap_or("")
        .to_string()
}

#[test]
fn matchers_hosts_prefixes_exact_params_methods_headers_query() {
    let up = Upstream::start("m");
    let gw = Gateway::start();
    let routes = [
        route("r_host", "shop.example.com/", &up, "/host", json!({})),
        route("r_wild", "*.example.com/", &up, "/wild", json!({})),
        route("r_pets", "shop.example.com/pets", &up, "/pets", json!({})),
        route("r_pet", "shop.example.com/pets/:id", &up, "/pet", json!({})),
        route(
            "r_pet_brace",
            "shop.example.com/owners/{owner}/pets",
            &up,
            "/brace",
            json!({}),
        ),
        route(
            "r_mine",
            "shop.example.com/pets/mine",
            &up,
            "/mine",
            json!({"exact": true}),
        ),
        route(
            "r_post",
            "shop.example.com/pets",
            &up,
            "/post",
            json!({"methods": ["POST"]}),
        ),
        route(
            "r_hdr",
            "shop.example.com/pets",
            &up,
            "/hdr",
            json!({"headers": {"x-version": "2"}}),
        ),
        route(
            "r_qry",
            "shop.example.com/pets",
            &up,
            "/qry",
            json!({"query": {"beta": "true"}}),
        ),
    ];
    for r in &routes {
        gw.create("routes", r);
    }
    gw.wait_status("shop.example.com", "/pets", 200);
    let get = |host: &str, path: &str| who(&gw, Method::GET, host, path, &[]);
    assert_eq!(get("shop.example.com", "/"), "host", "exact host");
    assert_eq!(
        get("Shop.Example.com:8080", "/"),
        "host",
        "host is case-insensitive, port ignored"
    );
    assert_eq!(get("api.example.com", "/anything"), "wild", "wildcard host");
    assert_eq!(
        get("example.com", "/"),
        "404",
        "a wildcard needs a subdomain"
    );
    assert_eq!(get("shop.example.com", "/pets"), "pets", "longest prefix");
    assert_eq!(get("shop.example.com", "/pets/12"), "pet", "parameter");
    assert_eq!(
        get("shop.example.com", "/pets/12/toys"),
        "pet",
        "prefix below a parameter"
    );
    assert_eq!(
        get("shop.example.com", "/pets/mine"),
        "mine",
        "static beats parameter, exact"
    );
    assert_eq!(
        get("shop.example.com", "/pets/mine/toys"),
        "pet",
        "exact does not match longer paths"
    );
    assert_eq!(
        get("shop.example.com", "/owners/7/pets"),
        "brace",
        "{{param}} syntax"
    );
    assert_eq!(
        who(&gw, Method::POST, "shop.example.com", "/pets", &[]),
        "post",
        "method restriction wins ties"
    );
    assert_eq!(
        who(
            &gw,
            Method::GET,
            "shop.example.com",
            "/pets",
            &[("x-version", "2")]
        ),
        "hdr"
    );
    assert_eq!(
        who(
            &gw,
            Method::GET,
            "shop.example.com",
            "/pets",
            &[("x-version", "3")]
        ),
        "pets"
    );
    assert_eq!(get("shop.example.com", "/pets?beta=true"), "qry");
    assert_eq!(get("shop.example.com", "/pets?beta=false"), "pets");
    let (status, body) = json(gw.proxy_get("nowhere.test", "/"));
    assert_eq!(status, 404);
    assert_eq!(
        body,
        json!({"error": "not_found", "error_description": "no route found !"})
    );
}

#[test]
fn strip_path_root_and_rewrite() {
    let up = Upstream::start("p");
    let gw = Gateway::start();
    gw.create(
        "routes",
        &route(
            "keep",
            "p.test/keep",
            &up,
            "/base",
            json!({"strip_path": false}),
        ),
    );
    gw.create(
        "routes",
        &route("strip", "p.test/strip", &up, "/base/", json!({})),
    );
    let mut rewrite = route(
        "rw",
        "p.test/items/:id",
        &up,
        "/v2/things/${req.pathparams.id}/detail",
        json!({}),
    );
    rewrite["backend"]["rewrite"] = json!(true);
    gw.create("routes", &rewrite);
    gw.wait_status("p.test", "/keep", 200);
    let path = |p: &str| {
        json(gw.proxy_get("p.test", p)).1["path"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert_eq!(path("/keep/a/b"), "/base/keep/a/b");
    assert_eq!(path("/strip/a/b?q=1"), "/base/a/b?q=1");
    assert_eq!(path("/strip"), "/base");
    assert_eq!(path("/items/42?full=1"), "/v2/things/42/detail?full=1");
}

#[test]
fn stored_backends_serve_api_routes_and_standalone_routes() {
    let up = Upstream::start("stored");
    let gw = Gateway::start();
    gw.create(
        "backends",
        &json!({"id": "shared", "backend": {"targets": [up.target()], "root": "/shared"}}),
    );
    gw.create(
        "apis",
        &json!({
            "id": "a", "domain": "s.test", "state": "published",
            "documentation": {"plans": [keyless_plan()]},
            "routes": [{"frontend": {"domains": ["x/api"]}, "backend": "shared"}]
        }),
    );
    gw.create(
        "routes",
        &json!({"id": "r", "frontend": {"domains": ["s.test/route"]}, "backend_ref": "shared"}),
    );
    gw.wait_status("s.test", "/api", 200);
    assert_eq!(
        json(gw.proxy_get("s.test", "/api/1")).1["path"],
        "/shared/1"
    );
    assert_eq!(
        json(gw.proxy_get("s.test", "/route/2")).1["path"],
        "/shared/2"
    );
}

#[test]
fn forwarded_headers_hop_by_hop_and_latency() {
    let up = Upstream::start("h");
    let gw = Gateway::start();
    gw.create(
        "routes",
        &route("plain", "h.test/plain", &up, "/", json!({})),
    );
    let mut over = route("over", "h.test/override", &up, "/", json!({}));
    over["plugins"] = json!([{"plugin": "cp:otoroshi.next.plugins.OverrideHost"}]);
    gw.create("routes", &over);
    gw.wait_status("h.test", "/plain", 200);
    gw.wait_status("h.test", "/override", 200);
    let resp = gw
        .call(Method::GET, "h.test", "/plain")
        .header("x-forwarded-for", "10.1.1.1")
        .header("connection", "x-secret")
        .header("x-secret", "hop")
        .send()
        .unwrap();
    assert!(resp.headers().contains_key("otoroshi-proxy-latency"));
    assert!(resp.headers().contains_key("otoroshi-upstream-latency"));
    let (_, body) = json(resp);
    let h = &body["headers"];
    assert_eq!(
        h["x-forwarded-for"], "127.0.0.1",
        "what an untrusted client says of itself is replaced"
    );
    assert_eq!(h["x-forwarded-proto"], "http");
    assert_eq!(h["x-forwarded-host"], "h.test");
    assert_eq!(h["host"], "h.test", "the client's host is kept");
    assert!(
        h.get("x-secret").is_none(),
        "headers named by Connection are hop-by-hop"
    );
    let (_, body) = json(gw.proxy_get("h.test", "/override"));
    assert_eq!(
        body["headers"]["host"], "127.0.0.1",
        "OverrideHost: the target's hostname"
    );
}

#[test]
fn an_http_1_0_upstream_is_answered_over_http_1_1() {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            let mut buf = [0u8; 4096];
            let _ = stream.read(&mut buf);
            let _ = stream.write_all(b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok");
        }
    });
    let gw = Gateway::start();
    gw.create(
        "routes",
        &json!({"id": "old", "frontend": {"domains": ["old.test"]},
        "backend": {"targets": [{"hostname": "127.0.0.1", "port": port}]}}),
    );
    gw.wait_status("old.test", "/", 200);
    let resp = gw.proxy_get("old.test", "/");
    assert_eq!(resp.version(), reqwest::Version::HTTP_11);
    assert_eq!(resp.text().unwrap(), "ok");
}
