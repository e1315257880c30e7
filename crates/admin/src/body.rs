//! Request bodies: content type (415), size (413), then JSON or YAML (400 saying where).

use axum::body::Body;
use axum::http::{HeaderMap, StatusCode, header};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use serde_json::Value;

use crate::error::{ApiError, ApiResult};

/// Largest entity document accepted.
pub const ENTITY_LIMIT: usize = 8 << 20;
/// Largest import document accepted.
pub const IMPORT_LIMIT: usize = 256 << 20;

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
                format!("unsupported content type \"{m}\": send application/json"),
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
    if yaml {
        serde_norway::from_slice(&bytes)
            .map_err(|e| ApiError::bad_request(format!("malformed YAML: {e}")))
    } else {
        serde_json::from_slice(&bytes)
            .map_err(|e| ApiError::bad_request(format!("malformed JSON: {e}")))
    }
}
