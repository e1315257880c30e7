//! Otoroshi's own spellings, rewritten to the seed spellings before anything else looks at a document.
//!
//! Simple renames inside nested types use `#[serde(alias)]`; the ones here need context: `clients`
//! means backend client configs in Otoroshi's Api but API clients in seed 001, told apart by shape.

use serde_json::{Map, Value};

use crate::Kind;

pub(crate) fn normalize(kind: Kind, doc: &mut Value) {
    let Some(obj) = doc.as_object_mut() else {
        return;
    };
    // An admin answer's warnings, sent back with the entity: not part of it.
    obj.remove("warnings");
    match kind {
        Kind::Api => normalize_api(obj),
        Kind::Route => rename(obj, "backendRef", "backend_ref"),
        _ => {}
    }
}

fn normalize_api(obj: &mut Map<String, Value>) {
    rename(obj, "contextPath", "context_path");
    if !obj.contains_key("clients_backend_config") && is_backend_clients(obj.get("clients")) {
        let clients = obj.remove("clients").expect("checked");
        obj.insert("clients_backend_config".into(), clients);
    }
    if let Some(consumers) = obj.remove("consumers") {
        let doc = obj
            .entry("documentation")
            .or_insert_with(|| Value::Object(Map::new()));
        if let Some(doc) = doc.as_object_mut() {
            doc.entry("plans").or_insert(consumers);
        }
    }
    if let Some(doc) = obj.get_mut("documentation").and_then(Value::as_object_mut) {
        rename(doc, "consumers", "plans");
    }
}

/// Otoroshi's backend client entries carry a `client` object; API clients never do.
fn is_backend_clients(clients: Option<&Value>) -> bool {
    match clients.and_then(Value::as_array) {
        Some(items) if !items.is_empty() => items
            .iter()
            .all(|c| c.get("client").is_some_and(Value::is_object)),
        _ => false,
    }
}

fn rename(obj: &mut Map<String, Value>, from: &str, to: &str) {
    if !obj.contains_key(to)
        && let Some(v) = obj.remove(from)
    {
        obj.insert(to.into(), v);
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn otoroshi_spellings_become_seed_spellings() {
        let mut doc = json!({
            "contextPath": "/v1",
            "clients": [{"id": "c", "client": {"retries": 2}}],
            "consumers": [{"id": "p"}]
        });
        normalize(Kind::Api, &mut doc);
        assert_eq!(doc["context_path"], "/v1");
        assert_eq!(doc["clients_backend_config"][0]["id"], "c");
        assert!(doc.get("clients").is_none());
        assert_eq!(doc["documentation"]["plans"][0]["id"], "p");
    }

    #[test]
    fn seed_clients_stay_clients() {
        let mut doc = json!({"clients": [{"id": "client_acme", "name": "ACME"}]});
        normalize(Kind::Api, &mut doc);
        assert_eq!(doc["clients"][0]["id"], "client_acme");
        assert!(doc.get("clients_backend_config").is_none());
    }
}
