//! The global configuration (Otoroshi's `GlobalConfig`, one document with id `global`): what
//! applies to the whole gateway rather than to a route. Komainu reads its `tlsSettings`; the rest
//! of an Otoroshi config is kept as written.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::{Entity, Extra, FieldError, Kind, Refs};

/// The id of the one global configuration.
pub const GLOBAL_CONFIG_ID: &str = "global";

/// How the TLS listener picks certificates and asks clients for theirs.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, rename_all = "camelCase")]
pub struct TlsSettings {
    /// The name whose certificate is served when the client's SNI matches none.
    pub default_domain: Option<String>,
    /// When nothing matches, serve the first server certificate rather than fail the handshake.
    pub random_if_not_found: bool,
    /// Ids of stored CA certificates whose client certificates are trusted (mTLS).
    #[serde(rename = "trustedCAsServer")]
    pub trusted_cas_server: Vec<String>,
    /// `None`, `Want` or `Need`: whether clients are asked for a certificate (`--tls-client-auth`
    /// decides when it is not `auto`).
    pub client_auth: Option<ClientAuth>,
    #[serde(flatten)]
    pub extra: Extra,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum ClientAuth {
    None,
    Want,
    Need,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, rename_all = "camelCase")]
pub struct GlobalConfig {
    pub id: String,
    pub tls_settings: TlsSettings,
    /// Calls per second the whole gateway takes on routes with `GlobalThrottling`.
    pub throttling_quota: u64,
    /// Calls per second one client address takes on routes with `GlobalPerIpAddressThrottling`.
    pub per_ip_throttling_quota: u64,
    #[serde(flatten)]
    pub extra: Extra,
}

impl Default for GlobalConfig {
    fn default() -> Self {
        GlobalConfig {
            id: GLOBAL_CONFIG_ID.into(),
            tls_settings: TlsSettings::default(),
            throttling_quota: 10_000_000,
            per_ip_throttling_quota: 10_000_000,
            extra: Extra::new(),
        }
    }
}

impl Entity for GlobalConfig {
    const KIND: Kind = Kind::GlobalConfig;

    fn complete(&mut self) {
        if self.id.is_empty() {
            self.id = GLOBAL_CONFIG_ID.into();
        }
    }

    fn check(&self, refs: &dyn Refs, errors: &mut Vec<FieldError>) {
        if self.id != GLOBAL_CONFIG_ID {
            errors.push(FieldError::new(
                "id",
                format!("the global configuration's id is \"{GLOBAL_CONFIG_ID}\""),
            ));
        }
        for (i, id) in self.tls_settings.trusted_cas_server.iter().enumerate() {
            if !refs.exists(Kind::Certificate, id) {
                errors.push(FieldError::new(
                    format!("tlsSettings.trustedCAsServer[{i}]"),
                    format!("no stored certificate has id \"{id}\""),
                ));
            }
        }
    }
}
