//! The OpenAPI import: any document (JSON or YAML) becomes an API or a list of problems.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let yaml = data.first().is_some_and(|b| b & 1 == 1);
    let Ok(spec) = komainu_admin::fuzzing::parse_document(data, yaml) else {
        return;
    };
    let placement = komainu_apim::openapi::Placement {
        domain: "api.example.com".into(),
        context_path: "/v1".into(),
    };
    let _ = komainu_apim::openapi::import(&spec, &placement);
});
