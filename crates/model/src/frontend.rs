//! `NgFrontend`: where a route listens (domains with an optional path, methods, headers, query).

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::{Extra, FieldError};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct NgFrontend {
    /// `host`, `host/path`, `*.host/path`; inside an API only the path part counts.
    pub domains: Vec<String>,
    pub strip_path: bool,
    pub exact: bool,
    pub headers: BTreeMap<String, String>,
    pub query: BTreeMap<String, String>,
    pub cookies: BTreeMap<String, String>,
    pub methods: Vec<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

impl Default for NgFrontend {
    fn default() -> Self {
        NgFrontend {
            domains: Vec::new(),
            strip_path: true,
            exact: false,
            headers: BTreeMap::new(),
            query: BTreeMap::new(),
            cookies: BTreeMap::new(),
            methods: Vec::new(),
            extra: Extra::new(),
        }
    }
}

impl NgFrontend {
    /// Upper-cases methods so `get` and `GET` mean the same.
    pub(crate) fn complete(&mut self) {
        for m in &mut self.methods {
            *m = m.trim().to_ascii_uppercase();
        }
    }

    pub(crate) fn check(&self, at: &str, errors: &mut Vec<FieldError>) {
        for (i, d) in self.domains.iter().enumerate() {
            if d.trim().is_empty() || d.contains(char::is_whitespace) {
                errors.push(FieldError::new(
                    format!("{at}.domains[{i}]"),
                    "a domain is a host with an optional path, without spaces",
                ));
            }
        }
        for (i, m) in self.methods.iter().enumerate() {
            if m.is_empty() || !m.bytes().all(|b| b.is_ascii_uppercase()) {
                errors.push(FieldError::new(
                    format!("{at}.methods[{i}]"),
                    format!("\"{m}\" is not an HTTP method"),
                ));
            }
        }
    }
}

/// `host/path` → (`host`, `/path`); a domain without host (`/users`) has an empty host, one
/// without path (`host`) the path `/`.
pub fn split_domain(domain: &str) -> (&str, &str) {
    match domain.find('/') {
        Some(i) => (&domain[..i], &domain[i..]),
        None => (domain, "/"),
    }
}
