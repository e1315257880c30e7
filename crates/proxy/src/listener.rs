//! Accepting connections: HTTP/1.1 with keep-alive and upgrades, and HTTP/2 by prior knowledge, on
//! one port; a cap on open connections; and a bounded drain on shutdown (stop accepting, let
//! in-flight requests finish, then return).
//!
//! Each connection's bytes go through a [`Guarded`] stream (timeouts, framing checks) before
//! hyper reads them. Over the connection cap, a new connection gets a 503 and is closed at once,
//! so clients get an answer rather than a timeout, and established ones are not affected.

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use hyper::server::conn::{http1, http2};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use komainu_http::Activity;
use komainu_tls::PeerChain;
use komainu_tls::TlsServer;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, watch};

use crate::Proxy;
use crate::forward::{Client, Lease};
use crate::guard::{Guarded, Timeouts};

/// What bounds every client connection; each is a command-line flag.
#[derive(Clone, Debug)]
pub struct Limits {
    pub timeouts: Timeouts,
    /// Open client connections at most; over it new ones get a 503.
    pub max_connections: usize,
    /// Bytes of a request head (request line and header fields) at most: 431 beyond.
    pub max_header_bytes: usize,
    /// Header fields of a request at most: 431 beyond.
    pub max_headers: usize,
    /// Bytes of a request target at most: 414 beyond.
    pub max_uri_bytes: usize,
    /// Bytes of a request body at most, unless a route says otherwise (0: no limit): 413 beyond.
    pub max_body_bytes: u64,
    /// Concurrent streams of one HTTP/2 connection.
    pub h2_max_streams: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            timeouts: Timeouts {
                header_read: Duration::from_secs(10),
                body_read: Duration::from_secs(60),
                keepalive: Duration::from_secs(75),
            },
            max_connections: 10_000,
            max_header_bytes: 32 * 1024,
            max_headers: 100,
            max_uri_bytes: 8 * 1024,
            max_body_bytes: 100 * 1024 * 1024,
            h2_max_streams: 250,
        }
    }
}

const OVER_CAPACITY: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\n\
content-type: application/json\r\notoroshi-error: true\r\n\
otoroshi-error-cause: errors.too.many.connections\r\nconnection: close\r\ncontent-length: 91\r\n\r\n\
{\"error\":\"errors.too.many.connections\",\"error_description\":\"too many open connections\"}";

const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// Open connections, and a wake-up when the last one closes.
#[derive(Default)]
struct Open {
    count: AtomicUsize,
    none_left: Notify,
}

/// Holds one place among the open connections until dropped.
struct Place(Arc<Open>);

impl Drop for Place {
    fn drop(&mut self) {
        if self.0.count.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.none_left.notify_waiters();
        }
    }
}

/// Connections the kernel queues before they are accepted (capped by `net.core.somaxconn`): a
/// burst of clients waits here instead of being refused.
const BACKLOG: u32 = 4096;

/// A listening socket for the proxy, with a backlog for bursts.
pub fn bind(addr: std::net::SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(BACKLOG)
}

/// Whether the client speaks HTTP/2 by prior knowledge: its first bytes are the preface. Waits,
/// within the header timeout, only while what arrived is a prefix of it.
async fn speaks_h2(stream: &TcpStream, within: Duration) -> bool {
    let deadline = tokio::time::Instant::now() + within;
    let mut buf = [0u8; 24];
    loop {
        let Ok(Ok(n)) = tokio::time::timeout_at(deadline, stream.peek(&mut buf)).await else {
            return false;
        };
        if n == 0 || buf[..n] != H2_PREFACE[..n] {
            return false;
        }
        if n == H2_PREFACE.len() {
            return true;
        }
        // A partial preface: wait for the rest without spinning on the bytes already there.
        if tokio::time::timeout_at(deadline, tokio::time::sleep(Duration::from_millis(5)))
            .await
            .is_err()
        {
            return false;
        }
    }
}

/// A connection hyper can close gracefully: both protocols' connections are.
trait Drainable: Future<Output = hyper::Result<()>> {
    fn drain(self: std::pin::Pin<&mut Self>);
}

impl<I, S> Drainable for http1::UpgradeableConnection<I, S>
where
    S: hyper::service::HttpService<hyper::body::Incoming, ResBody = komainu_http::Body>,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    fn drain(self: std::pin::Pin<&mut Self>) {
        self.graceful_shutdown();
    }
}

