//! A call to the gateway's own proxy listener, on an API's domain and context path: the portal's
//! "try it" and the admin UI's draft-route check. Only this process's proxy is called, never a
//! URL typed into a form; the path must stay inside the API's context path once made canonical
//! as the proxy makes it (`..`, `%2e%2e`, `..;` cannot climb out of it); the call carries the
//! address of the person who asked, vouched for (`komainu_http::trial`), never the portal's own;
//! and each person has a number of calls a minute.

use std::net::IpAddr;

use reqwest::Method;

use crate::Web;

/// The most of an answer a page shows.
const SHOWN: usize = 64 << 10;

/// A request to send through the gateway.
pub struct Trial<'a> {
    pub method: &'a str,
    pub domain: &'a str,
    pub context_path: &'a str,
    /// Relative to the API: starts with one `/`, may end with a query.
    pub path: &'a str,
    pub headers: Vec<(&'a str, &'a str)>,
    pub json_body: Option<&'a str>,
    /// Who asks: their account (or admin id) and address.
    pub who: &'a str,
    pub from: IpAddr,
}

/// The target the proxy will route for `path` under `context_path`, when it stays inside it.
fn confined(context_path: &str, path: &str) -> Result<String, String> {
    let (path, query) = match path.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (path, None),
    };
    if !path.starts_with('/') || path.contains('#') {
        return Err("the path starts with / and has no #".into());
    }
    let base = context_path.trim_end_matches('/');
    let bad = |e: komainu_http::PathError| format!("the path is refused: {}", e.message());
    let base_canonical = komainu_http::canonical(if base.is_empty() { "/" } else { base })
        .map_err(bad)?
        .trim_end_matches('/')
        .to_string();
    let joined = format!("{base}{path}");
    let full = komainu_http::canonical(&joined).map_err(bad)?;
    let inside = base_canonical.is_empty()
        || full == base_canonical
        || full.starts_with(&format!("{base_canonical}/"));
    if !inside {
        return Err(format!("the path leaves the API ({context_path})"));
    }
    Ok(match query {
        Some(q) => format!("{full}?{q}"),
        None => full.into_owned(),
    })
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
    let target = confined(t.context_path, t.path)?;
    if let Err(wait) = web.0.trials.allow(&t.who.to_string()) {
        return Err(format!(
            "Too many calls: try again in {} s.",
            wait.as_secs().max(1)
        ));
    }
    let portal = &web.0.portal;
    let mut request = web
        .0
        .http
        .request(method, format!("{}{target}", portal.trial_url))
        .header(
            komainu_http::trial::HEADER,
            portal.trial_token.vouch(t.from),
        );
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

#[cfg(test)]
mod tests {
    use super::confined;

    #[test]
    fn paths_stay_inside_the_api() {
        assert_eq!(confined("/pets", "/list?x=1").unwrap(), "/pets/list?x=1");
        assert_eq!(confined("/pets/", "/a/../b").unwrap(), "/pets/b");
        assert_eq!(confined("", "/anything").unwrap(), "/anything");
        for climb in [
            "/../internal/secret",
            "/%2e%2e/internal",
            "/..;/internal",
            "/.%2E/internal",
            "/a/../../internal",
        ] {
            assert!(confined("/pets", climb).is_err(), "{climb}");
        }
        assert!(confined("/pets", "//evil.example/x").is_ok_and(|t| t.starts_with("/pets/")));
        assert!(confined("/pets", "/%2F..%2Finternal").is_err());
        assert_eq!(confined("/pets", "/a%2Fb").unwrap(), "/pets/a%2Fb");
        assert!(confined("/pets", "x").is_err());
        assert!(confined("/pets", "/a#frag").is_err());
        assert!(confined("/petsx", "/../pets/y").is_err());
    }
}
