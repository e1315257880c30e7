//! The canonical form of a request path, computed once per request before anything reads it.
//!
//! Everything that looks at a path — the router, API-key restrictions, plugin include/exclude,
//! path parameters, the upstream request — sees this one form, so that no two of them can disagree
//! about what was asked for (the class of Envoy CVE-2019-9901 and APISIX CVE-2021-43557):
//! - escapes of unreserved characters are decoded (`%61` → `a`, `%2e` → `.`); every other escape is
//!   kept, with upper-case hex; characters a path may not hold raw are escaped;
//! - dot-segments are resolved (RFC 3986 §5.2.4) and repeated slashes merged; a trailing slash is
//!   kept;
//! - matrix parameters (`;v=1`) stay on their segment, but a segment named `.` or `..` is a
//!   dot-segment whatever its parameters (`/..;/admin` climbs), and a segment with parameters and
//!   no name (`/;x/admin`) is dropped. [`match_path`] gives the form without parameters, which is
//!   what routing and path rules match, so parameters never change which route answers;
//! - `%2F` stays encoded inside its segment (a parameter value such as a file path: the router
//!   splits on raw `/` only), unless what it separates holds a `.` or `..` piece, which an upstream
//!   decoding it would climb with (`/x%2F..%2Fadmin`);
//! - refused: `%5C`, raw backslashes, control characters raw or escaped (`%00`), `%25` escaping a
//!   separator, a dot, a percent sign or a control character (double encoding that a second
//!   decoding would turn into one), malformed escapes, and `..` climbing above `/`.

use std::borrow::Cow;

/// Why a path is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PathError {
    /// The path does not start with `/` (an asterisk-form target).
    NotAbsolute,
    /// `%5C`, or a `%2F` separating a `.` or `..` piece: a separator hidden from the router.
    EncodedSeparator,
    /// A raw `\`.
    Backslash,
    /// A control character, raw or escaped (`%00`, `%0A`, ...).
    Control,
    /// `%25` escaping a separator, a dot, a percent sign or a control character.
    DoubleEncoding,
    /// A `%` not followed by two hex digits.
    BadEscape,
    /// A `..` with nothing left to remove.
    AboveRoot,
}

impl PathError {
    /// What is wrong, for the client.
    pub fn message(self) -> &'static str {
        match self {
            PathError::NotAbsolute => "the request path must start with /",
            PathError::EncodedSeparator => "encoded slash or backslash in the request path",
            PathError::Backslash => "backslash in the request path",
            PathError::Control => "control character in the request path",
            PathError::DoubleEncoding => "double-encoded character in the request path",
            PathError::BadEscape => "malformed percent-escape in the request path",
            PathError::AboveRoot => "the request path climbs above /",
        }
    }
}

fn unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

