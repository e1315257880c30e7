//! The OpenAPI import: any document (JSON or YAML) becomes an API (with what it skipped) or a
//! list of problems; a second byte picks whether the importer gives a backend.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let yaml = data.first().is_some_and(|b| b & 1 == 1);
    let Ok(spec) = komainu_admin::fuzzing::parse_document(data, yaml) else {
        return;
    };
    let source = komainu_apim::openapi::Source {
        domain: "api.example.com".into(),
        context_path: "/v1".into(),
        backend: data
            .get(1)
            .is_some_and(|b| b & 1 == 1)
            .then(|| "http://127.0.0.1:9/root".to_string()),
        ..Default::default()
    };
    if let Ok(imported) = komainu_apim::openapi::import(&spec, &source) {
        let id = imported.api["id"].as_str().unwrap_or_default().to_string();
        let _ = komainu_apim::openapi::document(&id, spec);
    }
});
