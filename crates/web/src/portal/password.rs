//! Developers' passwords: the rules a new one follows, its Argon2id hash, and checking one
//! against a hash, both off the async workers.

use std::sync::OnceLock;

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};

/// Shortest password accepted at sign-up.
pub(crate) const MIN_PASSWORD: usize = 10;
/// Longest password accepted (hashing is work for the gateway).
const MAX_PASSWORD: usize = 1024;
/// What is wrong with a password chosen here, if anything.
pub(crate) fn password_problem(password: &str) -> Option<String> {
    let n = password.chars().count();
    if n < MIN_PASSWORD {
        Some(format!("at least {MIN_PASSWORD} characters"))
    } else if n > MAX_PASSWORD {
        Some(format!("at most {MAX_PASSWORD} characters"))
    } else {
        None
    }
}

/// The password's Argon2 hash, computed off the async workers.
pub(crate) async fn hashed(password: &str) -> Option<String> {
    let password = password.to_string();
    tokio::task::spawn_blocking(move || hash(&password))
        .await
        .ok()?
        .ok()
}

/// Whether `password` is the one `hash` holds (an empty hash checks a decoy, and fails).
pub(crate) async fn password_matches(hash: &str, password: &str) -> bool {
    let (hash, password) = (hash.to_string(), password.to_string());
    tokio::task::spawn_blocking(move || {
        let phc = if hash.is_empty() { decoy() } else { &hash };
        PasswordHash::new(phc).is_ok_and(|h| {
            Argon2::default()
                .verify_password(password.as_bytes(), &h)
                .is_ok()
        })
    })
    .await
    .unwrap_or(false)
}

/// A hash of nothing anyone knows, checked when no account has the address.
fn decoy() -> &'static str {
    static DECOY: OnceLock<String> = OnceLock::new();
    DECOY.get_or_init(|| hash(&komainu_model::random_alphanumeric(32)).unwrap_or_default())
}

fn hash(password: &str) -> Result<String, argon2::password_hash::Error> {
    let salt = SaltString::generate(&mut argon2::password_hash::rand_core::OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
}
