//! A JWT as API keys read it before any verification: split, claims decoded (nesting past 128
//! refused), the naming claim found; never a crash.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(token) = std::str::from_utf8(data) else {
        return;
    };
    if let Some(t) = komainu_keys::fuzzing::read_jwt(token) {
        let _ = t.client_id();
    }
});
