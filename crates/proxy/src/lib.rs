//! Komainu's proxy: listeners and the request engine.
//!
//! A request goes: snapshot → router → plugins (pre-route, access, request transform) → backend
//! call (a plugin's answer, or the upstream with retries and timeouts) → response transform →
//! client. Errors are Otoroshi's, status and cause id.

mod access_log;
mod engine;
mod forward;
mod listener;
mod metrics;

pub use access_log::AccessLog;
pub use engine::Proxy;
pub use forward::Client;
pub use listener::serve;
pub use metrics::ProxyMetrics;
