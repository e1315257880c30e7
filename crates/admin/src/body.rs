//! Request bodies: content type (415), size (413), nesting (400 at once), then JSON or YAML (400
//! saying where). Large documents are parsed on the blocking pool, never on an async worker.

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use serde_json::Value;

use crate::error::{ApiError, ApiResult};

/// Largest entity document accepted.
pub const ENTITY_LIMIT: usize = 8 << 20;
/// Largest OpenAPI specification accepted by default (`--openapi-max-bytes`): GitHub's is 13 MB.
pub const OPENAPI_LIMIT: usize = 64 << 20;
/// Largest import document accepted.
pub const IMPORT_LIMIT: usize = 256 << 20;
/// Deepest nesting of arrays and objects accepted: entities nest a few levels; the parsers'
/// own recursion limits are reached only after slow scans of hostile input.
pub const MAX_DEPTH: usize = 64;
/// Documents larger than this are parsed on the blocking pool.
const INLINE_PARSE: usize = 64 << 10;

/// Whether `text` nests flow collections (`[`, `{`) deeper than `MAX_DEPTH`, outside quoted
/// strings and comments: one linear pass, so a hostile document is refused in milliseconds.
/// Block-style YAML nesting is bounded by the parser, which fails fast on it.
fn too_deep(text: &[u8], yaml: bool) -> bool {
    let (mut depth, mut quote, mut escaped, mut comment) = (0usize, 0u8, false, false);
    let mut prev = b'\n';
    for &b in text {
        if comment {
            comment = b != b'\n';
        } else if quote != 0 {
            if escaped {
                escaped = false;
            } else if b == b'\\' && quote == b'"' {
                escaped = true;
            } else if b == quote {
                quote = 0;
            }
        } else {
            match b {
                b'"' => quote = b,
                b'\'' if yaml => quote = b,
                b'#' if yaml && (prev == b' ' || prev == b'\n' || prev == b'\t') => comment = true,
                b'[' | b'{' => {
                    depth += 1;
                    if depth > MAX_DEPTH {
                        return true;
                    }
                }
                b']' | b'}' => depth = depth.saturating_sub(1),
                _ => {}
            }
        }
        prev = b;
    }
    false
}

/// Parses a JSON or YAML document, refusing one nested deeper than `MAX_DEPTH`.
pub fn parse_document(bytes: &[u8], yaml: bool) -> Result<Value, String> {
    if too_deep(bytes, yaml) {
        return Err(format!("document nested deeper than {MAX_DEPTH} levels"));
    }
    if yaml {
        serde_norway::from_slice(bytes).map_err(|e| format!("malformed YAML: {e}"))
    } else {
        serde_json::from_slice(bytes).map_err(|e| format!("malformed JSON: {e}"))
    }
}

/// Which document formats a handler takes.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Formats {
    Json,
    JsonOrYaml,
}

/// Reads the body as a JSON value. A missing content type counts as JSON.
pub async fn read(
    headers: &HeaderMap,
    body: Body,
    limit: usize,
    formats: Formats,
) -> ApiResult<Value> {
    let mime = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        });
    let yaml = match mime.as_deref() {
        None | Some("") => false,
        Some(m)
            if m == "application/json"
                || (m.starts_with("application/") && m.ends_with("+json")) =>
        {
            false
        }
        Some("application/yaml" | "application/x-yaml" | "text/yaml")
            if formats == Formats::JsonOrYaml =>
        {
            true
        }
        Some(m) => {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                format!(
                    "unsupported content type \"{m}\": send {}",
                    match formats {
                        Formats::Json => "application/json",
                        Formats::JsonOrYaml => "application/json or application/yaml",
                    }
                ),
            ));
        }
    };
    let bytes = Limited::new(body, limit)
        .collect()
        .await
        .map_err(|e| {
            if e.downcast_ref::<LengthLimitError>().is_some() {
                ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    format!("body larger than {limit} bytes"),
                )
            } else {
                ApiError::bad_request(format!("cannot read body: {e}"))
            }
        })?
        .to_bytes();
    let parsed = if bytes.len() > INLINE_PARSE {
        tokio::task::spawn_blocking(move || parse_document(&bytes, yaml))
            .await
            .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?
    } else {
        parse_document(&bytes, yaml)
    };
    parsed.map_err(ApiError::bad_request)
}

/// Bodies of at most this size are read before the handler runs.
const SMALL_BODY: u64 = 64 << 10;

/// Reads a small body before the handler: a handler that needs none (`_publish` with `{}`) would
/// otherwise leave it unread, and closing a connection with unread bytes resets it, losing the
/// answer still in flight (seen with clients that send `Connection: close`).
pub(crate) async fn read_small(request: Request, next: Next) -> Response {
    let small = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok())
        .is_some_and(|n| n > 0 && n <= SMALL_BODY);
    if !small {
        return next.run(request).await;
    }
    let (parts, body) = request.into_parts();
    match axum::body::to_bytes(body, SMALL_BODY as usize).await {
        Ok(bytes) => {
            next.run(Request::from_parts(parts, Body::from(bytes)))
                .await
        }
        Err(_) => ApiError::new(
            StatusCode::BAD_REQUEST,
            "the request body could not be read",
        )
        .into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_nesting_is_refused_before_parsing() {
        let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        let started = std::time::Instant::now();
        assert!(
            parse_document(deep.as_bytes(), true)
                .unwrap_err()
                .contains("nested deeper")
        );
        assert!(
            parse_document(deep.as_bytes(), false)
                .unwrap_err()
                .contains("nested deeper")
        );
        assert!(started.elapsed() < std::time::Duration::from_millis(200));
        // Brackets inside strings and comments do not count.
        let quoted = format!("{{\"a\": \"{}\"}}", "[".repeat(1000));
        assert!(parse_document(quoted.as_bytes(), false).is_ok());
        let commented = format!("a: 1 # {}\nb: '{}'\n", "[".repeat(1000), "{".repeat(1000));
        assert!(parse_document(commented.as_bytes(), true).is_ok());
        let fine = format!("{}{}", "[".repeat(MAX_DEPTH), "]".repeat(MAX_DEPTH));
        assert!(parse_document(fine.as_bytes(), false).is_ok());
    }
}
