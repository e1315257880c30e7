//! Untrusted computation, kept apart from the gateway: jq filters (an admin's text, run on a
//! client's or a backend's body) run in worker processes of the gateway's own binary, bounded in
//! time and in memory, so that no filter and no body can stall other requests, exhaust the
//! gateway's memory or end its process.
//!
//! [`jq`] compiles and runs programs (what a worker does, and what config checks compile with);
//! [`pool`] is the gateway's side; [`worker`] the worker's main loop; [`wire`] their frames.

pub mod jq;
pub mod pool;
mod wire;
pub mod worker;

pub use pool::{Failure, Limits, Sandbox, WorkerCommand};
