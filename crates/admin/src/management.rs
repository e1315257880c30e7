//! API-management endpoints beyond CRUD: an API's draft, its publication, its documentation, and
//! the consumption of subscriptions.

use std::collections::BTreeMap;
use std::time::Duration;

use axum::Json;
use axum::body::Body;
use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use komainu_keys::usage::{self, SubscriptionUsage};
use komainu_model::{Api, ApiSubscription, Kind, parse, prepare};
use komainu_store::{Op, WriteMode, load_all};
use serde_json::{Value, json};

use crate::body::{self, ENTITY_LIMIT, Formats};
use crate::error::{ApiError, ApiResult};
use crate::refs::KnownIds;
use crate::{Admin, resources};

fn no_api(id: &str) -> ApiError {
    ApiError::not_found(format!("Api \"{id}\" does not exist"))
}

pub(crate) async fn api(admin: &Admin, id: &str) -> ApiResult<Api> {
    let doc = admin
        .store
        .get(Kind::Api, id)
        .await?
        .ok_or_else(|| no_api(id))?;
    parse(&doc).map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.message))
}

/// `GET /api/apis/:id/draft`: the drafted API.
pub(crate) async fn read_draft(
    State(admin): State<Admin>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let draft = admin.store.get(Kind::Draft, &id).await?;
    let content = draft.and_then(|mut d| d.get_mut("content").map(Value::take));
    content
        .map(Json)
        .ok_or_else(|| ApiError::not_found(format!("Api \"{id}\" has no draft")))
}

