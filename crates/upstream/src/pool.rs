//! Idle HTTP/1.1 connections of one target, in a lock-free queue. A connection goes back in when
//! its response body has been read to the end; one idle longer than `idleTimeout` is dropped.

use std::time::{Duration, Instant};

use crossbeam_queue::ArrayQueue;
use hyper::client::conn::http1::SendRequest;
use komainu_http::Body;

const MAX_IDLE: usize = 256;

struct Idle {
    sender: SendRequest<Body>,
    since: Instant,
}

pub(crate) struct Pool {
    idle: ArrayQueue<Idle>,
    idle_timeout: Duration,
}

impl Pool {
    pub(crate) fn new(idle_timeout: Duration) -> Self {
        Pool {
            idle: ArrayQueue::new(MAX_IDLE),
            idle_timeout,
        }
    }

    /// An idle connection that is still open and fresh, if any.
    pub(crate) fn take(&self) -> Option<SendRequest<Body>> {
        while let Some(idle) = self.idle.pop() {
            if !idle.sender.is_closed() && idle.since.elapsed() < self.idle_timeout {
                return Some(idle.sender);
            }
        }
        None
    }

    /// Keeps `sender` for a later call (dropped, so closed, when the pool is full).
    pub(crate) fn put(&self, sender: SendRequest<Body>) {
        if !sender.is_closed() {
            let _ = self.idle.push(Idle {
                sender,
                since: Instant::now(),
            });
        }
    }
}
