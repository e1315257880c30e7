//! Proving an e-mail address and choosing a new password, by links the portal mails (only when
//! it can send e-mail: `--smtp-url`).
//!
//! A link carries a token signed with the cluster's key, bound to what it acts on: an address
//! proof to the account's e-mail (24 hours), a reset to the account's current password hash
//! (1 hour), so a reset link works once — the password it sets unbinds it. Asking for either
//! answers the same whether the address has an account or not, and is rate limited per address.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Query, State};
use axum::http::{Method, StatusCode};
use axum::response::Response;
use hmac::{Hmac, Mac};
use komainu_model::{DeveloperAccount, Kind};
use maud::html;
use serde::Deserialize;
use serde_json::json;
use sha2::Sha256;

use crate::Web;
use crate::form::{PortalSide, SameSite};
use crate::page::{self, Face, Problems};

const VERIFY_FOR_MS: i64 = 24 * 3_600_000;
const RESET_FOR_MS: i64 = 3_600_000;

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

fn signature(key: &[u8], purpose: &str, id: &str, expires: i64, bound: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("any key length");
    for part in [purpose, id, &expires.to_string(), bound] {
        mac.update(part.as_bytes());
        mac.update(&[0]);
    }
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// `<expires>.<signature>.<account id>`.
fn token(key: &[u8], purpose: &str, id: &str, valid_ms: i64, bound: &str) -> String {
    let expires = now_ms() + valid_ms;
    format!(
        "{expires}.{}.{id}",
        signature(key, purpose, id, expires, bound)
    )
}

/// The account a token names, if the token is unexpired and signed for `purpose` over what
/// `bound` says of that account now.
async fn redeem(
    web: &Web,
    purpose: &str,
    token: &str,
    bound: impl Fn(&DeveloperAccount) -> String,
) -> Option<DeveloperAccount> {
    let mut parts = token.splitn(3, '.');
    let expires: i64 = parts.next()?.parse().ok()?;
    let (sig, id) = (parts.next()?, parts.next()?);
    if expires < now_ms() {
        return None;
    }
    let doc = web.0.store.get(Kind::Developer, id).await.ok()??;
    let account = komainu_model::parse::<DeveloperAccount>(&doc).ok()?;
    let key = &web.0.portal.link_key;
    let want = signature(key, purpose, id, expires, &bound(&account));
    bool::from(subtle::ConstantTimeEq::ct_eq(
        want.as_bytes(),
        sig.as_bytes(),
    ))
    .then_some(account)
}

fn notice(status: StatusCode, title: &str, text: &str) -> Response {
    page::render_with(
        status,
        Face::Portal,
        title,
        None,
        html! { h1 { (title) } p role="status" { (text) } p { a href="/signin" { "Sign in" } } },
    )
}

/// Mails `account` the link proving its address; `false` when the portal sends no e-mail.
pub(crate) fn send_proof(web: &Web, account: &DeveloperAccount) -> bool {
    let Some(notifier) = &web.0.portal.notifier else {
        return false;
    };
    let t = token(
        &web.0.portal.link_key,
        "verify",
        &account.id,
        VERIFY_FOR_MS,
        &account.email,
    );
    notifier.mail(komainu_notify::Mail {
        to: account.email.clone(),
        subject: "Confirm your e-mail address".into(),
        body: format!(
            "Confirm the address of your developer account by opening this link (valid 24 hours):\n\n{}/verify?token={t}\n\nIf you did not create an account, ignore this message.\n",
            web.0.portal.url
        ),
    })
}

#[derive(Deserialize)]
pub struct TokenQuery {
    #[serde(default)]
    token: String,
}

/// `GET /verify?token=...`: the address is proven.
pub async fn verify(State(web): State<Web>, Query(q): Query<TokenQuery>) -> Response {
    let Some(account) = redeem(&web, "verify", &q.token, |a| a.email.clone()).await else {
        return notice(
            StatusCode::BAD_REQUEST,
            "This link does not work",
            "It is expired or was not made for this account: sign in to receive a new one.",
        );
    };
    let at = format!("/api/developers/{}", crate::ui::seg(&account.id));
    let answer = web
        .0
        .api
        .call(Method::PATCH, &at, Some(&json!({"verified": true})))
        .await;
    if !answer.ok() {
        return notice(
            answer.status,
            "The address was not confirmed",
            &answer.message(),
        );
    }
    notice(
        StatusCode::OK,
        "Address confirmed",
        "Your account is ready: sign in.",
    )
}

/// `POST /verify` with `email`: the proof is mailed again (same answer for any address).
pub async fn resend(
    State(web): State<Web>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    SameSite { fields, .. }: SameSite<PortalSide>,
) -> Response {
    if web.0.signups.allow(&peer.ip()).is_ok()
        && let Some(account) = super::accounts::find(&web, fields.get("email")).await
        && !account.verified
    {
        send_proof(&web, &account);
    }
    notice(
        StatusCode::OK,
        "Check your e-mail",
        "If this address has an account waiting for its proof, a new link is on its way.",
    )
}

fn forgot_page(status: StatusCode, email: &str, problems: &Problems) -> Response {
    page::render_with(
        status,
        Face::Portal,
        "Forgot your password?",
        None,
        html! {
            h1 { "Forgot your password?" }
            (problems.summary(&["email"]))
            form method="post" action="/forgot" {
                (page::input_of("email", "E-mail", "email", email, problems.at("email"), true))
                button type="submit" { "Mail me a link" }
            }
        },
    )
}

pub async fn forgot_form(State(web): State<Web>) -> Response {
    if web.0.portal.notifier.is_none() {
        return no_mail();
    }
    forgot_page(StatusCode::OK, "", &Problems::default())
}

fn no_mail() -> Response {
    notice(
        StatusCode::NOT_FOUND,
        "Ask the API's team",
        "This portal sends no e-mail: the API's team can set a new password for your account.",
    )
}

/// `POST /forgot` with `email`: a reset link is mailed if the address has an account (the
/// same answer either way).
pub async fn forgot(
    State(web): State<Web>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    SameSite { fields, .. }: SameSite<PortalSide>,
) -> Response {
    let Some(notifier) = web.0.portal.notifier.clone() else {
        return no_mail();
    };
    if web.0.signups.allow(&peer.ip()).is_ok()
        && let Some(account) = super::accounts::find(&web, fields.get("email")).await
    {
        let t = token(
            &web.0.portal.link_key,
            "reset",
            &account.id,
            RESET_FOR_MS,
            &account.password_hash,
        );
        notifier.mail(komainu_notify::Mail {
            to: account.email.clone(),
            subject: "Choose a new password".into(),
            body: format!(
                "Choose a new password for your developer account with this link (valid one hour, once):\n\n{}/reset?token={t}\n\nIf you did not ask for it, ignore this message: your password stays as it is.\n",
                web.0.portal.url
            ),
        });
    }
    notice(
        StatusCode::OK,
        "Check your e-mail",
        "If this address has an account, a link to choose a new password is on its way.",
    )
}

fn reset_page(status: StatusCode, token: &str, problems: &Problems) -> Response {
    page::render_with(
        status,
        Face::Portal,
        "Choose a new password",
        None,
        html! {
            h1 { "Choose a new password" }
            (problems.summary(&["password"]))
            form method="post" action="/reset" {
                input type="hidden" name="token" value=(token);
                (page::input_of("password", &format!("New password (at least {} characters)", super::password::MIN_PASSWORD), "password", "", problems.at("password"), true))
                button type="submit" { "Set the password" }
            }
        },
    )
}

fn bad_reset_link() -> Response {
    notice(
        StatusCode::BAD_REQUEST,
        "This link does not work",
        "It is expired, was used already, or was not made here: ask for a new one.",
    )
}

/// `GET /reset?token=...`: the form, when the link still works.
pub async fn reset_form(State(web): State<Web>, Query(q): Query<TokenQuery>) -> Response {
    match redeem(&web, "reset", &q.token, |a| a.password_hash.clone()).await {
        Some(_) => reset_page(StatusCode::OK, &q.token, &Problems::default()),
        None => bad_reset_link(),
    }
}

/// `POST /reset` with `token` and `password`: the new password, and every session of the
/// account ended.
pub async fn reset(
    State(web): State<Web>,
    SameSite { fields, .. }: SameSite<PortalSide>,
) -> Response {
    let token = fields.get("token").to_string();
    let Some(account) = redeem(&web, "reset", &token, |a| a.password_hash.clone()).await else {
        return bad_reset_link();
    };
    if let Some(problem) = super::password::password_problem(fields.get("password")) {
        let p = Problems {
            message: Some("The password was not changed.".into()),
            fields: vec![("password".into(), problem)],
        };
        return reset_page(StatusCode::BAD_REQUEST, &token, &p);
    }
    let Some(hash) = super::password::hashed(fields.get("password")).await else {
        return notice(
            StatusCode::INTERNAL_SERVER_ERROR,
            "The password was not changed",
            "It could not be hashed: try again.",
        );
    };
    let at = format!("/api/developers/{}", crate::ui::seg(&account.id));
    let patch = json!({"password_hash": hash, "verified": true});
    let answer = web.0.api.call(Method::PATCH, &at, Some(&patch)).await;
    if !answer.ok() {
        return notice(
            answer.status,
            "The password was not changed",
            &answer.message(),
        );
    }
    web.0.portal_sessions.end_all_of(&account.id);
    page::see_other("/signin?reset")
}
