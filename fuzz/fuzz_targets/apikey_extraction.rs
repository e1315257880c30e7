//! API keys presented in every way seed 004 lists (headers, query, cookies, Basic with or without
//! padding, bearer tokens), from arbitrary headers and queries: found or not, never a crash.
#![no_main]

use http::{HeaderMap, HeaderName, HeaderValue};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (head, query) = text.split_once('\n').unwrap_or((text, ""));
    let mut headers = HeaderMap::new();
    for line in head.split('\r') {
        let (name, value) = line.split_once(':').unwrap_or(("authorization", line));
        if let (Ok(n), Ok(v)) = (
            HeaderName::try_from(name.trim()),
            HeaderValue::try_from(value.trim()),
        ) {
            headers.append(n, v);
        }
    }
    let cfg = komainu_keys::Extractors::default();
    let _ = komainu_keys::extract(&headers, Some(query), &cfg);
    let _ = komainu_keys::basic_auth(&headers);
    let _ = komainu_keys::cookie(&headers, "access_token");
    let _ = komainu_keys::query_param(Some(query), "apikey");
});
