//! Every other kind through one page pair: a list with a creation form, and an edit form, both
//! generated from the kind's JSON Schema (a JSON editor beside them for what a form does not
//! say), over the admin API and its validation (service groups, API keys with their quotas,
//! certificates, JWT verifiers, standalone routes and backends, drafts).

use axum::extract::{Path, State};
use axum::http::{Method, StatusCode};
use axum::response::Response;
use komainu_model::Kind;
use maud::{Markup, html};
use serde_json::{Value, json};

use super::seg;
use crate::Web;
use crate::form::{AdminWrite, Fields, SignedIn, Write};
use crate::page::{self, Face, Problems};
use crate::schema_form::{self, ADD, Form};
use crate::session::Session;

/// The kinds this page edits (APIs, subscriptions and developers have their own pages).
fn kind_of(plural: &str) -> Option<Kind> {
    Kind::from_plural(plural).filter(|k| {
        matches!(
            k,
            Kind::Group
                | Kind::ApiKey
                | Kind::Certificate
                | Kind::JwtVerifier
                | Kind::Route
                | Kind::Backend
                | Kind::Draft
        )
    })
}

fn not_found(session: &Session) -> Response {
    page::render_with(
        StatusCode::NOT_FOUND,
        Face::Admin,
        "Not found",
        Some(&super::viewer(session)),
        html! { h1 { "Nothing here" } },
    )
}

pub async fn list(
    State(web): State<Web>,
    SignedIn(session): SignedIn,
    Path(plural): Path<String>,
) -> Response {
    let Some(kind) = kind_of(&plural) else {
        return not_found(&session);
    };
    let template = template(&web, kind).await;
    list_page(&web, &session, kind, &template, None, &Problems::default()).await
}

async fn template(web: &Web, kind: Kind) -> Value {
    let path = format!("/api/{}/_template", kind.plural());
    web.0.api.get(&path).await.body
}

/// The form of a `kind` document, generated from its schema.
fn form_of(kind: Kind, value: &Value, problems: &Problems) -> Markup {
    let root = komainu_model::schema(kind);
    let form = Form {
        root,
        problems,
        prefix: "",
        hidden: &[],
        overrides: &[],
    };
    schema_form::render(&form, root, value)
}

/// What a posted form asks: the document (over `stored`), or the page to draw again with it.
fn posted(kind: Kind, fields: &Fields, stored: &Value) -> Result<Value, (Value, Problems)> {
    let root = komainu_model::schema(kind);
    let mut doc = schema_form::read(root, root, fields, stored, &[], &[])
        .map_err(|errors| (stored.clone(), schema_form::refused(errors, "")))?;
    if fields.0.iter().any(|(k, _)| k == ADD) {
        schema_form::grow(root, root, &mut doc, fields.get(ADD));
        return Err((doc, Problems::default()));
    }
    Ok(doc)
}

async fn list_page(
    web: &Web,
    session: &Session,
    kind: Kind,
    draft: &Value,
    json_text: Option<&str>,
    problems: &Problems,
) -> Response {
    let plural = kind.plural();
    let items = web.0.api.list(&format!("/api/{plural}")).await;
    let status = problems.status();
    let text = json_text.map_or_else(|| page::pretty(draft), str::to_string);
    page::render_with(
        status,
        Face::Admin,
        kind.name(),
        Some(&super::viewer(session)),
        html! {
            h1 { (kind.name()) " (" (items.len()) ")" }
            table {
                thead { tr { th { "Id" } th { "Name" } } }
                tbody {
                    @for item in &items {
                        @let id = kind.id_of(item).unwrap_or_default();
                        tr {
                            td { a href={"/ui/entities/" (plural) "/" (seg(id))} { code { (id) } } }
                            td { (item["name"].as_str().or(item["clientName"].as_str()).unwrap_or_default()) }
                        }
                    }
                }
            }
            h2 { "Create" }
            (problems.summary(&[]))
            form method="post" action={"/ui/entities/" (plural)} class="schema-form" {
                (page::csrf_input(&session.csrf))
                (form_of(kind, draft, problems))
                button type="submit" { "Create " (kind.name()) }
            }
            details open[json_text.is_some()] {
                summary { "Create from JSON" }
                form method="post" action={"/ui/entities/" (plural)} {
                    (page::csrf_input(&session.csrf))
                    input type="hidden" name="mode" value="json";
                    (page::textarea(&format!("New {} (JSON)", kind.name()), "json", &text, problems.message.as_deref(), 16))
                    button type="submit" { "Create " (kind.name()) " from JSON" }
                }
            }
        },
    )
}

