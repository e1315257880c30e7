//! An API's deployment history: what changed between two deployments (RFC 6902), and a rollback
//! that makes an earlier deployment's definition live again, recorded as a new deployment.

use std::collections::HashMap;

use axum::Json;
use axum::extract::{Path, Query, State};
use komainu_model::{Api, Kind, parse, prepare};
use serde_json::Value;

use crate::Admin;
use crate::error::{ApiError, ApiResult};
use crate::refs::KnownIds;

/// `GET /api/apis/:id/deployments/_diff?from=A&to=B`: the JSON Patch turning A's `apiDefinition`
/// into B's (`[]` when they are the same).
pub(crate) async fn diff(
    State(admin): State<Admin>,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<Json<Value>> {
    let doc = admin
        .store
        .get(Kind::Api, &id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("Api \"{id}\" does not exist")))?;
    let api: Api = parse(&doc).map_err(|e| ApiError::invalid(vec![e]))?;
    let definition = |field: &str| -> ApiResult<&Value> {
        let wanted = q.get(field).ok_or_else(|| {
            ApiError::invalid(vec![komainu_model::FieldError::new(
                field,
                "a deployment id is required",
            )])
        })?;
        api.deployments
            .iter()
            .find(|d| &d.id == wanted)
            .map(|d| &d.api_definition)
            .ok_or_else(|| {
                ApiError::not_found(format!("Api \"{id}\" has no deployment \"{wanted}\""))
            })
    };
    let patch = json_patch::diff(definition("from")?, definition("to")?);
    Ok(Json(
        serde_json::to_value(patch).expect("patches serialize"),
    ))
}

/// `POST /api/apis/:id/deployments/:deployment_id/_rollback`: that deployment's definition live
/// and `published`, recorded as a new deployment (earlier ones kept); refused (409) from
/// `deprecated` or `removed`, as a publish is. The draft, if any, is left as it is.
pub(crate) async fn rollback(
    State(admin): State<Admin>,
    Path((id, deployment)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    admin
        .atomically(|admin| {
            let (id, deployment) = (id.clone(), deployment.clone());
            async move {
                let (candidate, live) =
                    komainu_apim::rollback_candidate(&*admin.store, &id, &deployment).await?;
                let refs =
                    KnownIds::load(&*admin.store, &[Kind::Api], admin.plugins.clone()).await?;
                let candidate = prepare(Kind::Api, candidate, &refs).map_err(ApiError::invalid)?;
                let planned =
                    komainu_apim::publish(&admin.write_ctx(), candidate, &live, false).await?;
                admin.store.apply(planned.ops).await?;
                Ok(Json(refs.answer(planned.doc)))
            }
        })
        .await
}
