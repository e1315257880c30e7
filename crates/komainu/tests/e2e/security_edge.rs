//! The edge against clients that hold on: HTTP/2 connections that only answer (or send) PINGs
//! are idled out like HTTP/1 ones, and a silent HTTP/2 request body gets the body timeout.

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::Frame;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use serde_json::{Value, json};

use crate::support::upstream::Upstream;
use crate::support::{Gateway, Options};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// A request body that sends its first bytes, then nothing, ever.
struct Silent(Option<Bytes>);

impl hyper::body::Body for Silent {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        match self.0.take() {
            Some(first) => Poll::Ready(Some(Ok(Frame::data(first)))),
            None => Poll::Pending,
        }
    }
}

type Body = http_body_util::combinators::BoxBody<Bytes, Infallible>;

/// An h2c connection that PINGs the gateway every 100 ms; the task driving it ends when the
/// gateway closes it.
async fn pinging_h2c(
    proxy: &str,
) -> (
    hyper::client::conn::http2::SendRequest<Body>,
    tokio::task::JoinHandle<()>,
) {
    let tcp = tokio::net::TcpStream::connect(proxy.trim_start_matches("http://"))
        .await
        .unwrap();
    let (send, conn) = hyper::client::conn::http2::Builder::new(TokioExecutor::new())
        .timer(TokioTimer::new())
        .keep_alive_interval(Duration::from_millis(100))
        .keep_alive_while_idle(true)
        .handshake(TokioIo::new(tcp))
        .await
        .expect("h2c handshake");
    let driver = tokio::spawn(async move {
        let _ = conn.await;
    });
    (send, driver)
}

fn request(path: &str, body: Body) -> http::Request<Body> {
    http::Request::post(format!("http://h2.test{path}"))
        .body(body)
        .unwrap()
}

fn empty() -> Body {
    http_body_util::Empty::new().boxed()
}

#[test]
fn h2_connections_that_only_ping_are_idled_out_and_their_places_freed() {
    let up = Upstream::start("h2-idle");
    let gw = Gateway::start_with(Options {
        extra_args: ["--keepalive-timeout", "1", "--max-connections", "40"]
            .map(String::from)
            .to_vec(),
        ..Options::default()
    });
    gw.create(
        "routes",
        &json!({"id": "h2", "frontend": {"domains": ["h2.test"]},
                "backend": {"targets": [up.target()]}}),
    );
    runtime().block_on(async {
        let mut pingers = Vec::new();
        for _ in 0..39 {
            let (mut send, driver) = pinging_h2c(&gw.proxy).await;
            let resp = send.send_request(request("/", empty())).await.unwrap();
            assert_eq!(resp.status(), 200);
            pingers.push((send, driver));
        }
        // One more holds a slow call past the keep-alive timeout: it is busy, not idle.
        let (mut busy, busy_driver) = pinging_h2c(&gw.proxy).await;
        let slow = tokio::spawn(async move {
            let resp = busy.send_request(request("/slow/2500", empty())).await;
            resp.map(|r| r.status().as_u16())
        });
        let started = Instant::now();
        for (_, driver) in pingers {
            tokio::time::timeout(Duration::from_secs(10), driver)
                .await
                .expect("closed by the gateway although it kept PINGing")
                .unwrap();
        }
        let idled_in = started.elapsed();
        assert_eq!(slow.await.unwrap().unwrap(), 200, "the busy one was served");
        assert!(idled_in < Duration::from_secs(5), "{idled_in:?}");
        // Their places are free: a new client is served.
        let (mut send, _) = pinging_h2c(&gw.proxy).await;
        let resp = send.send_request(request("/", empty())).await.unwrap();
        assert_eq!(resp.status(), 200);
        drop(busy_driver);
    });
    assert!(
        gw.metric("komainu_proxy_client_timeouts_total{phase=\"idle\"}")
            .is_some_and(|n| n >= 39.0),
        "{}",
        gw.metrics()
    );
}

#[test]
fn a_silent_h2_request_body_gets_the_body_timeout_not_the_backends() {
    let up = Upstream::start("h2-body");
    let gw = Gateway::start_with(Options {
        extra_args: ["--body-read-timeout", "1"].map(String::from).to_vec(),
        ..Options::default()
    });
    gw.create(
        "routes",
        &json!({"id": "h2", "frontend": {"domains": ["h2.test"]},
                "backend": {"targets": [up.target()]}}),
    );
    runtime().block_on(async {
        let (mut send, _driver) = pinging_h2c(&gw.proxy).await;
        let started = Instant::now();
        let body = Silent(Some(Bytes::from_static(b"{\"first\": "))).boxed();
        let resp = send
            .send_request(request("/echo-body", body))
            .await
            .unwrap();
        let status = resp.status().as_u16();
        let bytes = resp.into_body().collect().await.unwrap().to_bytes();
        let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        assert_eq!(status, 408, "{body}");
        assert_eq!(body["error"], "errors.request.body.timeout");
        assert!(started.elapsed() < Duration::from_secs(5));
    });
}

