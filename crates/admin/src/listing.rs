//! List parameters as Otoroshi takes them: `page` (from 1), `pageSize`, `filter.<field>=<value>`
//! (dotted paths into the document), `fields=a,b`, `sorted=<field>[:desc]`.

use std::cmp::Ordering;

use komainu_model::FieldError;
use serde_json::{Map, Value};

use crate::error::{ApiError, ApiResult};

const MAX_PAGE_SIZE: usize = 10_000;

pub(crate) struct ListQuery {
    pub page: usize,
    pub page_size: usize,
    filters: Vec<(String, String)>,
    fields: Option<Vec<String>>,
    sorted: Option<(String, bool)>,
}

pub(crate) struct Page {
    pub total: usize,
    pub items: Vec<Value>,
}

fn positive(name: &str, value: &str) -> ApiResult<usize> {
    match value.parse::<usize>() {
        Ok(n) if n >= 1 => Ok(n),
        _ => Err(ApiError::invalid(vec![FieldError::new(
            name,
            format!("\"{value}\" is not a positive integer"),
        )])),
    }
}

impl ListQuery {
    pub fn parse(params: &[(String, String)]) -> ApiResult<Self> {
        let mut q = ListQuery {
            page: 1,
            page_size: MAX_PAGE_SIZE,
            filters: Vec::new(),
            fields: None,
            sorted: None,
        };
        for (key, value) in params {
            match key.as_str() {
                "page" => q.page = positive("page", value)?,
                "pageSize" | "page_size" => {
                    q.page_size = positive("pageSize", value)?.min(MAX_PAGE_SIZE)
                }
                "fields" => {
                    q.fields = Some(value.split(',').map(|f| f.trim().to_string()).collect())
                }
                "sorted" => {
                    let (field, dir) = value.split_once(':').unwrap_or((value, "asc"));
                    q.sorted = Some((field.to_string(), dir.eq_ignore_ascii_case("desc")));
                }
                _ => {
                    if let Some(field) = key.strip_prefix("filter.") {
                        q.filters.push((field.to_string(), value.clone()));
                    }
                }
            }
        }
        Ok(q)
    }
}

/// The value at a dotted path (`frontend.domains`).
fn at<'a>(doc: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.').try_fold(doc, |v, key| v.get(key))
}

/// A filter matches a scalar equal to its text, or an array holding such a scalar.
fn matches(value: Option<&Value>, wanted: &str) -> bool {
    match value {
        Some(Value::String(s)) => s == wanted,
        Some(Value::Array(items)) => items.iter().any(|i| matches(Some(i), wanted)),
        Some(Value::Null) | None => wanted == "null",
        // Numbers and booleans match their JSON text: `filter.port=80`, `filter.enabled=true`.
        Some(other) => {
            let text = other.to_string();
            text == wanted
        }
    }
}

fn compare(a: Option<&Value>, b: Option<&Value>) -> Ordering {
    match (a, b) {
        (Some(Value::Number(x)), Some(Value::Number(y))) => x
            .as_f64()
            .partial_cmp(&y.as_f64())
            .unwrap_or(Ordering::Equal),
        (Some(Value::String(x)), Some(Value::String(y))) => x.cmp(y),
        (x, y) => x.map(Value::to_string).cmp(&y.map(Value::to_string)),
    }
}

pub(crate) fn apply(mut docs: Vec<Value>, q: &ListQuery) -> Page {
    docs.retain(|d| q.filters.iter().all(|(f, v)| matches(at(d, f), v)));
    if let Some((field, desc)) = &q.sorted {
        docs.sort_by(|a, b| {
            let o = compare(at(a, field), at(b, field));
            if *desc { o.reverse() } else { o }
        });
    }
    let total = docs.len();
    let items = docs
        .into_iter()
        .skip((q.page - 1).saturating_mul(q.page_size))
        .take(q.page_size)
        .map(|d| match &q.fields {
            None => d,
            Some(fields) => {
                let picked: Map<String, Value> = fields
                    .iter()
                    .filter_map(|f| at(&d, f).map(|v| (f.clone(), v.clone())))
                    .collect();
                Value::Object(picked)
            }
        })
        .collect();
    Page { total, items }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn query(pairs: &[(&str, &str)]) -> ListQuery {
        let owned: Vec<_> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        ListQuery::parse(&owned).unwrap()
    }

    #[test]
    fn filters_sorts_pages_and_picks_fields() {
        let docs = vec![
            json!({"id": "a", "n": 3, "tags": ["x"], "m": {"k": "v"}}),
            json!({"id": "b", "n": 1, "tags": ["y"], "m": {"k": "v"}}),
            json!({"id": "c", "n": 2, "tags": ["x"], "m": {"k": "w"}}),
        ];
        let page = apply(
            docs.clone(),
            &query(&[("filter.tags", "x"), ("sorted", "n:desc")]),
        );
        assert_eq!(page.total, 2);
        assert_eq!(page.items[0]["id"], "a");
        let page = apply(
            docs.clone(),
            &query(&[("filter.m.k", "v"), ("fields", "id")]),
        );
        assert_eq!(page.items, vec![json!({"id": "a"}), json!({"id": "b"})]);
        let page = apply(
            docs,
            &query(&[("page", "2"), ("pageSize", "2"), ("sorted", "n")]),
        );
        assert_eq!((page.total, page.items.len()), (3, 1));
        assert_eq!(page.items[0]["id"], "a");
    }

    #[test]
    fn bad_numbers_are_refused() {
        let bad = [("page".to_string(), "0".to_string())];
        assert!(ListQuery::parse(&bad).is_err());
    }
}
