//! Otoroshi's bearer tokens for API keys: `otoapk_<clientId>_<signature>`, the signature being the
//! hex HMAC-SHA256 of `otoapk_<clientId>` keyed with the client secret. They carry no claims and
//! never expire: a key's bearer changes only with its secret.

use hmac::{Hmac, Mac};
use sha2::Sha256;

const PREFIX: &str = "otoapk_";

fn signature(client_id: &str, secret: &str) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes keys of any size");
    mac.update(PREFIX.as_bytes());
    mac.update(client_id.as_bytes());
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The bearer of key `client_id` with `secret`.
pub fn bearer(client_id: &str, secret: &str) -> String {
    format!("{PREFIX}{client_id}_{}", signature(client_id, secret))
}

/// Whether `value` is an Otoroshi bearer.
pub(crate) fn is_bearer(value: &str) -> bool {
    value.starts_with(PREFIX)
}

/// `(client id, signature)` of a bearer.
pub(crate) fn split(value: &str) -> Option<(&str, &str)> {
    value.strip_prefix(PREFIX)?.rsplit_once('_')
}

/// Whether `given` is the signature of `client_id` under `secret`, compared in constant time.
pub(crate) fn signed_with(client_id: &str, given: &str, secret: &str) -> bool {
    use subtle::ConstantTimeEq;
    let expected = signature(client_id, secret);
    expected.len() == given.len() && bool::from(expected.as_bytes().ct_eq(given.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearers_round_trip_and_only_the_secret_signs_them() {
        let b = bearer("my_key", "s3cret");
        assert!(is_bearer(&b));
        let (id, sig) = split(&b).unwrap();
        assert_eq!(id, "my_key", "ids may hold underscores");
        assert!(signed_with(id, sig, "s3cret"));
        assert!(!signed_with(id, sig, "other"));
        assert_eq!(sig.len(), 64);
    }
}
