//! The rules of a subscription write: who may subscribe to what, which fields are the server's, and
//! how the dates follow the subscription's state.

use komainu_model::{Api, ApiState, ApiSubscription, PlanStatus, SubscriptionStatus};
use serde_json::Value;

use crate::Refusal;

/// Checks a new subscription against its API and plan, and fills its kind, dates and status.
pub(crate) fn admit_new(
    api: &Api,
    sub: &mut ApiSubscription,
    raw: &Value,
    now_ms: i64,
) -> Result<(), Refusal> {
    if api.state != ApiState::Published {
        return Err(Refusal::Conflict(format!(
            "API \"{}\" is {}: subscriptions are accepted only while it is published",
            api.id,
            api.state.as_str()
        )));
    }
    let Some(plan) = api
        .documentation
        .plans
        .iter()
        .find(|p| p.id == sub.plan_ref)
    else {
        return Err(Refusal::NotFound(format!(
            "plan \"{}\" not found in API \"{}\"",
            sub.plan_ref, api.id
        )));
    };
    if plan.status != PlanStatus::Published {
        let status = serde_json::to_value(plan.status).expect("serializes");
        return Err(Refusal::Conflict(format!(
            "plan \"{}\" is {}: subscriptions are accepted only while it is published",
            plan.id,
            status.as_str().unwrap_or_default()
        )));
    }
    if !api.clients.iter().any(|c| c.id == sub.owner_ref) {
        return Err(Refusal::field(
            "owner_ref",
            format!(
                "\"{}\" is not a client of API \"{}\" (declare it in the API's `clients`)",
                sub.owner_ref, api.id
            ),
        ));
    }
    let mode = plan.access_mode_configuration_type;
    if raw.get("subscription_kind").is_some() && sub.subscription_kind != mode {
        let name = |m| serde_json::to_value(m).expect("serializes");
        return Err(Refusal::field(
            "subscription_kind",
            format!(
                "plan \"{}\" is {}, not {}",
                plan.id,
                name(mode),
                name(sub.subscription_kind)
            ),
        ));
    }
    sub.subscription_kind = mode;
    sub.token_refs.clear();
    let d = &mut sub.dates;
    d.created_at = Some(now_ms);
    d.processed_at = Some(now_ms);
    d.started_at = Some(now_ms);
    d.closed_at = None;
    settle(sub, raw, None);
    // `manual`, and kinds this gateway does not run (`workflow`, `wasm`, `custom`), wait for an
    // admin, who approves (status `enabled`) or rejects (status `closed`) them; a writer may also
    // ask for that (the portal, when a plan's webhook did not decide). `webhook` plans are decided
    // by the portal before it writes.
    let waits = !matches!(validation_kind(plan), "auto" | "webhook");
    if waits || status_of(raw) == Some("pending") {
        sub.enabled = false;
        sub.status = Some(SubscriptionStatus::Pending);
    }
    sub.dates.paused_at = (!sub.enabled).then_some(now_ms);
    Ok(())
}

/// Checks an update against the stored subscription and carries the server's fields over.
pub(crate) fn admit_update(
    prev: &ApiSubscription,
    sub: &mut ApiSubscription,
    raw: &Value,
    now_ms: i64,
) -> Result<(), Refusal> {
    for (field, before, after) in [
        ("api_ref", &prev.api_ref, &sub.api_ref),
        ("plan_ref", &prev.plan_ref, &sub.plan_ref),
        ("owner_ref", &prev.owner_ref, &sub.owner_ref),
    ] {
        if before != after {
            return Err(Refusal::Conflict(format!(
                "{field} of a subscription cannot change (\"{before}\" → \"{after}\"): create a new subscription"
            )));
        }
    }
    let closing = sub.dates.closed_at.is_some() || status_of(raw) == Some("closed");
    // A closed subscription is final: asking to enable it (by `enabled` or by `status`) is a
    // conflict, never a silent no-op.
    if prev.dates.closed_at.is_some() && raw_enables(raw) {
        return Err(Refusal::Conflict(format!(
            "subscription \"{}\" is closed: it cannot be re-enabled",
            prev.id
        )));
    }
    sub.subscription_kind = prev.subscription_kind;
    sub.token_refs = prev.token_refs.clone();
    let d = &mut sub.dates;
    d.created_at = prev.dates.created_at;
    d.processed_at = Some(now_ms);
    d.started_at = prev.dates.started_at;
    d.closed_at = prev.dates.closed_at.or(closing.then_some(now_ms));
    settle(sub, raw, Some(prev));
    let still_pending = prev.status == Some(SubscriptionStatus::Pending)
        && !sub.enabled
        && sub.dates.closed_at.is_none();
    if still_pending {
        sub.status = Some(SubscriptionStatus::Pending);
    }
    d_pause(prev, sub, raw, now_ms);
    Ok(())
}

/// Who paused a subscription (`paused_by`): `developer` when the developer did from the portal
/// (they may resume it), else `admin` (only the API's team resumes it).
pub fn paused_by(sub: &ApiSubscription) -> Option<&str> {
    sub.extra.get("paused_by").and_then(Value::as_str)
}

