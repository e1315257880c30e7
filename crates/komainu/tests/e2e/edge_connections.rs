//! Connections an attacker holds open or breaks: a slowloris is closed within the header timeout
//! while normal clients keep their answers, idle and half-sent connections are closed, the
//! connection cap answers 503 without touching established connections, a client's broken upload
//! never opens the backend's circuit breaker, and only trusted proxies say who the client is.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::time::{Duration, Instant};

use crate::support::raw::{addr, exchange, read_answer};
use crate::support::upstream::Upstream;
use crate::support::{Gateway, Options, json};
use reqwest::Method;
use serde_json::json;

fn gateway(args: &[&str]) -> Gateway {
    Gateway::start_with(Options {
        extra_args: args.iter().map(|a| a.to_string()).collect(),
        ..Options::default()
    })
}

fn route(gw: &Gateway, id: &str, host: &str, up: &Upstream, extra: serde_json::Value) {
    let mut doc =
        json!({"id": id, "frontend": {"domains": [host]}, "backend": {"targets": [up.target()]}});
    if let (Some(d), Some(e)) = (doc.as_object_mut(), extra.as_object()) {
        d.extend(e.clone());
    }
    gw.create("routes", &doc);
}

/// Raises this process's open-file limit, for tests holding thousands of sockets.
fn raise_file_limit() {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: plain reads and writes of the struct passed.
    unsafe {
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim);
        lim.rlim_cur = lim.rlim_max;
        libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
    }
}

/// Whether the peer closed `s` (non-blocking check).
fn closed(s: &mut TcpStream) -> bool {
    let mut b = [0u8; 64];
    match s.read(&mut b) {
        Ok(0) => true,
        Ok(_) => false,
        Err(e) => e.kind() != std::io::ErrorKind::WouldBlock,
    }
}

#[test]
fn a_slowloris_is_closed_within_the_header_timeout_while_clients_get_answers() {
    raise_file_limit();
    let up = Upstream::start("up");
    let gw = gateway(&["--header-read-timeout", "1"]);
    route(&gw, "r", "sl.test", &up, json!({}));
    gw.wait_status("sl.test", "/", 200);
    let rss_before = gw.peak_rss_kib();
    const SLOW: usize = 2000;
    let started = Instant::now();
    let mut slow: Vec<TcpStream> = (0..SLOW)
        .map(|_| {
            let mut s = TcpStream::connect(addr(&gw.proxy)).unwrap();
            s.write_all(b"G").unwrap();
            s.set_nonblocking(true).unwrap();
            s
        })
        .collect();
    println!(
        "slowloris: {SLOW} connections opened in {:?}",
        started.elapsed()
    );
    let mut open = vec![true; SLOW];
    let mut worst = Duration::ZERO;
    let head = b"ET / HTTP/1.1\r\nHost: sl.test\r\nX-Slow: ";
    let mut sent = 0;
    while open.iter().any(|o| *o) && started.elapsed() < Duration::from_secs(6) {
        // A byte more on every open connection, as a slowloris keeps them alive.
        for (s, o) in slow.iter_mut().zip(open.iter_mut()) {
            if *o {
                let _ = s.write(&head[sent % head.len()..][..1]);
                if closed(s) {
                    *o = false;
                }
            }
        }
        sent += 1;
        let t = Instant::now();
        let status = gw.proxy_get("sl.test", "/").status();
        worst = worst.max(t.elapsed());
        assert_eq!(status, 200, "a normal client is served meanwhile");
        std::thread::sleep(Duration::from_millis(200));
    }
    let took = started.elapsed();
    let left = open.iter().filter(|o| **o).count();
    let rss_peak = gw.peak_rss_kib();
    println!(
        "slowloris: {SLOW} connections closed in {took:?} (header timeout 1 s); \
         slowest normal answer meanwhile {worst:?}; peak RSS {} -> {} KiB",
        rss_before, rss_peak
    );
    assert_eq!(left, 0, "{left} slow connections still open after {took:?}");
    assert!(
        took < Duration::from_secs(4),
        "closed within the timeout: {took:?}"
    );
    assert!(
        worst < Duration::from_secs(1),
        "normal answers stayed fast: {worst:?}"
    );
    assert!(
        gw.metric("komainu_proxy_client_timeouts_total{phase=\"header\"}") >= Some(SLOW as f64),
        "{}",
        gw.metrics()
    );
}

