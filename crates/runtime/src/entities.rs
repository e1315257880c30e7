//! The typed entities the snapshot is compiled from, kept in memory and updated one document at a
//! time from the store's change feed.

use std::collections::BTreeMap;
use std::sync::Arc;

use komainu_model::{
    Api, Backend, Certificate, Draft, Entity, GLOBAL_CONFIG_ID, GlobalConfig, JwtVerifier, Kind,
    Route, parse,
};
use komainu_store::{Store, StoreResult, load_all};

#[derive(Clone, Default)]
pub struct Entities {
    pub apis: BTreeMap<String, Arc<Api>>,
    pub routes: BTreeMap<String, Arc<Route>>,
    pub backends: BTreeMap<String, Arc<Backend>>,
    /// API drafts, by API id (served behind the testing header).
    pub drafts: BTreeMap<String, Arc<Draft>>,
    pub verifiers: BTreeMap<String, Arc<JwtVerifier>>,
    pub certificates: BTreeMap<String, Arc<Certificate>>,
    /// The global configuration (its defaults while none is stored).
    pub global: Arc<GlobalConfig>,
}

/// The kinds a routing snapshot is built from.
pub(crate) const ROUTING_KINDS: [Kind; 7] = [
    Kind::Api,
    Kind::Route,
    Kind::Backend,
    Kind::Draft,
    Kind::JwtVerifier,
    Kind::Certificate,
    Kind::GlobalConfig,
];

fn typed<T: Entity>(kind: Kind, doc: &serde_json::Value) -> Option<(String, Arc<T>)> {
    let id = kind.id_of(doc)?.to_string();
    match parse::<T>(doc) {
        Ok(entity) => Some((id, Arc::new(entity))),
        Err(e) => {
            tracing::error!(%kind, %id, error = %e.message, path = %e.path, "stored document unreadable: skipped");
            None
        }
    }
}

fn by_id<T>(docs: Vec<T>, id: impl Fn(&T) -> &String) -> BTreeMap<String, Arc<T>> {
    docs.into_iter()
        .map(|d| (id(&d).clone(), Arc::new(d)))
        .collect()
}

impl Entities {
    pub async fn load(store: &dyn Store) -> StoreResult<Self> {
        let mut e = Entities::default();
        for kind in ROUTING_KINDS {
            e.reload_kind(store, kind).await?;
        }
        Ok(e)
    }

    async fn reload_kind(&mut self, store: &dyn Store, kind: Kind) -> StoreResult<()> {
        match kind {
            Kind::Api => self.apis = by_id(load_all::<Api>(store, kind).await?, |a| &a.id),
            Kind::Route => self.routes = by_id(load_all::<Route>(store, kind).await?, |r| &r.id),
            Kind::Backend => {
                self.backends = by_id(load_all::<Backend>(store, kind).await?, |b| &b.id)
            }
            Kind::Draft => self.drafts = by_id(load_all::<Draft>(store, kind).await?, |d| &d.id),
            Kind::JwtVerifier => {
                self.verifiers = by_id(load_all::<JwtVerifier>(store, kind).await?, |v| &v.id)
            }
            Kind::Certificate => {
                self.certificates = by_id(load_all::<Certificate>(store, kind).await?, |c| &c.id)
            }
            Kind::GlobalConfig => {
                self.global = Arc::new(
                    load_all::<GlobalConfig>(store, kind)
                        .await?
                        .into_iter()
                        .find(|g| g.id == GLOBAL_CONFIG_ID)
                        .unwrap_or_default(),
                )
            }
            _ => {}
        }
        Ok(())
    }

    /// Applies one change: re-reads document `id` of `kind` (or the whole kind when `id` is None).
    pub(crate) async fn refresh(
        &mut self,
        store: &dyn Store,
        kind: Kind,
        id: Option<&str>,
    ) -> StoreResult<()> {
        let Some(id) = id else {
            return self.reload_kind(store, kind).await;
        };
        let doc = store.get(kind, id).await?;
        fn apply<T: Entity>(
            map: &mut BTreeMap<String, Arc<T>>,
            kind: Kind,
            id: &str,
            doc: Option<serde_json::Value>,
        ) {
            match doc.as_ref().and_then(|d| typed::<T>(kind, d)) {
                Some((id, entity)) => {
                    map.insert(id, entity);
                }
                None => {
                    map.remove(id);
                }
            }
        }
        match kind {
            Kind::Api => apply(&mut self.apis, kind, id, doc),
            Kind::Route => apply(&mut self.routes, kind, id, doc),
            Kind::Backend => apply(&mut self.backends, kind, id, doc),
            Kind::Draft => apply(&mut self.drafts, kind, id, doc),
            Kind::JwtVerifier => apply(&mut self.verifiers, kind, id, doc),
            Kind::Certificate => apply(&mut self.certificates, kind, id, doc),
            Kind::GlobalConfig => {
                self.global = Arc::new(
                    doc.as_ref()
                        .and_then(|d| typed::<GlobalConfig>(kind, d))
                        .map(|(_, g)| (*g).clone())
                        .unwrap_or_default(),
                )
            }
            _ => {}
        }
        Ok(())
    }
}
