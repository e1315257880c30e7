//! Subscriptions: the ones waiting for approval first, saying who asks (the developer's e-mail,
//! the application, the API and plan, when), then every other; approve, reject with a reason,
//! rotate the secret, pause, resume, close. Rejecting, rotating and closing are confirmed first.

use std::collections::HashMap;

use axum::extract::{Path, State};
use axum::http::Method;
use axum::response::Response;
use komainu_model::Kind;
use maud::{Markup, html};
use serde_json::{Value, json};

use super::seg;
use crate::Web;
use crate::form::{AdminWrite, Fields, SignedIn, Write};
use crate::page::{self, Face};
use crate::session::Session;

/// The actions a subscription in `status` offers: `(action, label)`.
fn actions(status: &str) -> &'static [(&'static str, &'static str)] {
    match status {
        "pending" => &[("approve", "Approve"), ("reject", "Reject")],
        "enabled" => &[
            ("rotate", "Rotate the secret"),
            ("pause", "Pause"),
            ("close", "Close"),
        ],
        "disabled" | "deprecated" => &[("resume", "Resume"), ("close", "Close")],
        _ => &[],
    }
}

/// What a table shows of the subscriptions' APIs and developers: names by id.
#[derive(Default)]
pub(crate) struct Names {
    apis: HashMap<String, (String, HashMap<String, String>)>,
    developers: HashMap<String, String>,
}

impl Names {
    pub(crate) async fn load(web: &Web) -> Names {
        let mut names = Names::default();
        for api in web.list(Kind::Api).await.iter() {
            let plans = api["documentation"]["plans"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|p| (text(p, "id").into(), text(p, "name").into()))
                .collect();
            names
                .apis
                .insert(text(api, "id").into(), (text(api, "name").into(), plans));
        }
        // Through the admin API, which never shows a password hash.
        for dev in &web.0.api.list("/api/developers").await {
            names
                .developers
                .insert(text(dev, "id").into(), text(dev, "email").into());
        }
        names
    }

    fn api(&self, id: &str) -> String {
        self.apis.get(id).map_or(id.to_string(), |a| a.0.clone())
    }

    fn plan(&self, api: &str, id: &str) -> String {
        self.apis
            .get(api)
            .and_then(|a| a.1.get(id))
            .cloned()
            .unwrap_or_else(|| id.to_string())
    }

    /// The e-mail of the developer who asked, or the client's id for a subscription made here.
    fn asker(&self, sub: &Value) -> String {
        let owner = sub["metadata"]["developer"].as_str().unwrap_or_default();
        self.developers
            .get(owner)
            .cloned()
            .unwrap_or_else(|| text(sub, "owner_ref").into())
    }
}

fn text<'v>(v: &'v Value, field: &str) -> &'v str {
    v[field].as_str().unwrap_or_default()
}

