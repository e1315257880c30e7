//! Actions on a subscription beyond editing it: rotating its key's secret with a grace period, and
//! rejecting it with a reason the developer is shown.

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use komainu_model::{ApiKey, ApiSubscription, Kind, SubscriptionStatus, parse};
use komainu_store::WriteMode;
use serde_json::{Value, json};

use crate::Admin;
use crate::body::{self, Formats};
use crate::error::{ApiError, ApiResult};
use crate::resources::save_once;

/// The longest rejection reason kept.
const MAX_REASON: usize = 2000;

async fn subscription(admin: &Admin, id: &str) -> ApiResult<ApiSubscription> {
    let doc = admin
        .store
        .get(Kind::ApiSubscription, id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("ApiSubscription \"{id}\" does not exist")))?;
    parse(&doc).map_err(|e| ApiError::invalid(vec![e]))
}

fn status_name(sub: &ApiSubscription) -> String {
    sub.status
        .and_then(|s| serde_json::to_value(s).ok())
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_else(|| "unknown".into())
}

/// `POST /api/api-subscriptions/:id/_rotate`: the subscription's key gets a new secret; the one it
/// replaces is still accepted for the plan's `rotation.gracePeriod` hours, then refused. Answers
/// the key, with `rotation.previousSecret` and `previousSecretUntil` (ms).
pub(crate) async fn rotate(
    State(admin): State<Admin>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let sub = subscription(&admin, &id).await?;
    if sub.status != Some(SubscriptionStatus::Enabled) {
        return Err(ApiError::conflict(format!(
            "subscription \"{id}\" is {}: only an enabled subscription's secret is rotated",
            status_name(&sub)
        )));
    }
    let Some(key_id) = komainu_apim::key_ids(&sub).into_iter().next() else {
        return Err(ApiError::conflict(format!(
            "subscription \"{id}\" has no API key: its plan issues no secret"
        )));
    };
    let now = admin.now_ms();
    let mut answer = admin
        .atomically(|admin| {
            let key_id = key_id.clone();
            async move {
                let doc = admin
                    .store
                    .get(Kind::ApiKey, &key_id)
                    .await?
                    .ok_or_else(|| {
                        ApiError::conflict(format!(
                            "the key \"{key_id}\" of the subscription is gone"
                        ))
                    })?;
                let key: ApiKey = parse(&doc).map_err(|e| ApiError::invalid(vec![e]))?;
                let doc =
                    serde_json::to_value(komainu_keys::rotated(&key, now)).expect("keys serialize");
                save_once(&admin, Kind::ApiKey, doc, WriteMode::Replace).await
            }
        })
        .await?;
    if let Ok(key) = parse::<ApiKey>(&answer) {
        answer["previousSecretUntil"] = json!(komainu_keys::previous_secret_until(&key));
    }
    Ok(Json(answer))
}

/// `POST /api/api-subscriptions/:id/_reject` with `{"reason": "..."}`: the subscription is closed,
/// the reason kept in its `rejection` (`{reason, at}`) and shown to the developer.
pub(crate) async fn reject(
    State(admin): State<Admin>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Json<Value>> {
    let doc = body::read(&headers, body, 64 << 10, Formats::JsonOrYaml).await?;
    let reason = match doc.get("reason") {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(r)) => r.trim().to_string(),
        Some(_) => return Err(field("reason", "expected a string")),
    };
    if reason.chars().count() > MAX_REASON {
        return Err(field("reason", &format!("at most {MAX_REASON} characters")));
    }
    let sub = subscription(&admin, &id).await?;
    if sub.status == Some(SubscriptionStatus::Closed) {
        return Err(ApiError::conflict(format!(
            "subscription \"{id}\" is already closed"
        )));
    }
    let now = admin.now_ms();
    let answer = admin
        .atomically(|admin| {
            let (id, reason) = (id.clone(), reason.clone());
            async move {
                let mut doc = admin
                    .store
                    .get(Kind::ApiSubscription, &id)
                    .await?
                    .ok_or_else(|| ApiError::not_found(format!("ApiSubscription \"{id}\"")))?;
                doc["status"] = json!("closed");
                doc["enabled"] = json!(false);
                doc["rejection"] = json!({"reason": reason, "at": now});
                save_once(&admin, Kind::ApiSubscription, doc, WriteMode::Replace).await
            }
        })
        .await?;
    Ok(Json(answer))
}

fn field(path: &str, message: &str) -> ApiError {
    ApiError::invalid(vec![komainu_model::FieldError::new(path, message)])
}
