//! `ApiDocumentation`: portal content and the plans (consumers) with their access modes and pricing.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::{Extra, FieldError, PlanPolicy, VALIDATION_KINDS, VISIBILITY_KINDS};

/// One page or asset of the documentation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct DocumentationResource {
    pub path: Vec<String>,
    pub title: Option<String>,
    pub description: Option<String>,
    pub content_type: String,
    pub text_content: Option<String>,
    pub json_content: Option<Value>,
    pub base64_content: Option<String>,
    pub url: Option<String>,
    pub site_page: bool,
    pub transform: Option<String>,
    /// The id of an `ApiDocument` holding the content (an imported specification).
    pub document_ref: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

impl Default for DocumentationResource {
    fn default() -> Self {
        DocumentationResource {
            path: Vec::new(),
            title: None,
            description: None,
            content_type: "text/markdown".into(),
            text_content: None,
            json_content: None,
            base64_content: None,
            url: None,
            site_page: false,
            transform: None,
            document_ref: None,
            extra: Extra::new(),
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct DocumentationReference {
    pub title: String,
    pub description: String,
    pub link: String,
    pub icon: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct DocumentationRedirection {
    pub from: String,
    pub to: String,
    #[serde(flatten)]
    pub extra: Extra,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct DocumentationSearch {
    pub enabled: bool,
    #[serde(flatten)]
    pub extra: Extra,
}

impl Default for DocumentationSearch {
    fn default() -> Self {
        DocumentationSearch {
            enabled: true,
            extra: Extra::new(),
        }
    }
}

/// Where remote documentation content is fetched from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct DocumentationSource {
    pub url: String,
    pub headers: BTreeMap<String, String>,
    /// Milliseconds.
    pub timeout: u64,
    pub follow_redirects: bool,
    #[serde(flatten)]
    pub extra: Extra,
}

impl Default for DocumentationSource {
    fn default() -> Self {
        DocumentationSource {
            url: String::new(),
            headers: BTreeMap::new(),
            timeout: 10_000,
            follow_redirects: true,
            extra: Extra::new(),
        }
    }
}

/// How consumers of a plan authenticate.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum AccessMode {
    #[default]
    #[serde(rename = "keyless")]
    Keyless,
    #[serde(rename = "apikey")]
    Apikey,
    #[serde(rename = "mtls")]
    Mtls,
    #[serde(rename = "jwt")]
    Jwt,
    #[serde(rename = "oauth2-local")]
    Oauth2Local,
    #[serde(rename = "oauth2-remote")]
    Oauth2Remote,
}

/// Lifecycle of a plan.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum PlanStatus {
    #[default]
    Staging,
    Published,
    Deprecated,
    Closed,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct ApiPricing {
    pub id: String,
    pub name: String,
    pub enabled: bool,
    pub price: f64,
    pub currency: String,
    pub params: serde_json::Map<String, Value>,
    #[serde(flatten)]
    pub extra: Extra,
}

impl Default for ApiPricing {
    fn default() -> Self {
        ApiPricing {
            id: String::new(),
            name: String::new(),
            enabled: false,
            price: 0.0,
            currency: "EUR".into(),
            params: Default::default(),
            extra: Extra::new(),
        }
    }
}

/// A plan (a "consumer" in Otoroshi's UI): an access mode, its configuration and a price.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct ApiDocumentationPlan {
    pub id: String,
    pub name: String,
    pub description: String,
    pub status: PlanStatus,
    pub access_mode_configuration_type: AccessMode,
    pub access_mode_configuration: serde_json::Map<String, Value>,
    pub pricing: ApiPricing,
    /// Who approves subscriptions: `auto` unless the plan says otherwise.
    #[serde(default = "PlanPolicy::auto")]
    pub validation: PlanPolicy,
    /// Who sees the plan in the portal: `public` unless the plan says otherwise.
    #[serde(default = "PlanPolicy::public")]
    pub visibility: PlanPolicy,
    pub tags: Vec<String>,
    pub metadata: BTreeMap<String, String>,
    #[serde(flatten)]
    pub extra: Extra,
}

impl Default for ApiDocumentationPlan {
    fn default() -> Self {
        ApiDocumentationPlan {
            id: String::new(),
            name: String::new(),
            description: String::new(),
            status: PlanStatus::default(),
            access_mode_configuration_type: AccessMode::default(),
            access_mode_configuration: serde_json::Map::new(),
            pricing: ApiPricing::default(),
            validation: PlanPolicy::auto(),
            visibility: PlanPolicy::public(),
            tags: Vec::new(),
            metadata: BTreeMap::new(),
            extra: Extra::new(),
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct ApiDocumentation {
    pub enabled: bool,
    pub source: Option<DocumentationSource>,
    pub home: DocumentationResource,
    pub logo: DocumentationResource,
    pub references: Vec<DocumentationReference>,
    pub resources: Vec<DocumentationResource>,
    /// Sidebar categories and links, kept as written.
    pub navigation: Vec<Value>,
    pub redirections: Vec<DocumentationRedirection>,
    pub footer: Option<DocumentationResource>,
    pub search: DocumentationSearch,
    pub banner: Option<DocumentationResource>,
    pub plans: Vec<ApiDocumentationPlan>,
    pub metadata: BTreeMap<String, String>,
    pub tags: Vec<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

impl ApiDocumentation {
    pub(crate) fn complete(&mut self, api_id: &str) {
        for (i, p) in self.plans.iter_mut().enumerate() {
            crate::ids::ensure_derived(
                &mut p.id,
                "plan_",
                &[api_id, "plan", &i.to_string(), &p.name],
            );
            if p.name.is_empty() {
                p.name = p.id.clone();
            }
        }
    }

    pub(crate) fn check(&self, errors: &mut Vec<FieldError>) {
        crate::entity::check_unique(
            "documentation.plans",
            self.plans.iter().map(|p| p.id.as_str()),
            errors,
        );
        if let Some(src) = &self.source
            && !(src.url.starts_with("http://") || src.url.starts_with("https://"))
        {
            errors.push(FieldError::new(
                "documentation.source.url",
                "expected an http:// or https:// URL",
            ));
        }
        for (i, p) in self.plans.iter().enumerate() {
            let at = format!("documentation.plans[{i}]");
            p.validation
                .check(&format!("{at}.validation"), &VALIDATION_KINDS, errors);
            let url = p.validation.config["url"].as_str().unwrap_or_default();
            if p.validation.kind == "webhook"
                && !(url.starts_with("http://") || url.starts_with("https://"))
            {
                errors.push(FieldError::new(
                    format!("{at}.validation.config.url"),
                    "a webhook validation needs an http:// or https:// url",
                ));
            }
            p.visibility
                .check(&format!("{at}.visibility"), &VISIBILITY_KINDS, errors);
        }
    }
}
