//! Restrictions (an API key's, or RoutingRestrictions'): which method and path pairs a call may
//! use. A rule's path is a full-match regex; one not starting with `/` also covers the host
//! (`api.example.com/admin.*`); `*` as a method is any. With `allow_last`, a call matching
//! `not_found` is 404, then one matching `forbidden` 403, anything else passes; without it, a call
//! must match `allowed`, else 403 when it matches `forbidden` (and not `not_found`), else 404.

use http::StatusCode;
use komainu_model::Restriction;
use regex::Regex;

struct Rule {
    method: String,
    path: Regex,
    with_host: bool,
}

impl Rule {
    fn compile(r: &Restriction) -> Result<Rule, regex::Error> {
        Ok(Rule {
            method: r.method.trim().to_ascii_uppercase(),
            path: Regex::new(&format!("^(?:{})$", r.path))?,
            with_host: !r.path.starts_with('/'),
        })
    }

    fn matches(&self, method: &str, host: &str, path: &str) -> bool {
        let method_ok = self.method == "*" || self.method.eq_ignore_ascii_case(method);
        method_ok
            && if self.with_host {
                self.path.is_match(&format!("{host}{path}"))
            } else {
                self.path.is_match(path)
            }
    }
}

pub struct RestrictionRules {
    allow_last: bool,
    allowed: Vec<Rule>,
    forbidden: Vec<Rule>,
    not_found: Vec<Rule>,
}

impl RestrictionRules {
    /// Rules from stored documents: a rule whose regex does not compile is left out.
    pub fn lenient(
        allow_last: bool,
        allowed: &[Restriction],
        forbidden: &[Restriction],
        not_found: &[Restriction],
    ) -> Self {
        let rules =
            |list: &[Restriction]| list.iter().filter_map(|r| Rule::compile(r).ok()).collect();
        RestrictionRules {
            allow_last,
            allowed: rules(allowed),
            forbidden: rules(forbidden),
            not_found: rules(not_found),
        }
    }

    /// Rules from a config being written: the first bad regex is named by its list and index.
    pub fn strict(
        allow_last: bool,
        allowed: &[Restriction],
        forbidden: &[Restriction],
        not_found: &[Restriction],
    ) -> Result<Self, (String, String)> {
        let rules = |list: &[Restriction], name: &str| {
            list.iter()
                .enumerate()
                .map(|(i, r)| {
                    Rule::compile(r).map_err(|e| (format!("{name}[{i}].path"), e.to_string()))
                })
                .collect::<Result<Vec<_>, _>>()
        };
        Ok(RestrictionRules {
            allow_last,
            allowed: rules(allowed, "allowed")?,
            forbidden: rules(forbidden, "forbidden")?,
            not_found: rules(not_found, "not_found")?,
        })
    }

    /// The status refusing this call, `None` when it may go on.
    pub fn decide(&self, method: &str, host: &str, path: &str) -> Option<StatusCode> {
        let any = |rules: &[Rule]| rules.iter().any(|x| x.matches(method, host, path));
        if self.allow_last {
            if any(&self.not_found) {
                Some(StatusCode::NOT_FOUND)
            } else if any(&self.forbidden) {
                Some(StatusCode::FORBIDDEN)
            } else {
                None
            }
        } else if any(&self.allowed) {
            None
        } else if any(&self.forbidden) && !any(&self.not_found) {
            Some(StatusCode::FORBIDDEN)
        } else {
            Some(StatusCode::NOT_FOUND)
        }
    }
}