/// A WebSocket backend that accepts every upgrade and reads (and drops) whatever comes.
fn ws_sink() -> u16 {
    use std::io::{BufRead, BufReader, Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut key = String::new();
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                        break;
                    }
                    if let Some(v) = line.to_ascii_lowercase().strip_prefix("sec-websocket-key:") {
                        key = v.trim().to_string();
                    }
                }
                let accept = komainu_test_peers::tokio_tungstenite::tungstenite::handshake::derive_accept_key(
                    key.as_bytes(),
                );
                let mut s = stream;
                let _ = write!(
                    s,
                    "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n\r\n"
                );
                let mut buf = vec![0u8; 64 << 10];
                while matches!(reader.read(&mut buf), Ok(n) if n > 0) {}
            });
        }
    });
    port
}

/// A raw WebSocket client through the gateway to `host`: the stream after the 101.
fn raw_ws(gw: &Gateway, host: &str) -> std::net::TcpStream {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(gw.proxy.trim_start_matches("http://")).unwrap();
    write!(
        s,
        "GET /ws HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    .unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        s.read_exact(&mut byte).unwrap();
        head.push(byte[0]);
    }
    assert!(
        head.starts_with(b"HTTP/1.1 101"),
        "{}",
        String::from_utf8_lossy(&head)
    );
    s
}

/// A masked client frame header: `first` byte and a payload of `len`.
fn frame_head(first: u8, len: u64) -> Vec<u8> {
    let mut h = vec![first, 0x80 | 127];
    h.extend_from_slice(&len.to_be_bytes());
    h.extend_from_slice(&[9, 9, 9, 9]);
    h
}

#[test]
fn websocket_relays_hold_no_message_and_pings_do_not_keep_them_alive() {
    use std::io::{Read, Write};
    let port = ws_sink();
    let gw = Gateway::start();
    let target = json!({"id": "sink", "hostname": "127.0.0.1", "port": port});
    gw.create(
        "routes",
        &json!({"id": "sink", "frontend": {"domains": ["sink.test"]},
                "backend": {"targets": [target], "client": {"idle_timeout": 500}}}),
    );
    let before = gw.rss_kib();
    // 30 connections, each sending 15 MiB of a message that never ends.
    let held: Vec<_> = std::thread::scope(|s| {
        let senders: Vec<_> = (0..30)
            .map(|_| {
                s.spawn(|| {
                    let mut ws = raw_ws(&gw, "sink.test");
                    ws.write_all(&frame_head(0x02, 15 << 20)).unwrap();
                    let chunk = vec![0u8; 256 << 10];
                    for _ in 0..60 {
                        ws.write_all(&chunk).unwrap();
                    }
                    ws
                })
            })
            .collect();
        senders.into_iter().map(|t| t.join().unwrap()).collect()
    });
    let grown = gw.peak_rss_kib().saturating_sub(before);
    eprintln!("measured: the gateway's peak RSS grew by {grown} KiB");
    assert!(
        grown < 32 * 1024,
        "450 MiB passed; the gateway grew by {grown} KiB"
    );
    drop(held);

    // A message begun, then only PINGs: idle all the same, closed with 1001.
    let mut ws = raw_ws(&gw, "sink.test");
    ws.write_all(&frame_head(0x02, 10)).unwrap();
    ws.write_all(&[0; 10]).unwrap();
    ws.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let started = Instant::now();
    let mut got = Vec::new();
    while started.elapsed() < Duration::from_secs(5) {
        let _ = ws.write_all(&[0x89, 0x80, 1, 2, 3, 4]); // a masked, empty PING
        let mut buf = [0u8; 64];
        if let Ok(n) = ws.read(&mut buf) {
            got.extend_from_slice(&buf[..n]);
            if n == 0 || got.len() >= 4 {
                break;
            }
        }
    }
    assert_eq!(&got[..4], &[0x88, 6, 0x03, 0xe9], "a close 1001: {got:?}");
    assert!(started.elapsed() < Duration::from_secs(3));
}
