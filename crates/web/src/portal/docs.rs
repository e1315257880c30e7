//! An API's pages: home, resources (Markdown, JSON, base64 and remote content), the navigation
//! sidebar, redirections, banner, logo, footer, references, search over the pages, and the plans.

use std::collections::HashMap;
use std::time::Duration;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use base64::Engine;
use komainu_model::{Api, ApiDocumentation, DocumentationResource, PlanStatus};
use maud::{Markup, html};
use serde_json::Value;

use crate::page::{self, Face};
use crate::session::Session;
use crate::{Web, markdown, seg};

/// The documentation as the admin API serves it (remote `source` laid over).
async fn documentation(web: &Web, api: &Api) -> ApiDocumentation {
    if api.documentation.source.is_none() {
        return api.documentation.clone();
    }
    let answer = web
        .0
        .api
        .get(&format!("/api/apis/{}/documentation", seg(&api.id)))
        .await;
    serde_json::from_value(answer.body).unwrap_or_else(|_| api.documentation.clone())
}

/// A resource's content as HTML that cannot run script.
async fn content(web: &Web, r: &DocumentationResource) -> Markup {
    let kind = r.content_type.split(';').next().unwrap_or_default().trim();
    let text = if let Some(t) = &r.text_content {
        Some(t.clone())
    } else if let Some(b) = &r.base64_content {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(b.trim())
            .unwrap_or_default();
        if kind.starts_with("image/") && kind != "image/svg+xml" {
            return html! { img src={"data:" (kind) ";base64," (b.trim())} alt=(r.title.clone().unwrap_or_default()); };
        }
        Some(String::from_utf8_lossy(&bytes).into_owned())
    } else if let Some(url) = &r.url {
        Some(remote(web, r, url).await)
    } else {
        None
    };
    if let Some(json) = &r.json_content {
        return html! { pre { code { (page::pretty(json)) } } };
    }
    let text = text.unwrap_or_default();
    match kind {
        "text/markdown" | "text/x-markdown" | "" => page::trusted(markdown::render(&text)),
        "application/json" => {
            let pretty = serde_json::from_str::<Value>(&text).map_or(text, |v| page::pretty(&v));
            html! { pre { code { (pretty) } } }
        }
        // HTML and anything else is shown as text: a page never carries a publisher's markup.
        _ => html! { pre { (text) } },
    }
}

/// A resource's remote content, fetched under the gateway's fetch policy (public addresses only
/// unless `--portal-fetch-private`, bounded in size and time, kept for a while).
async fn remote(web: &Web, r: &DocumentationResource, url: &str) -> String {
    let timeout = r
        .extra
        .get("timeout")
        .and_then(Value::as_u64)
        .unwrap_or(10_000);
    let headers = match r.extra.get("headers") {
        Some(Value::Object(h)) => h
            .iter()
            .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
            .collect(),
        _ => Vec::new(),
    };
    let request = komainu_fetch::Request {
        url: url.to_string(),
        headers,
        timeout: Duration::from_millis(timeout),
        follow_redirects: true,
        max_bytes: 0,
    };
    match web.0.portal.fetcher.get(&request).await {
        Ok(fetched) if (200..300).contains(&fetched.status) => fetched.text(),
        Ok(fetched) => format!(
            "(remote content unavailable: {url} answered {})",
            fetched.status
        ),
        Err(e) => format!("(remote content unavailable: {e})"),
    }
}

fn title_of(r: &DocumentationResource) -> String {
    r.title
        .clone()
        .or_else(|| r.path.first().cloned())
        .unwrap_or_else(|| "Page".into())
}

/// The sidebar: the documentation's `navigation` when given, else every resource.
fn sidebar(api: &Api, doc: &ApiDocumentation) -> Markup {
    let base = format!("/apis/{}", seg(&api.id));
    let link = |item: &Value| -> Markup {
        let label = item["label"].as_str().unwrap_or_default();
        let target = item["link"].as_str().unwrap_or_default();
        let href = if target.starts_with("http://") || target.starts_with("https://") {
            target.to_string()
        } else {
            format!("{base}/pages/{}", target.trim_start_matches('/'))
        };
        html! { li { a href=(href) { (label) } } }
    };
    html! {
        nav class="sidebar" aria-label="Documentation" {
            ul {
                li { a href=(base) { "Overview" } }
                @if super::reference::spec::has_reference(doc) { li { a href={(base) "/reference"} { "API reference" } } }
                @if doc.navigation.is_empty() {
                    @for r in doc.resources.iter().filter(|r| !super::reference::spec::is_reference(r)) {
                        @if let Some(p) = r.path.first() {
                            li { a href={(base) "/pages/" (p.trim_start_matches('/'))} { (title_of(r)) } }
                        }
                    }
                }
                @for sidebar in &doc.navigation {
                    @if let Some(label) = sidebar["label"].as_str() { li { strong { (label) } } }
                    @for item in sidebar["items"].as_array().into_iter().flatten() {
                        @if item["kind"] == "category" {
                            li { (item["label"].as_str().unwrap_or_default()) ul { @for l in item["links"].as_array().into_iter().flatten() { (link(l)) } } }
                        } @else { (link(item)) }
                    }
                }
            }
            @if doc.search.enabled {
                form method="get" action={(base) "/pages/_search"} role="search" {
                    label for="doc-q" { "Search the documentation" }
                    input id="doc-q" type="search" name="q";
                    button type="submit" { "Search" }
                }
            }
        }
    }
}

