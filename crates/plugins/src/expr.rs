//! Otoroshi's expression language, the part the plugins key their counters and headers on:
//! templates such as `user-${req.headers.X-User}` are parsed once, when the config is read (an
//! unknown variable is a config error), and rendered per request from the request and its context.
//!
//! Variables: `req.ip`, `req.method`, `req.host`, `req.path`, `req.uri` (path and query),
//! `req.headers.NAME` (also `req.header.NAME`), `req.query.NAME`, `req.cookies.NAME`, `route.id`,
//! `api.id`, `apikey.clientId` (also `apikey.id`), `apikey.metadata.NAME`. What is absent renders as
//! the empty string.

use http::request::Parts;

use crate::config::ConfigError;
use crate::{RequestCtx, cookie, query_param};

#[derive(Clone, Debug, PartialEq, Eq)]
enum Var {
    Ip,
    Method,
    Host,
    Path,
    Uri,
    Header(http::HeaderName),
    Query(String),
    Cookie(String),
    RouteId,
    ApiId,
    ClientId,
    KeyMetadata(String),
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Part {
    Text(String),
    Var(Var),
}

/// A parsed template.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Template(Vec<Part>);

fn var(name: &str) -> Option<Var> {
    Some(match name {
        "req.ip" => Var::Ip,
        "req.method" => Var::Method,
        "req.host" | "req.domain" => Var::Host,
        "req.path" => Var::Path,
        "req.uri" => Var::Uri,
        "route.id" => Var::RouteId,
        "api.id" => Var::ApiId,
        "apikey.clientId" | "apikey.id" => Var::ClientId,
        _ => {
            let (scope, key) = name.rsplit_once('.').filter(|(_, k)| !k.is_empty())?;
            match scope {
                "req.headers" | "req.header" => {
                    Var::Header(http::HeaderName::try_from(key.to_ascii_lowercase()).ok()?)
                }
                "req.query" => Var::Query(key.to_string()),
                "req.cookies" | "req.cookie" => Var::Cookie(key.to_string()),
                "apikey.metadata" => Var::KeyMetadata(key.to_string()),
                _ => return None,
            }
        }
    })
}

impl Template {
    /// Parses `text`; an error names `field`.
    pub fn parse(text: &str, field: &str) -> Result<Template, ConfigError> {
        let mut parts = Vec::new();
        let mut rest = text;
        while let Some(start) = rest.find("${") {
            if start > 0 {
                parts.push(Part::Text(rest[..start].to_string()));
            }
            let after = &rest[start + 2..];
            let end = after
                .find('}')
                .ok_or_else(|| ConfigError::at(field, "an expression `${` is not closed"))?;
            let name = after[..end].trim();
            let v = var(name).ok_or_else(|| {
                ConfigError::at(field, format!("unknown expression `${{{name}}}`"))
            })?;
            parts.push(Part::Var(v));
            rest = &after[end + 1..];
        }
        if !rest.is_empty() {
            parts.push(Part::Text(rest.to_string()));
        }
        Ok(Template(parts))
    }

    /// The template rendered for this request.
    pub fn render(&self, req: &Parts, ctx: &RequestCtx) -> String {
        let mut out = String::new();
        for part in &self.0 {
            match part {
                Part::Text(t) => out.push_str(t),
                Part::Var(v) => match v {
                    Var::Ip => out.push_str(&ctx.client_ip.to_string()),
                    Var::Method => out.push_str(req.method.as_str()),
                    Var::Host => out.push_str(&ctx.host),
                    Var::Path => out.push_str(ctx.path()),
                    Var::Uri => out.push_str(ctx.path_and_query()),
                    Var::Header(h) => {
                        if let Some(v) = req.headers.get(h).and_then(|v| v.to_str().ok()) {
                            out.push_str(v);
                        }
                    }
                    Var::Query(q) => {
                        if let Some(v) = query_param(req.uri.query(), q) {
                            out.push_str(v);
                        }
                    }
                    Var::Cookie(c) => {
                        if let Some(v) = cookie(&req.headers, c) {
                            out.push_str(v);
                        }
                    }
                    Var::RouteId => out.push_str(&ctx.route.id),
                    Var::ApiId => out.push_str(ctx.route.api_id.as_deref().unwrap_or("")),
                    Var::ClientId => {
                        if let Some(k) = &ctx.apikey {
                            out.push_str(&k.client_id);
                        }
                    }
                    Var::KeyMetadata(m) => {
                        if let Some(v) = ctx.apikey.as_ref().and_then(|k| k.metadata().get(m)) {
                            out.push_str(v);
                        }
                    }
                },
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_parse_text_and_variables() {
        let t = Template::parse("user-${req.headers.X-User}:${req.ip}", "expression").unwrap();
        assert_eq!(t.0.len(), 4);
        assert!(Template::parse("${req.nope}", "expression").is_err());
        let err = Template::parse("${req.ip", "bucketKey").unwrap_err();
        assert_eq!(err.path, "bucketKey");
        assert_eq!(
            Template::parse("plain", "x").unwrap().0,
            vec![Part::Text("plain".into())]
        );
    }
}
