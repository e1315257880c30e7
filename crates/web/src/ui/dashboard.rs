//! The dashboard: APIs by state, and each called API's traffic over the last hour, refreshed
//! every two seconds from one `GET /api/stats`.

use axum::extract::State;
use axum::response::Response;
use komainu_model::Kind;
use maud::{Markup, html};
use serde_json::Value;

use crate::Web;
use crate::form::SignedIn;
use crate::page::{self, Face};

const STATES: [&str; 4] = ["staging", "published", "deprecated", "removed"];

pub async fn page(State(web): State<Web>, SignedIn(session): SignedIn) -> Response {
    let apis = web.list(Kind::Api).await;
    let count = |state: &str| apis.iter().filter(|a| a["state"] == state).count();
    let traffic = traffic_table(&web, &apis).await;
    page::render(
        Face::Admin,
        "Dashboard",
        Some(&super::viewer(&session)),
        html! {
            h1 { "Dashboard" }
            section aria-labelledby="by-state" {
                h2 id="by-state" { "APIs by state" }
                div class="cards" {
                    div class="card" { div class="n" { (apis.len()) } "APIs" }
                    @for state in STATES {
                        a class="card" href={"/ui/apis?state=" (state)} {
                            div class="n" data-state=(state) { (count(state)) } (state)
                        }
                    }
                }
            }
            section aria-labelledby="traffic" {
                h2 id="traffic" { "Traffic, last hour" }
                div id="traffic-table" data-refresh="/ui/dashboard/traffic" data-every="2000" { (traffic) }
            }
        },
    )
}

/// The traffic table alone (what the page's script swaps in).
pub async fn traffic(State(web): State<Web>, _: SignedIn) -> Response {
    let apis = web.list(Kind::Api).await;
    page::fragment(traffic_table(&web, &apis).await)
}

async fn traffic_table(web: &Web, apis: &[Value]) -> Markup {
    let stats = web.0.api.get("/api/stats").await.body;
    let name = |id: &str| {
        apis.iter()
            .find(|a| a["id"] == id)
            .and_then(|a| a["name"].as_str())
            .unwrap_or(id)
            .to_string()
    };
    let rows: Vec<(&String, &Value)> = stats["apis"]
        .as_object()
        .map(|m| m.iter().collect())
        .unwrap_or_default();
    let ms = |v: &Value| v.as_f64().map_or("–".to_string(), |x| format!("{x:.1} ms"));
    html! {
        @if rows.is_empty() {
            p { "No calls in the last hour." }
        } @else {
            table {
                thead { tr { th { "API" } th { "Calls" } th { "4xx" } th { "5xx" } th { "p50" } th { "p95" } th { "p99" } } }
                tbody {
                    @for (id, row) in rows {
                        tr data-api=(id) {
                            td { a href={"/ui/apis/" (super::seg(id))} { (name(id)) } }
                            td class="calls" { (row["calls"]) }
                            td class="client-errors" { (row["client_errors"]) }
                            td class="errors" { (row["errors"]) }
                            td { (ms(&row["p50_ms"])) }
                            td { (ms(&row["p95_ms"])) }
                            td { (ms(&row["p99_ms"])) }
                        }
                    }
                }
            }
        }
    }
}