/// The frame of every documentation page: banner, logo, sidebar, the content, references,
/// footer.
async fn frame(
    web: &Web,
    session: Option<&Session>,
    api: &Api,
    doc: &ApiDocumentation,
    title: &str,
    body: Markup,
) -> Response {
    let banner = match &doc.banner {
        Some(b) => Some(content(web, b).await),
        None => None,
    };
    let footer = match &doc.footer {
        Some(f) => Some(content(web, f).await),
        None => None,
    };
    let has_logo = doc.logo.url.is_some() || doc.logo.base64_content.is_some();
    let logo = if has_logo {
        Some(content(web, &doc.logo).await)
    } else {
        None
    };
    page::render(
        Face::Portal,
        title,
        session.map(super::viewer).as_ref(),
        html! {
            @if let Some(b) = banner { div class="banner" role="note" data-untrusted { (b) } }
            div class="layout" {
                div {
                    @if let Some(l) = logo { div class="logo" data-untrusted { (l) } }
                    (sidebar(api, doc))
                }
                div {
                    p { a href="/" { "APIs" } " / " a href={"/apis/" (seg(&api.id))} { (api.name) } }
                    (body)
                    @if !doc.references.is_empty() {
                        h2 { "References" }
                        ul { @for r in &doc.references { li { a href=(if r.link.starts_with("https://") || r.link.starts_with("http://") { r.link.as_str() } else { "#" }) { (r.title) } " " (r.description) } } }
                    }
                    @if let Some(f) = footer { footer class="doc-footer" data-untrusted { (f) } }
                }
            }
        },
    )
}

pub async fn home(State(web): State<Web>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    let session = super::developer(&web, &headers);
    let Some(api) = super::listed_api(&web, &id).await else {
        return super::catalogue::not_found(State(web), headers).await;
    };
    let doc = documentation(&web, &api).await;
    let home = content(&web, &doc.home).await;
    let plans = plans(&api, session.as_ref());
    let title = api.name.clone();
    let body = html! {
        h1 { (api.name) }
        @if api.state == komainu_model::ApiState::Deprecated { p class="banner" { "This API is deprecated: new integrations should not use it." } }
        div class="doc" data-untrusted { (home) }
        (plans)
    };
    frame(&web, session.as_ref(), &api, &doc, &title, body).await
}

/// What a plan gives: how one calls, the quotas and rate limit of the keys it issues, the price,
/// and whether the API's team approves subscriptions.
fn offer(p: &komainu_model::ApiDocumentationPlan) -> Markup {
    use komainu_model::AccessMode as M;
    let access = match p.access_mode_configuration_type {
        M::Keyless => "No credentials: call it as it is",
        M::Apikey => "An API key (client id and secret)",
        M::Oauth2Local => "OAuth2 client credentials, traded for a bearer token",
        M::Oauth2Remote => "A bearer token from the API's identity provider",
        M::Jwt => "A JWT the API's verifier accepts",
        M::Mtls => "A client certificate, over HTTPS",
    };
    let cfg = &p.access_mode_configuration;
    let n = |k: &str| cfg.get(k).and_then(serde_json::Value::as_u64);
    let limits: Vec<String> = [
        page::quota(n("throttlingQuota"), "a second"),
        page::quota(n("dailyQuota"), "a day"),
        page::quota(n("monthlyQuota"), "a month"),
    ]
    .into_iter()
    .flatten()
    .collect();
    let keyed = matches!(p.access_mode_configuration_type, M::Apikey | M::Oauth2Local);
    let pr = &p.pricing;
    html! {
        dl class="props offer" {
            dt { "Access" } dd { (access) }
            @if keyed { dt { "Quotas" } dd class="quotas" { @if limits.is_empty() { "No limit" } @else { (limits.join(", ")) } } }
            dt { "Price" } dd class="price" { @if pr.enabled && pr.price > 0.0 { (pr.price) " " (pr.currency) @if !pr.name.is_empty() { " · " (pr.name) } } @else { "Free" } }
            dt { "Approval" } dd { @if matches!(komainu_apim::validation_kind(p), "auto" | "webhook") { "Immediate" } @else { "By the API's team" } }
        }
    }
}