impl<I, S> Drainable for http2::Connection<I, S, TokioExecutor>
where
    S: hyper::service::HttpService<hyper::body::Incoming, ResBody = komainu_http::Body>,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    S::Future: Send + 'static,
    I: hyper::rt::Read + hyper::rt::Write + Unpin + 'static,
{
    fn drain(self: std::pin::Pin<&mut Self>) {
        self.graceful_shutdown();
    }
}

/// When a connection counts as idle: nothing in flight on it for `limit`.
struct Idle {
    activity: Arc<Activity>,
    limit: Duration,
    metrics: Arc<crate::metrics::ListenerMetrics>,
}

/// Runs a connection to its end, closing it gracefully once a stop is asked for, or once it has
/// been `idle` for as long as that says.
async fn drive(
    conn: impl Drainable,
    stop: &mut watch::Receiver<bool>,
    idle: Option<Idle>,
) -> hyper::Result<()> {
    tokio::pin!(conn);
    let stopped = async {
        let _ = stop.wait_for(|s| *s).await;
    };
    let idled = async {
        let Some(idle) = idle else {
            return std::future::pending().await;
        };
        loop {
            let left = idle.limit.saturating_sub(idle.activity.idle_for());
            if left.is_zero() {
                idle.metrics.timed_out(crate::metrics::Timeout::Idle);
                return;
            }
            tokio::time::sleep(left.max(Duration::from_millis(50))).await;
        }
    };
    tokio::select! {
        r = conn.as_mut() => r,
        () = stopped => {
            conn.as_mut().drain();
            conn.await
        }
        () = idled => {
            conn.as_mut().drain();
            conn.await
        }
    }
}

/// Streams a client may reset before they are served, at any one time, on one connection.
const H2_MAX_PENDING_RESETS: usize = 20;
/// Streams the server may reset because of the client's errors, on one connection.
const H2_MAX_LOCAL_RESETS: usize = 1024;

/// What every connection of a listener shares.
struct Shared {
    proxy: Arc<Proxy>,
    h1: http1::Builder,
    h2: http2::Builder<TokioExecutor>,
    /// The TLS listener's configuration; `None` for plain HTTP.
    tls: Option<Arc<TlsServer>>,
}

/// One client connection: the TLS handshake when the listener has TLS, then HTTP/1.1 or HTTP/2
/// (ALPN over TLS; the preface on plain connections).
async fn connection(
    stream: TcpStream,
    peer: std::net::SocketAddr,
    accepted: Instant,
    shared: Arc<Shared>,
    mut stop: watch::Receiver<bool>,
    place: Place,
) {
    let lease = Lease {
        stop: stop.clone(),
        place: Arc::new(place),
    };
    let metrics = shared.proxy.metrics.listener.clone();
    let _open = metrics.connection();
    let timeouts = shared.proxy.limits.timeouts;
    let activity = Arc::new(Activity::default());
    let Some(tls) = &shared.tls else {
        let is_h2 = speaks_h2(&stream, timeouts.header_read).await;
        let _speaking = metrics.speaking(false, is_h2);
        let client = Client::new(peer, activity.clone(), false, None, lease);
        let io = Guarded::new(stream, !is_h2, activity, timeouts, metrics, accepted);
        return serve_io(io, is_h2, client, &shared, &mut stop).await;
    };
    let acceptor = tokio_rustls::TlsAcceptor::from(tls.config());
    let stream = match tokio::time::timeout(timeouts.header_read, acceptor.accept(stream)).await {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => {
            metrics.tls_failed();
            tracing::debug!(%peer, error = %e, "TLS handshake failed");
            return;
        }
        Err(_) => {
            metrics.tls_failed();
            metrics.timed_out(crate::metrics::Timeout::Header);
            return;
        }
    };
    metrics.tls_handshake();
    let (_, conn) = stream.get_ref();
    let is_h2 = conn.alpn_protocol() == Some(b"h2");
    let _speaking = metrics.speaking(true, is_h2);
    let chain = conn
        .peer_certificates()
        .filter(|c| !c.is_empty())
        .map(|c| Arc::new(PeerChain::verified(c)));
    let client = Client::new(peer, activity.clone(), true, chain, lease);
    let io = Guarded::new(stream, !is_h2, activity, timeouts, metrics, accepted);
    serve_io(io, is_h2, client, &shared, &mut stop).await;
}

