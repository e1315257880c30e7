//! The client certificates of a TLS connection as routes read them (mTLS): the verified path only,
//! leaf first, each name in Otoroshi's form built from the certificate's attributes.
//!
//! A client sends a list of certificates and the listener verifies that the leaf chains to a
//! trusted CA through some of them; the rest may be anything the client chose (another partner's
//! certificate, a self-signed `CN=boss, O=Example`). What routes see is the leaf and then each
//! certificate that names and signs the one before it, so no rule can match a certificate that is
//! not on the verified path.

use rustls::pki_types::CertificateDer;
use x509_parser::prelude::*;

/// One certificate of the path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerCertificate {
    /// Distinguished names in Otoroshi's form ([`dn`]), so that Otoroshi's patterns match.
    pub subject: String,
    pub issuer: String,
    /// Hex, lower case, no leading zeros.
    pub serial: String,
    pub sans: Vec<String>,
    pub not_before_ms: i64,
    pub not_after_ms: i64,
    pub der: Vec<u8>,
}

/// The verified path, leaf first.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PeerChain(pub Vec<PeerCertificate>);

impl PeerChain {
    /// The certificate the client proved it holds the key of.
    pub fn leaf(&self) -> Option<&PeerCertificate> {
        self.0.first()
    }

    /// The path of `presented` (a verified client's certificates, leaf first): the leaf, then
    /// each presented certificate whose subject is the previous one's issuer and whose key
    /// signed it, until none is (at most ten).
    pub fn verified(presented: &[CertificateDer<'_>]) -> PeerChain {
        let parsed: Vec<_> = presented
            .iter()
            .filter_map(|der| Some((X509Certificate::from_der(der).ok()?.1, der)))
            .collect();
        let Some((leaf, leaf_der)) = parsed.first() else {
            return PeerChain::default();
        };
        let mut path = vec![describe(leaf, leaf_der)];
        let mut last = leaf;
        while path.len() < 10 {
            let Some((next, der)) = parsed[1..].iter().find(|(c, _)| {
                c.subject().as_raw() == last.issuer().as_raw()
                    && last.verify_signature(Some(c.public_key())).is_ok()
            }) else {
                break;
            };
            path.push(describe(next, der));
            if next.subject().as_raw() == next.issuer().as_raw() {
                break; // a root: nothing signs it but itself
            }
            last = next;
        }
        PeerChain(path)
    }
}

fn describe(cert: &X509Certificate<'_>, der: &[u8]) -> PeerCertificate {
    let facts = crate::facts(der).ok();
    PeerCertificate {
        subject: dn(cert.subject()),
        issuer: dn(cert.issuer()),
        serial: cert.tbs_certificate.serial.to_str_radix(16),
        sans: facts.as_ref().map(|f| f.sans.clone()).unwrap_or_default(),
        not_before_ms: cert.validity().not_before.timestamp() * 1000,
        not_after_ms: cert.validity().not_after.timestamp() * 1000,
        der: der.to_vec(),
    }
}

/// A distinguished name in Otoroshi's form: attribute names upper case, sorted by name in
/// descending order (equal names keep their order), `, ` between them (`O=acme, CN=alice`).
/// Values are escaped as RFC 4514 says (`CN=boss\, O=Example` is one attribute), so a value can
/// never read as another attribute.
pub fn dn(name: &X509Name<'_>) -> String {
    let registry = oid_registry();
    let mut parts: Vec<(String, String)> = name
        .iter_attributes()
        .map(|attr| {
            let label = oid2abbrev(attr.attr_type(), registry)
                .map(|a| a.to_ascii_uppercase())
                .unwrap_or_else(|_| attr.attr_type().to_id_string());
            let label = if label == "SN" {
                "SURNAME".into()
            } else {
                label
            };
            let value = attr.as_str().map(escape).unwrap_or_else(|_| {
                let hex: String = attr.as_slice().iter().map(|b| format!("{b:02x}")).collect();
                format!("#{hex}")
            });
            (label, value)
        })
        .collect();
    parts.sort_by(|a, b| b.0.cmp(&a.0));
    let rendered: Vec<String> = parts.into_iter().map(|(n, v)| format!("{n}={v}")).collect();
    rendered.join(", ")
}

/// RFC 4514 escaping of an attribute value.
fn escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let last = value.chars().count().saturating_sub(1);
    for (i, c) in value.chars().enumerate() {
        let special = matches!(c, ',' | '+' | '"' | '\\' | '<' | '>' | ';' | '=')
            || (i == 0 && matches!(c, '#' | ' '))
            || (i == last && c == ' ');
        if c.is_control() {
            out.push_str(&format!("\\{:02x}", c as u32 & 0xff));
            continue;
        }
        if special {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use rcgen::{CertificateParams, DistinguishedName, DnType, IsCa, KeyPair};

    fn ca(cn: &str) -> (rcgen::Certificate, KeyPair) {
        let mut p = CertificateParams::default();
        p.distinguished_name = DistinguishedName::new();
        p.distinguished_name.push(DnType::CommonName, cn);
        p.distinguished_name
            .push(DnType::OrganizationName, "Example");
        p.is_ca = IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let key = KeyPair::generate().unwrap();
        (p.self_signed(&key).unwrap(), key)
    }

    fn leaf(cn: &str, org: &str, ca: &rcgen::Certificate, ca_key: &KeyPair) -> rcgen::Certificate {
        let mut p = CertificateParams::default();
        p.distinguished_name = DistinguishedName::new();
        p.distinguished_name.push(DnType::CommonName, cn);
        p.distinguished_name.push(DnType::OrganizationName, org);
        let issuer = rcgen::Issuer::from_ca_cert_der(ca.der(), ca_key).unwrap();
        p.signed_by(&KeyPair::generate().unwrap(), &issuer).unwrap()
    }

    #[test]
    fn only_certificates_that_sign_the_one_before_are_on_the_path() {
        let (root, root_key) = ca("Partners CA");
        let (other, _) = ca("boss");
        let mallory = leaf("mallory", "Other", &root, &root_key);
        let sent = [
            mallory.der().clone(),
            other.der().clone(),
            root.der().clone(),
        ];
        let path = PeerChain::verified(&sent);
        let subjects: Vec<_> = path.0.iter().map(|c| c.subject.as_str()).collect();
        assert_eq!(
            subjects,
            ["O=Other, CN=mallory", "O=Example, CN=Partners CA"]
        );
    }

    #[test]
    fn a_value_never_reads_as_another_attribute() {
        let (root, root_key) = ca("Partners CA");
        let forged = leaf("boss, O=Example", "Other", &root, &root_key);
        let path = PeerChain::verified(&[forged.der().clone()]);
        assert_eq!(path.0[0].subject, "O=Other, CN=boss\\, O\\=Example");
        assert_eq!(escape(" #a\"b "), "\\ #a\\\"b\\ ");
    }
}
