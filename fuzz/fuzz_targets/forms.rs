//! Form bodies and cookies as the portal and the admin UI read them: parsed, never a crash.
#![no_main]

use http::{HeaderMap, HeaderValue, header};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let fields: Vec<(String, String)> = form_urlencoded::parse(data).into_owned().collect();
    let _ = fields.iter().find(|(k, _)| k == "csrf");
    if let Ok(v) = HeaderValue::from_bytes(data) {
        let mut h = HeaderMap::new();
        h.insert(header::COOKIE, v);
        let _ = komainu_http::cookie(&h, "komainu_portal_session");
    }
});