/// A plan's `validation.kind` (Otoroshi 18).
pub fn validation_kind(plan: &komainu_model::ApiDocumentationPlan) -> &str {
    &plan.validation.kind
}

/// A plan's `visibility.kind` (Otoroshi 18).
pub fn visibility_kind(plan: &komainu_model::ApiDocumentationPlan) -> &str {
    &plan.visibility.kind
}

fn status_of(raw: &Value) -> Option<&str> {
    raw.get("status").and_then(Value::as_str)
}

/// Whether the write asks for the subscription to be enabled.
fn raw_enables(raw: &Value) -> bool {
    raw.get("enabled").and_then(Value::as_bool) == Some(true) || status_of(raw) == Some("enabled")
}

/// `enabled` and `status` say the same thing: Otoroshi 18 writes `status`, seed 001 `enabled`.
/// A write that gives only `status`, or changes only `status` (a merge patch of a stored
/// document carries both), decides `enabled`; both are then written back.
fn settle(sub: &mut ApiSubscription, raw: &Value, prev: Option<&ApiSubscription>) {
    if let Some(s) = status_of(raw) {
        let given_enabled = raw.get("enabled").and_then(Value::as_bool);
        let prev_status = prev
            .and_then(|p| p.status)
            .and_then(|st| serde_json::to_value(st).ok());
        let status_changed = prev_status.as_ref().and_then(Value::as_str) != Some(s);
        let enabled_changed = match (given_enabled, prev) {
            (Some(e), Some(p)) => e != p.enabled,
            (given, None) => given.is_some(),
            (None, Some(_)) => false,
        };
        if given_enabled.is_none() || (status_changed && !enabled_changed) {
            sub.enabled = s == "enabled";
        }
    }
    if sub.dates.closed_at.is_some() {
        sub.enabled = false;
    }
    sub.status = Some(if sub.dates.closed_at.is_some() {
        SubscriptionStatus::Closed
    } else if sub.enabled {
        SubscriptionStatus::Enabled
    } else {
        SubscriptionStatus::Disabled
    });
}

/// Pausing stamps `paused_at` and who paused (`paused_by`: `developer` only when the write says
/// so, as the portal's does; any other pause is the API team's, also over a developer's);
/// resuming clears both.
fn d_pause(prev: &ApiSubscription, sub: &mut ApiSubscription, raw: &Value, now_ms: i64) {
    sub.dates.paused_at = match (prev.enabled, sub.enabled) {
        (true, false) => Some(now_ms),
        (false, true) => None,
        _ => prev.dates.paused_at,
    };
    let asks_pause = raw.get("enabled").and_then(Value::as_bool) == Some(false)
        || status_of(raw) == Some("disabled");
    let by_developer = raw.get("paused_by").and_then(Value::as_str) == Some("developer");
    let by = match (sub.enabled || sub.dates.closed_at.is_some(), asks_pause) {
        (true, _) => None,
        (false, true) => Some(if by_developer { "developer" } else { "admin" }),
        (false, false) => paused_by(prev).or(Some("admin")),
    };
    match by {
        Some(by) => sub.extra.insert("paused_by".into(), Value::from(by)),
        None => sub.extra.remove("paused_by"),
    };
}

#[cfg(test)]
mod tests {
    use super::*;
    use komainu_model::{AccessMode, ApiClient, ApiDocumentationPlan};
    use serde_json::json;

    fn api(state: ApiState, plan_status: PlanStatus) -> Api {
        let mut plan = ApiDocumentationPlan {
            id: "free".into(),
            status: plan_status,
            access_mode_configuration_type: AccessMode::Apikey,
            ..Default::default()
        };
        plan.name = "Free".into();
        let mut api = Api {
            id: "users".into(),
            state,
            clients: vec![ApiClient {
                id: "acme".into(),
                ..Default::default()
            }],
            ..Default::default()
        };
        api.documentation.plans.push(plan);
        api
    }

    fn sub() -> ApiSubscription {
        ApiSubscription {
            id: "s".into(),
            api_ref: "users".into(),
            plan_ref: "free".into(),
            owner_ref: "acme".into(),
            ..Default::default()
        }
    }

    #[test]
    fn plans_that_are_not_auto_validated_start_pending() {
        for (kind, pending) in [
            ("auto", false),
            ("webhook", false),
            ("manual", true),
            ("workflow", true),
            ("custom", true),
        ] {
            let mut a = api(ApiState::Published, PlanStatus::Published);
            a.documentation.plans[0].validation = komainu_model::PlanPolicy::of(kind);
            let mut s = sub();
            admit_new(&a, &mut s, &json!({}), 7).unwrap();
            assert_eq!(
                s.status == Some(SubscriptionStatus::Pending),
                pending,
                "{kind}"
            );
            assert_eq!(s.enabled, !pending, "{kind}");
        }
        let mut s = sub();
        let open = api(ApiState::Published, PlanStatus::Published);
        admit_new(&open, &mut s, &json!({"status": "pending"}), 7).unwrap();
        assert_eq!(s.status, Some(SubscriptionStatus::Pending));
        let mut approved = s.clone();
        let prev = s.clone();
        admit_update(&prev, &mut approved, &json!({"status": "enabled"}), 8).unwrap();
        assert_eq!(approved.status, Some(SubscriptionStatus::Enabled));
        let mut still = prev.clone();
        admit_update(&prev, &mut still, &json!({"description": "x"}), 9).unwrap();
        assert_eq!(
            still.status,
            Some(SubscriptionStatus::Pending),
            "other edits keep it pending"
        );
    }

