//! Developer accounts: sign-up (unless `--portal-signup false`), sign-in, sign-out. Passwords
//! are hashed with Argon2id off the async workers; the hash never leaves the store.
//!
//! Sign-up answers the same whether the address already has an account or not (a 303 to the
//! sign-in page), so it never tells anyone which addresses have one; its fields are bounded and
//! an address may sign up [`SIGNUPS_PER_ADDRESS`] times per [`SIGNUP_WINDOW`].

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Query, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::Response;
use komainu_model::DeveloperAccount;
use maud::html;
use serde_json::json;

use crate::Web;
use crate::form::{Fields, PortalSide, PortalWrite, SameSite};
use crate::page::{self, Face, Problems};

use super::accounts::find;
use super::password::{MIN_PASSWORD, hashed, password_matches, password_problem};

/// Sign-ups one address may make per window.
pub(crate) const SIGNUPS_PER_ADDRESS: u32 = 5;
pub(crate) const SIGNUP_WINDOW: std::time::Duration = std::time::Duration::from_secs(15 * 60);

fn signup_page(status: StatusCode, fields: &Fields, problems: &Problems) -> Response {
    page::render_with(
        status,
        Face::Portal,
        "Sign up",
        None,
        html! {
            h1 { "Create a developer account" }
            (problems.summary(&["email", "name", "password"]))
            form method="post" action="/signup" {
                (page::input_of("email", "E-mail", "email", fields.get("email"), problems.at("email"), true))
                (page::input_of("text", "Name", "name", fields.get("name"), problems.at("name"), false))
                (page::input_of("password", &format!("Password (at least {MIN_PASSWORD} characters)"), "password", "", problems.at("password"), true))
                button type="submit" { "Create the account" }
            }
            p { "Already have one? " a href="/signin" { "Sign in" } }
        },
    )
}

fn closed() -> Response {
    page::render_with(
        StatusCode::FORBIDDEN,
        Face::Portal,
        "Sign up",
        None,
        html! { h1 { "Sign-up is closed" } p { "Ask the API's team for an account." } },
    )
}

pub async fn signup_form(State(web): State<Web>) -> Response {
    if !web.0.portal.signup {
        return closed();
    }
    signup_page(StatusCode::OK, &Fields(Vec::new()), &Problems::default())
}

/// What is wrong with a sign-up form's fields, each at its field.
fn signup_problems(fields: &Fields) -> Vec<(String, String)> {
    let mut problems = Vec::new();
    if let Some(p) = password_problem(fields.get("password")) {
        problems.push(("password".into(), p));
    }
    for (field, max) in [
        ("email", komainu_model::MAX_EMAIL),
        ("name", komainu_model::MAX_NAME),
    ] {
        if fields.get(field).chars().count() > max {
            problems.push((field.into(), format!("at most {max} characters")));
        }
    }
    problems
}

/// Where a sign-up goes, whether it made an account or found one.
fn signed_up() -> Response {
    page::see_other("/signin?new")
}

pub async fn signup(
    State(web): State<Web>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    SameSite { fields, .. }: SameSite<PortalSide>,
) -> Response {
    if !web.0.portal.signup {
        return closed();
    }
    let problems = signup_problems(&fields);
    if !problems.is_empty() {
        let p = Problems {
            message: Some("The account was not created.".into()),
            fields: problems,
        };
        return signup_page(StatusCode::BAD_REQUEST, &fields, &p);
    }
    if let Err(wait) = web.0.signups.allow(&peer.ip()) {
        let message = format!(
            "Too many sign-ups from this address: try again in {} min.",
            wait.as_secs().div_ceil(60)
        );
        return signup_page(
            StatusCode::TOO_MANY_REQUESTS,
            &fields,
            &Problems::message(message),
        );
    }
    let password = fields.get("password").to_string();
    if find(&web, fields.get("email")).await.is_some() {
        // The same answer as a new account's: nobody learns the address has one.
        return signed_up();
    }
    let Some(hash) = hashed(&password).await else {
        return signup_page(
            StatusCode::INTERNAL_SERVER_ERROR,
            &fields,
            &Problems::message("The password could not be hashed."),
        );
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    // With e-mail, the address is proven before the account is used.
    let mails = web.0.portal.notifier.is_some();
    let doc = json!({
        "email": fields.get("email"),
        "name": fields.get("name"),
        "password_hash": hash,
        "created_at": now,
        "verified": !mails,
    });
    let answer = web
        .0
        .api
        .call(Method::POST, "/api/developers", Some(&doc))
        .await;
    if !answer.ok() {
        return signup_page(answer.status, &fields, &Problems::of(&answer));
    }
    // Known at once, not when the change feed gets here: the next step is signing in.
    if let (Some(id), Some(email)) = (answer.body["id"].as_str(), answer.body["email"].as_str()) {
        web.0.accounts.note(id, email);
    }
    if mails && let Ok(account) = komainu_model::parse::<DeveloperAccount>(&answer.body) {
        super::recovery::send_proof(&web, &account);
    }
    signed_up()
}

pub(crate) fn signed_in(web: &Web, id: &str, email: &str, headers: &HeaderMap) -> Response {
    let secure = crate::session::over_tls(headers);
    page::see_other_with_cookie("/account", web.0.portal_sessions.start(id, email, secure))
}

/// The sign-in page: `notice` says what just happened, `problem` what went wrong; with
/// `unproven`, the address still needs its proof (and the page offers to mail it again).
struct SigninPage<'a> {
    email: &'a str,
    notice: Option<&'a str>,
    problem: Option<&'a str>,
    unproven: bool,
}

