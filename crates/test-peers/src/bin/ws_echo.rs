//! `ws-echo ADDR`: the WebSocket echo server, for the bench.

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:18190".into());
    let listener = tokio::net::TcpListener::bind(&addr).await.expect("bind");
    komainu_test_peers::ws::serve(listener).await;
}
