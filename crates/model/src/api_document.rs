//! `ApiDocument`: a large document an API's documentation points to (`document_ref` of a
//! resource), stored on its own — an imported OpenAPI specification of 13 MB must not ride along
//! with every read, write and deployment snapshot of the API.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::{Entity, Extra, FieldError, Kind, Refs, ids};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct ApiDocument {
    pub id: String,
    /// The API whose documentation points to it.
    pub api_ref: String,
    pub content_type: String,
    /// The document (an OpenAPI specification as JSON).
    pub content: Value,
    #[serde(flatten)]
    pub extra: Extra,
}

impl Default for ApiDocument {
    fn default() -> Self {
        ApiDocument {
            id: String::new(),
            api_ref: String::new(),
            content_type: "application/json".into(),
            content: Value::Null,
            extra: Extra::new(),
        }
    }
}

impl Entity for ApiDocument {
    const KIND: Kind = Kind::ApiDocument;

    fn complete(&mut self) {
        ids::ensure(&mut self.id, "api_document_");
    }

    fn check(&self, _refs: &dyn Refs, errors: &mut Vec<FieldError>) {
        if self.content.is_null() {
            errors.push(FieldError::new("content", "a document holds content"));
        }
    }
}
