//! What validation may know about stored entities: the ids of the kinds a document refers to.

use std::collections::{HashMap, HashSet};

use komainu_model::{FieldError, Kind, PluginProblem, Refs};
use komainu_store::{Store, load_all};
use serde::Deserialize;

use crate::PluginCheck;
use crate::error::ApiResult;

/// Only the identity fields of a stored document: reading ids must not parse whole documents.
#[derive(Deserialize)]
struct Identity {
    id: Option<String>,
    #[serde(rename = "clientId")]
    client_id: Option<String>,
}

pub(crate) struct KnownIds {
    ids: HashMap<Kind, HashSet<String>>,
    plugins: PluginCheck,
    /// What validation found accepted but without effect: the write's warnings.
    warnings: std::sync::Mutex<Vec<FieldError>>,
}

impl KnownIds {
    pub(crate) fn new(plugins: PluginCheck) -> Self {
        KnownIds {
            ids: HashMap::new(),
            plugins,
            warnings: Default::default(),
        }
    }

    /// Loads the stored ids of every kind that `kinds` refer to.
    pub(crate) async fn load(
        store: &dyn Store,
        kinds: &[Kind],
        plugins: PluginCheck,
    ) -> ApiResult<Self> {
        let mut known = KnownIds::new(plugins);
        for kind in kinds.iter().flat_map(|k| k.references()) {
            if known.ids.contains_key(kind) {
                continue;
            }
            let ids = load_all::<Identity>(store, *kind)
                .await?
                .into_iter()
                .filter_map(|i| match kind.id_field() {
                    "clientId" => i.client_id,
                    _ => i.id,
                })
                .collect();
            known.ids.insert(*kind, ids);
        }
        Ok(known)
    }

    /// The warnings recorded since the last call.
    pub(crate) fn take_warnings(&self) -> Vec<FieldError> {
        std::mem::take(&mut *self.warnings.lock().expect("warnings lock"))
    }

    /// `doc` as answered: with the write's warnings (if any) in a `warnings` array. The field is
    /// the answer's only: it is dropped from incoming documents.
    pub(crate) fn answer(&self, mut doc: serde_json::Value) -> serde_json::Value {
        let warnings = self.take_warnings();
        if !warnings.is_empty()
            && let Some(obj) = doc.as_object_mut()
        {
            obj.insert(
                "warnings".into(),
                serde_json::to_value(warnings).expect("warnings serialize"),
            );
        }
        doc
    }

    pub(crate) fn add(&mut self, kind: Kind, id: &str) {
        self.ids.entry(kind).or_default().insert(id.to_string());
    }
}

impl Refs for KnownIds {
    fn exists(&self, kind: Kind, id: &str) -> bool {
        self.ids.get(&kind).is_some_and(|ids| ids.contains(id))
    }

    fn check_plugin(
        &self,
        id: &str,
        config: &serde_json::Value,
    ) -> Result<Vec<(String, String)>, PluginProblem> {
        (self.plugins)(id, config)
    }

    fn warn(&self, warning: FieldError) {
        self.warnings.lock().expect("warnings lock").push(warning);
    }
}
