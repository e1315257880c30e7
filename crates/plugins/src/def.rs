//! What describes a plugin: its name and steps, how it is built from its config, its config's
//! defaults and JSON Schema. Each plugin of the catalogue declares one; the registry lists them.

use std::sync::Arc;

use serde_json::Value;

use crate::config::{ConfigError, Described};
use crate::{Plugin, Services};

pub(crate) type Build = fn(&Value, &Services) -> Result<Arc<dyn Plugin>, ConfigError>;

/// What a plugin is, for the registry.
pub struct PluginDef {
    /// Otoroshi's class name: the id is `cp:otoroshi.next.plugins.<name>`.
    pub name: &'static str,
    pub title: &'static str,
    pub description: &'static str,
    /// Otoroshi's categories (`AccessControl`, `Headers`, ...).
    pub categories: &'static [&'static str],
    /// Otoroshi's steps (`PreRoute`, `ValidateAccess`, `TransformRequest`, `TransformResponse`,
    /// `CallBackend`).
    pub steps: &'static [&'static str],
    pub build: Build,
    pub describe: fn() -> Described,
    /// Config keys (dotted paths) Otoroshi writes that Komainu accepts and does not act on: each
    /// present in a config is reported as a warning of the write.
    pub inert: &'static [&'static str],
}
