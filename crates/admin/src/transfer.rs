//! Full-state export and import: one document holding every entity, keyed as Otoroshi's export is
//! (`apis`, `routes`, `serviceGroups`, `apiKeys`, ...). An import is validated whole and written in
//! one transaction: either every document lands or none does.

use std::collections::{BTreeMap, HashMap};
use std::time::{SystemTime, UNIX_EPOCH};

use axum::Json;
use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use komainu_model::{FieldError, Kind, prepare};
use komainu_store::{Op, Store, StoreResult};
use serde_json::{Map, Value, json};

use crate::body::{self, Formats, IMPORT_LIMIT};
use crate::error::{ApiError, ApiResult};
use crate::refs::KnownIds;
use crate::{Admin, PluginCheck};

/// What happens to stored entities absent from an import.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ImportMode {
    /// They stay; imported entities are created or replaced.
    Merge,
    /// They are deleted: the store ends up holding exactly the import.
    Replace,
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or_default()
}

/// Every stored entity, in one document.
pub async fn export(store: &dyn Store) -> StoreResult<Value> {
    let mut out = Map::new();
    out.insert("label".into(), json!("komainu export"));
    out.insert("version".into(), json!(env!("CARGO_PKG_VERSION")));
    out.insert("dateRaw".into(), json!(now_ms()));
    for kind in Kind::ALL {
        out.insert(
            kind.export_key().into(),
            Value::Array(store.list(kind).await?),
        );
    }
    Ok(Value::Object(out))
}

/// Validates every entity of `doc` and writes them all at once. Returns the count per kind.
pub async fn import(
    store: &dyn Store,
    doc: Value,
    mode: ImportMode,
    plugins: PluginCheck,
) -> ApiResult<Value> {
    let Value::Object(mut doc) = doc else {
        return Err(ApiError::invalid(vec![FieldError::new(
            "",
            "expected a JSON object",
        )]));
    };
    let mut errors = Vec::new();
    let mut incoming: Vec<(Kind, &'static str, Vec<Value>)> = Vec::new();
    for kind in Kind::ALL {
        let key = kind.export_key();
        let items = doc.remove(key).or_else(|| doc.remove(kind.plural()));
        match items {
            None | Some(Value::Null) => {}
            Some(Value::Array(items)) => incoming.push((kind, key, items)),
            Some(_) => errors.push(FieldError::new(key, "expected an array")),
        }
    }
    let mut refs = match mode {
        ImportMode::Merge => KnownIds::load(store, &Kind::ALL, plugins).await?,
        ImportMode::Replace => KnownIds::new(plugins),
    };
    for (kind, _, items) in &incoming {
        for item in items {
            if let Some(id) = kind.id_of(item) {
                refs.add(*kind, id);
            }
        }
    }
    let mut ops = Vec::new();
    if mode == ImportMode::Replace {
        ops.extend(Kind::ALL.into_iter().map(Op::Clear));
    }
    let mut counts = BTreeMap::new();
    for (kind, key, items) in incoming {
        let mut seen: HashMap<String, usize> = HashMap::new();
        counts.insert(key, items.len());
        for (i, item) in items.into_iter().enumerate() {
            match prepare(kind, item, &refs) {
                Ok(stored) => {
                    let id = kind
                        .id_of(&stored)
                        .expect("prepared documents have ids")
                        .to_string();
                    if let Some(first) = seen.insert(id.clone(), i) {
                        errors.push(FieldError::new(
                            format!("{key}[{i}].{}", kind.id_field()),
                            format!("duplicate id \"{id}\" (also at {key}[{first}])"),
                        ));
                    }
                    ops.push(Op::Put {
                        kind,
                        id,
                        doc: stored,
                    });
                }
                Err(errs) => errors.extend(errs.into_iter().map(|e| {
                    let path = if e.path.is_empty() {
                        format!("{key}[{i}]")
                    } else {
                        format!("{key}[{i}].{}", e.path)
                    };
                    FieldError::new(path, e.message)
                })),
            }
        }
    }
    if !errors.is_empty() {
        return Err(ApiError::invalid(errors));
    }
    store.apply(ops).await?;
    Ok(json!({"done": true, "imported": counts}))
}

impl Admin {
    /// Whether entity `id` of `kind` is stored.
    pub async fn exists(&self, kind: Kind, id: &str) -> komainu_store::StoreResult<bool> {
        Ok(self.store.get(kind, id).await?.is_some())
    }

    /// Imports under the admin write lock (used by the config-file loader too).
    pub async fn import(&self, doc: Value, mode: ImportMode) -> ApiResult<Value> {
        let _guard = self.writes.lock().await;
        import(&*self.store, doc, mode, self.plugins.clone()).await
    }
}

pub(crate) async fn export_handler(
    State(admin): State<Admin>,
    Query(params): Query<HashMap<String, String>>,
) -> ApiResult<Response> {
    let doc = export(&*admin.store).await?;
    if params.get("format").map(String::as_str) == Some("yaml") {
        let text =
            serde_norway::to_string(&doc).map_err(|e| ApiError::bad_request(e.to_string()))?;
        return Ok(([(header::CONTENT_TYPE, "application/yaml")], text).into_response());
    }
    Ok(Json(doc).into_response())
}

/// `POST /api/import[?mode=replace]` with an export document (JSON or YAML).
pub(crate) async fn import_handler(
    State(admin): State<Admin>,
    Query(params): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Json<Value>> {
    let mode = match params.get("mode").map(String::as_str) {
        None | Some("merge") => ImportMode::Merge,
        Some("replace") => ImportMode::Replace,
        Some(other) => {
            return Err(ApiError::invalid(vec![FieldError::new(
                "mode",
                format!("\"{other}\" is not one of \"merge\", \"replace\""),
            )]));
        }
    };
    let doc = body::read(&headers, body, IMPORT_LIMIT, Formats::JsonOrYaml).await?;
    admin.import(doc, mode).await.map(Json)
}
