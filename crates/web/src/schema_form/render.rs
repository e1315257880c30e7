//! Drawing a value as the fields of its schema.

use maud::{Markup, html};
use serde_json::Value;

use super::{ADD, PRESENT, REMOVE, Shape, child, deref, id_of, item, nullable, shape, words};
use crate::page::{self, Problems};

/// How a form is drawn.
pub struct Form<'a> {
    /// The schema document `$ref`s point into.
    pub root: &'a Value,
    /// The admin API's problems, and where this form's value sits in the document they name
    /// (`routes[2]`; empty for a whole document).
    pub problems: &'a Problems,
    pub prefix: &'a str,
    /// Paths (relative to the form) not drawn: kept as stored.
    pub hidden: &'a [&'a str],
    /// Paths drawn with another schema than the document's (`access_mode_configuration`, whose
    /// fields depend on the plan's access mode), each a self-contained schema document.
    pub overrides: &'a [(&'a str, &'a Value)],
}

impl Form<'_> {
    fn error(&self, path: &str) -> Option<&str> {
        let full = match (self.prefix.is_empty(), path.is_empty()) {
            (true, _) => path.to_string(),
            (false, true) => self.prefix.to_string(),
            (false, false) => format!("{}.{path}", self.prefix),
        };
        self.problems.at(&full)
    }

    fn field(&self, root: &Value, schema: &Value, value: &Value, path: &str, key: &str) -> Markup {
        match self.overrides.iter().find(|(p, _)| *p == path) {
            Some((_, doc)) => self.drawn(doc, doc, value, path, key),
            None => self.drawn(root, schema, value, path, key),
        }
    }

    fn drawn(&self, root: &Value, schema: &Value, value: &Value, path: &str, key: &str) -> Markup {
        let s = deref(root, schema);
        let value = if value.is_null() {
            s.get("default").unwrap_or(&Value::Null)
        } else {
            value
        };
        let label = s["title"]
            .as_str()
            .map_or_else(|| words(key), str::to_string);
        let help = s["description"].as_str().or(schema["description"].as_str());
        let id = id_of(path);
        let error = self.error(path);
        let help_markup = html! { @if let Some(h) = help { small class="help" { (h) } } };
        match shape(root, schema) {
            Shape::Object(props) => self.object(root, props, value, path, &label, help_markup),
            Shape::Optional(inner) => {
                let present = child(path, PRESENT);
                let props = deref(root, inner)["properties"]
                    .as_object()
                    .cloned()
                    .unwrap_or_default();
                html! {
                    fieldset class="optional" {
                        legend { (label) }
                        (help_markup)
                        div class="field check" {
                            input type="checkbox" id=(id_of(&present)) name=(present) value="true" checked[!value.is_null()];
                            label for=(id_of(&present)) { "Set " (label.to_lowercase()) }
                        }
                        @for (k, ps) in &props { @if !self.hidden.contains(&child(path, k).as_str()) {
                            (self.field(root, ps, &value[k], &child(path, k), k))
                        } }
                    }
                }
            }
            Shape::Rows(items) => self.rows(root, items, value, path, &label, help_markup),
            Shape::Map => {
                let text: String = value
                    .as_object()
                    .into_iter()
                    .flatten()
                    .map(|(k, v)| format!("{k}: {}\n", v.as_str().unwrap_or_default()))
                    .collect();
                field_box(
                    &id,
                    &label,
                    help_markup,
                    error,
                    html! {
                        textarea id=(id) name=(path) rows="3" spellcheck="false" placeholder="name: value, one per line" { (text) }
                    },
                )
            }
            Shape::Lines(_) => {
                let text: String = value
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|v| {
                        format!(
                            "{}\n",
                            v.as_str().map_or_else(|| v.to_string(), str::to_string)
                        )
                    })
                    .collect();
                field_box(
                    &id,
                    &label,
                    help_markup,
                    error,
                    html! {
                        textarea id=(id) name=(path) rows="3" spellcheck="false" placeholder="one per line" { (text) }
                    },
                )
            }
            Shape::Choice(values) => field_box(
                &id,
                &label,
                help_markup,
                error,
                html! {
                    select id=(id) name=(path) {
                        @if nullable(root, schema) { option value="" { "(none)" } }
                        @for v in &values { option value=(v) selected[value.as_str() == Some(v.as_str())] { (v) } }
                    }
                },
            ),
            Shape::Text => field_box(
                &id,
                &label,
                help_markup,
                error,
                html! {
                    input type="text" id=(id) name=(path) value=(value.as_str().unwrap_or_default());
                },
            ),
            Shape::Number(integer) => field_box(
                &id,
                &label,
                help_markup,
                error,
                html! {
                    input type="number" id=(id) name=(path) step=(if integer { "1" } else { "any" })
                        value=(if value.is_number() { value.to_string() } else { String::new() });
                },
            ),
            Shape::Flag => html! {
                div class="field check" {
                    input type="hidden" name=(path) value="false";
                    input type="checkbox" id=(id) name=(path) value="true" checked[value == &Value::Bool(true)];
                    label for=(id) { (label) }
                    (help_markup)
                    @if let Some(e) = error { p class="error" { (e) } }
                }
            },
            Shape::TextOrJson => field_box(
                &id,
                &label,
                help_markup,
                error,
                html! {
                    input type="text" id=(id) name=(path)
                        value=(value.as_str().map_or_else(|| if value.is_null() { String::new() } else { value.to_string() }, str::to_string));
                },
            ),
            Shape::Json => field_box(
                &id,
                &format!("{label} (JSON)"),
                help_markup,
                error,
                html! {
                    textarea id=(id) name=(path) rows="4" spellcheck="false" { (if value.is_null() { String::new() } else { page::pretty(value) }) }
                },
            ),
        }
    }

    fn object(
        &self,
        root: &Value,
        props: &serde_json::Map<String, Value>,
        value: &Value,
        path: &str,
        label: &str,
        help: Markup,
    ) -> Markup {
        let fields = html! {
            @for (k, s) in props { @if !self.hidden.contains(&child(path, k).as_str()) {
                (self.field(root, s, &value[k], &child(path, k), k))
            } }
        };
        if path.is_empty() {
            return fields;
        }
        html! { fieldset { legend { (label) } (help) (fields) } }
    }

    fn rows(
        &self,
        root: &Value,
        items: &Value,
        value: &Value,
        path: &str,
        label: &str,
        help: Markup,
    ) -> Markup {
        let list = value.as_array().cloned().unwrap_or_default();
        let props = deref(root, items)["properties"]
            .as_object()
            .cloned()
            .unwrap_or_default();
        let singular = label.trim_end_matches('s');
        html! {
            fieldset class="rows" {
                legend { (label) }
                (help)
                @for (i, v) in list.iter().enumerate() {
                    @let at = item(path, i);
                    @let remove = child(&at, REMOVE);
                    fieldset class="row" {
                        legend { (singular) " " (i + 1) }
                        @for (k, s) in &props { (self.field(root, s, &v[k], &child(&at, k), k)) }
                        div class="field check" {
                            input type="checkbox" id=(id_of(&remove)) name=(remove) value="true";
                            label for=(id_of(&remove)) { "Remove " (singular.to_lowercase()) " " (i + 1) }
                        }
                    }
                }
                button type="submit" class="secondary" name=(ADD) value=(path) formnovalidate { "Add " (singular.to_lowercase()) }
            }
        }
    }
}

fn field_box(id: &str, label: &str, help: Markup, error: Option<&str>, input: Markup) -> Markup {
    html! {
        div class="field" {
            label for=(id) { (label) }
            (input)
            (help)
            @if let Some(e) = error { p class="error" id={(id) "-error"} { (e) } }
        }
    }
}

/// The fields of `value` under `schema` (an object's properties, at the top of the form).
pub fn render(form: &Form, schema: &Value, value: &Value) -> Markup {
    form.field(form.root, schema, value, "", "")
}
