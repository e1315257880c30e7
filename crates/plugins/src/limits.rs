//! What the limit plugins share: the counters and the clock, Otoroshi's quota object
//! (`{"window", "daily", "monthly"}`) and its refusals.

use std::sync::{Arc, OnceLock};

use http::StatusCode;
use komainu_keys::{Calendar, KeyService, Windows};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::counters::{Counters, Window};
use crate::{Body, RequestCtx, Services, gateway_error};

/// Otoroshi's "no limit".
pub(crate) const UNLIMITED: u64 = 10_000_000;

/// Counters and time, as the keys' quotas see it (the testing clock, the quota time zone).
#[derive(Clone)]
pub(crate) struct Meter {
    pub counters: Arc<Counters>,
    keys: Option<Arc<KeyService>>,
}

fn utc() -> &'static Calendar {
    static UTC: OnceLock<Calendar> = OnceLock::new();
    UTC.get_or_init(|| Calendar::new(chrono_tz::UTC))
}

impl Meter {
    pub fn new(services: &Services) -> Meter {
        Meter {
            counters: services.counters.clone(),
            keys: services.keys.clone(),
        }
    }

    pub fn now(&self) -> (i64, Windows) {
        match &self.keys {
            Some(k) => {
                let now = k.clock.now_ms();
                (now, k.calendar.at(now))
            }
            None => {
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_millis() as i64);
                (now, utc().at(now))
            }
        }
    }

    /// Counts a call of `ctx`'s route on `key` in `window` and says whether it stays within
    /// `limit`. The counter is the route's to hold (see `counters`).
    pub fn within(&self, ctx: &RequestCtx, key: &str, window: Window, limit: u64) -> bool {
        let (now, w) = self.now();
        self.counters.hit(&ctx.route.id, key, window, now, &w) <= limit
    }
}

/// Otoroshi's `AllowedQuota`: calls per window (the plugin's window), per day, per month.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct Quota {
    pub window: u64,
    pub daily: u64,
    pub monthly: u64,
}

impl Default for Quota {
    fn default() -> Self {
        Quota {
            window: UNLIMITED,
            daily: UNLIMITED,
            monthly: UNLIMITED,
        }
    }
}

impl Quota {
    /// Counts the call on `key`'s daily and monthly counters; whether both stay within.
    pub fn day_and_month(&self, meter: &Meter, ctx: &RequestCtx, key: &str) -> bool {
        let daily = self.daily >= UNLIMITED
            || meter.within(ctx, &format!("{key}:day"), Window::Day, self.daily);
        let monthly = self.monthly >= UNLIMITED
            || meter.within(ctx, &format!("{key}:month"), Window::Month, self.monthly);
        daily && monthly
    }
}

/// 429 `errors.too.much.requests`.
pub(crate) fn too_many(ctx: &RequestCtx, message: &str) -> http::Response<Body> {
    gateway_error(
        StatusCode::TOO_MANY_REQUESTS,
        "errors.too.much.requests",
        message,
        ctx.html,
    )
}

/// 403 `forbidden`, as Otoroshi's quota plugins answer.
pub(crate) fn forbidden(ctx: &RequestCtx) -> http::Response<Body> {
    gateway_error(StatusCode::FORBIDDEN, "forbidden", "forbidden", ctx.html)
}
