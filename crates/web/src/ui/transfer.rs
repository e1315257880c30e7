//! Export and import of the whole configuration, and OpenAPI import (pasted, uploaded into the
//! text area by the page's script, or fetched from a URL).

use axum::extract::{Path, State};
use axum::http::{HeaderValue, Method, header};
use axum::response::{IntoResponse, Response};
use maud::html;

use super::seg;
use crate::Web;
use crate::form::{AdminWrite, Fields, SignedIn, Write};
use crate::page::{self, Face, Problems};
use crate::session::Session;

fn transfer_page(
    session: &Session,
    fields: &Fields,
    problems: &Problems,
    notice: &str,
) -> Response {
    let status = problems.status();
    page::render_with(
        status,
        Face::Admin,
        "Import and export",
        Some(&super::viewer(session)),
        html! {
            h1 { "Import and export" }
            @if !notice.is_empty() { div class="notice" role="status" { (notice) } }
            (problems.summary(&[]))
            h2 { "Export" }
            p { a href="/ui/transfer/export" download="komainu-export.json" { "Download the whole configuration (JSON)" } }
            h2 { "Import a configuration" }
            form method="post" action="/ui/transfer/import" {
                (page::csrf_input(&session.csrf))
                div class="field" {
                    label for="import-file" { "Read a file into the text area" }
                    input id="import-file" type="file" accept=".json,application/json" data-file-into="f-document";
                }
                (page::textarea("Export document (JSON)", "document", fields.get("document"), None, 10))
                div class="field" {
                    label for="mode" { "Mode" }
                    select id="mode" name="mode" {
                        option value="merge" { "merge: add and update, keep the rest" }
                        option value="replace" { "replace: the store becomes the document" }
                    }
                }
                button type="submit" { "Import" }
            }
            h2 { "Import an OpenAPI document as an API" }
            form method="post" action="/ui/transfer/openapi" {
                (page::csrf_input(&session.csrf))
                div class="field" {
                    label for="openapi-file" { "Read a file into the text area" }
                    input id="openapi-file" type="file" accept=".json,.yaml,.yml" data-file-into="f-spec";
                }
                (page::textarea("OpenAPI document (JSON or YAML)", "spec", fields.get("spec"), None, 10))
                (page::field("…or its URL", "url", fields.get("url"), problems, "url"))
                (page::field("Domain", "domain", fields.get("domain"), problems, "domain"))
                (page::field("Context path", "context_path", fields.get("context_path"), problems, "context_path"))
                (page::field("Backend URL (when the document's servers are relative or absent)", "backend", fields.get("backend"), problems, "servers"))
                button type="submit" { "Import as a new API" }
            }
        },
    )
}

pub async fn page(SignedIn(session): SignedIn) -> Response {
    transfer_page(&session, &Fields(Vec::new()), &Problems::default(), "")
}

pub async fn export(State(web): State<Web>, _: SignedIn) -> Response {
    let answer = web.0.api.get("/api/export").await;
    let mut response = (answer.status, page::pretty(&answer.body)).into_response();
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    h.insert(
        header::CONTENT_DISPOSITION,
        HeaderValue::from_static("attachment; filename=\"komainu-export.json\""),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

pub async fn act(
    State(web): State<Web>,
    Path(action): Path<String>,
    Write {
        session, fields, ..
    }: AdminWrite,
) -> Response {
    if action == "import" && fields.get("mode") == "replace" && !fields.confirmed() {
        return page::confirm_page(
            Face::Admin,
            &super::viewer(&session),
            &page::Confirm {
                question: "Replace everything with this document?",
                consequence: "Every entity the document does not hold is deleted: APIs, keys, subscriptions, certificates.",
                action: "/ui/transfer/import",
                hidden: &[("mode", "replace"), ("document", fields.get("document"))],
                yes: "Replace everything",
                back: "/ui/transfer",
            },
        );
    }
    let answer = if action == "import" {
        let mode = if fields.get("mode") == "replace" {
            "replace"
        } else {
            "merge"
        };
        let body = fields.get("document").as_bytes().to_vec();
        web.0
            .api
            .send(
                Method::POST,
                &format!("/api/import?mode={mode}"),
                Some(("application/json", body)),
            )
            .await
    } else {
        let path = format!(
            "/api/apis/_openapi?domain={}&context_path={}&backend={}",
            seg(fields.get("domain")),
            seg(fields.get("context_path")),
            seg(fields.get("backend"))
        );
        let body = if fields.get("spec").trim().is_empty() {
            let url = serde_json::json!({"url": fields.get("url")});
            ("application/json", serde_json::to_vec(&url).expect("JSON"))
        } else {
            ("application/yaml", fields.get("spec").as_bytes().to_vec())
        };
        web.0.api.send(Method::POST, &path, Some(body)).await
    };
    if !answer.ok() {
        return transfer_page(&session, &fields, &Problems::of(&answer), "");
    }
    if action == "import" {
        return transfer_page(
            &session,
            &Fields(Vec::new()),
            &Problems::default(),
            "Imported.",
        );
    }
    let id = answer.body["id"].as_str().unwrap_or_default();
    page::see_other(&format!("/ui/apis/{}", seg(id)))
}
