//! The API page, in Otoroshi's sections: information and lifecycle, exposition, routes,
//! backends, HTTP client settings, plugin chains, plans, clients, subscriptions, keys,
//! documentation (edit and preview), testing, deployments, and the whole document as JSON.
//! Forms cover the common fields; every section also edits its part as JSON, with the admin API's
//! validation and its errors shown where they belong.

use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{Method, StatusCode};
use axum::response::Response;
use komainu_model::Kind;
use maud::{Markup, html};
use serde::Deserialize;
use serde_json::{Value, json};

use super::api_forms::{at, nested};
use super::seg;
use crate::Web;
use crate::form::{AdminWrite, Fields, SignedIn, Write};
use crate::page::{self, Face, Problems};
use crate::session::Session;

/// `(section id, title, the document field its JSON editor holds)`.
const SECTIONS: [(&str, &str, &str); 15] = [
    ("information", "Information", ""),
    ("exposition", "Exposition", ""),
    ("routes", "Routes", "routes"),
    ("backends", "Backends", "backends"),
    (
        "clients-config",
        "HTTP client settings",
        "clients_backend_config",
    ),
    ("flows", "Plugin chains", "flows"),
    ("plans", "Plans", "documentation.plans"),
    ("clients", "Clients", "clients"),
    ("subscriptions", "Subscriptions", ""),
    ("keys", "API keys", ""),
    ("documentation", "Documentation", "documentation"),
    ("testing", "Testing", "testing"),
    ("traffic", "Traffic", ""),
    ("deployments", "Deployments", ""),
    ("json", "JSON", ""),
];

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct Section {
    section: String,
    notice: String,
    /// Two deployments to compare.
    a: String,
    b: String,
    /// The entry of a list part edited by its form (an index, `new`), or `edit` for an object part.
    item: String,
}

/// What a refused form leaves on the page: the text typed and the problems.
#[derive(Default)]
struct Attempt {
    problems: Problems,
    text: Option<String>,
    fields: Option<Fields>,
    /// What a draft route answered (the testing section's check).
    trial: Option<Result<(u16, String), String>>,
    /// Deployments picked for comparison.
    compare: Option<(String, String)>,
    /// The part's entry whose form is shown, and what it held when drawn again.
    item: String,
    form: Option<Value>,
}

pub async fn page(
    State(web): State<Web>,
    SignedIn(session): SignedIn,
    Path(id): Path<String>,
    Query(q): Query<Section>,
) -> Response {
    let section = if q.section.is_empty() {
        "information".to_string()
    } else {
        q.section
    };
    let attempt = Attempt {
        compare: (!q.a.is_empty() && !q.b.is_empty()).then(|| (q.a.clone(), q.b.clone())),
        item: q.item,
        ..Default::default()
    };
    render(&web, &session, &id, &section, attempt, &q.notice).await
}

async fn render(
    web: &Web,
    session: &Session,
    id: &str,
    section: &str,
    attempt: Attempt,
    notice: &str,
) -> Response {
    let answer = web.0.api.get(&format!("/api/apis/{}", seg(id))).await;
    if !answer.ok() {
        return page::render_with(
            answer.status,
            Face::Admin,
            "API",
            Some(&super::viewer(session)),
            html! { h1 { "API not found" } p { (answer.message()) } p { a href="/ui/apis" { "All APIs" } } },
        );
    }
    let api = answer.body;
    let name = api["name"].as_str().unwrap_or(id).to_string();
    let body = section_body(web, session, id, &api, section, &attempt).await;
    let status = attempt.problems.status();
    page::render_with(
        status,
        Face::Admin,
        &name,
        Some(&super::viewer(session)),
        html! {
            p { a href="/ui/apis" { "APIs" } " / " (name) }
            h1 { (name) " " (page::badge(api["state"].as_str().unwrap_or_default())) }
            nav class="sections" aria-label="API sections" {
                @for (sid, title, _) in SECTIONS {
                    a href={"/ui/apis/" (seg(id)) "?section=" (sid)} aria-current=[(sid == section).then_some("page")] { (title) }
                }
            }
            @if !notice.is_empty() { div class="notice" role="status" { (notice) } }
            (attempt.problems.summary(&["name", "description", "domain", "context_path", "version"]))
            (body)
        },
    )
}

