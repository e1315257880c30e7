//! Generating certificates, as Otoroshi's PKI API does: self-signed CAs, self-signed certificates,
//! and certificates signed by a stored CA, for servers or clients, with ECDSA (P-256, P-384) or
//! RSA (2048, 3072, 4096) keys.

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType, SerialNumber,
};
use rsa::pkcs8::EncodePrivateKey;
use time::{Duration, OffsetDateTime};

/// The key to generate: Otoroshi's `{"algo": "rsa" | "ecdsa", "size": ...}`.
#[derive(Clone, Debug)]
pub struct KeySpec {
    pub algo: String,
    pub size: u32,
}

/// What to certify (Otoroshi's `GenCsrQuery`).
#[derive(Clone, Debug)]
pub struct CertRequest {
    pub hosts: Vec<String>,
    /// `CN=..., O=..., C=...`.
    pub subject: Option<String>,
    pub client: bool,
    pub ca: bool,
    pub duration_ms: i64,
    pub key: KeySpec,
}

/// A generated certificate: its chain (leaf first, then its issuers) and its PKCS#8 key.
pub struct Generated {
    pub chain: String,
    pub key: String,
}

/// The key is never printed.
impl std::fmt::Debug for Generated {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Generated")
            .field("chain", &self.chain)
            .field("key", &"<redacted>")
            .finish()
    }
}

fn key_pair(spec: &KeySpec) -> Result<KeyPair, String> {
    match (spec.algo.to_ascii_lowercase().as_str(), spec.size) {
        ("ecdsa" | "ec", 0 | 256) => KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256),
        ("ecdsa" | "ec", 384) => KeyPair::generate_for(&rcgen::PKCS_ECDSA_P384_SHA384),
        ("rsa", size @ (2048 | 3072 | 4096)) | ("rsa", size @ 0) => {
            let bits = if size == 0 { 2048 } else { size as usize };
            let mut rng = rsa::rand_core::OsRng;
            let private = rsa::RsaPrivateKey::new(&mut rng, bits).map_err(|e| e.to_string())?;
            let der = private.to_pkcs8_der().map_err(|e| e.to_string())?;
            KeyPair::from_pkcs8_der_and_sign_algo(
                &rustls::pki_types::PrivatePkcs8KeyDer::from(der.as_bytes()),
                &rcgen::PKCS_RSA_SHA256,
            )
        }
        (algo, size) => {
            return Err(format!(
                "key {algo} {size}: use ecdsa (256, 384) or rsa (2048, 3072, 4096)"
            ));
        }
    }
    .map_err(|e| e.to_string())
}

/// `CN=a, O=b` → a distinguished name.
fn subject(text: &str) -> Result<DistinguishedName, String> {
    let mut dn = DistinguishedName::new();
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (k, v) = part
            .split_once('=')
            .ok_or_else(|| format!("subject: \"{part}\" is not KEY=value"))?;
        let ty = match k.trim().to_ascii_uppercase().as_str() {
            "CN" => DnType::CommonName,
            "O" => DnType::OrganizationName,
            "OU" => DnType::OrganizationalUnitName,
            "C" => DnType::CountryName,
            "ST" => DnType::StateOrProvinceName,
            "L" => DnType::LocalityName,
            other => return Err(format!("subject: unsupported attribute {other}")),
        };
        dn.push(ty, v.trim());
    }
    Ok(dn)
}

