//! Secret rotation, as Otoroshi does it: a period of `rotationEvery` hours starts when rotation is
//! switched on; during its last `gracePeriod` hours a `nextSecret` is published (and accepted);
//! at its end `nextSecret` becomes `clientSecret`. The replaced secret stays accepted as
//! `previousSecret` for `gracePeriod` hours more. Changes are written to the store like any edit,
//! so every node and the admin API see them.

use komainu_model::{ApiKey, Kind, Rotation, parse, random_alphanumeric};
use komainu_store::{Store, StoreError, Transaction, WriteMode};

use crate::KeyService;

const HOUR_MS: i64 = 3_600_000;

/// What rotation work is due.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Step {
    /// Rotation was just switched on: the first period starts.
    Start,
    /// The grace period began: publish the next secret.
    PublishNext,
    /// The period ended: the next secret becomes the secret.
    Rotate,
}

fn step(r: &Rotation, now: i64) -> Option<Step> {
    if !r.enabled {
        return None;
    }
    let Some(start) = r.started_at else {
        return Some(Step::Start);
    };
    let end = start + r.rotation_every as i64 * HOUR_MS;
    let grace_start = end - r.grace_period as i64 * HOUR_MS;
    if now >= end {
        Some(Step::Rotate)
    } else if now >= grace_start && r.next_secret.is_none() {
        Some(Step::PublishNext)
    } else {
        None
    }
}

/// The key after rotation work due at `now`, or `None` when nothing is due.
fn due(key: &ApiKey, now: i64) -> Option<ApiKey> {
    let mut next = key.clone();
    let r = &mut next.rotation;
    match step(&key.rotation, now)? {
        Step::Start => r.started_at = Some(now),
        Step::PublishNext => r.next_secret = Some(random_alphanumeric(64)),
        Step::Rotate => {
            let new_secret = r
                .next_secret
                .take()
                .unwrap_or_else(|| random_alphanumeric(64));
            r.previous_secret = Some(std::mem::replace(&mut next.client_secret, new_secret));
            next.rotation.started_at = Some(now);
        }
    }
    Some(next)
}

/// The key with a new secret now, the one it replaces accepted as `previousSecret` for the key's
/// `gracePeriod` hours (a rotation asked for, rather than one due; a periodic rotation's next
/// period starts now too).
pub fn rotated(key: &ApiKey, now: i64) -> ApiKey {
    let mut next = key.clone();
    let new_secret = random_alphanumeric(64);
    next.rotation.previous_secret = Some(std::mem::replace(&mut next.client_secret, new_secret));
    next.rotation.next_secret = None;
    next.rotation.started_at = Some(now);
    next
}

/// Until when the secret a rotation replaced is accepted, when one is.
pub fn previous_secret_until(key: &ApiKey) -> Option<i64> {
    let r = &key.rotation;
    r.previous_secret.as_ref()?;
    Some(r.started_at? + r.grace_period as i64 * HOUR_MS)
}

/// Rotates the keys that are due. Only keys with rotation on are looked at; the document of a
/// due key is read from the store (the index keeps only what checks need) and written back.
pub(crate) async fn rotate_due(service: &KeyService) {
    let now = service.now_ms();
    let candidates: Vec<String> = service
        .index()
        .rotating
        .iter()
        .filter(|k| k.rotation().is_some_and(|r| step(r, now).is_some()))
        .map(|k| k.client_id.to_string())
        .collect();
    for id in candidates {
        // Read and written back in one transaction: an admin write of the key in between
        // (from any node) wins, and the step is taken again on the next tick.
        let tx = Transaction::new(service.store_handle());
        let result = async {
            let Some(doc) = tx.get(Kind::ApiKey, &id).await? else {
                return Ok(None);
            };
            let Some(key) = parse::<ApiKey>(&doc).ok().and_then(|k| due(&k, now)) else {
                return Ok(None);
            };
            let doc = serde_json::to_value(&key).expect("keys serialize");
            tx.put(Kind::ApiKey, &id, &doc, WriteMode::Replace)
                .await
                .map(Some)
        }
        .await;
        match result {
            Ok(Some(())) => tracing::info!(key = %id, "API key rotation step"),
            Ok(None) => {}
            Err(StoreError::Changed { .. }) => {
                tracing::info!(key = %id, "API key changed while rotating: next tick")
            }
            Err(e) => tracing::error!(key = %id, error = %e, "cannot rotate API key"),
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

    #[test]
    fn a_rotation_asked_for_keeps_the_old_secret_for_the_grace_period() {
        let mut key = ApiKey {
            client_secret: "old".into(),
            ..Default::default()
        };
        key.rotation.grace_period = 1;
        let key = rotated(&key, 5 * HOUR_MS);
        assert_ne!(key.client_secret, "old");
        assert_eq!(key.rotation.previous_secret.as_deref(), Some("old"));
        assert_eq!(previous_secret_until(&key), Some(6 * HOUR_MS));
        assert!(
            due(&key, 100 * HOUR_MS).is_none(),
            "periodic rotation stays off"
        );
    }
}