fn plans(api: &Api, session: Option<&Session>) -> Markup {
    html! {
        h2 id="plans" { "Plans" }
        div class="cards" {
            @for p in super::visible_plans(api) {
                @let deprecated = p.status == PlanStatus::Deprecated;
                article class="card" data-plan=(p.id) {
                    h3 { (p.name) @if deprecated { " " (page::badge("deprecated")) } }
                    p { (p.description) }
                    (offer(p))
                    @if !deprecated && api.state == komainu_model::ApiState::Published {
                        @if let Some(s) = session {
                            form method="post" action={"/apis/" (seg(&api.id)) "/subscribe"} {
                                (page::csrf_input(&s.csrf))
                                input type="hidden" name="plan" value=(p.id);
                                @let field = format!("f-app-{}", p.id);
                                div class="field" {
                                    label for=(field) { "Application name" }
                                    input type="text" id=(field) name="app" required;
                                }
                                button type="submit" { "Subscribe to " (p.name) }
                            }
                        } @else {
                            p { a href="/signin" { "Sign in" } " to subscribe." }
                        }
                    }
                }
            }
        }
    }
}

pub async fn page(
    State(web): State<Web>,
    headers: HeaderMap,
    Path((id, path)): Path<(String, String)>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let session = super::developer(&web, &headers);
    let Some(api) = super::listed_api(&web, &id).await else {
        return super::catalogue::not_found(State(web), headers).await;
    };
    let doc = documentation(&web, &api).await;
    let wanted = format!("/{}", path.trim_start_matches('/'));
    if path == "_search" && doc.search.enabled {
        let needle = q
            .get("q")
            .map(|s| s.trim().to_lowercase())
            .unwrap_or_default();
        let hits: Vec<&DocumentationResource> = doc
            .resources
            .iter()
            .filter(|r| {
                !needle.is_empty()
                    && (title_of(r).to_lowercase().contains(&needle)
                        || r.text_content
                            .as_deref()
                            .unwrap_or_default()
                            .to_lowercase()
                            .contains(&needle))
            })
            .collect();
        let home = !needle.is_empty()
            && doc
                .home
                .text_content
                .as_deref()
                .unwrap_or_default()
                .to_lowercase()
                .contains(&needle);
        let operations = if needle.is_empty() {
            Vec::new()
        } else {
            super::reference::search(&web, &api, &needle, 100).await
        };
        let body = html! {
            h1 { "Search: " (needle) }
            @if hits.is_empty() && !home && operations.is_empty() { p { "Nothing matches." } }
            ul class="hits" {
                @if home { li { a href={"/apis/" (seg(&api.id))} { "Overview" } } }
                @for r in hits { @if let Some(p) = r.path.first() { li { a href={"/apis/" (seg(&api.id)) "/pages/" (p.trim_start_matches('/'))} { (title_of(r)) } } } }
            }
            @if !operations.is_empty() {
                h2 { "In the API reference" }
                ul class="operations" { @for (label, link) in &operations { li { a href=(link) { (label) } } } }
            }
        };
        return frame(&web, session.as_ref(), &api, &doc, "Search", body).await;
    }
    if let Some(r) = doc
        .redirections
        .iter()
        .find(|r| r.from == wanted || r.from == path)
    {
        let to = &r.to;
        // A local path, or an absolute http(s) URL; never `//host` nor `/\host`, which browsers
        // read as another site.
        let local = to.starts_with('/') && !to.starts_with("//") && !to.contains('\\');
        let safe = local || to.starts_with("https://") || to.starts_with("http://");
        if safe && !to.chars().any(char::is_control) {
            return page::see_other(to);
        }
    }
    let found = doc.resources.iter().find(|r| {
        r.path
            .iter()
            .any(|p| p.trim_start_matches('/') == path.trim_start_matches('/'))
    });
    let Some(resource) = found else {
        let mut response = super::catalogue::not_found(State(web), headers).await;
        *response.status_mut() = StatusCode::NOT_FOUND;
        return response;
    };
    let title = title_of(resource);
    let body = html! {
        h1 { (title) }
        @if let Some(d) = &resource.description { p { (d) } }
        div class="doc" data-untrusted { (content(&web, resource).await) }
    };
    frame(&web, session.as_ref(), &api, &doc, &title, body).await
}
