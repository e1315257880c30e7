//! What every response of a deprecated API says (RFC 9745, RFC 8594): `Deprecation` (when it was
//! deprecated), `Sunset` (when it stops answering, if the API says) and a `Link` to its
//! documentation. Set on the response whatever produces it, refusals included.

use std::sync::Arc;

use http::request::Parts;
use http::{HeaderName, HeaderValue};

use crate::{Outcome, Plugin, RequestCtx};

/// When the API was deprecated, when it sunsets, and where its documentation is (all optional).
pub struct Deprecated<'a> {
    pub at_ms: Option<i64>,
    pub sunset_ms: Option<i64>,
    pub link: Option<&'a str>,
}

struct Headers(Vec<(HeaderName, HeaderValue)>);

impl Plugin for Headers {
    fn access(&self, _req: &mut Parts, ctx: &mut RequestCtx) -> Outcome {
        ctx.response_headers.extend(self.0.iter().cloned());
        Outcome::Continue
    }
}

/// An HTTP date (IMF-fixdate), as `Sunset` takes.
fn http_date(ms: i64) -> Option<String> {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|d| d.format("%a, %d %b %Y %H:%M:%S GMT").to_string())
}

/// The plugin adding a deprecated API's headers.
pub fn plugin(d: &Deprecated) -> Arc<dyn Plugin> {
    let mut headers = Vec::new();
    // RFC 9745: a structured-field date, `@` and seconds; `?1` when the moment is unknown.
    let deprecation = d.at_ms.map_or("?1".into(), |ms| format!("@{}", ms / 1000));
    let mut push = |name: &'static str, value: String| {
        if let Ok(v) = HeaderValue::try_from(value) {
            headers.push((HeaderName::from_static(name), v));
        }
    };
    push("deprecation", deprecation);
    if let Some(date) = d.sunset_ms.and_then(http_date) {
        push("sunset", date);
    }
    if let Some(link) = d.link.filter(|l| !l.contains(['<', '>', '\r', '\n'])) {
        push(
            "link",
            format!("<{link}>; rel=\"deprecation\"; type=\"text/html\""),
        );
    }
    Arc::new(Headers(headers))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_written_as_the_rfcs_say() {
        assert_eq!(http_date(0).unwrap(), "Thu, 01 Jan 1970 00:00:00 GMT");
        assert_eq!(
            http_date(1_782_777_600_000).unwrap(),
            "Tue, 30 Jun 2026 00:00:00 GMT"
        );
    }
}
