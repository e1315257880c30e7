//! `JwtVerifier` (Otoroshi's global JWT verifier): where the token is read, how its signature is
//! checked (HMAC secret, RSA or EC public key, or a remote JWKS) and which claims it must carry.
//! Used by `jwt` and `oauth2-remote` plans, by reference or inline.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::{Entity, Extra, FieldError, Kind, Refs, ids};

/// Where the token is.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type")]
pub enum TokenSource {
    /// A header; `remove` is a prefix taken off the value (`Bearer `).
    InHeader {
        #[serde(default = "authorization")]
        name: String,
        #[serde(default)]
        remove: String,
    },
    InQueryParam {
        name: String,
    },
    InCookie {
        name: String,
    },
}

fn authorization() -> String {
    "Authorization".into()
}

impl Default for TokenSource {
    fn default() -> Self {
        TokenSource::InHeader {
            name: authorization(),
            remove: "Bearer ".into(),
        }
    }
}

/// How the signature is verified. `size` picks the hash (256, 384, 512).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type")]
pub enum AlgoSettings {
    #[serde(rename = "HSAlgoSettings")]
    Hs {
        #[serde(default = "size_512")]
        size: u16,
        secret: String,
        /// The secret is base64-encoded.
        #[serde(default)]
        base64: bool,
    },
    #[serde(rename = "RSAlgoSettings")]
    Rs {
        #[serde(default = "size_512")]
        size: u16,
        /// PEM public key.
        #[serde(rename = "publicKey")]
        public_key: String,
        /// PEM private key (PKCS#8): what `JwtSigner` signs with.
        #[serde(
            rename = "privateKey",
            default,
            skip_serializing_if = "Option::is_none"
        )]
        private_key: Option<String>,
    },
    #[serde(rename = "ESAlgoSettings")]
    Es {
        #[serde(default = "size_512")]
        size: u16,
        #[serde(rename = "publicKey")]
        public_key: String,
        #[serde(
            rename = "privateKey",
            default,
            skip_serializing_if = "Option::is_none"
        )]
        private_key: Option<String>,
    },
    /// Keys fetched from a JWKS URL and cached for `ttl` milliseconds.
    #[serde(rename = "JWKSAlgoSettings")]
    Jwks {
        url: String,
        #[serde(default)]
        headers: BTreeMap<String, String>,
        #[serde(default = "jwks_timeout")]
        timeout: u64,
        #[serde(default = "jwks_ttl")]
        ttl: u64,
    },
}

fn size_512() -> u16 {
    512
}
fn jwks_timeout() -> u64 {
    2_000
}
fn jwks_ttl() -> u64 {
    3_600_000
}

impl Default for AlgoSettings {
    fn default() -> Self {
        AlgoSettings::Hs {
            size: 512,
            secret: "secret".into(),
            base64: false,
        }
    }
}

/// Claims a token must carry: `fields` by exact value (`iss`, `aud`, ...), `arrayFields` by
/// containing the value.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct VerificationSettings {
    pub fields: BTreeMap<String, String>,
    #[serde(rename = "arrayFields")]
    pub array_fields: BTreeMap<String, String>,
    #[serde(flatten)]
    pub extra: Extra,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct VerifierStrategy {
    /// Otoroshi's strategy name; Komainu verifies and passes the token through.
    #[serde(rename = "type")]
    pub kind: Option<String>,
    #[serde(rename = "verificationSettings")]
    pub verification_settings: VerificationSettings,
    #[serde(flatten)]
    pub extra: Extra,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct JwtVerifier {
    pub id: String,
    pub name: String,
    pub description: String,
    pub enabled: bool,
    /// A missing token is refused (else the call passes unverified).
    pub strict: bool,
    pub source: TokenSource,
    #[serde(rename = "algoSettings")]
    pub algo_settings: AlgoSettings,
    pub strategy: VerifierStrategy,
    pub tags: Vec<String>,
    pub metadata: BTreeMap<String, String>,
    #[serde(flatten)]
    pub extra: Extra,
}

impl Default for JwtVerifier {
    fn default() -> Self {
        JwtVerifier {
            id: String::new(),
            name: String::new(),
            description: String::new(),
            enabled: true,
            strict: true,
            source: TokenSource::default(),
            algo_settings: AlgoSettings::default(),
            strategy: VerifierStrategy::default(),
            tags: Vec::new(),
            metadata: BTreeMap::new(),
            extra: Extra::new(),
        }
    }
}

impl JwtVerifier {
    /// Problems with the verifier's settings, paths relative to `at`.
    pub fn problems(&self, at: &str, errors: &mut Vec<FieldError>) {
        let field = |f: &str| {
            if at.is_empty() {
                f.to_string()
            } else {
                format!("{at}.{f}")
            }
        };
        match &self.algo_settings {
            AlgoSettings::Hs { size, .. }
            | AlgoSettings::Rs { size, .. }
            | AlgoSettings::Es { size, .. }
                if ![256, 384, 512].contains(size) =>
            {
                errors.push(FieldError::new(
                    field("algoSettings.size"),
                    "expected 256, 384 or 512",
                ));
            }
            AlgoSettings::Hs { secret, .. } if secret.is_empty() => {
                errors.push(FieldError::new(
                    field("algoSettings.secret"),
                    "a secret is required",
                ));
            }
            AlgoSettings::Rs { public_key, .. } | AlgoSettings::Es { public_key, .. }
                if !public_key.contains("-----BEGIN") =>
            {
                errors.push(FieldError::new(
                    field("algoSettings.publicKey"),
                    "expected a PEM public key",
                ));
            }
            AlgoSettings::Jwks { url, .. }
                if !(url.starts_with("http://") || url.starts_with("https://")) =>
            {
                errors.push(FieldError::new(
                    field("algoSettings.url"),
                    "expected an http:// or https:// URL",
                ));
            }
            _ => {}
        }
    }
}

impl Entity for JwtVerifier {
    const KIND: Kind = Kind::JwtVerifier;

    fn complete(&mut self) {
        ids::ensure(&mut self.id, "jwt_verifier_");
        if self.name.is_empty() {
            self.name = self.id.clone();
        }
    }

    fn check(&self, _refs: &dyn Refs, errors: &mut Vec<FieldError>) {
        self.problems("", errors);
    }
}

/// A plan's `verifier`: the id of a stored verifier, or one written inline.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum VerifierRef {
    Id(String),
    Inline(Box<JwtVerifier>),
}

impl VerifierRef {
    pub fn from_value(v: &Value) -> Result<VerifierRef, String> {
        serde_json::from_value(v.clone()).map_err(|e| e.to_string())
    }
}
