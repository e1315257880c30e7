//! Gateway error responses, exactly as Otoroshi sends them: JSON `{"error": cause, "error_description":
//! message}` with `Otoroshi-Error*` headers, or a small HTML page for browsers.

use http::{HeaderValue, Response, StatusCode, header};

use crate::{Body, full};

fn header_text(text: &str) -> HeaderValue {
    HeaderValue::from_str(text).unwrap_or_else(|_| HeaderValue::from_static("error"))
}

fn escape_html(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// A gateway error with Otoroshi's cause id (`errors.request.timeout`, ...) and message.
pub fn gateway_error(status: StatusCode, cause: &str, message: &str, html: bool) -> Response<Body> {
    let (content_type, body) = if html {
        let page = format!(
            "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>{code} {cause}</title></head>\
             <body><h1>{code}</h1><p>{msg}</p><p><code>{cause}</code></p></body></html>",
            code = status.as_u16(),
            cause = escape_html(cause),
            msg = escape_html(message),
        );
        ("text/html; charset=utf-8", page)
    } else {
        let json = serde_json::json!({"error": cause, "error_description": message});
        ("application/json", json.to_string())
    };
    let mut resp = Response::new(full(body));
    *resp.status_mut() = status;
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert("otoroshi-error", HeaderValue::from_static("true"));
    h.insert("otoroshi-error-msg", header_text(message));
    h.insert("otoroshi-error-cause", header_text(cause));
    resp
}
