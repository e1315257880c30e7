//! [`Extra`]: the fields of a document this version does not model, kept to be written back.
//!
//! Nearly every document has none, and an entity nests several of these (a route has seven), so
//! an empty one must cost one pointer, not an empty map's 72 bytes: 10,000 routes and 100,000
//! keys are held in memory.

use std::borrow::Cow;

use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Extra(Option<Box<Map<String, Value>>>);

impl Extra {
    pub const fn new() -> Self {
        Extra(None)
    }

    pub fn get(&self, key: &str) -> Option<&Value> {
        self.0.as_ref()?.get(key)
    }

    pub fn insert(&mut self, key: String, value: Value) -> Option<Value> {
        self.0
            .get_or_insert_with(Default::default)
            .insert(key, value)
    }

    pub fn remove(&mut self, key: &str) -> Option<Value> {
        self.0.as_mut()?.remove(key)
    }

    pub fn is_empty(&self) -> bool {
        self.0.as_ref().is_none_or(|m| m.is_empty())
    }
}

impl From<Map<String, Value>> for Extra {
    fn from(map: Map<String, Value>) -> Self {
        Extra((!map.is_empty()).then(|| Box::new(map)))
    }
}

impl Serialize for Extra {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        static EMPTY: std::sync::OnceLock<Map<String, Value>> = std::sync::OnceLock::new();
        self.0
            .as_deref()
            .unwrap_or_else(|| EMPTY.get_or_init(Map::new))
            .serialize(s)
    }
}

impl<'de> Deserialize<'de> for Extra {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Map::<String, Value>::deserialize(d).map(Extra::from)
    }
}

impl JsonSchema for Extra {
    fn inline_schema() -> bool {
        <Map<String, Value>>::inline_schema()
    }

    fn schema_name() -> Cow<'static, str> {
        <Map<String, Value>>::schema_name()
    }

    fn schema_id() -> Cow<'static, str> {
        <Map<String, Value>>::schema_id()
    }

    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        <Map<String, Value>>::json_schema(generator)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[derive(Serialize, Deserialize, PartialEq, Debug)]
    struct Doc {
        id: String,
        #[serde(flatten)]
        extra: Extra,
    }

    #[test]
    fn unknown_fields_round_trip_and_none_cost_nothing() {
        let doc: Doc = serde_json::from_value(json!({"id": "a", "x": {"y": 1}})).unwrap();
        assert_eq!(doc.extra.get("x"), Some(&json!({"y": 1})));
        assert_eq!(
            serde_json::to_value(&doc).unwrap(),
            json!({"id": "a", "x": {"y": 1}})
        );
        let plain: Doc = serde_json::from_value(json!({"id": "b"})).unwrap();
        assert_eq!(plain.extra, Extra::new());
        assert_eq!(serde_json::to_value(&plain).unwrap(), json!({"id": "b"}));
        assert_eq!(std::mem::size_of::<Extra>(), 8);
    }
}
