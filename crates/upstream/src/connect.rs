//! Opening an HTTP/1.1 connection to a target: TCP, TLS when the target says so, then hyper's
//! handshake, with the connection driven by its own task.

use std::time::Instant;

use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;
use komainu_http::Body;
use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use crate::error::{UpstreamError, UpstreamErrorKind as Kind};
use crate::target::Target;
use crate::tls;

async fn handshake<I>(io: I) -> Result<SendRequest<Body>, UpstreamError>
where
    I: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let (sender, conn) = http1::Builder::new()
        .handshake(TokioIo::new(io))
        .await
        .map_err(|e| UpstreamError::new(Kind::Other, format!("handshake: {e}")))?;
    tokio::spawn(async move {
        if let Err(e) = conn.with_upgrades().await {
            tracing::debug!(error = %e, "upstream connection ended");
        }
    });
    Ok(sender)
}

/// A new connection to `target`, or why not, by `until`; `limit` names that deadline in the error.
pub(crate) async fn open(
    target: &Target,
    until: Instant,
    limit: &str,
) -> Result<SendRequest<Body>, UpstreamError> {
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
        if !target.tls {
            return handshake(stream).await;
        }
        let name = ServerName::try_from(target.hostname().to_string()).map_err(|e| {
            UpstreamError::new(Kind::Other, format!("TLS name {}: {e}", target.hostname()))
        })?;
        let tls = TlsConnector::from(tls::config(target.trust_all))
            .connect(name, stream)
            .await
            .map_err(|e| {
                UpstreamError::new(Kind::Tls, format!("TLS with {}: {e}", target.connect_to))
            })?;
        handshake(tls).await
    };
    match tokio::time::timeout_at(until.into(), connect).await {
        Ok(result) => result,
        Err(_) => Err(UpstreamError::new(
            Kind::Timeout,
            format!("{limit} reached connecting to {}", target.connect_to),
        )),
    }
}
