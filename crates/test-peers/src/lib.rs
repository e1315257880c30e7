//! Real peers for Komainu's tests and benches, the programs a gateway sits between: a gRPC echo
//! service (every streaming shape, delays for deadlines, errors for trailers) and a WebSocket echo
//! server, an HTTP sink (OTLP collector, events receiver) and a redis-server per test. Nothing here
//! is part of the gateway.

#[cfg(feature = "grpc")]
pub mod grpc;
#[cfg(feature = "redis")]
pub mod redis;
#[cfg(feature = "sink")]
pub mod sink;
pub mod ws;

/// The client libraries the tests drive the peers with, at the versions the peers use.
pub use {futures_util, tokio_tungstenite};
#[cfg(feature = "sink")]
pub use {opentelemetry_proto, prost};
#[cfg(feature = "grpc")]
pub use {tokio_stream, tonic};

/// The code generated from `proto/echo.proto`.
#[cfg(feature = "grpc")]
pub mod echo {
    tonic::include_proto!("echo");
}
