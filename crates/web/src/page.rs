//! The pages' frame and the pieces every form uses: one layout per face, labelled inputs with
//! their error beside them, and the headers that keep a page from being framed or from running
//! anything but the binary's own script.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use maud::{DOCTYPE, Markup, PreEscaped, html};

/// Which site a page belongs to.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Face {
    Admin,
    Portal,
}

/// Content-Security-Policy of every page: only the binary's own script and style run.
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: https:; \
     connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'; object-src 'none'";

/// Who is signed in on the page, and the token its forms carry.
pub struct Viewer<'a> {
    pub name: &'a str,
    pub csrf: &'a str,
}

fn nav(face: Face, viewer: Option<&Viewer>) -> Markup {
    let links: &[(&str, &str)] = match (face, viewer.is_some()) {
        (Face::Admin, true) => &[
            ("/ui/", "Dashboard"),
            ("/ui/apis", "APIs"),
            ("/ui/subscriptions", "Subscriptions"),
            ("/ui/entities/apikeys", "API keys"),
            ("/ui/entities/groups", "Service groups"),
            ("/ui/entities/certificates", "Certificates"),
            ("/ui/entities/jwt-verifiers", "JWT verifiers"),
            ("/ui/entities/routes", "Routes"),
            ("/ui/entities/backends", "Backends"),
            ("/ui/developers", "Developers"),
            ("/ui/transfer", "Import / export"),
        ],
        (Face::Admin, false) => &[],
        (Face::Portal, true) => &[("/", "APIs"), ("/account", "My subscriptions")],
        (Face::Portal, false) => &[
            ("/", "APIs"),
            ("/signin", "Sign in"),
            ("/signup", "Sign up"),
        ],
    };
    let sign_out = match face {
        Face::Admin => "/ui/signout",
        Face::Portal => "/signout",
    };
    html! {
        nav aria-label="Main" {
            ul {
                @for (href, label) in links { li { a href=(href) { (label) } } }
            }
            @if let Some(v) = viewer {
                form method="post" action=(sign_out) class="signout" {
                    (csrf_input(v.csrf))
                    span { "Signed in as " strong { (v.name) } }
                    button type="submit" { "Sign out" }
                }
            }
        }
    }
}

/// A full page.
pub fn render(face: Face, title: &str, viewer: Option<&Viewer>, body: Markup) -> Response {
    render_with(StatusCode::OK, face, title, viewer, body)
}

pub fn render_with(
    status: StatusCode,
    face: Face,
    title: &str,
    viewer: Option<&Viewer>,
    body: Markup,
) -> Response {
    let site = match face {
        Face::Admin => "Komainu admin",
        Face::Portal => "Developer portal",
    };
    let assets = match face {
        Face::Admin => "/ui/assets",
        Face::Portal => "/assets",
    };
    let page = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · " (site) }
                link rel="stylesheet" href={(assets) "/komainu.css"};
                link rel="icon" href={(assets) "/favicon.svg"};
                script src={(assets) "/komainu.js"} defer {}
            }
            body {
                a href="#main" class="skip" { "Skip to content" }
                header { p class="site" { (site) } (nav(face, viewer)) }
                main id="main" { (body) }
            }
        }
    };
    let mut response = (status, page.into_string()).into_response();
    secure(&mut response, "text/html; charset=utf-8");
    response
}

/// The headers every page and fragment carries.
pub fn secure(response: &mut Response, content_type: &'static str) {
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
}

/// An HTML fragment (what the dashboard's script swaps in).
pub fn fragment(markup: Markup) -> Response {
    let mut response = markup.into_string().into_response();
    secure(&mut response, "text/html; charset=utf-8");
    response
}

/// The hidden field carrying the session's CSRF token.
pub fn csrf_input(token: &str) -> Markup {
    html! { input type="hidden" name="csrf" value=(token); }
}

