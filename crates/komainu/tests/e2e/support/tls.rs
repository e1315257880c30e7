//! A real TLS client for the gateway's TLS listener: rustls with a chosen SNI name, trusted roots,
//! an optional client certificate and a session cache (to see resumption), speaking HTTP/1.1 or
//! HTTP/2 as ALPN decides, through hyper.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{ClientConfig, RootCertStore};

/// How a call went.
#[derive(Debug)]
pub struct TlsAnswer {
    pub status: u16,
    pub body: String,
    pub alpn: Option<String>,
    pub resumed: bool,
    pub headers: http::HeaderMap,
    /// The leaf certificate the server presented (DER).
    pub peer: Vec<u8>,
}

/// A client: its roots, its certificate, its ALPN, its session cache.
#[derive(Clone)]
pub struct TlsClient {
    config: Arc<ClientConfig>,
}

pub fn roots(pems: &[&str]) -> RootCertStore {
    let mut roots = RootCertStore::empty();
    for pem in pems {
        for der in CertificateDer::pem_slice_iter(pem.as_bytes()) {
            roots.add(der.unwrap()).unwrap();
        }
    }
    roots
}

/// Accepts any server certificate: to see what a listener serves, trusted or not.
#[derive(Debug)]
struct AnyServer;

impl rustls::client::danger::ServerCertVerifier for AnyServer {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        let algs = rustls::crypto::ring::default_provider().signature_verification_algorithms;
        rustls::crypto::verify_tls12_signature(message, cert, dss, &algs)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        let algs = rustls::crypto::ring::default_provider().signature_verification_algorithms;
        rustls::crypto::verify_tls13_signature(message, cert, dss, &algs)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        rustls::crypto::ring::default_provider()
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// The DER of the first certificate of a PEM chain.
pub fn leaf_der(chain_pem: &str) -> Vec<u8> {
    CertificateDer::pem_slice_iter(chain_pem.as_bytes())
        .next()
        .expect("a certificate")
        .expect("PEM")
        .to_vec()
}

impl TlsClient {
    /// Trusting any server certificate, presenting none.
    pub fn insecure(alpn: &[&str]) -> TlsClient {
        let mut config =
            ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
                .with_safe_default_protocol_versions()
                .unwrap()
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(AnyServer))
                .with_no_client_auth();
        config.alpn_protocols = alpn.iter().map(|a| a.as_bytes().to_vec()).collect();
        TlsClient {
            config: Arc::new(config),
        }
    }

    /// Trusting `ca_pems`, presenting `identity` (chain PEM, key PEM), offering `alpn`.
    pub fn new(ca_pems: &[&str], identity: Option<(&str, &str)>, alpn: &[&str]) -> TlsClient {
        let builder =
            ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
                .with_safe_default_protocol_versions()
                .unwrap()
                .with_root_certificates(roots(ca_pems));
        let mut config = match identity {
            Some((chain, key)) => {
                let chain: Vec<CertificateDer<'static>> =
                    CertificateDer::pem_slice_iter(chain.as_bytes())
                        .map(|c| c.unwrap())
                        .collect();
                let key = PrivateKeyDer::from_pem_slice(key.as_bytes()).unwrap();
                builder.with_client_auth_cert(chain, key).unwrap()
            }
            None => builder.with_no_client_auth(),
        };
        config.alpn_protocols = alpn.iter().map(|a| a.as_bytes().to_vec()).collect();
        TlsClient {
            config: Arc::new(config),
        }
    }

    /// `GET path` with `Host: host` on a new connection to `https_url`'s listener, SNI `sni` (none
    /// when `None`).
    pub fn get(
        &self,
        https_url: &str,
        sni: Option<&str>,
        host: &str,
        path: &str,
    ) -> Result<TlsAnswer, String> {
        self.connect(https_url, sni)?.get(host, path)
    }

