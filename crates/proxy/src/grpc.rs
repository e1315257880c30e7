//! gRPC at the gateway: a call is recognised by its `content-type`, its `grpc-timeout` bounds the
//! backend call, and the gateway's own refusals become gRPC statuses (HTTP 200, trailers-only,
//! `grpc-status` and `grpc-message` = the Otoroshi cause id), since gRPC clients read those and
//! not HTTP statuses.

use std::time::Duration;

use http::header::{self, HeaderMap, HeaderValue};
use http::{Response, StatusCode};
use komainu_plugins::Body;

/// `application/grpc`, `application/grpc+proto`, `application/grpc-web...` are not (gRPC-Web
/// reads HTTP statuses).
pub(crate) fn is_grpc(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| {
            ct.strip_prefix("application/grpc").is_some_and(|rest| {
                rest.is_empty() || rest.starts_with('+') || rest.starts_with(';')
            })
        })
}

/// `grpc-timeout`: at most 8 digits and a unit (`H`, `M`, `S`, `m`, `u`, `n`).
pub(crate) fn timeout(headers: &HeaderMap) -> Option<Duration> {
    let v = headers.get("grpc-timeout")?.to_str().ok()?;
    let (digits, unit) = v.split_at(v.len().checked_sub(1)?);
    if digits.is_empty() || digits.len() > 8 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n: u64 = digits.parse().ok()?;
    Some(match unit {
        "H" => Duration::from_secs(n * 3600),
        "M" => Duration::from_secs(n * 60),
        "S" => Duration::from_secs(n),
        "m" => Duration::from_millis(n),
        "u" => Duration::from_micros(n),
        "n" => Duration::from_nanos(n),
        _ => return None,
    })
}

/// gRPC status codes the gateway answers with.
mod code {
    pub const INVALID_ARGUMENT: u8 = 3;
    pub const DEADLINE_EXCEEDED: u8 = 4;
    pub const PERMISSION_DENIED: u8 = 7;
    pub const RESOURCE_EXHAUSTED: u8 = 8;
    pub const UNIMPLEMENTED: u8 = 12;
    pub const INTERNAL: u8 = 13;
    pub const UNAVAILABLE: u8 = 14;
    pub const UNAUTHENTICATED: u8 = 16;
}

/// The gRPC status of a gateway refusal: by cause where the HTTP status is ambiguous, else by
/// status.
fn status_of(status: StatusCode, cause: &str) -> u8 {
    match cause {
        "errors.no.api.key"
        | "errors.bad.api.key"
        | "errors.invalid.api.key"
        | "error.expected.token.not.found"
        | "error.bad.token" => return code::UNAUTHENTICATED,
        "errors.invalid.api.key.tuple" => return code::PERMISSION_DENIED,
        _ => {}
    }
    match status.as_u16() {
        401 => code::UNAUTHENTICATED,
        403 | 405 => code::PERMISSION_DENIED,
        404 => code::UNIMPLEMENTED,
        408 | 504 => code::DEADLINE_EXCEEDED,
        413 | 429 | 431 => code::RESOURCE_EXHAUSTED,
        400 | 414 => code::INVALID_ARGUMENT,
        502 | 503 => code::UNAVAILABLE,
        _ => code::INTERNAL,
    }
}

/// A gateway error response turned into a gRPC trailers-only answer; other responses unchanged.
pub(crate) fn refusal(resp: Response<Body>) -> Response<Body> {
    let (mut parts, body) = resp.into_parts();
    if !parts.headers.contains_key("otoroshi-error") {
        return Response::from_parts(parts, body);
    }
    let cause = parts
        .headers
        .get("otoroshi-error-cause")
        .cloned()
        .unwrap_or_else(|| HeaderValue::from_static("error"));
    let grpc = status_of(parts.status, cause.to_str().unwrap_or(""));
    parts.status = StatusCode::OK;
    let h = &mut parts.headers;
    h.remove(header::CONTENT_LENGTH);
    h.remove(header::CONNECTION);
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/grpc"),
    );
    h.insert("grpc-status", HeaderValue::from(u16::from(grpc)));
    h.insert("grpc-message", cause);
    Response::from_parts(parts, komainu_plugins::empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        pairs
            .iter()
            .map(|(k, v)| {
                (
                    http::HeaderName::from_static(k),
                    HeaderValue::from_static(v),
                )
            })
            .collect()
    }

    #[test]
    fn grpc_is_told_by_its_content_type() {
        assert!(is_grpc(&headers(&[("content-type", "application/grpc")])));
        assert!(is_grpc(&headers(&[(
            "content-type",
            "application/grpc+proto"
        )])));
        assert!(!is_grpc(&headers(&[(
            "content-type",
            "application/grpc-web"
        )])));
        assert!(!is_grpc(&headers(&[("content-type", "application/json")])));
    }

    #[test]
    fn timeouts_parse_in_every_unit_and_refuse_nonsense() {
        let t = |v: &'static str| timeout(&headers(&[("grpc-timeout", v)]));
        assert_eq!(t("2S"), Some(Duration::from_secs(2)));
        assert_eq!(t("150m"), Some(Duration::from_millis(150)));
        assert_eq!(t("1H"), Some(Duration::from_secs(3600)));
        assert_eq!(t("5n"), Some(Duration::from_nanos(5)));
        assert_eq!(t("123456789S"), None, "at most 8 digits");
        assert_eq!(t("S"), None);
        assert_eq!(t("10x"), None);
        assert_eq!(t("-1S"), None);
    }

    #[test]
    fn refusals_map_to_the_statuses_clients_expect() {
        assert_eq!(
            status_of(StatusCode::BAD_REQUEST, "errors.no.api.key"),
            code::UNAUTHENTICATED
        );
        assert_eq!(
            status_of(StatusCode::TOO_MANY_REQUESTS, "errors.too.much.requests"),
            code::RESOURCE_EXHAUSTED
        );
        assert_eq!(
            status_of(StatusCode::NOT_FOUND, "not_found"),
            code::UNIMPLEMENTED
        );
        assert_eq!(
            status_of(StatusCode::BAD_GATEWAY, "errors.connection.refused"),
            code::UNAVAILABLE
        );
        assert_eq!(
            status_of(StatusCode::GATEWAY_TIMEOUT, "errors.request.timeout"),
            code::DEADLINE_EXCEEDED
        );
        assert_eq!(
            status_of(StatusCode::FORBIDDEN, "forbidden"),
            code::PERMISSION_DENIED
        );
    }
}
