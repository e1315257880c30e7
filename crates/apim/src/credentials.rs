//! The API key a subscription issues (`apikey` and `oauth2-local` plans), built from the plan's
//! `access_mode_configuration` and kept in step with the plan, the API and the subscription.

use komainu_model::{
    AccessConfig, Api, ApiDocumentationPlan, ApiKey, ApiState, ApiSubscription, AuthorizedEntity,
    KeyTemplate, PlanStatus, SUBSCRIPTION_META, UNLIMITED, random_alphanumeric,
};
use serde_json::Value;

/// The client ids a subscription's `token_refs` name: plain strings (seed 001) or
/// `{"apikey": "<clientId>"}` objects (Otoroshi).
pub fn key_ids(sub: &ApiSubscription) -> Vec<String> {
    sub.token_refs
        .iter()
        .filter_map(|t| match t {
            Value::String(s) => Some(s.clone()),
            Value::Object(o) => o.get("apikey").and_then(Value::as_str).map(str::to_string),
            _ => None,
        })
        .collect()
}

/// The key template of a plan whose subscriptions get keys.
pub(crate) fn template(plan: &ApiDocumentationPlan) -> Option<KeyTemplate> {
    match plan.access().ok()? {
        AccessConfig::Apikey(t) | AccessConfig::Oauth2Local(t) => Some(*t),
        _ => None,
    }
}

/// Whether the subscription's credentials may be used now.
pub(crate) fn admits(
    api: &Api,
    plan: Option<&ApiDocumentationPlan>,
    sub: &ApiSubscription,
) -> bool {
    let api_serves = matches!(api.state, ApiState::Published | ApiState::Deprecated);
    let plan_open =
        plan.is_some_and(|p| matches!(p.status, PlanStatus::Published | PlanStatus::Deprecated));
    api_serves && plan_open && sub.enabled && sub.dates.closed_at.is_none()
}

/// Fills `${api.id}`, `${api.name}`, `${plan.id}`, `${plan.name}`, `${subscription.id}`,
/// `${subscription.name}`, `${client.id}`, `${client.name}` and `${random}` (16 characters).
fn fill(pattern: &str, api: &Api, plan: &ApiDocumentationPlan, sub: &ApiSubscription) -> String {
    let client = api.clients.iter().find(|c| c.id == sub.owner_ref);
    let mut out = pattern.to_string();
    for (name, value) in [
        ("api.id", api.id.as_str()),
        ("api.name", api.name.as_str()),
        ("plan.id", plan.id.as_str()),
        ("plan.name", plan.name.as_str()),
        ("subscription.id", sub.id.as_str()),
        ("subscription.name", sub.name.as_str()),
        ("client.id", sub.owner_ref.as_str()),
        (
            "client.name",
            client.map_or(sub.owner_ref.as_str(), |c| c.name.as_str()),
        ),
    ] {
        out = out.replace(&format!("${{{name}}}"), value);
    }
    while let Some(i) = out.find("${random}") {
        out.replace_range(i..i + "${random}".len(), &random_alphanumeric(16));
    }
    out
}

/// The key the subscription should have now. An existing key keeps its client id, secrets and
/// rotation state; everything else follows the plan and the subscription.
pub(crate) fn desired_key(
    api: &Api,
    plan: &ApiDocumentationPlan,
    t: &KeyTemplate,
    sub: &ApiSubscription,
    existing: Option<&ApiKey>,
) -> ApiKey {
    let mut key = existing.cloned().unwrap_or_else(|| ApiKey {
        client_id: t
            .client_id_pattern
            .as_deref()
            .map(|p| fill(p, api, plan, sub))
            .filter(|id| !id.trim().is_empty())
            .unwrap_or_else(|| random_alphanumeric(16)),
        client_secret: random_alphanumeric(64),
        ..ApiKey::default()
    });
    key.client_name = match &t.client_name_pattern {
        Some(p) => fill(p, api, plan, sub),
        None if !sub.name.is_empty() => format!("{} ({})", sub.name, plan.name),
        None => format!("{} / {}", sub.owner_ref, plan.name),
    };
    key.description = t
        .description
        .clone()
        .unwrap_or_else(|| sub.description.clone());
    let mut entities = vec![AuthorizedEntity::Id(format!("api_{}", api.id))];
    entities.extend(t.authorized_entities.iter().cloned());
    key.authorized_entities = entities;
    key.enabled = t.enabled && admits(api, Some(plan), sub);
    key.read_only = t.read_only;
    key.allow_client_id_only = t.allow_client_id_only;
    key.constrained_services_only = t.constrained_services_only;
    key.restrictions = t.restrictions.clone();
    let state = existing.map(|k| k.rotation.clone()).unwrap_or_default();
    key.rotation = komainu_model::Rotation {
        next_secret: state.next_secret,
        previous_secret: state.previous_secret,
        started_at: state.started_at,
        ..t.rotation.clone()
    };
    key.valid_until = match (t.valid_until, sub.dates.ending_at) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    key.throttling_quota = t.throttling_quota.unwrap_or(UNLIMITED);
    key.daily_quota = t.daily_quota.unwrap_or(UNLIMITED);
    key.monthly_quota = t.monthly_quota.unwrap_or(UNLIMITED);
    key.tags = t.tags.iter().chain(&sub.tags).cloned().collect();
    key.tags.dedup();
    let mut metadata = t.metadata.clone();
    metadata.extend(sub.metadata.clone());
    metadata.insert(SUBSCRIPTION_META.into(), sub.id.clone());
    metadata.insert(komainu_model::PLAN_META.into(), plan.id.clone());
    let state = match (sub.status, sub.enabled) {
        (Some(komainu_model::SubscriptionStatus::Closed), _) => "closed",
        (Some(komainu_model::SubscriptionStatus::Pending), _) => "pending",
        (_, false) => "disabled",
        _ => "enabled",
    };
    metadata.insert(
        komainu_model::SUBSCRIPTION_STATE_META.into(),
        state.to_string(),
    );
    key.metadata = metadata;
    key
}

