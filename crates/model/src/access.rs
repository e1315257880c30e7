//! A plan's `access_mode_configuration`, typed by its `access_mode_configuration_type`: what keys
//! its subscriptions get, which verifier checks its tokens.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::{
    AccessMode, ApiDocumentationPlan, AuthorizedEntity, Restrictions, Rotation, VerifierRef,
};

/// What an `apikey` or `oauth2-local` plan puts in the keys it issues.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(default, rename_all = "camelCase")]
pub struct KeyTemplate {
    /// Template of generated client ids (`${...}` placeholders, see the subscription docs).
    pub client_id_pattern: Option<String>,
    pub client_name_pattern: Option<String>,
    pub description: Option<String>,
    /// Entities authorized besides the plan's API.
    pub authorized_entities: Vec<AuthorizedEntity>,
    pub enabled: bool,
    pub read_only: bool,
    pub allow_client_id_only: bool,
    pub constrained_services_only: bool,
    pub restrictions: Restrictions,
    pub rotation: Rotation,
    pub valid_until: Option<i64>,
    pub tags: Vec<String>,
    pub metadata: BTreeMap<String, String>,
    pub throttling_quota: Option<u64>,
    pub daily_quota: Option<u64>,
    pub monthly_quota: Option<u64>,
    /// `oauth2-local`: lifetime of issued access tokens, milliseconds.
    pub expiration: Option<u64>,
}

impl Default for KeyTemplate {
    fn default() -> Self {
        KeyTemplate {
            client_id_pattern: None,
            client_name_pattern: None,
            description: None,
            authorized_entities: Vec::new(),
            enabled: true,
            read_only: false,
            allow_client_id_only: false,
            constrained_services_only: false,
            restrictions: Restrictions::default(),
            rotation: Rotation::default(),
            valid_until: None,
            tags: Vec::new(),
            metadata: BTreeMap::new(),
            throttling_quota: None,
            daily_quota: None,
            monthly_quota: None,
            expiration: None,
        }
    }
}

/// `mtls`: the client certificate's subject and issuer must match these patterns.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct MtlsAccess {
    pub regex_subject_dns: Vec<String>,
    pub regex_issuer_dns: Vec<String>,
}

#[derive(Clone, Debug)]
pub enum AccessConfig {
    Keyless,
    Apikey(Box<KeyTemplate>),
    Jwt(VerifierRef),
    Mtls(MtlsAccess),
    Oauth2Local(Box<KeyTemplate>),
    Oauth2Remote(VerifierRef),
}

/// Default lifetime of an `oauth2-local` access token: one hour.
pub const DEFAULT_TOKEN_LIFETIME_MS: u64 = 3_600_000;

fn typed<T: for<'de> Deserialize<'de>>(cfg: &Map<String, Value>) -> Result<T, String> {
    serde_json::from_value(Value::Object(cfg.clone())).map_err(|e| e.to_string())
}

fn verifier(cfg: &Map<String, Value>) -> Result<VerifierRef, String> {
    let v = cfg
        .get("verifier")
        .ok_or("`verifier` is required: a jwt-verifier id or an inline verifier")?;
    VerifierRef::from_value(v).map_err(|e| format!("verifier: {e}"))
}

impl ApiDocumentationPlan {
    /// The plan's access configuration, or what is wrong with it.
    pub fn access(&self) -> Result<AccessConfig, String> {
        let cfg = &self.access_mode_configuration;
        Ok(match self.access_mode_configuration_type {
            AccessMode::Keyless => AccessConfig::Keyless,
            AccessMode::Apikey => AccessConfig::Apikey(Box::new(typed(cfg)?)),
            AccessMode::Oauth2Local => AccessConfig::Oauth2Local(Box::new(typed(cfg)?)),
            AccessMode::Jwt => AccessConfig::Jwt(verifier(cfg)?),
            AccessMode::Oauth2Remote => AccessConfig::Oauth2Remote(verifier(cfg)?),
            AccessMode::Mtls => {
                let m: MtlsAccess = typed(cfg)?;
                for p in m.regex_subject_dns.iter().chain(&m.regex_issuer_dns) {
                    regex_ok(p)?;
                }
                AccessConfig::Mtls(m)
            }
        })
    }
}

fn regex_ok(p: &str) -> Result<(), String> {
    regex::Regex::new(p)
        .map(|_| ())
        .map_err(|e| format!("bad pattern \"{p}\": {e}"))
}
