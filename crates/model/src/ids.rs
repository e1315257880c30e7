//! Generated identifiers and secrets.

use rand::Rng;
use rand::distr::Alphanumeric;

/// A random UUID v4, as text.
pub fn uuid() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// `len` random lowercase letters and digits, from the OS-seeded CSPRNG (Otoroshi's key format).
pub fn random_alphanumeric(len: usize) -> String {
    rand::rng()
        .sample_iter(&Alphanumeric)
        .take(len)
        .map(|b| (b as char).to_ascii_lowercase())
        .collect()
}

/// `prefix` followed by a fresh UUID: `api_5f0c...`.
pub(crate) fn prefixed(prefix: &str) -> String {
    format!("{prefix}{}", uuid())
}

/// Fills `id` with a prefixed UUID when it is empty.
pub(crate) fn ensure(id: &mut String, prefix: &str) {
    if id.trim().is_empty() {
        *id = prefixed(prefix);
    }
}
