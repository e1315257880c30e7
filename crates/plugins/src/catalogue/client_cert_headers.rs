//! NgClientCertChainHeader and NgRfc9440ClientCertHeader: the verified client certificate chain
//! forwarded to the upstream in headers. The headers a plugin sets are always removed from the
//! incoming request first, so a client can never forge them (with or without a certificate).
//!
//! NgClientCertChainHeader (Otoroshi's keys): `send_pem` (`X-Client-Cert-Pem`, each certificate
//! as a one-line PEM, comma separated), `send_dns` (`X-Client-Cert-DNs`, a JSON array of subject
//! DNs), `send_chain` (`X-Client-Cert-Chain`, a JSON array of `{subjectDN, issuerDN, notAfter,
//! notBefore, serialNumber, subjectCN, issuerCN}`); each header name configurable.
//! NgRfc9440ClientCertHeader: `Client-Cert: :<base64 DER>:` and, with `send_chain` (default), the
//! intermediates in `Client-Cert-Chain` (RFC 9440 byte sequences).

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use http::request::Parts;
use http::{HeaderName, HeaderValue};
use komainu_tls::PeerCertificate;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::config::ConfigError;
use crate::def::PluginDef;
use crate::{Outcome, Plugin, RequestCtx, config};

#[derive(Deserialize, Serialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
struct ChainConfig {
    send_pem: bool,
    pem_header_name: String,
    send_dns: bool,
    dns_header_name: String,
    send_chain: bool,
    chain_header_name: String,
}

impl Default for ChainConfig {
    fn default() -> Self {
        ChainConfig {
            send_pem: false,
            pem_header_name: "X-Client-Cert-Pem".into(),
            send_dns: false,
            dns_header_name: "X-Client-Cert-DNs".into(),
            send_chain: false,
            chain_header_name: "X-Client-Cert-Chain".into(),
        }
    }
}

fn header_name(name: &str, field: &str) -> Result<HeaderName, ConfigError> {
    HeaderName::try_from(name).map_err(|_| ConfigError::at(field, "not a header name"))
}

/// A header value from text that may hold UTF-8 (a DN): invalid values are dropped.
fn value(text: String) -> Option<HeaderValue> {
    HeaderValue::from_maybe_shared(bytes::Bytes::from(text)).ok()
}

/// The common name of an Otoroshi-form DN, else the whole DN (Otoroshi's rule).
fn common_name(dn: &str) -> &str {
    dn.split(',')
        .map(str::trim)
        .find(|p| p.len() > 3 && p[..3].eq_ignore_ascii_case("cn="))
        .map_or(dn, |p| &p[3..])
}

fn pem_line(c: &PeerCertificate) -> String {
    format!(
        "-----BEGIN CERTIFICATE----- {} -----END CERTIFICATE-----",
        STANDARD.encode(&c.der)
    )
}

fn describe(c: &PeerCertificate) -> Value {
    json!({
        "subjectDN": c.subject,
        "issuerDN": c.issuer,
        "notAfter": c.not_after_ms,
        "notBefore": c.not_before_ms,
        "serialNumber": c.serial,
        "subjectCN": common_name(&c.subject),
        "issuerCN": common_name(&c.issuer),
    })
}

struct ChainHeader {
    pem: Option<HeaderName>,
    dns: Option<HeaderName>,
    chain: Option<HeaderName>,
}

impl Plugin for ChainHeader {
    fn transform_request(&self, req: &mut Parts, ctx: &mut RequestCtx) -> Outcome {
        for name in [&self.pem, &self.dns, &self.chain].into_iter().flatten() {
            req.headers.remove(name);
        }
        let Some(certs) = &ctx.client_certs else {
            return Outcome::Continue;
        };
        let certs = &certs.0;
        let mut set = |name: &Option<HeaderName>, text: String| {
            if let (Some(name), Some(v)) = (name, value(text)) {
                req.headers.insert(name.clone(), v);
            }
        };
        if self.pem.is_some() {
            let pems: Vec<String> = certs.iter().map(pem_line).collect();
            set(&self.pem, pems.join(","));
        }
        if self.dns.is_some() {
            let dns: Vec<&str> = certs.iter().map(|c| c.subject.as_str()).collect();
            set(&self.dns, json!(dns).to_string());
        }
        if self.chain.is_some() {
            let chain: Vec<Value> = certs.iter().map(describe).collect();
            set(&self.chain, Value::Array(chain).to_string());
        }
        Outcome::Continue
    }
}

