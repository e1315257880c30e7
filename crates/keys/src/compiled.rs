//! A key ready for requests: its document, parsed scopes, compiled restrictions and counters.

use std::collections::HashSet;
use std::sync::Arc;

use http::StatusCode;
use komainu_model::{ApiKey, Restriction};
use regex::Regex;
use subtle::ConstantTimeEq;

use crate::jwt::{self, RequestFacts};
use crate::{JwtExtractor, KeyCounters, RouteIdentity, Scope};

/// Why a known key may not make this call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Denial {
    /// Wrong secret or token, disabled, expired: 401 `errors.bad.api.key`.
    Bad,
    /// Not authorized on this route: 400 `errors.invalid.api.key.tuple`.
    NotAuthorized,
    /// Read-only key writing: 405 `errors.method.not.allowed`.
    ReadOnly,
    /// A restriction says so: 403 or 404.
    Restricted(StatusCode),
}

struct Rule {
    method: String,
    path: Regex,
    with_host: bool,
}

impl Rule {
    fn compile(r: &Restriction) -> Option<Rule> {
        let path = Regex::new(&format!("^(?:{})$", r.path)).ok()?;
        Some(Rule {
            method: r.method.trim().to_ascii_uppercase(),
            path,
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

struct Restrictions {
    allow_last: bool,
    allowed: Vec<Rule>,
    forbidden: Vec<Rule>,
    not_found: Vec<Rule>,
}

pub struct CompiledKey {
    pub doc: ApiKey,
    scopes: Vec<Scope>,
    restrictions: Option<Restrictions>,
    pub counters: Arc<KeyCounters>,
}

fn secret_eq(a: &str, b: &str) -> bool {
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

impl CompiledKey {
    pub fn new(doc: ApiKey, counters: Arc<KeyCounters>) -> Self {
        let scopes = doc.authorized_entities.iter().map(Scope::parse).collect();
        let r = &doc.restrictions;
        let rules = |list: &[Restriction]| list.iter().filter_map(Rule::compile).collect();
        let restrictions = r.enabled.then(|| Restrictions {
            allow_last: r.allow_last,
            allowed: rules(&r.allowed),
            forbidden: rules(&r.forbidden),
            not_found: rules(&r.not_found),
        });
        CompiledKey {
            doc,
            scopes,
            restrictions,
            counters,
        }
    }

    /// The secrets accepted now: the current one, the next one (published during the grace period
    /// before a rotation) and the previous one (during the grace period after it).
    pub fn secrets(&self, now_ms: i64) -> Vec<&str> {
        let mut secrets = vec![self.doc.client_secret.as_str()];
        let rotation = &self.doc.rotation;
        if rotation.enabled {
            if let Some(next) = &rotation.next_secret {
                secrets.push(next);
            }
            let grace_ms = rotation.grace_period as i64 * 3_600_000;
            if let (Some(prev), Some(start)) = (&rotation.previous_secret, rotation.started_at)
                && now_ms < start + grace_ms
            {
                secrets.push(prev);
            }
        }
        secrets
    }

    /// Whether `secret` is one of the accepted secrets, compared in constant time.
    pub fn secret_matches(&self, secret: &str, now_ms: i64) -> bool {
        self.secrets(now_ms)
            .into_iter()
            .fold(false, |ok, s| ok | secret_eq(s, secret))
    }

    pub fn jwt_matches(
        &self,
        token: &str,
        cfg: &JwtExtractor,
        req: &RequestFacts<'_>,
        now_ms: i64,
    ) -> bool {
        jwt::verify(token, &self.secrets(now_ms), cfg, req, now_ms / 1000)
    }

    /// Whether the key itself may be used now (enabled, not past `validUntil`).
    pub fn usable(&self, now_ms: i64) -> bool {
        self.doc.enabled && self.doc.valid_until.is_none_or(|until| now_ms <= until)
    }

    pub fn authorized_on(&self, route: &RouteIdentity, groups: &HashSet<String>) -> bool {
        self.scopes.iter().any(|s| s.covers(route, groups))
    }

    pub fn scopes(&self) -> &[Scope] {
        &self.scopes
    }

    /// What `restrictions` decide for this call (`None`: allowed).
    pub fn restricted(&self, method: &str, host: &str, path: &str) -> Option<StatusCode> {
        let r = self.restrictions.as_ref()?;
        let any = |rules: &[Rule]| rules.iter().any(|x| x.matches(method, host, path));
        if r.allow_last {
            if any(&r.not_found) {
                Some(StatusCode::NOT_FOUND)
            } else if any(&r.forbidden) {
                Some(StatusCode::FORBIDDEN)
            } else {
                None
            }
        } else if any(&r.allowed) {
            None
        } else if any(&r.forbidden) && !any(&r.not_found) {
            Some(StatusCode::FORBIDDEN)
        } else {
            Some(StatusCode::NOT_FOUND)
        }
    }
}
