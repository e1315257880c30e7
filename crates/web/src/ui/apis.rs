//! The API list (search by name, id or domain; filter by state) and the new-API form.

use axum::extract::{Query, State};
use axum::http::Method;
use axum::response::Response;
use komainu_model::Kind;
use maud::html;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::Web;
use crate::form::{AdminWrite, Fields, SignedIn, Write};
use crate::page::{self, Face, Problems};

/// APIs shown per page of the list.
const PER_PAGE: usize = 50;

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct ListQuery {
    q: String,
    state: String,
    page: usize,
}

pub async fn list(
    State(web): State<Web>,
    SignedIn(session): SignedIn,
    Query(query): Query<ListQuery>,
) -> Response {
    let needle = query.q.trim().to_lowercase();
    let all = web.list(Kind::Api).await;
    let apis: Vec<&Value> = all
        .iter()
        .filter(|a| query.state.is_empty() || a["state"] == query.state.as_str())
        .filter(|a| {
            needle.is_empty()
                || ["id", "name", "domain", "context_path"].iter().any(|f| {
                    a[*f]
                        .as_str()
                        .is_some_and(|v| v.to_lowercase().contains(&needle))
                })
        })
        .collect();
    let page_no = query.page.max(1);
    let pages = apis.len().div_ceil(PER_PAGE).max(1);
    let shown = apis.iter().skip((page_no - 1) * PER_PAGE).take(PER_PAGE);
    page::render(
        Face::Admin,
        "APIs",
        Some(&super::viewer(&session)),
        html! {
            h1 { "APIs" }
            p { a href="/ui/apis/new" { "Create an API" } " · " a href="/ui/transfer" { "Import an OpenAPI document" } }
            form method="get" action="/ui/apis" class="inline" role="search" {
                label for="q" { "Search" }
                input id="q" type="search" name="q" value=(query.q);
                label for="state" { "State" }
                select id="state" name="state" {
                    option value="" selected[query.state.is_empty()] { "any" }
                    @for s in ["staging", "published", "deprecated", "removed"] {
                        option value=(s) selected[query.state == s] { (s) }
                    }
                }
                button type="submit" { "Filter" }
            }
            p { (apis.len()) " APIs" @if pages > 1 { ", page " (page_no) " of " (pages) } }
            table {
                thead { tr { th { "Name" } th { "State" } th { "Domain" } th { "Context path" } th { "Routes" } } }
                tbody {
                    @for a in shown {
                        @let id = a["id"].as_str().unwrap_or_default();
                        tr {
                            td { a href={"/ui/apis/" (super::seg(id))} { (a["name"].as_str().unwrap_or(id)) } }
                            td { (page::badge(a["state"].as_str().unwrap_or_default())) }
                            td { (a["domain"].as_str().unwrap_or_default()) }
                            td { (a["context_path"].as_str().unwrap_or_default()) }
                            td { (a["routes"].as_array().map_or(0, Vec::len)) }
                        }
                    }
                }
            }
            @if pages > 1 {
                nav aria-label="Pages" {
                    @if page_no > 1 { a href={"/ui/apis?page=" (page_no - 1) "&state=" (query.state) "&q=" (query.q)} { "Previous page" } " " }
                    @if page_no < pages { a href={"/ui/apis?page=" (page_no + 1) "&state=" (query.state) "&q=" (query.q)} { "Next page" } }
                }
            }
        },
    )
}

fn new_api_page(
    session: &crate::session::Session,
    fields: &Fields,
    problems: &Problems,
) -> Response {
    let status = problems.status();
    let shown = ["name", "domain", "context_path", "backend"];
    page::render_with(
        status,
        Face::Admin,
        "New API",
        Some(&super::viewer(session)),
        html! {
            h1 { "Create an API" }
            (problems.summary(&shown))
            form method="post" action="/ui/apis" {
                (page::csrf_input(&session.csrf))
                (page::field("Name", "name", fields.get("name"), problems, "name"))
                (page::field("Domain (empty: any host)", "domain", fields.get("domain"), problems, "domain"))
                (page::field("Context path", "context_path", fields.get("context_path"), problems, "context_path"))
                (page::field("Backend URL (http://host:port)", "backend", fields.get("backend"), problems, "backend"))
                label for="f-access" { "Who may call it" }
                select id="f-access" name="access" {
                    @for (value, text) in ACCESS {
                        option value=(value) selected[fields.get("access") == value] { (text) }
                    }
                }
                button type="submit" { "Create API" }
            }
        },
    )
}

