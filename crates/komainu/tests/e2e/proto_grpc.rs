//! gRPC end to end with a real tonic client and server: a `gRPC` API (its targets speak h2c), every
//! streaming shape, statuses carried in trailers, deadlines the gateway enforces, and the gateway's
//! own refusals answered as gRPC statuses with the cause id in `grpc-message`.

use std::time::{Duration, Instant};

use komainu_test_peers::echo::EchoRequest;
use komainu_test_peers::echo::echo_client::EchoClient;
use komainu_test_peers::tokio_stream::StreamExt;
use komainu_test_peers::tokio_stream::wrappers::ReceiverStream;
use komainu_test_peers::tonic::transport::{Channel, Endpoint};
use komainu_test_peers::tonic::{Code, Request, Status};
use serde_json::{Value, json};

use crate::support::{Gateway, keyless_plan};

/// The echo service on its own runtime.
struct GrpcUpstream {
    port: u16,
    _rt: tokio::runtime::Runtime,
}

impl GrpcUpstream {
    fn start() -> GrpcUpstream {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let listener = rt
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let port = listener.local_addr().unwrap().port();
        rt.spawn(komainu_test_peers::grpc::serve(listener));
        GrpcUpstream { port, _rt: rt }
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// A client of the gateway's plain port speaking to `authority` (h2c, prior knowledge).
async fn client(gw: &Gateway, authority: &str) -> EchoClient<Channel> {
    let channel = Endpoint::from_shared(gw.proxy.clone())
        .unwrap()
        .origin(format!("http://{authority}").parse().unwrap())
        .connect()
        .await
        .expect("h2c to the gateway");
    EchoClient::new(channel)
}

fn msg(text: &str) -> EchoRequest {
    EchoRequest {
        message: text.into(),
        delay_ms: 0,
    }
}

fn with_key(mut req: Request<EchoRequest>, id: &str, secret: &str) -> Request<EchoRequest> {
    req.metadata_mut()
        .insert("otoroshi-client-id", id.parse().unwrap());
    req.metadata_mut()
        .insert("otoroshi-client-secret", secret.parse().unwrap());
    req
}

fn grpc_api(id: &str, host: &str, port: u16, plugins: Value) -> Value {
    json!({"id": id, "name": id, "blueprint": "gRPC", "state": "published", "domain": host,
           "backends": [{"id": "b", "backend": {"targets": [
               {"id": "t", "hostname": "127.0.0.1", "port": port}]}}],
           "flows": [{"id": "f", "plugins": {"slots": plugins}}],
           "documentation": {"plans": [keyless_plan()]},
           "routes": [{"id": "r", "frontend": {"domains": [host]}, "backend": "b", "flow_ref": "f"}]})
}

fn refusal(status: &Status) -> (Code, &str) {
    (status.code(), status.message())
}

#[test]
fn every_streaming_shape_crosses_the_gateway_with_its_trailers() {
    let up = GrpcUpstream::start();
    let gw = Gateway::start();
    gw.create("apis", &grpc_api("echo", "grpc.test", up.port, json!([])));
    runtime().block_on(async {
        let mut c = client(&gw, "grpc.test").await;
        let reply = c.unary(msg("hello")).await.expect("unary").into_inner();
        assert_eq!(reply.message, "hello");
        assert!(
            reply
                .metadata
                .iter()
                .any(|m| m.starts_with("x-forwarded-for=")),
            "{:?}",
            reply.metadata
        );

        // The upstream's own error status travels in its trailers.
        let err = c.unary(msg("fail")).await.unwrap_err();
        assert_eq!(refusal(&err), (Code::InvalidArgument, "asked to fail"));

        // Server streaming, then an error status after the messages: real trailers.
        let mut stream = c.server_stream(msg("fail")).await.unwrap().into_inner();
        let mut got = Vec::new();
        let end = loop {
            match stream.next().await {
                Some(Ok(r)) => got.push(r.message),
                Some(Err(s)) => break Some(s),
                None => break None,
            }
        };
        assert_eq!(got, ["fail 0", "fail 1", "fail 2"]);
        assert_eq!(end.map(|s| s.code()), Some(Code::DataLoss));

        // Client streaming.
        let reqs = komainu_test_peers::tokio_stream::iter(["a", "b", "c"].map(msg));
        let joined = c.client_stream(reqs).await.unwrap().into_inner();
        assert_eq!(joined.message, "a,b,c");

        // Bidirectional, interactively: each answer comes back before the next question is sent,
        // so nothing waits for the end of a stream.
        let (tx, rx) = tokio::sync::mpsc::channel(1);
        let mut answers = c.bidi(ReceiverStream::new(rx)).await.unwrap().into_inner();
        for i in 0..20 {
            tx.send(msg(&format!("q{i}"))).await.unwrap();
            let a = tokio::time::timeout(Duration::from_secs(5), answers.next())
                .await
                .expect("answered before the stream ends")
                .unwrap()
                .unwrap();
            assert_eq!(a.message, format!("q{i}"));
        }
        drop(tx);
        assert!(answers.next().await.is_none());
    });
}

/// A unary call as raw HTTP/2 (hyper, h2c): what the gateway answers, with no gRPC library timer
/// in the way. Returns the response head and how long it took.
async fn raw_unary(
    gw: &Gateway,
    authority: &str,
    req: &EchoRequest,
    grpc_timeout: &str,
) -> (http::response::Parts, Duration) {
    use komainu_test_peers::prost::Message;
    let payload = req.encode_to_vec();
    let mut frame = vec![0u8];
    frame.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    frame.extend_from_slice(&payload);
    let tcp = tokio::net::TcpStream::connect(gw.proxy.trim_start_matches("http://"))
        .await
        .unwrap();
    let (mut send, conn) = hyper::client::conn::http2::handshake(
        hyper_util::rt::TokioExecutor::new(),
        hyper_util::rt::TokioIo::new(tcp),
    )
    .await
    .unwrap();
    tokio::spawn(conn);
    let request = http::Request::post(format!("http://{authority}/echo.Echo/Unary"))
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .header("grpc-timeout", grpc_timeout)
        .body(http_body_util::Full::new(bytes::Bytes::from(frame)))
        .unwrap();
    let started = Instant::now();
    let resp = send.send_request(request).await.unwrap();
    let took = started.elapsed();
    (resp.into_parts().0, took)
}

#[test]
fn grpc_timeout_bounds_the_backend_call() {
    let up = GrpcUpstream::start();
    let gw = Gateway::start();
    gw.create("apis", &grpc_api("slow", "slow.test", up.port, json!([])));
    runtime().block_on(async {
        let late = EchoRequest {
            message: "late".into(),
            delay_ms: 3000,
        };
        let (head, took) = raw_unary(&gw, "slow.test", &late, "300m").await;
        assert_eq!(head.status, 200, "gRPC statuses ride on HTTP 200");
        assert_eq!(
            head.headers["grpc-status"], "4",
            "DEADLINE_EXCEEDED: {head:?}"
        );
        assert_eq!(head.headers["grpc-message"], "errors.request.timeout");
        assert!(
            took >= Duration::from_millis(250) && took < Duration::from_secs(2),
            "answered at the client's deadline: {took:?}"
        );
        // Within the deadline the call goes through, and a nonsense timeout is ignored.
        let quick = EchoRequest {
            message: "quick".into(),
            delay_ms: 0,
        };
        let (head, _) = raw_unary(&gw, "slow.test", &quick, "2S").await;
        assert_eq!(head.status, 200);
        assert!(
            head.headers.get("grpc-status").is_none(),
            "data, then trailers: {head:?}"
        );
        let (head, _) = raw_unary(&gw, "slow.test", &quick, "soon").await;
        assert!(head.headers.get("grpc-status").is_none(), "{head:?}");
    });
    // tonic's own deadline agrees with the gateway's.
    runtime().block_on(async {
        let mut c = client(&gw, "slow.test").await;
        let mut req = Request::new(EchoRequest {
            message: "late".into(),
            delay_ms: 3000,
        });
        req.set_timeout(Duration::from_millis(300));
        let err = c.unary(req).await.unwrap_err();
        assert!(
            matches!(err.code(), Code::DeadlineExceeded | Code::Cancelled),
            "{err:?}"
        );
    });
}

#[test]
fn the_gateways_refusals_are_grpc_statuses() {
    let up = GrpcUpstream::start();
    let gw = Gateway::start();
    gw.create("groups", &json!({"id": "grpc_group", "name": "grpc"}));
    let mut api = grpc_api(
        "keyed",
        "keyed.test",
        up.port,
        json!([{"plugin": "cp:otoroshi.next.plugins.ApikeyCalls", "config": {}}]),
    );
    api["groups"] = json!(["grpc_group"]);
    gw.create("apis", &api);
    gw.create(
        "apikeys",
        &json!({"clientId": "gk", "clientSecret": "gk-secret", "authorizedEntities": ["group_grpc_group"],
                "dailyQuota": 1}),
    );
    gw.create(
        "apikeys",
        &json!({"clientId": "other", "clientSecret": "other-secret"}),
    );
    gw.create(
        "routes",
        &json!({"id": "r-down", "frontend": {"domains": ["down.test"]},
                "backend": {"targets": [{"id": "t", "hostname": "127.0.0.1", "port": 1,
                                         "protocol": "HTTP/2.0"}]}}),
    );
    gw.create(
        "routes",
        &json!({"id": "r-ip", "frontend": {"domains": ["ip.test"]},
                "backend": {"targets": [{"id": "t", "hostname": "127.0.0.1", "port": up.port,
                                         "protocol": "HTTP/2.0"}]},
                "plugins": [{"plugin": "cp:otoroshi.next.plugins.IpAddressBlockList",
                             "config": {"addresses": ["127.0.0.1"]}}]}),
    );
    runtime().block_on(async {
        let mut keyed = client(&gw, "keyed.test").await;
        let err = keyed.unary(msg("x")).await.unwrap_err();
        assert_eq!(refusal(&err), (Code::Unauthenticated, "errors.no.api.key"));
        let err = keyed
            .unary(with_key(Request::new(msg("x")), "gk", "wrong"))
            .await
            .unwrap_err();
        assert_eq!(refusal(&err), (Code::Unauthenticated, "errors.bad.api.key"));
        let err = keyed
            .unary(with_key(Request::new(msg("x")), "other", "other-secret"))
            .await
            .unwrap_err();
        assert_eq!(
            err.code(),
            Code::PermissionDenied,
            "a key not authorized here: {err:?}"
        );
        let ok = keyed
            .unary(with_key(Request::new(msg("x")), "gk", "gk-secret"))
            .await
            .expect("a good key passes");
        assert_eq!(ok.into_inner().message, "x");
        let err = keyed
            .unary(with_key(Request::new(msg("x")), "gk", "gk-secret"))
            .await
            .unwrap_err();
        assert_eq!(
            refusal(&err),
            (Code::ResourceExhausted, "errors.too.much.requests")
        );

        let err = client(&gw, "nowhere.test")
            .await
            .unary(msg("x"))
            .await
            .unwrap_err();
        assert_eq!(refusal(&err), (Code::Unimplemented, "not_found"));
        let err = client(&gw, "down.test")
            .await
            .unary(msg("x"))
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::Unavailable, "{err:?}");
        assert!(err.message().starts_with("errors."), "{err:?}");
        let err = client(&gw, "ip.test")
            .await
            .unary(msg("x"))
            .await
            .unwrap_err();
        assert_eq!(
            refusal(&err),
            (Code::PermissionDenied, "errors.ip.address.not.allowed")
        );
    });
}
