use maud::Render;
use serde_json::json;

use super::*;
use crate::form::Fields;
use crate::page::Problems;

fn schema() -> Value {
    json!({
        "type": "object",
        "properties": {
            "name": {"type": "string", "description": "What people call it."},
            "strip_path": {"type": "boolean", "default": true},
            "methods": {"type": "array", "items": {"type": "string"}},
            "headers": {"type": "object", "additionalProperties": {"type": "string"}},
            "mode": {"$ref": "#/$defs/Mode"},
            "quota": {"type": ["integer", "null"]},
            "targets": {"type": "array", "items": {"$ref": "#/$defs/Target"}},
            "check": {"anyOf": [{"$ref": "#/$defs/Target"}, {"type": "null"}]},
            "config": {"type": "object", "additionalProperties": true}
        },
        "$defs": {
            "Mode": {"type": "string", "enum": ["keyless", "apikey"]},
            "Target": {"type": "object", "properties": {"hostname": {"type": "string"}, "port": {"type": "integer", "default": 80}}}
        }
    })
}

fn fields(pairs: &[(&str, &str)]) -> Fields {
    Fields(
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    )
}

#[test]
fn every_shape_is_drawn_as_a_field_in_words() {
    let s = schema();
    let problems = Problems::default();
    let form = Form {
        root: &s,
        problems: &problems,
        prefix: "",
        hidden: &[],
        overrides: &[],
    };
    let value =
        json!({"name": "Orders", "targets": [{"hostname": "a", "port": 81}], "check": null});
    let html = render(&form, &s, &value).render().into_string();
    for needed in [
        "Strip path",
        "What people call it.",
        "name=\"targets[0].hostname\"",
        "value=\"81\"",
        "<option value=\"apikey\"",
        "name=\"__add\" value=\"targets\"",
        "name=\"check.__present\"",
        "Config (JSON)",
        "placeholder=\"name: value, one per line\"",
    ] {
        assert!(html.contains(needed), "{needed} in {html}");
    }
}

#[test]
fn posted_fields_become_the_value_over_the_stored_one() {
    let s = schema();
    let stored = json!({"name": "Old", "kept": 1, "targets": [{"hostname": "a", "port": 81, "extra": true}, {"hostname": "b"}]});
    let posted = fields(&[
        ("name", "Orders"),
        ("strip_path", "false"),
        ("methods", "GET\n\nPOST\n"),
        ("headers", "X-A: 1\nX-B: two"),
        ("mode", "apikey"),
        ("quota", ""),
        ("targets[0].hostname", "a2"),
        ("targets[0].port", "82"),
        ("targets[1].hostname", "b"),
        ("targets[1].port", "80"),
        ("targets[1].__remove", "true"),
        ("check.hostname", "h"),
        ("check.port", "1"),
        ("config", "{\"x\": 1}"),
    ]);
    let v = read(&s, &s, &posted, &stored, &[], &[]).unwrap();
    assert_eq!(
        v,
        json!({"name": "Orders", "kept": 1, "strip_path": false, "methods": ["GET", "POST"],
               "headers": {"X-A": "1", "X-B": "two"}, "mode": "apikey",
               "targets": [{"hostname": "a2", "port": 82, "extra": true}],
               "config": {"x": 1}}),
        "nulls are not added where nothing was stored"
    );
}

#[test]
fn wrong_values_are_named_at_their_field() {
    let s = schema();
    let posted = fields(&[
        ("targets[0].port", "eighty"),
        ("headers", "no colon"),
        ("config", "{"),
    ]);
    let errors = read(&s, &s, &posted, &json!({}), &[], &[]).unwrap_err();
    let paths: Vec<&str> = errors.iter().map(|(p, _)| p.as_str()).collect();
    assert_eq!(paths, vec!["headers", "targets[0].port", "config"]);
}

#[test]
fn names_are_words() {
    assert_eq!(words("strip_path"), "Strip path");
    assert_eq!(words("headerKey"), "Header key");
    assert_eq!(words("ip_address"), "IP address");
    assert_eq!(words("tls"), "TLS");
    assert_eq!(id_of("targets[0].hostname"), "f-targets-0-hostname");
}

#[test]
fn an_override_draws_and_reads_its_own_schema() {
    let s = schema();
    let other =
        json!({"type": "object", "properties": {"dailyQuota": {"type": ["integer", "null"]}}});
    let problems = Problems::default();
    let overrides = [("config", &other)];
    let form = Form {
        root: &s,
        problems: &problems,
        prefix: "",
        hidden: &[],
        overrides: &overrides,
    };
    let html = render(&form, &s, &json!({})).render().into_string();
    assert!(html.contains("name=\"config.dailyQuota\""), "{html}");
    let v = read(
        &s,
        &s,
        &fields(&[("config.dailyQuota", "5")]),
        &json!({}),
        &[],
        &overrides,
    )
    .unwrap();
    assert_eq!(v, json!({"config": {"dailyQuota": 5}}));
}
