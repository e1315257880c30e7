//! Server-side sessions for the admin UI and the portal: an unguessable id in an HttpOnly,
//! SameSite=Strict cookie, a CSRF token per session that every form write carries, idle and
//! absolute expiry, and bounds on how many are kept: [`PER_ACCOUNT`] per signed-in person (their
//! oldest goes first, so one person signing in again and again only ever signs out themselves)
//! and [`MAX_SESSIONS`] in all.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, HeaderValue, header};
use base64::Engine;
use rand::RngCore;

/// Sessions kept at most; past it, expired ones are dropped, then the least recently used.
const MAX_SESSIONS: usize = 100_000;
/// Sessions one person keeps at most; past it, their least recently used goes.
const PER_ACCOUNT: usize = 10;

/// One signed-in browser.
#[derive(Clone, Debug)]
pub struct Session {
    /// Who signed in: the admin client id, or a developer account id.
    pub who: String,
    /// How the pages name them (an e-mail address for a developer).
    pub display: String,
    /// The token every form write must carry.
    pub csrf: String,
    started: Instant,
    seen: Instant,
}

/// A kind of session: its cookie name and lifetimes.
pub struct Sessions {
    cookie: &'static str,
    idle: Duration,
    absolute: Duration,
    by_id: Mutex<HashMap<String, Session>>,
}

fn token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

impl Sessions {
    /// The admin UI and the portal may share a host on different ports, and browsers share
    /// cookies across ports: each kind has its own cookie name.
    pub fn new(cookie: &'static str, idle: Duration, absolute: Duration) -> Self {
        Sessions {
            cookie,
            idle,
            absolute,
            by_id: Mutex::new(HashMap::new()),
        }
    }

    /// Starts a session for `who`; returns the `Set-Cookie` value (`Secure` when the page that
    /// asked was served over TLS: see [`over_tls`]).
    pub fn start(&self, who: &str, display: &str, secure: bool) -> HeaderValue {
        let id = token();
        let now = Instant::now();
        let mut map = self.by_id.lock().expect("sessions");
        let mine: Vec<(Instant, String)> = map
            .iter()
            .filter(|(_, s)| s.who == who)
            .map(|(k, s)| (s.seen, k.clone()))
            .collect();
        if mine.len() >= PER_ACCOUNT
            && let Some((_, oldest)) = mine.into_iter().min()
        {
            map.remove(&oldest);
        }
        if map.len() >= MAX_SESSIONS {
            map.retain(|_, s| self.alive(s, now));
            if map.len() >= MAX_SESSIONS
                && let Some(oldest) = map
                    .iter()
                    .min_by_key(|(_, s)| s.seen)
                    .map(|(k, _)| k.clone())
            {
                map.remove(&oldest);
            }
        }
        map.insert(
            id.clone(),
            Session {
                who: who.to_string(),
                display: display.to_string(),
                csrf: token(),
                started: now,
                seen: now,
            },
        );
        let cookie = format!(
            "{}={id}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}{}",
            self.cookie,
            self.absolute.as_secs(),
            if secure { "; Secure" } else { "" }
        );
        HeaderValue::from_str(&cookie).expect("a cookie is ASCII")
    }

    fn alive(&self, s: &Session, now: Instant) -> bool {
        now.duration_since(s.seen) < self.idle && now.duration_since(s.started) < self.absolute
    }

    fn id<'h>(&self, headers: &'h HeaderMap) -> Option<&'h str> {
        headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .filter_map(|pair| pair.trim().split_once('='))
            .find(|(name, _)| *name == self.cookie)
            .map(|(_, value)| value)
    }

    /// The live session the request's cookie names, refreshed.
    pub fn get(&self, headers: &HeaderMap) -> Option<Session> {
        let id = self.id(headers)?;
        let now = Instant::now();
        let mut map = self.by_id.lock().expect("sessions");
        let s = map.get_mut(id)?;
        if !self.alive(s, now) {
            map.remove(id);
            return None;
        }
        s.seen = now;
        Some(s.clone())
    }

    /// Ends the request's session; returns the `Set-Cookie` value that clears the cookie.
    pub fn end(&self, headers: &HeaderMap) -> HeaderValue {
        if let Some(id) = self.id(headers) {
            self.by_id.lock().expect("sessions").remove(id);
        }
        let cookie = format!(
            "{}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0",
            self.cookie
        );
        HeaderValue::from_str(&cookie).expect("a cookie is ASCII")
    }

    /// Ends every session of `who` (a developer account disabled or deleted).
    pub fn end_all_of(&self, who: &str) {
        self.by_id
            .lock()
            .expect("sessions")
            .retain(|_, s| s.who != who);
    }
}

