//! The OpenAPI reference of an API: an overview with the table of contents, one page per tag (a
//! GitHub-size document is 1,200 operations: one page of them all would be megabytes), the named
//! schemas, and "try it", which calls the gateway with the developer's own credentials.

mod operation;
mod schema;
pub(crate) mod spec;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use komainu_model::{AccessMode, Api};
use maud::{Markup, html};

use crate::form::{PortalWrite, Write};
use crate::page::{self, Face};
use crate::session::Session;
use crate::{Web, markdown, seg};
use spec::Spec;

/// The listed API with `id` and its specification, or the portal's 404.
async fn load(web: &Web, headers: &HeaderMap, id: &str) -> Result<(Api, Arc<Spec>), Response> {
    let not_found = || super::catalogue::not_found(State(web.clone()), headers.clone());
    let Some(api) = super::listed_api(web, id).await else {
        return Err(not_found().await);
    };
    match web
        .0
        .specs
        .of(&web.0.admin, &*web.0.store, &api.id, &api.documentation)
        .await
    {
        Some(spec) => Ok((api, spec)),
        None => Err(not_found().await),
    }
}

/// Operations of the API's reference whose path, summary, description, id or tag holds `needle`
/// (lower case), as `(label, link)`: at most `limit`.
pub(crate) async fn search(
    web: &Web,
    api: &Api,
    needle: &str,
    limit: usize,
) -> Vec<(String, String)> {
    let Some(spec) = web
        .0
        .specs
        .of(&web.0.admin, &*web.0.store, &api.id, &api.documentation)
        .await
    else {
        return Vec::new();
    };
    let holds = |v: &serde_json::Value| {
        v.as_str()
            .is_some_and(|t| t.to_lowercase().contains(needle))
    };
    let mut hits = Vec::new();
    for tag in &spec.tags {
        for o in &tag.ops {
            let item = schema::resolve(&spec.doc, &spec.doc["paths"][&o.path]);
            let op = &item[o.method];
            let found = o.path.to_lowercase().contains(needle)
                || tag.name.to_lowercase().contains(needle)
                || ["summary", "description", "operationId"]
                    .iter()
                    .any(|k| holds(&op[*k]));
            if found {
                let label = format!(
                    "{} {} — {}",
                    o.method.to_uppercase(),
                    o.path,
                    op["summary"].as_str().unwrap_or(&tag.name)
                );
                let link = format!(
                    "/apis/{}/reference/{}#{}",
                    seg(&api.id),
                    seg(&tag.name),
                    operation::anchor(o.method, &o.path)
                );
                hits.push((label, link));
                if hits.len() >= limit {
                    return hits;
                }
            }
        }
    }
    hits
}

/// The developer's enabled API-key subscriptions to `api`, as `(id, label)`.
async fn credentials(web: &Web, session: &Session, api: &Api) -> Vec<(String, String)> {
    super::subscribe::owned(web, &session.who)
        .await
        .into_iter()
        .filter(|s| s.api_ref == api.id && s.enabled && s.subscription_kind == AccessMode::Apikey)
        .map(|s| (s.id.clone(), format!("{} ({})", s.name, s.plan_ref)))
        .collect()
}

/// The tags, each with its operations: the reference's table of contents.
fn contents(base: &str, spec: &Spec) -> Markup {
    html! {
        nav class="toc" aria-label="Operations" { ul {
            @for tag in &spec.tags {
                li {
                    a href={(base) "/reference/" (seg(&tag.name))} { (tag.name) } " (" (tag.ops.len()) ")"
                }
            }
            li { a href={(base) "/schemas"} { "Schemas" } }
        } }
    }
}

fn frame(api: &Api, session: Option<&Session>, title: &str, body: Markup) -> Response {
    let base = format!("/apis/{}", seg(&api.id));
    page::render(
        Face::Portal,
        title,
        session.map(super::viewer).as_ref(),
        html! {
            p { a href="/" { "APIs" } " / " a href=(base) { (api.name) } " / " a href={(base) "/reference"} { "Reference" } }
            (body)
        },
    )
}

/// `GET /apis/:id/reference`: what the API is, its servers, tags and webhooks.
pub async fn page(State(web): State<Web>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    let session = super::developer(&web, &headers);
    let (api, spec) = match load(&web, &headers, &id).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    let base = format!("/apis/{}", seg(&api.id));
    let info = &spec.doc["info"];
    let webhooks = spec.doc["webhooks"].as_object();
    let body = html! {
        h1 { (info["title"].as_str().unwrap_or(&api.name)) " reference" }
        @if let Some(v) = info["version"].as_str() { p { "Version " (v) } }
        @if let Some(d) = info["description"].as_str() { div class="doc" data-untrusted { (page::trusted(markdown::render(d))) } }
        @if session.is_none() { p { a href="/signin" { "Sign in" } " to try the operations with your credentials." } }
        h2 { "Operations by tag" }
        (contents(&base, &spec))
        @if let Some(hooks) = webhooks {
            h2 { "Webhooks" }
            p { "Requests the API sends to you:" }
            ul { @for (name, item) in hooks {
                @let item = schema::resolve(&spec.doc, item);
                @for m in spec::METHODS { @if let Some(op) = item.get(m) {
                    li { code { (m.to_uppercase()) } " " (name) @if let Some(s) = op["summary"].as_str() { " — " (s) } }
                } }
            } }
        }
    };
    frame(
        &api,
        session.as_ref(),
        &format!("{} reference", api.name),
        body,
    )
}

