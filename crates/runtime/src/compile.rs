//! Entities → snapshot. APIs expand as Otoroshi does: each route of a serving API listens on
//! `api.domain` (else its own domain's host) at `api.context_path + <path of its domain>`, with its
//! flow's plugins and its backend (the API's own, else a stored one).

use std::collections::HashMap;
use std::sync::Arc;

use komainu_model::{Api, ApiState, NgBackend, NgClientConfig, PluginSlot};
use komainu_plugins::{Chain, Services};
use komainu_upstream::Backend;

use crate::route::{CompiledRoute, RouteSpec};
use crate::{Entities, Router, Snapshot};

/// `host/path` → (`host`, `/path`); a domain without host (`/users`) has an empty host.
fn split_domain(domain: &str) -> (&str, &str) {
    match domain.find('/') {
        Some(0) => ("", domain),
        Some(i) => (&domain[..i], &domain[i..]),
        None => (domain, "/"),
    }
}

fn join_paths(prefix: &str, path: &str) -> String {
    format!(
        "{}/{}",
        prefix.trim_end_matches('/'),
        path.trim_start_matches('/')
    )
}

struct Builder<'a> {
    previous: HashMap<String, Arc<Backend>>,
    backends: HashMap<String, Arc<Backend>>,
    router: Router,
    problems: Vec<String>,
    entities: &'a Entities,
    services: &'a Services,
}

impl Builder<'_> {
    /// The runtime backend for this configuration, reused when it did not change.
    fn backend(&mut self, cfg: &NgBackend, client: &NgClientConfig) -> Arc<Backend> {
        let key = serde_json::to_string(&(cfg, client)).expect("configs serialize");
        if let Some(b) = self.backends.get(&key) {
            return b.clone();
        }
        let b = self
            .previous
            .remove(&key)
            .unwrap_or_else(|| Backend::new(cfg, client));
        self.backends.insert(key, b.clone());
        b
    }

    fn chain(&mut self, owner: &str, slots: &[PluginSlot]) -> Option<Chain> {
        match Chain::compile(slots, self.services) {
            Ok(chain) => Some(chain),
            Err((i, e)) => {
                self.problems.push(format!("{owner}: plugin {i}: {e}"));
                None
            }
        }
    }

    fn add(&mut self, host: &str, spec: RouteSpec) {
        self.router.add(host, Arc::new(CompiledRoute::new(spec)));
    }

    fn api(&mut self, api: &Api) {
        let testing = match api.state {
            ApiState::Published | ApiState::Deprecated => None,
            ApiState::Staging if api.testing.enabled => Some((
                api.testing.header_key.clone(),
                api.testing.header_value.clone(),
            )),
            ApiState::Staging | ApiState::Removed => return,
        };
        if !api.enabled {
            return;
        }
        let mut chains: HashMap<&str, Option<Arc<Chain>>> = HashMap::new();
        for route in api.routes.iter().filter(|r| r.enabled) {
            let owner = format!("api {} route {}", api.id, route.id);
            let chain = chains
                .entry(route.flow_ref.as_str())
                .or_insert_with(|| {
                    let flow = api.flow(&route.flow_ref)?;
                    self.chain(
                        &format!("api {} flow {}", api.id, flow.id),
                        flow.plugins.as_slice(),
                    )
                    .map(Arc::new)
                })
                .clone();
            let Some(chain) = chain else {
                self.problems
                    .push(format!("{owner}: flow \"{}\" unusable", route.flow_ref));
                continue;
            };
            let (ng, client) = if let Some(local) = api.backend(&route.backend) {
                let client = api
                    .client_config(&local.client)
                    .unwrap_or(&local.backend.client);
                (local.backend.clone(), client.clone())
            } else if let Some(stored) = self.entities.backends.get(&route.backend) {
                (stored.backend.clone(), stored.backend.client.clone())
            } else {
                self.problems
                    .push(format!("{owner}: backend \"{}\" not found", route.backend));
                continue;
            };
            let backend = self.backend(&ng, &client);
            let domains: Vec<&str> = if route.frontend.domains.is_empty() {
                vec!["/"]
            } else {
                route.frontend.domains.iter().map(String::as_str).collect()
            };
            for domain in domains {
                let (own_host, path) = split_domain(domain);
                let host = if api.domain.is_empty() {
                    own_host
                } else {
                    api.domain.as_str()
                };
                let spec = RouteSpec {
                    id: route.id.clone(),
                    name: route.name.clone(),
                    api_id: Some(api.id.clone()),
                    groups: api.groups.clone(),
                    path: join_paths(&api.context_path, path),
                    exact: route.frontend.exact,
                    strip_path: route.frontend.strip_path,
                    methods: route.frontend.methods.clone(),
                    headers: route.frontend.headers.clone().into_iter().collect(),
                    query: route.frontend.query.clone().into_iter().collect(),
                    testing: testing.clone(),
                    root: ng.root.clone(),
                    rewrite: ng.rewrite,
                    backend: backend.clone(),
                    chain: chain.clone(),
                };
                self.add(host, spec);
            }
        }
    }

    fn route(&mut self, route: &komainu_model::Route) {
        if !route.enabled {
            return;
        }
        let ng = match &route.backend_ref {
            Some(r) => match self.entities.backends.get(r) {
                Some(stored) => stored.backend.clone(),
                None => {
                    self.problems
                        .push(format!("route {}: backend_ref \"{r}\" not found", route.id));
                    return;
                }
            },
            None => route.backend.clone(),
        };
        let Some(chain) = self.chain(&format!("route {}", route.id), route.plugins.as_slice())
        else {
            return;
        };
        let chain = Arc::new(chain);
        let backend = self.backend(&ng, &ng.client);
        for domain in &route.frontend.domains {
            let (host, path) = split_domain(domain);
            let spec = RouteSpec {
                id: route.id.clone(),
                name: route.name.clone(),
                api_id: None,
                groups: route.groups.clone(),
                path: path.to_string(),
                exact: route.frontend.exact,
                strip_path: route.frontend.strip_path,
                methods: route.frontend.methods.clone(),
                headers: route.frontend.headers.clone().into_iter().collect(),
                query: route.frontend.query.clone().into_iter().collect(),
                testing: None,
                root: ng.root.clone(),
                rewrite: ng.rewrite,
                backend: backend.clone(),
                chain: chain.clone(),
            };
            self.add(host, spec);
        }
    }
}

/// Compiles `entities`, reusing the runtime backends of `previous` whose configuration is unchanged.
pub(crate) fn compile(
    entities: &Entities,
    services: &Services,
    previous: Option<&Snapshot>,
    generation: u64,
) -> Snapshot {
    let mut b = Builder {
        services,
        previous: previous.map(|p| p.backends.clone()).unwrap_or_default(),
        backends: HashMap::new(),
        router: Router::default(),
        problems: Vec::new(),
        entities,
    };
    for api in entities.apis.values() {
        b.api(api);
    }
    for route in entities.routes.values() {
        b.route(route);
    }
    b.router.seal();
    Snapshot {
        router: b.router,
        generation,
        backends: b.backends,
        problems: b.problems,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domains_split_into_host_and_path() {
        assert_eq!(split_domain("oto.tools/users"), ("oto.tools", "/users"));
        assert_eq!(split_domain("oto.tools"), ("oto.tools", "/"));
        assert_eq!(split_domain("/users"), ("", "/users"));
        assert_eq!(join_paths("/v1", "/users"), "/v1/users");
        assert_eq!(join_paths("", "/"), "/");
        assert_eq!(join_paths("/v1/", "/"), "/v1/");
    }
}