/// A table of subscriptions with their actions; after one, the browser comes back to `back`.
pub(crate) fn table(subs: &[Value], names: &Names, session: &Session, back: &str) -> Markup {
    html! {
        @if subs.is_empty() { p { "None yet." } } @else {
            table {
                thead { tr { th { "Developer" } th { "Application" } th { "API" } th { "Plan" } th { "Asked" } th { "Status" } th { "Actions" } } }
                tbody {
                    @for s in subs {
                        @let id = text(s, "id");
                        @let status = text(s, "status");
                        @let api = text(s, "api_ref");
                        @let name = s["name"].as_str().filter(|n| !n.is_empty()).unwrap_or(id);
                        tr data-subscription=(id) {
                            td class="asker" { (names.asker(s)) }
                            td { (name) }
                            td { a href={"/ui/apis/" (seg(api))} { (names.api(api)) } }
                            td { (names.plan(api, text(s, "plan_ref"))) }
                            td { @if let Some(at) = s["dates"]["created_at"].as_i64() { (page::when(at)) } }
                            td { (page::badge(status)) }
                            td {
                                @for (action, label) in actions(status) {
                                    (page::action_button(&format!("/ui/subscriptions/{}/{action}", seg(id)), &session.csrf, &[("back", back)], label, Some(&format!("{name} of {}", names.asker(s)))))
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
    let names = Names::load(&web).await;
    let (pending, others): (Vec<Value>, Vec<Value>) =
        subs.iter().cloned().partition(|s| s["status"] == "pending");
    page::render(
        Face::Admin,
        "Subscriptions",
        Some(&super::viewer(&session)),
        html! {
            h1 { "Subscriptions" }
            h2 { "Waiting for approval" }
            (table(&pending, &names, &session, "/ui/subscriptions"))
            h2 { "All others" }
            (table(&others, &names, &session, "/ui/subscriptions"))
        },
    )
}

/// The confirmation step of rejecting (with the reason the developer is shown), rotating and
/// closing.
fn confirm(session: &Session, id: &str, action: &str, back: &str) -> Response {
    let (question, consequence, yes) = match action {
        "reject" => (
            "Reject the subscription?",
            "The developer is told, with the reason below, and the subscription is closed.",
            "Reject",
        ),
        "rotate" => (
            "Rotate the secret?",
            "The key gets a new secret; the current one keeps working for the plan's grace period, then is refused. The developer is told.",
            "Rotate the secret",
        ),
        _ => (
            "Close the subscription?",
            "Its credentials stop working at once, and a closed subscription cannot be reopened.",
            "Close the subscription",
        ),
    };
    let action_url = format!("/ui/subscriptions/{}/{action}", seg(id));
    if action != "reject" {
        return page::confirm_page(
            Face::Admin,
            &super::viewer(session),
            &page::Confirm {
                question,
                consequence,
                action: &action_url,
                hidden: &[("back", back)],
                yes,
                back,
            },
        );
    }
    page::render(
        Face::Admin,
        question,
        Some(&super::viewer(session)),
        html! {
            h1 { (question) }
            p class="consequence" { (consequence) }
            form method="post" action=(action_url) {
                (page::csrf_input(&session.csrf))
                input type="hidden" name="confirm" value="yes";
                input type="hidden" name="back" value=(back);
                label for="f-reason" { "Reason (shown to the developer)" }
                textarea id="f-reason" name="reason" maxlength="2000" rows="4" {}
                button type="submit" class="danger" { (yes) }
                " " a href=(back) { "Cancel" }
            }
        },
    )
}

/// Where the browser goes back to after an action: a page of the UI, never elsewhere.
fn back(fields: &Fields) -> &str {
    let back = fields.get("back");
    if back.starts_with("/ui/") {
        back
    } else {
        "/ui/subscriptions"
    }
}

pub async fn act(
    State(web): State<Web>,
    Path((id, action)): Path<(String, String)>,
    Write {
        session, fields, ..
    }: AdminWrite,
) -> Response {
    if matches!(action.as_str(), "reject" | "rotate" | "close") && !fields.confirmed() {
        return confirm(&session, &id, &action, back(&fields));
    }
    let path = format!("/api/api-subscriptions/{}", seg(&id));
    let answer = match action.as_str() {
        "reject" => {
            let reason = json!({"reason": fields.get("reason")});
            let at = format!("{path}/_reject");
            web.0.api.call(Method::POST, &at, Some(&reason)).await
        }
        "rotate" => {
            let at = format!("{path}/_rotate");
            web.0.api.call(Method::POST, &at, None).await
        }
        action => {
            let patch = match action {
                "approve" | "resume" => json!({"status": "enabled", "enabled": true}),
                "pause" => json!({"status": "disabled", "enabled": false}),
                "close" => json!({"status": "closed"}),
                _ => json!(null),
            };
            web.0.api.call(Method::PATCH, &path, Some(&patch)).await
        }
    };
    if answer.ok() {
        return page::see_other(back(&fields));
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
