//! Why a client's request body failed, told apart from the upstream's failures: a request that
//! fails because its own client aborted the upload, sent malformed chunks, was too slow or sent too
//! much is the client's fault, answered 4xx, and never counted against the backend's circuit
//! breaker.

use std::fmt;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientBodyError {
    /// More bytes than the route accepts.
    TooLarge,
    /// The upload stopped: connection closed, malformed chunked framing.
    Aborted,
    /// The upload stayed silent past the body timeout (HTTP/2; HTTP/1's connection guard closes
    /// the connection instead).
    TimedOut,
}

impl fmt::Display for ClientBodyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ClientBodyError::TooLarge => "request body larger than allowed",
            ClientBodyError::Aborted => "request body aborted by the client",
            ClientBodyError::TimedOut => "request body not sent in time",
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

/// How a request body's upload goes, shared between the body, the upstream call and the request's
/// report: whether it has been read to its end (a timeout while the client is still uploading is
/// the client's, not the backend's), how many bytes came, and its first bytes when captured.
#[derive(Clone, Default)]
pub struct Upload(Arc<UploadState>);

#[derive(Default)]
struct UploadState {
    finished: AtomicBool,
    received: AtomicU64,
    /// The first bytes of the body, up to `capture_max` (the API's `capture` switch).
    capture: Option<Mutex<Vec<u8>>>,
    capture_max: usize,
}

impl Upload {
    /// An upload whose first `max` bytes are kept.
    pub fn capturing(max: usize) -> Self {
        Upload(Arc::new(UploadState {
            capture: Some(Mutex::new(Vec::new())),
            capture_max: max,
            ..UploadState::default()
        }))
    }

    pub fn finish(&self) {
        self.0.finished.store(true, Ordering::Release);
    }

    pub fn is_finished(&self) -> bool {
        self.0.finished.load(Ordering::Acquire)
    }

    /// Counts (and captures, within the bound) bytes read from the client.
    pub fn received(&self, data: &[u8]) {
        self.0
            .received
            .fetch_add(data.len() as u64, Ordering::Relaxed);
        if let Some(c) = &self.0.capture {
            let mut c = c.lock().expect("capture");
            let room = self.0.capture_max.saturating_sub(c.len());
            c.extend_from_slice(&data[..room.min(data.len())]);
        }
    }

    pub fn bytes(&self) -> u64 {
        self.0.received.load(Ordering::Relaxed)
    }

    /// The captured first bytes, when capturing.
    pub fn captured(&self) -> Option<Vec<u8>> {
        self.0
            .capture
            .as_ref()
            .map(|c| c.lock().expect("capture").clone())
    }
}
