//! Request smuggling and the request limits, on the wire: conflicting or unusual framing is
//! refused with 400 and the connection closed, and the bytes after it never reach the upstream as
//! a second request; heads, targets and bodies over their limits get 431, 414 and 413.

use std::time::Duration;

use crate::support::raw::{Answer, exchange};
use crate::support::upstream::Upstream;
use crate::support::{Gateway, Options};
use serde_json::json;

const WAIT: Duration = Duration::from_secs(3);

fn gateway(up: &Upstream, args: &[&str]) -> Gateway {
    let gw = Gateway::start_with(Options {
        extra_args: args.iter().map(|a| a.to_string()).collect(),
        ..Options::default()
    });
    gw.create(
        "routes",
        &json!({"id": "s", "frontend": {"domains": ["s.test"]}, "backend": {"targets": [up.target()]}}),
    );
    gw.wait_status("s.test", "/", 200);
    gw
}

fn assert_refused(a: &Answer, what: &str) {
    assert_eq!(a.status(), 400, "{what}: {}", a.text);
    assert_eq!(a.responses(), 1, "{what}: one answer only: {}", a.text);
    assert!(a.closed, "{what}: connection closed");
}

const SMUGGLED: &str = "GET /smuggled HTTP/1.1\r\nHost: s.test\r\n\r\n";

#[test]
fn smuggling_shapes_are_refused_and_never_reach_the_upstream() {
    let up = Upstream::start("s");
    let gw = gateway(&up, &[]);
    let cases: Vec<(&str, String)> = vec![
        (
            "Content-Length with Transfer-Encoding",
            format!(
                "POST / HTTP/1.1\r\nHost: s.test\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n{SMUGGLED}"
            ),
        ),
        (
            "differing Content-Lengths",
            format!(
                "POST / HTTP/1.1\r\nHost: s.test\r\nContent-Length: 0\r\nContent-Length: 41\r\n\r\n{SMUGGLED}"
            ),
        ),
        (
            "chunked, identity",
            format!(
                "POST / HTTP/1.1\r\nHost: s.test\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n{SMUGGLED}"
            ),
        ),
        (
            "identity, chunked",
            format!(
                "POST / HTTP/1.1\r\nHost: s.test\r\nTransfer-Encoding: identity, chunked\r\n\r\n0\r\n\r\n{SMUGGLED}"
            ),
        ),
        (
            "chunked, chunked",
            format!(
                "POST / HTTP/1.1\r\nHost: s.test\r\nTransfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n{SMUGGLED}"
            ),
        ),
        (
            "gzip, chunked",
            format!(
                "POST / HTTP/1.1\r\nHost: s.test\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n{SMUGGLED}"
            ),
        ),
        (
            "two Transfer-Encoding headers",
            format!(
                "POST / HTTP/1.1\r\nHost: s.test\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n{SMUGGLED}"
            ),
        ),
        (
            "obs-fold",
            format!(
                "GET / HTTP/1.1\r\nHost: s.test\r\nX-A: 1\r\n Transfer-Encoding: chunked\r\n\r\n{SMUGGLED}"
            ),
        ),
        (
            "bare LF splitting a header",
            format!(
                "POST / HTTP/1.1\r\nHost: s.test\r\nX-A: 1\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n{SMUGGLED}"
            ),
        ),
        (
            "bare LF ending the head",
            format!("GET / HTTP/1.1\nHost: s.test\n\n{SMUGGLED}"),
        ),
        (
            "NUL in a header value",
            format!("GET / HTTP/1.1\r\nHost: s.test\r\nX-A: a\0b\r\n\r\n{SMUGGLED}"),
        ),
        (
            "bare LF in a chunk size line",
            format!(
                "POST / HTTP/1.1\r\nHost: s.test\r\nTransfer-Encoding: chunked\r\n\r\n0\n\r\n{SMUGGLED}"
            ),
        ),
    ];
    for (what, request) in &cases {
        let a = exchange(&gw.proxy, request.as_bytes(), WAIT);
        assert_refused(&a, what);
    }
    let seen = up.seen();
    assert!(
        !seen.iter().any(|s| s.contains("smuggled")),
        "a smuggled request reached the upstream: {seen:?}"
    );
}

#[test]
fn hosts_are_exactly_one() {
    let up = Upstream::start("s");
    let gw = gateway(&up, &[]);
    let before = up.seen().len();
    for (what, request) in [
        (
            "two Host headers",
            "GET / HTTP/1.1\r\nHost: s.test\r\nHost: other.test\r\n\r\n",
        ),
        ("no Host", "GET / HTTP/1.1\r\n\r\n"),
        ("no Host, HTTP/1.0", "GET / HTTP/1.0\r\n\r\n"),
        (
            "a Host with a space",
            "GET / HTTP/1.1\r\nHost: s.test evil\r\n\r\n",
        ),
    ] {
        let a = exchange(&gw.proxy, request.as_bytes(), WAIT);
        assert_refused(&a, what);
        assert_eq!(
            a.header("otoroshi-error-cause").as_deref(),
            Some("errors.bad.request.host"),
            "{what}: {}",
            a.text
        );
    }
    assert_eq!(up.seen().len(), before);
    // An absolute-form target names the host: routed and forwarded by it, whatever Host says.
    let a = exchange(
        &gw.proxy,
        b"GET http://s.test/abs HTTP/1.1\r\nHost: other.test\r\nConnection: close\r\n\r\n",
        WAIT,
    );
    assert_eq!(a.status(), 200, "{}", a.text);
    let body: serde_json::Value =
        serde_json::from_str(a.text.split("\r\n\r\n").nth(1).unwrap_or("{}")).unwrap();
    assert_eq!(body["headers"]["host"], "s.test");
    assert_eq!(body["path"], "/abs");
}

