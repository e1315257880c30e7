//! The gRPC echo service. `Unary` answers the message and the metadata it received (after
//! `delay_ms`); a message `fail` is answered with INVALID_ARGUMENT. `ServerStream` sends the
//! message back three times, then, for `fail`, ends with an error status in the trailers.
//! `ClientStream` joins what it received; `Bidi` echoes each message as it arrives.

use std::pin::Pin;
use std::time::Duration;

use tokio_stream::{Stream, StreamExt};
use tonic::{Request, Response, Status, Streaming};

use crate::echo::echo_server::{Echo, EchoServer};
use crate::echo::{EchoReply, EchoRequest};

#[derive(Default)]
pub struct EchoService;

fn metadata<T>(req: &Request<T>) -> Vec<String> {
    let mut seen: Vec<String> = req
        .metadata()
        .iter()
        .filter_map(|kv| match kv {
            tonic::metadata::KeyAndValueRef::Ascii(k, v) => {
                Some(format!("{}={}", k.as_str(), v.to_str().unwrap_or("")))
            }
            tonic::metadata::KeyAndValueRef::Binary(..) => None,
        })
        .collect();
    seen.sort();
    seen
}

type ReplyStream = Pin<Box<dyn Stream<Item = Result<EchoReply, Status>> + Send>>;

#[tonic::async_trait]
impl Echo for EchoService {
    async fn unary(&self, req: Request<EchoRequest>) -> Result<Response<EchoReply>, Status> {
        let metadata = metadata(&req);
        let msg = req.into_inner();
        tokio::time::sleep(Duration::from_millis(msg.delay_ms.into())).await;
        if msg.message == "fail" {
            return Err(Status::invalid_argument("asked to fail"));
        }
        Ok(Response::new(EchoReply {
            message: msg.message,
            metadata,
        }))
    }

    type ServerStreamStream = ReplyStream;

    async fn server_stream(
        &self,
        req: Request<EchoRequest>,
    ) -> Result<Response<ReplyStream>, Status> {
        let msg = req.into_inner();
        let fail = msg.message == "fail";
        let replies = (0..3).map(move |i| {
            Ok(EchoReply {
                message: format!("{} {i}", msg.message),
                metadata: Vec::new(),
            })
        });
        let end = fail.then(|| Err(Status::data_loss("failed after three messages")));
        Ok(Response::new(Box::pin(tokio_stream::iter(
            replies.chain(end),
        ))))
    }

    async fn client_stream(
        &self,
        req: Request<Streaming<EchoRequest>>,
    ) -> Result<Response<EchoReply>, Status> {
        let mut stream = req.into_inner();
        let mut all = Vec::new();
        while let Some(msg) = stream.next().await {
            all.push(msg?.message);
        }
        Ok(Response::new(EchoReply {
            message: all.join(","),
            metadata: Vec::new(),
        }))
    }

    type BidiStream = ReplyStream;

    async fn bidi(
        &self,
        req: Request<Streaming<EchoRequest>>,
    ) -> Result<Response<ReplyStream>, Status> {
        let stream = req.into_inner().map(|m| {
            m.map(|m| EchoReply {
                message: m.message,
                metadata: Vec::new(),
            })
        });
        Ok(Response::new(Box::pin(stream)))
    }
}

/// Serves the echo service on `listener` (HTTP/2 cleartext) until the task is dropped.
pub async fn serve(listener: tokio::net::TcpListener) {
    let incoming = tokio_stream::wrappers::TcpListenerStream::new(listener);
    let _ = tonic::transport::Server::builder()
        .add_service(EchoServer::new(EchoService))
        .serve_with_incoming(incoming)
        .await;
}
