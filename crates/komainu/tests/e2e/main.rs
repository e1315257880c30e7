//! End-to-end tests: each starts the real `komainu` binary on ephemeral ports, configures it through
//! the admin API and sends real traffic to real upstream servers. One test binary keeps the build
//! small and lets the tests of every area run side by side.

mod support;

mod admin_api;
mod admin_hardening;
mod admin_live;
mod apim_access;
mod apim_journey;
mod apim_lifecycle;
mod apim_notifications;
mod apim_plans;
mod apim_subscriptions;
mod cluster;
mod edge_connections;
mod edge_framing;
mod edge_paths;
mod no_dead_ends;
mod observe;
mod openapi_real;
mod otoroshi_plugins;
mod otoroshi_tooling;
mod persistence;
mod plugins_auth;
mod plugins_bodies;
mod plugins_headers;
mod plugins_limits;
mod plugins_traffic;
mod portal_account;
mod proto_grpc;
mod proto_h2;
mod proto_websocket;
mod proto_websocket_clients;
mod proxy_apikeys;
mod proxy_backends;
mod proxy_ops;
mod proxy_plugins;
mod proxy_routing;
mod readme_tour;
mod security_cache;
mod security_edge;
mod security_limits;
mod security_logs;
mod security_parsers;
mod security_portal;
mod tls_listener;
mod tls_mtls;
mod web_admin_ui;
mod web_forms;
mod web_guards;
mod web_portal;
