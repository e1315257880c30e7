//! Komainu's proxy: listeners and the request engine.
//!
//! A request goes: snapshot → router → plugins (pre-route, access, request transform) → backend
//! call (a plugin's answer, or the upstream with retries and timeouts) → response transform →
//! client. Errors are Otoroshi's, status and cause id.

mod access_log;
mod bodies;
mod client_body;
mod completion;
mod engine;
mod forward;
mod grpc;
mod guard;
mod listener;
mod metrics;
mod request_id;
mod websocket;

pub use access_log::AccessLog;
pub use completion::Sinks;
pub use engine::{Proxy, ProxyConfig};
pub use forward::{Client, TrustedProxies};
pub use guard::Timeouts;
pub use listener::{Limits, bind, serve};
pub use metrics::ProxyMetrics;

/// The parsers of client bytes, for the fuzz targets (`fuzz/`) only.
#[cfg(fuzzing)]
pub mod fuzzing {
    pub use crate::engine::{host_only, valid_host};
    pub use crate::guard::framing::{Framing, Waiting};
    pub use crate::websocket::frames::Frames;
}
