//! `ws-load URL HOST CONNECTIONS SECONDS SIZE`: opens CONNECTIONS WebSockets to URL (with `Host:
//! HOST`), and on each sends a SIZE-byte binary message and waits for its echo, again and again for
//! SECONDS; prints `messages N seconds S errors E` (round trips completed).

use std::time::{Duration, Instant};

use komainu_test_peers::futures_util::{SinkExt, StreamExt};
use komainu_test_peers::tokio_tungstenite::connect_async;
use komainu_test_peers::tokio_tungstenite::tungstenite::Message;
use komainu_test_peers::tokio_tungstenite::tungstenite::client::IntoClientRequest;

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, url, host, conns, seconds, size] = args.as_slice() else {
        eprintln!("usage: ws-load URL HOST CONNECTIONS SECONDS SIZE");
        std::process::exit(2);
    };
    let conns: usize = conns.parse().expect("CONNECTIONS");
    let run = Duration::from_secs_f64(seconds.parse().expect("SECONDS"));
    let payload = vec![b'x'; size.parse().expect("SIZE")];
    let started = Instant::now();
    let tasks: Vec<_> = (0..conns)
        .map(|_| {
            let mut req = url.as_str().into_client_request().expect("URL");
            req.headers_mut()
                .insert("host", host.parse().expect("HOST"));
            let payload = payload.clone();
            tokio::spawn(async move {
                let Ok((mut ws, _)) = connect_async(req).await else {
                    return (0u64, 1u64);
                };
                let mut done = 0u64;
                while started.elapsed() < run {
                    if ws.send(Message::binary(payload.clone())).await.is_err() {
                        return (done, 1);
                    }
                    match ws.next().await {
                        Some(Ok(Message::Binary(_))) => done += 1,
                        _ => return (done, 1),
                    }
                }
                let _ = ws.close(None).await;
                (done, 0)
            })
        })
        .collect();
    let (mut messages, mut errors) = (0, 0);
    for t in tasks {
        let (m, e) = t.await.unwrap_or((0, 1));
        messages += m;
        errors += e;
    }
    println!(
        "messages {messages} seconds {:.3} errors {errors}",
        started.elapsed().as_secs_f64()
    );
}