pub async fn create(
    State(web): State<Web>,
    Path(plural): Path<String>,
    Write {
        session, fields, ..
    }: AdminWrite,
) -> Response {
    let Some(kind) = kind_of(&plural) else {
        return not_found(&session);
    };
    let json_mode = fields.get("mode") == "json";
    let doc: Value = if json_mode {
        let text = fields.get("json");
        match serde_json::from_str(text) {
            Ok(v) => v,
            Err(e) => {
                let p = Problems::message(format!("Not valid JSON: {e}. Nothing was created."));
                return list_page(&web, &session, kind, &json!({}), Some(text), &p).await;
            }
        }
    } else {
        match posted(kind, &fields, &template(&web, kind).await) {
            Ok(doc) => doc,
            Err((draft, p)) => return list_page(&web, &session, kind, &draft, None, &p).await,
        }
    };
    let answer = web
        .0
        .api
        .call(Method::POST, &format!("/api/{plural}"), Some(&doc))
        .await;
    if !answer.ok() {
        let text = json_mode.then(|| fields.get("json"));
        return list_page(&web, &session, kind, &doc, text, &Problems::of(&answer)).await;
    }
    let id = kind.id_of(&answer.body).unwrap_or_default();
    page::see_other(&format!("/ui/entities/{plural}/{}", seg(id)))
}

pub async fn edit(
    State(web): State<Web>,
    SignedIn(session): SignedIn,
    Path((plural, id)): Path<(String, String)>,
) -> Response {
    let Some(kind) = kind_of(&plural) else {
        return not_found(&session);
    };
    edit_page(
        &web,
        &session,
        kind,
        &id,
        Shown::Stored,
        &Problems::default(),
        "",
    )
    .await
}

/// What the edit page shows in place of the stored document.
enum Shown<'a> {
    Stored,
    /// A form drawn again (refused, or a row added).
    Form(Value),
    /// JSON typed.
    Text(&'a str),
}

async fn edit_page(
    web: &Web,
    session: &Session,
    kind: Kind,
    id: &str,
    shown: Shown<'_>,
    problems: &Problems,
    notice: &str,
) -> Response {
    let plural = kind.plural();
    let answer = web.0.api.get(&format!("/api/{plural}/{}", seg(id))).await;
    if !answer.ok() {
        return not_found(session);
    }
    let (value, text) = match shown {
        Shown::Stored => (answer.body.clone(), None),
        Shown::Form(v) => (v, None),
        Shown::Text(t) => (answer.body.clone(), Some(t.to_string())),
    };
    let typed = text.is_some();
    let text = text.unwrap_or_else(|| page::pretty(&answer.body));
    let extra = if kind == Kind::ApiKey {
        key_panel(web, id).await
    } else {
        html! {}
    };
    let status = problems.status();
    let base = format!("/ui/entities/{plural}/{}", seg(id));
    page::render_with(
        status,
        Face::Admin,
        id,
        Some(&super::viewer(session)),
        html! {
            p { a href={"/ui/entities/" (plural)} { (kind.name()) } " / " (id) }
            h1 { (kind.name()) " " code { (id) } }
            @if !notice.is_empty() { div class="notice" role="status" { (notice) } }
            (extra)
            (problems.summary(&[]))
            @if kind == Kind::ApiKey {
                form method="post" action=(base) class="inline" {
                    (page::csrf_input(&session.csrf))
                    button type="submit" name="action" value="rotate" class="secondary" { "Rotate the secret" }
                    " " button type="submit" name="action" value="reset-quotas" class="secondary" { "Reset quotas" }
                }
            }
            form method="post" action=(base) class="schema-form" {
                (page::csrf_input(&session.csrf))
                (form_of(kind, &value, problems))
                button type="submit" name="action" value="save" { "Save" }
            }
            details open[typed] {
                summary { "Edit as JSON" }
                form method="post" action=(base) {
                    (page::csrf_input(&session.csrf))
                    (page::textarea("Document (JSON)", "json", &text, problems.message.as_deref(), 24))
                    button type="submit" name="action" value="json" { "Save the JSON" }
                }
            }
            form method="post" action={(base) "/delete"} {
                (page::csrf_input(&session.csrf))
                button type="submit" class="secondary" { "Delete " (kind.name()) " " (id) }
            }
        },
    )
}

