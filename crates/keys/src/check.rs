//! Deciding a keyed call, in Otoroshi's order: find the key, check the credential, the key's state,
//! its routing constraints, its scope, read-only, restrictions, then count and check quotas.

use std::sync::Arc;

use http::{HeaderName, Method};

use crate::jwt::{self, RequestFacts, Token};
use crate::{ApikeyConfig, CompiledKey, Denial, KeyService, Presented, RouteIdentity, Spent};

/// Remaining calls in each window after this one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Remaining {
    pub second: u64,
    pub day: u64,
    pub month: u64,
}

pub enum Verdict {
    /// No key with that client id: 400 `errors.invalid.api.key.tuple`.
    Unknown,
    /// A known key that may not make this call.
    Denied(Denial),
    /// The key's tags/metadata do not match the plugin's routing: 401 `errors.invalid.api.key`.
    NotRouted,
    /// Over a quota: 429 `errors.too.much.requests`.
    OverQuota(Remaining),
    /// The node holds no granted call of the key's shared quotas: wait for
    /// [`KeyService::grant`], then check again without waiting.
    NeedsGrant(Arc<CompiledKey>),
    /// Go on; strip these headers from the upstream request.
    Passed {
        remaining: Remaining,
        strip: Vec<HeaderName>,
        /// The key that passed (what later plugins and the logs know the consumer by).
        key: Arc<CompiledKey>,
    },
}

impl KeyService {
    /// Decides a call. `may_wait`: an empty allowance of a shared quota answers
    /// [`Verdict::NeedsGrant`] (else the quota is spent: [`Verdict::OverQuota`]).
    pub fn check(
        &self,
        presented: Presented,
        cfg: &ApikeyConfig,
        route: &RouteIdentity,
        method: &Method,
        facts: &RequestFacts<'_>,
        may_wait: bool,
    ) -> Verdict {
        let now = self.now_ms();
        let index = self.index();
        // A JWT is read once: its claims name the key, then the key's secret verifies it.
        let jwt = match &presented {
            Presented::Jwt { token, .. } => jwt::read(token),
            _ => None,
        };
        let id = match &presented {
            Presented::ClientId { id, .. }
            | Presented::Secret { id, .. }
            | Presented::OtoBearer { id, .. } => Some(id.as_str()),
            Presented::Jwt { .. } => jwt.as_ref().and_then(Token::client_id),
        };
        let Some(id) = id else {
            return Verdict::Denied(Denial::Bad);
        };
        let Some(key) = index.keys.get(id) else {
            return Verdict::Unknown;
        };
        let credential_ok = match &presented {
            Presented::ClientId { .. } => key.allow_client_id_only,
            Presented::Secret { secret, .. } => key.secret_matches(secret, now),
            Presented::OtoBearer { id, signature, .. } => key
                .secrets(now)
                .into_iter()
                .any(|s| crate::bearer::signed_with(id, signature, s)),
            Presented::Jwt { .. } => jwt
                .as_ref()
                .is_some_and(|t| key.jwt_matches(t, &cfg.extractors.jwt, facts, now)),
        };
        if !credential_ok {
            return Verdict::Denied(Denial::Bad);
        }
        if !key.usable(now) {
            // The right credentials: the caller may know why its key stopped working.
            return Verdict::Denied(match key.subscription_stop() {
                Some(why) if !key.enabled => Denial::Subscription(why),
                _ => Denial::Bad,
            });
        }
        if !cfg.routing.accepts(key.tags(), key.metadata()) {
            return Verdict::NotRouted;
        }
        // A constrained key only works where the plugin constrains keys by tags/metadata.
        if (key.constrained_services_only && !cfg.routing.enabled)
            || !key.authorized_on(route, &index.groups)
            || !cfg.admits_plan_of(key)
        {
            return Verdict::Denied(Denial::NotAuthorized);
        }
        if key.read_only && !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS) {
            return Verdict::Denied(Denial::ReadOnly);
        }
        if let Some(status) = key.restricted(method.as_str(), facts.host, facts.path) {
            return Verdict::Denied(Denial::Restricted(status));
        }
        let windows = self.calendar.at(now);
        // Spent from grants: what is spent is within the shared quotas already.
        let granted = cfg.update_quotas && self.grants();
        if granted {
            match key.counters.spend(windows.day) {
                Spent::Taken { refill } => {
                    if refill {
                        self.grant_ahead(key);
                    }
                }
                Spent::Empty if may_wait => return Verdict::NeedsGrant(key.clone()),
                Spent::Empty => {
                    let usage = key.counters.usage(&windows);
                    return Verdict::OverQuota(Remaining {
                        second: key.throttling_quota.saturating_sub(usage.second),
                        day: 0,
                        month: key.monthly_quota.saturating_sub(usage.month),
                    });
                }
            }
        }
        let usage = if cfg.update_quotas {
            let (usage, first_unsaved) = key.counters.hit(&windows, 1);
            if first_unsaved {
                self.mark_unsaved(key);
            }
            self.crossed(key, &usage, &windows);
            usage
        } else {
            key.counters.usage(&windows)
        };
        let d = &**key;
        let remaining = Remaining {
            second: d.throttling_quota.saturating_sub(usage.second),
            day: d.daily_quota.saturating_sub(usage.day),
            month: d.monthly_quota.saturating_sub(usage.month),
        };
        // The local view of granted quotas can run ahead of the store (another node's refund
        // does not lower it), so it only informs.
        if usage.second > d.throttling_quota
            || (!granted && (usage.day > d.daily_quota || usage.month > d.monthly_quota))
        {
            return Verdict::OverQuota(remaining);
        }
        Verdict::Passed {
            remaining,
            strip: presented.into_strip(),
            key: key.clone(),
        }
    }
}
