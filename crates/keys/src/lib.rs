//! API keys at run time: an index of compiled keys by client id (swapped atomically on change, never
//! locked by a request), credential extraction, JWT checks, authorization scopes, quotas counted in
//! memory and persisted every second, and secret rotation.

mod bearer;
mod calendar;
mod check;
mod clock;
mod compiled;
mod config;
mod counters;
mod extract;
mod jwt;
mod key_map;
mod restrictions;
mod rotation;
mod scope;
mod service;
pub mod usage;
pub mod window_cell;

pub use bearer::bearer;
pub use calendar::{Calendar, Windows};
pub use check::{Remaining, Verdict};
pub use clock::Clock;
pub use compiled::{CompiledKey, Denial};
pub use config::{ApikeyConfig, Extractors, JwtExtractor, KeyRouting};
pub use counters::{KeyCounters, Spent, Usage};
pub use extract::{Presented, basic_auth, cookie, extract, query_param};
pub use jwt::RequestFacts;
pub use key_map::KeyMap;
pub use restrictions::RestrictionRules;
pub use rotation::{previous_secret_until, rotated};
pub use scope::{GroupIds, RouteIdentity, Scope};
pub use service::{Crossing, KeyIndex, KeyService, QuotaReport};

/// The parsers of client input, for the fuzz targets (`fuzz/`) only.
#[cfg(fuzzing)]
pub mod fuzzing {
    pub use crate::jwt::read as read_jwt;
}
