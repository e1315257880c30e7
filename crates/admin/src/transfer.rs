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

/// Carries into `item` the values the gateway generated for `stored` that `item` leaves out.
fn keep_generated(kind: Kind, item: &mut Value, stored: &Value) {
    let missing = |v: Option<&Value>| v.and_then(Value::as_str).is_none_or(str::is_empty);
    match kind {
        Kind::Api => {
            if missing(item.pointer("/testing/headerValue"))
                && let Some(v) = stored.pointer("/testing/headerValue").cloned()
            {
                if !item.get("testing").is_some_and(Value::is_object) {
                    item["testing"] = json!({});
                }
                item["testing"]["headerValue"] = v;
            }
        }
        Kind::ApiKey => {
            if missing(item.get("clientSecret"))
                && let Some(v) = stored.get("clientSecret").cloned()
            {
                item["clientSecret"] = v;
            }
        }
        _ => {}
    }
}

/// Keys of an export document that describe it rather than hold entities.
const DESCRIPTIVE_KEYS: [&str; 6] = ["label", "version", "dateRaw", "date", "stats", "appConfig"];

/// `problem`, found in item `i` of `key`, with its path from the document's root.
fn at(key: &str, i: usize, problem: FieldError) -> FieldError {
    let path = if problem.path.is_empty() {
        format!("{key}[{i}]")
    } else {
        format!("{key}[{i}].{}", problem.path)
    };
    FieldError::new(path, problem.message)
}

