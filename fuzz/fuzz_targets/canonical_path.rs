//! The canonical request path (`komainu_http::canonical`), against a reference: RFC 3986's
//! `remove_dot_segments` over the path with its unreserved escapes decoded and its empty segments
//! merged. Where both read a path, they agree on its segments; where the reference climbs above
//! `/`, the canonical path refuses it; and the canonical path of a canonical path is itself.
#![no_main]

use libfuzzer_sys::fuzz_target;

/// The reference's segments, `None` when the path climbs above the root; only for paths of
/// unreserved characters, `/` and escapes of unreserved characters (what both must agree on).
fn reference(path: &str) -> Option<Option<Vec<String>>> {
    let mut decoded = String::new();
    let bytes = path.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            let c = u8::from_str_radix(hex, 16).ok()? as char;
            if !(c.is_ascii_alphanumeric() || "-._~".contains(c)) {
                return None;
            }
            decoded.push(c);
            i += 3;
        } else if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
            decoded.push(b as char);
            i += 1;
        } else {
            return None;
        }
    }
    if !decoded.starts_with('/') {
        return None;
    }
    let mut out: Vec<String> = Vec::new();
    for seg in decoded.split('/').filter(|s| !s.is_empty()) {
        match seg {
            "." => {}
            ".." => {
                if out.pop().is_none() {
                    return Some(None);
                }
            }
            s => out.push(s.to_string()),
        }
    }
    Some(Some(out))
}

fn segments(path: &str) -> Vec<String> {
    path.split('/')
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

fuzz_target!(|data: &[u8]| {
    let Ok(path) = std::str::from_utf8(data) else {
        return;
    };
    let ours = komainu_http::canonical(path);
    if let Ok(c) = &ours {
        assert!(c.starts_with('/'), "{path:?} -> {c:?}");
        assert!(!c.contains("//"), "{path:?} -> {c:?}");
        assert!(!c.contains('\\'), "{path:?} -> {c:?}");
        let lower = c.to_ascii_lowercase();
        assert!(!lower.contains("%5c") && !lower.contains("%00"));
        for seg in segments(c) {
            let name = seg.split(';').next().unwrap_or("");
            assert!(name != "." && name != "..", "{path:?} -> {c:?}");
            // An encoded slash stays in its segment, never beside a dot piece an upstream
            // decoding it would climb with.
            for piece in name.split("%2F") {
                assert!(piece != "." && piece != "..", "{path:?} -> {c:?}");
            }
        }
        assert_eq!(
            komainu_http::canonical(c).as_deref().ok(),
            Some(&**c),
            "idempotent"
        );
    }
    if let Some(expected) = reference(path) {
        match (expected, &ours) {
            (Some(segs), Ok(c)) => assert_eq!(segments(c), segs, "{path:?}"),
            (None, Ok(c)) => panic!("{path:?} climbs above / yet became {c:?}"),
            (Some(_), Err(e)) => panic!("{path:?} refused: {}", e.message()),
            (None, Err(_)) => {}
        }
    }
});
