//! Developer portal accounts: list, disable or enable, trust for `semi_public` plans, delete.
//! Disabling or deleting an account ends its portal sessions at once.

use axum::extract::{Path, State};
use axum::http::Method;
use axum::response::Response;
use maud::html;
use serde_json::json;

use super::seg;
use crate::Web;
use crate::form::{AdminWrite, SignedIn, Write};
use crate::page::{self, Face};

pub async fn list(State(web): State<Web>, SignedIn(session): SignedIn) -> Response {
    let accounts = web.0.api.list("/api/developers").await;
    page::render(
        Face::Admin,
        "Developers",
        Some(&super::viewer(&session)),
        html! {
            h1 { "Developer accounts" }
            @if accounts.is_empty() { p { "No developer has signed up yet." } } @else {
                table {
                    thead { tr { th { "E-mail" } th { "Name" } th { "Enabled" } th { "Trusted" } th { "Actions" } } }
                    tbody {
                        @for a in &accounts {
                            @let id = a["id"].as_str().unwrap_or_default();
                            @let enabled = a["enabled"] == true;
                            @let trusted = a["trusted"] == true;
                            tr {
                                td { (a["email"].as_str().unwrap_or_default()) }
                                td { (a["name"].as_str().unwrap_or_default()) }
                                td { (enabled) }
                                td { (trusted) }
                                td {
                                    @for (action, label) in [
                                        (if enabled { "disable" } else { "enable" }, if enabled { "Disable" } else { "Enable" }),
                                        (if trusted { "untrust" } else { "trust" }, if trusted { "Stop trusting" } else { "Trust for semi-public plans" }),
                                        ("delete", "Delete"),
                                    ] {
                                        (page::action_button(&format!("/ui/developers/{}/{action}", seg(id)), &session.csrf, &[], label, a["email"].as_str()))
                                    }
                                }
                            }
                        }
                    }
                }
            }
        },
    )
}

pub async fn act(
    State(web): State<Web>,
    Path((id, action)): Path<(String, String)>,
    Write {
        session, fields, ..
    }: AdminWrite,
) -> Response {
    if action == "delete" && !fields.confirmed() {
        return page::confirm_page(
            Face::Admin,
            &super::viewer(&session),
            &page::Confirm {
                question: "Delete the developer account?",
                consequence: "The developer is signed out and cannot sign in again; their subscriptions keep their own state. This cannot be undone.",
                action: &format!("/ui/developers/{}/delete", seg(&id)),
                hidden: &[],
                yes: "Delete the account",
                back: "/ui/developers",
            },
        );
    }
    let path = format!("/api/developers/{}", seg(&id));
    let (method, body) = match action.as_str() {
        "disable" => (Method::PATCH, Some(json!({"enabled": false}))),
        "enable" => (Method::PATCH, Some(json!({"enabled": true}))),
        "trust" => (Method::PATCH, Some(json!({"trusted": true}))),
        "untrust" => (Method::PATCH, Some(json!({"trusted": false}))),
        _ => (Method::DELETE, None),
    };
    let answer = web.0.api.call(method, &path, body.as_ref()).await;
    if matches!(action.as_str(), "disable" | "delete") && answer.ok() {
        web.0.portal_sessions.end_all_of(&id);
    }
    if answer.ok() {
        return page::see_other("/ui/developers");
    }
    page::render_with(
        answer.status,
        Face::Admin,
        "Developers",
        Some(&super::viewer(&session)),
        html! { h1 { "Nothing was changed" } div class="alert" role="alert" { (answer.message()) } p { a href="/ui/developers" { "Back" } } },
    )
}
