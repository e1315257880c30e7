//! The `Api` entity (seed 001): routes, backends, backend clients, flows, documentation and plans,
//! clients, testing and deployments, with its lifecycle state.

use std::collections::{BTreeMap, HashSet};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::{
    AccessConfig, ApiDocumentation, Entity, Extra, FieldError, Kind, NgBackend, NgClientConfig,
    NgFrontend, NgPlugins, PluginSlot, Refs, VerifierRef, ids,
};

/// The field the gateway stamps when an API enters `deprecated` (ms since the epoch).
pub const DEPRECATED_AT: &str = "deprecated_at";

/// The flow every API has unless it declares its own.
pub const DEFAULT_FLOW_ID: &str = "default_plugin_chain";
const OVERRIDE_HOST: &str = "cp:otoroshi.next.plugins.OverrideHost";

/// Lifecycle: staging → published → deprecated → removed.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum ApiState {
    #[default]
    Staging,
    Published,
    Deprecated,
    Removed,
}

impl ApiState {
    pub fn as_str(self) -> &'static str {
        match self {
            ApiState::Staging => "staging",
            ApiState::Published => "published",
            ApiState::Deprecated => "deprecated",
            ApiState::Removed => "removed",
        }
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum ApiBlueprint {
    #[default]
    #[serde(rename = "REST")]
    Rest,
    #[serde(rename = "GraphQL")]
    GraphQl,
    #[serde(rename = "gRPC")]
    Grpc,
    Http,
    Websocket,
}

/// A route of an API: its frontend is served under the API's domain and context path.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct ApiRoute {
    pub id: String,
    pub name: String,
    pub enabled: bool,
    pub frontend: NgFrontend,
    /// Id of a backend of this API, else of a stored backend.
    pub backend: String,
    /// Id of a flow of this API.
    pub flow_ref: String,
    #[serde(flatten)]
    pub extra: Extra,
}

