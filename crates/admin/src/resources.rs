//! CRUD handlers shared by every entity kind and both path styles.

use std::collections::HashMap;

use axum::Json;
use axum::body::Body;
use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use komainu_model::{FieldError, Kind, prepare};
use komainu_store::{Op, WriteMode};
use serde_json::{Value, json};

use crate::body::{self, ENTITY_LIMIT, Formats};
use crate::error::{ApiError, ApiResult};
use crate::listing::ListQuery;
use crate::refs::KnownIds;
use crate::{Admin, listing};

/// The entity kind (and id) a request addresses, from either path style.
pub(crate) struct Target {
    kind: Kind,
    id: Option<String>,
}

impl FromRequestParts<Admin> for Target {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &Admin) -> ApiResult<Self> {
        let Path(params) = Path::<HashMap<String, String>>::from_request_parts(parts, state)
            .await
            .map_err(|e| ApiError::bad_request(e.to_string()))?;
        let plural = params.get("plural").map(String::as_str).unwrap_or_default();
        let unknown = || ApiError::not_found(format!("no resource named \"{plural}\""));
        let kind = Kind::from_plural(plural).ok_or_else(unknown)?;
        if let Some(group) = params.get("group") {
            let version = params.get("version").map(String::as_str);
            if group != kind.group() || version != Some("v1") || plural != kind.generic_plural() {
                return Err(unknown());
            }
        } else if plural != kind.plural() {
            return Err(unknown());
        }
        Ok(Target {
            kind,
            id: params.get("id").cloned(),
        })
    }
}

impl Target {
    fn id(&self) -> &str {
        self.id.as_deref().unwrap_or_default()
    }

    fn missing(&self) -> ApiError {
        ApiError::not_found(format!("{} \"{}\" does not exist", self.kind, self.id()))
    }
}

pub(crate) async fn list(
    State(admin): State<Admin>,
    target: Target,
    Query(params): Query<Vec<(String, String)>>,
) -> ApiResult<Response> {
    let query = ListQuery::parse(&params)?;
    let mut docs = admin.store.list(target.kind).await?;
    for doc in &mut docs {
        redact(target.kind, doc);
        if target.kind == Kind::Certificate
            && let Some(obj) = doc.as_object_mut()
        {
            // A private key is read by id only, never in a list.
            obj.remove("privateKey");
            obj.remove("password");
        }
    }
    let page = listing::apply(docs, &query);
    let mut response = Json(page.items).into_response();
    let headers = response.headers_mut();
    headers.insert("x-count", page.total.into());
    headers.insert("x-page", query.page.into());
    headers.insert("x-page-size", query.page_size.into());
    Ok(response)
}

pub(crate) async fn count(State(admin): State<Admin>, target: Target) -> ApiResult<Json<Value>> {
    let count = admin.store.list(target.kind).await?.len();
    Ok(Json(json!({ "count": count })))
}

pub(crate) async fn template(target: Target) -> Json<Value> {
    Json(komainu_model::template(target.kind))
}

pub(crate) async fn schema(target: Target) -> Json<Value> {
    Json(komainu_model::schema(target.kind).clone())
}

/// The document, with its revision as `ETag` (what `If-Match` conditions a write on).
pub(crate) async fn read(State(admin): State<Admin>, target: Target) -> ApiResult<Response> {
    let (mut doc, revision) = admin
        .store
        .get_versioned(target.kind, target.id())
        .await?
        .ok_or_else(|| target.missing())?;
    redact(target.kind, &mut doc);
    Ok(([(header::ETAG, format!("\"{revision}\""))], Json(doc)).into_response())
}

/// The revision `If-Match` names (`"12"`, as `ETag` gives it), `None` without the header.
fn if_match(headers: &HeaderMap) -> ApiResult<Option<u64>> {
    let Some(value) = headers.get(header::IF_MATCH) else {
        return Ok(None);
    };
    let text = value.to_str().unwrap_or_default().trim();
    let text = text.strip_prefix("W/").unwrap_or(text).trim_matches('"');
    text.parse().map(Some).map_err(|_| {
        ApiError::invalid(vec![FieldError::new(
            "If-Match",
            "expected a revision as answered in ETag, such as \"12\"",
        )])
    })
}

