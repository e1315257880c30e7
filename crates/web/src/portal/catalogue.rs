//! The catalogue: every published or deprecated API whose documentation is enabled, searchable by
//! name, description and tags.

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use komainu_model::Kind;
use maud::html;
use serde::Deserialize;
use serde_json::Value;

use crate::page::{self, Face};
use crate::{Web, seg};

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct Search {
    q: String,
    page: usize,
}

/// APIs per catalogue page.
const PER_PAGE: usize = 48;

fn text<'v>(doc: &'v Value, field: &str) -> &'v str {
    doc[field].as_str().unwrap_or_default()
}

/// Whether the stored API document is in the catalogue and matches `needle` (lowercase).
fn shown(doc: &Value, needle: &str) -> bool {
    super::listed(doc)
        && (needle.is_empty()
            || text(doc, "name").to_lowercase().contains(needle)
            || text(doc, "description").to_lowercase().contains(needle)
            || doc["tags"].as_array().into_iter().flatten().any(|t| {
                t.as_str()
                    .is_some_and(|t| t.to_lowercase().contains(needle))
            }))
}

pub async fn list(State(web): State<Web>, headers: HeaderMap, Query(s): Query<Search>) -> Response {
    let session = super::developer(&web, &headers);
    let needle = s.q.trim().to_lowercase();
    let all = web.list(Kind::Api).await;
    let apis: Vec<&Value> = all.iter().filter(|doc| shown(doc, &needle)).collect();
    let page_no = s.page.max(1);
    let pages = apis.len().div_ceil(PER_PAGE).max(1);
    let q = seg(&s.q);
    page::render(
        Face::Portal,
        "APIs",
        session.as_ref().map(super::viewer).as_ref(),
        html! {
            h1 { "APIs" }
            form method="get" action="/" role="search" class="inline" {
                label for="q" { "Search the APIs" }
                input id="q" type="search" name="q" value=(s.q);
                button type="submit" { "Search" }
            }
            @if apis.is_empty() { p { "No API matches." } }
            div class="cards" {
                @for a in apis.iter().skip((page_no - 1) * PER_PAGE).take(PER_PAGE) {
                    article class="card" {
                        h2 { a href={"/apis/" (seg(text(a, "id")))} { (text(a, "name")) } }
                        p { (text(a, "description")) }
                        p { "Version " (text(a, "version")) @if text(a, "state") == "deprecated" { " " (page::badge("deprecated")) } }
                    }
                }
            }
            @if pages > 1 {
                nav aria-label="Pages" {
                    p { "Page " (page_no) " of " (pages) }
                    @if page_no > 1 { a href={"/?q=" (q) "&page=" (page_no - 1)} { "Previous page" } " " }
                    @if page_no < pages { a href={"/?q=" (q) "&page=" (page_no + 1)} { "Next page" } }
                }
            }
        },
    )
}

pub async fn not_found(State(web): State<Web>, headers: HeaderMap) -> Response {
    let session = super::developer(&web, &headers);
    page::render_with(
        StatusCode::NOT_FOUND,
        Face::Portal,
        "Not found",
        session.as_ref().map(super::viewer).as_ref(),
        html! { h1 { "This page does not exist" } p { a href="/" { "All APIs" } } },
    )
}
