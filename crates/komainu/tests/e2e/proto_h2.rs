//! HTTP/2 on both sides: h2c with prior knowledge on the plain port, `"protocol": "HTTP/2.0"`
//! targets over h2c and over TLS with ALPN, one upstream connection carrying many streams, and a
//! rapid-reset flood (CVE-2023-44487) that costs the gateway nothing lasting.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde_json::{Value, json};

use crate::support::upstream::Upstream;
use crate::support::{Gateway, json};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

type H2 = hyper::client::conn::http2::SendRequest<Empty<Bytes>>;

/// An h2c connection (prior knowledge) to the gateway's plain port.
async fn h2c(gw: &Gateway) -> H2 {
    let tcp = tokio::net::TcpStream::connect(gw.proxy.trim_start_matches("http://"))
        .await
        .unwrap();
    let (send, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tcp))
            .await
            .expect("h2c handshake");
    tokio::spawn(conn);
    send
}

async fn get(send: &mut H2, authority: &str, path: &str) -> (u16, Value) {
    let req = http::Request::get(format!("http://{authority}{path}"))
        .body(Empty::new())
        .unwrap();
    let resp = send.send_request(req).await.expect("answered");
    let status = resp.status().as_u16();
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
}

fn route(gw: &Gateway, host: &str, target: Value) {
    gw.create(
        "routes",
        &json!({"id": host.replace('.', "_"), "frontend": {"domains": [host]},
                "backend": {"targets": [target]}}),
    );
}

#[test]
fn h2c_clients_and_h2c_targets_multiplex_on_one_connection() {
    let up = Upstream::start("h2c-up");
    let gw = Gateway::start();
    route(&gw, "h1.test", up.target());
    let mut h2_target = up.target();
    h2_target["protocol"] = json!("HTTP/2.0");
    route(&gw, "h2.test", h2_target);
    runtime().block_on(async {
        let mut send = h2c(&gw).await;
        let (status, seen) = get(&mut send, "h1.test", "/a").await;
        assert_eq!(
            (status, seen["version"].clone()),
            (200, json!("HTTP/1.1")),
            "{seen}"
        );
        let (status, seen) = get(&mut send, "h2.test", "/b").await;
        assert_eq!(
            (status, seen["version"].clone()),
            (200, json!("HTTP/2.0")),
            "{seen}"
        );

        // 100 streams at once on one client connection, relayed over one upstream connection.
        let before = up.connections();
        let started = Instant::now();
        let calls: Vec<_> = (0..100)
            .map(|i| {
                let mut send = send.clone();
                tokio::spawn(
                    async move { get(&mut send, "h2.test", &format!("/slow/50/{i}")).await },
                )
            })
            .collect();
        let mut answers = Vec::new();
        for c in calls {
            answers.push(c.await.unwrap());
        }
        assert!(answers.iter().all(|(s, _)| *s == 200));
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "concurrent, not one after another: {:?}",
            started.elapsed()
        );
        assert_eq!(
            up.connections() - before,
            0,
            "the h2 upstream connection is shared"
        );
    });
}

#[test]
fn h2_targets_over_tls_negotiate_h2_by_alpn() {
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(cert.signing_key.serialize_der().into());
    let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(vec![cert.cert.der().clone()], key)
    .unwrap();
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    let up = Upstream::start_tls_with("h2-tls-up", config);
    let gw = Gateway::start();
    let target = |protocol: &str| {
        json!({"id": "t", "hostname": "localhost", "ip_address": "127.0.0.1", "port": up.port(),
               "tls": true, "protocol": protocol, "tls_config": {"trust_all": true}})
    };
    route(&gw, "tls2.test", target("HTTP/2.0"));
    route(&gw, "tls1.test", target("HTTP/1.1"));
    let (status, seen) = json(gw.proxy_get("tls2.test", "/"));
    assert_eq!(
        (status, seen["version"].clone()),
        (200, json!("HTTP/2.0")),
        "{seen}"
    );
    let (status, seen) = json(gw.proxy_get("tls1.test", "/"));
    assert_eq!(
        (status, seen["version"].clone()),
        (200, json!("HTTP/1.1")),
        "{seen}"
    );
}

#[test]
fn a_rapid_reset_flood_is_cut_off_and_costs_nothing_lasting() {
    let up = Upstream::start("flood-up");
    let gw = Gateway::start();
    route(&gw, "flood.test", up.target());
    const STREAMS: usize = 20_000;
    let (opened, ended_by_server) = runtime().block_on(async {
        let tcp = tokio::net::TcpStream::connect(gw.proxy.trim_start_matches("http://"))
            .await
            .unwrap();
        let (mut client, conn) = h2::client::handshake(tcp).await.unwrap();
        let conn = tokio::spawn(conn);
        let mut opened = 0;
        for _ in 0..STREAMS {
            let Ok(ready) = client.ready().await else {
                break;
            };
            client = ready;
            let req = http::Request::get("http://flood.test/slow/1000")
                .body(())
                .unwrap();
            let Ok((_resp, mut stream)) = client.send_request(req, true) else {
                break;
            };
            stream.send_reset(h2::Reason::CANCEL);
            opened += 1;
        }
        let ended = tokio::time::timeout(Duration::from_secs(5), conn).await;
        (opened, matches!(ended, Ok(Ok(Err(_)))))
    });
    assert!(
        ended_by_server || opened < STREAMS,
        "the server cut the connection off ({opened} streams opened)"
    );
    // What the flood started upstream is a fraction of it, and the gateway answers at once.
    let started = Instant::now();
    assert_eq!(gw.proxy_get("flood.test", "/").status(), 200);
    assert!(started.elapsed() < Duration::from_secs(1));
    assert!(up.hits() < STREAMS / 2, "{} upstream calls", up.hits());
}