/// An API key's consumed and remaining quotas.
async fn key_panel(web: &Web, id: &str) -> Markup {
    let q = web
        .0
        .api
        .get(&format!("/api/apikeys/{}/quotas", seg(id)))
        .await
        .body;
    html! {
        h2 { "Quotas" }
        (page::quota_report(&q))
    }
}

pub async fn save(
    State(web): State<Web>,
    Path((plural, id)): Path<(String, String)>,
    Write {
        session, fields, ..
    }: AdminWrite,
) -> Response {
    let Some(kind) = kind_of(&plural) else {
        return not_found(&session);
    };
    let path = format!("/api/{plural}/{}", seg(&id));
    let (answer, done) = match fields.get("action") {
        "rotate" if kind == Kind::ApiKey => {
            let secret = komainu_model::random_alphanumeric(64);
            let a = web
                .0
                .api
                .call(Method::PATCH, &path, Some(&json!({"clientSecret": secret})))
                .await;
            (a, "The secret was rotated: the old one no longer works.")
        }
        "reset-quotas" if kind == Kind::ApiKey => {
            let a = web
                .0
                .api
                .call(Method::DELETE, &format!("{path}/quotas"), None)
                .await;
            (a, "Quotas reset.")
        }
        "json" => {
            let text = fields.get("json");
            let doc: Value = match serde_json::from_str(text) {
                Ok(v) => v,
                Err(e) => {
                    let p = Problems::message(format!("Not valid JSON: {e}. Nothing was saved."));
                    return edit_page(&web, &session, kind, &id, Shown::Text(text), &p, "").await;
                }
            };
            (
                web.0.api.call(Method::PUT, &path, Some(&doc)).await,
                "Saved.",
            )
        }
        _ => {
            let stored = web.0.api.get(&path).await.body;
            let doc = match posted(kind, &fields, &stored) {
                Ok(doc) => doc,
                Err((v, p)) => {
                    return edit_page(&web, &session, kind, &id, Shown::Form(v), &p, "").await;
                }
            };
            let answer = web.0.api.call(Method::PUT, &path, Some(&doc)).await;
            if !answer.ok() {
                let p = Problems::of(&answer);
                return edit_page(&web, &session, kind, &id, Shown::Form(doc), &p, "").await;
            }
            (answer, "Saved.")
        }
    };
    if answer.ok() {
        return edit_page(
            &web,
            &session,
            kind,
            &id,
            Shown::Stored,
            &Problems::default(),
            done,
        )
        .await;
    }
    let shown = match fields.get("json") {
        "" => Shown::Stored,
        t => Shown::Text(t),
    };
    edit_page(&web, &session, kind, &id, shown, &Problems::of(&answer), "").await
}

pub async fn delete(
    State(web): State<Web>,
    Path((plural, id)): Path<(String, String)>,
    Write {
        session, fields, ..
    }: AdminWrite,
) -> Response {
    let Some(kind) = kind_of(&plural) else {
        return not_found(&session);
    };
    if !fields.confirmed() {
        let question = format!("Delete {} {id}?", kind.name());
        let consequence = match kind {
            Kind::Api => {
                "It stops answering at once; its subscriptions, their keys and its draft are deleted with it. This cannot be undone."
            }
            Kind::ApiKey => "Calls with this key are refused at once. This cannot be undone.",
            _ => "This cannot be undone.",
        };
        let base = format!("/ui/entities/{plural}/{}", seg(&id));
        return page::confirm_page(
            Face::Admin,
            &super::viewer(&session),
            &page::Confirm {
                question: &question,
                consequence,
                action: &format!("{base}/delete"),
                hidden: &[],
                yes: &format!("Delete {}", kind.name()),
                back: &base,
            },
        );
    }
    let answer = web
        .0
        .api
        .call(Method::DELETE, &format!("/api/{plural}/{}", seg(&id)), None)
        .await;
    if answer.ok() {
        return page::see_other(&format!("/ui/entities/{plural}"));
    }
    edit_page(
        &web,
        &session,
        kind,
        &id,
        Shown::Stored,
        &Problems::of(&answer),
        "",
    )
    .await
}