async fn section_body(
    web: &Web,
    session: &Session,
    id: &str,
    api: &Value,
    section: &str,
    attempt: &Attempt,
) -> Markup {
    let action = |a: &str| format!("/ui/apis/{}/{a}", seg(id));
    let csrf = page::csrf_input(&session.csrf);
    let form_part = super::api_forms::part(section);
    if let Some(part) = form_part.filter(|_| !attempt.item.is_empty()) {
        return super::api_forms::editor(
            id,
            api,
            part,
            &attempt.item,
            &session.csrf,
            &attempt.problems,
            attempt.form.as_ref(),
        );
    }
    let part_editor = |field: &str| -> Markup {
        let text = attempt
            .text
            .clone()
            .unwrap_or_else(|| page::pretty(at(api, field)));
        let error = attempt.problems.message.as_deref();
        html! {
            form method="post" action=(action("part")) {
                (csrf.clone())
                input type="hidden" name="section" value=(section);
                input type="hidden" name="field" value=(field);
                (page::textarea(&format!("{field} (JSON)"), "json", &text, error, 18))
                button type="submit" { "Save " (field) }
            }
        }
    };
    let editor_field = SECTIONS
        .iter()
        .find(|(s, _, _)| *s == section)
        .map_or("", |(_, _, f)| *f);
    let summary = match section {
        "information" | "exposition" => info_form(api, &action("info"), &csrf, attempt, section),
        "routes" => table(
            api["routes"].as_array(),
            &[("Id", "id"), ("Name", "name"), ("Backend", "backend")],
            |r| {
                let f = &r["frontend"];
                html! {
                    td { (f["methods"].as_array().map_or("any".into(), |m| m.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(", "))) }
                    td { code { (f["domains"]) } }
                    td class="admits" { (admits(api, r["flow_ref"].as_str().unwrap_or_default())) }
                }
            },
            &["Methods", "Paths", "Admits"],
        ),
        "backends" => table(
            api["backends"].as_array(),
            &[("Id", "id"), ("Name", "name")],
            |b| {
                let targets: Vec<String> = b["backend"]["targets"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|t| {
                        let tls = if t["tls"] == true { " (TLS)" } else { "" };
                        format!(
                            "{}:{}{tls}",
                            t["hostname"].as_str().unwrap_or_default(),
                            t["port"]
                        )
                    })
                    .collect();
                html! { td { code { (targets.join(", ")) } } }
            },
            &["Targets"],
        ),
        "flows" => super::flows::section(web, session, id, api, &attempt.problems).await,
        "plans" => table(
            api["documentation"]["plans"].as_array(),
            &[
                ("Id", "id"),
                ("Name", "name"),
                ("Status", "status"),
                ("Access", "access_mode_configuration_type"),
            ],
            |p| {
                let pr = &p["pricing"];
                html! { td { @if pr["enabled"] == true { (pr["price"]) " " (pr["currency"].as_str().unwrap_or_default()) } @else { "free" } } td { (p["validation"]["kind"].as_str().unwrap_or("auto")) } td { (p["visibility"]["kind"].as_str().unwrap_or("public")) } }
            },
            &["Price", "Validation", "Visibility"],
        ),
        "clients-config" => table(
            api["clients_backend_config"].as_array(),
            &[("Id", "id"), ("Name", "name")],
            |c| html! { td { (c["client"]["retries"]) } td { (c["client"]["callTimeout"]) " ms" } },
            &["Retries", "Call timeout"],
        ),
        "clients" => table(
            api["clients"].as_array(),
            &[
                ("Id", "id"),
                ("Name", "name"),
                ("Description", "description"),
            ],
            |_| html! {},
            &[],
        ),
        "subscriptions" => {
            let subs: Vec<Value> = web
                .list(Kind::ApiSubscription)
                .await
                .iter()
                .filter(|s| s["api_ref"] == id)
                .cloned()
                .collect();
            super::subscriptions::table(
                &subs,
                &super::subscriptions::Names::load(web).await,
                session,
                &format!("/ui/apis/{}?section=subscriptions", seg(id)),
            )
        }
        "keys" => {
            let keys = web
                .0
                .api
                .list(&format!("/api/apis/{}/apikeys", seg(id)))
                .await;
            html! {
                table {
                    thead { tr { th { "Client id" } th { "Name" } th { "Enabled" } } }
                    tbody { @for k in &keys {
                        @let cid = k["clientId"].as_str().unwrap_or_default();
                        tr { td { a href={"/ui/entities/apikeys/" (seg(cid))} { code { (cid) } } } td { (k["clientName"].as_str().unwrap_or_default()) } td { (k["enabled"]) } }
                    } }
                }
            }
        }
        "documentation" => {
            let home = &api["documentation"]["home"];
            let markdown = home["text_content"].as_str().unwrap_or_default();
            html! {
                form method="post" action=(action("home")) {
                    (csrf.clone())
                    (page::textarea("Home page (Markdown)", "home", markdown, None, 10))
                    button type="submit" { "Save home page" }
                }
                h2 { "Preview" }
                div class="doc" id="preview" data-untrusted { (page::trusted(crate::markdown::render(markdown))) }
                p { "Published APIs with documentation enabled appear in the developer portal." }
            }
        }
        "testing" => {
            let t = &api["testing"];
            let (key, value) = (
                t["headerKey"].as_str().unwrap_or_default(),
                t["headerValue"].as_str().unwrap_or_default(),
            );
            html! {
                dl class="props" {
                    dt { "Enabled" } dd { (t["enabled"]) }
                    dt { "Header" } dd { code { (key) ": " (value) } }
                }
                p { "Draft routes answer requests carrying this header. Try one through the gateway:" }
                form method="post" action=(action("try")) {
                    (csrf.clone())
                    input type="hidden" name="section" value="testing";
                    div class="field" {
                        label for="try-method" { "Method" }
                        select id="try-method" name="method" { @for m in ["GET", "POST", "PUT", "PATCH", "DELETE"] { option value=(m) { (m) } } }
                    }
                    (page::input_of("text", &format!("Path after {}", api["context_path"].as_str().unwrap_or_default()), "path", "/", None, true))
                    button type="submit" { "Send with the testing header" }
                }
                @if let Some(trial) = &attempt.trial {
                    @match trial {
                        Ok((status, body)) => { p { "The gateway answered " strong id="try-status" { (status) } } pre id="try-body" { (body) } }
                        Err(e) => { div class="alert" role="alert" { (e) } }
                    }
                }
                p { a href={"/ui/entities/drafts/" (seg(id))} { "Edit the draft" } }
            }
        }
        "deployments" => deployments(id, api, attempt.compare.as_ref()),
        "traffic" => super::traffic::section(web, id).await,
        _ => {
            let text = attempt.text.clone().unwrap_or_else(|| page::pretty(api));
            html! {
                form method="post" action=(action("json")) {
                    (csrf.clone())
                    input type="hidden" name="section" value="json";
                    (page::textarea("The API (JSON)", "json", &text, attempt.problems.message.as_deref(), 30))
                    button type="submit" { "Save the API" }
                }
            }
        }
    };
    html! {
        (summary)
        @if let Some(part) = form_part { (super::api_forms::entry_links(id, api, part)) }
        @if section == "information" { (lifecycle(api, &action("state"), &session.csrf)) }
        @if !editor_field.is_empty() {
            details open[attempt.text.is_some()] {
                summary { "Edit as JSON" }
                (part_editor(editor_field))
            }
        }
    }
}

