//! The stored certificates, ready for handshakes: server certificates by name for SNI, CAs by id
//! for trust, client certificates by id for mTLS to backends.
//!
//! SNI follows Otoroshi (`ssl.scala`): candidates are certificates with a key that are neither
//! revoked, expired, CAs nor key pairs (a self-signed CA naming hosts counts as a server
//! certificate, as `openssl req -x509` makes them), latest expiry first; the first of (1) an exact match on the
//! domain or a SAN, (2) a wildcard (`*.x` covers one label; the longer wildcard first),
//! (3) `tlsSettings.defaultDomain`'s certificate, (4) with `randomIfNotFound`, the first candidate.

use std::collections::HashMap;
use std::sync::Arc;

use komainu_model::{Certificate, TlsSettings};
use rustls::RootCertStore;
use rustls::pki_types::CertificateDer;
use rustls::sign::CertifiedKey;

use crate::inspect;

/// A stored certificate as handshakes use it.
pub struct Loaded {
    pub id: String,
    /// DNS names it serves, lower case (`*.x` for wildcards).
    names: Vec<String>,
    pub key: Option<Arc<CertifiedKey>>,
    pub chain: Vec<CertificateDer<'static>>,
    pub ca: bool,
    pub client: bool,
    server: bool,
    not_after_ms: i64,
}

#[derive(Default)]
pub struct CertIndex {
    /// Server certificates, latest expiry first.
    servers: Vec<Arc<Loaded>>,
    by_id: HashMap<String, Arc<Loaded>>,
}

/// Whether `name` matches `pattern` (`*.x` covers exactly one more label).
fn covers(pattern: &str, name: &str) -> bool {
    match pattern.strip_prefix("*.") {
        Some(suffix) => name
            .strip_suffix(suffix)
            .and_then(|head| head.strip_suffix('.'))
            .is_some_and(|label| !label.is_empty() && !label.contains('.')),
        None => pattern == name,
    }
}

impl CertIndex {
    /// Indexes `certs` at `now_ms`; each problem names the certificate it keeps out.
    pub fn build(certs: &[Arc<Certificate>], now_ms: i64) -> (CertIndex, Vec<String>) {
        let mut index = CertIndex::default();
        let mut problems = Vec::new();
        for c in certs {
            let inspected = match inspect::inspect(&c.chain, &c.private_key, c.password.as_deref())
            {
                Ok(i) => i,
                Err(errs) => {
                    let why: Vec<String> = errs.iter().map(|(f, m)| format!("{f}: {m}")).collect();
                    problems.push(format!("certificate {}: {}", c.id, why.join("; ")));
                    continue;
                }
            };
            let key = match inspected.key {
                Some(k) => match rustls::crypto::ring::sign::any_supported_type(&k) {
                    Ok(signer) => {
                        Some(Arc::new(CertifiedKey::new(inspected.chain.clone(), signer)))
                    }
                    Err(e) => {
                        problems.push(format!("certificate {}: privateKey: {e}", c.id));
                        None
                    }
                },
                None => None,
            };
            let f = &inspected.facts;
            let mut names: Vec<String> = f.sans.iter().map(|s| s.to_ascii_lowercase()).collect();
            let domain = f.domain.to_ascii_lowercase();
            if !names.contains(&domain) {
                names.push(domain);
            }
            let live = now_ms >= f.from_ms && now_ms < f.to_ms;
            // `openssl req -x509` marks its self-signed certificates as CAs; one that names hosts
            // is a server certificate all the same (a root CA names none).
            let serves_as_leaf = !f.ca || (f.self_signed && !f.sans.is_empty());
            let loaded = Arc::new(Loaded {
                id: c.id.clone(),
                names,
                server: key.is_some() && !c.revoked && live && serves_as_leaf && !c.keypair,
                key,
                chain: inspected.chain,
                ca: f.ca && !c.revoked,
                client: c.client,
                not_after_ms: f.to_ms,
            });
            if loaded.server {
                index.servers.push(loaded.clone());
            }
            index.by_id.insert(c.id.clone(), loaded);
        }
        index
            .servers
            .sort_by_key(|c| std::cmp::Reverse(c.not_after_ms));
        (index, problems)
    }

    /// Whether any certificate can be served.
    pub fn has_server_certificates(&self) -> bool {
        !self.servers.is_empty()
    }

    fn by_name(&self, name: &str) -> Option<&Arc<Loaded>> {
        let name = name.trim_end_matches('.').to_ascii_lowercase();
        self.servers
            .iter()
            .find(|c| c.names.iter().any(|n| !n.starts_with("*.") && *n == name))
            .or_else(|| {
                let mut wild: Vec<(&Arc<Loaded>, usize)> = self
                    .servers
                    .iter()
                    .filter_map(|c| {
                        c.names
                            .iter()
                            .filter(|n| n.starts_with("*.") && covers(n, &name))
                            .map(|n| n.len())
                            .max()
                            .map(|len| (c, len))
                    })
                    .collect();
                // The longer wildcard first; among equals, the latest expiry (the sort above).
                wild.sort_by_key(|w| std::cmp::Reverse(w.1));
                wild.first().map(|(c, _)| *c)
            })
    }

    /// The certificate for `sni` under `settings`.
    pub fn resolve(&self, sni: Option<&str>, settings: &TlsSettings) -> Option<Arc<CertifiedKey>> {
        sni.and_then(|n| self.by_name(n))
            .or_else(|| {
                settings
                    .default_domain
                    .as_deref()
                    .filter(|d| !d.is_empty())
                    .and_then(|d| self.by_name(d))
            })
            .or_else(|| {
                settings
                    .random_if_not_found
                    .then(|| self.servers.first())
                    .flatten()
            })
            .and_then(|c| c.key.clone())
    }

    /// The CAs among `ids` (and, for a non-CA certificate named there, its chain's root), for
    /// verifying peers.
    pub fn roots(&self, ids: &[String]) -> RootCertStore {
        let mut roots = RootCertStore::empty();
        for id in ids {
            if let Some(c) = self.by_id.get(id) {
                let anchor = if c.ca {
                    c.chain.first()
                } else {
                    c.chain.last()
                };
                if let Some(der) = anchor {
                    let _ = roots.add(der.clone());
                }
            }
        }
        roots
    }

    /// The certificate with `id` and its key, to present as a client.
    pub fn client_key(&self, id: &str) -> Option<Arc<CertifiedKey>> {
        self.by_id.get(id).and_then(|c| c.key.clone())
    }

    pub fn get(&self, id: &str) -> Option<&Arc<Loaded>> {
        self.by_id.get(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_cover_one_label() {
        assert!(covers("*.example.com", "api.example.com"));
        assert!(!covers("*.example.com", "a.b.example.com"));
        assert!(!covers("*.example.com", "example.com"));
        assert!(covers("api.example.com", "api.example.com"));
    }
}
