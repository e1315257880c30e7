//! Generates the gRPC echo service from `proto/echo.proto` (needs `protoc`; the test command
//! installs it when missing).

fn main() -> Result<(), Box<dyn std::error::Error>> {
    #[cfg(feature = "grpc")]
    tonic_prost_build::compile_protos("proto/echo.proto")?;
    Ok(())
}
