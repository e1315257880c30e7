//! One immutable compiled configuration.

use std::collections::HashMap;
use std::sync::Arc;

use komainu_tls::CertIndex;
use komainu_upstream::Backend;

use crate::Router;

pub struct Snapshot {
    pub router: Router,
    /// Increases with every rebuild.
    pub generation: u64,
    /// The stored certificates, ready for handshakes, and the generation that last rebuilt them
    /// (backends reaching targets over TLS are rebuilt with them).
    pub certs: Arc<CertIndex>,
    pub(crate) certs_generation: u64,
    /// Runtime backends by configuration, reused by the next rebuild so that load-balancing,
    /// health and circuit-breaker state survive unrelated changes.
    pub(crate) backends: HashMap<String, Arc<Backend>>,
    /// Entities that could not be served, and why (logged when the snapshot is built).
    pub problems: Vec<String>,
    /// Every route once (the router may hold one under several hosts), by id.
    pub routes: Vec<Arc<crate::CompiledRoute>>,
}

impl Snapshot {
    /// Compiles `entities` into a snapshot (what the runtime does on every change).
    pub fn compile(entities: &crate::Entities, services: &komainu_plugins::Services) -> Self {
        let stats = komainu_observe::Registry::default();
        crate::compile::compile(entities, services, None, 1, true, &stats)
    }
}
