//! One operation of the reference: parameters (the path item's and its own, references followed),
//! request body, responses, callbacks, a request to copy and the "try it" form.

use maud::{Markup, html};
use serde_json::Value;

use super::schema::{self, resolve};
use crate::{markdown, page};

/// What an operation is drawn with.
pub struct Context<'a> {
    pub spec: &'a Value,
    /// `/apis/<id>`: links to the schemas page start here.
    pub base: &'a str,
    /// The gateway's URL, the API's host (empty when any) and context path, for the sample.
    pub gateway: &'a str,
    pub host: &'a str,
    pub context_path: &'a str,
    /// The signed-in developer's CSRF token and subscriptions to the API `(id, label)`.
    pub trial: Option<(&'a str, &'a [(String, String)])>,
}

/// The page anchor of an operation.
pub fn anchor(method: &str, path: &str) -> String {
    let p: String = path
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    format!("{method}{p}")
}

/// The parameters of `op` under path item `item`: the operation's own win over the path item's
/// with the same name and place.
fn parameters<'a>(spec: &'a Value, item: &'a Value, op: &'a Value) -> Vec<&'a Value> {
    let own: Vec<&Value> = op["parameters"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| resolve(spec, p))
        .collect();
    let mut all: Vec<&Value> = item["parameters"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| resolve(spec, p))
        .filter(|p| {
            !own.iter()
                .any(|o| o["name"] == p["name"] && o["in"] == p["in"])
        })
        .collect();
    all.extend(own);
    all.retain(|p| p["name"].is_string());
    all
}

fn description(d: Option<&str>) -> Markup {
    html! { @if let Some(d) = d.filter(|d| !d.trim().is_empty()) { div class="doc" data-untrusted { (page::trusted(markdown::render(d))) } } }
}

/// The media types of a body or response, with their schema and example.
fn contents(cx: &Context, content: &Value) -> Markup {
    html! {
        @for (kind, media) in content.as_object().into_iter().flatten().take(8) {
            p { code { (kind) } " " (schema::type_label(cx.spec, &media["schema"])) }
            @if !media["schema"].is_null() { (schema::draw(cx.spec, cx.base, &media["schema"])) }
            @let ex = example_of(cx.spec, media);
            @if !ex.is_null() { details { summary { "Example" } pre { (page::pretty(&ex)) } } }
        }
    }
}

/// A media type's example: given (`example`, first of `examples`) or made from its schema.
fn example_of(spec: &Value, media: &Value) -> Value {
    if let Some(e) = media.get("example") {
        return e.clone();
    }
    if let Some(e) = media["examples"]
        .as_object()
        .and_then(|m| m.values().next())
    {
        return resolve(spec, e)["value"].clone();
    }
    schema::example(spec, &media["schema"])
}

/// A curl command for the operation, with the developer's credentials to fill in.
fn sample(cx: &Context, method: &str, path: &str, body: Option<&Value>) -> String {
    let mut cmd = String::from("curl");
    if method != "get" {
        cmd.push_str(&format!(" -X {}", method.to_uppercase()));
    }
    if !cx.host.is_empty() {
        cmd.push_str(&format!(" -H 'Host: {}'", cx.host));
    }
    cmd.push_str(
        " -H 'Otoroshi-Client-Id: $CLIENT_ID' -H 'Otoroshi-Client-Secret: $CLIENT_SECRET'",
    );
    if let Some(b) = body.filter(|b| !b.is_null()) {
        let one_line = serde_json::to_string(b)
            .unwrap_or_default()
            .replace('\'', "'\\''");
        cmd.push_str(&format!(
            " -H 'Content-Type: application/json' -d '{one_line}'"
        ));
    }
    let base = cx.context_path.trim_end_matches('/');
    cmd.push_str(&format!(" '{}{base}{path}'", cx.gateway));
    cmd
}

pub fn draw(cx: &Context, path: &str, method: &str, item: &Value, op: &Value) -> Markup {
    let id = anchor(method, path);
    let params = parameters(cx.spec, item, op);
    let body = resolve(cx.spec, &op["requestBody"]);
    let json_body = body["content"]
        .as_object()
        .and_then(|c| c.iter().find(|(k, _)| k.contains("json")))
        .map(|(_, media)| example_of(cx.spec, media));
    html! {
        section class="card operation" id=(id) {
            h3 { code { (method.to_uppercase()) " " (path) } @if op["deprecated"] == true { " " span class="badge" { "deprecated" } } }
            @if let Some(s) = op["summary"].as_str() { p { strong { (s) } } }
            (description(op["description"].as_str()))
            @if !params.is_empty() {
                table class="parameters" {
                    thead { tr { th { "Parameter" } th { "In" } th { "Required" } th { "Type" } th { "Description" } } }
                    tbody { @for p in &params { tr {
                        td { code { (p["name"].as_str().unwrap_or_default()) } }
                        td { (p["in"].as_str().unwrap_or_default()) }
                        td { @if p["required"] == true { "yes" } @else { "no" } }
                        td { (schema::type_label(cx.spec, if p["schema"].is_null() { p } else { &p["schema"] })) }
                        td { (description(p["description"].as_str())) }
                    } } }
                }
            }
            @if body.get("content").is_some() {
                h4 { "Request body" @if body["required"] == true { " (required)" } }
                (description(body["description"].as_str()))
                (contents(cx, &body["content"]))
            }
            @if let Some(responses) = op["responses"].as_object() {
                h4 { "Responses" }
                dl class="responses" { @for (code, r) in responses {
                    @let r = resolve(cx.spec, r);
                    dt { code { (code) } }
                    dd { (description(r["description"].as_str())) (contents(cx, &r["content"])) }
                } }
            }
            @if let Some(callbacks) = op["callbacks"].as_object() {
                h4 { "Callbacks" }
                ul { @for (name, cb) in callbacks { @for (expr, it) in resolve(cx.spec, cb).as_object().into_iter().flatten() {
                    li { (name) ": " @for m in super::spec::METHODS { @if it.get(m).is_some() { code { (m.to_uppercase()) " " (expr) } " " } } }
                } } }
            }
            details { summary { "Request sample" } pre class="example" { (sample(cx, method, path, json_body.as_ref())) } }
            @if let Some((token, subs)) = cx.trial { (trial(cx, token, subs, &id, method, path, json_body.as_ref())) }
        }
    }
}

fn trial(
    cx: &Context,
    token: &str,
    subs: &[(String, String)],
    id: &str,
    method: &str,
    path: &str,
    body: Option<&Value>,
) -> Markup {
    let body = body
        .filter(|b| !b.is_null())
        .map(page::pretty)
        .unwrap_or_default();
    html! {
        details class="try" {
            summary { "Try it" }
            form method="post" action={(cx.base) "/try"} {
                (page::csrf_input(token))
                input type="hidden" name="method" value=(method.to_uppercase());
                input type="hidden" name="anchor" value=(id);
                (page::input_of("text", "Path (fill the parameters)", &format!("path-{id}"), path, None, true))
                div class="field" {
                    label for={"sub-" (id)} { "Credentials" }
                    select id={"sub-" (id)} name={"sub-" (id)} {
                        @for (sid, label) in subs { option value=(sid) { (label) } }
                        option value="" { "None (keyless plans)" }
                    }
                }
                (page::textarea("Body (JSON)", &format!("body-{id}"), &body, None, 4))
                button type="submit" { "Send " (method.to_uppercase()) " " (path) }
            }
        }
    }
}
