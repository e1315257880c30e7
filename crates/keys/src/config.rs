//! `ApikeyCalls` configuration, with Otoroshi's keys and defaults (all optional).

use std::collections::BTreeMap;

use std::sync::{Arc, OnceLock};

use http::HeaderName;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct BasicExtractor {
    pub enabled: bool,
    pub header_name: Option<String>,
    pub query_name: Option<String>,
    /// Otoroshi 18 reads Basic credentials from a cookie or a path segment too: accepted, not
    /// acted on.
    pub cookie_name: Option<String>,
    pub path_name: Option<String>,
}

impl Default for BasicExtractor {
    fn default() -> Self {
        BasicExtractor {
            enabled: true,
            header_name: None,
            query_name: None,
            cookie_name: None,
            path_name: None,
        }
    }
}

#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct CustomHeadersExtractor {
    pub enabled: bool,
    pub client_id_header_name: Option<String>,
    pub client_secret_header_name: Option<String>,
}

impl Default for CustomHeadersExtractor {
    fn default() -> Self {
        CustomHeadersExtractor {
            enabled: true,
            client_id_header_name: None,
            client_secret_header_name: None,
        }
    }
}

#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct ClientIdExtractor {
    pub enabled: bool,
    pub header_name: Option<String>,
    pub query_name: Option<String>,
    /// Accepted, not acted on (see [`BasicExtractor`]).
    pub cookie_name: Option<String>,
    pub path_name: Option<String>,
}

impl Default for ClientIdExtractor {
    fn default() -> Self {
        ClientIdExtractor {
            enabled: true,
            header_name: None,
            query_name: None,
            cookie_name: None,
            path_name: None,
        }
    }
}

#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct JwtExtractor {
    pub enabled: bool,
    pub secret_signed: bool,
    pub keypair_signed: bool,
    pub include_request_attrs: bool,
    pub max_jwt_lifespan_sec: Option<u64>,
    pub header_name: Option<String>,
    pub query_name: Option<String>,
    pub cookie_name: Option<String>,
    /// Accepted, not acted on.
    pub path_name: Option<String>,
}

impl Default for JwtExtractor {
    fn default() -> Self {
        JwtExtractor {
            enabled: true,
            secret_signed: true,
            keypair_signed: true,
            include_request_attrs: false,
            max_jwt_lifespan_sec: None,
            header_name: None,
            query_name: None,
            cookie_name: None,
            path_name: None,
        }
    }
}

/// Otoroshi bearers, read where a JWT or a lone client id would be (`Otoroshi-Token`,
/// `Authorization: Bearer`, `x-api-key`, `bearer_auth`) and from cookie `bearer`. The custom names
/// are accepted, not acted on.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct OtoBearerExtractor {
    pub enabled: bool,
    pub header_name: Option<String>,
    pub query_name: Option<String>,
    pub cookie_name: Option<String>,
    pub path_name: Option<String>,
}

impl Default for OtoBearerExtractor {
    fn default() -> Self {
        OtoBearerExtractor {
            enabled: true,
            header_name: None,
            query_name: None,
            cookie_name: None,
            path_name: None,
        }
    }
}

#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct Extractors {
    pub basic: BasicExtractor,
    pub custom_headers: CustomHeadersExtractor,
    pub client_id: ClientIdExtractor,
    pub jwt: JwtExtractor,
    /// Otoroshi's own bearer tokens (`otoapk_<clientId>_<signature>`).
    pub oto_bearer: OtoBearerExtractor,
    #[serde(skip)]
    names: OnceLock<HeaderNames>,
}

/// The header names extraction reads, parsed once instead of on every request. `None`: the
/// configured name is not a valid header name, so no header can match it.
#[derive(Clone, Debug)]
pub(crate) struct HeaderNames {
    pub client_id: Option<HeaderName>,
    pub client_secret: Option<HeaderName>,
    pub api_key: Option<HeaderName>,
    pub jwt: Option<HeaderName>,
    pub basic: Option<HeaderName>,
}

impl Extractors {
    /// The query parameters credentials are read from (never logged): the renamed ones too.
    pub fn query_params(&self) -> Vec<String> {
        [
            self.client_id.query_name.as_deref().unwrap_or("x-api-key"),
            self.jwt.query_name.as_deref().unwrap_or("bearer_auth"),
            self.basic.query_name.as_deref().unwrap_or("basic_auth"),
        ]
        .map(str::to_string)
        .to_vec()
    }