/// The deployment history, and two deployments compared field by field.
/// Who a route whose flow is `flow_ref` lets in: each plan that admits calls, with its access mode
/// ("anyone" for a keyless plan), or nobody.
fn admits(api: &Value, flow_ref: &str) -> String {
    let Ok(api) = komainu_model::parse::<komainu_model::Api>(api) else {
        return String::new();
    };
    let Some(flow) = api.flow(flow_ref) else {
        return "nobody: no such flow".into();
    };
    let open = [
        komainu_model::PlanStatus::Published,
        komainu_model::PlanStatus::Deprecated,
    ];
    let plans: Vec<String> = api
        .flow_plans(flow)
        .into_iter()
        .filter_map(|id| api.documentation.plans.iter().find(|p| p.id == id))
        .filter(|p| open.contains(&p.status))
        .map(|p| match p.access_mode_configuration_type {
            komainu_model::AccessMode::Keyless => format!("{}: anyone", p.name),
            mode => format!(
                "{}: {}",
                p.name,
                serde_json::json!(mode).as_str().unwrap_or_default()
            ),
        })
        .collect();
    if plans.is_empty() {
        "nobody: no published plan".into()
    } else {
        plans.join("; ")
    }
}

fn deployments(id: &str, api: &Value, compare: Option<&(String, String)>) -> Markup {
    let list = api["deployments"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    let find = |d: &str| {
        list.iter()
            .find(|x| x["id"] == d)
            .map(|x| &x["apiDefinition"])
    };
    let picked = compare.and_then(|(a, b)| Some((a, find(a)?, b, find(b)?)));
    let picker = |name: &str, chosen: Option<&str>| {
        html! {
            div class="field" {
                label for={"dep-" (name)} { "Deployment " (name.to_uppercase()) }
                select id={"dep-" (name)} name=(name) {
                    @for d in list { @let did = d["id"].as_str().unwrap_or_default(); option value=(did) selected[chosen == Some(did)] { (did) " · " (d["version"].as_str().unwrap_or_default()) } }
                }
            }
        }
    };
    html! {
        (table(
            Some(&list.to_vec()),
            &[("Id", "id"), ("Version", "version"), ("Owner", "owner")],
            |d| html! { td { @if let Some(at) = d["at"].as_i64() { (page::when(at)) } } td { details { summary { "Snapshot" } pre { (page::pretty(&d["apiDefinition"])) } } } },
            &["At", "Snapshot"],
        ))
        @if list.len() >= 2 {
            h2 { "Compare two deployments" }
            form method="get" action={"/ui/apis/" (seg(id))} {
                input type="hidden" name="section" value="deployments";
                (picker("a", compare.map(|c| c.0.as_str())))
                (picker("b", compare.map(|c| c.1.as_str())))
                button type="submit" { "Compare" }
            }
        }
        @if let Some((a, da, b, db)) = picked {
            @let keys: std::collections::BTreeSet<&String> = da.as_object().into_iter().chain(db.as_object()).flat_map(|m| m.keys()).collect();
            @let changed: Vec<&&String> = keys.iter().filter(|k| da[k.as_str()] != db[k.as_str()]).collect();
            h3 { (a) " → " (b) }
            @if changed.is_empty() { p id="compare-result" { "The two snapshots are the same." } } @else {
                p id="compare-result" { "Fields that differ: " @for (i, k) in changed.iter().enumerate() { @if i > 0 { ", " } code { (k) } } }
                @for k in &changed {
                    h4 { code { (k) } }
                    div class="cards" {
                        pre { (page::pretty(&da[k.as_str()])) }
                        pre { (page::pretty(&db[k.as_str()])) }
                    }
                }
            }
        }
    }
}

fn table(
    rows: Option<&Vec<Value>>,
    cols: &[(&str, &str)],
    extra: impl Fn(&Value) -> Markup,
    extra_heads: &[&str],
) -> Markup {
    let rows = rows.map(Vec::as_slice).unwrap_or_default();
    html! {
        @if rows.is_empty() { p { "None yet." } } @else {
            table {
                thead { tr { @for (h, _) in cols { th { (h) } } @for h in extra_heads { th { (h) } } } }
                tbody { @for r in rows { tr { @for (_, k) in cols { td { (r[*k].as_str().map_or_else(|| r[*k].to_string(), str::to_string)) } } (extra(r)) } } }
            }
        }
    }
}

fn info_form(api: &Value, action: &str, csrf: &Markup, attempt: &Attempt, section: &str) -> Markup {
    let p = &attempt.problems;
    let value = |f: &str| -> String {
        match &attempt.fields {
            Some(fields) => fields.get(f).to_string(),
            None => api[f].as_str().unwrap_or_default().to_string(),
        }
    };
    html! {
        form method="post" action=(action) {
            (csrf.clone())
            input type="hidden" name="section" value=(section);
            @if section == "information" {
                (page::field("Name", "name", &value("name"), p, "name"))
                (page::field("Description", "description", &value("description"), p, "description"))
                (page::field("Version", "version", &value("version"), p, "version"))
            } @else {
                (page::field("Domain (empty: any host)", "domain", &value("domain"), p, "domain"))
                (page::field("Context path", "context_path", &value("context_path"), p, "context_path"))
            }
            button type="submit" { "Save" }
        }
    }
}

fn lifecycle(api: &Value, action: &str, csrf: &str) -> Markup {
    let state = api["state"].as_str().unwrap_or_default();
    // An API moves only forward: the moves back, which the gateway refuses, are not offered.
    let order = ["staging", "published", "deprecated", "removed"];
    let at = order.iter().position(|s| *s == state).unwrap_or(0);
    let moves = [
        ("published", "Publish"),
        ("deprecated", "Deprecate"),
        ("removed", "Remove"),
    ];
    let ahead = moves
        .iter()
        .filter(|(to, _)| order.iter().position(|s| s == to) > Some(at));
    html! {
        h2 { "Lifecycle" }
        p { "State: " (page::badge(state)) ". An API moves forward only: staging → published → deprecated → removed." }
        @for (to, label) in ahead {
            (page::action_button(action, csrf, &[("state", to)], label, None))
        }
    }
}

pub async fn act(
    State(web): State<Web>,
    ConnectInfo(peer): ConnectInfo<std::net::SocketAddr>,
    Path((id, action)): Path<(String, String)>,
    Write {
        session, fields, ..
    }: AdminWrite,
) -> Response {
    let path = format!("/api/apis/{}", seg(&id));
    let section = match (action.as_str(), fields.get("section")) {
        ("flow", _) => "flows".to_string(),
        (_, "") => "information".to_string(),
        (_, s) => s.to_string(),
    };
    let (method, body, done) = match action.as_str() {
        "state" if fields.get("state") == "removed" && !fields.confirmed() => {
            let back = format!("/ui/apis/{}", seg(&id));
            return page::confirm_page(
                Face::Admin,
                &super::viewer(&session),
                &page::Confirm {
                    question: "Remove this API?",
                    consequence: "It stops answering at once and cannot be published again.",
                    action: &format!("/ui/apis/{}/state", seg(&id)),
                    hidden: &[("state", "removed")],
                    yes: "Remove the API",
                    back: &back,
                },
            );
        }
        "state" => (
            Method::PATCH,
            json!({"state": fields.get("state")}),
            format!("State changed to {}.", fields.get("state")),
        ),
        "info" => {
            let names: &[&str] = if section == "information" {
                &["name", "description", "version"]
            } else {
                &["domain", "context_path"]
            };
            let patch: serde_json::Map<String, Value> = names
                .iter()
                .map(|n| (n.to_string(), json!(fields.get(n))))
                .collect();
            (Method::PATCH, Value::Object(patch), "Saved.".to_string())
        }
        "flow" => {
            let current = web.0.api.get(&path).await.body;
            match super::flows::patch(&web, &current, &fields).await {
                Ok((patch, done)) => (Method::PATCH, patch, done),
                Err(problems) => {
                    let attempt = Attempt {
                        problems,
                        ..Default::default()
                    };
                    return render(&web, &session, &id, "flows", attempt, "").await;
                }
            }
        }
        "try" => {
            let current: Value = web.0.api.get(&path).await.body;
            let header = (
                current["testing"]["headerKey"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
                current["testing"]["headerValue"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
            );
            let trial = crate::gateway::call(
                &web,
                crate::gateway::Trial {
                    method: fields.get("method"),
                    domain: current["domain"].as_str().unwrap_or_default(),
                    context_path: current["context_path"].as_str().unwrap_or_default(),
                    path: fields.get("path"),
                    headers: vec![(header.0.as_str(), header.1.as_str())],
                    json_body: None,
                    who: &session.who,
                    from: peer.ip(),
                },
            )
            .await;
            let attempt = Attempt {
                trial: Some(trial),
                ..Default::default()
            };
            return render(&web, &session, &id, "testing", attempt, "").await;
        }
        "form" => {
            let Some(part) = super::api_forms::part(&section) else {
                return render(&web, &session, &id, &section, Attempt::default(), "").await;
            };
            let current = web.0.api.get(&path).await.body;
            match super::api_forms::posted(&current, part, &fields) {
                super::api_forms::Outcome::Patch(patch, done, entry) => {
                    let answer = web.0.api.call(Method::PATCH, &path, Some(&patch)).await;
                    if answer.ok() {
                        let to = format!(
                            "/ui/apis/{}?section={}&notice={}",
                            seg(&id),
                            seg(&section),
                            seg(&done)
                        );
                        return page::see_other(&to);
                    }
                    let attempt = Attempt {
                        problems: Problems::of(&answer),
                        item: fields.get("item").to_string(),
                        form: Some(entry),
                        ..Default::default()
                    };
                    return render(&web, &session, &id, &section, attempt, "").await;
                }
                super::api_forms::Outcome::Redraw(value, problems) => {
                    let attempt = Attempt {
                        problems,
                        item: fields.get("item").to_string(),
                        form: Some(value),
                        ..Default::default()
                    };
                    return render(&web, &session, &id, &section, attempt, "").await;
                }
            }
        }
        "home" => (
            Method::PATCH,
            json!({"documentation": {"home": {"text_content": fields.get("home"), "content_type": "text/markdown"}}}),
            "Home page saved.".to_string(),
        ),
        "part" | "json" => {
            let text = fields.get("json");
            let parsed: Result<Value, _> = serde_json::from_str(text);
            let value = match parsed {
                Ok(v) => v,
                Err(e) => {
                    let attempt = Attempt {
                        problems: Problems::message(format!(
                            "Not valid JSON: {e}. Nothing was saved."
                        )),
                        text: Some(text.to_string()),
                        ..Default::default()
                    };
                    return render(&web, &session, &id, &section, attempt, "").await;
                }
            };
            if action == "json" {
                (Method::PUT, value, "Saved.".to_string())
            } else {
                let field = fields.get("field");
                if !SECTIONS
                    .iter()
                    .any(|(_, _, f)| !f.is_empty() && *f == field)
                {
                    return render(
                        &web,
                        &session,
                        &id,
                        &section,
                        Attempt {
                            problems: Problems::message(format!(
                                "\"{field}\" is not a part of an API this page edits"
                            )),
                            ..Default::default()
                        },
                        "",
                    )
                    .await;
                }
                (
                    Method::PATCH,
                    nested(field, value),
                    format!("{field} saved."),
                )
            }
        }
        _ => {
            return page::render_with(
                StatusCode::NOT_FOUND,
                Face::Admin,
                "Not found",
                Some(&super::viewer(&session)),
                html! { h1 { "No such action" } },
            );
        }
    };
    let answer = web.0.api.call(method, &path, Some(&body)).await;
    if answer.ok() {
        let to = format!(
            "/ui/apis/{}?section={}&notice={}",
            seg(&id),
            seg(&section),
            seg(&done)
        );
        return page::see_other(&to);
    }
    let typed = matches!(action.as_str(), "part" | "json").then(|| fields.get("json").to_string());
    let attempt = Attempt {
        problems: Problems::of(&answer),
        text: typed,
        fields: (action == "info").then_some(fields),
        ..Default::default()
    };
    render(&web, &session, &id, &section, attempt, "").await
}

#[cfg(test)]
mod tests {
    use super::nested;
    use serde_json::json;

    #[test]
    fn a_part_becomes_a_merge_patch() {
        assert_eq!(nested("routes", json!([])), json!({"routes": []}));
        assert_eq!(
            nested("documentation.plans", json!([1])),
            json!({"documentation": {"plans": [1]}})
        );
    }
}