/// Refuses (412) a write conditioned on a revision the document is no longer at. Read within the
/// write's transaction, so the write commits on exactly that revision or not at all.
async fn precondition(admin: &Admin, target: &Target, expected: Option<u64>) -> ApiResult<()> {
    let Some(expected) = expected else {
        return Ok(());
    };
    let current = admin.store.get_versioned(target.kind, target.id()).await?;
    match current.map(|(_, revision)| revision) {
        Some(revision) if revision == expected => Ok(()),
        Some(revision) => Err(ApiError::new(
            StatusCode::PRECONDITION_FAILED,
            format!(
                "{} \"{}\" is at revision {revision}, not {expected}: read it again",
                target.kind,
                target.id()
            ),
        )),
        None => Err(ApiError::new(
            StatusCode::PRECONDITION_FAILED,
            format!("{} \"{}\" does not exist", target.kind, target.id()),
        )),
    }
}

/// Removes what the admin API never answers: a developer's password hash.
pub(crate) fn redact(kind: Kind, doc: &mut Value) {
    if kind == Kind::Developer
        && let Some(obj) = doc.as_object_mut()
    {
        obj.remove(komainu_model::PASSWORD_HASH_FIELD);
    }
}

pub(crate) async fn create(
    State(admin): State<Admin>,
    target: Target,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let limit = limit_of(&admin, target.kind);
    let doc = body::read(&headers, body, limit, Formats::JsonOrYaml).await?;
    let stored = save(&admin, target.kind, doc, WriteMode::Create).await?;
    Ok((StatusCode::CREATED, Json(stored)))
}

