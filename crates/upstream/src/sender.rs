//! A connection to a target, ready to carry a request: HTTP/1.1 (one request at a time, pooled
//! while idle) or HTTP/2 (many streams at once, shared by every call to the target).

use http::{Request, Response};
use hyper::body::Incoming;
use hyper::client::conn::{TrySendError, http1, http2};
use komainu_http::Body;

pub(crate) enum Sender {
    H1(http1::SendRequest<Body>),
    H2(http2::SendRequest<Body>),
}

impl Sender {
    pub(crate) fn is_ready(&self) -> bool {
        match self {
            Sender::H1(s) => s.is_ready(),
            Sender::H2(s) => s.is_ready(),
        }
    }

    pub(crate) async fn ready(&mut self) -> hyper::Result<()> {
        match self {
            Sender::H1(s) => s.ready().await,
            Sender::H2(s) => s.ready().await,
        }
    }

    pub(crate) async fn try_send_request(
        &mut self,
        req: Request<Body>,
    ) -> Result<Response<Incoming>, TrySendError<Request<Body>>> {
        match self {
            Sender::H1(s) => s.try_send_request(req).await,
            Sender::H2(s) => s.try_send_request(req).await,
        }
    }

    /// An HTTP/1.1 connection, to give back to the pool once its response is read.
    pub(crate) fn into_h1(self) -> Option<http1::SendRequest<Body>> {
        match self {
            Sender::H1(s) => Some(s),
            Sender::H2(_) => None,
        }
    }
}
