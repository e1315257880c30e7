//! Reading a certificate entity's PEM: the chain (leaf first), the private key (PKCS#8, PKCS#1 or
//! SEC1; encrypted PKCS#8 with its `password`), and what the leaf says (domain, SANs, subject,
//! validity, CA, self-signed). A key must match the leaf's public key.

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use x509_parser::prelude::*;

/// What a certificate says about itself, as Otoroshi stores it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CertFacts {
    /// The common name, else the first DNS name.
    pub domain: String,
    pub sans: Vec<String>,
    pub subject: String,
    pub issuer: String,
    /// Validity, in milliseconds since the epoch.
    pub from_ms: i64,
    pub to_ms: i64,
    pub ca: bool,
    pub self_signed: bool,
    /// Hex, lower case, no separators.
    pub serial: String,
}

/// A problem with one of the entity's fields: `("chain" | "privateKey" | "password", message)`.
pub type FieldProblem = (&'static str, String);

/// A certificate entity read from its PEM.
pub struct Inspected {
    pub facts: CertFacts,
    pub chain: Vec<CertificateDer<'static>>,
    pub key: Option<PrivateKeyDer<'static>>,
}

/// What a DER certificate says.
pub fn facts(der: &[u8]) -> Result<CertFacts, String> {
    let (_, cert) =
        X509Certificate::from_der(der).map_err(|e| format!("not an X.509 certificate: {e}"))?;
    let mut sans = Vec::new();
    if let Ok(Some(ext)) = cert.subject_alternative_name() {
        for name in &ext.value.general_names {
            match name {
                GeneralName::DNSName(d) => sans.push(d.to_string()),
                GeneralName::IPAddress(ip) => match ip.len() {
                    4 => sans.push(std::net::Ipv4Addr::new(ip[0], ip[1], ip[2], ip[3]).to_string()),
                    16 => {
                        let mut b = [0u8; 16];
                        b.copy_from_slice(ip);
                        sans.push(std::net::Ipv6Addr::from(b).to_string());
                    }
                    _ => {}
                },
                _ => {}
            }
        }
    }
    let cn = cert
        .subject()
        .iter_common_name()
        .next()
        .and_then(|cn| cn.as_str().ok())
        .map(str::to_string);
    let domain = cn
        .clone()
        .or_else(|| sans.first().cloned())
        .unwrap_or_else(|| "--".into());
    let validity = cert.validity();
    Ok(CertFacts {
        domain,
        sans,
        subject: cert.subject().to_string(),
        issuer: cert.issuer().to_string(),
        from_ms: validity.not_before.timestamp() * 1000,
        to_ms: validity.not_after.timestamp() * 1000,
        ca: cert.is_ca(),
        self_signed: cert.subject().as_raw() == cert.issuer().as_raw(),
        serial: cert.tbs_certificate.serial.to_str_radix(16),
    })
}

/// The certificates of a PEM chain, in order.
pub fn chain(pem: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(pem.as_bytes())
        .collect::<Result<_, _>>()
        .map_err(|e| format!("not a PEM certificate chain: {e}"))?;
    if certs.is_empty() {
        return Err("holds no PEM certificate".into());
    }
    Ok(certs)
}

/// A private key from PEM: plain (PKCS#8, PKCS#1, SEC1) or encrypted PKCS#8 with `password`.
pub fn key(pem: &str, password: Option<&str>) -> Result<PrivateKeyDer<'static>, FieldProblem> {
    if pem.contains("ENCRYPTED PRIVATE KEY") {
        let Some(password) = password.filter(|p| !p.is_empty()) else {
            return Err((
                "password",
                "the private key is encrypted: give its password".into(),
            ));
        };
        let (_, doc) = pkcs8::SecretDocument::from_pem(pem)
            .map_err(|e| ("privateKey", format!("not a PEM encrypted key: {e}")))?;
        let encrypted = pkcs8::EncryptedPrivateKeyInfo::try_from(doc.as_bytes())
            .map_err(|e| ("privateKey", format!("not an encrypted PKCS#8 key: {e}")))?;
        let plain = encrypted
            .decrypt(password)
            .map_err(|_| ("password", "does not decrypt the private key".to_string()))?;
        return Ok(PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(
            plain.as_bytes().to_vec(),
        )));
    }
    PrivateKeyDer::from_pem_slice(pem.as_bytes())
        .map_err(|e| ("privateKey", format!("not a PEM private key: {e}")))
}

/// Reads a certificate entity's `chain`, `privateKey` and `password`; every problem is named by
/// its field.
pub fn inspect(
    chain_pem: &str,
    key_pem: &str,
    password: Option<&str>,
) -> Result<Inspected, Vec<FieldProblem>> {
    let mut problems = Vec::new();
    let chain = chain(chain_pem).map_err(|e| ("chain", e));
    let facts = chain
        .as_ref()
        .ok()
        .map(|c| facts(&c[0]).map_err(|e| ("chain", e)));
    let key = if key_pem.trim().is_empty() {
        None
    } else {
        Some(key(key_pem, password))
    };
    let (chain, facts) = match (chain, facts) {
        (Ok(c), Some(Ok(f))) => (c, f),
        (Err(e), _) | (_, Some(Err(e))) => {
            problems.push(e);
            if let Some(Err(k)) = key {
                problems.push(k);
            }
            return Err(problems);
        }
        (Ok(_), None) => unreachable!("facts follow a parsed chain"),
    };
    let key = match key {
        None => None,
        Some(Err(k)) => return Err(vec![k]),
        Some(Ok(k)) => {
            if let Err(why) = matches(&chain[0], &k) {
                return Err(vec![("privateKey", why)]);
            }
            Some(k)
        }
    };
    Ok(Inspected { facts, chain, key })
}

/// Whether `key` is the private half of `leaf`'s public key.
fn matches(leaf: &CertificateDer<'_>, key: &PrivateKeyDer<'_>) -> Result<(), String> {
    let signer = rustls::crypto::ring::sign::any_supported_type(key)
        .map_err(|e| format!("unsupported private key: {e}"))?;
    let Some(public) = signer.public_key() else {
        return Err("cannot read the private key's public half".into());
    };
    let (_, cert) = X509Certificate::from_der(leaf).map_err(|e| e.to_string())?;
    if cert.public_key().raw == public.as_ref() {
        Ok(())
    } else {
        Err("does not match the certificate's public key".into())
    }
}