    #[test]
    fn new_subscriptions_need_a_published_api_and_plan_and_a_client() {
        let raw = json!({});
        let mut s = sub();
        admit_new(
            &api(ApiState::Published, PlanStatus::Published),
            &mut s,
            &raw,
            7,
        )
        .unwrap();
        assert_eq!(s.subscription_kind, AccessMode::Apikey);
        assert_eq!((s.dates.created_at, s.dates.started_at), (Some(7), Some(7)));
        assert_eq!(s.status, Some(SubscriptionStatus::Enabled));
        for state in [ApiState::Staging, ApiState::Deprecated, ApiState::Removed] {
            let r = admit_new(&api(state, PlanStatus::Published), &mut sub(), &raw, 7);
            assert!(matches!(r, Err(Refusal::Conflict(_))), "{state:?}");
        }
        for status in [
            PlanStatus::Staging,
            PlanStatus::Deprecated,
            PlanStatus::Closed,
        ] {
            let r = admit_new(&api(ApiState::Published, status), &mut sub(), &raw, 7);
            assert!(matches!(r, Err(Refusal::Conflict(_))), "{status:?}");
        }
        let ok = api(ApiState::Published, PlanStatus::Published);
        let mut s = sub();
        s.plan_ref = "gold".into();
        assert!(matches!(
            admit_new(&ok, &mut s, &raw, 7),
            Err(Refusal::NotFound(_))
        ));
        let mut s = sub();
        s.owner_ref = "nobody".into();
        assert!(matches!(
            admit_new(&ok, &mut s, &raw, 7),
            Err(Refusal::Invalid(_))
        ));
        let mut s = sub();
        s.subscription_kind = AccessMode::Jwt;
        let raw = json!({"subscription_kind": "jwt"});
        assert!(matches!(
            admit_new(&ok, &mut s, &raw, 7),
            Err(Refusal::Invalid(_))
        ));
    }

    #[test]
    fn dates_follow_pause_resume_and_close() {
        let ok = api(ApiState::Published, PlanStatus::Published);
        let mut s = sub();
        admit_new(&ok, &mut s, &json!({}), 1).unwrap();
        let mut paused = s.clone();
        paused.enabled = false;
        admit_update(&s, &mut paused, &json!({"enabled": false}), 2).unwrap();
        assert_eq!(paused.dates.paused_at, Some(2));
        assert_eq!(paused.status, Some(SubscriptionStatus::Disabled));
        assert_eq!(paused_by(&paused), Some("admin"));
        let mut resumed = paused.clone();
        resumed.enabled = true;
        admit_update(&paused, &mut resumed, &json!({"enabled": true}), 3).unwrap();
        assert_eq!(resumed.dates.paused_at, None);
        assert_eq!(paused_by(&resumed), None);
        let mut by_dev = resumed.clone();
        by_dev.enabled = false;
        let raw = json!({"enabled": false, "paused_by": "developer"});
        admit_update(&resumed, &mut by_dev, &raw, 4).unwrap();
        assert_eq!(paused_by(&by_dev), Some("developer"));
        let mut taken_over = by_dev.clone();
        admit_update(&by_dev, &mut taken_over, &json!({"status": "disabled"}), 5).unwrap();
        assert_eq!(
            paused_by(&taken_over),
            Some("admin"),
            "the team's pause wins"
        );
        assert_eq!(resumed.dates.created_at, Some(1));
        let mut closed = resumed.clone();
        admit_update(&resumed, &mut closed, &json!({"status": "closed"}), 4).unwrap();
        assert_eq!(closed.dates.closed_at, Some(4));
        assert!(!closed.enabled);
        let mut reopened = closed.clone();
        reopened.enabled = true;
        let r = admit_update(&closed, &mut reopened, &json!({"enabled": true}), 5);
        assert!(matches!(r, Err(Refusal::Conflict(_))));
        let mut by_status = closed.clone();
        let r = admit_update(
            &closed,
            &mut by_status,
            &json!({"status": "enabled", "enabled": false}),
            5,
        );
        assert!(
            matches!(r, Err(Refusal::Conflict(_))),
            "re-enabling by status too"
        );
        let mut moved = resumed.clone();
        moved.plan_ref = "gold".into();
        let r = admit_update(&resumed, &mut moved, &json!({}), 5);
        assert!(matches!(r, Err(Refusal::Conflict(_))));
    }
}
