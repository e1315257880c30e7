//! What is worth telling a developer, and to whom: jobs come from writes ([`Job::of_write`]) and
//! from quota counting; the worker resolves each into notifications (the developer's account,
//! the API's name), once per developer or per window where that is the rule.

use std::collections::BTreeMap;
use std::sync::Arc;

use komainu_model::{Kind, SUBSCRIPTION_META};
use komainu_store::{Store, Window};
use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::deliver::{Channels, Notification};
use crate::mail::Mail;

/// Which threshold of a quota a key crossed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QuotaLevel {
    /// 80% of the window's quota used.
    Warning,
    /// All of it.
    Exhausted,
}

/// Something that happened, to be told.
#[derive(Clone, Debug)]
pub enum Job {
    /// A subscription was approved or rejected (`event`), as it now is.
    Subscription { event: &'static str, sub: Value },
    /// A subscription's key got a new secret; the old one works until `until` (ms).
    KeyRotated { key: Value, until: Option<i64> },
    /// An API entered `deprecated` or `removed` (`event`): every developer with a live
    /// subscription is told, once.
    ApiState { event: &'static str, api: Value },
    /// A subscription's key crossed a threshold of its `window` (`day`, `month`) quota, which
    /// ends at `ends_at_ms`: told once per window.
    Quota {
        level: QuotaLevel,
        subscription: String,
        window: &'static str,
        used: u64,
        quota: u64,
        ends_at_ms: i64,
    },
}

fn state(doc: Option<&Value>, field: &str) -> String {
    doc.and_then(|d| d[field].as_str())
        .unwrap_or_default()
        .to_string()
}

impl Job {
    /// What a write of `kind` (from `previous` to `stored`) is worth telling.
    pub fn of_write(kind: Kind, previous: Option<&Value>, stored: &Value) -> Option<Job> {
        let (before, after) = (state(previous, "status"), state(Some(stored), "status"));
        match kind {
            Kind::ApiSubscription if before == "pending" && after == "enabled" => {
                Some(Job::Subscription {
                    event: "subscription.approved",
                    sub: stored.clone(),
                })
            }
            Kind::ApiSubscription
                if before != "closed" && after == "closed" && stored.get("rejection").is_some() =>
            {
                Some(Job::Subscription {
                    event: "subscription.rejected",
                    sub: stored.clone(),
                })
            }
            Kind::ApiKey => {
                let secret = |d: Option<&Value>| d.map(|d| d["rotation"]["previousSecret"].clone());
                let rotated = stored["metadata"][SUBSCRIPTION_META].is_string()
                    && stored["rotation"]["previousSecret"].is_string()
                    && secret(previous) != secret(Some(stored));
                rotated.then(|| Job::KeyRotated {
                    key: stored.clone(),
                    until: rotation_ends(stored),
                })
            }
            Kind::Api => {
                let (before, after) = (state(previous, "state"), state(Some(stored), "state"));
                let event = match after.as_str() {
                    "deprecated" if before != "deprecated" => "api.deprecated",
                    "removed" if before != "removed" => "api.removed",
                    _ => return None,
                };
                Some(Job::ApiState {
                    event,
                    api: stored.clone(),
                })
            }
            _ => None,
        }
    }
}

/// Until when a rotated key's previous secret works.
fn rotation_ends(key: &Value) -> Option<i64> {
    let r = &key["rotation"];
    Some(r["rotationStartedAt"].as_i64()? + r["gracePeriod"].as_i64()? * 3_600_000)
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// The worker: resolves each job, then hands its notifications to the channels.
pub(crate) async fn run(mut rx: mpsc::Receiver<Job>, store: Arc<dyn Store>, channels: Channels) {
    while let Some(job) = rx.recv().await {
        if !channels.any() {
            continue;
        }
        for n in resolve(&*store, job).await {
            channels.send(n);
        }
    }
}

/// Whether this is the first time `key` is told within its window (cluster-wide, by the store's
/// counters); a store that cannot say counts as first (told twice rather than never).
async fn first_time(store: &dyn Store, key: &str, ends_at_ms: i64) -> bool {
    let window = Window {
        ends_at_ms: ends_at_ms.max(0) as u64,
    };
    let told = store.incr(&format!("notify:{key}"), 1, window).await;
    !matches!(told, Ok(n) if n > 1)
}

async fn get(store: &dyn Store, kind: Kind, id: &str) -> Option<Value> {
    store.get(kind, id).await.ok().flatten()
}

async fn resolve(store: &dyn Store, job: Job) -> Vec<Notification> {
    match job {
        Job::Subscription { event, sub } => {
            let reason = sub["rejection"]["reason"].as_str().map(str::to_string);
            let extra = reason.map(|r| json!({"reason": r})).unwrap_or(json!({}));
            about_subscription(store, event, &sub, extra)
                .await
                .into_iter()
                .collect()
        }
        Job::KeyRotated { key, until } => {
            let Some(sub_id) = key["metadata"][SUBSCRIPTION_META].as_str() else {
                return Vec::new();
            };
            let Some(sub) = get(store, Kind::ApiSubscription, sub_id).await else {
                return Vec::new();
            };
            let extra = json!({"previous_secret_until": until});
            about_subscription(store, "key.rotated", &sub, extra)
                .await
                .into_iter()
                .collect()
        }
        Job::ApiState { event, api } => about_api(store, event, &api).await,
        Job::Quota {
            level,
            subscription,
            window,
            used,
            quota,
            ends_at_ms,
        } => {
            let event = match level {
                QuotaLevel::Warning => "quota.warning",
                QuotaLevel::Exhausted => "quota.exhausted",
            };
            if !first_time(
                store,
                &format!("{event}:{window}:{subscription}"),
                ends_at_ms,
            )
            .await
            {
                return Vec::new();
            }
            let Some(sub) = get(store, Kind::ApiSubscription, &subscription).await else {
                return Vec::new();
            };
            let extra = json!({"window": window, "used": used, "quota": quota});
            about_subscription(store, event, &sub, extra)
                .await
                .into_iter()
                .collect()
        }
    }
}

/// The developer a subscription's portal account names: `(id, email)`.
async fn developer(store: &dyn Store, sub: &Value) -> Option<(String, String)> {
    let id = sub["metadata"]["developer"].as_str()?;
    let account = get(store, Kind::Developer, id).await?;
    Some((id.to_string(), account["email"].as_str()?.to_string()))
}

async fn about_subscription(
    store: &dyn Store,
    event: &'static str,
    sub: &Value,
    extra: Value,
) -> Option<Notification> {
    let api_id = sub["api_ref"].as_str().unwrap_or_default();
    let api = get(store, Kind::Api, api_id)
        .await
        .unwrap_or(json!({"id": api_id}));
    let dev = developer(store, sub).await;
    let mut payload = base(event, &api, dev.as_ref());
    payload["subscription"] =
        json!({"id": sub["id"], "name": sub["name"], "plan_ref": sub["plan_ref"]});
    merge(&mut payload, extra);
    Some(notification(payload, dev.map(|d| d.1)))
}

/// One notification per developer with a live subscription to the API, each once ever.
async fn about_api(store: &dyn Store, event: &'static str, api: &Value) -> Vec<Notification> {
    let api_id = api["id"].as_str().unwrap_or_default();
    let subs = store.list(Kind::ApiSubscription).await.unwrap_or_default();
    let mut by_developer: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for s in subs
        .iter()
        .filter(|s| s["api_ref"] == api_id && s["status"] != "closed")
    {
        if let Some(dev) = s["metadata"]["developer"].as_str() {
            by_developer
                .entry(dev.to_string())
                .or_default()
                .push(s["id"].clone());
        }
    }
    let forever = now_ms() + 100 * 365 * 86_400_000;
    let mut out = Vec::new();
    for (dev_id, ids) in by_developer {
        if !first_time(store, &format!("{event}:{api_id}:{dev_id}"), forever).await {
            continue;
        }
        let email = get(store, Kind::Developer, &dev_id)
            .await
            .and_then(|a| a["email"].as_str().map(str::to_string));
        let dev = email.clone().map(|e| (dev_id.clone(), e));
        let mut payload = base(event, api, dev.as_ref());
        payload["subscriptions"] = Value::Array(ids);
        out.push(notification(payload, email));
    }
    out
}

/// What every notification says: its id, event, API, developer and moment.
fn base(event: &str, api: &Value, dev: Option<&(String, String)>) -> Value {
    json!({
        "id": komainu_model::uuid(),
        "event": event,
        "api": {"id": api["id"], "name": api["name"].as_str().or(api["id"].as_str())},
        "developer": dev.map(|(id, email)| json!({"id": id, "email": email})),
        "at": now_ms(),
    })
}

fn merge(payload: &mut Value, extra: Value) {
    if let (Some(p), Value::Object(e)) = (payload.as_object_mut(), extra) {
        p.extend(e);
    }
}

/// The notification, with its e-mail when the developer has an address.
fn notification(payload: Value, email: Option<String>) -> Notification {
    let mail = email.map(|to| {
        let (subject, body) = crate::jobs::text(&payload);
        Mail { to, subject, body }
    });
    Notification { payload, mail }
}

/// The e-mail's subject and body: the API's name and the event, said plainly.
pub(crate) fn text(p: &Value) -> (String, String) {
    let api = p["api"]["name"].as_str().unwrap_or_default();
    let sub = p["subscription"]["name"].as_str().unwrap_or_default();
    let (title, detail) = match p["event"].as_str().unwrap_or_default() {
        "subscription.approved" => (
            "your subscription is approved".to_string(),
            format!("Your subscription \"{sub}\" is approved: its credentials work now."),
        ),
        "subscription.rejected" => (
            "your subscription is rejected".to_string(),
            format!(
                "Your subscription \"{sub}\" was rejected by the API's team.\n\nReason: {}",
                p["reason"]
                    .as_str()
                    .filter(|r| !r.is_empty())
                    .unwrap_or("none given")
            ),
        ),
        "key.rotated" => (
            "your secret was rotated".to_string(),
            format!(
                "The secret of \"{sub}\" was replaced; the previous one works until {}. Read the new one on your account page.",
                p["previous_secret_until"]
                    .as_i64()
                    .map_or("the end of its grace period".into(), utc)
            ),
        ),
        "api.deprecated" => (
            "the API is deprecated".to_string(),
            "The API is deprecated: it keeps answering for now; plan your move to its successor."
                .to_string(),
        ),
        "api.removed" => (
            "the API is removed".to_string(),
            "The API is removed: it no longer answers, and your subscriptions to it have ended."
                .to_string(),
        ),
        event @ ("quota.warning" | "quota.exhausted") => (
            format!(
                "{} of your {} quota used",
                if event == "quota.warning" {
                    "80%"
                } else {
                    "all"
                },
                p["window"].as_str().unwrap_or_default()
            ),
            format!(
                "\"{sub}\" made {} of its {} calls this {}.",
                p["used"],
                p["quota"],
                p["window"].as_str().unwrap_or_default()
            ),
        ),
        other => (other.to_string(), other.to_string()),
    };
    (format!("{api}: {title}"), format!("{detail}\n\n-- {api}\n"))
}

fn utc(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|d| d.format("%Y-%m-%d %H:%M UTC").to_string())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_worth_telling() {
        let pending = json!({"id": "s", "status": "pending"});
        let enabled = json!({"id": "s", "status": "enabled"});
        let rejected = json!({"id": "s", "status": "closed", "rejection": {"reason": "no"}});
        let closed = json!({"id": "s", "status": "closed"});
        let of = |before: &Value, after: &Value| {
            Job::of_write(Kind::ApiSubscription, Some(before), after).map(|j| match j {
                Job::Subscription { event, .. } => event,
                _ => "other",
            })
        };
        assert_eq!(of(&pending, &enabled), Some("subscription.approved"));
        assert_eq!(of(&enabled, &enabled), None);
        assert_eq!(of(&pending, &rejected), Some("subscription.rejected"));
        assert_eq!(of(&enabled, &closed), None, "a close is not a rejection");
        let api = |s: &str| json!({"id": "a", "state": s});
        assert!(matches!(
            Job::of_write(Kind::Api, Some(&api("published")), &api("deprecated")),
            Some(Job::ApiState {
                event: "api.deprecated",
                ..
            })
        ));
        assert!(Job::of_write(Kind::Api, Some(&api("deprecated")), &api("deprecated")).is_none());
        let key = |prev: &str| {
            json!({"metadata": {"subscription_ref": "s"},
                                      "rotation": {"previousSecret": prev, "rotationStartedAt": 0, "gracePeriod": 1}})
        };
        assert!(matches!(
            Job::of_write(Kind::ApiKey, Some(&key("a")), &key("b")),
            Some(Job::KeyRotated {
                until: Some(3_600_000),
                ..
            })
        ));
        assert!(Job::of_write(Kind::ApiKey, Some(&key("a")), &key("a")).is_none());
    }

    #[test]
    fn dates_read_as_people_read_them() {
        assert_eq!(utc(0), "1970-01-01 00:00 UTC");
        assert_eq!(utc(1_782_777_600_000), "2026-06-30 00:00 UTC");
    }
}
