//! A real upstream server on loopback for proxy tests (HTTP/1.1 and HTTP/2, cleartext or TLS),
//! driven by the request path:
//! - `/slow/<ms>/...`: waits before answering;
//! - `/stall`: sends headers and a first chunk, then never finishes the body;
//! - `/status/<code>`: answers with that status;
//! - `/bytes/<n>`: streams `n` bytes;
//! - `/fixtures/<file>`: the file of `tests/fixtures` (a JWKS, an OpenAPI document);
//! - `/echo-body`: the request body back, with its content type;
//! - `/redirect`: 302 to `http://127.0.0.1:9999/moved?x=1` (an internal address);
//! - `/long-header/<n>`: a response header `x-long` of `n` bytes;
//! - `/respond?name=value&...`: the echo below, with each query pair as a response header;
//! - anything else: echoes `{name, method, path, version, headers, body_bytes, client_certs}` (the
//!   body is counted as it streams, never held; `client_certs` is the length of the TLS client's
//!   chain).

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::{Frame, Incoming};
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use serde_json::json;

type Out = http_body_util::combinators::BoxBody<Bytes, Infallible>;

pub struct Upstream {
    pub name: String,
    pub addr: SocketAddr,
    hits: Arc<AtomicUsize>,
    /// `METHOD path?query` of every request received, in order.
    seen: Arc<Mutex<Vec<String>>>,
    connections: Arc<AtomicUsize>,
    /// `(path and query, body bytes)` of every echoed request.
    bodies: Arc<Mutex<Vec<(String, usize)>>>,
    runtime: Option<tokio::runtime::Runtime>,
}

impl Upstream {
    pub fn start(name: &str) -> Upstream {
        Upstream::start_with(name, "127.0.0.1:0", Duration::ZERO)
    }

    /// A server answering every request after `delay`.
    pub fn slow(name: &str, delay: Duration) -> Upstream {
        Upstream::start_with(name, "127.0.0.1:0", delay)
    }

    /// A server on a given address (to bring a stopped one back on its port).
    pub fn start_with(name: &str, bind: &str, delay: Duration) -> Upstream {
        Upstream::serve(name, bind, delay, None)
    }

    /// A server speaking TLS with a self-signed certificate for `localhost`.
    pub fn start_tls(name: &str) -> Upstream {
        let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
        let key = rustls::pki_types::PrivateKeyDer::Pkcs8(cert.signing_key.serialize_der().into());
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert.cert.der().clone()], key)
        .unwrap();
        Upstream::start_tls_with(name, config)
    }

    /// A server speaking TLS as `config` says (its certificate, client authentication, ALPN).
    pub fn start_tls_with(name: &str, config: rustls::ServerConfig) -> Upstream {
        Upstream::serve(
            name,
            "127.0.0.1:0",
            Duration::ZERO,
            Some(tokio_rustls::TlsAcceptor::from(Arc::new(config))),
        )
    }

    fn serve(
        name: &str,
        bind: &str,
        delay: Duration,
        tls: Option<tokio_rustls::TlsAcceptor>,
    ) -> Upstream {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let hits = Arc::new(AtomicUsize::new(0));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind(bind))
            .unwrap();
        let addr = listener.local_addr().unwrap();
        let connections = Arc::new(AtomicUsize::new(0));
        let bodies = Arc::new(Mutex::new(Vec::new()));
        let (n, h, c, sn, bs) = (
            name.to_string(),
            hits.clone(),
            connections.clone(),
            seen.clone(),
            bodies.clone(),
        );
        runtime.spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                c.fetch_add(1, Ordering::SeqCst);
                let (n, h, tls, sn, bs) =
                    (n.clone(), h.clone(), tls.clone(), sn.clone(), bs.clone());
                tokio::spawn(async move {
                    let svc = move |certs: usize| {
                        let (n, h, sn, bs) = (n.clone(), h.clone(), sn.clone(), bs.clone());
                        service_fn(move |req: Request<Incoming>| {
                            let (n, h, bs) = (n.clone(), h.clone(), bs.clone());
                            let line = format!(
                                "{} {}",
                                req.method(),
                                req.uri().path_and_query().map_or("/", |p| p.as_str())
                            );
                            sn.lock().unwrap().push(line);
                            async move {
                                tokio::time::sleep(delay).await;
                                Ok::<_, Infallible>(answer(&n, &h, &bs, req, certs).await)
                            }
                        })
                    };
                    let http = auto::Builder::new(TokioExecutor::new());
                    match tls {
                        Some(acceptor) => {
                            if let Ok(stream) = acceptor.accept(stream).await {
                                let certs = stream
                                    .get_ref()
                                    .1
                                    .peer_certificates()
                                    .map_or(0, |c| c.len());
                                let _ = http
                                    .serve_connection(TokioIo::new(stream), svc(certs))
                                    .await;
                            }
                        }
                        None => {
                            let _ = http.serve_connection(TokioIo::new(stream), svc(0)).await;
                        }
                    }
                });
            }
        });
        Upstream {
            name: name.to_string(),
            addr,
            hits,
            seen,
            connections,
            bodies,
            runtime: Some(runtime),
        }
    }

    /// `(path and query, body bytes)` of every request echoed so far.
    pub fn bodies(&self) -> Vec<(String, usize)> {
        self.bodies.lock().unwrap().clone()
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Requests served so far.
    pub fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }

    /// `METHOD path?query` of every request received so far.
    pub fn seen(&self) -> Vec<String> {
        self.seen.lock().unwrap().clone()
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }

    /// A target document for this server.
    pub fn target(&self) -> serde_json::Value {
        json!({"id": self.name, "hostname": "127.0.0.1", "port": self.port()})
    }

    /// Stops the server: connections to it are refused from now on.
    pub fn stop(&mut self) {
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_timeout(Duration::from_millis(100));
        }
    }
}

