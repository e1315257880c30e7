//! A client connection's bytes on their way to the HTTP parser, with the limits an edge needs and
//! hyper does not give: a whole request head within `header_read_timeout` (a slowloris sending a
//! byte at a time is closed then), a request body never silent for longer than
//! `body_read_timeout`, and a connection idle between requests closed after `keepalive_timeout`
//! (the first request gets `header_read_timeout` from the accept). Timers only run while the
//! parser waits for bytes and no response is in flight. The bytes themselves are checked by
//! [`framing`].

pub(crate) mod framing;

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::{Duration, Instant};

use komainu_http::Activity;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Sleep;

use crate::metrics::{ListenerMetrics, Timeout};
use framing::{Framing, Waiting};

/// The connection timers, from the command line.
#[derive(Clone, Copy, Debug)]
pub struct Timeouts {
    pub header_read: Duration,
    pub body_read: Duration,
    pub keepalive: Duration,
}

pub(crate) struct Guarded<S> {
    inner: S,
    framing: Framing,
    activity: Arc<Activity>,
    timeouts: Timeouts,
    metrics: Arc<ListenerMetrics>,
    /// What the connection waits for, and since when (what the deadline counts from).
    waiting: Waiting,
    since: Option<Instant>,
    /// No request has been read yet: the first one gets the header timeout from the accept.
    first: bool,
    sleep: Option<(Pin<Box<Sleep>>, Instant)>,
}

impl<S> Guarded<S> {
    /// Guards an HTTP/1 connection (`http1`) or one whose bytes are not HTTP/1 (HTTP/2): the latter
    /// only gets the timer of its first bytes, then hyper's HTTP/2 keep-alive pings.
    pub(crate) fn new(
        inner: S,
        http1: bool,
        activity: Arc<Activity>,
        timeouts: Timeouts,
        metrics: Arc<ListenerMetrics>,
        accepted: Instant,
    ) -> Self {
        let framing = if http1 {
            Framing::default()
        } else {
            Framing::opaque()
        };
        Guarded {
            inner,
            waiting: framing.waiting(),
            framing,
            activity,
            timeouts,
            metrics,
            since: Some(accepted),
            first: true,
            sleep: None,
        }
    }

    /// The deadline of the current wait, if any.
    fn deadline(&mut self) -> Option<(Instant, Timeout)> {
        let t = &self.timeouts;
        let (limit, why) = match self.waiting {
            Waiting::Nothing => return None,
            Waiting::Request if self.activity.is_busy() => {
                self.since = None;
                return None;
            }
            Waiting::Request if self.first => (t.header_read, Timeout::Idle),
            Waiting::Request => (t.keepalive, Timeout::Idle),
            Waiting::Head => (t.header_read, Timeout::Header),
            Waiting::Body => (t.body_read, Timeout::Body),
        };
        // Idleness is first noticed here, when the parser asks for bytes and nothing is in flight.
        let since = *self.since.get_or_insert_with(Instant::now);
        Some((since + limit, why))
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Guarded<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        let before = buf.filled().len();
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                let fresh = &mut buf.filled_mut()[before..];
                if !fresh.is_empty() && !matches!(this.waiting, Waiting::Nothing) {
                    let was = this.waiting;
                    this.framing.feed(fresh, this.activity.is_upgraded());
                    if fresh.contains(&0) && !matches!(was, Waiting::Body) {
                        this.metrics.framing_refused();
                    }
                    this.waiting = this.framing.waiting();
                    match this.waiting {
                        // A new head started, or a body is still coming: the clock restarts.
                        Waiting::Head if was != Waiting::Head => this.since = Some(Instant::now()),
                        Waiting::Body => this.since = Some(Instant::now()),
                        Waiting::Request => {
                            this.first = false;
                            this.since = None;
                        }
                        _ => {}
                    }
                }
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => {
                let Some((deadline, why)) = this.deadline() else {
                    return Poll::Pending;
                };
                // The timer is only moved earlier, never later: a deadline that moved later
                // (the next idle period) is found when the timer fires, and the timer re-armed
                // then. A kept-alive connection costs one timer wake-up per period, not a timer
                // reset per request.
                let (sleep, armed) = this.sleep.get_or_insert_with(|| {
                    (
                        Box::pin(tokio::time::sleep_until(deadline.into())),
                        deadline,
                    )
                });
                if deadline < *armed {
                    sleep.as_mut().reset(deadline.into());
                    *armed = deadline;
                }
                loop {
                    ready!(sleep.as_mut().poll(cx));
                    if Instant::now() >= deadline {
                        break;
                    }
                    sleep.as_mut().reset(deadline.into());
                    *armed = deadline;
                }
                this.metrics.timed_out(why);
                this.waiting = Waiting::Nothing;
                match why {
                    // Idle: end the connection as a clean close.
                    Timeout::Idle => Poll::Ready(Ok(())),
                    _ => Poll::Ready(Err(io::Error::new(io::ErrorKind::TimedOut, why.describe()))),
                }
            }
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Guarded<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
