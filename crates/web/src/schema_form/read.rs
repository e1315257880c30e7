//! Reading posted fields back into a value, over the stored one.

use serde_json::{Map, Value};

use super::{PRESENT, REMOVE, Shape, child, deref, item, nullable, shape};
use crate::form::Fields;

struct Reader<'a> {
    fields: &'a Fields,
    hidden: &'a [&'a str],
    overrides: &'a [(&'a str, &'a Value)],
    errors: Vec<(String, String)>,
}

impl Reader<'_> {
    fn values(&self, path: &str) -> impl Iterator<Item = &str> {
        self.fields
            .0
            .iter()
            .filter(move |(k, _)| k == path)
            .map(|(_, v)| v.as_str())
    }

    fn one(&self, path: &str) -> Option<&str> {
        self.values(path).next()
    }

    /// Whether the form holds this path or anything below it.
    fn posted(&self, path: &str) -> bool {
        self.fields.0.iter().any(|(k, _)| {
            path.is_empty()
                || k == path
                || k.strip_prefix(path)
                    .is_some_and(|r| r.starts_with('.') || r.starts_with('['))
        })
    }

    fn fail(&mut self, path: &str, message: impl Into<String>) -> Option<Value> {
        self.errors.push((path.to_string(), message.into()));
        None
    }

    /// The value at `path`, or `None` when the form does not hold it (the stored one stays).
    fn field(&mut self, root: &Value, schema: &Value, path: &str, stored: &Value) -> Option<Value> {
        match self.overrides.iter().find(|(p, _)| *p == path) {
            Some((_, doc)) => self.value(doc, doc, path, stored),
            None => self.value(root, schema, path, stored),
        }
    }

    fn value(&mut self, root: &Value, schema: &Value, path: &str, stored: &Value) -> Option<Value> {
        if !self.posted(path) {
            return None;
        }
        let null_ok = nullable(root, schema);
        match shape(root, schema) {
            Shape::Object(props) => Some(self.object(root, props, path, stored)),
            Shape::Optional(inner) => {
                if self.one(&child(path, PRESENT)) != Some("true") {
                    return Some(Value::Null);
                }
                let props = deref(root, inner)["properties"].as_object()?;
                Some(self.object(root, props, path, stored))
            }
            Shape::Rows(items) => {
                let props = deref(root, items)["properties"].as_object()?;
                let mut out = Vec::new();
                for i in 0.. {
                    let at = item(path, i);
                    if !self.posted(&at) {
                        break;
                    }
                    if self.one(&child(&at, REMOVE)) == Some("true") {
                        continue;
                    }
                    out.push(self.object(root, props, &at, &stored[i]));
                }
                Some(Value::Array(out))
            }
            Shape::Map => {
                let mut map = Map::new();
                for line in self
                    .one(path)?
                    .lines()
                    .map(str::trim)
                    .filter(|l| !l.is_empty())
                {
                    match line.split_once(':') {
                        Some((k, v)) => {
                            map.insert(k.trim().to_string(), Value::String(v.trim().to_string()));
                        }
                        None => return self.fail(path, format!("\"{line}\": write name: value")),
                    }
                }
                Some(Value::Object(map))
            }
            Shape::Lines(ty) => {
                let mut out = Vec::new();
                for line in self
                    .one(path)?
                    .lines()
                    .map(str::trim)
                    .filter(|l| !l.is_empty())
                {
                    out.push(match ty {
                        "string" => Value::String(line.to_string()),
                        _ => match number(line, ty == "integer") {
                            Some(n) => n,
                            None => return self.fail(path, format!("\"{line}\" is not a number")),
                        },
                    });
                }
                Some(Value::Array(out))
            }
            Shape::Choice(_) | Shape::Text => {
                let v = self.one(path)?.trim();
                Some(if v.is_empty() && null_ok {
                    Value::Null
                } else {
                    Value::String(v.to_string())
                })
            }
            Shape::Number(integer) => {
                let v = self.one(path)?.trim();
                if v.is_empty() {
                    return if null_ok {
                        Some(Value::Null)
                    } else {
                        self.fail(path, "a number is needed")
                    };
                }
                match number(v, integer) {
                    Some(n) => Some(n),
                    None if integer => self.fail(path, format!("\"{v}\" is not a whole number")),
                    None => self.fail(path, format!("\"{v}\" is not a number")),
                }
            }
            Shape::TextOrJson => {
                let v = self.one(path)?.trim();
                if v.is_empty() {
                    return Some(Value::Null);
                }
                if v.starts_with('{') || v.starts_with('[') {
                    return match serde_json::from_str(v) {
                        Ok(doc) => Some(doc),
                        Err(e) => self.fail(path, format!("not JSON: {e}")),
                    };
                }
                Some(Value::String(v.to_string()))
            }
            Shape::Flag => Some(Value::Bool(self.values(path).any(|v| v == "true"))),
            Shape::Json => {
                let v = self.one(path)?.trim();
                if v.is_empty() {
                    return Some(Value::Null);
                }
                match serde_json::from_str(v) {
                    Ok(doc) => Some(doc),
                    Err(e) => self.fail(path, format!("not JSON: {e}")),
                }
            }
        }
    }

    fn object(
        &mut self,
        root: &Value,
        props: &Map<String, Value>,
        path: &str,
        stored: &Value,
    ) -> Value {
        let mut out = stored.as_object().cloned().unwrap_or_default();
        for (k, s) in props {
            let at = child(path, k);
            if self.hidden.contains(&at.as_str()) {
                continue;
            }
            if let Some(v) = self.field(root, s, &at, &stored[k]) {
                if v.is_null() && !out.contains_key(k) {
                    continue;
                }
                out.insert(k.clone(), v);
            }
        }
        Value::Object(out)
    }
}

fn number(text: &str, integer: bool) -> Option<Value> {
    if integer {
        text.parse::<i64>().ok().map(Value::from)
    } else {
        text.parse::<f64>()
            .ok()
            .and_then(serde_json::Number::from_f64)
            .map(Value::Number)
    }
}

/// The value the form's fields describe, laid over `stored`, or the problems by field path.
pub fn read(
    root: &Value,
    schema: &Value,
    fields: &Fields,
    stored: &Value,
    hidden: &[&str],
    overrides: &[(&str, &Value)],
) -> Result<Value, Vec<(String, String)>> {
    let mut r = Reader {
        fields,
        hidden,
        overrides,
        errors: Vec::new(),
    };
    let value = r
        .field(root, schema, "", stored)
        .unwrap_or_else(|| stored.clone());
    if r.errors.is_empty() {
        Ok(value)
    } else {
        Err(r.errors)
    }
}
