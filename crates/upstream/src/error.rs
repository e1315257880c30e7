//! Why a backend call failed, and the Otoroshi status and cause id each reason maps to.

use std::fmt;

use http::StatusCode;
use komainu_http::ClientBodyError;

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
    /// The target's host name did not resolve.
    Dns,
    /// The TLS handshake with the target failed (certificate, protocol).
    Tls,
    /// The target closed or reset the connection before answering.
    Reset,
    /// Any other failure talking to the target.
    Other,
    /// The client's request body failed: the client's fault, not the target's.
    ClientBody(ClientBodyError),
    /// The client was still uploading when the call's time ran out: the client's fault too.
    ClientTooSlow,
}

#[derive(Debug)]
pub struct UpstreamError {
    pub kind: UpstreamErrorKind,
    pub detail: String,
}

impl UpstreamErrorKind {
    /// A short name of the failure, as metrics label it.
    pub fn label(self) -> &'static str {
        match self {
            UpstreamErrorKind::Timeout => "timeout",
            UpstreamErrorKind::CircuitOpen => "circuit_open",
            UpstreamErrorKind::NoTarget => "no_target",
            UpstreamErrorKind::ConnectionRefused => "connect_refused",
            UpstreamErrorKind::Dns => "dns",
            UpstreamErrorKind::Tls => "tls",
            UpstreamErrorKind::Reset => "reset",
            UpstreamErrorKind::Other => "other",
            UpstreamErrorKind::ClientBody(_) => "client_body",
            UpstreamErrorKind::ClientTooSlow => "client_too_slow",
        }
    }
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
            UpstreamErrorKind::Dns => (
                StatusCode::BAD_GATEWAY,
                "errors.dns.error",
                "The backend host name does not resolve",
            ),
            UpstreamErrorKind::Tls => (
                StatusCode::BAD_GATEWAY,
                "errors.tls.error",
                "TLS with the backend failed",
            ),
            UpstreamErrorKind::Reset => (
                StatusCode::BAD_GATEWAY,
                "errors.connection.reset",
                "The backend closed the connection before answering",
            ),
            UpstreamErrorKind::Other => (
                StatusCode::BAD_GATEWAY,
                "errors.proxy.error",
                "Something went wrong, you should try later",
            ),
            UpstreamErrorKind::ClientBody(ClientBodyError::TooLarge) => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "errors.entity.too.big",
                "Request body too large",
            ),
            UpstreamErrorKind::ClientBody(ClientBodyError::Aborted) => (
                StatusCode::BAD_REQUEST,
                "errors.bad.request.body",
                "The request body could not be read",
            ),
            UpstreamErrorKind::ClientTooSlow
            | UpstreamErrorKind::ClientBody(ClientBodyError::TimedOut) => (
                StatusCode::REQUEST_TIMEOUT,
                "errors.request.body.timeout",
                "The request body was not sent in time",
            ),
        }
    }

    /// Whether the client, not the target, caused the failure.
    pub fn is_client_fault(&self) -> bool {
        matches!(
            self.kind,
            UpstreamErrorKind::ClientBody(_) | UpstreamErrorKind::ClientTooSlow
        )
    }

    /// The failure of a request hyper could not complete, classified.
    pub(crate) fn from_hyper(e: &hyper::Error) -> Self {
        if let Some(c) = ClientBodyError::find(e) {
            return UpstreamError::new(UpstreamErrorKind::ClientBody(c), c.to_string());
        }
        let reset = e.is_incomplete_message()
            || std::error::Error::source(e)
                .and_then(|s| s.downcast_ref::<std::io::Error>())
                .is_some_and(|io| {
                    matches!(
                        io.kind(),
                        std::io::ErrorKind::ConnectionReset
                            | std::io::ErrorKind::ConnectionAborted
                            | std::io::ErrorKind::BrokenPipe
                    )
                });
        let kind = if reset {
            UpstreamErrorKind::Reset
        } else {
            UpstreamErrorKind::Other
        };
        UpstreamError::new(kind, e.to_string())
    }
}

impl fmt::Display for UpstreamError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}: {}", self.kind, self.detail)
    }
}
