//! Reading a plugin's config object into its typed form, with a message naming the bad key.

use serde::de::DeserializeOwned;
use serde_json::Value;

/// Parses `config` (`{}` when absent) as `T`.
pub(crate) fn parse<T: DeserializeOwned>(config: &Value) -> Result<T, String> {
    if config.is_null() {
        return T::deserialize(&Value::Object(Default::default())).map_err(|e| e.to_string());
    }
    T::deserialize(config).map_err(|e| e.to_string())
}

/// Compiles Otoroshi wildcard patterns (`*` any text, `.` literal) into one anchored regex set.
pub(crate) fn wildcards(patterns: &[String]) -> Result<regex::RegexSet, String> {
    let anchored = patterns.iter().map(|p| {
        let escaped = regex::escape(p).replace("\\*", ".*");
        format!("^{escaped}$")
    });
    regex::RegexSet::new(anchored).map_err(|e| e.to_string())
}

/// Compiles full-match regexes (Otoroshi's include/exclude and excluded_patterns); `None` when
/// there are none. An error names `field`.
pub(crate) fn regexes(patterns: &[String], field: &str) -> Result<Option<regex::RegexSet>, String> {
    if patterns.is_empty() {
        return Ok(None);
    }
    regex::RegexSet::new(patterns.iter().map(|p| format!("^(?:{p})$")))
        .map(Some)
        .map_err(|e| format!("{field}: {e}"))
}
