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

/// Fills the empty id of a nested item with one derived from what places it (its parent's id,
/// its position, its name): the same document gives the same ids each time it is read, so a
/// declarative file reloaded keeps its routes, targets and plans as they were.
pub(crate) fn ensure_derived(id: &mut String, prefix: &str, parts: &[&str]) {
    if id.trim().is_empty() {
        // FNV-1a: stable across builds and platforms, which a derived id must be.
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        for part in parts {
            for b in part.bytes().chain([0xff]) {
                hash ^= u64::from(b);
                hash = hash.wrapping_mul(0x0100_0000_01b3);
            }
        }
        *id = format!("{prefix}{hash:016x}");
    }
}
