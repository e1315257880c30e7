//! The plugins, one file each, under Otoroshi's names. Adding one: its file here, with its
//! [`PluginDef`], and its line in [`PLUGINS`].

use crate::def::PluginDef;

pub(crate) mod additional_headers;
pub(crate) mod allow_http_methods;
pub mod apikey_calls;
pub(crate) mod basic_auth;
pub(crate) mod body_length;
pub(crate) mod canary;
pub mod client_cert;
pub(crate) mod client_cert_headers;
pub(crate) mod compression;
pub(crate) mod cors;
pub(crate) mod custom_quotas;
pub(crate) mod echo_backend;
pub(crate) mod expected_consumer;
pub(crate) mod fixed_window;
pub(crate) mod force_https;
pub(crate) mod forwarded_headers;
pub(crate) mod global_throttling;
pub(crate) mod header_length;
pub(crate) mod headers_validation;
pub(crate) mod hmac_validator;
pub(crate) mod ip_address_lists;
pub(crate) mod jq;
pub(crate) mod json_schema;
pub(crate) mod jwt_signer;
pub(crate) mod jwt_verification;
pub(crate) mod location_header;
pub(crate) mod maintenance_mode;
pub(crate) mod mirror;
pub(crate) mod missing_headers;
pub(crate) mod otoroshi_headers;
pub(crate) mod override_host;
pub(crate) mod read_only_calls;
pub(crate) mod redirection;
pub(crate) mod remove_headers;
pub(crate) mod response_cache;
pub(crate) mod routing_restrictions;
pub(crate) mod security_headers;
pub(crate) mod service_quotas;
pub(crate) mod static_response;
pub(crate) mod token_bucket;
pub(crate) mod w3c_tracing;

/// Every plugin, in the order the catalogue (`GET /api/plugins/all`) lists them.
pub(crate) const PLUGINS: &[&PluginDef] = &[
    &w3c_tracing::PLUGIN,
    &override_host::PLUGIN,
    &additional_headers::PLUGIN_IN,
    &additional_headers::PLUGIN_OUT,
    &remove_headers::PLUGIN_IN,
    &remove_headers::PLUGIN_OUT,
    &cors::PLUGIN,
    &allow_http_methods::PLUGIN,
    &ip_address_lists::PLUGIN_ALLOWED,
    &ip_address_lists::PLUGIN_BLOCKED,
    &maintenance_mode::PLUGIN,
    &static_response::PLUGIN,
    &redirection::PLUGIN,
    &force_https::PLUGIN,
    &read_only_calls::PLUGIN,
    &compression::PLUGIN_GZIP,
    &compression::PLUGIN_BROTLI,
    &apikey_calls::PLUGIN,
    &body_length::PLUGIN_REQUEST,
    &body_length::PLUGIN_RESPONSE,
    &client_cert::PLUGIN_HAS,
    &client_cert::PLUGIN_MATCHING,
    &client_cert_headers::PLUGIN_CHAIN,
    &client_cert_headers::PLUGIN_RFC9440,
    &token_bucket::PLUGIN,
    &fixed_window::PLUGIN,
    &global_throttling::PLUGIN_GLOBAL,
    &global_throttling::PLUGIN_PER_IP,
    &service_quotas::PLUGIN,
    &custom_quotas::PLUGIN_QUOTAS,
    &custom_quotas::PLUGIN_THROTTLING,
    &jwt_verification::PLUGIN,
    &jwt_verification::PLUGIN_ONLY,
    &jwt_signer::PLUGIN,
    &basic_auth::PLUGIN,
    &hmac_validator::PLUGIN,
    &expected_consumer::PLUGIN,
    &missing_headers::PLUGIN_IN,
    &missing_headers::PLUGIN_OUT,
    &headers_validation::PLUGIN,
    &forwarded_headers::PLUGIN_X,
    &forwarded_headers::PLUGIN_FORWARDED,
    &security_headers::PLUGIN,
    &location_header::PLUGIN,
    &otoroshi_headers::PLUGIN,
    &header_length::PLUGIN_IN,
    &header_length::PLUGIN_OUT,
    &jq::PLUGIN_REQUEST,
    &jq::PLUGIN_RESPONSE,
    &json_schema::PLUGIN_REQUEST,
    &json_schema::PLUGIN_RESPONSE,
    &canary::PLUGIN,
    &mirror::PLUGIN,
    &response_cache::PLUGIN,
    &routing_restrictions::PLUGIN,
    &echo_backend::PLUGIN,
];