fn signin_page(web: &Web, status: StatusCode, p: SigninPage) -> Response {
    let problems = p.problem.map(Problems::message).unwrap_or_default();
    let mails = web.0.portal.notifier.is_some();
    page::render_with(
        status,
        Face::Portal,
        "Sign in",
        None,
        html! {
            h1 { "Sign in" }
            @if let Some(n) = p.notice { p class="notice" role="status" { (n) } }
            (problems.summary(&[]))
            @if p.unproven {
                form method="post" action="/verify" {
                    input type="hidden" name="email" value=(p.email);
                    button type="submit" class="secondary" { "Mail me the link again" }
                }
            }
            form method="post" action="/signin" {
                (page::input_of("email", "E-mail", "email", p.email, None, true))
                (page::input_of("password", "Password", "password", "", None, true))
                button type="submit" { "Sign in" }
            }
            p {
                "No account yet? " a href="/signup" { "Sign up" }
                @if mails { " · " a href="/forgot" { "Forgot your password?" } }
            }
        },
    )
}

pub async fn signin_form(
    State(web): State<Web>,
    Query(q): Query<std::collections::HashMap<String, String>>,
) -> Response {
    let mails = web.0.portal.notifier.is_some();
    let notice = if q.contains_key("new") && mails {
        Some(
            "If this e-mail address had no account, it has one now: follow the link we mailed to it, then sign in with the password you chose.",
        )
    } else if q.contains_key("new") {
        Some(
            "If this e-mail address had no account, it has one now: sign in with the password you chose.",
        )
    } else if q.contains_key("reset") {
        Some("Your password is changed, and every session of the account ended: sign in.")
    } else if q.contains_key("moved") {
        Some("Your e-mail address is changed: follow the link we mailed to it, then sign in.")
    } else {
        None
    };
    let page = SigninPage {
        email: "",
        notice,
        problem: None,
        unproven: false,
    };
    signin_page(&web, StatusCode::OK, page)
}

fn refused<'a>(email: &'a str, problem: &'a str) -> SigninPage<'a> {
    SigninPage {
        email,
        notice: None,
        problem: Some(problem),
        unproven: false,
    }
}

pub async fn signin(
    State(web): State<Web>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    SameSite { fields, .. }: SameSite<PortalSide>,
) -> Response {
    let email = fields.get("email").to_string();
    let attempt = match web.0.portal_lockout.attempt(peer.ip()) {
        Ok(a) => a,
        Err(wait) => {
            let message = format!(
                "Too many failed sign-ins from this address: try again in {} s.",
                wait.as_secs().max(1)
            );
            return signin_page(
                &web,
                StatusCode::TOO_MANY_REQUESTS,
                refused(&email, &message),
            );
        }
    };
    let account = find(&web, &email).await;
    let password = fields.get("password").to_string();
    let hash = account
        .as_ref()
        .map(|a| a.password_hash.clone())
        .unwrap_or_default();
    // Verified even for an unknown address, so timing does not tell which addresses exist.
    let verified = password_matches(&hash, &password).await;
    if verified {
        attempt.succeeded();
    } else {
        attempt.failed();
    }
    match account {
        Some(a) if verified && a.enabled && a.verified => {
            signed_in(&web, &a.id, &a.email, &headers)
        }
        Some(a) if verified && !a.enabled => signin_page(
            &web,
            StatusCode::FORBIDDEN,
            refused(&email, "This account is disabled."),
        ),
        Some(_) if verified => {
            let page = SigninPage {
                unproven: true,
                ..refused(
                    &email,
                    "Confirm your e-mail address first: follow the link we mailed to it.",
                )
            };
            signin_page(&web, StatusCode::FORBIDDEN, page)
        }
        _ => {
            tracing::info!(ip = %peer.ip(), "developer portal sign-in failed");
            signin_page(
                &web,
                StatusCode::UNAUTHORIZED,
                refused(&email, "Unknown e-mail address or wrong password."),
            )
        }
    }
}

pub async fn signout(State(web): State<Web>, headers: HeaderMap, _: PortalWrite) -> Response {
    page::see_other_with_cookie("/", web.0.portal_sessions.end(&headers))
}
