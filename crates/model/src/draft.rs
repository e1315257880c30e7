//! `Draft`: unpublished work on an entity (Otoroshi's drafts). An API's draft has the API's id and
//! holds the whole next version of the API in `content`; the live API is untouched until it is
//! published, while testing mode serves the draft's routes behind the testing header.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::{Entity, Extra, FieldError, Kind, Refs, ids, prepare};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct Draft {
    /// The id of the entity this is a draft of.
    pub id: String,
    pub name: String,
    pub description: String,
    /// The drafted entity's kind (`Api`).
    pub kind: String,
    /// The drafted entity, complete.
    pub content: Value,
    pub tags: Vec<String>,
    pub metadata: BTreeMap<String, String>,
    #[serde(flatten)]
    pub extra: Extra,
}

impl Default for Draft {
    fn default() -> Self {
        Draft {
            id: String::new(),
            name: String::new(),
            description: String::new(),
            kind: Kind::Api.name().into(),
            content: Value::Object(Default::default()),
            tags: Vec::new(),
            metadata: BTreeMap::new(),
            extra: Extra::new(),
        }
    }
}

impl Entity for Draft {
    const KIND: Kind = Kind::Draft;

    fn complete(&mut self) {
        ids::ensure(&mut self.id, "draft_");
    }

    /// An API draft must be a valid API with the draft's id; it is stored in its canonical form.
    fn check(&self, refs: &dyn Refs, errors: &mut Vec<FieldError>) {
        if self.kind != Kind::Api.name() {
            errors.push(FieldError::new("kind", "only \"Api\" drafts are supported"));
            return;
        }
        if let Some(id) = self.content.get("id").and_then(Value::as_str)
            && id != self.id
        {
            errors.push(FieldError::new(
                "content.id",
                format!("a draft of API \"{}\" cannot hold API \"{id}\"", self.id),
            ));
        }
        if let Err(problems) = prepare(Kind::Api, self.content.clone(), refs) {
            errors.extend(problems.into_iter().map(|p| {
                let path = if p.path.is_empty() {
                    "content".to_string()
                } else {
                    format!("content.{}", p.path)
                };
                FieldError::new(path, p.message)
            }));
        }
    }
}