#[cfg(test)]
mod tests {
    use super::*;
    use komainu_model::{ApiClient, ApiDocumentationPlan, PlanStatus};
    use serde_json::json;

    fn setup() -> (Api, ApiDocumentationPlan, ApiSubscription) {
        let api = Api {
            id: "users".into(),
            name: "Users".into(),
            state: ApiState::Published,
            clients: vec![ApiClient {
                id: "acme".into(),
                name: "ACME".into(),
                ..Default::default()
            }],
            ..Default::default()
        };
        let plan: ApiDocumentationPlan = serde_json::from_value(json!({
            "id": "free", "name": "Free", "status": "published",
            "access_mode_configuration_type": "apikey",
            "access_mode_configuration": {
                "clientIdPattern": "${client.id}-${plan.id}",
                "clientNamePattern": "${client.name} on ${api.name}",
                "dailyQuota": 100, "readOnly": true, "tags": ["free"],
                "metadata": {"tier": "free"}
            }
        }))
        .unwrap();
        let sub = ApiSubscription {
            id: "sub1".into(),
            api_ref: "users".into(),
            plan_ref: "free".into(),
            owner_ref: "acme".into(),
            tags: vec!["acme".into()],
            ..Default::default()
        };
        (api, plan, sub)
    }

    #[test]
    fn a_new_key_follows_the_plan() {
        let (api, plan, sub) = setup();
        let t = template(&plan).unwrap();
        let key = desired_key(&api, &plan, &t, &sub, None);
        assert_eq!(key.client_id, "acme-free");
        assert_eq!(key.client_name, "ACME on Users");
        assert_eq!(key.client_secret.len(), 64);
        assert_eq!(
            key.authorized_entities,
            vec![AuthorizedEntity::Id("api_users".into())]
        );
        assert!(key.enabled && key.read_only);
        assert_eq!((key.daily_quota, key.monthly_quota), (100, UNLIMITED));
        assert_eq!(key.tags, vec!["free", "acme"]);
        assert_eq!(key.metadata["tier"], "free");
        assert_eq!(key.metadata[SUBSCRIPTION_META], "sub1");
    }

    #[test]
    fn rewriting_keeps_identity_and_follows_state() {
        let (mut api, mut plan, mut sub) = setup();
        let t = template(&plan).unwrap();
        let first = desired_key(&api, &plan, &t, &sub, None);
        sub.enabled = false;
        let paused = desired_key(&api, &plan, &t, &sub, Some(&first));
        assert_eq!(
            (&paused.client_id, &paused.client_secret),
            (&first.client_id, &first.client_secret)
        );
        assert!(!paused.enabled);
        sub.enabled = true;
        plan.status = PlanStatus::Deprecated;
        assert!(desired_key(&api, &plan, &t, &sub, Some(&first)).enabled);
        plan.status = PlanStatus::Closed;
        assert!(!desired_key(&api, &plan, &t, &sub, Some(&first)).enabled);
        plan.status = PlanStatus::Published;
        api.state = ApiState::Removed;
        assert!(!desired_key(&api, &plan, &t, &sub, Some(&first)).enabled);
        api.state = ApiState::Published;
        sub.dates.ending_at = Some(5);
        assert_eq!(
            desired_key(&api, &plan, &t, &sub, Some(&first)).valid_until,
            Some(5)
        );
    }
}