    pub(crate) fn names(&self) -> &HeaderNames {
        self.names.get_or_init(|| {
            let parse = |configured: Option<&str>, default: &str| {
                HeaderName::try_from(configured.unwrap_or(default)).ok()
            };
            let c = &self.custom_headers;
            HeaderNames {
                client_id: parse(c.client_id_header_name.as_deref(), "otoroshi-client-id"),
                client_secret: parse(
                    c.client_secret_header_name.as_deref(),
                    "otoroshi-client-secret",
                ),
                api_key: parse(self.client_id.header_name.as_deref(), "x-api-key"),
                jwt: parse(self.jwt.header_name.as_deref(), "otoroshi-token"),
                basic: parse(self.basic.header_name.as_deref(), "otoroshi-authorization"),
            }
        })
    }
}

/// Key selection by tags and metadata (a key not matching is refused 401 `errors.invalid.api.key`).
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct KeyRouting {
    pub enabled: bool,
    pub one_tag_in: Vec<String>,
    pub all_tags_in: Vec<String>,
    /// Otoroshi writes this one `none_tagIn`.
    #[serde(alias = "none_tagIn")]
    pub none_tag_in: Vec<String>,
    pub one_meta_in: BTreeMap<String, String>,
    pub all_meta_in: BTreeMap<String, String>,
    pub none_meta_in: BTreeMap<String, String>,
    pub one_meta_key_in: Vec<String>,
    pub all_meta_keys_in: Vec<String>,
    pub none_meta_keys_in: Vec<String>,
}

impl KeyRouting {
    /// Whether a key with `tags` and `meta` passes.
    pub fn accepts(&self, tags: &[String], meta: &BTreeMap<String, String>) -> bool {
        if !self.enabled {
            return true;
        }
        let has_tag = |t: &String| tags.contains(t);
        let has_meta = |(k, v): (&String, &String)| meta.get(k) == Some(v);
        (self.one_tag_in.is_empty() || self.one_tag_in.iter().any(has_tag))
            && self.all_tags_in.iter().all(has_tag)
            && !self.none_tag_in.iter().any(has_tag)
            && (self.one_meta_in.is_empty() || self.one_meta_in.iter().any(has_meta))
            && self.all_meta_in.iter().all(has_meta)
            && !self.none_meta_in.iter().any(has_meta)
            && (self.one_meta_key_in.is_empty()
                || self.one_meta_key_in.iter().any(|k| meta.contains_key(k)))
            && self.all_meta_keys_in.iter().all(|k| meta.contains_key(k))
            && !self.none_meta_keys_in.iter().any(|k| meta.contains_key(k))
    }
}

/// The whole `ApikeyCalls` config.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct ApikeyConfig {
    pub extractors: Extractors,
    pub routing: KeyRouting,
    pub validate: bool,
    pub mandatory: bool,
    pub pass_with_user: bool,
    /// When written in the config (Otoroshi 18), also keeps `Authorization` from the upstream.
    pub wipe_backend_request: Option<bool>,
    pub update_quotas: bool,
    /// Set by an API's plans, never by a config: the plans whose keys this check admits. A key a
    /// subscription issued (metadata `plan_ref`) for another plan of the API is refused here, before
    /// its call is counted.
    #[serde(skip)]
    #[schemars(skip)]
    pub plans: Option<Arc<[Box<str>]>>,
}

impl ApikeyConfig {
    /// Whether a key issued for a plan may call where these plans admit calls.
    pub(crate) fn admits_plan_of(&self, key: &crate::CompiledKey) -> bool {
        match (&self.plans, key.plan()) {
            (Some(plans), Some(plan)) => plans.iter().any(|p| &**p == plan),
            _ => true,
        }
    }
}

impl Default for ApikeyConfig {
    fn default() -> Self {
        ApikeyConfig {
            extractors: Extractors::default(),
            routing: KeyRouting::default(),
            validate: true,
            mandatory: true,
            pass_with_user: false,
            wipe_backend_request: None,
            update_quotas: true,
            plans: None,
        }
    }
}
