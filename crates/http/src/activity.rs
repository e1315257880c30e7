//! What a client connection is doing, shared between the bytes' guard (which times idle
//! connections out) and the request path (which knows when a response is in flight and when the
//! connection has been upgraded).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

#[derive(Default)]
pub struct Activity {
    busy: AtomicU32,
    upgraded: AtomicBool,
}

impl Activity {
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
        self.0.busy.fetch_sub(1, Ordering::AcqRel);
    }
}
