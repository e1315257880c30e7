//! Komainu's TLS: certificates read from their PEM, the SNI index built from the stored ones, the
//! PKI that generates them, and the rustls configurations of the TLS listener and of TLS to
//! backends. Pure computation and rustls objects: no socket is opened here.

mod client;
mod describe;
mod index;
pub mod inspect;
mod peer;
pub mod pki;
mod server;

pub use client::{TargetTls, client_config};
pub use describe::describe_certificate;
pub use index::{CertIndex, Loaded};
pub use inspect::{CertFacts, Inspected, facts, inspect};
pub use peer::{PeerCertificate, PeerChain, dn};
pub use server::{ClientAuthMode, TlsServer};
