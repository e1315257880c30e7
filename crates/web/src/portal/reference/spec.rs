//! The OpenAPI specification an API's reference shows, loaded once and indexed by tag: an imported
//! specification lives in its own `ApiDocument` (GitHub's is 13 MB), so pages read the parsed copy
//! kept here, which a change of the document on the store's feed evicts.

use std::sync::{Arc, Mutex};

use komainu_model::{ApiDocumentation, DocumentationResource, Kind};
use komainu_store::Store;
use serde_json::Value;

/// HTTP methods an OpenAPI path item may hold, in the order pages show them.
pub const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "patch", "head", "options", "trace",
];
/// Specifications kept parsed, by the size of their JSON text: one GitHub-size document (13 MB,
/// some 80 MB parsed) or many small ones. Loading one again takes ~150 ms.
const KEPT_BYTES: usize = 16 << 20;
/// Operations without a tag are listed under this one.
pub const UNTAGGED: &str = "Operations";

/// One operation's place: its path template and method.
#[derive(Clone, Debug)]
pub struct OpRef {
    pub path: String,
    pub method: &'static str,
}

/// A tag and its operations, in the document's order.
#[derive(Debug)]
pub struct Tag {
    pub name: String,
    pub ops: Vec<OpRef>,
}

/// A parsed specification and its operations grouped by tag.
#[derive(Debug)]
pub struct Spec {
    pub doc: Value,
    pub tags: Vec<Tag>,
    /// The size of the document as JSON text.
    pub bytes: usize,
}

impl Spec {
    pub fn new(doc: Value) -> Spec {
        let bytes = serde_json::to_vec(&doc).map_or(0, |v| v.len());
        let mut tags: Vec<Tag> = Vec::new();
        let declared = doc["tags"].as_array().into_iter().flatten();
        for t in declared.filter_map(|t| t["name"].as_str()) {
            if !tags.iter().any(|x| x.name == t) {
                tags.push(Tag {
                    name: t.to_string(),
                    ops: Vec::new(),
                });
            }
        }
        for (path, item) in doc["paths"].as_object().into_iter().flatten() {
            let item = super::schema::resolve(&doc, item);
            for method in METHODS {
                let Some(op) = item.get(method) else { continue };
                let tag = op["tags"][0].as_str().unwrap_or(UNTAGGED);
                let at = match tags.iter().position(|t| t.name == tag) {
                    Some(i) => i,
                    None => {
                        tags.push(Tag {
                            name: tag.to_string(),
                            ops: Vec::new(),
                        });
                        tags.len() - 1
                    }
                };
                tags[at].ops.push(OpRef {
                    path: path.clone(),
                    method,
                });
            }
        }
        tags.retain(|t| !t.ops.is_empty());
        Spec { doc, tags, bytes }
    }

    pub fn tag(&self, name: &str) -> Option<&Tag> {
        self.tags.iter().find(|t| t.name == name)
    }
}

/// Whether a resource holds (or points to) an OpenAPI document, without reading it.
pub fn is_reference(r: &DocumentationResource) -> bool {
    r.document_ref.is_some()
        || r.json_content
            .as_ref()
            .is_some_and(|j| j.get("openapi").is_some() || j.get("swagger").is_some())
}

/// Whether the documentation has a reference to show.
pub fn has_reference(doc: &ApiDocumentation) -> bool {
    doc.resources.iter().any(is_reference)
}

/// Parsed specifications by document (`ApiDocument` id, or `api:<id>` for an inline one).
#[derive(Default)]
pub struct Specs {
    kept: Mutex<Vec<(String, Arc<Spec>)>>,
}

impl Specs {
    /// Keeps the cache true to the store: a write or deletion of a document drops its copy.
    pub fn follow(self: &Arc<Self>, store: &Arc<dyn Store>) {
        let mut feed = store.changes();
        let specs = Arc::downgrade(self);
        tokio::spawn(async move {
            loop {
                let change = feed.recv().await;
                let Some(specs) = specs.upgrade() else { return };
                let mut kept = specs.kept.lock().expect("specs");
                match change {
                    Ok(c) if c.kind == Kind::ApiDocument => match c.id {
                        Some(id) => kept.retain(|(k, _)| *k != id),
                        None => kept.clear(),
                    },
                    // Inline documents change with their API.
                    Ok(c) if c.kind == Kind::Api => kept.retain(|(k, _)| !k.starts_with("api:")),
                    Ok(_) => {}
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => kept.clear(),
                    Err(_) => return,
                }
            }
        });
    }

    /// The specification of the documentation of API `api_id`, if it has one.
    pub async fn of(
        &self,
        admin: &komainu_admin::Admin,
        store: &dyn Store,
        api_id: &str,
        doc: &ApiDocumentation,
    ) -> Option<Arc<Spec>> {
        let r = doc.resources.iter().find(|r| is_reference(r))?;
        let key = match &r.document_ref {
            Some(id) => id.clone(),
            None => format!("api:{api_id}"),
        };
        if let Some(spec) = self.get(&key) {
            return Some(spec);
        }
        let content = match &r.document_ref {
            Some(id) => {
                let mut stored = store.get(Kind::ApiDocument, id).await.ok()??;
                stored["content"].take()
            }
            None => r.json_content.clone()?,
        };
        let spec = Arc::new(
            tokio::task::spawn_blocking(move || Spec::new(content))
                .await
                .ok()?,
        );
        let mut evicted = Vec::new();
        {
            let mut kept = self.kept.lock().expect("specs");
            kept.retain(|(k, _)| *k != key);
            let mut total: usize = kept.iter().map(|(_, s)| s.bytes).sum::<usize>() + spec.bytes;
            while total > KEPT_BYTES && !kept.is_empty() {
                let (_, old) = kept.remove(0);
                total -= old.bytes;
                evicted.push(old);
            }
            kept.push((key, spec.clone()));
        }
        if !evicted.is_empty() {
            // A parsed GitHub-size document is ~80 MB: give its pages back once it is dropped.
            let admin = admin.clone();
            tokio::task::spawn_blocking(move || {
                drop(evicted);
                admin.release_memory();
            });
        }
        Some(spec)
    }

    fn get(&self, key: &str) -> Option<Arc<Spec>> {
        let kept = self.kept.lock().expect("specs");
        kept.iter().find(|(k, _)| k == key).map(|(_, s)| s.clone())
    }
}
