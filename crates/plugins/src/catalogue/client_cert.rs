//! NgHasClientCertValidator and NgHasClientCertMatchingValidator: a call passes only with a client
//! certificate the TLS listener verified (trusted by `tlsSettings.trustedCAsServer`), and for the
//! matcher only when the verified leaf matches some rule: a serial number (hex), a subject or
//! issuer DN glob (`*` any text), or a subject or issuer DN regex (whole match). Only the leaf: the
//! other certificates a client sends are its own choice (Otoroshi matches any of them, which lets a
//! partner's certificate pass with a self-signed `CN=boss, O=Example` beside it). DNs are in
//! Otoroshi's form (`komainu_tls::dn`). Refusals are Otoroshi's: 403 `forbidden`.
//!
//! The `mtls` plan builds a [`Matcher`] from its `regex_subject_dns` and `regex_issuer_dns`; with
//! neither, any verified certificate admits the call.

use std::sync::Arc;

use http::StatusCode;
use http::request::Parts;
use komainu_model::MtlsAccess;
use komainu_tls::PeerChain;
use regex::RegexSet;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::config::{ConfigError, NoConfig};
use crate::def::PluginDef;
use crate::{Body, Outcome, Plugin, RequestCtx, config, gateway_error};

/// The refusal of a call without an acceptable client certificate.
pub(crate) fn forbidden(ctx: &RequestCtx, why: &str) -> http::Response<Body> {
    gateway_error(StatusCode::FORBIDDEN, "forbidden", why, ctx.html)
}

pub(crate) const NO_CERTIFICATE: &str = "a client certificate is required";
pub(crate) const NOT_MATCHING: &str = "the client certificate is not allowed here";

struct HasClientCert;

impl Plugin for HasClientCert {
    fn access(&self, _req: &mut Parts, ctx: &mut RequestCtx) -> Outcome {
        match ctx.client_certs {
            Some(_) => Outcome::Continue,
            None => Outcome::Respond(forbidden(ctx, NO_CERTIFICATE)),
        }
    }
}

fn build_has(config: &Value, _services: &crate::Services) -> Result<Arc<dyn Plugin>, ConfigError> {
    config::parse::<NoConfig>(config)?;
    Ok(Arc::new(HasClientCert))
}

pub(crate) const PLUGIN_HAS: PluginDef = PluginDef {
    name: "NgHasClientCertValidator",
    title: "Client Certificate Only",
    description: "Check if a client certificate is present in the request",
    categories: &["AccessControl"],
    steps: &["ValidateAccess"],
    build: build_has,
    describe: config::describe::<NoConfig>,
    inert: &[],
};

#[derive(Deserialize, Serialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
struct MatchConfig {
    /// Refuse calls without a client certificate (else they pass).
    mandatory: bool,
    /// Serial numbers, hex.
    serial_numbers: Vec<String>,
    /// Subject DN globs.
    subject_dns: Vec<String>,
    /// Issuer DN globs.
    issuer_dns: Vec<String>,
    /// Subject DN regexes.
    regex_subject_dns: Vec<String>,
    /// Issuer DN regexes.
    regex_issuer_dns: Vec<String>,
}

impl Default for MatchConfig {
    fn default() -> Self {
        MatchConfig {
            mandatory: true,
            serial_numbers: Vec::new(),
            subject_dns: Vec::new(),
            issuer_dns: Vec::new(),
            regex_subject_dns: Vec::new(),
            regex_issuer_dns: Vec::new(),
        }
    }
}

/// Which certificates a route accepts.
pub struct Matcher {
    serials: Vec<String>,
    subjects: Vec<RegexSet>,
    issuers: Vec<RegexSet>,
    /// No rule at all: any verified certificate matches (the `mtls` plan without patterns).
    any: bool,
}

/// `0A:1b:03` or `a1b03` → `a1b03`, the form certificates' serials are read in.
fn serial(text: &str) -> String {
    let hex: String = text
        .chars()
        .filter(|c| *c != ':')
        .map(|c| c.to_ascii_lowercase())
        .collect();
    let trimmed = hex.trim_start_matches('0');
    if trimmed.is_empty() && !hex.is_empty() {
        "0".into()
    } else {
        trimmed.into()
    }
}

