//! Reading a specification's parts: local `$ref`s followed (bounded), schemas drawn as nested
//! lists where a schema met again on the way down (recursion) or too deep is a link to its entry
//! on the schemas page, and examples made from schemas when the document gives none.

use maud::{Markup, html};
use serde_json::{Map, Value, json};

/// `$ref`s followed in a row at most (a cycle of references ends here).
const HOPS: usize = 16;
/// Levels of nested schemas drawn inline; deeper ones are links.
const DEPTH: usize = 4;
/// Properties drawn per object at most.
const PROPERTIES: usize = 200;

/// `v` with its `$ref` chain followed inside `spec` (a reference it cannot follow stays as is).
pub fn resolve<'a>(spec: &'a Value, mut v: &'a Value) -> &'a Value {
    for _ in 0..HOPS {
        let Some(target) = v.get("$ref").and_then(Value::as_str) else {
            return v;
        };
        match target.strip_prefix('#').and_then(|p| spec.pointer(p)) {
            Some(next) => v = next,
            None => return v,
        }
    }
    v
}

/// The name a `$ref` gives (its last segment), for links and labels.
pub fn ref_name(v: &Value) -> Option<&str> {
    let r = v.get("$ref")?.as_str()?;
    Some(r.rsplit('/').next().unwrap_or(r))
}

/// The anchor of a named schema on the schemas page.
pub fn anchor(name: &str) -> String {
    let safe: String = name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    format!("schema-{safe}")
}

/// A short type label: `string (date-time)`, `array of Repository`, `object`.
pub fn type_label(spec: &Value, s: &Value) -> String {
    if let Some(name) = ref_name(s) {
        return name.to_string();
    }
    let s = resolve(spec, s);
    let format = s["format"].as_str().map(|f| format!(" ({f})"));
    match s["type"].as_str() {
        Some("array") => format!("array of {}", type_label(spec, &s["items"])),
        Some(t) => format!("{t}{}", format.unwrap_or_default()),
        None => match s["type"].as_array() {
            Some(ts) => ts
                .iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join(" | "),
            None if s.get("oneOf").is_some() => "one of".into(),
            None if s.get("anyOf").is_some() => "any of".into(),
            None if s.get("allOf").is_some() => "all of".into(),
            None if s.get("properties").is_some() => "object".into(),
            None if s.get("enum").is_some() => "enum".into(),
            None => "any".into(),
        },
    }
}

/// Draws `s`: a named schema met again below itself, or deeper than [`DEPTH`], is a link.
pub fn draw(spec: &Value, base: &str, s: &Value) -> Markup {
    Drawer {
        spec,
        base,
        limit: DEPTH,
    }
    .at(s, &mut Vec::new())
}

/// Draws `s` one level deep: every named schema below it is a link (the schemas page).
pub fn draw_shallow(spec: &Value, base: &str, s: &Value) -> Markup {
    Drawer {
        spec,
        base,
        limit: 0,
    }
    .body(s, &mut Vec::new())
}

struct Drawer<'a> {
    spec: &'a Value,
    base: &'a str,
    /// Named schemas expanded inside one another at most.
    limit: usize,
}

impl<'a> Drawer<'a> {
    fn at(&self, s: &'a Value, seen: &mut Vec<&'a str>) -> Markup {
        if let Some(name) = ref_name(s) {
            let link = html! { a href={(self.base) "/schemas#" (anchor(name))} { (name) } };
            if seen.contains(&name) {
                return html! { (link) " (recursive: shown above)" };
            }
            if seen.len() >= self.limit {
                return link;
            }
            seen.push(name);
            let inner = self.body(resolve(self.spec, s), seen);
            seen.pop();
            return html! { (link) " " (inner) };
        }
        self.body(s, seen)
    }

