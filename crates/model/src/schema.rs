//! JSON Schemas derived from the entity types, compiled once, and their errors turned into paths.

use std::sync::OnceLock;

use jsonschema::Validator;
use jsonschema::error::ValidationErrorKind;
use serde_json::Value;

use crate::{
    Api, ApiKey, ApiSubscription, Backend, Certificate, Draft, FieldError, GlobalConfig,
    JwtVerifier, Kind, Route, ServiceGroup,
};

struct Compiled {
    schema: Value,
    validator: Validator,
}

fn compiled(kind: Kind) -> &'static Compiled {
    static CACHE: [OnceLock<Compiled>; Kind::ALL.len()] =
        [const { OnceLock::new() }; Kind::ALL.len()];
    let slot = &CACHE[Kind::ALL.iter().position(|k| *k == kind).expect("listed")];
    slot.get_or_init(|| {
        let schema = match kind {
            Kind::Api => schemars::schema_for!(Api),
            Kind::ApiSubscription => schemars::schema_for!(ApiSubscription),
            Kind::Route => schemars::schema_for!(Route),
            Kind::Backend => schemars::schema_for!(Backend),
            Kind::Group => schemars::schema_for!(ServiceGroup),
            Kind::ApiKey => schemars::schema_for!(ApiKey),
            Kind::Certificate => schemars::schema_for!(Certificate),
            Kind::JwtVerifier => schemars::schema_for!(JwtVerifier),
            Kind::Draft => schemars::schema_for!(Draft),
            Kind::GlobalConfig => schemars::schema_for!(GlobalConfig),
            Kind::Developer => schemars::schema_for!(crate::DeveloperAccount),
            Kind::ApiDocument => schemars::schema_for!(crate::ApiDocument),
        };
        let schema = serde_json::to_value(schema).expect("schemas serialize");
        let validator = jsonschema::validator_for(&schema).expect("derived schemas compile");
        Compiled { schema, validator }
    })
}

pub(crate) fn of(kind: Kind) -> &'static Value {
    &compiled(kind).schema
}

/// The schema of a plan's `access_mode_configuration` for `mode`, when it has a typed one
/// (`apikey` and `oauth2-local`: the template of the keys they issue).
pub fn plan_config(mode: crate::AccessMode) -> Option<&'static Value> {
    static KEYS: OnceLock<Value> = OnceLock::new();
    matches!(
        mode,
        crate::AccessMode::Apikey | crate::AccessMode::Oauth2Local
    )
    .then(|| {
        KEYS.get_or_init(|| {
            serde_json::to_value(schemars::schema_for!(crate::KeyTemplate)).expect("serializes")
        })
    })
}

/// A schema violation: its readable error and the JSON pointer of the offending value.
pub(crate) struct Violation {
    pub error: FieldError,
    pub pointer: String,
}

/// Every schema violation of `doc`.
pub(crate) fn check(kind: Kind, doc: &Value) -> Vec<Violation> {
    compiled(kind)
        .validator
        .iter_errors(doc)
        .map(|e| {
            let pointer = e.instance_path().as_str().to_string();
            let message = match e.kind() {
                ValidationErrorKind::Enum { options } => {
                    let allowed: Vec<String> = options
                        .as_array()
                        .map(|a| a.iter().map(Value::to_string).collect())
                        .unwrap_or_default();
                    format!("{} is not one of {}", e.instance(), allowed.join(", "))
                }
                _ => e.to_string(),
            };
            let error = FieldError::new(pointer_to_path(&pointer), message);
            Violation { error, pointer }
        })
        .collect()
}

/// Removes the value at each pointer from `doc`, so that defaults take its place and the rest of
/// the document can still be checked. Array elements are left alone (removing one would shift the
/// paths of its siblings); returns whether every value could be removed.
pub(crate) fn strip(doc: &mut Value, pointers: &[String]) -> bool {
    let mut all = true;
    for pointer in pointers {
        let Some((parent, key)) = pointer.rsplit_once('/') else {
            all = false;
            continue;
        };
        let key = key.replace("~1", "/").replace("~0", "~");
        match doc.pointer_mut(parent) {
            Some(Value::Object(map)) => {
                map.remove(&key);
            }
            _ => all = false,
        }
    }
    all
}

/// `/routes/0/backend` → `routes[0].backend`.
pub(crate) fn pointer_to_path(pointer: &str) -> String {
    let mut out = String::new();
    for seg in pointer.split('/').skip(1) {
        let seg = seg.replace("~1", "/").replace("~0", "~");
        if !seg.is_empty() && seg.bytes().all(|b| b.is_ascii_digit()) {
            out.push('[');
            out.push_str(&seg);
            out.push(']');
        } else {
            if !out.is_empty() {
                out.push('.');
            }
            out.push_str(&seg);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::pointer_to_path;

    #[test]
    fn pointers_read_as_paths() {
        assert_eq!(pointer_to_path(""), "");
        assert_eq!(pointer_to_path("/routes/0/backend"), "routes[0].backend");
        assert_eq!(pointer_to_path("/a~1b/2"), "a/b[2]");
    }
}