#[test]
fn idle_and_half_sent_connections_are_closed_but_slow_answers_are_not() {
    let up = Upstream::start("up");
    let gw = gateway(&[
        "--header-read-timeout",
        "1",
        "--keepalive-timeout",
        "1",
        "--body-read-timeout",
        "1",
    ]);
    route(&gw, "r", "idle.test", &up, json!({}));
    gw.wait_status("idle.test", "/", 200);
    let wait = Duration::from_secs(4);
    // Never a byte.
    let t = Instant::now();
    let mut silent = TcpStream::connect(addr(&gw.proxy)).unwrap();
    let a = read_answer(&mut silent, wait);
    assert!(
        a.closed && t.elapsed() < Duration::from_millis(2500),
        "{:?}",
        t.elapsed()
    );
    // Half a head.
    let t = Instant::now();
    let mut half = TcpStream::connect(addr(&gw.proxy)).unwrap();
    half.write_all(b"GET / HTTP/1.1\r\nHost: idle.test\r\n")
        .unwrap();
    let a = read_answer(&mut half, wait);
    assert!(
        a.closed && t.elapsed() < Duration::from_millis(2500),
        "{:?}",
        t.elapsed()
    );
    // Kept alive after an answer, then idle.
    let mut kept = TcpStream::connect(addr(&gw.proxy)).unwrap();
    kept.write_all(b"GET / HTTP/1.1\r\nHost: idle.test\r\n\r\n")
        .unwrap();
    let t = Instant::now();
    let a = read_answer(&mut kept, wait);
    assert_eq!(a.status(), 200);
    assert!(
        a.closed && t.elapsed() < Duration::from_millis(2500),
        "{:?}",
        t.elapsed()
    );
    // Half a body.
    let t = Instant::now();
    let mut body = TcpStream::connect(addr(&gw.proxy)).unwrap();
    body.write_all(b"POST / HTTP/1.1\r\nHost: idle.test\r\nContent-Length: 10\r\n\r\nab")
        .unwrap();
    let a = read_answer(&mut body, wait);
    assert!(
        a.closed && t.elapsed() < Duration::from_millis(2500),
        "{:?} {}",
        t.elapsed(),
        a.text
    );
    // An answer slower than every timer is not cut: the connection is busy, not idle.
    let (status, body) = json(gw.proxy_get("idle.test", "/slow/2500"));
    assert_eq!(status, 200, "{body}");
    let m = gw.metrics();
    for phase in ["idle", "header", "body"] {
        assert!(
            gw.metric(&format!(
                "komainu_proxy_client_timeouts_total{{phase=\"{phase}\"}}"
            )) >= Some(1.0),
            "{phase}: {m}"
        );
    }
}

#[test]
fn over_the_connection_cap_new_clients_get_503_and_established_ones_are_kept() {
    let up = Upstream::start("up");
    let gw = gateway(&["--max-connections", "4"]);
    route(&gw, "r", "cap.test", &up, json!({}));
    gw.wait_status("cap.test", "/", 200);
    // wait_status's client may keep a pooled connection: count from what is open now.
    let held: Vec<TcpStream> = (0..3)
        .map(|_| {
            let mut s = TcpStream::connect(addr(&gw.proxy)).unwrap();
            s.write_all(b"GET / HTTP/1.1\r\nHost: cap.test\r\n\r\n")
                .unwrap();
            let mut b = [0u8; 4096];
            let n = s.read(&mut b).unwrap();
            assert!(String::from_utf8_lossy(&b[..n]).starts_with("HTTP/1.1 200"));
            s
        })
        .collect();
    let mut refused = 0;
    for _ in 0..3 {
        let a = exchange(
            &gw.proxy,
            b"GET / HTTP/1.1\r\nHost: cap.test\r\n\r\n",
            Duration::from_secs(2),
        );
        if a.status() == 503 {
            assert_eq!(
                a.header("otoroshi-error-cause").as_deref(),
                Some("errors.too.many.connections")
            );
            assert!(a.closed);
            refused += 1;
        }
    }
    assert!(refused >= 2, "over the cap: refused {refused} of 3");
    for mut s in held {
        s.write_all(b"GET /again HTTP/1.1\r\nHost: cap.test\r\nConnection: close\r\n\r\n")
            .unwrap();
        let a = read_answer(&mut s, Duration::from_secs(2));
        assert_eq!(a.status(), 200, "an established connection is still served");
    }
    assert!(gw.metric("komainu_proxy_connections_refused_total") >= Some(2.0));
}

