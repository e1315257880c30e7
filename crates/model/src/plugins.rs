//! `NgPlugins`: the plugin slots of a route or a flow.
//!
//! Otoroshi writes a route's plugins as an array and an API flow's as `{"slots": [...]}`; both are
//! read, and each document is written back in the form it came in.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::{Extra, FieldError, PluginProblem, Refs};

/// One plugin in a chain, with where it applies and its configuration.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct PluginSlot {
    /// Otoroshi plugin id, e.g. `cp:otoroshi.next.plugins.OverrideHost`.
    pub plugin: String,
    pub enabled: bool,
    pub debug: bool,
    /// Path patterns the plugin applies to (empty: all).
    pub include: Vec<String>,
    /// Path patterns the plugin skips.
    pub exclude: Vec<String>,
    pub config: serde_json::Map<String, Value>,
    #[serde(flatten)]
    pub extra: Extra,
}

impl Default for PluginSlot {
    fn default() -> Self {
        PluginSlot {
            plugin: String::new(),
            enabled: true,
            debug: false,
            include: Vec::new(),
            exclude: Vec::new(),
            config: Default::default(),
            extra: Extra::new(),
        }
    }
}

impl PluginSlot {
    /// An enabled slot for `plugin` with an empty config.
    pub fn new(plugin: &str) -> Self {
        PluginSlot {
            plugin: plugin.to_string(),
            ..Default::default()
        }
    }
}

/// A plugin chain, in either of Otoroshi's two spellings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum NgPlugins {
    List(Vec<PluginSlot>),
    Slots {
        #[serde(default)]
        slots: Vec<PluginSlot>,
        #[serde(flatten)]
        extra: Extra,
    },
}

impl Default for NgPlugins {
    fn default() -> Self {
        NgPlugins::List(Vec::new())
    }
}

impl NgPlugins {
    /// The `{"slots": [...]}` form used by API flows.
    pub fn slots(slots: Vec<PluginSlot>) -> Self {
        NgPlugins::Slots {
            slots,
            extra: Extra::new(),
        }
    }

    /// The slots, whatever the spelling.
    pub fn as_slice(&self) -> &[PluginSlot] {
        match self {
            NgPlugins::List(s) => s,
            NgPlugins::Slots { slots, .. } => slots,
        }
    }

    pub(crate) fn check(&self, at: &str, refs: &dyn Refs, errors: &mut Vec<FieldError>) {
        let base = match self {
            NgPlugins::List(_) => at.to_string(),
            NgPlugins::Slots { .. } => format!("{at}.slots"),
        };
        for (i, slot) in self.as_slice().iter().enumerate() {
            match refs.check_plugin(&slot.plugin, &Value::Object(slot.config.clone())) {
                Ok(inert) => {
                    for (path, message) in inert {
                        refs.warn(FieldError::new(
                            format!("{base}[{i}].config.{path}"),
                            message,
                        ));
                    }
                }
                Err(PluginProblem::Unknown) => errors.push(FieldError::new(
                    format!("{base}[{i}].plugin"),
                    format!("unknown plugin \"{}\"", slot.plugin),
                )),
                Err(PluginProblem::Config { path, message }) => {
                    let at = if path.is_empty() {
                        format!("{base}[{i}].config")
                    } else {
                        format!("{base}[{i}].config.{path}")
                    };
                    errors.push(FieldError::new(at, message))
                }
            }
            for (field, patterns) in [("include", &slot.include), ("exclude", &slot.exclude)] {
                for (j, p) in patterns.iter().enumerate() {
                    if let Err(e) = regex::Regex::new(&format!("^(?:{p})$")) {
                        errors.push(FieldError::new(
                            format!("{base}[{i}].{field}[{j}]"),
                            format!("not a regular expression: {e}"),
                        ));
                    }
                }
            }
        }
    }
}