/// Whether the page a request comes from was served over TLS: the browser's `Origin` says
/// `https://`, or a TLS-terminating proxy's `X-Forwarded-Proto` does. A client lying here only
/// makes its own cookie stricter.
pub fn over_tls(headers: &HeaderMap) -> bool {
    let text = |name| {
        headers
            .get(name)
            .and_then(|v: &HeaderValue| v.to_str().ok())
    };
    text("origin").is_some_and(|o| o.starts_with("https://"))
        || text("x-forwarded-proto").is_some_and(|p| p.trim().eq_ignore_ascii_case("https"))
}

/// Whether a write comes from a page of this same site: browsers send `Origin` (and
/// `Sec-Fetch-Site`) on form posts; a cross-site page's post is refused even before its
/// missing CSRF token is noticed.
pub fn same_origin(headers: &HeaderMap) -> bool {
    let text = |name| {
        headers
            .get(name)
            .and_then(|v: &HeaderValue| v.to_str().ok())
    };
    if let Some(site) = text("sec-fetch-site")
        && !matches!(site, "same-origin" | "none")
    {
        return false;
    }
    match (text("origin"), text("host")) {
        (Some(origin), Some(host)) => {
            let rest = origin
                .strip_prefix("http://")
                .or_else(|| origin.strip_prefix("https://"));
            rest == Some(host)
        }
        (Some(_), None) => false,
        // Not a browser's form post (no Origin): the CSRF token still decides.
        (None, _) => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_cookie(_: &Sessions, set: &HeaderValue) -> HeaderMap {
        let pair = set.to_str().unwrap().split(';').next().unwrap().to_string();
        let mut h = HeaderMap::new();
        h.insert(header::COOKIE, HeaderValue::from_str(&pair).unwrap());
        h
    }

    #[test]
    fn a_session_lives_until_ended_or_idle() {
        let s = Sessions::new("k", Duration::from_secs(60), Duration::from_secs(60));
        let set = s.start("admin", "admin", false);
        let h = with_cookie(&s, &set);
        let found = s.get(&h).expect("started");
        assert_eq!(found.who, "admin");
        assert_eq!(found.csrf.len(), 43);
        s.end(&h);
        assert!(s.get(&h).is_none());
        let idle = Sessions::new("k", Duration::ZERO, Duration::from_secs(60));
        let h = with_cookie(&idle, &idle.start("admin", "admin", false));
        assert!(idle.get(&h).is_none(), "idle sessions expire");
    }

    #[test]
    fn one_person_signing_in_again_and_again_only_signs_out_themselves() {
        let s = Sessions::new("k", Duration::from_secs(60), Duration::from_secs(60));
        let victim = with_cookie(&s, &s.start("victim", "v", false));
        let first = with_cookie(&s, &s.start("attacker", "a", false));
        for _ in 0..20_000 {
            s.start("attacker", "a", false);
        }
        assert!(s.get(&victim).is_some());
        assert!(s.get(&first).is_none(), "the attacker's own oldest went");
        assert_eq!(s.by_id.lock().unwrap().len(), 1 + PER_ACCOUNT);
    }

    #[test]
    fn cookies_of_another_kind_do_not_count() {
        let admin = Sessions::new("admin", Duration::from_secs(60), Duration::from_secs(60));
        let portal = Sessions::new("portal", Duration::from_secs(60), Duration::from_secs(60));
        let h = with_cookie(&admin, &admin.start("x", "x", false));
        assert!(portal.get(&h).is_none());
    }

    #[test]
    fn cross_site_posts_are_refused() {
        let mut h = HeaderMap::new();
        h.insert("host", HeaderValue::from_static("127.0.0.1:9000"));
        h.insert("origin", HeaderValue::from_static("http://127.0.0.1:9000"));
        assert!(same_origin(&h));
        h.insert("origin", HeaderValue::from_static("http://evil.example"));
        assert!(!same_origin(&h));
        h.insert("origin", HeaderValue::from_static("http://127.0.0.1:9000"));
        h.insert("sec-fetch-site", HeaderValue::from_static("cross-site"));
        assert!(!same_origin(&h));
    }
}
