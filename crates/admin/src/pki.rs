//! Otoroshi's PKI API and the global configuration: `POST /api/pki/cas` (a self-signed CA),
//! `POST /api/pki/certs` (a self-signed certificate), `POST /api/pki/cas/:ca/certs` (signed by a
//! stored CA), each stored as a certificate unless `?persist=false`; and
//! `GET|PUT|PATCH /api/globalconfig`, Otoroshi's path for the one global configuration.

use std::collections::HashMap;

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use komainu_model::{FieldError, GLOBAL_CONFIG_ID, Kind};
use komainu_store::WriteMode;
use komainu_tls::pki::{CertRequest, Generated, KeySpec, self_signed, signed_by};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::body::{self, ENTITY_LIMIT, Formats};
use crate::error::{ApiError, ApiResult};
use crate::{Admin, resources};

/// Otoroshi's `GenCsrQuery`.
#[derive(Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct Query_ {
    hosts: Vec<String>,
    subject: Option<String>,
    client: bool,
    ca: bool,
    /// Milliseconds (Otoroshi's default: a year).
    duration: i64,
    key: Key,
    name: Option<String>,
    description: Option<String>,
}

#[derive(Deserialize)]
#[serde(default)]
struct Key {
    algo: String,
    size: u32,
}

impl Default for Key {
    fn default() -> Self {
        Key {
            algo: "ecdsa".into(),
            size: 256,
        }
    }
}

impl Default for Query_ {
    fn default() -> Self {
        Query_ {
            hosts: Vec::new(),
            subject: None,
            client: false,
            ca: false,
            duration: 365 * 24 * 3_600_000,
            key: Key::default(),
            name: None,
            description: None,
        }
    }
}

async fn request(headers: &HeaderMap, body: Body, ca: bool) -> ApiResult<(Query_, CertRequest)> {
    let doc = body::read(headers, body, ENTITY_LIMIT, Formats::Json).await?;
    let q: Query_ = serde_path_to_error::deserialize(doc).map_err(|e| {
        ApiError::invalid(vec![FieldError::new(
            e.path().to_string(),
            e.inner().to_string(),
        )])
    })?;
    let req = CertRequest {
        hosts: q.hosts.clone(),
        subject: q.subject.clone(),
        client: q.client,
        ca: ca || q.ca,
        duration_ms: q.duration,
        key: KeySpec {
            algo: q.key.algo.clone(),
            size: q.key.size,
        },
    };
    Ok((q, req))
}

/// Stores (unless `?persist=false`) and answers a generated certificate.
async fn answer(
    admin: &Admin,
    q: &Query_,
    generated: Generated,
    ca_ref: Option<&str>,
    params: &HashMap<String, String>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let id = komainu_model::uuid();
    let mut doc = json!({
        "id": format!("cert_{id}"),
        "chain": generated.chain,
        "privateKey": generated.key,
        "caRef": ca_ref,
        "client": q.client,
    });
    if let Some(n) = &q.name {
        doc["name"] = json!(n);
    }
    if let Some(d) = &q.description {
        doc["description"] = json!(d);
    }
    let persist = params.get("persist").map(String::as_str) != Some("false");
    let mut stored = if persist {
        resources::save(admin, Kind::Certificate, doc, WriteMode::Create).await?
    } else {
        resources::describe(Kind::Certificate, &mut doc, admin.now_ms())
            .map_err(ApiError::invalid)?;
        doc
    };
    stored["certId"] = stored["id"].clone();
    Ok((StatusCode::CREATED, Json(stored)))
}

fn generation_failed(why: String) -> ApiError {
    let field = ["hosts", "subject", "key", "duration"]
        .into_iter()
        .find(|f| why.starts_with(f))
        .unwrap_or("");
    ApiError::invalid(vec![FieldError::new(field, why)])
}

/// `POST /api/pki/cas`.
pub(crate) async fn new_ca(
    State(admin): State<Admin>,
    Query(params): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let (q, req) = request(&headers, body, true).await?;
    let generated = self_signed(&req).map_err(generation_failed)?;
    answer(&admin, &q, generated, None, &params).await
}

/// `POST /api/pki/certs`.
pub(crate) async fn new_cert(
    State(admin): State<Admin>,
    Query(params): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let (q, req) = request(&headers, body, false).await?;
    let generated = self_signed(&req).map_err(generation_failed)?;
    answer(&admin, &q, generated, None, &params).await
}

/// `POST /api/pki/cas/:ca/certs`.
pub(crate) async fn new_signed_cert(
    State(admin): State<Admin>,
    Path(ca): Path<String>,
    Query(params): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let stored = admin
        .store
        .get(Kind::Certificate, &ca)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("Certificate \"{ca}\" does not exist")))?;
    let text = |k: &str| stored[k].as_str().unwrap_or_default().to_string();
    if stored["ca"] != json!(true) || text("privateKey").is_empty() {
        return Err(ApiError::bad_request(format!(
            "certificate \"{ca}\" is not a CA with its private key: it cannot sign"
        )));
    }
    let (q, req) = request(&headers, body, false).await?;
    let generated =
        signed_by(&req, &text("chain"), &text("privateKey")).map_err(generation_failed)?;
    answer(&admin, &q, generated, Some(&ca), &params).await
}

/// `GET /api/globalconfig`: what is stored, else the defaults.
pub(crate) async fn read_global(State(admin): State<Admin>) -> ApiResult<Json<Value>> {
    Ok(Json(admin.global_config().await?))
}

/// `PUT /api/globalconfig`: replaces the global configuration.
pub(crate) async fn replace_global(
    State(admin): State<Admin>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Json<Value>> {
    let mut doc = body::read(&headers, body, ENTITY_LIMIT, Formats::Json).await?;
    if let Some(obj) = doc.as_object_mut() {
        obj.entry("id").or_insert(json!(GLOBAL_CONFIG_ID));
    }
    resources::save(&admin, Kind::GlobalConfig, doc, WriteMode::Upsert)
        .await
        .map(Json)
}

/// `PATCH /api/globalconfig`: a JSON Patch (array) or a JSON merge patch (object).
pub(crate) async fn patch_global(
    State(admin): State<Admin>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Json<Value>> {
    let patch = body::read(&headers, body, ENTITY_LIMIT, Formats::Json).await?;
    admin
        .atomically(|admin| {
            let patch = patch.clone();
            async move {
                let doc = resources::patched(admin.global_config().await?, patch)?;
                resources::save_once(&admin, Kind::GlobalConfig, doc, WriteMode::Upsert).await
            }
        })
        .await
        .map(Json)
}
