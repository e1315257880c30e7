//! `ApiKey` (seed 004 and the apikey access mode of seed 001): credentials, authorization scope,
//! quotas, restrictions and secret rotation.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::{Entity, Extra, FieldError, Kind, Refs, ids};

/// Otoroshi's "unlimited" quota.
pub const UNLIMITED: u64 = 10_000_000;

/// Metadata of a key issued by a subscription: the subscription's id (usage is counted by it).
pub const SUBSCRIPTION_META: &str = "subscription_ref";
/// The metadata of a subscription's key naming the subscription's state (`enabled`, `disabled`,
/// `pending`, `closed`): a refused call says why.
pub const SUBSCRIPTION_STATE_META: &str = "subscription_state";
/// Metadata of a key a subscription issued: the plan it was issued for.
pub const PLAN_META: &str = "plan_ref";

/// An entry of `authorizedEntities`: `group_x`, `route_x`, `api_x`, a bare group id, or
/// `{"kind": "group", "id": "x"}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum AuthorizedEntity {
    Id(String),
    Ref { kind: String, id: String },
}

/// One path+method rule of `restrictions`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct Restriction {
    /// An HTTP method or `*`.
    pub method: String,
    /// A regex over the incoming path (or host+path when it does not start with `/`).
    pub path: String,
    #[serde(flatten)]
    pub extra: Extra,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct Restrictions {
    pub enabled: bool,
    #[serde(rename = "allowLast")]
    pub allow_last: bool,
    pub allowed: Vec<Restriction>,
    pub forbidden: Vec<Restriction>,
    #[serde(rename = "notFound")]
    pub not_found: Vec<Restriction>,
    #[serde(flatten)]
    pub extra: Extra,
}

impl Default for Restrictions {
    fn default() -> Self {
        Restrictions {
            enabled: false,
            allow_last: true,
            allowed: Vec::new(),
            forbidden: Vec::new(),
            not_found: Vec::new(),
            extra: Extra::new(),
        }
    }
}

/// Scheduled secret rotation: every `rotationEvery` hours, the old secret valid `gracePeriod` more.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct Rotation {
    pub enabled: bool,
    #[serde(rename = "rotationEvery")]
    pub rotation_every: u64,
    #[serde(rename = "gracePeriod")]
    pub grace_period: u64,
    /// The secret that replaces `clientSecret` at the next rotation, published (and accepted) during
    /// the grace period before it.
    #[serde(rename = "nextSecret")]
    pub next_secret: Option<String>,
    /// The secret replaced by the last rotation, still accepted during the grace period after it.
    #[serde(rename = "previousSecret")]
    pub previous_secret: Option<String>,
    /// When the current rotation period started (milliseconds since the epoch).
    #[serde(rename = "rotationStartedAt")]
    pub started_at: Option<i64>,
    #[serde(flatten)]
    pub extra: Extra,
}

impl Default for Rotation {
    fn default() -> Self {
        Rotation {
            enabled: false,
            rotation_every: 744,
            grace_period: 168,
            next_secret: None,
            previous_secret: None,
            started_at: None,
            extra: Extra::new(),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, rename_all = "camelCase")]
pub struct ApiKey {
    pub client_id: String,
    pub client_secret: String,
    pub client_name: String,
    pub description: String,
    pub authorized_entities: Vec<AuthorizedEntity>,
    pub enabled: bool,
    pub read_only: bool,
    pub allow_client_id_only: bool,
    /// Calls per second.
    pub throttling_quota: u64,
    pub daily_quota: u64,
    pub monthly_quota: u64,
    pub constrained_services_only: bool,
    pub restrictions: Restrictions,
    pub rotation: Rotation,
    /// Milliseconds since the epoch after which the key is refused.
    pub valid_until: Option<i64>,
    pub tags: Vec<String>,
    pub metadata: BTreeMap<String, String>,
    #[serde(flatten)]
    pub extra: Extra,
}

impl Default for ApiKey {
    fn default() -> Self {
        ApiKey {
            client_id: String::new(),
            client_secret: String::new(),
            client_name: String::new(),
            description: String::new(),
            authorized_entities: Vec::new(),
            enabled: true,
            read_only: false,
            allow_client_id_only: false,
            throttling_quota: UNLIMITED,
            daily_quota: UNLIMITED,
            monthly_quota: UNLIMITED,
            constrained_services_only: false,
            restrictions: Restrictions::default(),
            rotation: Rotation::default(),
            valid_until: None,
            tags: Vec::new(),
            metadata: BTreeMap::new(),
            extra: Extra::new(),
        }
    }
}

const ENTITY_KINDS: [&str; 5] = ["group", "service", "route", "api", "route-composition"];

impl Entity for ApiKey {
    const KIND: Kind = Kind::ApiKey;

    fn complete(&mut self) {
        if self.client_id.trim().is_empty() {
            self.client_id = ids::random_alphanumeric(16);
        }
        if self.client_secret.is_empty() {
            self.client_secret = ids::random_alphanumeric(64);
        }
        if self.client_name.is_empty() {
            self.client_name = self.client_id.clone();
        }
    }

    fn check(&self, _refs: &dyn Refs, errors: &mut Vec<FieldError>) {
        if self.client_id.contains([':', ' ', '/']) {
            errors.push(FieldError::new(
                "clientId",
                "may not contain ':', '/' or spaces",
            ));
        }
        for (i, e) in self.authorized_entities.iter().enumerate() {
            let at = format!("authorizedEntities[{i}]");
            match e {
                AuthorizedEntity::Id(id) if id.trim().is_empty() => {
                    errors.push(FieldError::new(at, "an empty entity id authorizes nothing"))
                }
                AuthorizedEntity::Ref { kind, .. } if !ENTITY_KINDS.contains(&kind.as_str()) => {
                    errors.push(FieldError::new(
                        format!("{at}.kind"),
                        format!("\"{kind}\" is not one of {ENTITY_KINDS:?}"),
                    ))
                }
                _ => {}
            }
        }
        for (name, list) in [
            ("allowed", &self.restrictions.allowed),
            ("forbidden", &self.restrictions.forbidden),
            ("notFound", &self.restrictions.not_found),
        ] {
            for (i, r) in list.iter().enumerate() {
                let m = r.method.trim();
                if !(m == "*" || (!m.is_empty() && m.bytes().all(|b| b.is_ascii_alphabetic()))) {
                    errors.push(FieldError::new(
                        format!("restrictions.{name}[{i}].method"),
                        "expected an HTTP method or \"*\"",
                    ));
                }
            }
        }
        if self.rotation.enabled && self.rotation.rotation_every == 0 {
            errors.push(FieldError::new(
                "rotation.rotationEvery",
                "must be at least 1 hour",
            ));
        }
    }
}
