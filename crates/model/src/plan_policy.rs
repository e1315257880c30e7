//! A plan's `validation` and `visibility` (Otoroshi 18): a `kind` and its `config`. Both decide who
//! gets access, so a shape that is not understood is refused, never read as the default: the short
//! form `"manual"` means `{"kind": "manual"}`, and an unknown kind names the field.

use std::borrow::Cow;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

use crate::{Extra, FieldError};

/// The kinds a plan's `validation` takes: who approves its subscriptions.
pub const VALIDATION_KINDS: [&str; 6] = ["auto", "manual", "webhook", "workflow", "wasm", "custom"];
/// The kinds a plan's `visibility` takes: who sees it in the portal.
pub const VISIBILITY_KINDS: [&str; 4] = ["public", "semi_public", "private", "custom"];

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PlanPolicy {
    pub kind: String,
    #[serde(default, skip_serializing_if = "Value::is_null")]
    pub config: Value,
    #[serde(flatten)]
    pub extra: Extra,
}

impl PlanPolicy {
    pub fn of(kind: &str) -> Self {
        PlanPolicy {
            kind: kind.into(),
            config: Value::Null,
            extra: Extra::new(),
        }
    }

    pub(crate) fn auto() -> Self {
        Self::of("auto")
    }

    pub(crate) fn public() -> Self {
        Self::of("public")
    }

    /// Problems with the kind, at `at` (the field's path).
    pub(crate) fn check(&self, at: &str, kinds: &[&str], errors: &mut Vec<FieldError>) {
        if !kinds.contains(&self.kind.as_str()) {
            let said = if self.kind.is_empty() {
                "no kind".to_string()
            } else {
                format!("\"{}\"", self.kind)
            };
            errors.push(FieldError::new(
                format!("{at}.kind"),
                format!("{said}: expected one of {}", kinds.join(", ")),
            ));
        }
    }
}

impl JsonSchema for PlanPolicy {
    fn schema_name() -> Cow<'static, str> {
        "PlanPolicy".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "A kind, or {\"kind\": ..., \"config\": ...}",
            "anyOf": [
                {"type": "string"},
                {"type": "object", "properties": {"kind": {"type": "string"}, "config": {}}}
            ]
        })
    }
}

/// The written forms: a kind alone, or the whole object.
#[derive(Deserialize)]
struct Full {
    #[serde(default)]
    kind: Option<String>,
    #[serde(default)]
    config: Value,
    #[serde(flatten)]
    extra: Extra,
}

impl<'de> Deserialize<'de> for PlanPolicy {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match Value::deserialize(d)? {
            Value::String(kind) => Ok(PlanPolicy::of(&kind)),
            Value::Object(map) => {
                let full: Full =
                    serde_json::from_value(Value::Object(map)).map_err(serde::de::Error::custom)?;
                Ok(PlanPolicy {
                    kind: full.kind.unwrap_or_default(),
                    config: full.config,
                    extra: full.extra,
                })
            }
            other => Err(serde::de::Error::custom(format!(
                "expected a kind (a string) or {{\"kind\": ..., \"config\": ...}}, not {other}"
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_short_form_is_the_kind() {
        let p: PlanPolicy = serde_json::from_value(json!("manual")).unwrap();
        assert_eq!(p.kind, "manual");
        assert_eq!(serde_json::to_value(&p).unwrap(), json!({"kind": "manual"}));
        let p: PlanPolicy =
            serde_json::from_value(json!({"kind": "webhook", "config": {"url": "u"}})).unwrap();
        assert_eq!(
            (p.kind.as_str(), &p.config),
            ("webhook", &json!({"url": "u"}))
        );
        assert!(serde_json::from_value::<PlanPolicy>(json!(true)).is_err());
    }

    #[test]
    fn unknown_kinds_name_the_field() {
        let mut errors = Vec::new();
        PlanPolicy::of("manaul").check("validation", &VALIDATION_KINDS, &mut errors);
        PlanPolicy::of("").check("visibility", &VISIBILITY_KINDS, &mut errors);
        PlanPolicy::of("manual").check("validation", &VALIDATION_KINDS, &mut errors);
        let paths: Vec<_> = errors.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(paths, ["validation.kind", "visibility.kind"]);
    }
}
