//! Why a client's request body failed, told apart from the upstream's failures: a request that
//! fails because its own client aborted the upload, sent malformed chunks, was too slow or sent too
//! much is the client's fault, answered 4xx, and never counted against the backend's circuit
//! breaker.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientBodyError {
    /// More bytes than the route accepts.
    TooLarge,
    /// The upload stopped: connection closed, malformed chunked framing, body timeout.
    Aborted,
}

impl fmt::Display for ClientBodyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ClientBodyError::TooLarge => "request body larger than allowed",
            ClientBodyError::Aborted => "request body aborted by the client",
        })
    }
}

impl std::error::Error for ClientBodyError {}

impl ClientBodyError {
    /// The client-body failure behind `error`, if that is what it is (looked for along its
    /// sources: an HTTP client wraps the body's error in its own).
    pub fn find(error: &(dyn std::error::Error + 'static)) -> Option<ClientBodyError> {
        let mut current = Some(error);
        while let Some(e) = current {
            if let Some(found) = e.downcast_ref::<ClientBodyError>() {
                return Some(*found);
            }
            current = e.source();
        }
        None
    }
}

/// Whether a streamed request body has been read to its end, shared between the body and the
/// upstream call (a timeout while the client is still uploading is the client's, not the backend's).
#[derive(Clone, Default)]
pub struct Upload(Arc<AtomicBool>);

impl Upload {
    pub fn finish(&self) {
        self.0.store(true, Ordering::Release);
    }

    pub fn is_finished(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }
}
