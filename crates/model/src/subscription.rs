//! `ApiSubscription`: a client's subscription to a plan of an API, with its credentials and dates.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::{AccessMode, Entity, Extra, FieldError, Kind, Refs, ids};

/// Otoroshi 18's spelling of a subscription's state; seed 001 uses `enabled`. Both are kept.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum SubscriptionStatus {
    Enabled,
    Disabled,
    Deprecated,
    Pending,
    /// Ended for good (Komainu: `dates.closed_at` is set).
    Closed,
}

/// Lifecycle timestamps, milliseconds since the epoch.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct SubscriptionDates {
    pub created_at: Option<i64>,
    pub processed_at: Option<i64>,
    pub started_at: Option<i64>,
    pub paused_at: Option<i64>,
    pub ending_at: Option<i64>,
    pub closed_at: Option<i64>,
    #[serde(flatten)]
    pub extra: Extra,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct ApiSubscription {
    pub id: String,
    pub name: String,
    pub description: String,
    pub enabled: bool,
    pub status: Option<SubscriptionStatus>,
    pub api_ref: String,
    pub plan_ref: String,
    pub owner_ref: String,
    pub subscription_kind: AccessMode,
    /// Generated credentials: ids, or objects such as `{"apikey": "<clientId>"}`.
    pub token_refs: Vec<Value>,
    pub dates: SubscriptionDates,
    pub tags: Vec<String>,
    pub metadata: BTreeMap<String, String>,
    #[serde(flatten)]
    pub extra: Extra,
}

impl Default for ApiSubscription {
    fn default() -> Self {
        ApiSubscription {
            id: String::new(),
            name: String::new(),
            description: String::new(),
            enabled: true,
            status: None,
            api_ref: String::new(),
            plan_ref: String::new(),
            owner_ref: String::new(),
            subscription_kind: AccessMode::Keyless,
            token_refs: Vec::new(),
            dates: SubscriptionDates::default(),
            tags: Vec::new(),
            metadata: BTreeMap::new(),
            extra: Extra::new(),
        }
    }
}

impl Entity for ApiSubscription {
    const KIND: Kind = Kind::ApiSubscription;

    fn complete(&mut self) {
        ids::ensure(&mut self.id, "subscription_");
    }

    fn check(&self, refs: &dyn Refs, errors: &mut Vec<FieldError>) {
        if !self.api_ref.is_empty() && !refs.exists(Kind::Api, &self.api_ref) {
            errors.push(FieldError::new(
                "api_ref",
                format!("no API has id \"{}\"", self.api_ref),
            ));
        }
    }
}
