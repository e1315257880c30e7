//! The OpenAPI reference of an API (from a documentation resource holding the document, as an
//! OpenAPI import keeps it): operations, parameters, bodies, responses and schemas, each with a
//! "try it" form that the portal sends to the gateway.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use komainu_model::{Api, ApiDocumentation};
use maud::{Markup, html};
use serde_json::Value;

use crate::form::{PortalWrite, Write};
use crate::page::{self, Face};
use crate::{Web, seg};

const METHODS: [&str; 7] = ["get", "put", "post", "delete", "patch", "head", "options"];

/// The OpenAPI document among the documentation's resources, if any.
pub(crate) fn spec_of(doc: &ApiDocumentation) -> Option<&Value> {
    doc.resources
        .iter()
        .filter_map(|r| r.json_content.as_ref())
        .find(|j| j.get("openapi").is_some() || j.get("swagger").is_some())
}

fn operation(api: &Api, path: &str, method: &str, op: &Value, csrf: Option<&str>) -> Markup {
    let anchor = format!("{method}-{}", path.replace(['/', '{', '}'], "-"));
    let example = op["requestBody"]["content"]["application/json"]["example"].clone();
    html! {
        section class="card" id=(anchor) {
            h3 { code { (method.to_uppercase()) " " (path) } }
            @if let Some(s) = op["summary"].as_str() { p { strong { (s) } } }
            @if let Some(d) = op["description"].as_str() { p { (d) } }
            @if let Some(params) = op["parameters"].as_array() {
                table {
                    thead { tr { th { "Parameter" } th { "In" } th { "Required" } th { "Type" } th { "Description" } } }
                    tbody { @for p in params { tr {
                        td { code { (p["name"].as_str().unwrap_or_default()) } }
                        td { (p["in"].as_str().unwrap_or_default()) }
                        td { (p["required"] == true) }
                        td { (p["schema"]["type"].as_str().or(p["type"].as_str()).unwrap_or_default()) }
                        td { (p["description"].as_str().unwrap_or_default()) }
                    } } }
                }
            }
            @if let Some(content) = op["requestBody"]["content"].as_object() {
                h4 { "Request body" }
                @for (kind, media) in content { p { code { (kind) } } pre { (page::pretty(&media["schema"])) } }
            }
            @if let Some(responses) = op["responses"].as_object() {
                h4 { "Responses" }
                ul { @for (code, r) in responses { li { code { (code) } " " (r["description"].as_str().unwrap_or_default()) } } }
            }
            @if let Some(token) = csrf {
                details {
                    summary { "Try it" }
                    form method="post" action={"/apis/" (seg(&api.id)) "/try"} {
                        (page::csrf_input(token))
                        input type="hidden" name="method" value=(method.to_uppercase());
                        (page::input_of("text", "Path (fill the parameters)", &format!("path-{anchor}"), path, None, true))
                        input type="hidden" name="path_field" value={"path-" (anchor)};
                        (page::input_of("text", "Client id (Otoroshi-Client-Id)", &format!("id-{anchor}"), "", None, false))
                        (page::input_of("password", "Client secret (Otoroshi-Client-Secret)", &format!("secret-{anchor}"), "", None, false))
                        (page::textarea("Body (JSON)", &format!("body-{anchor}"), &if example.is_null() { String::new() } else { page::pretty(&example) }, None, 4))
                        button type="submit" { "Send " (method.to_uppercase()) " " (path) }
                    }
                }
            }
        }
    }
}

pub async fn page(State(web): State<Web>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    let session = super::developer(&web, &headers);
    let Some(api) = super::listed_api(&web, &id).await else {
        return super::catalogue::not_found(State(web), headers).await;
    };
    let Some(spec) = spec_of(&api.documentation) else {
        return super::catalogue::not_found(State(web), headers).await;
    };
    let csrf = session.as_ref().map(|s| s.csrf.as_str());
    let paths = spec["paths"].as_object();
    page::render(
        Face::Portal,
        &format!("{} reference", api.name),
        session.as_ref().map(super::viewer).as_ref(),
        html! {
            p { a href="/" { "APIs" } " / " a href={"/apis/" (seg(&api.id))} { (api.name) } }
            h1 { (spec["info"]["title"].as_str().unwrap_or(&api.name)) " reference" }
            @if let Some(d) = spec["info"]["description"].as_str() { p { (d) } }
            @if csrf.is_none() { p { a href="/signin" { "Sign in" } " to try the operations." } }
            @for (path, item) in paths.into_iter().flatten() {
                @for m in METHODS { @if let Some(op) = item.get(m) { (operation(&api, path, m, op, csrf)) } }
            }
            @if let Some(schemas) = spec["components"]["schemas"].as_object().or(spec["definitions"].as_object()) {
                h2 { "Schemas" }
                @for (name, schema) in schemas { h3 { (name) } pre { (page::pretty(schema)) } }
            }
        },
    )
}

/// Sends one operation to the gateway, on the API's domain and context path, and shows the
/// answer. Only the gateway is ever called: the path is relative to the API.
pub async fn try_it(
    State(web): State<Web>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Write {
        session, fields, ..
    }: PortalWrite,
) -> Response {
    let Some(api) = super::listed_api(&web, &id).await else {
        return super::catalogue::not_found(State(web), headers).await;
    };
    let field = fields.get("path_field");
    let suffix = field.strip_prefix("path-").unwrap_or_default();
    let path = fields.get(field);
    let method = fields.get("method");
    let (cid, secret) = (
        fields.get(&format!("id-{suffix}")),
        fields.get(&format!("secret-{suffix}")),
    );
    let result = crate::gateway::call(
        &web,
        crate::gateway::Trial {
            method,
            domain: &api.domain,
            context_path: &api.context_path,
            path,
            headers: vec![
                ("otoroshi-client-id", cid),
                ("otoroshi-client-secret", secret),
            ],
            json_body: Some(fields.get(&format!("body-{suffix}"))),
            who: &session.who,
            from: peer.ip(),
        },
    )
    .await;
    let status = if result.is_ok() {
        StatusCode::OK
    } else {
        StatusCode::BAD_REQUEST
    };
    page::render_with(
        status,
        Face::Portal,
        "Try it",
        Some(&super::viewer(&session)),
        html! {
            p { a href={"/apis/" (seg(&api.id)) "/reference"} { "Back to the reference" } }
            h1 { code { (method) " " (api.context_path) (path) } }
            @match result {
                Ok((status, body)) => { p { "The gateway answered " strong id="try-status" { (status) } } pre id="try-body" { (body) } }
                Err(e) => { div class="alert" role="alert" { (e) } }
            }
        },
    )
}
