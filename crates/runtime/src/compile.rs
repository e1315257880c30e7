//! Entities → snapshot. APIs expand as Otoroshi does: each route of a serving API listens on
//! `api.domain` (else its own domain's host) at `api.context_path + <path of its domain>`, with its
//! flow's plugins and its backend (the API's own, else a stored one).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use komainu_model::{
    AccessConfig, Api, ApiBlueprint, ApiState, DEFAULT_TOKEN_LIFETIME_MS, NgBackend,
    NgClientConfig, NgFrontend, PlanStatus, PluginSlot, VerifierRef,
};
use komainu_observe::Registry;
use komainu_plugins::consumers::{self, PlanGuard};
use komainu_plugins::deprecation;
use komainu_plugins::token_endpoint::{TOKEN_PATH, TokenEndpoint};
use komainu_plugins::{Chain, Services};
use komainu_tls::CertIndex;
use komainu_upstream::Backend;

use crate::route::{CompiledRoute, Report, RouteSpec};
use crate::{Entities, Router, Snapshot};

/// The plugin whose quota counting a plan's key check must not repeat.
const APIKEY_CALLS: &str = "otoroshi.next.plugins.ApikeyCalls";

/// What a route matches beyond its path, and where and how it forwards, from its frontend and
/// backend. The caller names and places it: id, name, API, groups, path, testing header.
fn forwarding(
    frontend: &NgFrontend,
    ng: &NgBackend,
    backend: Arc<Backend>,
    chain: Arc<Chain>,
) -> RouteSpec {
    RouteSpec {
        id: String::new(),
        name: String::new(),
        api_id: None,
        groups: Vec::new(),
        path: String::new(),
        exact: frontend.exact,
        strip_path: frontend.strip_path,
        methods: frontend.methods.clone(),
        headers: frontend.headers.clone().into_iter().collect(),
        query: frontend.query.clone().into_iter().collect(),
        testing: None,
        root: ng.root.clone(),
        rewrite: ng.rewrite,
        backend,
        chain,
        endpoint: None,
        report: Report::default(),
    }
}

/// Whether a plan in `status` lets calls in: published and deprecated plans do, staging ones only
/// on testing routes, closed ones never.
fn admits_calls(status: PlanStatus, testing: bool) -> bool {
    match status {
        PlanStatus::Published | PlanStatus::Deprecated => true,
        PlanStatus::Staging => testing,
        PlanStatus::Closed => false,
    }
}

struct Builder<'a> {
    certs: Arc<CertIndex>,
    /// Which certificates backends' TLS settings were built from.
    certs_generation: u64,
    previous: HashMap<String, Arc<Backend>>,
    backends: HashMap<String, Arc<Backend>>,
    router: Router,
    problems: Vec<String>,
    entities: &'a Entities,
    services: &'a Services,
    /// One chain shared by every route without plugins.
    no_plugins: Arc<Chain>,
    stats: &'a Registry,
    /// Each route once, by id (a route on several domains is in the router several times).
    routes: BTreeMap<String, Arc<CompiledRoute>>,
}

/// gRPC needs HTTP/2: in a `gRPC` API, targets that do not say their protocol speak HTTP/2 (h2c
/// without TLS).
fn grpc_targets(mut ng: NgBackend) -> NgBackend {
    for t in &mut ng.targets {
        if t.extra.get("protocol").is_none() {
            t.extra.insert("protocol".into(), "HTTP/2.0".into());
        }
    }
    ng
}

