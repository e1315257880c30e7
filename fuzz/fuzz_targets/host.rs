//! Host admission: a host the gateway accepts is one its router can read, lower case, without
//! its port, and reading it again changes nothing.
#![no_main]

use komainu_proxy::fuzzing::{host_only, valid_host};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(raw) = std::str::from_utf8(data) else {
        return;
    };
    if !valid_host(raw) {
        return;
    }
    let host = host_only(raw);
    assert_eq!(host, host.to_ascii_lowercase());
    assert!(host.len() <= raw.len());
    if !host.starts_with('[') {
        assert!(!host.contains(':'), "{raw:?} -> {host:?}");
    }
});
