//! A call to the gateway's own proxy listener, on an API's domain and context path: the portal's
//! "try it" and the admin UI's draft-route check. Only the gateway is called, never a URL typed
//! into a form.

use reqwest::Method;

use crate::Web;

/// The most of an answer a page shows.
const SHOWN: usize = 64 << 10;

/// A request to send through the gateway.
pub struct Trial<'a> {
    pub method: &'a str,
    pub domain: &'a str,
    pub context_path: &'a str,
    /// Relative to the API: starts with one `/`.
    pub path: &'a str,
    pub headers: Vec<(&'a str, &'a str)>,
    pub json_body: Option<&'a str>,
}

/// The gateway's status and (the start of) its body, or why it was not called.
pub async fn call(web: &Web, t: Trial<'_>) -> Result<(u16, String), String> {
    let method: Method = t
        .method
        .parse()
        .ok()
        .filter(|m: &Method| {
            [
                Method::GET,
                Method::POST,
                Method::PUT,
                Method::PATCH,
                Method::DELETE,
                Method::HEAD,
                Method::OPTIONS,
            ]
            .contains(m)
        })
        .ok_or_else(|| format!("\"{}\" is not an HTTP method", t.method))?;
    if !t.path.starts_with('/') || t.path.starts_with("//") {
        return Err("the path starts with a single /".into());
    }
    let url = format!("{}{}{}", web.0.portal.gateway, t.context_path, t.path);
    let mut request = web.0.http.request(method, &url);
    if !t.domain.is_empty() {
        request = request.header("host", t.domain);
    }
    for (k, v) in t.headers.into_iter().filter(|(_, v)| !v.is_empty()) {
        request = request.header(k, v);
    }
    if let Some(body) = t.json_body.filter(|b| !b.trim().is_empty()) {
        request = request
            .header("content-type", "application/json")
            .body(body.to_string());
    }
    let response = request
        .send()
        .await
        .map_err(|e| format!("the gateway could not be reached: {e}"))?;
    let status = response.status().as_u16();
    let bytes = response.bytes().await.unwrap_or_default();
    Ok((
        status,
        String::from_utf8_lossy(&bytes[..bytes.len().min(SHOWN)]).into_owned(),
    ))
}