/// A host name of letters, digits, `-` and `_` labels (a leading `*.` allowed), 253 bytes at most.
fn dns_name(h: &str) -> bool {
    let name = h.strip_prefix("*.").unwrap_or(h);
    h.len() <= 253
        && !name.is_empty()
        && name.split('.').all(|label| {
            (1..=63).contains(&label.len())
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

fn params(req: &CertRequest) -> Result<CertificateParams, String> {
    if req.duration_ms < 60_000 {
        return Err("duration: at least 60000 milliseconds".into());
    }
    let mut p = CertificateParams::default();
    p.subject_alt_names = req
        .hosts
        .iter()
        .map(|h| match h.parse::<std::net::IpAddr>() {
            Ok(ip) => Ok(SanType::IpAddress(ip)),
            Err(_) => dns_name(h)
                .then(|| h.as_str().try_into().ok())
                .flatten()
                .map(SanType::DnsName)
                .ok_or_else(|| format!("hosts: \"{h}\" is not a DNS name or an IP address")),
        })
        .collect::<Result<_, _>>()?;
    let cn = req
        .hosts
        .first()
        .cloned()
        .unwrap_or_else(|| "komainu".into());
    p.distinguished_name = match &req.subject {
        Some(s) if !s.trim().is_empty() => subject(s)?,
        _ => {
            let mut dn = DistinguishedName::new();
            dn.push(DnType::CommonName, cn);
            dn
        }
    };
    let now = OffsetDateTime::now_utc();
    p.not_before = now - Duration::minutes(1);
    p.not_after = now + Duration::milliseconds(req.duration_ms);
    p.serial_number = Some(SerialNumber::from_slice(&rand_serial()));
    if req.ca {
        p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        p.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
    } else {
        p.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        p.extended_key_usages = vec![if req.client {
            ExtendedKeyUsagePurpose::ClientAuth
        } else {
            ExtendedKeyUsagePurpose::ServerAuth
        }];
        if req.client {
            // A client certificate of Otoroshi's PKI serves both ends (it signs mTLS calls).
            p.extended_key_usages
                .push(ExtendedKeyUsagePurpose::ServerAuth);
        }
    }
    Ok(p)
}

/// 16 random bytes, the first made positive.
fn rand_serial() -> [u8; 16] {
    use rsa::rand_core::RngCore;
    let mut b = [0u8; 16];
    rsa::rand_core::OsRng.fill_bytes(&mut b);
    b[0] &= 0x7f;
    b
}

/// A self-signed certificate (a CA when `req.ca`).
pub fn self_signed(req: &CertRequest) -> Result<Generated, String> {
    let key = key_pair(&req.key)?;
    let cert = params(req)?.self_signed(&key).map_err(|e| e.to_string())?;
    Ok(Generated {
        chain: cert.pem(),
        key: key.serialize_pem(),
    })
}

/// A certificate signed by the CA whose PEM chain and key are given; its chain ends with the CA's.
pub fn signed_by(req: &CertRequest, ca_chain: &str, ca_key: &str) -> Result<Generated, String> {
    let ca_key = KeyPair::from_pem(ca_key).map_err(|e| format!("the CA's key: {e}"))?;
    let ca_leaf = crate::inspect::chain(ca_chain).map_err(|e| format!("the CA's chain: {e}"))?;
    let issuer = Issuer::from_ca_cert_der(&ca_leaf[0], ca_key).map_err(|e| e.to_string())?;
    let key = key_pair(&req.key)?;
    let cert = params(req)?
        .signed_by(&key, &issuer)
        .map_err(|e| e.to_string())?;
    let mut chain = cert.pem();
    if !chain.ends_with('\n') {
        chain.push('\n');
    }
    chain.push_str(ca_chain.trim_start());
    Ok(Generated {
        chain,
        key: key.serialize_pem(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(hosts: &[&str], ca: bool) -> CertRequest {
        CertRequest {
            hosts: hosts.iter().map(|h| h.to_string()).collect(),
            subject: None,
            client: false,
            ca,
            duration_ms: 86_400_000,
            key: KeySpec {
                algo: "ecdsa".into(),
                size: 256,
            },
        }
    }

    #[test]
    fn a_ca_signs_a_certificate_that_inspects_back() {
        let ca = self_signed(&CertRequest {
            subject: Some("CN=Test CA, O=Komainu".into()),
            ..req(&[], true)
        })
        .unwrap();
        let ca_facts = crate::inspect::inspect(&ca.chain, &ca.key, None)
            .unwrap()
            .facts;
        assert!(ca_facts.ca && ca_facts.self_signed, "{ca_facts:?}");
        assert!(ca_facts.subject.contains("CN=Test CA"), "{ca_facts:?}");
        let leaf = signed_by(&req(&["api.test", "127.0.0.1"], false), &ca.chain, &ca.key).unwrap();
        let got = crate::inspect::inspect(&leaf.chain, &leaf.key, None).unwrap();
        assert_eq!(got.chain.len(), 2, "leaf then CA");
        assert_eq!(got.facts.domain, "api.test");
        assert_eq!(got.facts.sans, vec!["api.test", "127.0.0.1"]);
        assert!(!got.facts.ca && !got.facts.self_signed);
        assert!(got.facts.issuer.contains("Test CA"));
        assert!(got.facts.to_ms - got.facts.from_ms >= 86_400_000);
    }

    #[test]
    fn bad_requests_say_why() {
        let mut r = req(&["a b"], false);
        assert!(self_signed(&r).unwrap_err().contains("hosts"));
        r = req(&["a"], false);
        r.key.algo = "dsa".into();
        assert!(self_signed(&r).unwrap_err().contains("ecdsa"));
        r = req(&["a"], false);
        r.subject = Some("XX=1".into());
        assert!(self_signed(&r).unwrap_err().contains("subject"));
    }
}
