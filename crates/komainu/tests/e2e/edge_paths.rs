//! One canonical path per request, tried as an attacker would, byte for byte on the wire: encoded
//! letters, dot-segments, matrix parameters and repeated slashes never reach a route the plain path
//! would not, never escape a backend's root, and what is refused is answered 400.

use std::time::Duration;

use crate::support::raw::{exchange, get};
use crate::support::upstream::Upstream;
use crate::support::{Gateway, json};
use serde_json::json;

const APIKEY: &str = "cp:otoroshi.next.plugins.ApikeyCalls";
const WAIT: Duration = Duration::from_secs(3);

/// `rt.test/admin` needs a key; `rt.test/` does not; `/api` forwards under root `/backend/public`.
fn setup(gw: &Gateway, open: &Upstream, keyed: &Upstream) {
    gw.create(
        "routes",
        &json!({"id": "admin", "frontend": {"domains": ["rt.test/admin"]},
                "backend": {"targets": [keyed.target()]},
                "plugins": [{"plugin": APIKEY}]}),
    );
    gw.create(
        "routes",
        &json!({"id": "open", "frontend": {"domains": ["rt.test/"]},
                "backend": {"targets": [open.target()]}}),
    );
    gw.create(
        "routes",
        &json!({"id": "rooted", "frontend": {"domains": ["rt.test/api"]},
                "backend": {"targets": [open.target()], "root": "/backend/public"}}),
    );
    gw.wait_status("rt.test", "/admin", 400);
    gw.wait_status("rt.test", "/api", 200);
}

#[test]
fn path_tricks_reach_the_route_the_plain_path_reaches() {
    let (open, keyed) = (Upstream::start("open"), Upstream::start("keyed"));
    let gw = Gateway::start();
    setup(&gw, &open, &keyed);
    let before = (open.seen().len(), keyed.seen().len());
    for path in [
        "/%61dmin/x",
        "/public/../admin/x",
        "/./admin/x",
        "/public/%2e%2e/admin/x",
        "/public/.%2E/admin/x",
        "/public/..;/admin/x",
        "/admin;jsessionid=1/x",
        "//admin//x",
        "/;x/admin/x",
    ] {
        let a = exchange(&gw.proxy, &get("rt.test", path), WAIT);
        assert_eq!(a.status(), 400, "{path}: {}", a.text);
        assert_eq!(
            a.header("otoroshi-error-cause").as_deref(),
            Some("errors.no.api.key"),
            "{path} must hit the keyed route"
        );
    }
    assert!(
        (open.seen().len(), keyed.seen().len()) == before,
        "nothing reached an upstream: {:?} {:?}",
        open.seen(),
        keyed.seen()
    );
}

#[test]
fn the_upstream_receives_the_canonical_path() {
    let (open, keyed) = (Upstream::start("open"), Upstream::start("keyed"));
    let gw = Gateway::start();
    setup(&gw, &open, &keyed);
    let before = open.seen().len();
    for (path, upstream_saw) in [
        ("/public/../x?q=%2e", "GET /x?q=%2e"),
        ("/p%75blic/./a//b/", "GET /public/a/b/"),
        ("/caf%c3%a9", "GET /caf%C3%A9"),
        ("/doc;v=2/x", "GET /doc;v=2/x"),
        ("/api/%2e/users", "GET /backend/public/users"),
        ("/api/../api/users", "GET /backend/public/users"),
        // An encoded slash is part of its segment (a file path as a parameter), forwarded as is.
        (
            "/contents/docs%2fREADME.md",
            "GET /contents/docs%2FREADME.md",
        ),
    ] {
        let a = exchange(&gw.proxy, &get("rt.test", path), WAIT);
        assert_eq!(a.status(), 200, "{path}: {}", a.text);
        assert_eq!(
            open.seen().last().map(String::as_str),
            Some(upstream_saw),
            "{path}"
        );
    }
    assert_eq!(open.seen().len(), before + 7);
}

#[test]
fn hostile_paths_are_refused_with_400() {
    let (open, keyed) = (Upstream::start("open"), Upstream::start("keyed"));
    let gw = Gateway::start();
    setup(&gw, &open, &keyed);
    let before = open.seen().len();
    for path in [
        "/a%2F..%2Fadmin",
        "/a%2f%2e%2e%2fadmin",
        "/a%5Cadmin",
        "/a\\admin",
        "/a%00",
        "/a%0d%0aSet-Cookie:x",
        "/%252e%252e/admin",
        "/a%252Fb",
        "/..",
        "/a/../../admin",
        "/api/../../admin",
        "/a%zz",
    ] {
        let a = exchange(&gw.proxy, &get("rt.test", path), WAIT);
        assert_eq!(a.status(), 400, "{path}: {}", a.text);
        assert_eq!(
            a.header("otoroshi-error-cause").as_deref(),
            Some("errors.bad.request.path"),
            "{path}: {}",
            a.text
        );
        assert!(a.closed, "{path}: the connection is closed after a refusal");
    }
    assert_eq!(open.seen().len(), before, "{:?}", open.seen());
    let metrics = gw.metrics();
    assert!(
        metrics.contains("komainu_proxy_requests_refused_total{reason=\"path\"} 12"),
        "{metrics}"
    );
}

#[test]
fn key_restrictions_and_plugin_filters_match_the_canonical_path() {
    let up = Upstream::start("up");
    let gw = Gateway::start();
    gw.create(
        "routes",
        &json!({"id": "r", "frontend": {"domains": ["kr.test"]},
        "backend": {"targets": [up.target()]},
        "plugins": [
            {"plugin": APIKEY},
            {"plugin": "cp:otoroshi.next.plugins.MaintenanceMode", "include": ["/closed.*"]}
        ]}),
    );
    gw.create(
        "apikeys",
        &json!({"clientId": "rk", "clientSecret": "rk-secret", "authorizedEntities": ["route_r"],
                "restrictions": {"enabled": true, "forbidden": [{"method": "*", "path": "/private.*"}]}}),
    );
    let auth = "Otoroshi-Client-Id: rk\r\nOtoroshi-Client-Secret: rk-secret\r\n";
    let req = |path: &str| {
        format!("GET {path} HTTP/1.1\r\nHost: kr.test\r\n{auth}Connection: close\r\n\r\n")
            .into_bytes()
    };
    let mut ready = false;
    for _ in 0..200 {
        if exchange(&gw.proxy, &req("/ok"), WAIT).status() == 200 {
            ready = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(ready, "the key works");
    for path in ["/private", "/%70rivate/x", "/x/../private", "/private;a=b"] {
        let a = exchange(&gw.proxy, &req(path), WAIT);
        assert_eq!(a.status(), 403, "{path}: {}", a.text);
    }
    for path in ["/closed", "/%63losed", "/x/../closed"] {
        let a = exchange(&gw.proxy, &req(path), WAIT);
        assert_eq!(a.status(), 503, "{path}: {}", a.text);
    }
    let (status, _) = json(gw.proxy_get("kr.test", "/ok"));
    assert_eq!(status, 400, "still needs its key");
}
