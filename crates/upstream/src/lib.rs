//! The upstream side of the proxy: a backend's targets, how one is chosen (load balancing, health,
//! circuit breakers), and the pooled HTTP/1.1 client that calls it with retries and timeouts.
//!
//! Everything on the request path is lock-free: per-target atomics, a lock-free idle-connection
//! queue per target, and selection state in atomics.

mod backend;
mod balancer;
mod body;
mod breaker;
mod connect;
mod error;
mod health;
mod pool;
mod sender;
mod target;

pub use backend::{Backend, CallInfo, Caller, STICKY_COOKIE};
pub use error::{UpstreamError, UpstreamErrorKind};
pub use target::Target;
