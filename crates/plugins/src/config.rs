//! Reading a plugin's config object into its typed form. Configs are strict: an unknown key, a
//! wrong type or an invalid value is refused with the path of the offending value inside the
//! config, so a misspelled key in a security plugin fails the write instead of failing open.

use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

/// What is wrong with a plugin's config, and where in it (`addresses[1]`; empty for the whole).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    pub path: String,
    pub message: String,
}

impl ConfigError {
    pub fn at(path: impl Into<String>, message: impl Into<String>) -> Self {
        ConfigError {
            path: path.into(),
            message: message.into(),
        }
    }
}

impl From<String> for ConfigError {
    fn from(message: String) -> Self {
        ConfigError::at("", message)
    }
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.path.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

/// Parses `config` (`{}` when absent) as `T`, naming the path of the first problem.
pub(crate) fn parse<T: DeserializeOwned>(config: &Value) -> Result<T, ConfigError> {
    let empty = Value::Object(Default::default());
    let config = if config.is_null() { &empty } else { config };
    serde_path_to_error::deserialize(config).map_err(|e| {
        let path = e.path().to_string();
        let path = if path == "." { String::new() } else { path };
        ConfigError::at(path, e.inner().to_string())
    })
}

/// The config of a plugin without settings: any key is refused.
#[derive(Deserialize, serde::Serialize, schemars::JsonSchema, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct NoConfig {}

/// Compiles Otoroshi wildcard patterns (`*` any text, `.` literal) into one anchored regex set.
pub(crate) fn wildcards(patterns: &[String], field: &str) -> Result<regex::RegexSet, ConfigError> {
    let anchored: Vec<String> = patterns
        .iter()
        .map(|p| format!("^{}$", regex::escape(p).replace("\\*", ".*")))
        .collect();
    regex::RegexSet::new(&anchored).map_err(|e| ConfigError::at(field, e.to_string()))
}

/// Compiles full-match regexes (Otoroshi's include/exclude and excluded_patterns); `None` when
/// there are none. An error names `field[i]`.
pub(crate) fn regexes(
    patterns: &[String],
    field: &str,
) -> Result<Option<regex::RegexSet>, ConfigError> {
    if patterns.is_empty() {
        return Ok(None);
    }
    let anchored: Vec<String> = patterns.iter().map(|p| format!("^(?:{p})$")).collect();
    regex::RegexSet::new(&anchored).map(Some).map_err(|e| {
        let at = anchored
            .iter()
            .position(|p| regex::Regex::new(p).is_err())
            .map_or(field.to_string(), |i| format!("{field}[{i}]"));
        ConfigError::at(at, e.to_string())
    })
}

/// A plugin's default config and the JSON Schema of its config.
pub struct Described {
    pub default: Value,
    pub schema: Value,
}

/// The default config of a plugin and the JSON Schema of its config type.
pub(crate) fn describe<T>() -> Described
where
    T: Default + serde::Serialize + schemars::JsonSchema,
{
    Described {
        default: serde_json::to_value(T::default()).expect("configs serialize"),
        schema: serde_json::to_value(schemars::schema_for!(T)).expect("schemas serialize"),
    }
}

/// Otoroshi's strategy `id` of a limit plugin's config: absent, or the one the plugin implements.
pub(crate) fn strategy(id: Option<&str>, expected: &str) -> Result<(), ConfigError> {
    match id {
        Some(id) if id != expected => {
            Err(ConfigError::at("id", format!("\"{id}\" is not {expected}")))
        }
        _ => Ok(()),
    }
}
