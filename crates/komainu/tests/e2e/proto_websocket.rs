//! WebSocket through the real proxy with real peers (tokio-tungstenite on both ends): messages both
//! ways on a `Websocket` API, plugins on the upgrade request (keys, quotas), the idle timeout, the
//! message bound, and the close frame 1001 of a draining gateway.

use std::time::{Duration, Instant};

use komainu_test_peers::futures_util::{SinkExt, StreamExt};
use komainu_test_peers::tokio_tungstenite::tungstenite::client::IntoClientRequest;
use komainu_test_peers::tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use komainu_test_peers::tokio_tungstenite::tungstenite::{Error as WsError, Message};
use komainu_test_peers::tokio_tungstenite::{MaybeTlsStream, WebSocketStream, connect_async};
use serde_json::{Value, json};
use tokio::net::TcpStream;

use crate::support::{Gateway, json, keyless_plan};

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// A WebSocket echo server on its own runtime.
pub struct WsUpstream {
    pub port: u16,
    _rt: tokio::runtime::Runtime,
}

impl WsUpstream {
    pub fn start() -> WsUpstream {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let listener = rt
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let port = listener.local_addr().unwrap().port();
        rt.spawn(komainu_test_peers::ws::serve(listener));
        WsUpstream { port, _rt: rt }
    }

