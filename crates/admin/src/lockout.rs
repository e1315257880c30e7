//! Sign-in attempts per source address: past [`MAX_FAILURES`] failures within a minute the
//! address is refused for a minute (429 with `Retry-After`). An attempt takes its place in the
//! address's allowance *before* its password is checked (a hash check is awaited, and attempts
//! started meanwhile must count), so a thousand concurrent tries get at most [`MAX_FAILURES`]
//! checks, not a thousand.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Failed attempts from one address within [`WINDOW`] before it is locked out.
pub const MAX_FAILURES: u32 = 10;
const WINDOW: Duration = Duration::from_secs(60);
const LOCKOUT: Duration = Duration::from_secs(60);
/// Addresses tracked at most; past it, those whose window has passed are forgotten.
const TRACKED: usize = 10_000;

#[derive(Clone, Copy)]
struct Failures {
    count: u32,
    /// Attempts being checked now.
    pending: u32,
    since: Instant,
    locked_until: Option<Instant>,
}

impl Failures {
    fn new(now: Instant) -> Self {
        Failures {
            count: 0,
            pending: 0,
            since: now,
            locked_until: None,
        }
    }
}

/// Sign-in attempts per source address (the admin API's and UI's; the portal keeps its own).
#[derive(Default)]
pub struct Lockout {
    by_ip: Mutex<HashMap<IpAddr, Failures>>,
}

/// One attempt under way: settled by [`Attempt::succeeded`] or [`Attempt::failed`]; dropped
/// unsettled (the check could not be made), it gives its place back.
pub struct Attempt<'a> {
    lockout: &'a Lockout,
    ip: IpAddr,
    settled: bool,
}

impl Lockout {
    /// Takes a place for one attempt from `ip`; `Err` with how long to wait when it is locked
    /// out or its attempts under way would reach the limit.
    pub fn attempt(&self, ip: IpAddr) -> Result<Attempt<'_>, Duration> {
        let now = Instant::now();
        let mut map = self.by_ip.lock().expect("lockout lock");
        if map.len() >= TRACKED && !map.contains_key(&ip) {
            map.retain(|_, f| {
                f.pending > 0
                    || now.duration_since(f.since) < WINDOW
                    || f.locked_until.is_some_and(|u| u > now)
            });
        }
        let f = map.entry(ip).or_insert_with(|| Failures::new(now));
        if let Some(until) = f.locked_until.filter(|u| *u > now) {
            return Err(until - now);
        }
        if now.duration_since(f.since) >= WINDOW && f.pending == 0 {
            *f = Failures::new(now);
        }
        if f.count + f.pending >= MAX_FAILURES {
            return Err(WINDOW
                .saturating_sub(now.duration_since(f.since))
                .max(Duration::from_secs(1)));
        }
        f.pending += 1;
        Ok(Attempt {
            lockout: self,
            ip,
            settled: false,
        })
    }
}

impl Attempt<'_> {
    fn settle(
        &mut self,
        apply: impl FnOnce(&mut Failures, Instant) -> Option<Duration>,
    ) -> Option<Duration> {
        self.settled = true;
        let now = Instant::now();
        let mut map = self.lockout.by_ip.lock().expect("lockout lock");
        let f = map.entry(self.ip).or_insert_with(|| Failures::new(now));
        f.pending = f.pending.saturating_sub(1);
        apply(f, now)
    }

    /// The credentials were right: the address's failures are forgotten.
    pub fn succeeded(mut self) {
        self.settle(|f, now| {
            *f = Failures {
                pending: f.pending,
                ..Failures::new(now)
            };
            None
        });
    }

    /// The credentials were wrong; returns the lockout this starts, if it starts one.
    pub fn failed(mut self) -> Option<Duration> {
        self.settle(|f, now| {
            f.count += 1;
            if f.count >= MAX_FAILURES && f.locked_until.is_none_or(|u| u <= now) {
                f.locked_until = Some(now + LOCKOUT);
                return Some(LOCKOUT);
            }
            None
        })
    }
}

impl Drop for Attempt<'_> {
    fn drop(&mut self) {
        if !self.settled {
            self.settle(|_, _| None);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attempts_under_way_count_before_their_check() {
        let l = Lockout::default();
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        let under_way: Vec<_> = (0..MAX_FAILURES).map(|_| l.attempt(ip).unwrap()).collect();
        assert!(l.attempt(ip).is_err(), "ten checks at once, not more");
        for a in under_way {
            a.failed();
        }
        assert!(l.attempt(ip).is_err(), "locked out");
        let other: IpAddr = "192.0.2.2".parse().unwrap();
        l.attempt(other).unwrap().failed();
        l.attempt(other).unwrap().succeeded();
        drop(l.attempt(other).unwrap());
        for _ in 0..MAX_FAILURES - 1 {
            l.attempt(other).unwrap().failed();
        }
        assert!(
            l.attempt(other).is_ok(),
            "a success forgets, a dropped attempt gives back"
        );
    }
}
