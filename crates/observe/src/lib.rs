//! Observability: what the proxy records per request, and where it goes.
//!
//! - [`route_stats`]: per-route counters and latency histograms (Prometheus families by API and
//!   route), kept across snapshot rebuilds.
//! - [`analytics`]: per-minute windows over those counters for the last 24 hours (`/stats`).
//! - [`events`]: gateway, admin and security events to a file or an HTTP receiver.
//! - [`trace`]: W3C trace context, and spans exported over OTLP/HTTP.

pub mod analytics;
pub mod events;
pub mod histogram;
pub mod prom;
pub mod route_stats;
pub mod trace;

pub use analytics::{Analytics, Query};
pub use events::{Destination, Events};
pub use route_stats::{Observation, Registry, RouteStats};
pub use trace::{TraceContext, Tracer};
