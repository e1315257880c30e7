//! Documents the admin API, an import or a remote source hands in, JSON or YAML: parsed or
//! refused with a reason (nesting past 64 refused at once), never a crash.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = komainu_admin::fuzzing::parse_document(data, false);
    let _ = komainu_admin::fuzzing::parse_document(data, true);
});