    /// A connection (handshake done) that several requests can use.
    pub fn connect(&self, https_url: &str, sni: Option<&str>) -> Result<TlsConn, String> {
        let addr = https_url.trim_start_matches("https://").to_string();
        let (config, sni) = (self.config.clone(), sni.map(str::to_string));
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let (sender, facts) = rt.block_on(async move {
            let tcp = tokio::net::TcpStream::connect(&addr)
                .await
                .map_err(|e| e.to_string())?;
            let name = match &sni {
                Some(n) => ServerName::try_from(n.clone()).map_err(|e| e.to_string())?,
                // No SNI: an IP address as the server name (rustls sends no SNI for those).
                None => ServerName::IpAddress(rustls::pki_types::IpAddr::from(
                    "127.0.0.1".parse::<std::net::IpAddr>().unwrap(),
                )),
            };
            let tls = tokio::time::timeout(
                Duration::from_secs(5),
                tokio_rustls::TlsConnector::from(config).connect(name, tcp),
            )
            .await
            .map_err(|_| "handshake timed out".to_string())?
            .map_err(|e| format!("handshake: {e}"))?;
            let (_, conn) = tls.get_ref();
            let facts = Facts {
                alpn: conn
                    .alpn_protocol()
                    .map(|a| String::from_utf8_lossy(a).into_owned()),
                resumed: conn.handshake_kind() == Some(rustls::HandshakeKind::Resumed),
                peer: conn
                    .peer_certificates()
                    .and_then(|c| c.first())
                    .map(|c| c.to_vec())
                    .unwrap_or_default(),
            };
            let io = TokioIo::new(tls);
            let sender = if facts.alpn.as_deref() == Some("h2") {
                let (send, conn) = hyper::client::conn::http2::handshake(TokioExecutor::new(), io)
                    .await
                    .map_err(|e| e.to_string())?;
                tokio::spawn(conn);
                Sender::H2(send)
            } else {
                let (send, conn) = hyper::client::conn::http1::handshake(io)
                    .await
                    .map_err(|e| e.to_string())?;
                tokio::spawn(conn);
                Sender::H1(send)
            };
            Ok::<_, String>((sender, facts))
        })?;
        Ok(TlsConn { rt, sender, facts })
    }
}

struct Facts {
    alpn: Option<String>,
    resumed: bool,
    peer: Vec<u8>,
}

enum Sender {
    H1(hyper::client::conn::http1::SendRequest<Empty<Bytes>>),
    H2(hyper::client::conn::http2::SendRequest<Empty<Bytes>>),
}

/// One TLS connection to the gateway.
pub struct TlsConn {
    rt: tokio::runtime::Runtime,
    sender: Sender,
    facts: Facts,
}

impl TlsConn {
    /// `GET path` with `Host: host` (`:authority` on HTTP/2).
    pub fn get(&mut self, host: &str, path: &str) -> Result<TlsAnswer, String> {
        let sender = &mut self.sender;
        let resp = self.rt.block_on(async {
            match sender {
                Sender::H2(send) => {
                    let req = http::Request::get(format!("https://{host}{path}"))
                        .body(Empty::<Bytes>::new())
                        .unwrap();
                    send.send_request(req).await.map_err(|e| e.to_string())
                }
                Sender::H1(send) => {
                    let req = http::Request::get(path)
                        .header("host", host)
                        .body(Empty::<Bytes>::new())
                        .unwrap();
                    send.send_request(req).await.map_err(|e| e.to_string())
                }
            }
        })?;
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let body = self
            .rt
            .block_on(resp.into_body().collect())
            .map_err(|e| e.to_string())?
            .to_bytes();
        Ok(TlsAnswer {
            status,
            body: String::from_utf8_lossy(&body).into_owned(),
            alpn: self.facts.alpn.clone(),
            resumed: self.facts.resumed,
            headers,
            peer: self.facts.peer.clone(),
        })
    }
}