pub(crate) async fn replace(
    State(admin): State<Admin>,
    target: Target,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Json<Value>> {
    let saved = write_at_id(&admin, &target, &headers, body, WriteMode::Replace).await?;
    Ok(Json(saved.answer))
}

/// `POST .../:id`: creates (201) or replaces (200, `Otoroshi-Entity-Updated` saying whether the
/// document changed), as Otoroshi answers the `apply` of its CLI.
pub(crate) async fn upsert(
    State(admin): State<Admin>,
    target: Target,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Response> {
    let saved = write_at_id(&admin, &target, &headers, body, WriteMode::Upsert).await?;
    Ok(match saved.previous {
        None => (StatusCode::CREATED, Json(saved.answer)).into_response(),
        Some(previous) => {
            let updated = if previous == saved.stored {
                "false"
            } else {
                "true"
            };
            ([("otoroshi-entity-updated", updated)], Json(saved.answer)).into_response()
        }
    })
}

/// Writes the body (JSON or YAML) as the entity the path names.
async fn write_at_id(
    admin: &Admin,
    target: &Target,
    headers: &HeaderMap,
    body: Body,
    mode: WriteMode,
) -> ApiResult<Saved> {
    let expected = if_match(headers)?;
    let limit = limit_of(admin, target.kind);
    let mut doc = body::read(headers, body, limit, Formats::JsonOrYaml).await?;
    bind_id(target.kind, &mut doc, target.id())?;
    admin
        .atomically(|admin| {
            let doc = doc.clone();
            async move {
                precondition(&admin, target, expected).await?;
                write_once(&admin, target.kind, doc, mode).await
            }
        })
        .await
}

/// `doc` with `patch` applied: a JSON Patch (RFC 6902) when an array, a JSON merge patch
/// (RFC 7396) when an object.
pub(crate) fn patched(mut doc: Value, patch: Value) -> ApiResult<Value> {
    match patch {
        Value::Array(_) => {
            let ops: json_patch::Patch = serde_json::from_value(patch)
                .map_err(|e| ApiError::bad_request(format!("malformed JSON Patch: {e}")))?;
            json_patch::patch(&mut doc, &ops).map_err(|e| {
                ApiError::invalid(vec![FieldError::new(
                    e.operation.to_string(),
                    e.to_string(),
                )])
            })?;
        }
        Value::Object(_) => json_patch::merge(&mut doc, &patch),
        _ => {
            return Err(ApiError::bad_request(
                "a patch is a JSON Patch array or a JSON merge-patch object",
            ));
        }
    }
    Ok(doc)
}

/// A JSON Patch (RFC 6902) when the body is an array, a JSON merge patch (RFC 7396) when an object.
pub(crate) async fn patch(
    State(admin): State<Admin>,
    target: Target,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Json<Value>> {
    let expected = if_match(&headers)?;
    let patch = body::read(&headers, body, ENTITY_LIMIT, Formats::Json).await?;
    admin
        .atomically(|admin| {
            let patch = patch.clone();
            let target = &target;
            async move {
                precondition(&admin, target, expected).await?;
                let doc = admin
                    .store
                    .get(target.kind, target.id())
                    .await?
                    .ok_or_else(|| target.missing())?;
                let doc = patched(doc, patch)?;
                if target.kind.id_of(&doc) != Some(target.id()) {
                    return Err(ApiError::invalid(vec![FieldError::new(
                        target.kind.id_field(),
                        "the id of an entity cannot be changed",
                    )]));
                }
                save_once(&admin, target.kind, doc, WriteMode::Replace).await
            }
        })
        .await
        .map(Json)
}

pub(crate) async fn delete(
    State(admin): State<Admin>,
    target: Target,
    headers: HeaderMap,
) -> ApiResult<Json<Value>> {
    let expected = if_match(&headers)?;
    admin
        .atomically(|admin| remove(admin, &target, expected))
        .await
        .map(Json)
}

async fn remove(admin: Admin, target: &Target, expected: Option<u64>) -> ApiResult<Value> {
    precondition(&admin, target, expected).await?;
    if let Some(user) = used_by(&admin, target.kind, target.id()).await? {
        return Err(ApiError::conflict(format!(
            "{} \"{}\" is used by {user}",
            target.kind,
            target.id()
        )));
    }
    let previous = admin
        .store
        .get(target.kind, target.id())
        .await?
        .ok_or_else(|| target.missing())?;
    let mut ops = komainu_apim::on_delete(&*admin.store, target.kind, &previous).await?;
    ops.insert(
        0,
        Op::Delete {
            kind: target.kind,
            id: target.id().to_string(),
        },
    );
    admin.store.apply(ops).await?;
    Ok(json!({ "deleted": true }))
}

/// `GET /apis/entities`: every resource kind with its names (and schema unless `schema=false`).
pub(crate) async fn entities(Query(params): Query<HashMap<String, String>>) -> Json<Value> {
    let with_schema = params.get("schema").map(String::as_str) != Some("false");
    let resources: Vec<Value> = Kind::ALL
        .iter()
        .map(|k| {
            let mut version =
                json!({"name": "v1", "served": true, "deprecated": false, "storage": true});
            if with_schema {
                version["schema"] = komainu_model::schema(*k).clone();
            }
            json!({
                "kind": k.name(),
                "plural_name": k.generic_plural(),
                "singular_name": k.singular(),
                "group": k.group(),
                "version": version,
            })
        })
        .collect();
    Json(json!({"version": env!("CARGO_PKG_VERSION"), "resources": resources}))
}

/// Fills a certificate document from its PEM (see `komainu_tls::describe_certificate`); other
/// kinds pass unchanged. Problems are named by their field.
pub(crate) fn describe(kind: Kind, doc: &mut Value, now_ms: i64) -> Result<(), Vec<FieldError>> {
    if kind != Kind::Certificate || !doc.is_object() {
        return Ok(());
    }
    komainu_tls::describe_certificate(doc, now_ms).map_err(|problems| {
        problems
            .into_iter()
            .map(|(field, message)| FieldError::new(field, message))
            .collect()
    })
}

/// Validates `doc` as a `kind` and writes it with everything the write implies (credentials,
/// deployments), in one batch that commits only if nothing it read changed meanwhile; run again
/// when something did.
pub(crate) async fn save(
    admin: &Admin,
    kind: Kind,
    doc: Value,
    mode: WriteMode,
) -> ApiResult<Value> {
    admin
        .atomically(|admin| {
            let doc = doc.clone();
            async move { save_once(&admin, kind, doc, mode).await }
        })
        .await
}

/// [`save`] within a read-modify-write that [`Admin::atomically`] already runs.
pub(crate) async fn save_once(
    admin: &Admin,
    kind: Kind,
    doc: Value,
    mode: WriteMode,
) -> ApiResult<Value> {
    write_once(admin, kind, doc, mode)
        .await
        .map(|saved| saved.answer)
}

/// What a write stored, and what it replaced.
struct Saved {
    /// The stored document as the admin API shows it.
    answer: Value,
    /// The document as stored.
    stored: Value,
    /// The document it replaced, if any.
    previous: Option<Value>,
}

/// [`save_once`], telling what was there before.
async fn write_once(
    admin: &Admin,
    kind: Kind,
    mut doc: Value,
    mode: WriteMode,
) -> ApiResult<Saved> {
    describe(kind, &mut doc, admin.now_ms()).map_err(ApiError::invalid)?;
    let raw = doc.clone();
    let refs = KnownIds::load(&*admin.store, &[kind], admin.plugins.clone()).await?;
    let stored = prepare(kind, doc, &refs).map_err(ApiError::invalid)?;
    let id = kind.id_of(&stored).expect("prepared documents have ids");
    let previous = admin.store.get(kind, id).await?;
    match (mode, &previous) {
        (WriteMode::Create, Some(_)) => {
            return Err(ApiError::conflict(format!(
                "{kind} \"{id}\" already exists"
            )));
        }
        (WriteMode::Replace, None) => {
            return Err(ApiError::not_found(format!(
                "{kind} \"{id}\" does not exist"
            )));
        }
        _ => {}
    }
    let stored = keep_password_hash(kind, stored, &raw, previous.as_ref());
    let planned =
        komainu_apim::on_write(&admin.write_ctx(), kind, stored, &raw, previous.as_ref()).await?;
    admin.store.apply(planned.ops).await?;
    if let Some(notifier) = &admin.notifier
        && let Some(job) = komainu_notify::Job::of_write(kind, previous.as_ref(), &planned.doc)
    {
        notifier.notify(job);
    }
    let stored = planned.doc.clone();
    let mut answer = refs.answer(planned.doc);
    redact(kind, &mut answer);
    Ok(Saved {
        answer,
        stored,
        previous,
    })
}

/// A developer document written without its password hash (the admin API never shows it) keeps
/// the stored one.
fn keep_password_hash(kind: Kind, mut doc: Value, raw: &Value, previous: Option<&Value>) -> Value {
    const FIELD: &str = komainu_model::PASSWORD_HASH_FIELD;
    if kind == Kind::Developer
        && raw.get(FIELD).is_none()
        && let (Some(hash), Some(obj)) = (previous.and_then(|p| p.get(FIELD)), doc.as_object_mut())
    {
        obj.insert(FIELD.into(), hash.clone());
    }
    doc
}

/// Puts the path's id in the body, refusing a body that names another one.
fn bind_id(kind: Kind, doc: &mut Value, id: &str) -> ApiResult<()> {
    let Some(obj) = doc.as_object_mut() else {
        return Err(ApiError::invalid(vec![FieldError::new(
            "",
            "expected a JSON object",
        )]));
    };
    match obj.get(kind.id_field()).and_then(Value::as_str) {
        Some(body_id) if !body_id.is_empty() && body_id != id => {
            Err(ApiError::invalid(vec![FieldError::new(
                kind.id_field(),
                format!("\"{body_id}\" differs from the id in the path, \"{id}\""),
            )]))
        }
        _ => {
            obj.insert(kind.id_field().into(), Value::String(id.into()));
            Ok(())
        }
    }
}

/// The largest body written as a `kind`: an API's document may be a whole specification.
fn limit_of(admin: &Admin, kind: Kind) -> usize {
    match kind {
        Kind::ApiDocument => admin.openapi_limit,
        _ => ENTITY_LIMIT,
    }
}

/// Who still refers to the entity, when deleting it would leave a dangling reference.
async fn used_by(admin: &Admin, kind: Kind, id: &str) -> ApiResult<Option<String>> {
    if kind == Kind::ApiDocument {
        for api in admin.store.list(Kind::Api).await? {
            let resources = api["documentation"]["resources"].as_array();
            if resources
                .into_iter()
                .flatten()
                .any(|r| r["document_ref"].as_str() == Some(id))
            {
                return Ok(Some(format!(
                    "api \"{}\"",
                    api["id"].as_str().unwrap_or_default()
                )));
            }
        }
        return Ok(None);
    }
    if kind == Kind::JwtVerifier {
        for api in admin.store.list(Kind::Api).await? {
            let plans = api["documentation"]["plans"]
                .as_array()
                .into_iter()
                .flatten();
            if let Some(plan) = plans
                .into_iter()
                .find(|p| p["access_mode_configuration"]["verifier"].as_str() == Some(id))
            {
                return Ok(Some(format!(
                    "plan \"{}\" of api \"{}\"",
                    plan["id"].as_str().unwrap_or_default(),
                    api["id"].as_str().unwrap_or_default()
                )));
            }
        }
        return Ok(None);
    }
    if kind != Kind::Backend {
        return Ok(None);
    }
    for route in admin.store.list(Kind::Route).await? {
        if route["backend_ref"].as_str() == Some(id) {
            return Ok(Some(format!(
                "route \"{}\"",
                route["id"].as_str().unwrap_or_default()
            )));
        }
    }
    for api in admin.store.list(Kind::Api).await? {
        let local = |b: &Value| b["id"].as_str() == Some(id);
        let is_local = api["backends"]
            .as_array()
            .is_some_and(|bs| bs.iter().any(local));
        let routes = api["routes"].as_array().into_iter().flatten();
        if !is_local
            && routes
                .into_iter()
                .any(|r| r["backend"].as_str() == Some(id))
        {
            return Ok(Some(format!(
                "api \"{}\"",
                api["id"].as_str().unwrap_or_default()
            )));
        }
    }
    Ok(None)
}
