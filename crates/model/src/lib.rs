//! Komainu's entities as Rust types, exactly as an Otoroshi user writes them.
//!
//! Every entity keeps the fields it does not know (`extra`), fills Otoroshi's defaults, and is checked
//! by [`prepare`], which returns *every* problem with its JSON path instead of stopping at the first.
//! This crate does no I/O: references to other stored entities are answered through [`Refs`].

mod access;
mod aliases;
mod api;
mod api_document;
mod apikey;
mod backend;
mod certificate;
mod client;
mod developer;
mod documentation;
mod draft;
mod entity;
mod extra;
mod frontend;
mod global_config;
mod group;
mod ids;
mod jwt_verifier;
mod kind;
mod plan_policy;
mod plugins;
mod route;
mod schema;
mod subscription;

pub use access::{AccessConfig, DEFAULT_TOKEN_LIFETIME_MS, KeyTemplate, MtlsAccess};
pub use api::{
    Api, ApiBackend, ApiBackendClient, ApiBlueprint, ApiClient, ApiDeployment, ApiFlows, ApiRoute,
    ApiState, ApiTesting, DEFAULT_FLOW_ID, DEPRECATED_AT,
};
pub use api_document::ApiDocument;
pub use apikey::{
    ApiKey, AuthorizedEntity, PLAN_META, Restriction, Restrictions, Rotation, SUBSCRIPTION_META,
    SUBSCRIPTION_STATE_META, UNLIMITED,
};
pub use backend::{Backend, HealthCheck, LoadBalancing, LoadBalancingType, NgBackend, NgTarget};
pub use certificate::Certificate;
pub use client::NgClientConfig;
pub use developer::{DeveloperAccount, MAX_EMAIL, MAX_NAME, PASSWORD_HASH_FIELD};
pub use documentation::{
    AccessMode, ApiDocumentation, ApiDocumentationPlan, ApiPricing, DocumentationResource,
    DocumentationSource, PlanStatus,
};
pub use draft::Draft;
pub use entity::{Entity, FieldError, PluginProblem, Refs, parse, prepare, schema, template};
pub use frontend::{NgFrontend, split_domain};
pub use global_config::{ClientAuth, GLOBAL_CONFIG_ID, GlobalConfig, TlsSettings};
pub use group::ServiceGroup;
pub use ids::{random_alphanumeric, uuid};
pub use jwt_verifier::{
    AlgoSettings, JwtVerifier, TokenSource, VerificationSettings, VerifierRef, VerifierStrategy,
};
pub use kind::Kind;
pub use plan_policy::{PlanPolicy, VALIDATION_KINDS, VISIBILITY_KINDS};
pub use plugins::{NgPlugins, PluginSlot};
pub use route::Route;
pub use schema::plan_config as plan_config_schema;
pub use subscription::{ApiSubscription, SubscriptionDates, SubscriptionStatus};

pub use extra::Extra;