/// `GET /apis/:id/reference/:tag`: the tag's operations, in full.
pub async fn tag(
    State(web): State<Web>,
    headers: HeaderMap,
    Path((id, tag)): Path<(String, String)>,
) -> Response {
    let session = super::developer(&web, &headers);
    let (api, spec) = match load(&web, &headers, &id).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    let Some(t) = spec.tag(&tag) else {
        return super::catalogue::not_found(State(web), headers).await;
    };
    let subs = match &session {
        Some(s) => credentials(&web, s, &api).await,
        None => Vec::new(),
    };
    let base = format!("/apis/{}", seg(&api.id));
    let cx = operation::Context {
        spec: &spec.doc,
        base: &base,
        gateway: &web.0.portal.gateway,
        host: api.domain.split(',').next().unwrap_or_default().trim(),
        context_path: &api.context_path,
        trial: session.as_ref().map(|s| (s.csrf.as_str(), subs.as_slice())),
    };
    let described = spec.doc["tags"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|x| x["name"] == tag.as_str());
    let body = html! {
        h1 { (t.name) }
        @if let Some(d) = described.and_then(|d| d["description"].as_str()) { div class="doc" data-untrusted { (page::trusted(markdown::render(d))) } }
        nav class="toc" aria-label="This tag" { ul { @for o in &t.ops {
            li { a href={"#" (operation::anchor(o.method, &o.path))} { code { (o.method.to_uppercase()) " " (o.path) } } }
        } } }
        @for o in &t.ops {
            @let item = schema::resolve(&spec.doc, &spec.doc["paths"][&o.path]);
            (operation::draw(&cx, &o.path, o.method, item, &item[o.method]))
        }
        h2 { "Other tags" }
        (contents(&base, &spec))
    };
    frame(
        &api,
        session.as_ref(),
        &format!("{} — {}", t.name, api.name),
        body,
    )
}

/// `GET /apis/:id/schemas`: every named schema, one level deep, where references link to.
pub async fn schemas(
    State(web): State<Web>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let session = super::developer(&web, &headers);
    let (api, spec) = match load(&web, &headers, &id).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    let base = format!("/apis/{}", seg(&api.id));
    let named = spec.doc["components"]["schemas"]
        .as_object()
        .or(spec.doc["definitions"].as_object());
    let body = html! {
        h1 { "Schemas" }
        @for (name, s) in named.into_iter().flatten() {
            section class="card" id=(schema::anchor(name)) {
                h3 { (name) " " span class="type" { (schema::type_label(&spec.doc, s)) } }
                @if let Some(d) = s["description"].as_str() { div class="doc" data-untrusted { (page::trusted(markdown::render(d))) } }
                (schema::draw_shallow(&spec.doc, &base, s))
            }
        }
    };
    frame(
        &api,
        session.as_ref(),
        &format!("{} schemas", api.name),
        body,
    )
}

/// The API key of the developer's subscription `sid` to `api`, as headers for the gateway.
async fn key_of(
    web: &Web,
    session: &Session,
    api: &Api,
    sid: &str,
) -> Result<(String, String), String> {
    let sub = super::subscribe::owned(web, &session.who)
        .await
        .into_iter()
        .find(|s| s.id == sid && s.api_ref == api.id && s.enabled)
        .ok_or("this subscription is not one of yours to this API")?;
    let key_id = komainu_apim::key_ids(&sub)
        .into_iter()
        .next()
        .ok_or("the subscription has no key")?;
    let key = web
        .0
        .api
        .get(&format!("/api/apikeys/{}", seg(&key_id)))
        .await
        .body;
    let text = |k: &str| key[k].as_str().unwrap_or_default().to_string();
    Ok((text("clientId"), text("clientSecret")))
}

/// Sends one operation to the gateway, on the API's domain and context path, with the chosen
/// subscription's key, and shows the answer. Only the gateway is called: the path is relative
/// to the API.
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
    let anchor = fields.get("anchor");
    let path = fields.get(&format!("path-{anchor}"));
    let method = fields.get("method");
    let sid = fields.get(&format!("sub-{anchor}"));
    let key = if sid.is_empty() {
        Ok((String::new(), String::new()))
    } else {
        key_of(&web, &session, &api, sid).await
    };
    let result = match &key {
        Err(e) => Err(e.to_string()),
        Ok((cid, secret)) => {
            let mut sent = Vec::new();
            if !cid.is_empty() {
                sent.push(("otoroshi-client-id", cid.as_str()));
                sent.push(("otoroshi-client-secret", secret.as_str()));
            }
            crate::gateway::call(
                &web,
                crate::gateway::Trial {
                    method,
                    domain: &api.domain,
                    context_path: &api.context_path,
                    path,
                    headers: sent,
                    json_body: Some(fields.get(&format!("body-{anchor}"))),
                    who: &session.who,
                    from: peer.ip(),
                },
            )
            .await
        }
    };
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
