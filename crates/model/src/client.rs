//! `NgClientConfig`: how the gateway talks to a backend (retries, timeouts, circuit breaker).
//!
//! Seed 001 writes camelCase; Otoroshi 18 writes snake_case. Both are read, camelCase is written.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::Extra;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, rename_all = "camelCase")]
pub struct NgClientConfig {
    pub retries: u32,
    #[serde(alias = "max_errors")]
    pub max_errors: u32,
    /// Milliseconds before the first retry.
    #[serde(alias = "retry_initial_delay")]
    pub retry_initial_delay: u64,
    #[serde(alias = "backoff_factor")]
    pub backoff_factor: f64,
    /// Milliseconds; each timeout below is in milliseconds too.
    #[serde(alias = "connection_timeout")]
    pub connection_timeout: u64,
    #[serde(alias = "idle_timeout")]
    pub idle_timeout: u64,
    #[serde(alias = "call_and_stream_timeout")]
    pub call_and_stream_timeout: u64,
    #[serde(alias = "call_timeout")]
    pub call_timeout: u64,
    #[serde(alias = "global_timeout")]
    pub global_timeout: u64,
    /// Milliseconds over which the circuit breaker counts errors.
    #[serde(alias = "sample_interval")]
    pub sample_interval: u64,
    #[serde(alias = "use_circuit_breaker")]
    pub use_circuit_breaker: bool,
    #[serde(flatten)]
    pub extra: Extra,
}

impl Default for NgClientConfig {
    fn default() -> Self {
        NgClientConfig {
            retries: 1,
            max_errors: 20,
            retry_initial_delay: 50,
            backoff_factor: 2.0,
            connection_timeout: 10_000,
            idle_timeout: 60_000,
            call_and_stream_timeout: 120_000,
            call_timeout: 30_000,
            global_timeout: 30_000,
            sample_interval: 2_000,
            use_circuit_breaker: true,
            extra: Extra::new(),
        }
    }
}
