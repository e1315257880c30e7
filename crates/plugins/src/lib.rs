//! Komainu's plugins: the phases a request goes through, and the plugins that join them.
//!
//! A plugin is one file: its config (parsed and checked once, when the snapshot is built, never per
//! request) and the phases it joins, each defaulting to "continue". Adding one is that file plus a
//! line in [`registry`]. Plugin ids are Otoroshi's (`cp:otoroshi.next.plugins.Cors`).

mod chain;
mod config;
mod errors;
mod phase;
pub mod registry;

mod additional_headers;
mod allow_http_methods;
pub mod apikey_calls;
mod body_length;
pub mod client_cert;
mod client_cert_headers;
pub mod consumers;
mod cors;
mod force_https;
mod gzip;
mod ip_address_lists;
mod jwks;
pub mod jwt_verifier;
mod maintenance_mode;
mod override_host;
mod read_only_calls;
mod redirection;
mod remove_headers;
mod static_response;
pub mod token_endpoint;

pub use chain::{Chain, PluginInstance};
pub use errors::gateway_error;
pub use komainu_http::{Body, BoxError, empty, full};
pub use komainu_keys::{RouteIdentity, cookie, query_param};
pub use phase::{BodyLimit, Outcome, Plugin, RequestCtx};

/// What plugins share beyond their own config, handed to their constructors.
#[derive(Clone, Default)]
pub struct Services {
    /// API keys (absent when only checking configs, as the admin API does).
    pub keys: Option<std::sync::Arc<komainu_keys::KeyService>>,
    /// Remote key sets of JWT verifiers, kept across snapshots.
    pub jwks: std::sync::Arc<jwks::Jwks>,
}