/// Every stored entity, in one document.
pub async fn export(store: &dyn Store) -> StoreResult<Value> {
    let mut out = Map::new();
    out.insert("label".into(), json!("komainu export"));
    out.insert("version".into(), json!(env!("CARGO_PKG_VERSION")));
    out.insert("dateRaw".into(), json!(now_ms()));
    for kind in Kind::ALL {
        let docs = store.list(kind).await?;
        if kind.is_singleton() {
            // One document, written as an object (Otoroshi's `config`).
            if let Some(doc) = docs.into_iter().next() {
                out.insert(kind.export_key().into(), doc);
            }
        } else {
            out.insert(kind.export_key().into(), Value::Array(docs));
        }
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
    import_with(store, doc, mode, plugins, &[]).await
}

/// [`import`], also deleting `removed` (with what their deletion implies) in the same transaction.
async fn import_with(
    store: &dyn Store,
    doc: Value,
    mode: ImportMode,
    plugins: PluginCheck,
    removed: &[(Kind, String)],
) -> ApiResult<Value> {
    let Value::Object(mut doc) = doc else {
        return Err(ApiError::invalid(vec![FieldError::new(
            "",
            "expected a JSON object",
        )]));
    };
    let mut errors = Vec::new();
    let mut warnings = Vec::new();
    let mut incoming: Vec<(Kind, &'static str, Vec<Value>)> = Vec::new();
    for kind in Kind::ALL {
        let key = kind.export_key();
        let items = doc.remove(key).or_else(|| doc.remove(kind.plural()));
        match items {
            None | Some(Value::Null) => {}
            Some(Value::Object(one)) if kind.is_singleton() => {
                incoming.push((kind, key, vec![Value::Object(one)]))
            }
            Some(Value::Array(items)) => incoming.push((kind, key, items)),
            Some(_) if kind.is_singleton() => {
                errors.push(FieldError::new(key, "expected an object"))
            }
            Some(_) => errors.push(FieldError::new(key, "expected an array")),
        }
    }
    // What else an export (Otoroshi's among them) holds: its own description is skipped; entities
    // of kinds Komainu does not have are reported, never dropped silently.
    for (key, value) in &doc {
        let empty = match value {
            Value::Null => true,
            Value::Array(a) => a.is_empty(),
            Value::Object(o) => o.is_empty(),
            _ => false,
        };
        if !empty && !DESCRIPTIVE_KEYS.contains(&key.as_str()) {
            warnings.push(FieldError::new(
                key.as_str(),
                "not imported: Komainu has no entities of this kind",
            ));
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
            let mut item = item;
            if let Err(problems) = crate::resources::describe(kind, &mut item, now_ms() as i64) {
                errors.extend(problems.into_iter().map(|e| at(key, i, e)));
                continue;
            }
            let prepared = prepare(kind, item, &refs);
            warnings.extend(refs.take_warnings().into_iter().map(|w| at(key, i, w)));
            match prepared {
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
                Err(errs) => errors.extend(errs.into_iter().map(|e| at(key, i, e))),
            }
        }
    }
    if !errors.is_empty() {
        return Err(ApiError::invalid(errors));
    }
    let mut deleted = BTreeMap::new();
    for (kind, id) in removed {
        let written = ops
            .iter()
            .any(|op| matches!(op, Op::Put { kind: k, id: i, .. } if k == kind && i == id));
        if written {
            continue;
        }
        if let Some(previous) = store.get(*kind, id).await? {
            ops.push(Op::Delete {
                kind: *kind,
                id: id.clone(),
            });
            ops.extend(komainu_apim::on_delete(store, *kind, &previous).await?);
            *deleted.entry(kind.export_key()).or_insert(0) += 1;
        }
    }
    store.apply(ops).await?;
    let mut report = json!({"done": true, "imported": counts});
    if !deleted.is_empty() {
        report["deleted"] = json!(deleted);
    }
    if !warnings.is_empty() {
        report["warnings"] = serde_json::to_value(warnings).expect("warnings serialize");
    }
    Ok(report)
}

impl Admin {
    /// Whether entity `id` of `kind` is stored.
    pub async fn exists(&self, kind: Kind, id: &str) -> komainu_store::StoreResult<bool> {
        Ok(self.store.get(kind, id).await?.is_some())
    }

    /// Imports in one batch (whole documents: nothing is read and modified).
    pub async fn import(&self, doc: Value, mode: ImportMode) -> ApiResult<Value> {
        import(&*self.store, doc, mode, self.plugins.clone()).await
    }

    /// Loads a declarative document (`--config`): its entities are owned by `source`. They are
    /// created or replaced; those `source` held before and no longer lists are deleted; entities
    /// created otherwise are left alone. Ownership is recorded in the store (value
    /// `declared:<source>`: the ids `source` holds, by kind). Every entity needs its id (what names
    /// it across reloads); a value the gateway generates (an API's testing header value, a key's
    /// secret) and the file leaves out keeps the one stored.
    pub async fn import_declared(&self, doc: Value, source: &str) -> ApiResult<Value> {
        self.atomically(|admin| {
            let doc = doc.clone();
            async move { admin.declare(doc, source).await }
        })
        .await
    }

    async fn declare(&self, doc: Value, source: &str) -> ApiResult<Value> {
        let Value::Object(mut doc) = doc else {
            return Err(ApiError::invalid(vec![FieldError::new(
                "",
                "expected a JSON object",
            )]));
        };
        let mut owned: BTreeMap<&'static str, Vec<String>> = BTreeMap::new();
        let mut errors = Vec::new();
        for kind in Kind::ALL {
            let key = kind.export_key();
            if !doc.contains_key(key)
                && let Some(items) = doc.remove(kind.plural())
            {
                doc.insert(key.into(), items);
            }
            let Some(Value::Array(items)) = doc.get_mut(key) else {
                continue;
            };
            for (i, item) in items.iter_mut().enumerate() {
                let Some(id) = kind
                    .id_of(item)
                    .filter(|id| !id.is_empty())
                    .map(str::to_string)
                else {
                    errors.push(FieldError::new(
                        format!("{key}[{i}].{}", kind.id_field()),
                        "an entity of a config file needs its id: it names the entity across reloads",
                    ));
                    continue;
                };
                if let Some(stored) = self.store.get(kind, &id).await? {
                    keep_generated(kind, item, &stored);
                }
                owned.entry(key).or_default().push(id);
            }
        }
        if !errors.is_empty() {
            return Err(ApiError::invalid(errors));
        }
        let meta_key = format!("declared:{source}");
        let before: BTreeMap<String, Vec<String>> = self
            .store
            .meta(&meta_key)
            .await?
            .and_then(|v| serde_json::from_value(v).ok())
            .unwrap_or_default();
        let removed: Vec<(Kind, String)> = Kind::ALL
            .into_iter()
            .flat_map(|kind| {
                let now = owned.get(kind.export_key()).cloned().unwrap_or_default();
                before
                    .get(kind.export_key())
                    .into_iter()
                    .flatten()
                    .filter(move |id| !now.contains(id))
                    .map(move |id| (kind, id.clone()))
            })
            .collect();
        let report = import_with(
            &*self.store,
            Value::Object(doc),
            ImportMode::Merge,
            self.plugins.clone(),
            &removed,
        )
        .await?;
        self.store
            .set_meta(
                &meta_key,
                &serde_json::to_value(&owned).expect("ids serialize"),
            )
            .await?;
        Ok(report)
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
