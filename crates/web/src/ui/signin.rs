//! Sign-in with the admin credentials (the same lockout as the REST API), and sign-out.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use komainu_admin::SignIn;
use maud::html;

use crate::Web;
use crate::form::{AdminSide, AdminWrite, SameSite};
use crate::page::{self, Face, Problems};

/// Where to go once signed in: a page of the admin UI, never another site (`//evil`, `/\\evil`).
fn landing(next: &str) -> &str {
    let inside = next.starts_with("/ui/") && !next.contains("//") && !next.contains('\\');
    if inside { next } else { "/ui/" }
}

fn sign_in_page(status: StatusCode, problem: Option<&str>, next: &str) -> Response {
    let problems = problem.map(Problems::message).unwrap_or_default();
    page::render_with(
        status,
        Face::Admin,
        "Sign in",
        None,
        html! {
            h1 { "Sign in" }
            (problems.summary(&[]))
            form method="post" action="/ui/signin" {
                input type="hidden" name="next" value=(landing(next));
                (page::input_of("text", "Admin client id", "client_id", "", None, true))
                (page::input_of("password", "Admin client secret", "client_secret", "", None, true))
                button type="submit" { "Sign in" }
            }
        },
    )
}

#[derive(serde::Deserialize, Default)]
#[serde(default)]
pub struct Next {
    next: String,
}

pub async fn form(
    State(web): State<Web>,
    headers: HeaderMap,
    axum::extract::Query(q): axum::extract::Query<Next>,
) -> Response {
    if web.0.admin_sessions.get(&headers).is_some() {
        return page::see_other(landing(&q.next));
    }
    sign_in_page(StatusCode::OK, None, &q.next)
}

pub async fn submit(
    State(web): State<Web>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    SameSite { fields, .. }: SameSite<AdminSide>,
) -> Response {
    let id = fields.get("client_id");
    let next = fields.get("next");
    match web
        .0
        .admin
        .sign_in(peer.ip(), id, fields.get("client_secret"))
    {
        SignIn::Accepted => {
            let secure = crate::session::over_tls(&headers);
            let cookie = web.0.admin_sessions.start(id, id, secure);
            page::see_other_with_cookie(landing(next), cookie)
        }
        SignIn::Refused => sign_in_page(
            StatusCode::UNAUTHORIZED,
            Some("These are not the admin credentials."),
            next,
        ),
        SignIn::LockedOut(wait) => sign_in_page(
            StatusCode::TOO_MANY_REQUESTS,
            Some(&format!(
                "Too many failed sign-ins from this address: try again in {} s.",
                wait.as_secs().max(1)
            )),
            next,
        ),
    }
}

pub async fn sign_out(State(web): State<Web>, headers: HeaderMap, _: AdminWrite) -> Response {
    page::see_other_with_cookie("/ui/signin", web.0.admin_sessions.end(&headers))
}

#[cfg(test)]
mod tests {
    use super::landing;

    #[test]
    fn only_pages_of_the_ui_are_landed_on() {
        assert_eq!(
            landing("/ui/apis/x?section=plans"),
            "/ui/apis/x?section=plans"
        );
        for elsewhere in [
            "https://evil.example/",
            "//evil.example",
            "/ui//evil",
            "/ui/\\evil",
            "/api/apis",
            "",
        ] {
            assert_eq!(landing(elsewhere), "/ui/", "{elsewhere}");
        }
    }
}
