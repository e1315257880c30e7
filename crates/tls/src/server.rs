//! The TLS listener's configuration: TLS 1.2 and 1.3, ALPN `h2` and `http/1.1`, the certificate
//! chosen per handshake from the current [`CertIndex`] (SNI), session resumption (a session cache
//! and tickets that survive configuration changes), and client certificates asked for as
//! `--tls-client-auth` and `tlsSettings` say. A certificate change applies to the next handshake:
//! the resolver reads the index through one atomic pointer.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;
use komainu_model::{ClientAuth, TlsSettings};
use rustls::crypto::CryptoProvider;
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::{
    ClientHello, ProducesTickets, ResolvesServerCert, ServerSessionMemoryCache,
    StoresServerSessions, WebPkiClientVerifier,
};
use rustls::sign::CertifiedKey;
use rustls::{DistinguishedName, ServerConfig};

use crate::CertIndex;

/// `--tls-client-auth`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientAuthMode {
    None,
    Want,
    Need,
    /// `want` when `tlsSettings` trusts a CA (or says `clientAuth`), else `none`.
    Auto,
}

struct State {
    index: Arc<CertIndex>,
    settings: TlsSettings,
}

/// SNI names that found no certificate, each logged once. A client choosing names at random must
/// not fill the log: past [`UNKNOWN_NAMES`] names one line says so and the rest go unlogged until
/// the certificates change.
#[derive(Default)]
struct Unknown(Mutex<HashSet<String>>);

const UNKNOWN_NAMES: usize = 256;

impl Unknown {
    fn log(&self, name: &str) {
        let mut seen = self.0.lock().expect("unknown sni lock");
        if seen.len() > UNKNOWN_NAMES || seen.contains(name) {
            return;
        }
        if seen.len() == UNKNOWN_NAMES {
            seen.insert(String::new());
            tracing::warn!(
                "TLS handshakes refused for more than {UNKNOWN_NAMES} names without a certificate: no longer logging each"
            );
            return;
        }
        seen.insert(name.to_string());
        tracing::warn!(
            sni = name,
            "TLS handshake refused: no certificate for this name"
        );
    }
}

#[derive(Debug)]
struct Resolver {
    state: Arc<ArcSwap<State>>,
    unknown: Arc<Unknown>,
}

impl std::fmt::Debug for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("tls state")
    }
}

impl std::fmt::Debug for Unknown {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("unknown sni names")
    }
}

impl ResolvesServerCert for Resolver {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let state = self.state.load();
        let found = state.index.resolve(hello.server_name(), &state.settings);
        if found.is_none() {
            self.unknown.log(hello.server_name().unwrap_or("(no SNI)"));
        }
        found
    }
}

/// Refuses every client certificate: what `need` means while no CA is trusted (failing closed).
#[derive(Debug)]
struct RefuseAll(Arc<CryptoProvider>);

