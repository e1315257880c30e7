//! Forms generated from the JSON Schemas the admin API validates with: each property becomes a
//! labelled field (its name in words, the schema's description as help), enums become choices,
//! lists of values one line each, maps `name: value` lines, lists of objects rows to add and
//! remove, and whatever a form cannot express (a free-form object, a value of several shapes) a
//! small JSON editor of its own. [`render`] draws a value; [`read`] turns the posted fields back
//! into it, over the stored value so that fields the schema does not describe are kept.

mod read;
mod render;

use serde_json::Value;

pub use read::read;
pub use render::{Form, render};

/// Fields posted with this suffix ask for a list's row to be dropped, or an optional object to
/// be present.
const REMOVE: &str = "__remove";
const PRESENT: &str = "__present";
/// The submit button that adds a row to the list it names, instead of saving.
pub const ADD: &str = "__add";

/// `schema` with its `$ref` followed in `root` (`#/$defs/...` or `#/definitions/...`).
pub(crate) fn deref<'a>(root: &'a Value, schema: &'a Value) -> &'a Value {
    let mut s = schema;
    for _ in 0..8 {
        let Some(r) = s.get("$ref").and_then(Value::as_str) else {
            return s;
        };
        match r.strip_prefix('#').and_then(|p| root.pointer(p)) {
            Some(next) => s = next,
            None => return s,
        }
    }
    s
}

