//! IpAddressAllowedList / IpAddressBlockList: `{"addresses": ["1.2.3.4", "10.0.0.0/8", "192.168.1.*"]}`
//! (CIDR ranges, or addresses with `*` wildcards). The allowed list refuses any address it does not
//! hold (an empty list refuses all, as Otoroshi does); the block list refuses those it holds. Refusal:
//! 403 `errors.ip.address.not.allowed`.

use std::net::IpAddr;
use std::sync::Arc;

use http::StatusCode;
use http::request::Parts;
use ipnet::IpNet;
use regex::RegexSet;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::config::ConfigError;
use crate::def::PluginDef;
use crate::{Outcome, Plugin, RequestCtx, config, gateway_error};

#[derive(Deserialize, Serialize, JsonSchema, Default)]
#[serde(default, deny_unknown_fields)]
struct Config {
    addresses: Vec<String>,
}

struct Addresses {
    nets: Vec<IpNet>,
    patterns: RegexSet,
}

impl Addresses {
    fn parse(value: &Value) -> Result<Self, ConfigError> {
        let cfg: Config = config::parse(value)?;
        let mut nets = Vec::new();
        let mut patterns = Vec::new();
        for (i, a) in cfg.addresses.iter().enumerate() {
            let a = a.trim().to_string();
            let at = || format!("addresses[{i}]");
            if a.contains('/') {
                nets.push(
                    a.parse::<IpNet>().map_err(|_| {
                        ConfigError::at(at(), format!("\"{a}\" is not a CIDR range"))
                    })?,
                );
            } else if let Ok(ip) = a.parse::<IpAddr>() {
                nets.push(IpNet::from(ip));
            } else if !a.is_empty()
                && a.contains('*')
                && a.bytes()
                    .all(|b| b.is_ascii_hexdigit() || matches!(b, b'.' | b':' | b'*'))
            {
                patterns.push(a);
            } else {
                return Err(ConfigError::at(
                    at(),
                    format!(
                        "\"{a}\" is not an address, a CIDR range or an address with * wildcards"
                    ),
                ));
            }
        }
        Ok(Addresses {
            nets,
            patterns: config::wildcards(&patterns, "addresses")?,
        })
    }

    fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        self.nets.iter().any(|n| n.contains(&ip))
            || (!self.patterns.is_empty() && self.patterns.is_match(&ip.to_string()))
    }
}

fn refuse(ctx: &RequestCtx) -> Outcome {
    Outcome::Respond(gateway_error(
        StatusCode::FORBIDDEN,
        "errors.ip.address.not.allowed",
        "IP address not allowed",
        ctx.html,
    ))
}

struct AllowedList(Addresses);

impl Plugin for AllowedList {
    fn access(&self, _req: &mut Parts, ctx: &mut RequestCtx) -> Outcome {
        if self.0.contains(ctx.client_ip) {
            Outcome::Continue
        } else {
            refuse(ctx)
        }
    }
}

struct BlockList(Addresses);

impl Plugin for BlockList {
    fn access(&self, _req: &mut Parts, ctx: &mut RequestCtx) -> Outcome {
        if self.0.contains(ctx.client_ip) {
            refuse(ctx)
        } else {
            Outcome::Continue
        }
    }
}

pub(crate) fn build_allowed(
    config: &Value,
    _services: &crate::Services,
) -> Result<Arc<dyn Plugin>, ConfigError> {
    Ok(Arc::new(AllowedList(Addresses::parse(config)?)))
}

pub(crate) fn build_blocked(
    config: &Value,
    _services: &crate::Services,
) -> Result<Arc<dyn Plugin>, ConfigError> {
    Ok(Arc::new(BlockList(Addresses::parse(config)?)))
}

pub(crate) const PLUGIN_ALLOWED: PluginDef = PluginDef {
    name: "IpAddressAllowedList",
    title: "IP allowed list",
    description: "This plugin verifies the current request ip address is in the allowed list",
    categories: &["AccessControl", "Classic"],
    steps: &["ValidateAccess"],
    build: build_allowed,
    describe: config::describe::<Config>,
    inert: &[],
};

pub(crate) const PLUGIN_BLOCKED: PluginDef = PluginDef {
    name: "IpAddressBlockList",
    title: "IP block list",
    description: "This plugin verifies the current request ip address is not in the blocked list",
    categories: &["AccessControl", "Classic"],
    steps: &["ValidateAccess"],
    build: build_blocked,
    describe: config::describe::<Config>,
    inert: &[],
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidr_exact_and_wildcards() {
        let a = Addresses::parse(
            &serde_json::json!({"addresses": ["10.0.0.0/8", "1.2.3.4", "192.168.1.*"]}),
        )
        .unwrap();
        for ip in ["10.1.2.3", "1.2.3.4", "192.168.1.77", "::ffff:10.0.0.1"] {
            assert!(a.contains(ip.parse().unwrap()), "{ip}");
        }
        for ip in ["11.0.0.1", "1.2.3.5", "192.168.2.1"] {
            assert!(!a.contains(ip.parse().unwrap()), "{ip}");
        }
        let err = |v: serde_json::Value| Addresses::parse(&v).err().map(|e| e.path);
        assert_eq!(
            err(serde_json::json!({"addresses": ["1.1.1.1", "10.0.0.0/99"]})).as_deref(),
            Some("addresses[1]")
        );
        assert_eq!(
            err(serde_json::json!({"addresses": ["not an ip"]})).as_deref(),
            Some("addresses[0]")
        );
        assert_eq!(
            err(serde_json::json!({"adresses": ["1.1.1.1"]})).as_deref(),
            Some("adresses")
        );
        assert_eq!(
            err(serde_json::json!({"addresses": "1.1.1.1"})).as_deref(),
            Some("addresses")
        );
    }
}
