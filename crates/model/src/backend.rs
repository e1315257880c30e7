//! `NgBackend` (targets, root, load balancing, health check, client) and the stored `Backend` entity.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::{Entity, Extra, FieldError, Kind, NgClientConfig, ids};

/// The protocols a target speaks (Otoroshi's `NgTarget.protocol`).
const TARGET_PROTOCOLS: [&str; 4] = ["HTTP/1.0", "HTTP/1.1", "HTTP/2.0", "HTTP/3.0"];

/// One server of a backend.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct NgTarget {
    pub id: String,
    pub hostname: String,
    pub port: u16,
    pub tls: bool,
    pub weight: u32,
    /// Connect to this address instead of resolving `hostname` (which still names the host).
    pub ip_address: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

impl Default for NgTarget {
    fn default() -> Self {
        NgTarget {
            id: String::new(),
            hostname: String::new(),
            port: 80,
            tls: false,
            weight: 1,
            ip_address: None,
            extra: Extra::new(),
        }
    }
}

/// The load-balancing algorithms Otoroshi offers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum LoadBalancingType {
    #[default]
    RoundRobin,
    Random,
    Sticky,
    IpAddressHash,
    BestResponseTime,
    WeightedBestResponseTime,
    LeastConnections,
    PowerOfTwoRandomChoices,
    HeaderHash,
    CookieHash,
    QueryHash,
}

/// `{"type": "RoundRobin", ...}`; the hash types read their key name from `extra` (`header`,
/// `cookie`, `query`), WeightedBestResponseTime its `ratio`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct LoadBalancing {
    #[serde(rename = "type")]
    pub kind: LoadBalancingType,
    #[serde(flatten)]
    pub extra: Extra,
}

/// Active health checking of a backend's targets.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct HealthCheck {
    pub enabled: bool,
    /// Path (or full URL) probed on each target.
    pub url: String,
    /// Milliseconds.
    pub timeout: u64,
    /// Milliseconds between two checks of a target.
    pub interval: u64,
    #[serde(alias = "healthy_statuses")]
    #[serde(rename = "healthyStatuses")]
    pub healthy_statuses: Vec<u16>,
    #[serde(alias = "unhealthy_statuses")]
    #[serde(rename = "unhealthyStatuses")]
    pub unhealthy_statuses: Vec<u16>,
    #[serde(flatten)]
    pub extra: Extra,
}

impl Default for HealthCheck {
    fn default() -> Self {
        HealthCheck {
            enabled: false,
            url: "/".into(),
            timeout: 5_000,
            interval: 5_000,
            healthy_statuses: Vec::new(),
            unhealthy_statuses: Vec::new(),
            extra: Extra::new(),
        }
    }
}

/// Where and how a route's traffic goes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct NgBackend {
    pub targets: Vec<NgTarget>,
    /// Path prepended to every forwarded path.
    pub root: String,
    /// Otoroshi's rewrite: the forwarded path is `root` alone, with path parameters substituted.
    pub rewrite: bool,
    pub load_balancing: LoadBalancing,
    pub health_check: Option<HealthCheck>,
    pub client: NgClientConfig,
    #[serde(flatten)]
    pub extra: Extra,
}

impl Default for NgBackend {
    fn default() -> Self {
        NgBackend {
            targets: Vec::new(),
            root: "/".into(),
            rewrite: false,
            load_balancing: LoadBalancing::default(),
            health_check: None,
            client: NgClientConfig::default(),
            extra: Extra::new(),
        }
    }
}

impl NgBackend {
    pub(crate) fn complete(&mut self) {
        for (i, t) in self.targets.iter_mut().enumerate() {
            let port = t.port.to_string();
            ids::ensure_derived(&mut t.id, "target_", &[&t.hostname, &port, &i.to_string()]);
        }
        if !self.root.starts_with('/') {
            self.root.insert(0, '/');
        }
    }

    pub(crate) fn check(&self, at: &str, errors: &mut Vec<FieldError>) {
        for (i, t) in self.targets.iter().enumerate() {
            if t.hostname.trim().is_empty() {
                errors.push(FieldError::new(
                    format!("{at}.targets[{i}].hostname"),
                    "a target needs a hostname",
                ));
            }
            if t.port == 0 {
                errors.push(FieldError::new(
                    format!("{at}.targets[{i}].port"),
                    "port 0 is not a target port",
                ));
            }
            // Read from `extra` by the upstream: a misspelt value would be HTTP/1.1 silently.
            match t.extra.get("protocol") {
                None => {}
                Some(serde_json::Value::String(p)) if TARGET_PROTOCOLS.contains(&p.as_str()) => {}
                Some(other) => errors.push(FieldError::new(
                    format!("{at}.targets[{i}].protocol"),
                    format!("{other}: expected one of {}", TARGET_PROTOCOLS.join(", ")),
                )),
            }
        }
        crate::entity::check_unique(
            &format!("{at}.targets"),
            self.targets.iter().map(|t| t.id.as_str()),
            errors,
        );
    }
}

/// A backend stored on its own (`/api/backends`), reusable by routes and APIs.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct Backend {
    pub id: String,
    pub name: String,
    pub description: String,
    pub tags: Vec<String>,
    pub metadata: std::collections::BTreeMap<String, String>,
    pub backend: NgBackend,
    #[serde(flatten)]
    pub extra: Extra,
}

impl Entity for Backend {
    const KIND: Kind = Kind::Backend;

    fn complete(&mut self) {
        ids::ensure(&mut self.id, "backend_");
        self.backend.complete();
    }

    fn check(&self, _refs: &dyn crate::Refs, errors: &mut Vec<FieldError>) {
        self.backend.check("backend", errors);
    }
}