/// A server that reads each request and hangs up without answering: the request was sent.
pub struct Hangup {
    pub addr: SocketAddr,
    hits: Arc<AtomicUsize>,
}

impl Hangup {
    pub fn start() -> Hangup {
        use std::io::Read;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let hits = Arc::new(AtomicUsize::new(0));
        let h = hits.clone();
        std::thread::spawn(move || {
            for mut stream in listener.incoming().flatten() {
                h.fetch_add(1, Ordering::SeqCst);
                let mut buf = [0u8; 4096];
                let _ = stream.read(&mut buf);
                drop(stream);
            }
        });
        Hangup { addr, hits }
    }

    /// Requests received (and hung up on) so far.
    pub fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }

    pub fn target(&self) -> serde_json::Value {
        json!({"id": "hangup", "hostname": "127.0.0.1", "port": self.addr.port()})
    }
}

impl Drop for Upstream {
    fn drop(&mut self) {
        self.stop();
    }
}

fn full(body: impl Into<Bytes>) -> Out {
    http_body_util::Full::new(body.into()).boxed()
}

async fn answer(
    name: &str,
    hits: &AtomicUsize,
    bodies: &Mutex<Vec<(String, usize)>>,
    req: Request<Incoming>,
    client_certs: usize,
) -> Response<Out> {
    hits.fetch_add(1, Ordering::SeqCst);
    let path = req
        .uri()
        .path_and_query()
        .map(|p| p.to_string())
        .unwrap_or_default();
    let segs: Vec<&str> = req
        .uri()
        .path()
        .split('/')
        .filter(|s| !s.is_empty())
        .collect();
    let mut status = 200;
    match segs.as_slice() {
        ["slow", ms, ..] => {
            tokio::time::sleep(Duration::from_millis(ms.parse().unwrap_or(0))).await
        }
        ["status", code, ..] => status = code.parse().unwrap_or(500),
        ["fixtures", file] => {
            let path = format!("{}/tests/fixtures/{file}", env!("CARGO_MANIFEST_DIR"));
            let body = std::fs::read(path).unwrap_or_default();
            return Response::builder()
                .header("content-type", "application/json")
                .body(full(body))
                .unwrap();
        }
        ["echo-body"] => {
            let ct = req.headers().get("content-type").cloned();
            let body = req
                .into_body()
                .collect()
                .await
                .map(|b| b.to_bytes())
                .unwrap_or_default();
            let mut resp = Response::builder().header("x-upstream", name);
            if let Some(ct) = ct {
                resp = resp.header("content-type", ct);
            }
            return resp.body(full(body)).unwrap();
        }
        ["redirect"] => {
            return Response::builder()
                .status(302)
                .header("location", "http://127.0.0.1:9999/moved?x=1")
                .body(full(""))
                .unwrap();
        }
        ["long-header", n] => {
            return Response::builder()
                .header("x-long", "x".repeat(n.parse().unwrap_or(0)))
                .header("x-short", "ok")
                .body(full("long"))
                .unwrap();
        }
        ["stall", ..] => {
            return Response::builder()
                .header("x-upstream", name)
                .body(stalled(b"partial"))
                .unwrap();
        }
        ["bytes", n, ..] => {
            let n: usize = n.parse().unwrap_or(0);
            return Response::builder()
                .header("x-upstream", name)
                .header("content-type", "application/octet-stream")
                .body(chunks(n))
                .unwrap();
        }
        _ => {}
    }
    let respond = segs.first() == Some(&"respond");
    let method = req.method().to_string();
    let version = format!("{:?}", req.version());
    let headers: BTreeMap<String, String> = req
        .headers()
        .iter()
        .map(|(k, v)| (k.as_str().to_string(), v.to_str().unwrap_or("").to_string()))
        .collect();
    let mut body = req.into_body();
    let mut body_bytes = 0usize;
    while let Some(Ok(frame)) = body.frame().await {
        if let Ok(data) = frame.into_data() {
            body_bytes += data.len();
        }
    }
    bodies.lock().unwrap().push((path.clone(), body_bytes));
    let doc = json!({"name": name, "method": method, "path": path, "version": version,
                     "headers": headers, "body_bytes": body_bytes, "client_certs": client_certs});
    let mut resp = Response::builder()
        .status(status)
        .header("x-upstream", name)
        .header("content-type", "application/json");
    if respond {
        let query = path.split_once('?').map_or("", |(_, q)| q);
        for (k, v) in url::form_urlencoded::parse(query.as_bytes()) {
            resp = resp.header(k.as_ref(), v.as_ref());
        }
    }
    resp.body(full(doc.to_string())).unwrap()
}

/// `n` bytes in 64 KiB chunks, produced as they are read; with `stall`, one chunk then nothing ever.
struct Chunks {
    left: usize,
    chunk: Bytes,
    stall: bool,
}

impl hyper::body::Body for Chunks {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        if self.left == 0 {
            return if self.stall {
                std::task::Poll::Pending
            } else {
                std::task::Poll::Ready(None)
            };
        }
        let take = self.left.min(self.chunk.len());
        self.left -= take;
        std::task::Poll::Ready(Some(Ok(Frame::data(self.chunk.slice(..take)))))
    }
}

fn chunks(n: usize) -> Out {
    Chunks {
        left: n,
        chunk: Bytes::from(vec![b'x'; 64 * 1024]),
        stall: false,
    }
    .boxed()
}

fn stalled(first: &'static [u8]) -> Out {
    Chunks {
        left: first.len(),
        chunk: Bytes::from_static(first),
        stall: true,
    }
    .boxed()
}
