//! A target's connections: idle HTTP/1.1 ones in a lock-free queue (one goes back in when its
//! response body has been read to the end; one idle longer than `idleTimeout` is dropped), and
//! the one HTTP/2 connection every call shares, opened by one caller at a time.

use std::sync::Arc;
use std::time::{Duration, Instant};

use arc_swap::ArcSwapOption;
use crossbeam_queue::ArrayQueue;
use hyper::client::conn::{http1, http2};
use komainu_http::Body;

const MAX_IDLE: usize = 256;

struct Idle {
    sender: http1::SendRequest<Body>,
    since: Instant,
}

pub(crate) struct Pool {
    idle: ArrayQueue<Idle>,
    idle_timeout: Duration,
    h2: ArcSwapOption<http2::SendRequest<Body>>,
    /// Held while an HTTP/2 connection is being opened, so that a burst opens one.
    pub(crate) h2_opening: tokio::sync::Mutex<()>,
}

impl Pool {
    pub(crate) fn new(idle_timeout: Duration) -> Self {
        Pool {
            idle: ArrayQueue::new(MAX_IDLE),
            idle_timeout,
            h2: ArcSwapOption::empty(),
            h2_opening: tokio::sync::Mutex::new(()),
        }
    }

    /// An idle HTTP/1.1 connection that is still open and fresh, if any.
    pub(crate) fn take(&self) -> Option<http1::SendRequest<Body>> {
        while let Some(idle) = self.idle.pop() {
            if !idle.sender.is_closed() && idle.since.elapsed() < self.idle_timeout {
                return Some(idle.sender);
            }
        }
        None
    }

    /// Keeps `sender` for a later call (dropped, so closed, when the pool is full).
    pub(crate) fn put(&self, sender: http1::SendRequest<Body>) {
        if !sender.is_closed() {
            let _ = self.idle.push(Idle {
                sender,
                since: Instant::now(),
            });
        }
    }

    /// The shared HTTP/2 connection, while it is open.
    pub(crate) fn shared(&self) -> Option<http2::SendRequest<Body>> {
        self.h2
            .load()
            .as_deref()
            .filter(|s| !s.is_closed())
            .cloned()
    }

    pub(crate) fn share(&self, sender: http2::SendRequest<Body>) {
        self.h2.store(Some(Arc::new(sender)));
    }
}
