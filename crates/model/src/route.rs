//! The standalone `Route` entity (`/api/routes`): a frontend, a backend (inline or by reference)
//! and a plugin chain.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::{Entity, Extra, FieldError, Kind, NgBackend, NgFrontend, NgPlugins, Refs, ids};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct Route {
    pub id: String,
    pub name: String,
    pub description: String,
    pub tags: Vec<String>,
    pub metadata: BTreeMap<String, String>,
    pub enabled: bool,
    pub debug_flow: bool,
    pub export_reporting: bool,
    pub capture: bool,
    /// Service groups this route belongs to (its API-key authorization scope).
    pub groups: Vec<String>,
    pub frontend: NgFrontend,
    pub backend: NgBackend,
    /// A stored backend used instead of `backend` when set.
    pub backend_ref: Option<String>,
    pub plugins: NgPlugins,
    #[serde(flatten)]
    pub extra: Extra,
}

impl Default for Route {
    fn default() -> Self {
        Route {
            id: String::new(),
            name: String::new(),
            description: String::new(),
            tags: Vec::new(),
            metadata: BTreeMap::new(),
            enabled: true,
            debug_flow: false,
            export_reporting: false,
            capture: false,
            groups: vec!["default".into()],
            frontend: NgFrontend::default(),
            backend: NgBackend::default(),
            backend_ref: None,
            plugins: NgPlugins::default(),
            extra: Extra::new(),
        }
    }
}

impl Entity for Route {
    const KIND: Kind = Kind::Route;

    fn complete(&mut self) {
        ids::ensure(&mut self.id, "route_");
        self.frontend.complete();
        self.backend.complete();
        if self
            .backend_ref
            .as_deref()
            .is_some_and(|r| r.trim().is_empty())
        {
            self.backend_ref = None;
        }
    }

    fn check(&self, refs: &dyn Refs, errors: &mut Vec<FieldError>) {
        if self.frontend.domains.is_empty() {
            errors.push(FieldError::new(
                "frontend.domains",
                "a route listens on at least one domain (host, host/path or /path)",
            ));
        }
        self.frontend.check("frontend", errors);
        self.backend.check("backend", errors);
        if let Some(r) = &self.backend_ref
            && !refs.exists(Kind::Backend, r)
        {
            errors.push(FieldError::new(
                "backend_ref",
                format!("no stored backend has id \"{r}\""),
            ));
        }
        self.plugins.check("plugins", refs, errors);
    }
}
