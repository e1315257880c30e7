//! Developer accounts: sign-up (unless `--portal-signup false`), sign-in, sign-out. Passwords
//! are hashed with Argon2id off the async workers; the hash never leaves the store.

use std::net::SocketAddr;
use std::sync::OnceLock;

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::Response;
use komainu_model::{DeveloperAccount, Kind};
use maud::html;
use serde_json::json;

use crate::Web;
use crate::form::{Fields, PortalSide, PortalWrite, SameSite};
use crate::page::{self, Face, Problems};

/// Shortest password accepted at sign-up.
const MIN_PASSWORD: usize = 10;

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

async fn find(web: &Web, email: &str) -> Option<DeveloperAccount> {
    let email = email.trim().to_ascii_lowercase();
    let all = web.0.store.list(Kind::Developer).await.ok()?;
    all.iter()
        .filter_map(|d| komainu_model::parse::<DeveloperAccount>(d).ok())
        .find(|d| d.email == email)
}

pub async fn signup(
    State(web): State<Web>,
    SameSite { fields, .. }: SameSite<PortalSide>,
) -> Response {
    if !web.0.portal.signup {
        return closed();
    }
    let password = fields.get("password").to_string();
    if password.chars().count() < MIN_PASSWORD {
        let p = Problems {
            message: Some("The account was not created.".into()),
            fields: vec![(
                "password".into(),
                format!("at least {MIN_PASSWORD} characters"),
            )],
        };
        return signup_page(StatusCode::BAD_REQUEST, &fields, &p);
    }
    if find(&web, fields.get("email")).await.is_some() {
        let p = Problems {
            message: Some("The account was not created.".into()),
            fields: vec![(
                "email".into(),
                "an account with this e-mail exists: sign in".into(),
            )],
        };
        return signup_page(StatusCode::CONFLICT, &fields, &p);
    }
    let hash = tokio::task::spawn_blocking(move || hash(&password)).await;
    let Ok(Ok(hash)) = hash else {
        return signup_page(
            StatusCode::INTERNAL_SERVER_ERROR,
            &fields,
            &Problems::message("The password could not be hashed."),
        );
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    let doc = json!({
        "email": fields.get("email"),
        "name": fields.get("name"),
        "password_hash": hash,
        "created_at": now,
    });
    let answer = web
        .0
        .api
        .call(Method::POST, "/api/developers", Some(&doc))
        .await;
    if !answer.ok() {
        return signup_page(answer.status, &fields, &Problems::of(&answer));
    }
    let id = answer.body["id"].as_str().unwrap_or_default();
    let email = answer.body["email"].as_str().unwrap_or_default();
    signed_in(&web, id, email)
}

/// A hash of nothing anyone knows, checked when no account has the address.
fn decoy() -> &'static str {
    static DECOY: OnceLock<String> = OnceLock::new();
    DECOY.get_or_init(|| hash(&komainu_model::random_alphanumeric(32)).unwrap_or_default())
}

fn hash(password: &str) -> Result<String, argon2::password_hash::Error> {
    let salt = SaltString::generate(&mut argon2::password_hash::rand_core::OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
}

fn signed_in(web: &Web, id: &str, email: &str) -> Response {
    page::see_other_with_cookie("/account", web.0.portal_sessions.start(id, email))
}

fn signin_page(status: StatusCode, email: &str, problem: Option<&str>) -> Response {
    let problems = problem.map(Problems::message).unwrap_or_default();
    page::render_with(
        status,
        Face::Portal,
        "Sign in",
        None,
        html! {
            h1 { "Sign in" }
            (problems.summary(&[]))
            form method="post" action="/signin" {
                (page::input_of("email", "E-mail", "email", email, None, true))
                (page::input_of("password", "Password", "password", "", None, true))
                button type="submit" { "Sign in" }
            }
            p { "No account yet? " a href="/signup" { "Sign up" } }
        },
    )
}

pub async fn signin_form() -> Response {
    signin_page(StatusCode::OK, "", None)
}

pub async fn signin(
    State(web): State<Web>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
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
            return signin_page(StatusCode::TOO_MANY_REQUESTS, &email, Some(&message));
        }
    };
    let account = find(&web, &email).await;
    let password = fields.get("password").to_string();
    let hash = account
        .as_ref()
        .map(|a| a.password_hash.clone())
        .unwrap_or_default();
    // Verified even for an unknown address, so timing does not tell which addresses exist.
    let verified = tokio::task::spawn_blocking(move || {
        let phc = if hash.is_empty() { decoy() } else { &hash };
        PasswordHash::new(phc).is_ok_and(|h| {
            Argon2::default()
                .verify_password(password.as_bytes(), &h)
                .is_ok()
        })
    })
    .await
    .unwrap_or(false);
    if verified {
        attempt.succeeded();
    } else {
        attempt.failed();
    }
    match account {
        Some(a) if verified && a.enabled => signed_in(&web, &a.id, &a.email),
        Some(a) if verified && !a.enabled => signin_page(
            StatusCode::FORBIDDEN,
            &email,
            Some("This account is disabled."),
        ),
        _ => {
            tracing::info!(ip = %peer.ip(), "developer portal sign-in failed");
            signin_page(
                StatusCode::UNAUTHORIZED,
                &email,
                Some("Unknown e-mail address or wrong password."),
            )
        }
    }
}

pub async fn signout(State(web): State<Web>, headers: HeaderMap, _: PortalWrite) -> Response {
    page::see_other_with_cookie("/", web.0.portal_sessions.end(&headers))
}
