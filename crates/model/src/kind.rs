//! The kinds of stored entity and every name each one goes by (admin paths, export keys, store tables).

use std::fmt;

/// A kind of stored entity.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    Api,
    ApiSubscription,
    Route,
    Backend,
    Group,
    ApiKey,
    Certificate,
    JwtVerifier,
    /// Unpublished work on another entity (an API's draft), Otoroshi's `Draft`.
    Draft,
    /// The one global configuration (id `global`), Otoroshi's `GlobalConfig`.
    GlobalConfig,
    /// A developer portal account.
    Developer,
    /// A large document an API's documentation points to (an imported OpenAPI specification).
    ApiDocument,
}

impl Kind {
    /// Every kind, referenced kinds first (an import writes them in this order).
    pub const ALL: [Kind; 12] = [
        Kind::GlobalConfig,
        Kind::Group,
        Kind::Certificate,
        Kind::JwtVerifier,
        Kind::Backend,
        Kind::Route,
        Kind::ApiDocument,
        Kind::Api,
        Kind::ApiKey,
        Kind::ApiSubscription,
        Kind::Draft,
        Kind::Developer,
    ];

    /// Path segment under `/api/` and name of the store table.
    pub fn plural(self) -> &'static str {
        match self {
            Kind::Api => "apis",
            Kind::ApiSubscription => "api-subscriptions",
            Kind::Route => "routes",
            Kind::Backend => "backends",
            Kind::Group => "groups",
            Kind::ApiKey => "apikeys",
            Kind::Certificate => "certificates",
            Kind::JwtVerifier => "jwt-verifiers",
            Kind::Draft => "drafts",
            Kind::GlobalConfig => "global-configs",
            Kind::Developer => "developers",
            Kind::ApiDocument => "api-documents",
        }
    }

    /// Whether the kind holds one document only (exported as an object, not an array).
    pub fn is_singleton(self) -> bool {
        self == Kind::GlobalConfig
    }

    /// Otoroshi's kind name (`GET /apis/entities`).
    pub fn name(self) -> &'static str {
        match self {
            Kind::Api => "Api",
            Kind::ApiSubscription => "ApiSubscription",
            Kind::Route => "Route",
            Kind::Backend => "Backend",
            Kind::Group => "ServiceGroup",
            Kind::ApiKey => "Apikey",
            Kind::Certificate => "Certificate",
            Kind::JwtVerifier => "JwtVerifier",
            Kind::Draft => "Draft",
            Kind::GlobalConfig => "GlobalConfig",
            Kind::Developer => "DeveloperAccount",
            Kind::ApiDocument => "ApiDocument",
        }
    }

    /// Otoroshi's API group for the generic admin paths (`/apis/<group>/v1/<plural>`).
    pub fn group(self) -> &'static str {
        match self {
            Kind::Api | Kind::ApiSubscription => "apis.otoroshi.io",
            Kind::Route | Kind::Backend | Kind::Draft => "proxy.otoroshi.io",
            Kind::Group => "organize.otoroshi.io",
            Kind::ApiKey => "apim.otoroshi.io",
            Kind::Certificate => "pki.otoroshi.io",
            Kind::JwtVerifier => "security.otoroshi.io",
            Kind::GlobalConfig => "config.otoroshi.io",
            Kind::Developer | Kind::ApiDocument => "portal.komainu.io",
        }
    }

    /// Plural name on the generic admin paths.
    pub fn generic_plural(self) -> &'static str {
        match self {
            Kind::ApiSubscription => "apisubscriptions",
            Kind::Group => "service-groups",
            other => other.plural(),
        }
    }

    /// Singular name on the generic admin paths.
    pub fn singular(self) -> &'static str {
        match self {
            Kind::Api => "api",
            Kind::ApiSubscription => "apisubscription",
            Kind::Route => "route",
            Kind::Backend => "backend",
            Kind::Group => "service-group",
            Kind::ApiKey => "apikey",
            Kind::Certificate => "certificate",
            Kind::JwtVerifier => "jwt-verifier",
            Kind::Draft => "draft",
            Kind::GlobalConfig => "global-config",
            Kind::Developer => "developer",
            Kind::ApiDocument => "api-document",
        }
    }

    /// The field holding the entity's identity (API keys are keyed by their client id).
    pub fn id_field(self) -> &'static str {
        match self {
            Kind::ApiKey => "clientId",
            _ => "id",
        }
    }

    /// Key of this kind's array in an export document (Otoroshi's export spelling).
    pub fn export_key(self) -> &'static str {
        match self {
            Kind::Api => "apis",
            Kind::ApiSubscription => "apiSubscriptions",
            Kind::Route => "routes",
            Kind::Backend => "backends",
            Kind::Group => "serviceGroups",
            Kind::ApiKey => "apiKeys",
            Kind::Certificate => "certificates",
            Kind::JwtVerifier => "jwtVerifiers",
            Kind::Draft => "drafts",
            Kind::GlobalConfig => "config",
            Kind::Developer => "developers",
            Kind::ApiDocument => "apiDocuments",
        }
    }

    /// The kind served at `/api/<plural>` or `/apis/<group>/v1/<plural>`.
    pub fn from_plural(plural: &str) -> Option<Kind> {
        Kind::ALL
            .into_iter()
            .find(|k| k.plural() == plural || k.generic_plural() == plural)
    }

    /// The kinds whose ids this kind's documents refer to (checked on every write).
    pub fn references(self) -> &'static [Kind] {
        match self {
            Kind::Api => &[Kind::Backend, Kind::JwtVerifier, Kind::ApiDocument],
            Kind::Route => &[Kind::Backend],
            Kind::ApiSubscription => &[Kind::Api],
            Kind::Draft => &[Kind::Backend, Kind::JwtVerifier, Kind::ApiDocument],
            Kind::Certificate | Kind::GlobalConfig => &[Kind::Certificate],
            _ => &[],
        }
    }

    /// The id of `doc`, read from this kind's id field.
    pub fn id_of(self, doc: &serde_json::Value) -> Option<&str> {
        doc.get(self.id_field()).and_then(|v| v.as_str())
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