/// The first plan of an API made with the form: an API answers only the calls a plan admits.
const ACCESS: [(&str, &str); 3] = [
    (
        "apikey",
        "Developers with an API key (a plan they subscribe to)",
    ),
    ("keyless", "Anyone, without credentials (an open plan)"),
    ("none", "Nobody yet (I will add plans)"),
];

/// The plans an API made with the form starts with.
fn first_plans(access: &str) -> Value {
    match access {
        "keyless" | "apikey" => json!([{"id": "default", "name": "Default", "status": "published",
                                        "access_mode_configuration_type": access}]),
        _ => json!([]),
    }
}

pub async fn new_form(SignedIn(session): SignedIn) -> Response {
    new_api_page(&session, &Fields(Vec::new()), &Problems::default())
}

/// `http://host:port` as a backend target, or what is wrong with it.
fn target(url: &str) -> Result<Value, String> {
    let (tls, rest) = match url.trim() {
        u if u.starts_with("https://") => (true, &u[8..]),
        u if u.starts_with("http://") => (false, &u[7..]),
        _ => return Err("expected http://host:port or https://host:port".into()),
    };
    let authority = rest.split('/').next().unwrap_or_default();
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p)) => (
            h,
            p.parse::<u16>()
                .map_err(|_| format!("\"{p}\" is not a port number"))?,
        ),
        None => (authority, if tls { 443 } else { 80 }),
    };
    if host.is_empty() {
        return Err("the URL has no host".into());
    }
    Ok(json!({"hostname": host, "port": port, "tls": tls}))
}

/// A new API named like another, or served where another is (same domain and context path):
/// accepted by the admin API, but almost always a mistake the form names.
async fn clashes(web: &Web, fields: &Fields) -> Vec<(String, String)> {
    let apis = web.list(komainu_model::Kind::Api).await;
    let name = fields.get("name").trim();
    fn place(a: &Value) -> (&str, &str) {
        let domain = a["domain"].as_str().unwrap_or_default();
        let context = a["context_path"].as_str().unwrap_or_default();
        (domain, context.trim_end_matches('/'))
    }
    let here = (
        fields.get("domain").trim(),
        fields.get("context_path").trim().trim_end_matches('/'),
    );
    let mut out = Vec::new();
    if let Some(a) = apis.iter().find(|a| {
        a["name"]
            .as_str()
            .is_some_and(|n| n.eq_ignore_ascii_case(name))
    }) {
        out.push((
            "name".into(),
            format!(
                "an API is named so already ({}): choose another name",
                a["id"].as_str().unwrap_or_default()
            ),
        ));
    }
    if let Some(a) = apis.iter().find(|a| place(a) == here) {
        out.push((
            "context_path".into(),
            format!(
                "the API {} is served here already: choose another domain or context path",
                a["name"].as_str().unwrap_or_default()
            ),
        ));
    }
    out
}

pub async fn create(
    State(web): State<Web>,
    Write {
        session, fields, ..
    }: AdminWrite,
) -> Response {
    let mut problems = clashes(&web, &fields).await;
    let target = target(fields.get("backend"));
    if let Err(e) = &target {
        problems.push(("backend".into(), e.clone()));
    }
    let Some(target) = target.ok().filter(|_| problems.is_empty()) else {
        let problems = Problems {
            message: Some("The API was not created.".into()),
            fields: problems,
        };
        return new_api_page(&session, &fields, &problems);
    };
    let doc = json!({
        "name": fields.get("name"),
        "domain": fields.get("domain"),
        "context_path": fields.get("context_path"),
        "backends": [{"id": "default", "name": "default", "backend": {"targets": [target]}}],
        "routes": [{"id": "all", "name": "All paths", "frontend": {"domains": ["/"]}, "backend": "default"}],
        "documentation": {"plans": first_plans(fields.get("access"))},
    });
    let answer = web.0.api.call(Method::POST, "/api/apis", Some(&doc)).await;
    if !answer.ok() {
        return new_api_page(&session, &fields, &Problems::of(&answer));
    }
    let id = answer.body["id"].as_str().unwrap_or_default();
    page::see_other(&format!("/ui/apis/{}", super::seg(id)))
}

#[cfg(test)]
mod tests {
    use super::target;
    use serde_json::json;

    #[test]
    fn backend_urls_become_targets() {
        assert_eq!(
            target("http://127.0.0.1:3000").unwrap(),
            json!({"hostname": "127.0.0.1", "port": 3000, "tls": false})
        );
        assert_eq!(target("https://api.example.com/x").unwrap()["port"], 443);
        assert!(target("ftp://x").is_err());
        assert!(target("http://:80").is_err());
        assert!(target("http://h:port").is_err());
    }
}
