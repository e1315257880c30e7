//! JSON Schema validation of a body (JsonSchemaRequestValidator / ResponseValidator): any body is
//! valid, invalid with its problems, or not JSON; never a crash.
#![no_main]

use libfuzzer_sys::fuzz_target;

type Checker = Box<dyn Fn(&[u8]) -> Vec<String> + Send + Sync>;

fn checker() -> &'static Checker {
    static CHECKER: std::sync::OnceLock<Checker> = std::sync::OnceLock::new();
    CHECKER.get_or_init(|| {
        let config = serde_json::json!({"schema": {
        "$defs": {"node": {"type": "object", "properties": {"next": {"$ref": "#/$defs/node"}}}},
        "type": "object",
        "required": ["name"],
        "properties": {
            "name": {"type": "string", "pattern": "^[a-z]+(-[a-z]+)*$", "maxLength": 64},
            "tags": {"type": "array", "uniqueItems": true, "items": {"type": "string"}},
            "node": {"$ref": "#/$defs/node"},
            "n": {"type": "integer", "minimum": 0, "multipleOf": 3}
        }
        }});
        Box::new(komainu_plugins::fuzzing::json_schema_checker(&config).expect("a valid schema"))
    })
}

fuzz_target!(|data: &[u8]| {
    let _ = checker()(data);
});
