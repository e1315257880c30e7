//! Subscriptions: the ones waiting for approval first (plans with `validation: manual`), then
//! every other; approve, reject, pause, resume, close.

use axum::extract::{Path, State};
use axum::http::Method;
use axum::response::Response;
use komainu_model::Kind;
use maud::{Markup, html};
use serde_json::{Value, json};

use super::seg;
use crate::Web;
use crate::form::{AdminWrite, SignedIn, Write};
use crate::page::{self, Face};
use crate::session::Session;

/// The actions a subscription in `status` offers: `(action, label)`.
fn actions(status: &str) -> &'static [(&'static str, &'static str)] {
    match status {
        "pending" => &[("approve", "Approve"), ("reject", "Reject")],
        "enabled" => &[("pause", "Pause"), ("close", "Close")],
        "disabled" | "deprecated" => &[("resume", "Resume"), ("close", "Close")],
        _ => &[],
    }
}

/// A table of subscriptions with their actions; after one, the browser comes back to `back`.
pub(crate) fn table(subs: &[Value], session: &Session, back: &str) -> Markup {
    html! {
        @if subs.is_empty() { p { "None yet." } } @else {
            table {
                thead { tr { th { "Subscription" } th { "API" } th { "Plan" } th { "Client" } th { "Status" } th { "Actions" } } }
                tbody {
                    @for s in subs {
                        @let id = s["id"].as_str().unwrap_or_default();
                        @let status = s["status"].as_str().unwrap_or_default();
                        tr data-subscription=(id) {
                            td { (s["name"].as_str().filter(|n| !n.is_empty()).unwrap_or(id)) }
                            td { a href={"/ui/apis/" (seg(s["api_ref"].as_str().unwrap_or_default()))} { (s["api_ref"].as_str().unwrap_or_default()) } }
                            td { (s["plan_ref"].as_str().unwrap_or_default()) }
                            td { (s["owner_ref"].as_str().unwrap_or_default()) }
                            td { (page::badge(status)) }
                            td {
                                @for (action, label) in actions(status) {
                                    (page::action_button(&format!("/ui/subscriptions/{}/{action}", seg(id)), &session.csrf, &[("back", back)], label, Some(&format!("subscription {id}"))))
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

pub async fn list(State(web): State<Web>, SignedIn(session): SignedIn) -> Response {
    let subs = web.list(Kind::ApiSubscription).await;
    let (pending, others): (Vec<Value>, Vec<Value>) =
        subs.iter().cloned().partition(|s| s["status"] == "pending");
    page::render(
        Face::Admin,
        "Subscriptions",
        Some(&super::viewer(&session)),
        html! {
            h1 { "Subscriptions" }
            h2 { "Waiting for approval" }
            (table(&pending, &session, "/ui/subscriptions"))
            h2 { "All others" }
            (table(&others, &session, "/ui/subscriptions"))
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
    let patch = match action.as_str() {
        "approve" | "resume" => json!({"status": "enabled", "enabled": true}),
        "pause" => json!({"status": "disabled", "enabled": false}),
        "reject" | "close" => json!({"status": "closed"}),
        _ => json!(null),
    };
    let answer = web
        .0
        .api
        .call(
            Method::PATCH,
            &format!("/api/api-subscriptions/{}", seg(&id)),
            Some(&patch),
        )
        .await;
    if answer.ok() {
        let back = fields.get("back");
        let back = if back.starts_with("/ui/") {
            back
        } else {
            "/ui/subscriptions"
        };
        return page::see_other(back);
    }
    page::render_with(
        answer.status,
        Face::Admin,
        "Subscription",
        Some(&super::viewer(&session)),
        html! {
            h1 { "The subscription was not changed" }
            div class="alert" role="alert" { (answer.message()) }
            p { a href="/ui/subscriptions" { "Back to subscriptions" } }
        },
    )
}