impl ClientCertVerifier for RefuseAll {
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        _end_entity: &rustls::pki_types::CertificateDer<'_>,
        _intermediates: &[rustls::pki_types::CertificateDer<'_>],
        _now: rustls::pki_types::UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        Err(rustls::Error::InvalidCertificate(
            rustls::CertificateError::UnknownIssuer,
        ))
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// The TLS listener's certificates and configuration, updated as the store changes.
pub struct TlsServer {
    state: Arc<ArcSwap<State>>,
    config: ArcSwap<ServerConfig>,
    mode: ClientAuthMode,
    sessions: Arc<dyn StoresServerSessions>,
    tickets: Arc<dyn ProducesTickets>,
    unknown: Arc<Unknown>,
    provider: Arc<CryptoProvider>,
    /// Whether the stored certificates were taken in at least once.
    updated: std::sync::atomic::AtomicBool,
}

/// What the client-verification part of the configuration depends on.
#[derive(PartialEq)]
enum Wanted {
    None,
    Want(Vec<String>),
    Need(Vec<String>),
}

impl TlsServer {
    pub fn new(mode: ClientAuthMode) -> Arc<TlsServer> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let state = Arc::new(ArcSwap::from_pointee(State {
            index: Arc::default(),
            settings: TlsSettings::default(),
        }));
        let tickets = rustls::crypto::ring::Ticketer::new().expect("a ticket key can be generated");
        let server = TlsServer {
            state,
            config: ArcSwap::from_pointee(
                ServerConfig::builder_with_provider(provider.clone())
                    .with_safe_default_protocol_versions()
                    .expect("ring supports TLS 1.2 and 1.3")
                    .with_no_client_auth()
                    .with_cert_resolver(Arc::new(NoCertificate)),
            ),
            mode,
            sessions: ServerSessionMemoryCache::new(10_000),
            tickets,
            unknown: Arc::default(),
            provider,
            updated: Default::default(),
        };
        // Before the first update nothing is stored yet: refuse quietly, decide (and say) then.
        server.rebuild(&server.wanted(&TlsSettings::default()), false);
        Arc::new(server)
    }

    fn wanted(&self, settings: &TlsSettings) -> Wanted {
        let cas = settings.trusted_cas_server.clone();
        match (self.mode, settings.client_auth) {
            (ClientAuthMode::None, _) => Wanted::None,
            (ClientAuthMode::Want, _) => Wanted::Want(cas),
            (ClientAuthMode::Need, _) => Wanted::Need(cas),
            (ClientAuthMode::Auto, Some(ClientAuth::None)) => Wanted::None,
            (ClientAuthMode::Auto, Some(ClientAuth::Want)) => Wanted::Want(cas),
            (ClientAuthMode::Auto, Some(ClientAuth::Need)) => Wanted::Need(cas),
            (ClientAuthMode::Auto, None) if cas.is_empty() => Wanted::None,
            (ClientAuthMode::Auto, None) => Wanted::Want(cas),
        }
    }

    fn rebuild(&self, wanted: &Wanted, log: bool) {
        let index = self.state.load().index.clone();
        let builder = ServerConfig::builder_with_provider(self.provider.clone())
            .with_safe_default_protocol_versions()
            .expect("ring supports TLS 1.2 and 1.3");
        let verifier: Option<Arc<dyn ClientCertVerifier>> = match wanted {
            Wanted::None => None,
            Wanted::Want(cas) | Wanted::Need(cas) => {
                let roots = Arc::new(index.roots(cas));
                let need = matches!(wanted, Wanted::Need(_));
                if roots.is_empty() {
                    if need {
                        if log {
                            tracing::error!(
                                "client certificates are required but no trusted CA is set (tlsSettings.trustedCAsServer): every TLS client is refused"
                            );
                        }
                        Some(Arc::new(RefuseAll(self.provider.clone())))
                    } else {
                        None
                    }
                } else {
                    let b =
                        WebPkiClientVerifier::builder_with_provider(roots, self.provider.clone());
                    let b = if need { b } else { b.allow_unauthenticated() };
                    match b.build() {
                        Ok(v) => Some(v),
                        Err(e) => {
                            tracing::error!(error = %e, "cannot verify client certificates: refusing them");
                            Some(Arc::new(RefuseAll(self.provider.clone())))
                        }
                    }
                }
            }
        };
        let resolver = Arc::new(Resolver {
            state: self.state.clone(),
            unknown: self.unknown.clone(),
        });
        let mut config = match verifier {
            Some(v) => builder.with_client_cert_verifier(v),
            None => builder.with_no_client_auth(),
        }
        .with_cert_resolver(resolver);
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        config.session_storage = self.sessions.clone();
        config.ticketer = self.tickets.clone();
        self.config.store(Arc::new(config));
    }

    /// Takes in new certificates and settings: the next handshakes use them.
    pub fn update(&self, index: Arc<CertIndex>, settings: TlsSettings) {
        let before = self.wanted(&self.state.load().settings);
        let roots_changed = {
            let old = self.state.load();
            settings
                .trusted_cas_server
                .iter()
                .any(|id| old.index.get(id).map(|c| &c.chain) != index.get(id).map(|c| &c.chain))
        };
        let after = self.wanted(&settings);
        self.state.store(Arc::new(State { index, settings }));
        self.unknown.0.lock().expect("unknown sni lock").clear();
        let first = !self.updated.swap(true, std::sync::atomic::Ordering::AcqRel);
        if first || before != after || roots_changed {
            self.rebuild(&after, true);
        }
    }

    /// The configuration new handshakes use.
    pub fn config(&self) -> Arc<ServerConfig> {
        self.config.load_full()
    }

    /// Whether any certificate can be served now.
    pub fn has_certificates(&self) -> bool {
        self.state.load().index.has_server_certificates()
    }
}

/// The resolver of the first configuration, before any certificate is loaded.
#[derive(Debug)]
struct NoCertificate;

impl ResolvesServerCert for NoCertificate {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        None
    }
}
