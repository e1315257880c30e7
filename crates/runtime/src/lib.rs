//! The runtime: entities compiled into an immutable routing snapshot, swapped atomically.
//!
//! Requests load the current snapshot (one atomic increment) and never touch the store or wait for
//! a rebuild; a change on the store's feed rebuilds a new snapshot off the request path and swaps it
//! in. Requests in flight finish on the snapshot they started with.

mod compile;
mod counters;
mod entities;
mod follower;
mod pattern;
mod route;
mod router;
mod snapshot;

pub use counters::{flush_counters, load_counters, spawn_counters};
pub use entities::Entities;
pub use follower::Runtime;
pub use route::{CompiledRoute, Report, RequestView};
pub use router::{Match, Router};
pub use snapshot::Snapshot;