/// What a path segment may hold raw (RFC 3986 `pchar` without `%`).
fn pchar(b: u8) -> bool {
    unreserved(b)
        || matches!(
            b,
            b'!' | b'$'
                | b'&'
                | b'\''
                | b'('
                | b')'
                | b'*'
                | b'+'
                | b','
                | b';'
                | b'='
                | b':'
                | b'@'
        )
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

fn control(b: u8) -> bool {
    b < 0x20 || b == 0x7f
}

const HEX: &[u8; 16] = b"0123456789ABCDEF";

fn push_escaped(out: &mut String, b: u8) {
    out.push('%');
    out.push(HEX[usize::from(b >> 4)] as char);
    out.push(HEX[usize::from(b & 15)] as char);
}

/// Whether `path` is already canonical: only raw `pchar`s but `;`, no `//`, no dot-segment. Most
/// requests are, and cost one pass over their bytes.
fn plain(path: &[u8]) -> bool {
    let mut prev = 0u8;
    for (i, &b) in path.iter().enumerate() {
        if b == b'/' {
            if prev == b'/' {
                return false;
            }
        } else if !pchar(b) || b == b';' {
            return false;
        } else if b == b'.' && prev == b'/' {
            let next = path.get(i + 1).copied();
            let after = path.get(i + 2).copied();
            if matches!(next, None | Some(b'/'))
                || (next == Some(b'.') && matches!(after, None | Some(b'/')))
            {
                return false;
            }
        }
        prev = b;
    }
    true
}

/// Decodes one raw segment into `out`.
fn decode_segment(raw: &[u8], out: &mut String) -> Result<(), PathError> {
    let mut i = 0;
    while i < raw.len() {
        let b = raw[i];
        if b == b'%' {
            let (Some(hi), Some(lo)) = (
                raw.get(i + 1).copied().and_then(hex),
                raw.get(i + 2).copied().and_then(hex),
            ) else {
                return Err(PathError::BadEscape);
            };
            let v = hi << 4 | lo;
            if v == b'\\' {
                return Err(PathError::EncodedSeparator);
            }
            if control(v) {
                return Err(PathError::Control);
            }
            if unreserved(v) {
                out.push(v as char);
            } else {
                push_escaped(out, v);
            }
            i += 3;
            continue;
        }
        if b == b'\\' {
            return Err(PathError::Backslash);
        }
        if control(b) {
            return Err(PathError::Control);
        }
        if pchar(b) {
            out.push(b as char);
        } else {
            push_escaped(out, b);
        }
        i += 1;
    }
    Ok(())
}

/// Whether a decoded segment holds `%25` followed by the escape of something dangerous: what a
/// second decoding (by an upstream) would turn into a separator, a dot or a control character.
fn double_encoded(seg: &str) -> bool {
    let b = seg.as_bytes();
    b.windows(5).any(|w| {
        w[..3].eq_ignore_ascii_case(b"%25")
            && match (hex(w[3]), hex(w[4])) {
                (Some(hi), Some(lo)) => {
                    let v = hi << 4 | lo;
                    matches!(v, b'/' | b'\\' | b'.' | b'%') || control(v)
                }
                _ => false,
            }
    })
}

/// The canonical form of `raw` (the path of a request target, without its query).
pub fn canonical(raw: &str) -> Result<Cow<'_, str>, PathError> {
    let bytes = raw.as_bytes();
    if bytes.first() != Some(&b'/') {
        return Err(PathError::NotAbsolute);
    }
    if plain(bytes) {
        return Ok(Cow::Borrowed(raw));
    }
    let mut out = String::with_capacity(raw.len());
    // Where each kept segment starts in `out` (its `/`), so `..` can remove the last one.
    let mut starts: Vec<usize> = Vec::new();
    let mut seg = String::new();
    let mut trailing = false;
    for raw_seg in bytes[1..].split(|&b| b == b'/') {
        seg.clear();
        decode_segment(raw_seg, &mut seg)?;
        if double_encoded(&seg) {
            return Err(PathError::DoubleEncoding);
        }
        let name = seg.split(';').next().unwrap_or_default();
        if name.contains("%2F") && name.split("%2F").any(|p| p == "." || p == "..") {
            return Err(PathError::EncodedSeparator);
        }
        trailing = true;
        match name {
            "" | "." => {}
            ".." => {
                let start = starts.pop().ok_or(PathError::AboveRoot)?;
                out.truncate(start);
            }
            _ => {
                starts.push(out.len());
                out.push('/');
                out.push_str(&seg);
                trailing = false;
            }
        }
    }
    if out.is_empty() || trailing {
        out.push('/');
    }
    Ok(Cow::Owned(out))
}

/// `path` without its first `n` segments; empty when nothing is left.
pub fn after_segments(path: &str, n: usize) -> &str {
    let mut seen = 0;
    let bytes = path.as_bytes();
    let mut i = 0;
    while i < bytes.len() && seen < n {
        while i < bytes.len() && bytes[i] == b'/' {
            i += 1;
        }
        if i == bytes.len() {
            break;
        }
        while i < bytes.len() && bytes[i] != b'/' {
            i += 1;
        }
        seen += 1;
    }
    &path[i..]
}