#[test]
fn broken_uploads_are_the_clients_fault_and_never_open_the_breaker() {
    let up = Upstream::start("up");
    let gw = gateway(&[]);
    route(
        &gw,
        "cf",
        "cf.test",
        &up,
        json!({"backend": {"targets": [up.target()],
               "client": {"useCircuitBreaker": true, "maxErrors": 3, "sampleInterval": 30000, "retries": 0}}}),
    );
    gw.wait_status("cf.test", "/", 200);
    for _ in 0..25 {
        let mut s = TcpStream::connect(addr(&gw.proxy)).unwrap();
        s.write_all(
            b"POST /upload HTTP/1.1\r\nHost: cf.test\r\nContent-Length: 100000\r\n\r\n0123456789",
        )
        .unwrap();
        std::thread::sleep(Duration::from_millis(5));
        let _ = s.shutdown(Shutdown::Both);
    }
    for _ in 0..10 {
        let a = exchange(
            &gw.proxy,
            b"POST /chunks HTTP/1.1\r\nHost: cf.test\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloXX\r\n0\r\n\r\n",
            Duration::from_secs(3),
        );
        assert_eq!(a.status(), 400, "malformed chunks: {}", a.text);
        assert_eq!(
            a.header("otoroshi-error-cause").as_deref(),
            Some("errors.bad.request.body"),
            "{}",
            a.text
        );
    }
    let resp = gw.proxy_get("cf.test", "/");
    assert_eq!(
        resp.status(),
        200,
        "the breaker stayed closed: {:?}",
        resp.headers().get("otoroshi-error-cause")
    );
    assert!(
        gw.metric("komainu_proxy_requests_refused_total{reason=\"body_aborted\"}") >= Some(10.0)
    );
}

#[test]
fn only_trusted_proxies_say_who_the_client_is() {
    let up = Upstream::start("up");
    let allow = json!({"plugins": [{"plugin": "cp:otoroshi.next.plugins.IpAddressAllowedList",
                                    "config": {"addresses": ["10.0.0.0/8"]}}]});
    let https = json!({"plugins": [{"plugin": "cp:otoroshi.next.plugins.ForceHttpsTraffic"}]});
    let trusting = gateway(&["--trusted-proxies", "127.0.0.1/32,192.168.0.0/16"]);
    let plain = gateway(&[]);
    for gw in [&trusting, &plain] {
        route(gw, "ip", "ip.test", &up, allow.clone());
        route(gw, "tls", "tls.test", &up, https.clone());
        route(gw, "echo", "echo.test", &up, json!({}));
        gw.wait_status("echo.test", "/", 200);
        gw.wait_status("tls.test", "/", 303);
    }
    let call = |gw: &Gateway, host: &str, headers: &[(&str, &str)]| {
        let mut rb = gw.call(Method::GET, host, "/");
        for (k, v) in headers {
            rb = rb.header(*k, *v);
        }
        json(rb.send().unwrap())
    };
    // A trusted peer: the right-most untrusted address of X-Forwarded-For is the client.
    let (status, body) = call(&trusting, "ip.test", &[("x-forwarded-for", "10.1.2.3")]);
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["headers"]["x-forwarded-for"], "10.1.2.3, 127.0.0.1");
    let (status, _) = call(
        &trusting,
        "ip.test",
        &[("x-forwarded-for", "10.1.2.3, 172.16.0.9")],
    );
    assert_eq!(status, 403, "172.16.0.9 is not trusted: it is the client");
    let (status, _) = call(
        &trusting,
        "ip.test",
        &[("x-forwarded-for", "10.1.2.3, 192.168.4.4")],
    );
    assert_eq!(
        status, 200,
        "192.168.4.4 is a trusted hop: 10.1.2.3 is the client"
    );
    let (status, _) = call(&trusting, "tls.test", &[("x-forwarded-proto", "https")]);
    assert_eq!(status, 200, "a trusted proxy terminated TLS");
    let (_, body) = call(
        &trusting,
        "echo.test",
        &[("x-real-ip", "10.1.1.1"), ("forwarded", "for=10.1.1.1")],
    );
    assert_eq!(body["headers"]["x-real-ip"], "10.1.1.1");
    // An untrusted peer: what it says of itself is not believed, nor passed on.
    let (status, _) = call(&plain, "ip.test", &[("x-forwarded-for", "10.1.2.3")]);
    assert_eq!(status, 403);
    let (status, _) = call(&plain, "tls.test", &[("x-forwarded-proto", "https")]);
    assert_eq!(status, 303);
    let (_, body) = call(
        &plain,
        "echo.test",
        &[
            ("x-forwarded-for", "10.1.2.3"),
            ("x-real-ip", "10.1.1.1"),
            ("forwarded", "for=10.1.1.1"),
        ],
    );
    let h = &body["headers"];
    assert_eq!(h["x-forwarded-for"], "127.0.0.1");
    assert!(
        h.get("x-real-ip").is_none() && h.get("forwarded").is_none(),
        "{h}"
    );
}