/// A form of one button: the write `action`, with the session's token and the `hidden` fields.
/// `described` names what the button acts on, for a button whose label repeats down a table.
pub fn action_button(
    action: &str,
    csrf: &str,
    hidden: &[(&str, &str)],
    label: &str,
    described: Option<&str>,
) -> Markup {
    html! {
        form method="post" action=(action) class="inline" {
            (csrf_input(csrf))
            @for (name, value) in hidden { input type="hidden" name=(name) value=(value); }
            button type="submit" class="secondary" aria-label=[described.map(|d| format!("{label} {d}"))] { (label) }
        }
    }
}

/// A moment (milliseconds since the epoch) as people read it: `2026-12-08 14:05 UTC`, which the
/// page's script shows in the viewer's own time zone.
pub fn when(ms: i64) -> Markup {
    let Some(d) = chrono::DateTime::from_timestamp_millis(ms) else {
        return html! {};
    };
    html! { time datetime=(d.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)) data-local { (d.format("%Y-%m-%d %H:%M UTC")) } }
}

/// The confirmation step of a destructive action.
pub struct Confirm<'a> {
    pub question: &'a str,
    /// What the action does, said plainly.
    pub consequence: &'a str,
    /// Where the confirmed form posts (the action itself, with `confirm=yes`).
    pub action: &'a str,
    /// The action's own fields, posted again.
    pub hidden: &'a [(&'a str, &'a str)],
    pub yes: &'a str,
    /// Where "Cancel" goes.
    pub back: &'a str,
}

/// The page asking for a [`Confirm`]ation.
pub fn confirm_page(face: Face, viewer: &Viewer, c: &Confirm) -> Response {
    render(
        face,
        c.question,
        Some(viewer),
        html! {
            h1 { (c.question) }
            p class="consequence" { (c.consequence) }
            form method="post" action=(c.action) {
                (csrf_input(viewer.csrf))
                input type="hidden" name="confirm" value="yes";
                @for (name, value) in c.hidden { input type="hidden" name=(name) value=(value); }
                button type="submit" class="danger" { (c.yes) }
                " " a href=(c.back) { "Cancel" }
            }
        },
    )
}

/// 303 to `to` (after a form write, so reloading the page does not repeat it).
pub fn see_other(to: &str) -> Response {
    Redirect::to(to).into_response()
}

/// 303 to `to`, setting (or clearing) a session cookie.
pub fn see_other_with_cookie(to: &str, cookie: HeaderValue) -> Response {
    let mut response = see_other(to);
    response.headers_mut().insert(header::SET_COOKIE, cookie);
    response
}

/// Field problems of a refused write, by path (`details[].path`).
#[derive(Default)]
pub struct Problems {
    pub message: Option<String>,
    pub fields: Vec<(String, String)>,
}

impl Problems {
    pub fn of(answer: &crate::call::Answer) -> Problems {
        Problems {
            message: Some(answer.message()),
            fields: answer.field_errors(),
        }
    }

    pub fn message(message: impl Into<String>) -> Problems {
        Problems {
            message: Some(message.into()),
            fields: Vec::new(),
        }
    }

    /// The status of a page showing these problems: 400 when a write was refused.
    pub fn status(&self) -> StatusCode {
        if self.message.is_some() {
            StatusCode::BAD_REQUEST
        } else {
            StatusCode::OK
        }
    }

