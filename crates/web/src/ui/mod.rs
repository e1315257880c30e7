//! The admin UI on the admin listener: `/` redirects to `/ui/`; every page but sign-in needs an
//! admin session, and every write a CSRF token and a same-site origin.

mod api_forms;
mod api_page;
mod apis;
mod chart;
mod dashboard;
mod developers;
mod entities;
mod flows;
mod signin;
mod subscriptions;
mod traffic;
mod transfer;

use axum::Router;
use axum::response::Redirect;
use axum::routing::{get, post};

use crate::Web;
use crate::page::Viewer;
use crate::session::Session;

pub fn router(web: Web) -> Router {
    Router::new()
        .route("/", get(|| async { Redirect::to("/ui/") }))
        .route("/ui", get(|| async { Redirect::to("/ui/") }))
        .route("/ui/assets/{name}", get(crate::assets::serve))
        .route("/ui/signin", get(signin::form).post(signin::submit))
        .route("/ui/signout", post(signin::sign_out))
        .route("/ui/", get(dashboard::page))
        .route("/ui/dashboard/traffic", get(dashboard::traffic))
        .route("/ui/apis", get(apis::list).post(apis::create))
        .route("/ui/apis/new", get(apis::new_form))
        .route("/ui/apis/{id}", get(api_page::page))
        .route("/ui/apis/{id}/{action}", post(api_page::act))
        .route("/ui/subscriptions", get(subscriptions::list))
        .route("/ui/subscriptions/{id}/{action}", post(subscriptions::act))
        .route("/ui/developers", get(developers::list))
        .route("/ui/developers/{id}/{action}", post(developers::act))
        .route(
            "/ui/entities/{plural}",
            get(entities::list).post(entities::create),
        )
        .route(
            "/ui/entities/{plural}/{id}",
            get(entities::edit).post(entities::save),
        )
        .route("/ui/entities/{plural}/{id}/delete", post(entities::delete))
        .route("/ui/transfer", get(transfer::page))
        .route("/ui/transfer/export", get(transfer::export))
        .route("/ui/transfer/{action}", post(transfer::act))
        .with_state(web)
}

pub(crate) fn viewer(s: &Session) -> Viewer<'_> {
    Viewer {
        name: &s.display,
        csrf: &s.csrf,
    }
}

pub(crate) use crate::seg;