#[test]
fn heads_targets_and_bodies_over_their_limits() {
    let up = Upstream::start("s");
    let gw = gateway(
        &up,
        &[
            "--max-header-bytes",
            "4096",
            "--max-headers",
            "20",
            "--max-uri-bytes",
            "256",
            "--max-request-body",
            "1000",
        ],
    );
    let big = "x".repeat(5000);
    let a = exchange(
        &gw.proxy,
        format!("GET / HTTP/1.1\r\nHost: s.test\r\nX-Big: {big}\r\n\r\n").as_bytes(),
        WAIT,
    );
    assert_eq!(a.status(), 431, "{}", a.text);
    let many: String = (0..30).map(|i| format!("X-H{i}: v\r\n")).collect();
    let a = exchange(
        &gw.proxy,
        format!("GET / HTTP/1.1\r\nHost: s.test\r\n{many}\r\n").as_bytes(),
        WAIT,
    );
    assert_eq!(a.status(), 431, "{}", a.text);
    let long = "a".repeat(300);
    let a = exchange(
        &gw.proxy,
        format!("GET /{long} HTTP/1.1\r\nHost: s.test\r\n\r\n").as_bytes(),
        WAIT,
    );
    assert_eq!(a.status(), 414, "{}", a.text);
    assert_eq!(
        a.header("otoroshi-error-cause").as_deref(),
        Some("errors.uri.too.long")
    );
    // Declared too large: refused before anything is read or sent upstream.
    let before = up.seen().len();
    let a = exchange(
        &gw.proxy,
        b"POST / HTTP/1.1\r\nHost: s.test\r\nContent-Length: 5000\r\n\r\n",
        WAIT,
    );
    assert_eq!(a.status(), 413, "{}", a.text);
    assert_eq!(
        a.header("otoroshi-error-cause").as_deref(),
        Some("errors.entity.too.big")
    );
    assert_eq!(up.seen().len(), before);
    // Chunked past the limit: cut where it crosses it, the client still hears 413.
    let chunk = "y".repeat(600);
    let a = exchange(
        &gw.proxy,
        format!("POST / HTTP/1.1\r\nHost: s.test\r\nTransfer-Encoding: chunked\r\n\r\n258\r\n{chunk}\r\n258\r\n{chunk}\r\n0\r\n\r\n").as_bytes(),
        WAIT,
    );
    assert_eq!(a.status(), 413, "{}", a.text);
    // Within the limit: fine.
    let a = exchange(
        &gw.proxy,
        format!("POST / HTTP/1.1\r\nHost: s.test\r\nContent-Length: 600\r\nConnection: close\r\n\r\n{chunk}").as_bytes(),
        WAIT,
    );
    assert_eq!(a.status(), 200, "{}", a.text);
}

#[test]
fn a_route_sets_its_own_body_limit() {
    let up = Upstream::start("s");
    let gw = gateway(&up, &[]);
    gw.create(
        "routes",
        &json!({"id": "small", "frontend": {"domains": ["small.test"]},
                "backend": {"targets": [up.target()]},
                "plugins": [{"plugin": "cp:otoroshi.next.plugins.RequestBodyLengthLimiter",
                             "config": {"max_length": 10, "fail": true}}]}),
    );
    gw.create(
        "routes",
        &json!({"id": "cut", "frontend": {"domains": ["cut.test"]},
                "backend": {"targets": [up.target()]},
                "plugins": [{"plugin": "cp:otoroshi.next.plugins.RequestBodyLengthLimiter",
                             "config": {"max_length": 4}}]}),
    );
    gw.wait_status("small.test", "/", 200);
    gw.wait_status("cut.test", "/", 200);
    // Without `fail`, Otoroshi's way: the body is cut at the bound and its start forwarded.
    let a = exchange(
        &gw.proxy,
        b"POST / HTTP/1.1\r\nHost: cut.test\r\nContent-Length: 11\r\nConnection: close\r\n\r\nhello world",
        WAIT,
    );
    assert_eq!(a.status(), 200, "{}", a.text);
    assert!(a.text.contains("\"body_bytes\":4"), "{}", a.text);
    let a = exchange(
        &gw.proxy,
        b"POST / HTTP/1.1\r\nHost: small.test\r\nContent-Length: 11\r\n\r\nhello world",
        WAIT,
    );
    assert_eq!(a.status(), 413, "{}", a.text);
    let a = exchange(
        &gw.proxy,
        b"POST / HTTP/1.1\r\nHost: small.test\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello",
        WAIT,
    );
    assert_eq!(a.status(), 200, "{}", a.text);
}