    /// The message for the field at `path`, if the write named it.
    pub fn at(&self, path: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(p, _)| p == path)
            .map(|(_, m)| m.as_str())
    }

    /// The summary at the top of a form: the message and every problem whose field the form
    /// does not show (`shown`).
    pub fn summary(&self, shown: &[&str]) -> Markup {
        let others: Vec<_> = self
            .fields
            .iter()
            .filter(|(p, _)| !shown.contains(&p.as_str()))
            .collect();
        html! {
            @if let Some(m) = &self.message {
                div class="alert" role="alert" {
                    p { (m) }
                    @if !others.is_empty() {
                        ul {
                            @for (path, message) in others {
                                li { code { (if path.is_empty() { "(document)" } else { path.as_str() }) } ": " (message) }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// A labelled input whose error, if any, sits under it and is announced with it.
pub fn field(label: &str, name: &str, value: &str, problems: &Problems, path: &str) -> Markup {
    input_of("text", label, name, value, problems.at(path), false)
}

pub fn input_of(
    kind: &str,
    label: &str,
    name: &str,
    value: &str,
    error: Option<&str>,
    required: bool,
) -> Markup {
    input_with_id(
        kind,
        label,
        &format!("f-{name}"),
        name,
        value,
        error,
        required,
    )
}

/// A labelled input whose id is not derived from its name (forms repeated on one page).
pub fn input_with_id(
    kind: &str,
    label: &str,
    id: &str,
    name: &str,
    value: &str,
    error: Option<&str>,
    required: bool,
) -> Markup {
    let err_id = format!("{id}-error");
    html! {
        div class="field" {
            label for=(id) { (label) }
            input type=(kind) id=(id) name=(name) value=(value) required[required]
                aria-invalid=[error.map(|_| "true")] aria-describedby=[error.map(|_| err_id.as_str())];
            @if let Some(e) = error { p class="error" id=(err_id) { (e) } }
        }
    }
}

/// A labelled text area (JSON editors, Markdown).
pub fn textarea(label: &str, name: &str, value: &str, error: Option<&str>, rows: u32) -> Markup {
    let id = format!("f-{name}");
    let err_id = format!("{id}-error");
    html! {
        div class="field" {
            label for=(id) { (label) }
            textarea id=(id) name=(name) rows=(rows) spellcheck="false"
                aria-invalid=[error.map(|_| "true")] aria-describedby=[error.map(|_| err_id.as_str())] { (value) }
            @if let Some(e) = error { p class="error" id=(err_id) { (e) } }
        }
    }
}

/// Pretty JSON for an editor.
pub fn pretty(v: &serde_json::Value) -> String {
    serde_json::to_string_pretty(v).unwrap_or_default()
}

/// Already-sanitised HTML (the Markdown renderer's output).
pub fn trusted(html: String) -> PreEscaped<String> {
    PreEscaped(html)
}

/// A state badge.
pub fn badge(text: &str) -> Markup {
    html! { span class={"badge badge-" (text)} { (text) } }
}

/// Quotas at or above this are the "no limit" placeholder (Otoroshi's default of 10,000,000).
const NO_LIMIT: u64 = 10_000_000;

/// `12,345`.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A quota in words: `1,000 calls a day`, or none when it is the no-limit placeholder.
pub fn quota(n: Option<u64>, per: &str) -> Option<String> {
    n.filter(|n| *n < NO_LIMIT)
        .map(|n| format!("{} calls {per}", thousands(n)))
}

/// A key's quota report (`GET /api/apikeys/:id/quotas`) in words: for each window with a limit,
/// the calls used and left; "no limit" where there is none.
pub fn quota_report(q: &serde_json::Value) -> Markup {
    let n = |k: &str| q[k].as_u64().unwrap_or_default();
    let windows = [
        (
            "This second",
            "throttlingCallsPerWindow",
            "authorizedCallsPerWindow",
            "remainingCallsPerWindow",
        ),
        (
            "Today",
            "currentCallsPerDay",
            "authorizedCallsPerDay",
            "remainingCallsPerDay",
        ),
        (
            "This month",
            "currentCallsPerMonth",
            "authorizedCallsPerMonth",
            "remainingCallsPerMonth",
        ),
    ];
    html! {
        dl class="props quotas" {
            @for (label, used, allowed, left) in windows {
                dt { (label) }
                dd data-quota=(allowed) {
                    @if n(allowed) >= NO_LIMIT { (thousands(n(used))) " calls, no limit" }
                    @else { (thousands(n(used))) " of " (thousands(n(allowed))) " calls used, " strong { (thousands(n(left))) " left" } }
                }
            }
        }
    }
}