impl Matcher {
    fn build(cfg: &MatchConfig, any_when_empty: bool) -> Result<Matcher, ConfigError> {
        let sets = |globs: &[String], gfield: &str, res: &[String], rfield: &str| {
            let mut sets = Vec::new();
            if !globs.is_empty() {
                sets.push(config::wildcards(globs, gfield)?);
            }
            if let Some(set) = config::regexes(res, rfield)? {
                sets.push(set);
            }
            Ok::<_, ConfigError>(sets)
        };
        let subjects = sets(
            &cfg.subject_dns,
            "subject_dns",
            &cfg.regex_subject_dns,
            "regex_subject_dns",
        )?;
        let issuers = sets(
            &cfg.issuer_dns,
            "issuer_dns",
            &cfg.regex_issuer_dns,
            "regex_issuer_dns",
        )?;
        let serials: Vec<String> = cfg.serial_numbers.iter().map(|s| serial(s)).collect();
        let any = any_when_empty && serials.is_empty() && subjects.is_empty() && issuers.is_empty();
        Ok(Matcher {
            serials,
            subjects,
            issuers,
            any,
        })
    }

    /// The matcher of an `mtls` plan.
    pub fn for_plan(access: &MtlsAccess) -> Result<Matcher, ConfigError> {
        let cfg = MatchConfig {
            regex_subject_dns: access.regex_subject_dns.clone(),
            regex_issuer_dns: access.regex_issuer_dns.clone(),
            ..MatchConfig::default()
        };
        Matcher::build(&cfg, true)
    }

    /// Whether the verified leaf of `chain` matches some rule.
    pub fn admits(&self, chain: &PeerChain) -> bool {
        chain.leaf().is_some_and(|c| {
            self.any
                || self.serials.contains(&c.serial)
                || self.subjects.iter().any(|s| s.is_match(&c.subject))
                || self.issuers.iter().any(|s| s.is_match(&c.issuer))
        })
    }
}

struct Matching {
    mandatory: bool,
    matcher: Matcher,
}

impl Plugin for Matching {
    fn access(&self, _req: &mut Parts, ctx: &mut RequestCtx) -> Outcome {
        match &ctx.client_certs {
            Some(chain) if self.matcher.admits(chain) => Outcome::Continue,
            Some(_) => Outcome::Respond(forbidden(ctx, NOT_MATCHING)),
            None if self.mandatory => Outcome::Respond(forbidden(ctx, NO_CERTIFICATE)),
            None => Outcome::Continue,
        }
    }
}

fn build_matching(
    config: &Value,
    _services: &crate::Services,
) -> Result<Arc<dyn Plugin>, ConfigError> {
    let cfg: MatchConfig = config::parse(config)?;
    Ok(Arc::new(Matching {
        mandatory: cfg.mandatory,
        matcher: Matcher::build(&cfg, false)?,
    }))
}

pub(crate) const PLUGIN_MATCHING: PluginDef = PluginDef {
    name: "NgHasClientCertMatchingValidator",
    title: "Client certificate matching",
    description: "Check if client certificate matches the following configuration",
    categories: &["AccessControl"],
    steps: &["ValidateAccess"],
    build: build_matching,
    describe: config::describe::<MatchConfig>,
    inert: &[],
};

#[cfg(test)]
mod tests {
    use super::*;
    use komainu_tls::PeerCertificate;

    /// A one-certificate path; names in Otoroshi's form.
    fn chain(subject: &str, issuer: &str, serial: &str) -> PeerChain {
        PeerChain(vec![PeerCertificate {
            subject: subject.into(),
            issuer: issuer.into(),
            serial: serial.into(),
            sans: Vec::new(),
            not_before_ms: 0,
            not_after_ms: 0,
            der: Vec::new(),
        }])
    }

    fn matcher(config: Value) -> Matcher {
        Matcher::build(&config::parse(&config).unwrap(), false).unwrap()
    }

    #[test]
    fn any_rule_of_any_kind_admits() {
        let c = chain("O=acme, CN=alice", "CN=Acme CA", "1f");
        assert!(matcher(serde_json::json!({"serial_numbers": ["00:1F"]})).admits(&c));
        assert!(matcher(serde_json::json!({"subject_dns": ["O=acme, CN=*"]})).admits(&c));
        assert!(matcher(serde_json::json!({"issuer_dns": ["CN=Acme*"]})).admits(&c));
        assert!(matcher(serde_json::json!({"regex_subject_dns": [".*CN=ali.e"]})).admits(&c));
        assert!(!matcher(serde_json::json!({"regex_subject_dns": ["CN=ali"]})).admits(&c));
        assert!(!matcher(serde_json::json!({"subject_dns": ["CN=bob*"]})).admits(&c));
        assert!(
            !matcher(serde_json::json!({})).admits(&c),
            "no rule admits nothing"
        );
        let plan = Matcher::for_plan(&MtlsAccess::default()).unwrap();
        assert!(
            plan.admits(&c),
            "a plan without patterns admits any certificate"
        );
    }

    #[test]
    fn bad_regexes_name_their_index() {
        let err = build_matching(
            &serde_json::json!({"regex_issuer_dns": ["ok", "("]}),
            &Default::default(),
        )
        .err()
        .unwrap();
        assert_eq!(err.path, "regex_issuer_dns[1]");
    }
}