    fn body(&self, s: &'a Value, seen: &mut Vec<&'a str>) -> Markup {
        let spec = self.spec;
        let required: Vec<&str> = s["required"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        let props = s["properties"].as_object();
        let items = s.get("items").filter(|_| s["type"] == "array");
        let variants = ["oneOf", "anyOf", "allOf"]
            .into_iter()
            .find_map(|k| s[k].as_array().map(|v| (k, v)));
        html! {
            @if let Some(values) = s["enum"].as_array() {
                span class="enum" { "one of: " @for (i, v) in values.iter().take(50).enumerate() { @if i > 0 { ", " } code { (v) } } }
            }
            @if let Some(props) = props {
                ul class="schema" {
                    @for (name, p) in props.iter().take(PROPERTIES) {
                        li {
                            code { (name) } " " span class="type" { (type_label(spec, p)) }
                            @if required.contains(&name.as_str()) { " " span class="badge" { "required" } }
                            @if let Some(d) = resolve(spec, p)["description"].as_str() { " — " (short(d)) }
                            @if nested(spec, p) { (self.at(p, seen)) }
                        }
                    }
                    @if props.len() > PROPERTIES { li { "… " (props.len() - PROPERTIES) " more" } }
                }
            }
            @if let Some(items) = items { @if nested(spec, items) { div { "items: " (self.at(items, seen)) } } }
            @if let Some((kind, list)) = variants {
                div { (kind) ": " ul { @for v in list.iter().take(PROPERTIES) { li { (self.at(v, seen)) } } } }
            }
        }
    }
}

/// Whether a property's schema has more to show than its type label.
fn nested(spec: &Value, p: &Value) -> bool {
    let s = resolve(spec, p);
    p.get("$ref").is_some()
        || s.get("properties").is_some()
        || s.get("oneOf").is_some()
        || s.get("anyOf").is_some()
        || s.get("allOf").is_some()
        || s["items"].get("$ref").is_some()
        || s["items"].get("properties").is_some()
}

/// A description's first paragraph, as plain text: the full Markdown is for the operation.
fn short(d: &str) -> String {
    let first = d.split("\n\n").next().unwrap_or(d);
    let mut out: String = first.chars().take(300).collect();
    if out.len() < first.len() {
        out.push('…');
    }
    out
}

/// An example of `s`: its own `example`, `default` or first `enum`, else one made from its type.
pub fn example(spec: &Value, s: &Value) -> Value {
    example_at(spec, s, &mut Vec::new())
}

fn example_at<'a>(spec: &'a Value, s: &'a Value, seen: &mut Vec<&'a str>) -> Value {
    if let Some(name) = ref_name(s) {
        if seen.contains(&name) || seen.len() >= DEPTH {
            return Value::Null;
        }
        seen.push(name);
        let v = example_at(spec, resolve(spec, s), seen);
        seen.pop();
        return v;
    }
    for k in ["example", "default"] {
        if let Some(v) = s.get(k) {
            return v.clone();
        }
    }
    if let Some(v) = s["examples"].as_array().and_then(|e| e.first()) {
        return v.clone();
    }
    if let Some(v) = s["enum"].as_array().and_then(|e| e.first()) {
        return v.clone();
    }
    if let Some(first) = ["allOf", "oneOf", "anyOf"]
        .iter()
        .find_map(|k| s[*k].as_array())
    {
        let mut merged = Map::new();
        for part in first.iter().take(8) {
            match example_at(spec, part, seen) {
                Value::Object(m) => merged.extend(m),
                other if merged.is_empty() => return other,
                _ => {}
            }
        }
        return Value::Object(merged);
    }
    let kind = s["type"]
        .as_str()
        .or_else(|| s["type"][0].as_str())
        .unwrap_or(if s.get("properties").is_some() {
            "object"
        } else {
            ""
        });
    match kind {
        "object" => {
            let props = s["properties"].as_object().into_iter().flatten();
            let m: Map<String, Value> = props
                .take(PROPERTIES)
                .map(|(k, p)| (k.clone(), example_at(spec, p, seen)))
                .collect();
            Value::Object(m)
        }
        "array" => json!([example_at(spec, &s["items"], seen)]),
        "integer" | "number" => json!(0),
        "boolean" => json!(true),
        "string" => json!(match s["format"].as_str() {
            Some("date-time") => "2026-01-01T00:00:00Z",
            Some("date") => "2026-01-01",
            Some("uri" | "url") => "https://example.com",
            Some("email") => "dev@example.com",
            Some("uuid") => "00000000-0000-0000-0000-000000000000",
            _ => "string",
        }),
        _ => Value::Null,
    }
}
