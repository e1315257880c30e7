//! `ServiceGroup` (seed 003): the authorization scope of API keys.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::{Entity, Extra, Kind, ids};

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct ServiceGroup {
    pub id: String,
    pub name: String,
    pub description: String,
    pub tags: Vec<String>,
    pub metadata: BTreeMap<String, String>,
    #[serde(flatten)]
    pub extra: Extra,
}

impl Entity for ServiceGroup {
    const KIND: Kind = Kind::Group;

    fn complete(&mut self) {
        ids::ensure(&mut self.id, "group_");
        if self.name.is_empty() {
            self.name = self.id.clone();
        }
    }
}
