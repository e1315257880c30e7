//! Secret rotation, as Otoroshi does it: a period of `rotationEvery` hours starts when rotation is
//! switched on; during its last `gracePeriod` hours a `nextSecret` is published (and accepted);
//! at its end `nextSecret` becomes `clientSecret`. The replaced secret stays accepted as
//! `previousSecret` for `gracePeriod` hours more. Changes are written to the store like any edit,
//! so every node and the admin API see them.

use komainu_model::{ApiKey, Kind, random_alphanumeric};
use komainu_store::WriteMode;

use crate::KeyService;

const HOUR_MS: i64 = 3_600_000;

/// The key after rotation work due at `now`, or `None` when nothing is due.
fn due(key: &ApiKey, now: i64) -> Option<ApiKey> {
    let r = &key.rotation;
    if !r.enabled {
        return None;
    }
    let mut next = key.clone();
    let Some(start) = r.started_at else {
        next.rotation.started_at = Some(now);
        return Some(next);
    };
    let end = start + r.rotation_every as i64 * HOUR_MS;
    let grace_start = end - r.grace_period as i64 * HOUR_MS;
    if now >= end {
        let new_secret = r
            .next_secret
            .clone()
            .unwrap_or_else(|| random_alphanumeric(64));
        next.rotation.previous_secret =
            Some(std::mem::replace(&mut next.client_secret, new_secret));
        next.rotation.next_secret = None;
        next.rotation.started_at = Some(now);
        return Some(next);
    }
    if now >= grace_start && r.next_secret.is_none() {
        next.rotation.next_secret = Some(random_alphanumeric(64));
        return Some(next);
    }
    None
}

pub(crate) async fn rotate_due(service: &KeyService) {
    let now = service.now_ms();
    let due_keys: Vec<ApiKey> = service
        .index()
        .keys
        .values()
        .filter_map(|k| due(&k.doc, now))
        .collect();
    for key in due_keys {
        let doc = serde_json::to_value(&key).expect("keys serialize");
        match service
            .store()
            .put(Kind::ApiKey, &key.client_id, &doc, WriteMode::Replace)
            .await
        {
            Ok(()) => tracing::info!(key = %key.client_id, "API key rotation step"),
            Err(e) => tracing::error!(key = %key.client_id, error = %e, "cannot rotate API key"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotation_steps() {
        let mut key = ApiKey {
            client_secret: "s0".into(),
            ..Default::default()
        };
        key.rotation.enabled = true;
        key.rotation.rotation_every = 10;
        key.rotation.grace_period = 2;
        let key = due(&key, 0).expect("period starts");
        assert_eq!(key.rotation.started_at, Some(0));
        assert!(due(&key, 7 * HOUR_MS).is_none(), "before the grace period");
        let key = due(&key, 8 * HOUR_MS).expect("grace period: next secret published");
        let next = key.rotation.next_secret.clone().unwrap();
        assert!(due(&key, 9 * HOUR_MS).is_none());
        let key = due(&key, 10 * HOUR_MS).expect("rotated");
        assert_eq!(key.client_secret, next);
        assert_eq!(key.rotation.previous_secret.as_deref(), Some("s0"));
        assert_eq!(key.rotation.next_secret, None);
    }
}
