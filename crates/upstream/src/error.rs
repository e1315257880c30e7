//! Why a backend call failed, and the Otoroshi status and cause id each reason maps to.

use std::fmt;

use http::StatusCode;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UpstreamErrorKind {
    /// No response headers in time (call, stream or global timeout).
    Timeout,
    /// Every candidate target's circuit breaker is open.
    CircuitOpen,
    /// No target is available (none configured, or all unhealthy).
    NoTarget,
    /// The target refused the connection.
    ConnectionRefused,
    /// Any other failure talking to the target.
    Other,
}

#[derive(Debug)]
pub struct UpstreamError {
    pub kind: UpstreamErrorKind,
    pub detail: String,
}

impl UpstreamError {
    pub fn new(kind: UpstreamErrorKind, detail: impl Into<String>) -> Self {
        UpstreamError {
            kind,
            detail: detail.into(),
        }
    }

    /// Status, Otoroshi cause id and message for the client.
    pub fn response_parts(&self) -> (StatusCode, &'static str, &'static str) {
        match self.kind {
            UpstreamErrorKind::Timeout => (
                StatusCode::GATEWAY_TIMEOUT,
                "errors.request.timeout",
                "Backend does not respond quickly enough",
            ),
            UpstreamErrorKind::CircuitOpen => (
                StatusCode::SERVICE_UNAVAILABLE,
                "errors.circuit.breaker.open",
                "Backend seems overwhelmed, retry later",
            ),
            UpstreamErrorKind::NoTarget => (
                StatusCode::SERVICE_UNAVAILABLE,
                "errors.no.healthy.target",
                "No healthy target available for this backend",
            ),
            UpstreamErrorKind::ConnectionRefused => (
                StatusCode::BAD_GATEWAY,
                "errors.connection.refused",
                "Connection to backend refused",
            ),
            UpstreamErrorKind::Other => (
                StatusCode::BAD_GATEWAY,
                "errors.proxy.error",
                "Something went wrong, you should try later",
            ),
        }
    }
}

impl fmt::Display for UpstreamError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}: {}", self.kind, self.detail)
    }
}