async fn serve_io<I>(
    io: I,
    is_h2: bool,
    client: Client,
    shared: &Shared,
    stop: &mut watch::Receiver<bool>,
) where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let proxy = shared.proxy.clone();
    let activity = client.activity.clone();
    let service = service_fn(move |req| {
        let (proxy, client) = (proxy.clone(), client.clone());
        async move {
            // An HTTP/2 connection is idle when no stream is handled (the guard cannot see that
            // in its bytes: PINGs keep them coming).
            let _handling = is_h2.then(|| client.activity.busy());
            Ok::<_, Infallible>(proxy.handle(req, &client).await)
        }
    });
    let io = TokioIo::new(io);
    let result = if is_h2 {
        let idle = Some(Idle {
            activity,
            limit: shared.proxy.limits.timeouts.keepalive,
            metrics: shared.proxy.metrics.listener.clone(),
        });
        drive(shared.h2.serve_connection(io, service), stop, idle).await
    } else {
        drive(
            shared.h1.serve_connection(io, service).with_upgrades(),
            stop,
            None,
        )
        .await
    };
    if let Err(e) = result {
        tracing::debug!(error = %e, "client connection ended with an error");
    }
}

/// Serves `listener` until `shutdown` resolves, then drains for at most `drain`; over TLS when
/// `tls` is given.
pub async fn serve(
    listener: TcpListener,
    proxy: Arc<Proxy>,
    tls: Option<Arc<TlsServer>>,
    shutdown: impl Future<Output = ()>,
    drain: Duration,
) {
    let limits = proxy.limits.clone();
    let mut h1 = http1::Builder::new();
    h1.max_headers(limits.max_headers)
        .max_header_size(limits.max_header_bytes)
        .header_read_timeout(None)
        .keep_alive(true);
    let mut h2 = http2::Builder::new(TokioExecutor::new());
    h2.timer(TokioTimer::new())
        .max_concurrent_streams(limits.h2_max_streams)
        .max_header_list_size(limits.max_header_bytes as u32)
        // Rapid reset (CVE-2023-44487): a client resetting streams faster than they are served,
        // or making the server reset them, gets GOAWAY instead of unbounded work.
        .max_pending_accept_reset_streams(Some(H2_MAX_PENDING_RESETS))
        .max_local_error_reset_streams(Some(H2_MAX_LOCAL_RESETS))
        .keep_alive_interval(Some(Duration::from_secs(20)))
        .keep_alive_timeout(Duration::from_secs(20));
    let shared = Arc::new(Shared {
        proxy: proxy.clone(),
        h1,
        h2,
        tls,
    });
    let open = Arc::new(Open::default());
    let (stop_tx, stop_rx) = watch::channel(false);
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(a) => a,
                    Err(e) => {
                        // Out of file descriptors and the like: back off instead of spinning.
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                if open.count.fetch_add(1, Ordering::AcqRel) >= limits.max_connections {
                    open.count.fetch_sub(1, Ordering::AcqRel);
                    proxy.metrics.listener.over_capacity();
                    // A plain 503 only where the client speaks plain HTTP.
                    if shared.tls.is_none() {
                        let _ = stream.try_write(OVER_CAPACITY);
                    }
                    continue;
                }
                let place = Place(open.clone());
                let _ = stream.set_nodelay(true);
                let (shared, stop) = (shared.clone(), stop_rx.clone());
                tokio::spawn(async move {
                    connection(stream, peer, Instant::now(), shared, stop, place).await;
                });
            }
            _ = &mut shutdown => break,
        }
    }
    drop(listener);
    let _ = stop_tx.send(true);
    let none_left = open.none_left.notified();
    tokio::pin!(none_left);
    none_left.as_mut().enable();
    if open.count.load(Ordering::Acquire) == 0 {
        tracing::info!("proxy drained");
        return;
    }
    tokio::select! {
        _ = none_left => tracing::info!("proxy drained"),
        _ = tokio::time::sleep(drain) => tracing::warn!("drain timeout reached: closing remaining connections"),
    }
}
