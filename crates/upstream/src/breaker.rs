//! A per-target circuit breaker, as Otoroshi configures it: `maxErrors` consecutive failures open
//! it for `sampleInterval`; then one trial call is let through (half-open): success closes it,
//! failure opens it again. State is two atomics; no lock.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

pub(crate) struct Breaker {
    max_errors: u32,
    open_for: Duration,
    epoch: Instant,
    failures: AtomicU32,
    /// Nanoseconds since `epoch` until which the breaker is open; 0 when closed.
    open_until: AtomicU64,
}

impl Breaker {
    pub(crate) fn new(max_errors: u32, open_for: Duration) -> Self {
        Breaker {
            max_errors: max_errors.max(1),
            open_for,
            epoch: Instant::now(),
            failures: AtomicU32::new(0),
            open_until: AtomicU64::new(0),
        }
    }

    fn now(&self) -> u64 {
        self.epoch.elapsed().as_nanos() as u64
    }

    /// Whether a call may go to this target now. Past the open period, exactly one caller gets
    /// through (it pushes the deadline forward for the others).
    pub(crate) fn allows(&self) -> bool {
        let until = self.open_until.load(Ordering::Acquire);
        if until == 0 {
            return true;
        }
        let now = self.now();
        if now < until {
            return false;
        }
        let next = now + self.open_for.as_nanos() as u64;
        self.open_until
            .compare_exchange(until, next, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }

    /// Whether the breaker is open now (no call would be allowed, trial aside).
    pub(crate) fn is_open(&self) -> bool {
        let until = self.open_until.load(Ordering::Acquire);
        until != 0 && self.now() < until
    }

    pub(crate) fn success(&self) {
        self.failures.store(0, Ordering::Release);
        if self.open_until.load(Ordering::Relaxed) != 0 {
            self.open_until.store(0, Ordering::Release);
        }
    }

    pub(crate) fn failure(&self) {
        let n = self.failures.fetch_add(1, Ordering::AcqRel) + 1;
        if n >= self.max_errors {
            let until = self.now() + self.open_for.as_nanos() as u64;
            self.open_until.store(until.max(1), Ordering::Release);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_after_max_errors_and_half_opens_once() {
        let b = Breaker::new(3, Duration::from_millis(30));
        b.failure();
        b.failure();
        assert!(b.allows());
        b.failure();
        assert!(!b.allows(), "open after 3 consecutive failures");
        std::thread::sleep(Duration::from_millis(40));
        assert!(b.allows(), "one trial call");
        assert!(!b.allows(), "only one");
        b.success();
        assert!(b.allows() && !b.is_open(), "closed again");
    }

    #[test]
    fn a_success_resets_the_count() {
        let b = Breaker::new(2, Duration::from_secs(10));
        b.failure();
        b.success();
        b.failure();
        assert!(b.allows());
    }
}
