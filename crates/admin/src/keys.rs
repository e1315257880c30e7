//! Admin endpoints around API keys: quota consumption and reset, the keys that can reach a group or
//! an API, and (only with `--testing-clock`) shifting the clock quotas and rotation use.

use axum::Json;
use axum::extract::{Path, State};
use komainu_keys::Scope;
use komainu_model::{ApiKey, Kind, parse};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::Admin;
use crate::error::{ApiError, ApiResult};

fn keys_service(admin: &Admin) -> ApiResult<&komainu_keys::KeyService> {
    admin
        .keys
        .as_deref()
        .ok_or_else(|| ApiError::not_found("quotas are served by a running gateway"))
}

pub(crate) async fn quotas(
    State(admin): State<Admin>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let report = keys_service(&admin)?
        .quotas(&id)
        .ok_or_else(|| ApiError::not_found(format!("Apikey \"{id}\" does not exist")))?;
    Ok(Json(
        serde_json::to_value(report).expect("reports serialize"),
    ))
}

pub(crate) async fn reset_quotas(
    State(admin): State<Admin>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    if !keys_service(&admin)?.reset_quotas(&id).await? {
        return Err(ApiError::not_found(format!(
            "Apikey \"{id}\" does not exist"
        )));
    }
    quotas(State(admin), Path(id)).await
}

/// Stored keys whose scopes satisfy `names`.
pub(crate) async fn keys_where(
    admin: &Admin,
    names: impl Fn(&Scope) -> bool,
) -> ApiResult<Json<Value>> {
    let keys: Vec<Value> = admin
        .store
        .list(Kind::ApiKey)
        .await?
        .into_iter()
        .filter(|doc| {
            parse::<ApiKey>(doc).is_ok_and(|k| {
                k.authorized_entities
                    .iter()
                    .map(Scope::parse)
                    .any(|s| names(&s))
            })
        })
        .collect();
    Ok(Json(Value::Array(keys)))
}

/// `GET /api/groups/:id/apikeys`: the keys authorized on the group.
pub(crate) async fn group_keys(
    State(admin): State<Admin>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    if admin.store.get(Kind::Group, &id).await?.is_none() {
        return Err(ApiError::not_found(format!(
            "ServiceGroup \"{id}\" does not exist"
        )));
    }
    keys_where(&admin, |s| s.names_group(&id)).await
}

/// `GET /api/apis/:id/apikeys`: the keys authorized on the API or on one of its existing groups.
pub(crate) async fn api_keys(
    State(admin): State<Admin>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let api = admin
        .store
        .get(Kind::Api, &id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("Api \"{id}\" does not exist")))?;
    let mut groups = Vec::new();
    for g in api["groups"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
    {
        if admin.store.get(Kind::Group, g).await?.is_some() {
            groups.push(g.to_string());
        }
    }
    keys_where(&admin, |s| {
        s.names_api(&id) || groups.iter().any(|g| s.names_group(g))
    })
    .await
}

#[derive(Deserialize)]
pub(crate) struct ClockShift {
    offset_ms: i64,
}

/// `PUT /api/_testing/clock {"offset_ms": n}`: served only when the gateway runs with `--testing-clock`.
pub(crate) async fn shift_clock(
    State(admin): State<Admin>,
    Json(shift): Json<ClockShift>,
) -> ApiResult<Json<Value>> {
    let keys = keys_service(&admin)?;
    keys.clock.set_offset_ms(shift.offset_ms);
    Ok(Json(
        json!({"offset_ms": keys.clock.offset_ms(), "now": keys.clock.now_ms()}),
    ))
}
