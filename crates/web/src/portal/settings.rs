//! A developer's own account: a new password, a new e-mail address (proven again by mail when
//! the portal sends mail), and deleting the account with its subscriptions and their keys. Each
//! asks for the current password, so a session left open elsewhere cannot take the account over.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::Response;
use komainu_model::{DeveloperAccount, Kind};
use maud::html;
use serde_json::json;

use crate::form::{PortalWrite, Write};
use crate::page::{self, Face, Problems};
use crate::session::Session;
use crate::{Web, seg};

async fn account(web: &Web, id: &str) -> Option<DeveloperAccount> {
    let doc = web.0.store.get(Kind::Developer, id).await.ok()??;
    komainu_model::parse(&doc).ok()
}

fn settings_page(
    session: &Session,
    status: StatusCode,
    email: &str,
    problems: &Problems,
    notice: &str,
) -> Response {
    let csrf = &session.csrf;
    page::render_with(
        status,
        Face::Portal,
        "Account settings",
        Some(&super::viewer(session)),
        html! {
            h1 { "Account settings" }
            @if !notice.is_empty() { div class="notice" role="status" { (notice) } }
            (problems.summary(&["current", "password", "email", "confirm"]))
            h2 { "Password" }
            form method="post" action="/account/settings/password" {
                (page::csrf_input(csrf))
                (page::input_of("password", "Current password", "current", "", problems.at("current"), true))
                (page::input_of("password", &format!("New password (at least {} characters)", super::password::MIN_PASSWORD), "password", "", problems.at("password"), true))
                button type="submit" { "Change the password" }
            }
            h2 { "E-mail address" }
            p { "Now: " strong { (email) } }
            form method="post" action="/account/settings/email" {
                (page::csrf_input(csrf))
                (page::input_with_id("email", "New e-mail address", "f-new-email", "email", "", problems.at("email"), true))
                (page::input_with_id("password", "Current password", "f-email-current", "current", "", None, true))
                button type="submit" { "Change the address" }
            }
            h2 { "Delete the account" }
            p { "Your subscriptions end and their keys stop working at once. This cannot be undone." }
            form method="post" action="/account/settings/delete" {
                (page::csrf_input(csrf))
                (page::input_with_id("password", "Current password", "f-delete-current", "current", "", None, true))
                div class="field check" {
                    input type="checkbox" id="f-confirm" name="confirm" value="yes";
                    label for="f-confirm" { "I understand: delete my account" }
                }
                button type="submit" { "Delete my account" }
            }
        },
    )
}

pub async fn page(State(web): State<Web>, headers: HeaderMap) -> Response {
    let Some(session) = super::developer(&web, &headers) else {
        return page::see_other("/signin");
    };
    let email = account(&web, &session.who)
        .await
        .map(|a| a.email)
        .unwrap_or_default();
    settings_page(&session, StatusCode::OK, &email, &Problems::default(), "")
}

fn refused(field: &str, message: &str) -> Problems {
    Problems {
        message: Some("Nothing was changed.".into()),
        fields: vec![(field.into(), message.into())],
    }
}

pub async fn act(
    State(web): State<Web>,
    headers: HeaderMap,
    Path(action): Path<String>,
    Write {
        session, fields, ..
    }: PortalWrite,
) -> Response {
    let Some(me) = account(&web, &session.who).await else {
        return page::see_other("/signin");
    };
    let again = |problems: Problems| {
        settings_page(&session, StatusCode::BAD_REQUEST, &me.email, &problems, "")
    };
    if !super::password::password_matches(&me.password_hash, fields.get("current")).await {
        return again(refused("current", "this is not your current password"));
    }
    let at = format!("/api/developers/{}", seg(&me.id));
    match action.as_str() {
        "password" => {
            if let Some(p) = super::password::password_problem(fields.get("password")) {
                return again(refused("password", &p));
            }
            let Some(hash) = super::password::hashed(fields.get("password")).await else {
                return again(Problems::message(
                    "The password could not be hashed: nothing was changed.",
                ));
            };
            let answer = web
                .0
                .api
                .call(Method::PATCH, &at, Some(&json!({"password_hash": hash})))
                .await;
            if !answer.ok() {
                return again(Problems::of(&answer));
            }
            // Every other session of the account ends; this one starts afresh.
            web.0.portal_sessions.end_all_of(&me.id);
            super::account::signed_in(&web, &me.id, &me.email, &headers)
        }
        "email" => {
            let email = fields.get("email").trim().to_string();
            if !email.contains('@') || email.chars().count() > komainu_model::MAX_EMAIL {
                return again(refused("email", "expected an e-mail address"));
            }
            if super::accounts::find(&web, &email).await.is_some() {
                return again(refused("email", "another account has this address"));
            }
            let mails = web.0.portal.notifier.is_some();
            let answer = web
                .0
                .api
                .call(
                    Method::PATCH,
                    &at,
                    Some(&json!({"email": email, "verified": !mails})),
                )
                .await;
            if !answer.ok() {
                return again(Problems::of(&answer));
            }
            web.0.accounts.note(&me.id, &email);
            if !mails {
                return super::account::signed_in(&web, &me.id, &email, &headers);
            }
            let moved = DeveloperAccount {
                email: email.clone(),
                ..me
            };
            super::recovery::send_proof(&web, &moved);
            web.0.portal_sessions.end_all_of(&moved.id);
            page::see_other("/signin?moved")
        }
        "delete" => {
            if fields.get("confirm") != "yes" {
                return again(refused("confirm", "tick the box to confirm"));
            }
            for sub in super::subscribe::owned(&web, &me.id).await {
                let path = format!("/api/api-subscriptions/{}", seg(&sub.id));
                let answer = web.0.api.call(Method::DELETE, &path, None).await;
                if !answer.ok() {
                    return again(Problems::of(&answer));
                }
            }
            let answer = web.0.api.call(Method::DELETE, &at, None).await;
            if !answer.ok() {
                return again(Problems::of(&answer));
            }
            web.0.portal_sessions.end_all_of(&me.id);
            page::see_other_with_cookie("/?deleted", web.0.portal_sessions.end(&headers))
        }
        _ => again(Problems::message("No such change.")),
    }
}
