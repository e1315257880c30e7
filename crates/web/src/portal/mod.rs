//! The developer portal on `--portal-addr`: the catalogue of published, documented APIs, their
//! pages and reference, plans, developer accounts and self-service subscriptions.

mod account;
pub mod accounts;
pub(crate) use account::{SIGNUP_WINDOW, SIGNUPS_PER_ADDRESS};
mod catalogue;
mod docs;
mod password;
mod recovery;
pub(crate) mod reference;
mod settings;
mod subscribe;
mod webhook;

use axum::Router;
use axum::http::HeaderMap;
use axum::routing::{get, post};
use komainu_model::{Api, ApiDocumentationPlan, PlanStatus};
use serde_json::Value;

use crate::Web;
use crate::page::Viewer;
use crate::session::Session;

pub fn router(web: Web) -> Router {
    Router::new()
        .route("/", get(catalogue::list))
        .route("/assets/{name}", get(crate::assets::serve))
        .route("/apis/{id}", get(docs::home))
        .route("/apis/{id}/pages/{*path}", get(docs::page))
        .route("/apis/{id}/reference", get(reference::page))
        .route("/apis/{id}/reference/{tag}", get(reference::tag))
        .route("/apis/{id}/schemas", get(reference::schemas))
        .route("/apis/{id}/try", post(reference::try_it))
        .route("/apis/{id}/subscribe", post(subscribe::subscribe))
        .route("/signup", get(account::signup_form).post(account::signup))
        .route("/signin", get(account::signin_form).post(account::signin))
        .route("/signout", post(account::signout))
        .route("/verify", get(recovery::verify).post(recovery::resend))
        .route("/forgot", get(recovery::forgot_form).post(recovery::forgot))
        .route("/reset", get(recovery::reset_form).post(recovery::reset))
        .route("/account", get(subscribe::account))
        .route("/account/settings", get(settings::page))
        .route("/account/settings/{action}", post(settings::act))
        .route("/subscriptions/{id}/{action}", post(subscribe::act))
        .fallback(catalogue::not_found)
        .with_state(web)
}

/// The signed-in developer, if any.
pub(crate) fn developer(web: &Web, headers: &HeaderMap) -> Option<Session> {
    web.0.portal_sessions.get(headers)
}

pub(crate) fn viewer(s: &Session) -> Viewer<'_> {
    Viewer {
        name: &s.display,
        csrf: &s.csrf,
    }
}

/// Whether the portal shows the stored API document: published or deprecated, with its
/// documentation enabled.
pub(crate) fn listed(doc: &Value) -> bool {
    matches!(doc["state"].as_str(), Some("published" | "deprecated"))
        && doc["documentation"]["enabled"] == true
}

/// The plans a developer sees: not closed, `public` or `semi_public` (never `private`, nor a
/// `custom` visibility this gateway does not evaluate).
pub(crate) fn visible_plans(api: &Api) -> impl Iterator<Item = &ApiDocumentationPlan> {
    api.documentation.plans.iter().filter(|p| {
        matches!(p.status, PlanStatus::Published | PlanStatus::Deprecated)
            && matches!(komainu_apim::visibility_kind(p), "public" | "semi_public")
    })
}

/// The listed API with `id`, typed: read from the kept list of APIs, so an API of 1,200 routes
/// costs no admin API round trip (its JSON written and read back) per page.
pub(crate) async fn listed_api(web: &Web, id: &str) -> Option<Api> {
    let apis = web.list(komainu_model::Kind::Api).await;
    let doc = apis.iter().find(|a| a["id"] == id)?;
    if !listed(doc) {
        return None;
    }
    komainu_model::parse(doc).ok()
}