impl Builder<'_> {
    /// The runtime backend for this configuration, reused when it did not change.
    fn backend(&mut self, cfg: &NgBackend, client: &NgClientConfig) -> Arc<Backend> {
        // A backend reaching targets over TLS depends on the certificates too.
        let tls = cfg
            .targets
            .iter()
            .any(|t| t.tls)
            .then_some(self.certs_generation);
        let key = serde_json::to_string(&(cfg, client, tls)).expect("configs serialize");
        if let Some(b) = self.backends.get(&key) {
            return b.clone();
        }
        let certs = self.certs.clone();
        let b = self
            .previous
            .remove(&key)
            .unwrap_or_else(|| Backend::new(cfg, client, &certs));
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
        let stats = self.stats.route(&spec.id, spec.api_id.as_deref());
        let route = Arc::new(CompiledRoute::new(spec, stats));
        if !self.routes.contains_key(&route.identity.id) {
            self.routes.insert(route.identity.id.clone(), route.clone());
        }
        self.router.add(host, route);
    }

    /// An API's routes: the live ones while it serves, and its draft's (or, while staging, its
    /// own) behind the testing header when testing is enabled.
    fn api(&mut self, api: &Api) {
        if !api.enabled {
            return;
        }
        let draft = self.entities.drafts.get(&api.id).and_then(|d| {
            match komainu_model::parse::<Api>(&d.content) {
                Ok(mut draft) => {
                    draft.id = api.id.clone();
                    Some(draft)
                }
                Err(e) => {
                    self.problems
                        .push(format!("api {}: draft unreadable: {}", api.id, e.message));
                    None
                }
            }
        });
        let testing = |a: &Api| {
            a.testing
                .enabled
                .then(|| (a.testing.header_key.clone(), a.testing.header_value.clone()))
        };
        match api.state {
            ApiState::Published | ApiState::Deprecated => {
                self.api_routes(api, None);
                if let Some(d) = &draft
                    && let Some(t) = testing(d)
                {
                    self.api_routes(d, Some(t));
                }
            }
            ApiState::Staging => {
                let source = draft.as_ref().unwrap_or(api);
                if let Some(t) = testing(source) {
                    self.api_routes(source, Some(t));
                }
            }
            ApiState::Removed => {}
        }
    }

    /// What each plan of `plans` requires of a call; `None` when a plan cannot be enforced.
    fn guards(
        &mut self,
        api: &Api,
        plans: &[&str],
        testing: bool,
        counted_by_flow: bool,
    ) -> Option<Vec<(String, PlanGuard)>> {
        let mut guards = Vec::new();
        for id in plans {
            let Some(plan) = api.documentation.plans.iter().find(|p| p.id == *id) else {
                continue;
            };
            if !admits_calls(plan.status, testing) {
                continue;
            }
            let verifier = |b: &mut Self, v: VerifierRef| match v {
                VerifierRef::Inline(v) => Some(v),
                VerifierRef::Id(id) => match b.entities.verifiers.get(&id) {
                    Some(v) => Some(Box::new((**v).clone())),
                    None => {
                        b.problems.push(format!(
                            "api {} plan {}: jwt-verifier \"{id}\" not found",
                            api.id, plan.id
                        ));
                        None
                    }
                },
            };
            let guard = match plan.access() {
                Ok(AccessConfig::Keyless) => PlanGuard::Keyless,
                Ok(AccessConfig::Apikey(_) | AccessConfig::Oauth2Local(_)) => {
                    // One key check for every keyed plan: the key's own plan decides, and a
                    // refused call is counted once, not once per plan.
                    if let Some((_, PlanGuard::Apikey { plans, .. })) = guards
                        .iter_mut()
                        .find(|(_, g)| matches!(g, PlanGuard::Apikey { .. }))
                    {
                        plans.push(plan.id.clone());
                        continue;
                    }
                    PlanGuard::Apikey {
                        count: !counted_by_flow,
                        plans: vec![plan.id.clone()],
                    }
                }
                Ok(AccessConfig::Jwt(v) | AccessConfig::Oauth2Remote(v)) => {
                    PlanGuard::Jwt(verifier(self, v)?)
                }
                Ok(AccessConfig::Mtls(m)) => PlanGuard::Mtls(m),
                Err(e) => {
                    self.problems
                        .push(format!("api {} plan {}: {e}", api.id, plan.id));
                    return None;
                }
            };
            guards.push((plan.id.clone(), guard));
        }
        Some(guards)
    }

    /// The flow's plugins, preceded by the security of its plans: those its `consumers` lists,
    /// or every plan of the API when it lists none. The API fails closed: with no plan admitting
    /// calls (no plan, or none published), every call is refused (403 `errors.no.plan`).
    fn flow_chain(&mut self, api: &Api, flow_id: &str, testing: bool) -> Option<Arc<Chain>> {
        let flow = api.flow(flow_id)?;
        let mut chain = self.chain(
            &format!("api {} flow {}", api.id, flow.id),
            flow.plugins.as_slice(),
        )?;
        let counted_by_flow = flow
            .plugins
            .as_slice()
            .iter()
            .any(|s| s.enabled && s.plugin.ends_with(APIKEY_CALLS));
        let guards = self.guards(api, &api.flow_plans(flow), testing, counted_by_flow)?;
        match consumers::build(guards, self.services) {
            Ok(p) => chain.prepend("plans", p),
            Err(e) => {
                self.problems
                    .push(format!("api {} flow {}: {e}", api.id, flow.id));
                return None;
            }
        }
        if api.state == ApiState::Deprecated {
            chain.prepend("deprecation", self.deprecation(api));
        }
        Some(Arc::new(chain))
    }

    /// The headers a deprecated API's responses carry; the `Link` is `metadata.deprecation_link`,
    /// else the API's page on the portal.
    fn deprecation(&self, api: &Api) -> Arc<dyn komainu_plugins::Plugin> {
        let page = self
            .services
            .portal_url
            .as_ref()
            .map(|p| format!("{p}/apis/{}", api.id));
        let link = api.metadata.get("deprecation_link").cloned().or(page);
        deprecation::plugin(&deprecation::Deprecated {
            at_ms: api.deprecated_at(),
            sunset_ms: api.sunset_ms().and_then(Result::ok),
            link: link.as_deref(),
        })
    }

    /// The token lifetime of the first active `oauth2-local` plan among the flows' plans.
    fn token_lifetime(api: &Api, flows: &[&str], testing: bool) -> Option<u64> {
        api.flows
            .iter()
            .filter(|f| flows.contains(&f.id.as_str()))
            .flat_map(|f| api.flow_plans(f))
            .filter_map(|id| api.documentation.plans.iter().find(|p| p.id == id))
            .filter(|p| admits_calls(p.status, testing))
            .find_map(|p| match p.access() {
                Ok(AccessConfig::Oauth2Local(t)) => {
                    Some(t.expiration.unwrap_or(DEFAULT_TOKEN_LIFETIME_MS))
                }
                _ => None,
            })
    }

    fn api_routes(&mut self, api: &Api, testing: Option<(String, String)>) {
        let mut chains: HashMap<&str, Option<Arc<Chain>>> = HashMap::new();
        for route in api.routes.iter().filter(|r| r.enabled) {
            let owner = format!("api {} route {}", api.id, route.id);
            let chain = match chains.get(route.flow_ref.as_str()) {
                Some(c) => c.clone(),
                None => {
                    let c = self.flow_chain(api, &route.flow_ref, testing.is_some());
                    chains.insert(route.flow_ref.as_str(), c.clone());
                    c
                }
            };
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
            let ng = if api.blueprint == ApiBlueprint::Grpc {
                grpc_targets(ng)
            } else {
                ng
            };
            let backend = self.backend(&ng, &client);
            for (host, path) in api.route_addresses(route) {
                let spec = RouteSpec {
                    id: route.id.clone(),
                    name: route.name.clone(),
                    api_id: Some(api.id.clone()),
                    groups: api.groups.clone(),
                    path,
                    testing: testing.clone(),
                    report: Report {
                        debug_flow: api.debug_flow,
                        export_reporting: api.export_reporting,
                        capture: api.capture,
                    },
                    ..forwarding(&route.frontend, &ng, backend.clone(), chain.clone())
                };
                self.add(host, spec);
            }
        }
        let flows: Vec<&str> = chains.keys().copied().collect();
        if let Some(lifetime) = Self::token_lifetime(api, &flows, testing.is_some()) {
            self.token_route(api, lifetime, testing);
        }
    }

    /// `POST /.well-known/otoroshi/oauth/token` on the API's domain, for its oauth2-local plans.
    fn token_route(&mut self, api: &Api, lifetime_ms: u64, testing: Option<(String, String)>) {
        let backend = self.backend(&NgBackend::default(), &NgClientConfig::default());
        let endpoint = TokenEndpoint::new(self.services.keys.clone(), lifetime_ms);
        let spec = RouteSpec {
            id: format!("{}_oauth_token", api.id),
            name: "client credentials token endpoint".into(),
            api_id: Some(api.id.clone()),
            groups: api.groups.clone(),
            path: TOKEN_PATH.into(),
            exact: true,
            strip_path: false,
            methods: vec!["POST".into()],
            headers: Vec::new(),
            query: Vec::new(),
            testing,
            root: "/".into(),
            rewrite: false,
            backend,
            chain: Arc::new(Chain::default()),
            endpoint: Some(Arc::new(endpoint)),
            report: Report::default(),
        };
        let host = api.domain.clone();
        self.add(&host, spec);
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
        let chain = if chain.is_empty() {
            self.no_plugins.clone()
        } else {
            Arc::new(chain)
        };
        let backend = self.backend(&ng, &ng.client);
        for domain in &route.frontend.domains {
            let (host, path) = komainu_model::split_domain(domain);
            let spec = RouteSpec {
                id: route.id.clone(),
                name: route.name.clone(),
                groups: route.groups.clone(),
                path: path.to_string(),
                report: Report {
                    debug_flow: route.debug_flow,
                    export_reporting: route.export_reporting,
                    capture: route.capture,
                },
                ..forwarding(&route.frontend, &ng, backend.clone(), chain.clone())
            };
            self.add(host, spec);
        }
    }
}