fn build_chain(
    config: &Value,
    _services: &crate::Services,
) -> Result<Arc<dyn Plugin>, ConfigError> {
    let cfg: ChainConfig = config::parse(config)?;
    let pick =
        |send: bool, name: &str, field: &str| send.then(|| header_name(name, field)).transpose();
    Ok(Arc::new(ChainHeader {
        pem: pick(cfg.send_pem, &cfg.pem_header_name, "pem_header_name")?,
        dns: pick(cfg.send_dns, &cfg.dns_header_name, "dns_header_name")?,
        chain: pick(cfg.send_chain, &cfg.chain_header_name, "chain_header_name")?,
    }))
}

pub(crate) const PLUGIN_CHAIN: PluginDef = PluginDef {
    name: "NgClientCertChainHeader",
    title: "Client certificate header",
    description: "This plugin pass client certificate informations to the target in headers",
    categories: &["Headers"],
    steps: &["TransformRequest"],
    build: build_chain,
    describe: config::describe::<ChainConfig>,
    inert: &[],
};

#[derive(Deserialize, Serialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
struct Rfc9440Config {
    /// Also send the intermediates in `Client-Cert-Chain`.
    send_chain: bool,
}

impl Default for Rfc9440Config {
    fn default() -> Self {
        Rfc9440Config { send_chain: true }
    }
}

const CLIENT_CERT: HeaderName = HeaderName::from_static("client-cert");
const CLIENT_CERT_CHAIN: HeaderName = HeaderName::from_static("client-cert-chain");

/// An RFC 8941 byte sequence.
fn byte_sequence(c: &PeerCertificate) -> String {
    format!(":{}:", STANDARD.encode(&c.der))
}

struct Rfc9440 {
    send_chain: bool,
}

impl Plugin for Rfc9440 {
    fn transform_request(&self, req: &mut Parts, ctx: &mut RequestCtx) -> Outcome {
        req.headers.remove(CLIENT_CERT);
        req.headers.remove(CLIENT_CERT_CHAIN);
        let Some((leaf, rest)) = ctx.client_certs.as_ref().and_then(|c| c.0.split_first()) else {
            return Outcome::Continue;
        };
        if let Some(v) = value(byte_sequence(leaf)) {
            req.headers.insert(CLIENT_CERT, v);
        }
        if self.send_chain && !rest.is_empty() {
            let chain: Vec<String> = rest.iter().map(byte_sequence).collect();
            if let Some(v) = value(chain.join(", ")) {
                req.headers.insert(CLIENT_CERT_CHAIN, v);
            }
        }
        Outcome::Continue
    }
}

fn build_rfc9440(
    config: &Value,
    _services: &crate::Services,
) -> Result<Arc<dyn Plugin>, ConfigError> {
    let cfg: Rfc9440Config = config::parse(config)?;
    Ok(Arc::new(Rfc9440 {
        send_chain: cfg.send_chain,
    }))
}

pub(crate) const PLUGIN_RFC9440: PluginDef = PluginDef {
    name: "NgRfc9440ClientCertHeader",
    title: "Client certificate header (RFC 9440)",
    description: "Forwards the TLS client certificate to the backend per RFC 9440 (`Client-Cert` and `Client-Cert-Chain` headers)",
    categories: &["Headers"],
    steps: &["TransformRequest"],
    build: build_rfc9440,
    describe: config::describe::<Rfc9440Config>,
    inert: &[],
};

#[cfg(test)]
mod tests {
    use super::common_name;

    #[test]
    fn common_names_come_from_the_cn_part() {
        assert_eq!(common_name("O=acme, CN=alice"), "alice");
        assert_eq!(common_name("O=acme"), "O=acme");
    }
}
