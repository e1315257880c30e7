//! `DeveloperAccount`: someone who reads the developer portal's documentation and subscribes their
//! applications to plans. The password is kept only as an Argon2 hash, which the admin API never
//! returns.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::{Entity, Extra, FieldError, Kind, Refs, ids};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct DeveloperAccount {
    pub id: String,
    pub email: String,
    pub name: String,
    /// Argon2 PHC string (`$argon2id$...`), written by the portal at sign-up.
    pub password_hash: String,
    /// A disabled account cannot sign in; its subscriptions keep their own state.
    pub enabled: bool,
    /// May subscribe to `semi_public` plans.
    pub trusted: bool,
    /// Whether the account's owner proved the address (a link the portal mailed). An account
    /// made by the portal while it sends e-mails starts unverified and cannot sign in until it
    /// is; one made otherwise is verified.
    pub verified: bool,
    /// Milliseconds since the epoch.
    pub created_at: i64,
    pub metadata: BTreeMap<String, String>,
    #[serde(flatten)]
    pub extra: Extra,
}

impl Default for DeveloperAccount {
    fn default() -> Self {
        DeveloperAccount {
            id: String::new(),
            email: String::new(),
            name: String::new(),
            password_hash: String::new(),
            enabled: true,
            trusted: false,
            verified: true,
            created_at: 0,
            metadata: BTreeMap::new(),
            extra: Extra::new(),
        }
    }
}

/// The longest e-mail address (RFC 5321's path limit).
pub const MAX_EMAIL: usize = 254;
/// The longest account name.
pub const MAX_NAME: usize = 254;

/// The field the admin API leaves out of every answer.
pub const PASSWORD_HASH_FIELD: &str = "password_hash";

impl Entity for DeveloperAccount {
    const KIND: Kind = Kind::Developer;

    fn complete(&mut self) {
        ids::ensure(&mut self.id, "developer_");
        self.email = self.email.trim().to_ascii_lowercase();
        if self.name.is_empty() {
            self.name = self.email.clone();
        }
    }

    fn check(&self, _refs: &dyn Refs, errors: &mut Vec<FieldError>) {
        let at = self.email.find('@');
        if at.is_none_or(|i| i == 0 || i + 1 == self.email.len()) || self.email.contains(' ') {
            errors.push(FieldError::new("email", "expected an e-mail address"));
        }
        if self.email.chars().count() > MAX_EMAIL {
            errors.push(FieldError::new(
                "email",
                format!("at most {MAX_EMAIL} characters"),
            ));
        }
        if self.name.chars().count() > MAX_NAME {
            errors.push(FieldError::new(
                "name",
                format!("at most {MAX_NAME} characters"),
            ));
        }
        if !self.password_hash.is_empty() && !self.password_hash.starts_with("$argon2") {
            errors.push(FieldError::new(
                PASSWORD_HASH_FIELD,
                "expected an Argon2 hash (the portal hashes passwords at sign-up)",
            ));
        }
    }
}
