//! The API page's parts edited by forms generated from the API's JSON Schema: routes, backends,
//! HTTP client settings, plans (with the fields of their access mode), clients, documentation
//! settings and testing. A list's entry is edited on its own (`?item=2`, `?item=new`); the admin
//! API validates the whole API and its problems are shown at their fields.

use komainu_model::{AccessMode, Kind};
use maud::{Markup, html};
use serde_json::{Value, json};

use super::seg;
use crate::form::Fields;
use crate::page::{self, Problems};
use crate::schema_form::{self, ADD, Form, deref};

/// A part of the API a form edits.
pub(crate) struct Part {
    pub section: &'static str,
    /// Where it sits in the API (dotted).
    pub field: &'static str,
    /// What one entry is called, for a list; `None` for an object.
    pub entry: Option<&'static str>,
    /// Paths inside it the form leaves alone (edited elsewhere).
    pub hidden: &'static [&'static str],
}

pub(crate) const PARTS: [Part; 7] = [
    Part {
        section: "routes",
        field: "routes",
        entry: Some("route"),
        hidden: &[],
    },
    Part {
        section: "backends",
        field: "backends",
        entry: Some("backend"),
        hidden: &[],
    },
    Part {
        section: "clients-config",
        field: "clients_backend_config",
        entry: Some("client setting"),
        hidden: &[],
    },
    Part {
        section: "plans",
        field: "documentation.plans",
        entry: Some("plan"),
        hidden: &[],
    },
    Part {
        section: "clients",
        field: "clients",
        entry: Some("client"),
        hidden: &[],
    },
    Part {
        section: "documentation",
        field: "documentation",
        entry: None,
        hidden: &["plans", "home"],
    },
    Part {
        section: "testing",
        field: "testing",
        entry: None,
        hidden: &[],
    },
];

/// The part at `a.b` of a document.
pub(super) fn at<'v>(doc: &'v Value, dotted: &str) -> &'v Value {
    dotted.split('.').fold(doc, |v, k| &v[k])
}

/// `{"a": {"b": value}}` for `a.b`: the merge patch writing one part.
pub(super) fn nested(dotted: &str, value: Value) -> Value {
    dotted
        .rsplit('.')
        .fold(value, |inner, key| json!({ key: inner }))
}

pub(crate) fn part(section: &str) -> Option<&'static Part> {
    PARTS.iter().find(|p| p.section == section)
}

/// The schema of the part at `dotted` in the API's schema (properties followed through `$ref`s).
fn schema_at(root: &Value, dotted: &str) -> Value {
    let mut s = root;
    for k in dotted.split('.') {
        s = deref(root, &s["properties"][k]);
    }
    s.clone()
}

/// The schema the form draws, and where the edited value sits in the API's problems.
fn target(part: &Part, item: &str) -> (Value, String) {
    let root = komainu_model::schema(Kind::Api);
    let schema = schema_at(root, part.field);
    match part.entry {
        Some(_) => {
            let items = deref(root, &schema["items"]).clone();
            let index = item.parse::<usize>().ok();
            let prefix = index.map_or_else(String::new, |i| format!("{}[{i}]", part.field));
            (items, prefix)
        }
        None => (schema, part.field.to_string()),
    }
}

/// A plan's configuration drawn with its access mode's fields (none for `keyless`).
fn plan_overrides(part: &Part, value: &Value) -> (Vec<&'static str>, Option<&'static Value>) {
    if part.section != "plans" {
        return (part.hidden.to_vec(), None);
    }
    let mode: Option<AccessMode> =
        serde_json::from_value(value["access_mode_configuration_type"].clone()).ok();
    match mode {
        Some(AccessMode::Keyless) => (vec!["access_mode_configuration"], None),
        Some(m) => (Vec::new(), komainu_model::plan_config_schema(m)),
        None => (Vec::new(), None),
    }
}

/// A new entry: its schema's defaults, with a fresh id.
fn fresh(part: &Part, schema: &Value, api: &Value) -> Value {
    let mut v = schema_form::defaults(schema);
    let n = at(api, part.field).as_array().map_or(0, Vec::len) + 1;
    v["id"] = json!(format!(
        "{}_{n}",
        part.entry.unwrap_or("item").replace(' ', "_")
    ));
    v
}

