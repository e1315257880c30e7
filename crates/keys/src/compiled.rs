//! A key ready for requests: what checks read of its document, parsed scopes, compiled
//! restrictions and counters.

use std::collections::BTreeMap;
use std::sync::Arc;

use http::StatusCode;
use komainu_model::{ApiKey, Rotation};
use subtle::ConstantTimeEq;

use crate::jwt::{self, RequestFacts, Token};
use crate::{GroupIds, JwtExtractor, KeyCounters, RestrictionRules, RouteIdentity, Scope};

/// Why a known key may not make this call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Denial {
    /// Wrong secret or token, disabled, expired: 401 `errors.bad.api.key`.
    Bad,
    /// Not authorized on this route: 400 `errors.invalid.api.key.tuple`.
    NotAuthorized,
    /// Read-only key writing: 405 `errors.method.not.allowed`.
    ReadOnly,
    /// A restriction says so: 403 or 404.
    Restricted(StatusCode),
    /// The right credentials of a key whose subscription is paused (`disabled`), `pending` or
    /// `closed`: 401 with a cause that says so.
    Subscription(&'static str),
}

/// A key as requests need it. Only what a check reads is kept, and the parts most keys lack
/// (rotation, restrictions, tags and metadata) live behind one optional box: 100,000 keys must
/// stay small in memory. The full document stays in the store.
pub struct CompiledKey {
    pub client_id: Box<str>,
    secret: Box<str>,
    pub enabled: bool,
    pub read_only: bool,
    pub allow_client_id_only: bool,
    pub constrained_services_only: bool,
    pub throttling_quota: u64,
    pub daily_quota: u64,
    pub monthly_quota: u64,
    pub valid_until: Option<i64>,
    scopes: Box<[Scope]>,
    rare: Option<Box<Rare>>,
    pub counters: Arc<KeyCounters>,
}

/// What most keys do not have.
struct Rare {
    rotation: Option<Rotation>,
    restrictions: Option<RestrictionRules>,
    tags: Vec<String>,
    metadata: BTreeMap<String, String>,
}

fn secret_eq(a: &str, b: &str) -> bool {
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

impl CompiledKey {
    pub fn new(doc: ApiKey, counters: Arc<KeyCounters>) -> Self {
        let scopes = doc.authorized_entities.iter().map(Scope::parse).collect();
        let r = &doc.restrictions;
        let restrictions = r.enabled.then(|| {
            RestrictionRules::lenient(r.allow_last, &r.allowed, &r.forbidden, &r.not_found)
        });
        // A secret replaced by hand (a subscription's rotation) stays accepted through its grace
        // period even when periodic rotation is off.
        let rotation = (doc.rotation.enabled || doc.rotation.previous_secret.is_some())
            .then_some(doc.rotation);
        let rare = (rotation.is_some()
            || restrictions.is_some()
            || !doc.tags.is_empty()
            || !doc.metadata.is_empty())
        .then(|| {
            Box::new(Rare {
                rotation,
                restrictions,
                tags: doc.tags,
                metadata: doc.metadata,
            })
        });
        CompiledKey {
            client_id: doc.client_id.into_boxed_str(),
            secret: doc.client_secret.into_boxed_str(),
            enabled: doc.enabled,
            read_only: doc.read_only,
            allow_client_id_only: doc.allow_client_id_only,
            constrained_services_only: doc.constrained_services_only,
            throttling_quota: doc.throttling_quota,
            daily_quota: doc.daily_quota,
            monthly_quota: doc.monthly_quota,
            valid_until: doc.valid_until,
            scopes,
            rare,
            counters,
        }
    }

    /// The current client secret (what tokens issued for this key are signed with).
    pub fn secret(&self) -> &str {
        &self.secret
    }

    pub fn tags(&self) -> &[String] {
        self.rare.as_ref().map_or(&[], |r| &r.tags)
    }

    pub fn metadata(&self) -> &BTreeMap<String, String> {
        static NONE: BTreeMap<String, String> = BTreeMap::new();
        self.rare.as_ref().map_or(&NONE, |r| &r.metadata)
    }

    pub fn meta(&self, name: &str) -> Option<&str> {
        self.metadata().get(name).map(String::as_str)
    }

    /// Rotation settings and state, when rotation is on.
    pub fn rotation(&self) -> Option<&Rotation> {
        self.rare.as_ref()?.rotation.as_ref()
    }

    /// The secrets accepted now: the current one, the next one (published during the grace period
    /// before a rotation) and the previous one (during the grace period after it).
    pub fn secrets(&self, now_ms: i64) -> Vec<&str> {
        let mut secrets = vec![&*self.secret];
        if let Some(rotation) = self.rotation() {
            if let Some(next) = &rotation.next_secret {
                secrets.push(next);
            }
            let grace_ms = rotation.grace_period as i64 * 3_600_000;
            if let (Some(prev), Some(start)) = (&rotation.previous_secret, rotation.started_at)
                && now_ms < start + grace_ms
            {
                secrets.push(prev);
            }
        }
        secrets
    }

    /// Whether `secret` is one of the accepted secrets, compared in constant time.
    pub fn secret_matches(&self, secret: &str, now_ms: i64) -> bool {
        self.secrets(now_ms)
            .into_iter()
            .fold(false, |ok, s| ok | secret_eq(s, secret))
    }

    pub(crate) fn jwt_matches(
        &self,
        token: &Token<'_>,
        cfg: &JwtExtractor,
        req: &RequestFacts<'_>,
        now_ms: i64,
    ) -> bool {
        jwt::verify(token, &self.secrets(now_ms), cfg, req, now_ms / 1000)
    }

    /// The plan a subscription issued this key for, if one did.
    pub fn plan(&self) -> Option<&str> {
        self.meta(komainu_model::PLAN_META)
    }

    /// Why this key's subscription stops it, when it does (its state is not `enabled`).
    pub fn subscription_stop(&self) -> Option<&'static str> {
        match self.meta(komainu_model::SUBSCRIPTION_STATE_META)? {
            "disabled" => Some("paused"),
            "pending" => Some("pending"),
            "closed" => Some("closed"),
            _ => None,
        }
    }

    /// Whether the key itself may be used now (enabled, not past `validUntil`).
    pub fn usable(&self, now_ms: i64) -> bool {
        self.enabled && self.valid_until.is_none_or(|until| now_ms <= until)
    }

    pub fn authorized_on(&self, route: &RouteIdentity, groups: &GroupIds) -> bool {
        self.scopes.iter().any(|s| s.covers(route, groups))
    }

    pub fn scopes(&self) -> &[Scope] {
        &self.scopes
    }

    /// What `restrictions` decide for this call (`None`: allowed).
    pub fn restricted(&self, method: &str, host: &str, path: &str) -> Option<StatusCode> {
        self.rare
            .as_ref()?
            .restrictions
            .as_ref()?
            .decide(method, host, path)
    }
}