impl Default for ApiRoute {
    fn default() -> Self {
        ApiRoute {
            id: String::new(),
            name: String::new(),
            enabled: true,
            frontend: NgFrontend::default(),
            backend: String::new(),
            flow_ref: String::new(),
            extra: Extra::new(),
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct ApiBackend {
    pub id: String,
    pub name: String,
    pub backend: NgBackend,
    /// Id of an entry of `clients_backend_config`; unknown or empty means the default client.
    pub client: String,
    #[serde(flatten)]
    pub extra: Extra,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct ApiBackendClient {
    pub id: String,
    pub name: String,
    pub client: NgClientConfig,
    #[serde(flatten)]
    pub extra: Extra,
}

/// A named plugin chain that routes pick with `flow_ref`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct ApiFlows {
    pub id: String,
    pub name: String,
    pub plugins: NgPlugins,
    /// Plan ids whose security this flow enforces.
    pub consumers: Vec<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

impl Default for ApiFlows {
    fn default() -> Self {
        ApiFlows {
            id: String::new(),
            name: String::new(),
            plugins: NgPlugins::slots(Vec::new()),
            consumers: Vec::new(),
            extra: Extra::new(),
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct ApiClient {
    pub id: String,
    pub name: String,
    pub description: String,
    pub tags: Vec<String>,
    pub metadata: BTreeMap<String, String>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// Draft routes answer only to requests carrying `headerKey: headerValue`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct ApiTesting {
    pub enabled: bool,
    #[serde(rename = "headerKey")]
    pub header_key: String,
    #[serde(rename = "headerValue")]
    pub header_value: String,
    #[serde(flatten)]
    pub extra: Extra,
}

impl Default for ApiTesting {
    fn default() -> Self {
        ApiTesting {
            enabled: false,
            header_key: "X-OTOROSHI-TESTING".into(),
            header_value: String::new(),
            extra: Extra::new(),
        }
    }
}

/// One publication of the API.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct ApiDeployment {
    pub id: String,
    #[serde(rename = "apiRef")]
    pub api_ref: String,
    pub owner: String,
    /// Milliseconds since the epoch.
    pub at: i64,
    #[serde(rename = "apiDefinition")]
    pub api_definition: Value,
    pub version: String,
    #[serde(flatten)]
    pub extra: Extra,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct Api {
    pub id: String,
    pub name: String,
    pub description: String,
    /// Host every route of the API is served on.
    pub domain: String,
    /// Path prefix of every route of the API.
    pub context_path: String,
    pub version: String,
    pub versions: Vec<String>,
    pub enabled: bool,
    pub state: ApiState,
    pub blueprint: ApiBlueprint,
    pub debug_flow: bool,
    pub capture: bool,
    pub export_reporting: bool,
    pub groups: Vec<String>,
    pub tags: Vec<String>,
    pub metadata: BTreeMap<String, String>,
    pub routes: Vec<ApiRoute>,
    pub backends: Vec<ApiBackend>,
    pub flows: Vec<ApiFlows>,
    pub clients_backend_config: Vec<ApiBackendClient>,
    pub documentation: ApiDocumentation,
    pub deployments: Vec<ApiDeployment>,
    pub clients: Vec<ApiClient>,
    pub testing: ApiTesting,
    #[serde(flatten)]
    pub extra: Extra,
}

impl Default for Api {
    fn default() -> Self {
        Api {
            id: String::new(),
            name: String::new(),
            description: String::new(),
            domain: String::new(),
            context_path: String::new(),
            version: "1.0.0".into(),
            versions: Vec::new(),
            enabled: true,
            state: ApiState::Staging,
            blueprint: ApiBlueprint::Rest,
            debug_flow: false,
            capture: false,
            export_reporting: false,
            groups: Vec::new(),
            tags: Vec::new(),
            metadata: BTreeMap::new(),
            routes: Vec::new(),
            backends: Vec::new(),
            flows: Vec::new(),
            clients_backend_config: Vec::new(),
            documentation: ApiDocumentation::default(),
            deployments: Vec::new(),
            clients: Vec::new(),
            testing: ApiTesting::default(),
            extra: Extra::new(),
        }
    }
}

impl Api {
    /// The API's backend with `id`, if it is local.
    pub fn backend(&self, id: &str) -> Option<&ApiBackend> {
        self.backends.iter().find(|b| b.id == id)
    }

    /// The flow with `id`.
    pub fn flow(&self, id: &str) -> Option<&ApiFlows> {
        self.flows.iter().find(|f| f.id == id)
    }

    /// The plans whose security a flow enforces: those its `consumers` names, or every plan of
    /// the API when it names none, so that no route is open unless a keyless plan says so.
    pub fn flow_plans<'a>(&'a self, flow: &'a ApiFlows) -> Vec<&'a str> {
        if flow.consumers.is_empty() {
            self.documentation
                .plans
                .iter()
                .map(|p| p.id.as_str())
                .collect()
        } else {
            flow.consumers.iter().map(String::as_str).collect()
        }
    }

    /// Warns of each flow a route uses that no plan admitting calls is enforced by: its routes
    /// refuse every call (403 `errors.no.plan`), rarely what publishing means to do.
    fn warn_closed_flows(&self, refs: &dyn Refs) {
        use crate::PlanStatus;
        for (i, flow) in self.flows.iter().enumerate() {
            let used = self
                .routes
                .iter()
                .any(|r| r.enabled && r.flow_ref == flow.id);
            let admitting = self.flow_plans(flow).iter().any(|id| {
                self.documentation.plans.iter().any(|p| {
                    p.id == *id
                        && matches!(p.status, PlanStatus::Published | PlanStatus::Deprecated)
                })
            });
            if used && !admitting {
                refs.warn(FieldError::new(
                    format!("flows[{i}].consumers"),
                    format!(
                        "no published plan admits calls on flow \"{}\": its routes refuse every call (403 errors.no.plan) until one does",
                        flow.id
                    ),
                ));
            }
        }
    }

    /// Where a route is served, for each of its domains: the host (the API's domain, else the
    /// domain's own host; empty is any host) and the path (the context path, then the domain's).
    pub fn route_addresses<'a>(&'a self, route: &'a ApiRoute) -> Vec<(&'a str, String)> {
        let domains: Vec<&str> = if route.frontend.domains.is_empty() {
            vec!["/"]
        } else {
            route.frontend.domains.iter().map(String::as_str).collect()
        };
        domains
            .into_iter()
            .map(|domain| {
                let (own_host, path) = crate::split_domain(domain);
                let host = if self.domain.is_empty() {
                    own_host
                } else {
                    self.domain.as_str()
                };
                let path = format!(
                    "{}/{}",
                    self.context_path.trim_end_matches('/'),
                    path.trim_start_matches('/')
                );
                (host, path)
            })
            .collect()
    }

    /// When the API was deprecated (ms), as the gateway stamped it (`deprecated_at`).
    pub fn deprecated_at(&self) -> Option<i64> {
        self.extra.get(DEPRECATED_AT).and_then(Value::as_i64)
    }

    /// When a deprecated API stops answering (ms): `metadata.sunset`, an RFC 3339 date-time or a
    /// date (`2027-06-30`, midnight UTC); `Err` says what is wrong with it.
    pub fn sunset_ms(&self) -> Option<Result<i64, String>> {
        let text = self.metadata.get("sunset")?.trim();
        let parsed = chrono::DateTime::parse_from_rfc3339(text)
            .map(|d| d.timestamp_millis())
            .or_else(|_| {
                chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d").map(|d| {
                    d.and_time(chrono::NaiveTime::MIN)
                        .and_utc()
                        .timestamp_millis()
                })
            })
            .map_err(|_| {
                format!("\"{text}\": expected a date (2027-06-30) or an RFC 3339 date-time")
            });
        Some(parsed)
    }

    /// The client config named by a backend's `client`, or the default one.
    pub fn client_config(&self, id: &str) -> Option<&NgClientConfig> {
        self.clients_backend_config
            .iter()
            .find(|c| c.id == id)
            .map(|c| &c.client)
    }
}

impl Entity for Api {
    const KIND: Kind = Kind::Api;

    fn complete(&mut self) {
        ids::ensure(&mut self.id, "api_");
        if self.name.is_empty() {
            self.name = self.id.clone();
        }
        if self.flows.is_empty() {
            self.flows.push(ApiFlows {
                id: DEFAULT_FLOW_ID.into(),
                name: "Default flow".into(),
                plugins: NgPlugins::slots(vec![PluginSlot::new(OVERRIDE_HOST)]),
                ..Default::default()
            });
        }
        if self.testing.header_value.is_empty() {
            self.testing.header_value = ids::uuid();
        }
        if self.testing.header_key.is_empty() {
            self.testing.header_key = ApiTesting::default().header_key;
        }
        if !self.version.is_empty() && !self.versions.contains(&self.version) {
            self.versions.push(self.version.clone());
        }
        let parent = self.id.clone();
        for (i, r) in self.routes.iter_mut().enumerate() {
            ids::ensure_derived(
                &mut r.id,
                "route_",
                &[&parent, "route", &i.to_string(), &r.name],
            );
            if r.flow_ref.is_empty() {
                r.flow_ref = DEFAULT_FLOW_ID.into();
            }
            r.frontend.complete();
        }
        for (i, b) in self.backends.iter_mut().enumerate() {
            ids::ensure_derived(
                &mut b.id,
                "api_backend_",
                &[&parent, "backend", &i.to_string(), &b.name],
            );
            b.backend.complete();
        }
        for (i, f) in self.flows.iter_mut().enumerate() {
            ids::ensure_derived(
                &mut f.id,
                "flow_",
                &[&parent, "flow", &i.to_string(), &f.name],
            );
        }
        for (i, c) in self.clients_backend_config.iter_mut().enumerate() {
            ids::ensure_derived(
                &mut c.id,
                "backend_client_",
                &[&parent, "client_config", &i.to_string(), &c.name],
            );
        }
        for (i, c) in self.clients.iter_mut().enumerate() {
            ids::ensure_derived(
                &mut c.id,
                "client_",
                &[&parent, "client", &i.to_string(), &c.name],
            );
        }
        for d in &mut self.deployments {
            ids::ensure(&mut d.id, "deployment_");
        }
        self.documentation.complete(&parent);
    }

    fn check(&self, refs: &dyn Refs, errors: &mut Vec<FieldError>) {
        use crate::entity::check_unique;
        if let Some(Err(e)) = self.sunset_ms() {
            errors.push(FieldError::new("metadata.sunset", e));
        }
        if !self.context_path.is_empty() && !self.context_path.starts_with('/') {
            errors.push(FieldError::new("context_path", "must start with \"/\""));
        }
        if self.domain.contains(['/', ' ']) {
            errors.push(FieldError::new(
                "domain",
                "a domain is a host name, without path or spaces",
            ));
        }
        check_unique("routes", self.routes.iter().map(|r| r.id.as_str()), errors);
        check_unique(
            "backends",
            self.backends.iter().map(|b| b.id.as_str()),
            errors,
        );
        check_unique("flows", self.flows.iter().map(|f| f.id.as_str()), errors);
        check_unique(
            "clients_backend_config",
            self.clients_backend_config.iter().map(|c| c.id.as_str()),
            errors,
        );
        check_unique(
            "clients",
            self.clients.iter().map(|c| c.id.as_str()),
            errors,
        );
        check_unique(
            "deployments",
            self.deployments.iter().map(|d| d.id.as_str()),
            errors,
        );
        self.documentation.check(errors);
        for (i, r) in self.documentation.resources.iter().enumerate() {
            if let Some(id) = &r.document_ref
                && !refs.exists(Kind::ApiDocument, id)
            {
                errors.push(FieldError::new(
                    format!("documentation.resources[{i}].document_ref"),
                    format!("no api-document has id \"{id}\""),
                ));
            }
        }

        let flows: HashSet<&str> = self.flows.iter().map(|f| f.id.as_str()).collect();
        for (i, r) in self.routes.iter().enumerate() {
            let at = format!("routes[{i}]");
            r.frontend.check(&format!("{at}.frontend"), errors);
            if r.backend.is_empty() {
                errors.push(FieldError::new(
                    format!("{at}.backend"),
                    "a route needs a backend",
                ));
            } else if self.backend(&r.backend).is_none() && !refs.exists(Kind::Backend, &r.backend)
            {
                errors.push(FieldError::new(
                    format!("{at}.backend"),
                    format!(
                        "\"{}\" is neither a backend of this API nor a stored backend",
                        r.backend
                    ),
                ));
            }
            if !flows.contains(r.flow_ref.as_str()) {
                errors.push(FieldError::new(
                    format!("{at}.flow_ref"),
                    format!("\"{}\" names no flow of this API", r.flow_ref),
                ));
            }
        }
        for (i, b) in self.backends.iter().enumerate() {
            b.backend.check(&format!("backends[{i}].backend"), errors);
        }
        for (i, plan) in self.documentation.plans.iter().enumerate() {
            let at = format!("documentation.plans[{i}].access_mode_configuration");
            match plan.access() {
                Err(e) => errors.push(FieldError::new(at, e)),
                Ok(AccessConfig::Jwt(v) | AccessConfig::Oauth2Remote(v)) => match v {
                    VerifierRef::Id(id) if !refs.exists(Kind::JwtVerifier, &id) => {
                        errors.push(FieldError::new(
                            format!("{at}.verifier"),
                            format!("no jwt-verifier has id \"{id}\""),
                        ))
                    }
                    VerifierRef::Inline(v) => v.problems(&format!("{at}.verifier"), errors),
                    VerifierRef::Id(_) => {}
                },
                Ok(_) => {}
            }
        }
        let plans: HashSet<&str> = self
            .documentation
            .plans
            .iter()
            .map(|p| p.id.as_str())
            .collect();
        if self.state == ApiState::Published {
            self.warn_closed_flows(refs);
        }
        for (i, f) in self.flows.iter().enumerate() {
            f.plugins
                .check(&format!("flows[{i}].plugins"), refs, errors);
            for (j, c) in f.consumers.iter().enumerate() {
                if !plans.contains(c.as_str()) {
                    errors.push(FieldError::new(
                        format!("flows[{i}].consumers[{j}]"),
                        format!("\"{c}\" names no plan of this API"),
                    ));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_are_served_at_the_context_path() {
        let api: Api = serde_json::from_value(serde_json::json!({
            "domain": "api.test", "context_path": "/v1",
            "routes": [{"frontend": {"domains": ["oto.tools/users", "/", "bare.host"]}}]
        }))
        .unwrap();
        assert_eq!(
            api.route_addresses(&api.routes[0]),
            [
                ("api.test", "/v1/users".to_string()),
                ("api.test", "/v1/".to_string()),
                ("api.test", "/v1/".to_string())
            ]
        );
        assert_eq!(crate::split_domain("/users"), ("", "/users"));
        assert_eq!(crate::split_domain("h/p"), ("h", "/p"));
    }
}
