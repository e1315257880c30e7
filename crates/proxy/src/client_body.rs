//! A client's request body on its way upstream: its size bounded by the route's limit, and its
//! failures (an aborted upload, malformed chunks) reported as the client's own
//! ([`ClientBodyError`]), so that they are answered 4xx and never count against the backend.
//! An HTTP/2 body also has the body timeout here (HTTP/1's bytes are timed by the connection's
//! guard, which cannot tell one stream of an HTTP/2 connection from another).

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use hyper::body::{Body as HttpBody, Frame, Incoming, SizeHint};
use komainu_http::{BoxError, ClientBodyError, Upload};
use komainu_plugins::BodyLimit;
use pin_project_lite::pin_project;
use std::future::Future;

pin_project! {
    pub(crate) struct ClientBody {
        #[pin]
        inner: Incoming,
        seen: u64,
        // `max` 0 is no limit.
        limit: BodyLimit,
        // Cut at the limit: nothing more is read.
        cut: bool,
        upload: Upload,
        // How long the body may stay silent, and the timer of the current silence.
        silence: Option<Duration>,
        timer: Option<Pin<Box<tokio::time::Sleep>>>,
    }
}

impl ClientBody {
    pub(crate) fn new(
        inner: Incoming,
        limit: BodyLimit,
        upload: Upload,
        silence: Option<Duration>,
    ) -> Self {
        ClientBody {
            inner,
            seen: 0,
            limit,
            cut: false,
            upload,
            silence,
            timer: None,
        }
    }
}

impl HttpBody for ClientBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let mut this = self.project();
        if *this.cut {
            return Poll::Ready(None);
        }
        match this.inner.as_mut().poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                *this.timer = None;
                let max = this.limit.max;
                let frame = match frame.into_data() {
                    Ok(mut data) => {
                        this.upload.received(&data);
                        *this.seen += data.len() as u64;
                        if max > 0 && *this.seen > max {
                            if !this.limit.truncate {
                                return Poll::Ready(Some(Err(ClientBodyError::TooLarge.into())));
                            }
                            let over = (*this.seen - max) as usize;
                            data.truncate(data.len() - over);
                            *this.cut = true;
                            this.upload.finish();
                        }
                        Frame::data(data)
                    }
                    Err(other) => other,
                };
                // A sized body ends with its last frame: the client may never be polled for `None`.
                if this.inner.is_end_stream() {
                    this.upload.finish();
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(e))) => {
                tracing::debug!(error = %e, "client request body failed");
                Poll::Ready(Some(Err(ClientBodyError::Aborted.into())))
            }
            Poll::Ready(None) => {
                this.upload.finish();
                Poll::Ready(None)
            }
            Poll::Pending => {
                let Some(silence) = *this.silence else {
                    return Poll::Pending;
                };
                let timer = this
                    .timer
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep(silence)));
                match timer.as_mut().poll(cx) {
                    Poll::Ready(()) => {
                        tracing::debug!("client request body silent past the body timeout");
                        Poll::Ready(Some(Err(ClientBodyError::TimedOut.into())))
                    }
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.cut || self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        let hint = self.inner.size_hint();
        match hint.exact() {
            Some(n) if self.limit.truncate && self.limit.max > 0 => {
                SizeHint::with_exact(n.min(self.limit.max))
            }
            _ => hint,
        }
    }
}