/// The editor of `item` (an index, `new`, or empty for an object part); `posted` is what a
/// refused or growing form held.
pub(crate) fn editor(
    api_id: &str,
    api: &Value,
    part: &Part,
    item: &str,
    csrf: &str,
    problems: &Problems,
    posted: Option<&Value>,
) -> Markup {
    let root = komainu_model::schema(Kind::Api);
    let (schema, prefix) = target(part, item);
    let stored = match (part.entry, item.parse::<usize>()) {
        (None, _) => at(api, part.field).clone(),
        (Some(_), Ok(i)) => at(api, part.field)[i].clone(),
        (Some(_), Err(_)) => fresh(part, &schema, api),
    };
    let value = posted.cloned().unwrap_or(stored);
    let (hidden, config) = plan_overrides(part, &value);
    let overrides: Vec<(&str, &Value)> = config
        .map(|c| ("access_mode_configuration", c))
        .into_iter()
        .collect();
    let form = Form {
        root,
        problems,
        prefix: &prefix,
        hidden: &hidden,
        overrides: &overrides,
    };
    let back = format!("/ui/apis/{}?section={}", seg(api_id), part.section);
    let title = match (part.entry, item) {
        (None, _) => "Settings".to_string(),
        (Some(e), "new") => format!("New {e}"),
        (Some(e), _) => format!("Edit the {e} {}", value["id"].as_str().unwrap_or(item)),
    };
    html! {
        h2 { (title) }
        (problems.summary(&[]))
        form method="post" action={"/ui/apis/" (seg(api_id)) "/form"} class="schema-form" {
            (page::csrf_input(csrf))
            input type="hidden" name="section" value=(part.section);
            input type="hidden" name="item" value=(item);
            (schema_form::render(&form, &schema, &value))
            button type="submit" { "Save" }
            " " a href=(back) { "Cancel" }
        }
    }
}

/// What a posted form asks: the new value of the part, a re-drawn form (a row added), or the
/// problems of what was typed.
pub(crate) enum Outcome {
    /// The merge patch, what to say once saved, and the entry's value (drawn again if refused).
    Patch(Value, String, Value),
    Redraw(Value, Problems),
}

/// The API patch a posted editor makes, or the form to draw again.
pub(crate) fn posted(api: &Value, part: &Part, fields: &Fields) -> Outcome {
    let root = komainu_model::schema(Kind::Api);
    let item = fields.get("item");
    let (schema, prefix) = target(part, item);
    let list = at(api, part.field).as_array().cloned().unwrap_or_default();
    let index = item.parse::<usize>().ok().filter(|i| *i < list.len());
    let stored = match (part.entry, index) {
        (None, _) => at(api, part.field).clone(),
        (Some(_), Some(i)) => list[i].clone(),
        (Some(_), None) => fresh(part, &schema, api),
    };
    let (hidden, config) = plan_overrides(part, &stored);
    let overrides: Vec<(&str, &Value)> = config
        .map(|c| ("access_mode_configuration", c))
        .into_iter()
        .collect();
    let mut value = match schema_form::read(root, &schema, fields, &stored, &hidden, &overrides) {
        Ok(v) => v,
        Err(errors) => {
            return Outcome::Redraw(stored, schema_form::refused(errors, &prefix));
        }
    };
    let add = fields.get(ADD);
    if fields.0.iter().any(|(k, _)| k == ADD) {
        schema_form::grow(root, &schema, &mut value, add);
        return Outcome::Redraw(value, Problems::default());
    }
    let entry = value.clone();
    let whole = match (part.entry, index) {
        (None, _) => value,
        (Some(_), Some(i)) => {
            let mut l = list;
            l[i] = value;
            Value::Array(l)
        }
        (Some(_), None) => {
            let mut l = list;
            l.push(value);
            Value::Array(l)
        }
    };
    let done = format!("{} saved.", part.entry.unwrap_or("Settings"));
    let mut patch = nested(part.field, whole);
    if part.section == "plans"
        && let Some(i) = index
    {
        follow_renamed_plan(api, &at(api, part.field)[i], &entry, &mut patch);
    }
    Outcome::Patch(patch, capitalised(&done), entry)
}

/// A plan whose id changes is renamed in the flows that admit it, in the same write: the admin
/// API refuses a flow naming a plan that does not exist, and a plan left out of every flow
/// that named it would silently stop admitting calls.
fn follow_renamed_plan(api: &Value, before: &Value, after: &Value, patch: &mut Value) {
    let (Some(old), Some(new)) = (before["id"].as_str(), after["id"].as_str()) else {
        return;
    };
    if old == new {
        return;
    }
    let Some(flows) = api["flows"].as_array() else {
        return;
    };
    let mut flows = flows.clone();
    for flow in &mut flows {
        if let Some(consumers) = flow["consumers"].as_array_mut() {
            for c in consumers.iter_mut().filter(|c| c.as_str() == Some(old)) {
                *c = json!(new);
            }
        }
    }
    patch["flows"] = Value::Array(flows);
}

fn capitalised(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map_or_else(String::new, |f| f.to_uppercase().chain(c).collect())
}

/// The links under a list part's table: edit each entry, add one.
pub(crate) fn entry_links(api_id: &str, api: &Value, part: &Part) -> Markup {
    let Some(entry) = part.entry else {
        return html! { p { a class="button" href={"/ui/apis/" (seg(api_id)) "?section=" (part.section) "&item=edit"} { "Edit the settings" } } };
    };
    let base = format!("/ui/apis/{}?section={}", seg(api_id), part.section);
    html! {
        ul class="entries" {
            @for (i, e) in at(api, part.field).as_array().into_iter().flatten().enumerate() {
                li { a href={(base) "&item=" (i)} { "Edit " (entry) " " (e["id"].as_str().unwrap_or_default()) } }
            }
        }
        p { a class="button" href={(base) "&item=new"} { "Add a " (entry) } }
    }
}
