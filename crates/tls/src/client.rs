//! TLS to backend targets (rustls, ring): the web PKI by default, or the stored CAs a target's
//! `tls_config.trusted_certs` names; any certificate with `trust_all` (or Otoroshi's `loose`), for
//! backends with self-signed certificates on networks the operator trusts; a client certificate
//! (`tls_config.certs`) for backends that require mTLS. Built once per target, not per call.

use std::sync::{Arc, OnceLock};

use rustls::client::ResolvesClientCert;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::sign::CertifiedKey;
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};

use crate::CertIndex;

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// How a target is reached over TLS.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TargetTls {
    /// Accept any server certificate.
    pub trust_all: bool,
    /// Stored CAs to trust instead of the web PKI.
    pub trusted: Vec<String>,
    /// Stored certificates to present as the client (the first usable one).
    pub certs: Vec<String>,
    /// Speak HTTP/2 (ALPN `h2`) rather than HTTP/1.1.
    pub h2: bool,
}

fn web_pki() -> Arc<RootCertStore> {
    static ROOTS: OnceLock<Arc<RootCertStore>> = OnceLock::new();
    ROOTS
        .get_or_init(|| {
            Arc::new(RootCertStore {
                roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
            })
        })
        .clone()
}

#[derive(Debug)]
struct Present(Arc<CertifiedKey>);

impl ResolvesClientCert for Present {
    fn resolve(&self, _hints: &[&[u8]], _schemes: &[SignatureScheme]) -> Option<Arc<CertifiedKey>> {
        Some(self.0.clone())
    }

    fn has_certs(&self) -> bool {
        true
    }
}

/// The client configuration for a target; what it names and the index lacks is logged and left out.
pub fn client_config(spec: &TargetTls, index: &CertIndex) -> Arc<ClientConfig> {
    let builder = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .expect("ring supports the default versions");
    let builder = if spec.trust_all {
        let algorithms = provider().signature_verification_algorithms;
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAny(algorithms)))
    } else if spec.trusted.is_empty() {
        builder.with_root_certificates(web_pki())
    } else {
        let roots = index.roots(&spec.trusted);
        if roots.is_empty() {
            tracing::warn!(trusted = ?spec.trusted, "a target trusts certificates that are not stored: it will fail its handshakes");
        }
        builder.with_root_certificates(roots)
    };
    let key = spec.certs.iter().find_map(|id| {
        let key = index.client_key(id);
        if key.is_none() {
            tracing::warn!(certificate = %id, "a target presents a certificate that is not stored (or has no key)");
        }
        key
    });
    let mut config = match key {
        Some(k) => builder.with_client_cert_resolver(Arc::new(Present(k))),
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = if spec.h2 {
        vec![b"h2".to_vec()]
    } else {
        vec![b"http/1.1".to_vec()]
    };
    Arc::new(config)
}

/// Accepts any certificate, still checking that the handshake is signed by it.
#[derive(Debug)]
struct AcceptAny(WebPkiSupportedAlgorithms);

impl ServerCertVerifier for AcceptAny {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_schemes()
    }
}
