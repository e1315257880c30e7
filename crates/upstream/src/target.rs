//! One server of a backend, with the live state selection reads: health, circuit breaker,
//! in-flight calls, response time, and its pool of idle connections.

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

use std::sync::Arc;

use komainu_model::{NgClientConfig, NgTarget};
use komainu_tls::{CertIndex, TargetTls};
use rustls::ClientConfig;

use crate::breaker::Breaker;
use crate::pool::Pool;

pub struct Target {
    id: String,
    /// The `Host` an OverrideHost call sends.
    hostname: Arc<str>,
    /// Where to connect: `ip_address` when given, else `hostname`, with the port.
    pub(crate) connect_to: String,
    /// How to reach the target over TLS, when it speaks TLS.
    pub(crate) tls: Option<Arc<ClientConfig>>,
    /// Speak HTTP/2 to it (`"protocol": "HTTP/2.0"`): over TLS with ALPN, else h2c.
    pub(crate) h2: bool,
    pub(crate) weight: u32,
    pub(crate) pool: Pool,
    pub(crate) breaker: Option<Breaker>,
    pub(crate) healthy: AtomicBool,
    pub(crate) inflight: AtomicU32,
    /// Exponentially weighted mean of the time to response headers, in µs; 0 before any call.
    pub(crate) response_time_us: AtomicU64,
}

impl Target {
    pub(crate) fn new(t: &NgTarget, client: &NgClientConfig, certs: &CertIndex) -> Self {
        let host = t
            .ip_address
            .as_deref()
            .filter(|ip| !ip.is_empty())
            .unwrap_or(&t.hostname);
        let connect_to = if host.contains(':') && !host.starts_with('[') {
            format!("[{host}]:{}", t.port)
        } else {
            format!("{host}:{}", t.port)
        };
        let tls_config = t.extra.get("tls_config");
        let flag =
            |k: &str| tls_config.and_then(|c| c.get(k)).and_then(|v| v.as_bool()) == Some(true);
        let ids = |k: &str| -> Vec<String> {
            tls_config
                .and_then(|c| c.get(k))
                .and_then(|v| v.as_array())
                .map(|a| {
                    a.iter()
                        .filter_map(|v| v.as_str())
                        .filter(|v| !v.trim().is_empty())
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default()
        };
        let h2 = t.extra.get("protocol").and_then(|p| p.as_str()) == Some("HTTP/2.0");
        let spec = TargetTls {
            trust_all: flag("trust_all") || flag("loose"),
            trusted: ids("trusted_certs"),
            certs: ids("certs"),
            h2,
        };
        Target {
            id: t.id.clone(),
            hostname: Arc::from(t.hostname.as_str()),
            connect_to,
            tls: t.tls.then(|| komainu_tls::client_config(&spec, certs)),
            h2,
            weight: t.weight,
            pool: Pool::new(Duration::from_millis(client.idle_timeout)),
            breaker: client.use_circuit_breaker.then(|| {
                Breaker::new(
                    client.max_errors,
                    Duration::from_millis(client.sample_interval),
                )
            }),
            healthy: AtomicBool::new(true),
            inflight: AtomicU32::new(0),
            response_time_us: AtomicU64::new(0),
        }
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    /// The host name, shared (what request contexts keep).
    pub fn host_name(&self) -> Arc<str> {
        self.hostname.clone()
    }

    /// Where the target is reached: `host:port`.
    pub fn address(&self) -> &str {
        &self.connect_to
    }

    pub fn is_tls(&self) -> bool {
        self.tls.is_some()
    }

    pub fn hostname(&self) -> &str {
        &self.hostname
    }

    /// Whether the last health check passed (always true without health checks).
    pub fn is_healthy(&self) -> bool {
        self.healthy.load(Ordering::Relaxed)
    }

    /// Whether the target's circuit breaker is open now.
    pub fn circuit_open(&self) -> bool {
        self.breaker.as_ref().is_some_and(|b| b.is_open())
    }

    /// Calls in flight to the target.
    pub fn in_flight(&self) -> u32 {
        self.inflight()
    }

    /// Whether selection may pick this target now.
    pub(crate) fn available(&self) -> bool {
        self.is_healthy() && !self.breaker.as_ref().is_some_and(|b| b.is_open())
    }

    pub(crate) fn inflight(&self) -> u32 {
        self.inflight.load(Ordering::Relaxed)
    }

    pub(crate) fn record_response_time(&self, took: Duration) {
        let sample = (took.as_micros() as u64).max(1);
        let old = self.response_time_us.load(Ordering::Relaxed);
        let new = if old == 0 {
            sample
        } else {
            (old * 4 + sample) / 5
        };
        self.response_time_us.store(new, Ordering::Relaxed);
    }
}

/// Counts a call in flight on a target until dropped (with the response body).
pub(crate) struct Inflight(pub(crate) std::sync::Arc<Target>);

impl Inflight {
    pub(crate) fn start(target: std::sync::Arc<Target>) -> Self {
        target.inflight.fetch_add(1, Ordering::Relaxed);
        Inflight(target)
    }
}

impl Drop for Inflight {
    fn drop(&mut self) {
        self.0.inflight.fetch_sub(1, Ordering::Relaxed);
    }
}
