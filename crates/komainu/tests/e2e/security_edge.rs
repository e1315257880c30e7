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
