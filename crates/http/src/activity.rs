//! What a client connection is doing, shared between the bytes' guard (which times idle
//! connections out) and the request path (which knows when a response is in flight and when the
//! connection has been upgraded).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

pub struct Activity {
    busy: AtomicU32,
    upgraded: AtomicBool,
    created: Instant,
    /// When the last request or response in flight ended, in milliseconds since `created`.
    quiet_since_ms: AtomicU64,
}

impl Default for Activity {
    fn default() -> Self {
        Activity {
            busy: AtomicU32::new(0),
            upgraded: AtomicBool::new(false),
            created: Instant::now(),
            quiet_since_ms: AtomicU64::new(0),
        }
    }
}

impl Activity {
    /// How long nothing has been in flight (zero while something is).
    pub fn idle_for(&self) -> Duration {
        if self.is_busy() {
            return Duration::ZERO;
        }
        let since = Duration::from_millis(self.quiet_since_ms.load(Ordering::Acquire));
        self.created.elapsed().saturating_sub(since)
    }

    /// Whether a response is being produced or streamed.
    pub fn is_busy(&self) -> bool {
        self.busy.load(Ordering::Acquire) > 0
    }

    /// Marks the connection busy until the token is dropped (with the response body it rides in).
    pub fn busy(self: &Arc<Self>) -> Busy {
        self.busy.fetch_add(1, Ordering::AcqRel);
        Busy(self.clone())
    }

    pub fn is_upgraded(&self) -> bool {
        self.upgraded.load(Ordering::Acquire)
    }

    /// The gateway accepted an upgrade: the connection's bytes are no longer HTTP/1.
    pub fn set_upgraded(&self) {
        self.upgraded.store(true, Ordering::Release);
    }
}

/// A response in flight on a connection.
pub struct Busy(Arc<Activity>);

impl Drop for Busy {
    fn drop(&mut self) {
        if self.0.busy.fetch_sub(1, Ordering::AcqRel) == 1 {
            let now = self.0.created.elapsed().as_millis() as u64;
            self.0.quiet_since_ms.store(now, Ordering::Release);
        }
    }
}