/// What a schema is drawn and read as.
#[derive(Debug, PartialEq)]
enum Shape<'a> {
    Object(&'a serde_json::Map<String, Value>),
    /// `anyOf [X, null]`: X, or nothing.
    Optional(&'a Value),
    Map,
    Lines(&'a str),
    Rows(&'a Value),
    Choice(Vec<String>),
    Text,
    Number(bool),
    Flag,
    /// A name, or an object for the few who need one (`"manual"` or `{"kind": ..., "config": ...}`).
    TextOrJson,
    Json,
}

/// Whether `s` admits a plain string among its variants.
fn has_string(root: &Value, s: &Value) -> bool {
    let s = deref(root, s);
    s["anyOf"]
        .as_array()
        .or(s["oneOf"].as_array())
        .is_some_and(|v| v.iter().any(|x| x["type"] == "string"))
}

fn shape<'a>(root: &'a Value, schema: &'a Value) -> Shape<'a> {
    let s = deref(root, schema);
    if let Some(variants) = s["anyOf"].as_array().or(s["oneOf"].as_array()) {
        let some: Vec<&Value> = variants.iter().filter(|v| v["type"] != "null").collect();
        if some.len() == 1 && some.len() < variants.len() {
            return match shape(root, some[0]) {
                Shape::Object(_) => Shape::Optional(some[0]),
                other => other,
            };
        }
        if has_string(root, s) {
            return Shape::TextOrJson;
        }
        return Shape::Json;
    }
    let ty = match &s["type"] {
        Value::String(t) => t.as_str(),
        Value::Array(ts) => ts
            .iter()
            .filter_map(Value::as_str)
            .find(|t| *t != "null")
            .unwrap_or(""),
        _ => "",
    };
    if let Some(values) = s["enum"].as_array() {
        return Shape::Choice(
            values
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect(),
        );
    }
    match ty {
        "object" => match s["properties"].as_object() {
            Some(props) if !props.is_empty() => Shape::Object(props),
            _ if deref(root, &s["additionalProperties"])["type"] == "string" => Shape::Map,
            _ => Shape::Json,
        },
        "array" => {
            let items = deref(root, &s["items"]);
            match items["type"].as_str() {
                Some(t @ ("string" | "integer" | "number")) if items.get("enum").is_none() => {
                    Shape::Lines(t)
                }
                Some("object") if items["properties"].is_object() => Shape::Rows(&s["items"]),
                _ if has_string(root, items) => Shape::Lines("string"),
                _ => Shape::Json,
            }
        }
        "string" => Shape::Text,
        "integer" => Shape::Number(true),
        "number" => Shape::Number(false),
        "boolean" => Shape::Flag,
        _ => Shape::Json,
    }
}

/// Adds an empty row (its schema's defaults) to the list at `path` (`targets`, `backend.targets`).
pub fn grow(root: &Value, schema: &Value, value: &mut Value, path: &str) {
    let mut s = schema.clone();
    let mut v = value;
    for k in path.split('.').filter(|k| !k.is_empty()) {
        let (name, index) = match k.split_once('[') {
            Some((n, i)) => (n, i.trim_end_matches(']').parse::<usize>().ok()),
            None => (k, None),
        };
        s = deref(root, &s["properties"][name]).clone();
        if v.get(name).is_none_or(Value::is_null) {
            v[name] = if s["type"] == "array" {
                serde_json::json!([])
            } else {
                serde_json::json!({})
            };
        }
        v = &mut v[name];
        if let Some(i) = index {
            s = deref(root, &s["items"]).clone();
            v = &mut v[i];
        }
    }
    let row = defaults(deref(root, &s["items"]));
    if let Some(list) = v.as_array_mut() {
        list.push(row);
    }
}

/// An object of `schema`'s properties with their defaults: a new row, a new entity.
pub fn defaults(schema: &Value) -> Value {
    let mut v = serde_json::json!({});
    for (k, s) in schema["properties"].as_object().into_iter().flatten() {
        if let Some(d) = s.get("default") {
            v[k] = d.clone();
        }
    }
    v
}

/// The problems [`read`] found, as a refused form shows them: each at its field's path in the
/// whole document (`prefix` is where the form's value sits in it, empty for a whole document).
pub fn refused(errors: Vec<(String, String)>, prefix: &str) -> crate::page::Problems {
    let fields = errors
        .into_iter()
        .map(|(p, m)| match (prefix.is_empty(), p.is_empty()) {
            (false, false) => (format!("{prefix}.{p}"), m),
            _ => (format!("{prefix}{p}"), m),
        })
        .collect();
    crate::page::Problems {
        message: Some("Some fields are not right: nothing was saved.".into()),
        fields,
    }
}

/// Whether the schema lets the value be null.
fn nullable(root: &Value, schema: &Value) -> bool {
    let s = deref(root, schema);
    s["type"]
        .as_array()
        .is_some_and(|t| t.iter().any(|x| x == "null"))
        || s["anyOf"]
            .as_array()
            .is_some_and(|v| v.iter().any(|x| x["type"] == "null"))
}

/// Words written in capitals wherever they appear in a name.
const ACRONYMS: [&str; 8] = ["tls", "ip", "url", "jwt", "http", "ca", "dns", "pem"];

/// `strip_path` → "Strip path", `headerKey` → "Header key", `ip_address` → "IP address".
pub fn words(name: &str) -> String {
    spaced(name)
        .split(' ')
        .map(
            |w| match ACRONYMS.iter().find(|a| a.eq_ignore_ascii_case(w)) {
                Some(a) => a.to_ascii_uppercase(),
                None => w.to_string(),
            },
        )
        .collect::<Vec<_>>()
        .join(" ")
}

fn spaced(name: &str) -> String {
    let mut out = String::new();
    for (i, c) in name.chars().enumerate() {
        if c == '_' || c == '-' {
            out.push(' ');
        } else if c.is_ascii_uppercase() && i > 0 {
            out.push(' ');
            out.push(c.to_ascii_lowercase());
        } else if i == 0 {
            out.push(c.to_ascii_uppercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// `a.b[2].c` joined.
fn child(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

fn item(path: &str, i: usize) -> String {
    format!("{path}[{i}]")
}

/// The element id of a field named `path`.
fn id_of(path: &str) -> String {
    let mut id = String::from("f-");
    for c in path.chars() {
        match c {
            '.' | '[' => id.push('-'),
            ']' => {}
            c if c.is_ascii_alphanumeric() || c == '_' || c == '-' => id.push(c),
            _ => id.push('_'),
        }
    }
    id
}

#[cfg(test)]
mod tests;
