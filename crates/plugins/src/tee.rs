//! A body that keeps a copy of what passes through it (up to a bound), and hands the copy over
//! when the body has been read to its end: what mirroring and the response cache see, without
//! delaying the body itself by a byte.

use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::{Bytes, BytesMut};
use hyper::body::{Body as _, Frame, SizeHint};

use crate::{Body, BoxError};

/// Receives the copy: the whole body, or `None` when it was larger than the bound, broke off, or
/// was dropped before its end.
pub(crate) type OnEnd = Box<dyn FnOnce(Option<Bytes>) + Send + Sync>;

pub(crate) struct Tee {
    inner: Body,
    copy: BytesMut,
    limit: usize,
    over: bool,
    on_end: Option<OnEnd>,
}

impl Tee {
    pub(crate) fn wrap(inner: Body, limit: usize, on_end: OnEnd) -> Body {
        use http_body_util::BodyExt;
        Tee {
            inner,
            copy: BytesMut::new(),
            limit,
            over: false,
            on_end: Some(on_end),
        }
        .boxed()
    }

    fn end(&mut self, whole: bool) {
        if let Some(f) = self.on_end.take() {
            f((whole && !self.over).then(|| std::mem::take(&mut self.copy).freeze()));
        }
    }
}

impl hyper::body::Body for Tee {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let polled = ready!(Pin::new(&mut self.inner).poll_frame(cx));
        match &polled {
            Some(Ok(frame)) => {
                if let Some(data) = frame.data_ref()
                    && !self.over
                {
                    if self.copy.len() + data.len() > self.limit {
                        self.over = true;
                        self.copy = BytesMut::new();
                    } else {
                        self.copy.extend_from_slice(data);
                    }
                }
                if self.inner.is_end_stream() {
                    self.end(true);
                }
            }
            Some(Err(_)) => self.end(false),
            None => self.end(true),
        }
        Poll::Ready(polled)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for Tee {
    fn drop(&mut self) {
        let whole = self.inner.is_end_stream();
        self.end(whole);
    }
}
