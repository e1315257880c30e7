//! At most so many actions per key (an address, an account) within a window: what bounds
//! sign-ups per address and "try it" calls per developer. Keys are bounded too: past
//! [`MAX_KEYS`], those whose window has passed go, then the oldest.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;
use std::time::{Duration, Instant};

const MAX_KEYS: usize = 10_000;

pub struct PerKey<K> {
    limit: u32,
    window: Duration,
    seen: Mutex<HashMap<K, (Instant, u32)>>,
}

impl<K: Hash + Eq + Clone> PerKey<K> {
    pub fn new(limit: u32, window: Duration) -> Self {
        PerKey {
            limit,
            window,
            seen: Mutex::default(),
        }
    }

    /// Counts an action of `key`; `Err` with how long until it may act again when over.
    pub fn allow(&self, key: &K) -> Result<(), Duration> {
        let now = Instant::now();
        let mut seen = self.seen.lock().expect("throttle lock");
        if seen.len() >= MAX_KEYS && !seen.contains_key(key) {
            seen.retain(|_, (since, _)| now.duration_since(*since) < self.window);
            if seen.len() >= MAX_KEYS
                && let Some(oldest) = seen
                    .iter()
                    .min_by_key(|(_, (t, _))| *t)
                    .map(|(k, _)| k.clone())
            {
                seen.remove(&oldest);
            }
        }
        let (since, count) = seen.entry(key.clone()).or_insert((now, 0));
        if now.duration_since(*since) >= self.window {
            (*since, *count) = (now, 0);
        }
        if *count >= self.limit {
            return Err(self.window.saturating_sub(now.duration_since(*since)));
        }
        *count += 1;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_key_has_its_own_allowance() {
        let t = PerKey::new(2, Duration::from_secs(60));
        assert!(t.allow(&"a").is_ok());
        assert!(t.allow(&"a").is_ok());
        assert!(t.allow(&"a").is_err());
        assert!(t.allow(&"b").is_ok());
        let short = PerKey::new(1, Duration::ZERO);
        assert!(short.allow(&"a").is_ok());
        assert!(short.allow(&"a").is_ok(), "a passed window starts again");
    }
}