/// Compiles `entities`, reusing the runtime backends of `previous` whose configuration is unchanged,
/// and its certificates unless `certs_changed`.
pub(crate) fn compile(
    entities: &Entities,
    services: &Services,
    previous: Option<&Snapshot>,
    generation: u64,
    certs_changed: bool,
    stats: &Registry,
) -> Snapshot {
    let mut problems = Vec::new();
    let (certs, certs_generation) = match previous {
        Some(p) if !certs_changed => (p.certs.clone(), p.certs_generation),
        _ => {
            let now_ms = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as i64);
            let certs: Vec<_> = entities.certificates.values().cloned().collect();
            let (index, certificate_problems) = CertIndex::build(&certs, now_ms);
            problems.extend(certificate_problems);
            (Arc::new(index), generation)
        }
    };
    // The plugins read the global configuration's limits as it is now.
    let services = &Services {
        global: komainu_plugins::GlobalLimits {
            throttling_quota: entities.global.throttling_quota,
            per_ip_throttling_quota: entities.global.per_ip_throttling_quota,
        },
        verifiers: Some(Arc::new(entities.verifiers.clone())),
        certs: certs.clone(),
        live: true,
        ..services.clone()
    };
    let mut b = Builder {
        certs: certs.clone(),
        certs_generation,
        services,
        previous: previous.map(|p| p.backends.clone()).unwrap_or_default(),
        backends: HashMap::new(),
        router: Router::default(),
        problems,
        entities,
        no_plugins: Arc::new(Chain::default()),
        stats,
        routes: BTreeMap::new(),
    };
    for api in entities.apis.values() {
        b.api(api);
    }
    for route in entities.routes.values() {
        b.route(route);
    }
    b.router.seal();
    stats.retain(&|id| b.routes.contains_key(id));
    Snapshot {
        router: b.router,
        generation,
        certs,
        certs_generation,
        backends: b.backends,
        problems: b.problems,
        routes: b.routes.into_values().collect(),
    }
}
