//! The catalogue: every published or deprecated API whose documentation is enabled, searchable by
//! name, description and tags.

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use komainu_model::{Api, ApiState};
use maud::html;
use serde::Deserialize;

use crate::page::{self, Face};
use crate::{Web, seg};

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct Search {
    q: String,
}

pub async fn list(State(web): State<Web>, headers: HeaderMap, Query(s): Query<Search>) -> Response {
    let session = super::developer(&web, &headers);
    let needle = s.q.trim().to_lowercase();
    let apis: Vec<Api> = web
        .0
        .api
        .list("/api/apis")
        .await
        .iter()
        .filter_map(|doc| komainu_model::parse::<Api>(doc).ok())
        .filter(super::listed)
        .filter(|a| {
            needle.is_empty()
                || a.name.to_lowercase().contains(&needle)
                || a.description.to_lowercase().contains(&needle)
                || a.tags.iter().any(|t| t.to_lowercase().contains(&needle))
        })
        .collect();
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
                @for a in &apis {
                    article class="card" {
                        h2 { a href={"/apis/" (seg(&a.id))} { (a.name) } }
                        p { (a.description) }
                        p { "Version " (a.version) @if a.state == ApiState::Deprecated { " " (page::badge("deprecated")) } }
                    }
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