/// `PUT /api/apis/:id/draft`: saves the next version of the API (validated as an API) without
/// touching the live one.
pub(crate) async fn save_draft(
    State(admin): State<Admin>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Json<Value>> {
    let content = body::read(&headers, body, ENTITY_LIMIT, Formats::Json).await?;
    admin
        .atomically(|admin| write_draft(admin, id.clone(), content.clone()))
        .await
        .map(Json)
}

async fn write_draft(admin: Admin, id: String, mut content: Value) -> ApiResult<Value> {
    let live = api(&admin, &id).await?;
    let Some(obj) = content.as_object_mut() else {
        return Err(ApiError::bad_request(
            "a draft is an API document (a JSON object)",
        ));
    };
    match obj.get("id").and_then(Value::as_str) {
        Some(other) if !other.is_empty() && other != id => {
            return Err(ApiError::invalid(vec![komainu_model::FieldError::new(
                "id",
                format!("\"{other}\" differs from the id in the path, \"{id}\""),
            )]));
        }
        _ => {
            obj.insert("id".into(), Value::String(id.clone()));
        }
    }
    obj.remove("deployments");
    let refs = KnownIds::load(&*admin.store, &[Kind::Api], admin.plugins.clone()).await?;
    let content = prepare(Kind::Api, content, &refs).map_err(ApiError::invalid)?;
    let draft = json!({
        "id": id,
        "name": live.name,
        "kind": Kind::Api.name(),
        "content": content,
    });
    admin
        .store
        .apply(vec![Op::Put {
            kind: Kind::Draft,
            id: id.clone(),
            doc: draft,
        }])
        .await?;
    Ok(refs.answer(content))
}

/// `DELETE /api/apis/:id/draft`.
pub(crate) async fn drop_draft(
    State(admin): State<Admin>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    if !admin.store.delete(Kind::Draft, &id).await? {
        return Err(ApiError::not_found(format!("Api \"{id}\" has no draft")));
    }
    Ok(Json(json!({"deleted": true})))
}

/// `POST /api/apis/:id/_publish`: applies the draft (if any), sets `published`, records a
/// deployment; refused (409) from `deprecated` or `removed`.
pub(crate) async fn publish(
    State(admin): State<Admin>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    admin
        .atomically(|admin| {
            let id = id.clone();
            async move {
                let (candidate, live, had_draft) =
                    komainu_apim::publish_candidate(&*admin.store, &id).await?;
                let refs =
                    KnownIds::load(&*admin.store, &[Kind::Api], admin.plugins.clone()).await?;
                let candidate = prepare(Kind::Api, candidate, &refs).map_err(ApiError::invalid)?;
                let planned =
                    komainu_apim::publish(&admin.write_ctx(), candidate, &live, had_draft).await?;
                admin.store.apply(planned.ops).await?;
                Ok(Json(refs.answer(planned.doc)))
            }
        })
        .await
}

/// `GET /api/apis/:id/documentation`: the documentation data, with the remote `source` (when set)
/// fetched and laid over the stored fields.
pub(crate) async fn documentation(
    State(admin): State<Admin>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let api = api(&admin, &id).await?;
    let mut doc = serde_json::to_value(&api.documentation).expect("serializes");
    if let Some(source) = &api.documentation.source {
        let remote = fetch_source(&admin, source).await.map_err(|e| {
            ApiError::new(
                StatusCode::BAD_GATEWAY,
                format!("documentation source {}: {e}", source.url),
            )
        })?;
        if let (Some(local), Value::Object(remote)) = (doc.as_object_mut(), remote) {
            local.extend(remote);
        }
    }
    Ok(Json(doc))
}

/// The remote documentation source, fetched under the gateway's fetch policy.
async fn fetch_source(
    admin: &Admin,
    source: &komainu_model::DocumentationSource,
) -> Result<Value, String> {
    let request = komainu_fetch::Request {
        url: source.url.clone(),
        headers: source.headers.clone().into_iter().collect(),
        timeout: Duration::from_millis(source.timeout.max(1)),
        follow_redirects: source.follow_redirects,
        max_bytes: 0,
    };
    let fetched = admin.fetcher.get(&request).await?;
    if !(200..300).contains(&fetched.status) {
        return Err(format!("answered {}", fetched.status));
    }
    crate::body::parse_document(&fetched.body, false)
}

/// `POST /api/apis/_openapi` (`?domain`, `context_path`, `id`, `backend`, `name`): an API in
/// `staging` from an OpenAPI or Swagger document, JSON or YAML, or `{"url", "backend"?}` to fetch
/// one; its specification is stored apart (`ApiDocument`). The answer is the API and what the
/// import `skipped` (each with its reason). One size limit (`--openapi-max-bytes`) for a body and a
/// fetch alike.
pub(crate) async fn import_openapi(
    State(admin): State<Admin>,
    Query(params): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let limit = admin.openapi_limit;
    let mut spec = body::read(&headers, body, limit, Formats::JsonOrYaml).await?;
    let mut backend = params.get("backend").cloned();
    let mut name = params.get("name").cloned();
    if let Some(url) = spec.get("url").and_then(Value::as_str).map(str::to_string)
        && spec.get("openapi").is_none()
        && spec.get("swagger").is_none()
    {
        backend = backend.or_else(|| spec["backend"].as_str().map(str::to_string));
        name = name.or_else(|| file_stem(&url));
        spec = fetch_spec(&admin, &url, limit).await.map_err(|e| {
            ApiError::new(StatusCode::BAD_GATEWAY, format!("cannot read {url}: {e}"))
        })?;
    }
    let source = komainu_apim::openapi::Source {
        domain: params.get("domain").cloned().unwrap_or_default(),
        context_path: params.get("context_path").cloned().unwrap_or_default(),
        id: params.get("id").cloned(),
        backend,
        name,
    };
    let imported = komainu_apim::openapi::import(&spec, &source).map_err(ApiError::invalid)?;
    let id = imported.api["id"].as_str().unwrap_or_default().to_string();
    if admin.store.get(Kind::Api, &id).await?.is_some() {
        return Err(ApiError::conflict(format!("Api \"{id}\" already exists")));
    }
    let document = komainu_apim::openapi::document(&id, spec);
    resources::save(&admin, Kind::ApiDocument, document, WriteMode::Upsert).await?;
    let stored = match resources::save(&admin, Kind::Api, imported.api, WriteMode::Create).await {
        Ok(stored) => stored,
        Err(e) => {
            let doc_id = komainu_apim::openapi::document_id(&id);
            let _ = admin.store.delete(Kind::ApiDocument, &doc_id).await;
            return Err(e);
        }
    };
    let mut answer = stored;
    answer["skipped"] = serde_json::to_value(&imported.skipped).expect("serializes");
    Ok((StatusCode::CREATED, Json(answer)))
}

/// `https://host/specs/github.yaml` → `github`.
fn file_stem(url: &str) -> Option<String> {
    let file = url.split(['?', '#']).next()?.rsplit('/').next()?;
    let stem = file.split('.').next().filter(|s| !s.is_empty())?;
    Some(stem.to_string())
}

/// An OpenAPI document given by URL, JSON or YAML, at most `limit` bytes.
async fn fetch_spec(admin: &Admin, url: &str, limit: usize) -> Result<Value, String> {
    let request = komainu_fetch::Request {
        url: url.to_string(),
        follow_redirects: true,
        max_bytes: limit,
        ..komainu_fetch::Request::default()
    };
    let fetched = admin.fetcher.fetch(&request).await?;
    if !(200..300).contains(&fetched.status) {
        return Err(format!("answered {}", fetched.status));
    }
    let body = fetched.body.clone();
    tokio::task::spawn_blocking(move || {
        crate::body::parse_document(&body, false)
            .or_else(|_| crate::body::parse_document(&body, true))
            .map_err(|e| format!("neither JSON nor YAML: {e}"))
    })
    .await
    .map_err(|e| e.to_string())?
}

/// Counts made in the last second are written before reading, so usage is current.
async fn flushed(admin: &Admin) {
    if let Some(keys) = &admin.keys
        && let Err(e) = keys.flush().await
    {
        tracing::warn!(error = %e, "cannot persist counts before reading usage");
    }
}

/// `GET /api/api-subscriptions/:id/usage`.
pub(crate) async fn subscription_usage(
    State(admin): State<Admin>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let doc = admin
        .store
        .get(Kind::ApiSubscription, &id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("ApiSubscription \"{id}\" does not exist")))?;
    let sub: ApiSubscription = parse(&doc).map_err(|e| ApiError::bad_request(e.message))?;
    flushed(&admin).await;
    let usage = usage::read(&*admin.store, &id, admin.now_ms()).await?;
    Ok(Json(json!({
        "subscription": sub.id,
        "api_ref": sub.api_ref,
        "plan_ref": sub.plan_ref,
        "total": usage.total,
        "days": usage.days,
    })))
}

/// `GET /api/apis/:id/usage`: consumption per plan, summed over its subscriptions.
pub(crate) async fn api_usage(
    State(admin): State<Admin>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let api = api(&admin, &id).await?;
    flushed(&admin).await;
    let mut plans: BTreeMap<String, (usize, SubscriptionUsage)> = api
        .documentation
        .plans
        .iter()
        .map(|p| (p.id.clone(), Default::default()))
        .collect();
    let mut total = SubscriptionUsage::default();
    let subs = load_all::<ApiSubscription>(&*admin.store, Kind::ApiSubscription).await?;
    for sub in subs.iter().filter(|s| s.api_ref == id) {
        let u = usage::read(&*admin.store, &sub.id, admin.now_ms()).await?;
        let entry = plans.entry(sub.plan_ref.clone()).or_default();
        entry.0 += 1;
        entry.1.add(&u);
        total.add(&u);
    }
    let plans: Vec<Value> = plans
        .into_iter()
        .map(|(plan, (subscriptions, u))| {
            json!({"plan_ref": plan, "subscriptions": subscriptions, "total": u.total, "days": u.days})
        })
        .collect();
    Ok(Json(json!({
        "api": id,
        "total": total.total,
        "days": total.days,
        "plans": plans,
    })))
}
