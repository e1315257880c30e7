//! `Certificate` (Otoroshi's `Cert`): a PEM chain and its private key, for TLS servers (SNI), client
//! certificates (mTLS to backends) and trusted CAs. `domain`, `sans`, `subject`, `from`, `to`,
//! `ca`, `selfSigned` and `valid` are read from the PEM when it is written (by the admin API, which
//! has the parser); the rest is the operator's.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::{Entity, Extra, FieldError, Kind, Refs, ids};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, rename_all = "camelCase")]
pub struct Certificate {
    pub id: String,
    pub name: String,
    pub description: String,
    /// PEM certificates, leaf first.
    pub chain: String,
    /// PEM private key of the leaf (PKCS#8, PKCS#1 or SEC1; encrypted PKCS#8 with `password`).
    /// Never listed: only `GET /api/certificates/:id` returns it.
    pub private_key: String,
    /// Password of an encrypted `privateKey`.
    pub password: Option<String>,
    /// The CA that signed it, when that CA is stored too.
    pub ca_ref: Option<String>,
    /// The leaf's common name, else its first DNS name (read from the PEM).
    pub domain: String,
    /// The leaf's DNS names and IP addresses (read from the PEM).
    pub sans: Vec<String>,
    /// The leaf's subject (read from the PEM).
    pub subject: String,
    /// Validity start and end, milliseconds since the epoch (read from the PEM).
    pub from: i64,
    pub to: i64,
    /// A CA certificate (read from the PEM): trusted, never served.
    pub ca: bool,
    /// Issued by itself (read from the PEM).
    pub self_signed: bool,
    /// Within its validity when last written (read from the PEM).
    pub valid: bool,
    /// Published in the gateway's JWKS (accepted, not acted on).
    pub exposed: bool,
    /// Revoked: never served, never trusted.
    pub revoked: bool,
    /// Renewed before it expires (accepted, not acted on).
    pub auto_renew: bool,
    /// Obtained from Let's Encrypt (accepted, not acted on).
    pub lets_encrypt: bool,
    /// Usable as a client certificate (mTLS to backends).
    pub client: bool,
    /// A key pair only (JWT signing), never served.
    pub keypair: bool,
    pub tags: Vec<String>,
    pub metadata: BTreeMap<String, String>,
    #[serde(flatten)]
    pub extra: Extra,
}

impl Default for Certificate {
    fn default() -> Self {
        Certificate {
            id: String::new(),
            name: String::new(),
            description: String::new(),
            chain: String::new(),
            private_key: String::new(),
            password: None,
            ca_ref: None,
            domain: "--".into(),
            sans: Vec::new(),
            subject: "--".into(),
            from: 0,
            to: 0,
            ca: false,
            self_signed: false,
            valid: false,
            exposed: false,
            revoked: false,
            auto_renew: false,
            lets_encrypt: false,
            client: false,
            keypair: false,
            tags: Vec::new(),
            metadata: BTreeMap::new(),
            extra: Extra::new(),
        }
    }
}

impl Entity for Certificate {
    const KIND: Kind = Kind::Certificate;

    fn complete(&mut self) {
        ids::ensure(&mut self.id, "cert_");
        if self.name.is_empty() {
            self.name = self.domain.clone();
        }
        if self.ca_ref.as_deref().is_some_and(|r| r.trim().is_empty()) {
            self.ca_ref = None;
        }
    }

    fn check(&self, refs: &dyn Refs, errors: &mut Vec<FieldError>) {
        if let Some(r) = &self.ca_ref
            && !refs.exists(Kind::Certificate, r)
        {
            errors.push(FieldError::new(
                "caRef",
                format!("no stored certificate has id \"{r}\""),
            ));
        }
    }
}
