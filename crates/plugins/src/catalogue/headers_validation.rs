//! HeadersValidation: each configured header must be present with the value it names, or match
//! one of Otoroshi's validation forms: `Regex(...)`, `RegexNot(...)`, `Wildcard(...)`,
//! `WildcardNot(...)`, `Contains(...)`, `ContainsNot(...)`, `Not(...)`, `ContainedIn(a, b)`,
//! `NotContainedIn(a, b)`; a plain value may hold expressions (`${apikey.clientId}`). Otherwise 400
//! `errors.bad.request`. Patterns are compiled when the config is read.

use std::collections::BTreeMap;
use std::sync::Arc;

use http::request::Parts;
use http::{HeaderName, StatusCode};
use regex::Regex;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::config::ConfigError;
use crate::def::PluginDef;
use crate::expr::Template;
use crate::{Outcome, Plugin, RequestCtx, config, gateway_error};

#[derive(Deserialize, Serialize, JsonSchema, Default)]
#[serde(default, deny_unknown_fields)]
struct Config {
    headers: BTreeMap<String, String>,
}

enum Rule {
    Equals(Template),
    Matches(Regex, bool),
    Contains(String, bool),
    Not(String),
    In(Vec<String>, bool),
}

fn wildcard(p: &str) -> String {
    format!("^{}$", regex::escape(p).replace("\\*", ".*"))
}

fn rule(expected: &str, at: &str) -> Result<Rule, ConfigError> {
    let e = expected.trim();
    let inner = |prefix: &str| e.strip_prefix(prefix).and_then(|r| r.strip_suffix(')'));
    let re = |p: String| Regex::new(&p).map_err(|err| ConfigError::at(at, err.to_string()));
    let list = |s: &str| {
        s.split(',')
            .map(|v| v.trim().to_string())
            .collect::<Vec<_>>()
    };
    Ok(if let Some(p) = inner("Regex(") {
        Rule::Matches(re(format!("^(?:{p})$"))?, true)
    } else if let Some(p) = inner("RegexNot(") {
        Rule::Matches(re(format!("^(?:{p})$"))?, false)
    } else if let Some(p) = inner("Wildcard(") {
        Rule::Matches(re(wildcard(p))?, true)
    } else if let Some(p) = inner("WildcardNot(") {
        Rule::Matches(re(wildcard(p))?, false)
    } else if let Some(p) = inner("ContainsNot(") {
        Rule::Contains(p.to_string(), false)
    } else if let Some(p) = inner("Contains(") {
        Rule::Contains(p.to_string(), true)
    } else if let Some(p) = inner("NotContainedIn(") {
        Rule::In(list(p), false)
    } else if let Some(p) = inner("ContainedIn(") {
        Rule::In(list(p), true)
    } else if let Some(p) = inner("Not(") {
        Rule::Not(p.to_string())
    } else {
        Rule::Equals(Template::parse(expected, at)?)
    })
}

struct HeadersValidation(Vec<(HeaderName, Rule)>);

impl Plugin for HeadersValidation {
    fn access(&self, req: &mut Parts, ctx: &mut RequestCtx) -> Outcome {
        let valid = self.0.iter().all(|(name, rule)| {
            let Some(v) = req.headers.get(name).and_then(|v| v.to_str().ok()) else {
                return false;
            };
            match rule {
                Rule::Equals(t) => t.render(req, ctx) == v,
                Rule::Matches(re, want) => re.is_match(v) == *want,
                Rule::Contains(s, want) => v.contains(s.as_str()) == *want,
                Rule::Not(s) => v != s,
                Rule::In(list, want) => list.iter().any(|x| x == v) == *want,
            }
        });
        if valid {
            Outcome::Continue
        } else {
            Outcome::Respond(gateway_error(
                StatusCode::BAD_REQUEST,
                "errors.bad.request",
                "bad request",
                ctx.html,
            ))
        }
    }
}

fn build(config: &Value, _services: &crate::Services) -> Result<Arc<dyn Plugin>, ConfigError> {
    let cfg: Config = config::parse(config)?;
    let rules = cfg
        .headers
        .iter()
        .map(|(name, expected)| {
            let at = format!("headers.{name}");
            let n = HeaderName::try_from(name.as_str())
                .map_err(|_| ConfigError::at(&at, "not a header name"))?;
            Ok((n, rule(expected, &at)?))
        })
        .collect::<Result<_, ConfigError>>()?;
    Ok(Arc::new(HeadersValidation(rules)))
}

pub(crate) const PLUGIN: PluginDef = PluginDef {
    name: "HeadersValidation",
    title: "Headers validation",
    description: "This plugin validates the values of incoming request headers",
    categories: &["Headers", "Classic"],
    steps: &["ValidateAccess"],
    build,
    describe: config::describe::<Config>,
    inert: &[],
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_patterns_are_refused_with_their_header() {
        let err = build(
            &serde_json::json!({"headers": {"x-a": "Regex(()"}}),
            &Default::default(),
        )
        .err()
        .unwrap();
        assert_eq!(err.path, "headers.x-a");
        assert!(
            build(
                &serde_json::json!({"headers": {"x-a": "ContainedIn(a, b)"}}),
                &Default::default()
            )
            .is_ok()
        );
    }
}
