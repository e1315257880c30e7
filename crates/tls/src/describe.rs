//! Filling a certificate document from its PEM, as it is written: `domain`, `sans`, `subject`,
//! `from`, `to`, `ca`, `selfSigned` and `valid` come from the leaf; a chain or a key that does not
//! parse, a key that does not match the leaf, or an encrypted key without its password is refused
//! with the field it concerns.

use serde_json::{Value, json};

use crate::inspect::inspect;

/// Fills `doc` (a certificate document) from its `chain` and `privateKey`; `now_ms` decides
/// `valid`. Errors are `(field, message)`.
pub fn describe_certificate(doc: &mut Value, now_ms: i64) -> Result<(), Vec<(String, String)>> {
    let text = |k: &str| {
        doc.get(k)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    let (chain, key) = (text("chain"), text("privateKey"));
    let password = doc
        .get("password")
        .and_then(Value::as_str)
        .map(str::to_string);
    if chain.trim().is_empty() {
        return Err(vec![(
            "chain".into(),
            "a certificate needs its PEM chain".into(),
        )]);
    }
    let inspected = inspect(&chain, &key, password.as_deref()).map_err(|problems| {
        problems
            .into_iter()
            .map(|(f, m)| (f.to_string(), m))
            .collect::<Vec<_>>()
    })?;
    let f = inspected.facts;
    let Some(obj) = doc.as_object_mut() else {
        return Err(vec![(String::new(), "expected a JSON object".into())]);
    };
    obj.insert("domain".into(), json!(f.domain));
    obj.insert("sans".into(), json!(f.sans));
    obj.insert("subject".into(), json!(f.subject));
    obj.insert("from".into(), json!(f.from_ms));
    obj.insert("to".into(), json!(f.to_ms));
    obj.insert("ca".into(), json!(f.ca));
    obj.insert("selfSigned".into(), json!(f.self_signed));
    obj.insert(
        "valid".into(),
        json!(now_ms >= f.from_ms && now_ms < f.to_ms),
    );
    obj.entry("name").or_insert_with(|| json!(f.domain));
    Ok(())
}
