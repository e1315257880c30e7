//! The body of an upstream response as it streams to the client: bounded by the call-and-stream
//! timeout, and giving its connection back to the pool once read to the end.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use bytes::Bytes;
use hyper::body::{Body as HttpBody, Frame, Incoming, SizeHint};
use komainu_http::{BoxError, Busy};
use pin_project_lite::pin_project;
use tokio::time::Sleep;

use crate::sender::Sender;
use crate::target::{Inflight, Target};

pin_project! {
    pub(crate) struct UpstreamBody {
        #[pin]
        inner: Incoming,
        // The attempt's timer, moved to `stream_until` when the body first has to wait: a body
        // already in the buffer (most small answers) never resets it.
        timer: Pin<Box<Sleep>>,
        stream_until: Option<Instant>,
        release: Option<(Sender, Arc<Target>)>,
        inflight: Option<Inflight>,
        // The client connection stays busy (no idle timer) until the body is done.
        busy: Option<Busy>,
    }
}

impl UpstreamBody {
    pub(crate) fn new(
        inner: Incoming,
        timer: Pin<Box<Sleep>>,
        stream_until: Instant,
        sender: Option<Sender>,
        inflight: Inflight,
        busy: Option<Busy>,
    ) -> Self {
        let target = inflight.0.clone();
        let mut body = UpstreamBody {
            inner,
            timer,
            stream_until: Some(stream_until),
            release: sender.map(|s| (s, target)),
            inflight: Some(inflight),
            busy,
        };
        if body.inner.is_end_stream() {
            // Nothing to read: the connection is free now (hyper may never poll an empty body).
            Self::finish(&mut body.release, &mut body.inflight);
        }
        body
    }

    fn finish(release: &mut Option<(Sender, Arc<Target>)>, inflight: &mut Option<Inflight>) {
        // An HTTP/1.1 connection is free again; an HTTP/2 one was never taken from the pool.
        if let Some((sender, target)) = release.take()
            && let Some(h1) = sender.into_h1()
        {
            target.pool.put(h1);
        }
        inflight.take();
    }
}

impl HttpBody for UpstreamBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let mut this = self.project();
        match this.inner.as_mut().poll_frame(cx) {
            Poll::Ready(None) => {
                UpstreamBody::finish(this.release, this.inflight);
                Poll::Ready(None)
            }
            Poll::Ready(Some(Ok(frame))) => {
                // A sized body ends with its last frame: hyper will not poll again for `None`.
                if this.inner.is_end_stream() {
                    UpstreamBody::finish(this.release, this.inflight);
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(e))) => {
                this.release.take();
                this.inflight.take();
                Poll::Ready(Some(Err(e.into())))
            }
            Poll::Pending => {
                if let Some(until) = this.stream_until.take() {
                    this.timer.as_mut().reset(until.into());
                }
                if this.timer.as_mut().poll(cx).is_ready() {
                    // Dropping the sender closes the connection: the upstream read stops.
                    this.release.take();
                    this.inflight.take();
                    return Poll::Ready(Some(Err(
                        "backend response exceeded callAndStreamTimeout".into(),
                    )));
                }
                Poll::Pending
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
