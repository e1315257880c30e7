//! Opening a connection to a target: TCP, TLS when the target says so, then hyper's HTTP/1.1 or
//! HTTP/2 handshake, with the connection driven by its own task.

use std::time::Instant;

use std::time::Duration;

use hyper::client::conn::{http1, http2};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use crate::error::{UpstreamError, UpstreamErrorKind as Kind};
use crate::sender::Sender;
use crate::target::Target;

async fn handshake<I>(io: I, h2: bool) -> Result<Sender, UpstreamError>
where
    I: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let failed = |e: hyper::Error| UpstreamError::new(Kind::Other, format!("handshake: {e}"));
    if h2 {
        let (sender, conn) = http2::Builder::new(TokioExecutor::new())
            .timer(TokioTimer::new())
            .keep_alive_interval(Duration::from_secs(30))
            .keep_alive_timeout(Duration::from_secs(20))
            .handshake(TokioIo::new(io))
            .await
            .map_err(failed)?;
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(error = %e, "upstream HTTP/2 connection ended");
            }
        });
        return Ok(Sender::H2(sender));
    }
    let (sender, conn) = http1::Builder::new()
        .handshake(TokioIo::new(io))
        .await
        .map_err(failed)?;
    tokio::spawn(async move {
        if let Err(e) = conn.with_upgrades().await {
            tracing::debug!(error = %e, "upstream connection ended");
        }
    });
    Ok(Sender::H1(sender))
}

/// A new connection to `target`, or why not, by `until`; `limit` names that deadline in the error.
pub(crate) async fn open(
    target: &Target,
    until: Instant,
    limit: &str,
) -> Result<Sender, UpstreamError> {
    let connect = async {
        // Resolved apart from the connect, so that a name that does not resolve says so.
        let addrs: Vec<_> = tokio::net::lookup_host(&target.connect_to)
            .await
            .map_err(|e| {
                UpstreamError::new(Kind::Dns, format!("resolve {}: {e}", target.connect_to))
            })?
            .collect();
        if addrs.is_empty() {
            return Err(UpstreamError::new(
                Kind::Dns,
                format!("resolve {}: no address", target.connect_to),
            ));
        }
        let stream = TcpStream::connect(&addrs[..]).await.map_err(|e| {
            let kind = match e.kind() {
                std::io::ErrorKind::ConnectionRefused => Kind::ConnectionRefused,
                std::io::ErrorKind::ConnectionReset => Kind::Reset,
                _ => Kind::Other,
            };
            UpstreamError::new(kind, format!("connect to {}: {e}", target.connect_to))
        })?;
        let _ = stream.set_nodelay(true);
        let Some(tls) = &target.tls else {
            return handshake(stream, target.h2).await;
        };
        let name = ServerName::try_from(target.hostname().to_string()).map_err(|e| {
            UpstreamError::new(Kind::Other, format!("TLS name {}: {e}", target.hostname()))
        })?;
        let tls = TlsConnector::from(tls.clone())
            .connect(name, stream)
            .await
            .map_err(|e| {
                UpstreamError::new(Kind::Tls, format!("TLS with {}: {e}", target.connect_to))
            })?;
        handshake(tls, target.h2).await
    };
    match tokio::time::timeout_at(until.into(), connect).await {
        Ok(result) => result,
        Err(_) => Err(UpstreamError::new(
            Kind::Timeout,
            format!("{limit} reached connecting to {}", target.connect_to),
        )),
    }
}
