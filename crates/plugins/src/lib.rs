//! Komainu's plugins: the phases a request goes through, and the plugins that join them.
//!
//! A plugin is one file: its config (parsed and checked once, when the snapshot is built, never per
//! request) and the phases it joins, each defaulting to "continue". Adding one is that file plus a
//! line in the [`catalogue`]. Plugin ids are Otoroshi's (`cp:otoroshi.next.plugins.Cors`).

// A phase's `Err` is the response to send instead of going on: rare, moved once, not worth a box.
#![allow(clippy::result_large_err)]

mod catalogue;
mod chain;
mod config;
pub mod counters;
mod def;
mod errors;
mod expr;
mod limits;
mod phase;
pub mod registry;
mod tee;

pub mod consumers;
pub mod deprecation;
pub mod jwks;
pub mod jwt_verifier;
pub mod token_endpoint;

pub use chain::{Chain, PluginInstance};
pub use errors::gateway_error;
pub use komainu_http::{Body, BoxError, empty, full};
pub use komainu_keys::{RouteIdentity, cookie, query_param};
pub use phase::{
    BodyLimit, BodyNeed, BodyOutcome, BodyPending, BodyResume, Done, Needs, Outcome, Pending,
    Plugin, RequestCtx, Resume, Step,
};

/// What plugins share beyond their own config, handed to their constructors.
#[derive(Clone, Default)]
pub struct Services {
    /// API keys (absent when only checking configs, as the admin API does).
    pub keys: Option<std::sync::Arc<komainu_keys::KeyService>>,
    /// Remote key sets of JWT verifiers, kept across snapshots.
    pub jwks: std::sync::Arc<jwks::Jwks>,
    /// The limit plugins' counters, kept across snapshots.
    pub counters: std::sync::Arc<counters::Counters>,
    /// The global configuration's limits (GlobalThrottling, GlobalPerIpAddressThrottling).
    pub global: GlobalLimits,
    /// The certificates, for backends plugins build (CanaryMode's).
    pub certs: std::sync::Arc<komainu_tls::CertIndex>,
    /// Building the chains requests run (false when only checking configs: plugins then build
    /// nothing that runs, such as backends).
    pub live: bool,
    /// W3CTracing's tracers, kept across snapshots.
    pub tracers: std::sync::Arc<komainu_observe::trace::Tracers>,
    /// What the gateway signs values it hands to clients with (CanaryMode's ids).
    pub signing: std::sync::Arc<SigningKey>,
    /// The developer portal's URL as developers reach it: what a deprecated API's `Link` names.
    pub portal_url: Option<std::sync::Arc<str>>,
    /// Where jq filters run (absent when only checking configs).
    pub sandbox: Option<std::sync::Arc<komainu_sandbox::Sandbox>>,
    /// The stored JWT verifiers the JWT plugins name (`None` when only checking configs: names
    /// are then checked when the plugin is used).
    pub verifiers: Option<
        std::sync::Arc<
            std::collections::BTreeMap<String, std::sync::Arc<komainu_model::JwtVerifier>>,
        >,
    >,
}

/// The key the gateway signs values it hands to clients with, as Otoroshi's `env.sign` does
/// (HMAC-SHA256, hex): one per cluster (kept in the store), so any node checks what another signed.
pub struct SigningKey(Vec<u8>);

impl Default for SigningKey {
    /// A key of this process alone (configs checked, tests).
    fn default() -> Self {
        SigningKey(rand_bytes())
    }
}

fn rand_bytes() -> Vec<u8> {
    use std::hash::{BuildHasher, RandomState};
    (0..4)
        .flat_map(|i| RandomState::new().hash_one(i).to_ne_bytes())
        .collect()
}

impl SigningKey {
    pub fn new(key: Vec<u8>) -> SigningKey {
        SigningKey(key)
    }

    /// `message` signed, hex.
    pub fn sign(&self, message: &str) -> String {
        use hmac::Mac;
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(&self.0).expect("any key length");
        mac.update(message.as_bytes());
        mac.finalize()
            .into_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    /// Whether `signature` (hex) is `message` signed with this key, compared in constant time.
    pub fn verify(&self, message: &str, signature: &str) -> bool {
        use subtle::ConstantTimeEq;
        self.sign(message)
            .as_bytes()
            .ct_eq(signature.as_bytes())
            .into()
    }
}

/// The global configuration's `throttlingQuota` and `perIpThrottlingQuota`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GlobalLimits {
    pub throttling_quota: u64,
    pub per_ip_throttling_quota: u64,
}

impl Default for GlobalLimits {
    fn default() -> Self {
        GlobalLimits {
            throttling_quota: limits::UNLIMITED,
            per_ip_throttling_quota: limits::UNLIMITED,
        }
    }
}

/// The body checks of the plugins, for the fuzz targets (`fuzz/`) only.
#[cfg(fuzzing)]
pub mod fuzzing {
    pub use crate::catalogue::json_schema::checker as json_schema_checker;
}