    pub fn target(&self) -> Value {
        json!({"id": "ws", "hostname": "127.0.0.1", "port": self.port})
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// Opens a WebSocket to `host` through the proxy, with extra request headers.
async fn open(gw_proxy: &str, host: &str, headers: &[(&str, &str)]) -> Result<Ws, WsError> {
    let url = format!("{}/chat", gw_proxy.replace("http://", "ws://"));
    let mut req = url.into_client_request().unwrap();
    req.headers_mut().insert("host", host.parse().unwrap());
    for (k, v) in headers {
        req.headers_mut().insert(
            http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
            v.parse().unwrap(),
        );
    }
    connect_async(req).await.map(|(ws, _)| ws)
}

/// The status a refused upgrade was answered with.
fn refused_status(e: WsError) -> u16 {
    match e {
        WsError::Http(resp) => resp.status().as_u16(),
        other => panic!("expected an HTTP refusal, got {other}"),
    }
}

async fn echo(ws: &mut Ws, msg: Message) -> Message {
    ws.send(msg).await.unwrap();
    tokio::time::timeout(Duration::from_secs(5), ws.next())
        .await
        .expect("an answer in time")
        .expect("open")
        .expect("a message")
}

/// The next close frame's code (anything else before it is skipped).
async fn close_code(ws: &mut Ws, within: Duration) -> Option<CloseCode> {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        match tokio::time::timeout_at(deadline, ws.next()).await {
            Ok(Some(Ok(Message::Close(frame)))) => return frame.map(|f| f.code),
            Ok(Some(Ok(_))) => continue,
            _ => return None,
        }
    }
}

#[test]
fn messages_flow_both_ways_on_a_websocket_api() {
    let up = WsUpstream::start();
    let gw = Gateway::start();
    gw.create(
        "apis",
        &json!({"id": "chat", "name": "chat", "blueprint": "Websocket", "state": "published",
                "domain": "chat.test",
                "backends": [{"id": "b", "backend": {"targets": [up.target()]}}],
                "flows": [{"id": "f", "plugins": {"slots": []}}],
                "documentation": {"plans": [keyless_plan()]},
                "routes": [{"id": "r", "frontend": {"domains": ["chat.test"]},
                            "backend": "b", "flow_ref": "f"}]}),
    );
    let rt = runtime();
    rt.block_on(async {
        let mut ws = open(&gw.proxy, "chat.test", &[]).await.expect("upgraded");
        assert_eq!(
            echo(&mut ws, Message::text("hello")).await,
            Message::text("hello")
        );
        let big = vec![7u8; 1 << 20];
        assert_eq!(
            echo(&mut ws, Message::binary(big.clone())).await,
            Message::binary(big),
            "a 1 MiB message intact"
        );
        let Message::Text(headers) = echo(&mut ws, Message::text("__headers__")).await else {
            panic!("headers as text")
        };
        let headers = headers.as_str().to_ascii_lowercase();
        assert!(headers.contains("host: chat.test"), "{headers}");
        assert!(headers.contains("x-forwarded-for: 127.0.0.1"), "{headers}");
        assert!(headers.contains("upgrade: websocket"), "{headers}");
        assert!(headers.contains("sec-websocket-key:"), "{headers}");
        // Many messages in flight at once arrive in order.
        for i in 0..200 {
            ws.send(Message::text(format!("m{i}"))).await.unwrap();
        }
        for i in 0..200 {
            let m = ws.next().await.unwrap().unwrap();
            assert_eq!(m, Message::text(format!("m{i}")));
        }
        ws.close(None).await.unwrap();
        while let Some(Ok(_)) = ws.next().await {}
    });
    assert_eq!(gw.metric("komainu_proxy_websockets_total"), Some(1.0));
    gw.wait_metric("komainu_proxy_websockets_open", 0.0);
}

#[test]
fn upgrades_pass_the_plugins_and_count_against_quotas() {
    let up = WsUpstream::start();
    let gw = Gateway::start();
    gw.create("groups", &json!({"id": "ws_group", "name": "ws"}));
    gw.create(
        "routes",
        &json!({"id": "r-ws", "groups": ["ws_group"], "frontend": {"domains": ["keyed.test"]},
                "backend": {"targets": [up.target()]},
                "plugins": [{"plugin": "cp:otoroshi.next.plugins.ApikeyCalls", "config": {}}]}),
    );
    gw.create(
        "apikeys",
        &json!({"clientId": "wskey", "clientSecret": "ws-secret", "authorizedEntities": ["group_ws_group"],
                "dailyQuota": 2}),
    );
    let key = [
        ("otoroshi-client-id", "wskey"),
        ("otoroshi-client-secret", "ws-secret"),
    ];
    let rt = runtime();
    rt.block_on(async {
        let err = open(&gw.proxy, "keyed.test", &[])
            .await
            .expect_err("refused");
        assert_eq!(refused_status(err), 400, "no key, no upgrade");
        let err = open(
            &gw.proxy,
            "keyed.test",
            &[key[0], ("otoroshi-client-secret", "wrong")],
        )
        .await
        .expect_err("refused");
        assert_eq!(refused_status(err), 401);
        for _ in 0..2 {
            let mut ws = open(&gw.proxy, "keyed.test", &key)
                .await
                .expect("a key opens it");
            assert_eq!(
                echo(&mut ws, Message::text("hi")).await,
                Message::text("hi")
            );
        }
        let err = open(&gw.proxy, "keyed.test", &key)
            .await
            .expect_err("quota");
        assert_eq!(refused_status(err), 429, "each upgrade is a call");
    });
    let (_, quotas) = json(gw.get("/api/apikeys/wskey/quotas"));
    // The refused third upgrade is counted too, as every call over the quota is.
    assert_eq!(quotas["currentCallsPerDay"], 3, "{quotas}");
}

#[test]
fn idle_relays_close_with_1001_and_oversized_messages_are_refused() {
    let up = WsUpstream::start();
    let gw = Gateway::start();
    let mut target = up.target();
    target["id"] = json!("idle");
    gw.create(
        "routes",
        &json!({"id": "r-idle", "frontend": {"domains": ["idle.test"]},
                "backend": {"targets": [target], "client": {"idle_timeout": 300}}}),
    );
    gw.create(
        "routes",
        &json!({"id": "r-big", "frontend": {"domains": ["big.test"]},
                "backend": {"targets": [up.target()]}}),
    );
    let rt = runtime();
    rt.block_on(async {
        let mut ws = open(&gw.proxy, "idle.test", &[]).await.unwrap();
        assert_eq!(echo(&mut ws, Message::text("a")).await, Message::text("a"));
        let started = Instant::now();
        assert_eq!(
            close_code(&mut ws, Duration::from_secs(5)).await,
            Some(CloseCode::Away)
        );
        assert!(
            started.elapsed() >= Duration::from_millis(250),
            "not before the idle timeout"
        );

        // More than 16 MiB in one message: the relay ends instead of buffering it.
        let mut ws = open(&gw.proxy, "big.test", &[]).await.unwrap();
        let _ = ws.send(Message::binary(vec![0u8; 17 << 20])).await;
        let answer = tokio::time::timeout(Duration::from_secs(5), ws.next())
            .await
            .unwrap();
        assert!(
            !matches!(answer, Some(Ok(Message::Binary(_)))),
            "never echoed: {answer:?}"
        );
    });
    gw.wait_metric("komainu_proxy_websockets_open", 0.0);
}

#[test]
fn a_draining_gateway_says_going_away() {
    let up = WsUpstream::start();
    let mut gw = Gateway::start();
    gw.create(
        "routes",
        &json!({"id": "r-drain", "frontend": {"domains": ["drain.test"]},
                "backend": {"targets": [up.target()]}}),
    );
    let rt = runtime();
    let mut ws = rt.block_on(async {
        let mut ws = open(&gw.proxy, "drain.test", &[]).await.unwrap();
        assert_eq!(echo(&mut ws, Message::text("x")).await, Message::text("x"));
        ws
    });
    let pid = gw.pid().to_string();
    std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    let code = rt.block_on(close_code(&mut ws, Duration::from_secs(5)));
    assert_eq!(code, Some(CloseCode::Away));
    let status = gw.wait_exit();
    assert!(status.success(), "a clean exit: {status:?}");
}
