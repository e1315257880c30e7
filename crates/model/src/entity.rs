//! The pipeline every document goes through before it is stored: Otoroshi spellings, schema check,
//! typed parse with defaults, generated values, cross-reference checks, canonical JSON out.

use schemars::JsonSchema;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::{
    Api, ApiKey, ApiSubscription, Backend, Certificate, Draft, GlobalConfig, JwtVerifier, Kind,
    Route, ServiceGroup, aliases, schema as schemas,
};

/// One problem in a document: where (`routes[0].backend`) and what.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FieldError {
    pub path: String,
    pub message: String,
}

impl FieldError {
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        FieldError {
            path: path.into(),
            message: message.into(),
        }
    }
}

/// Why a plugin slot cannot be used.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PluginProblem {
    /// No plugin has this id.
    Unknown,
    /// The plugin exists; its config is wrong at `path` (inside the config; empty: the whole).
    Config { path: String, message: String },
}

/// What validation needs to know about the rest of the configuration.
pub trait Refs {
    /// Whether an entity of `kind` with `id` exists (stored, or arriving in the same import).
    fn exists(&self, kind: Kind, id: &str) -> bool;
    /// Whether plugin `id` exists and accepts `config`; when it does, the keys of `config` it
    /// accepts without acting on, as `(path inside the config, message)`.
    fn check_plugin(
        &self,
        _id: &str,
        _config: &serde_json::Value,
    ) -> Result<Vec<(String, String)>, PluginProblem> {
        Ok(Vec::new())
    }
    /// Records a warning of the write: something accepted that does not take effect.
    fn warn(&self, _warning: FieldError) {}
}

/// A stored entity type.
pub trait Entity: Serialize + DeserializeOwned + JsonSchema + Default {
    const KIND: Kind;
    /// Fills what serde defaults cannot: generated ids, secrets, the default flow.
    fn complete(&mut self) {}
    /// Checks beyond types, pushing every problem found.
    fn check(&self, _refs: &dyn Refs, _errors: &mut Vec<FieldError>) {}
}

/// Turns an incoming document of `kind` into its canonical stored form, or lists every problem in it.
pub fn prepare(kind: Kind, doc: Value, refs: &dyn Refs) -> Result<Value, Vec<FieldError>> {
    match kind {
        Kind::Api => prepare_as::<Api>(doc, refs),
        Kind::ApiSubscription => prepare_as::<ApiSubscription>(doc, refs),
        Kind::Route => prepare_as::<Route>(doc, refs),
        Kind::Backend => prepare_as::<Backend>(doc, refs),
        Kind::Group => prepare_as::<ServiceGroup>(doc, refs),
        Kind::ApiKey => prepare_as::<ApiKey>(doc, refs),
        Kind::Certificate => prepare_as::<Certificate>(doc, refs),
        Kind::JwtVerifier => prepare_as::<JwtVerifier>(doc, refs),
        Kind::Draft => prepare_as::<Draft>(doc, refs),
        Kind::GlobalConfig => prepare_as::<GlobalConfig>(doc, refs),
        Kind::Developer => prepare_as::<crate::DeveloperAccount>(doc, refs),
        Kind::ApiDocument => prepare_as::<crate::ApiDocument>(doc, refs),
    }
}

/// Reads a stored (already prepared) document as its type.
pub fn parse<T: Entity>(doc: &Value) -> Result<T, FieldError> {
    serde_path_to_error::deserialize(doc).map_err(|e| {
        let path = e.path().to_string();
        let path = if path == "." { String::new() } else { path };
        FieldError::new(path, e.inner().to_string())
    })
}

/// The JSON Schema of `kind`'s documents.
pub fn schema(kind: Kind) -> &'static Value {
    schemas::of(kind)
}

/// A new entity of `kind` with every default filled (what `_template` serves).
pub fn template(kind: Kind) -> Value {
    struct Anything;
    impl Refs for Anything {
        fn exists(&self, _: Kind, _: &str) -> bool {
            true
        }
    }
    // A route must listen somewhere: its template starts with a placeholder domain, as
    // Otoroshi's does; a developer account needs an address.
    let seed = match kind {
        Kind::Route => serde_json::json!({"frontend": {"domains": ["new-route.example.com"]}}),
        Kind::Developer => serde_json::json!({"email": "developer@example.com"}),
        Kind::ApiDocument => serde_json::json!({"content": {}}),
        _ => Value::Object(Default::default()),
    };
    prepare(kind, seed, &Anything).expect("a template document is always valid")
}

fn prepare_as<T: Entity>(mut doc: Value, refs: &dyn Refs) -> Result<Value, Vec<FieldError>> {
    if !doc.is_object() {
        return Err(vec![FieldError::new("", "expected a JSON object")]);
    }
    aliases::normalize(T::KIND, &mut doc);
    let violations = schemas::check(T::KIND, &doc);
    let (pointers, mut errors): (Vec<String>, Vec<FieldError>) =
        violations.into_iter().map(|v| (v.pointer, v.error)).unzip();
    // Keep checking past type errors, on a copy without the offending values, so that one
    // answer lists every problem of the document.
    if !errors.is_empty() && !schemas::strip(&mut doc, &pointers) {
        return Err(errors);
    }
    let mut entity: T = match parse(&doc) {
        Ok(entity) => entity,
        Err(e) => {
            errors.push(e);
            return Err(errors);
        }
    };
    entity.complete();
    let mut semantic = Vec::new();
    entity.check(refs, &mut semantic);
    // A value already reported as mistyped was replaced by its default: don't report it twice.
    semantic.retain(|s| {
        !errors
            .iter()
            .any(|e| s.path.starts_with(e.path.as_str()) && !e.path.is_empty())
    });
    errors.extend(semantic);
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(serde_json::to_value(&entity).expect("entities always serialize"))
}

/// Pushes an error for every id of `ids` seen before, naming both places.
pub(crate) fn check_unique<'a>(
    field: &str,
    ids: impl Iterator<Item = &'a str>,
    errors: &mut Vec<FieldError>,
) {
    let mut seen: std::collections::HashMap<&str, usize> = Default::default();
    for (i, id) in ids.enumerate() {
        if let Some(first) = seen.insert(id, i) {
            errors.push(FieldError::new(
                format!("{field}[{i}].id"),
                format!("duplicate id \"{id}\" (also at {field}[{first}])"),
            ));
            seen.insert(id, first);
        }
    }
}