/// A canonical path without its matrix parameters (`/a;v=1/b` → `/a/b`): what routes and path
/// rules match.
pub fn match_path(canonical: &str) -> Cow<'_, str> {
    if !canonical.contains(';') {
        return Cow::Borrowed(canonical);
    }
    let mut out = String::with_capacity(canonical.len());
    for seg in canonical.split('/').skip(1) {
        out.push('/');
        out.push_str(seg.split(';').next().unwrap_or_default());
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(raw: &str) -> String {
        canonical(raw)
            .unwrap_or_else(|e| panic!("{raw}: {e:?}"))
            .into_owned()
    }

    #[test]
    fn plain_paths_are_borrowed() {
        for p in [
            "/",
            "/a",
            "/a/b/",
            "/v1/users/42",
            "/.well-known/x",
            "/a.b/..c/c..",
        ] {
            assert!(matches!(canonical(p), Ok(Cow::Borrowed(_))), "{p}");
        }
    }

    #[test]
    fn unreserved_escapes_decode_and_others_stay() {
        assert_eq!(ok("/%61dmin/x"), "/admin/x");
        assert_eq!(ok("/a%2db%7e"), "/a-b~");
        assert_eq!(ok("/caf%c3%a9"), "/caf%C3%A9");
        assert_eq!(ok("/a%3fb%23c"), "/a%3Fb%23c");
        assert_eq!(ok("/a%25b"), "/a%25b");
        assert_eq!(ok("/a b"), "/a%20b");
        assert_eq!(ok("/{id}"), "/%7Bid%7D");
    }

    #[test]
    fn dot_segments_resolve_and_slashes_merge() {
        assert_eq!(ok("/public/../admin/x"), "/admin/x");
        assert_eq!(ok("/./admin/x"), "/admin/x");
        assert_eq!(ok("/public/%2e%2e/admin/x"), "/admin/x");
        assert_eq!(ok("/public/.%2E/admin"), "/admin");
        assert_eq!(ok("//admin///x//"), "/admin/x/");
        assert_eq!(ok("/a/b/.."), "/a/");
        assert_eq!(ok("/a/."), "/a/");
        assert_eq!(ok("/a/.."), "/");
        assert_eq!(ok("/."), "/");
    }

    #[test]
    fn an_encoded_slash_stays_inside_its_segment() {
        assert_eq!(
            ok("/contents/docs%2fREADME.md"),
            "/contents/docs%2FREADME.md"
        );
        assert_eq!(ok("/ref/heads%2Fmain"), "/ref/heads%2Fmain");
        assert_eq!(ok("/a%2F%2Fb"), "/a%2F%2Fb");
    }

    #[test]
    fn matrix_parameters_never_hide_a_dot_segment() {
        assert_eq!(ok("/public/..;x=1/admin"), "/admin");
        assert_eq!(ok("/;x/admin"), "/admin");
        assert_eq!(ok("/admin;v=1/x"), "/admin;v=1/x");
        assert_eq!(match_path("/admin;v=1/x;y"), "/admin/x");
        assert_eq!(match_path("/admin/x"), "/admin/x");
    }

    #[test]
    fn hostile_paths_are_refused() {
        use PathError::*;
        for (raw, why) in [
            ("/x%2F..%2Fadmin", EncodedSeparator),
            ("/x%2f%2e%2e", EncodedSeparator),
            ("/%2F.", EncodedSeparator),
            ("/a%5Cb", EncodedSeparator),
            ("/a\\b", Backslash),
            ("/a%00b", Control),
            ("/a%0d%0ab", Control),
            ("/a\u{7f}", Control),
            ("/a%252Fb", DoubleEncoding),
            ("/%252e%252e/admin", DoubleEncoding),
            ("/a%25%32%66", DoubleEncoding),
            ("/a%2", BadEscape),
            ("/a%zz", BadEscape),
            ("/..", AboveRoot),
            ("/a/../..", AboveRoot),
            ("/a/../../admin", AboveRoot),
            ("*", NotAbsolute),
            ("", NotAbsolute),
        ] {
            assert_eq!(canonical(raw), Err(why), "{raw:?}");
        }
    }

    mod properties {
        use proptest::prelude::*;

        use super::super::*;

        /// Paths built from the pieces attacks are made of.
        fn path() -> impl Strategy<Value = String> {
            let piece = prop_oneof![
                Just("/".to_string()),
                Just(".".to_string()),
                Just("..".to_string()),
                Just(";".to_string()),
                Just("%2e".to_string()),
                Just("%2E".to_string()),
                Just("%25".to_string()),
                Just("%2F".to_string()),
                Just("%3B".to_string()),
                Just("%41".to_string()),
                Just("%c3%a9".to_string()),
                "[a-z]{1,3}",
                "%[0-9a-fA-F]{2}",
                "[!$&'()*+,=:@~_-]",
            ];
            prop::collection::vec(piece, 0..12).prop_map(|p| format!("/{}", p.concat()))
        }

        const RESERVED: &[u8] = b":/?#[]@!$&'()*+,;=";

        proptest! {
            #[test]
            fn canonical_is_idempotent(raw in path()) {
                if let Ok(once) = canonical(&raw) {
                    let twice = canonical(&once).expect("a canonical path is accepted");
                    prop_assert_eq!(once.as_ref(), twice.as_ref());
                }
            }

            #[test]
            fn canonical_never_holds_dot_segments_or_double_slashes(raw in path()) {
                if let Ok(c) = canonical(&raw) {
                    prop_assert!(c.starts_with('/'));
                    prop_assert!(!c.contains("//"), "{}", c);
                    for seg in c.split('/') {
                        let name = seg.split(';').next().unwrap_or_default();
                        prop_assert!(name != "." && name != "..", "{}", c);
                        for piece in name.split("%2F") {
                            prop_assert!(piece != "." && piece != "..", "{}", c);
                        }
                    }
                    let m = match_path(&c);
                    prop_assert!(!m.contains("//") && !m.contains("/./") && !m.contains("/../"));
                }
            }

            #[test]
            fn canonical_never_decodes_a_reserved_character(raw in path()) {
                if let Ok(c) = canonical(&raw) {
                    for r in RESERVED {
                        let count = |s: &str| s.bytes().filter(|b| b == r).count();
                        prop_assert!(count(&c) <= count(&raw), "{:?} grew in {} -> {}", *r as char, raw, c);
                    }
                }
            }
        }
    }
}
