//! The relay between a client and a backend once both upgraded: bytes copied both ways through a
//! small buffer each, frames checked on the way ([`super::frames`]), so that a connection holds
//! two buffers of [`BUFFER`] bytes whatever its peers send (no message is gathered), and
//! compressed frames (`permessage-deflate`, agreed by the peers) pass as they are.
//!
//! Idle means no data frame either way for the backend's `idle_timeout` (PINGs do not count); on
//! idle or drain each peer gets a close frame 1001 (going away), a peer breaking the protocol or
//! sending a message over the bound gets 1002 or 1009. A close is only written on a frame's
//! boundary; a peer that does not answer within [`CLOSE_GRACE`] is dropped.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::watch;

use super::frames::{Frames, Violation, close_frame};

/// Bytes buffered per direction.
pub(crate) const BUFFER: usize = 8 << 10;
/// How long a peer has to answer a close frame before the connection is dropped.
const CLOSE_GRACE: Duration = Duration::from_secs(5);

/// When the last data frame passed, in milliseconds since the relay started.
struct Quiet {
    started: Instant,
    last_ms: AtomicU64,
}

impl Quiet {
    fn touch(&self) {
        let now = self.started.elapsed().as_millis() as u64;
        self.last_ms.store(now, Ordering::Relaxed);
    }

    fn idle_for(&self) -> Duration {
        let last = Duration::from_millis(self.last_ms.load(Ordering::Relaxed));
        self.started.elapsed().saturating_sub(last)
    }
}

/// Resolves once `flag` is raised (or its sender is gone).
async fn raised(flag: &mut watch::Receiver<bool>) {
    let _ = flag.wait_for(|f| *f).await;
}

/// How one direction ended.
#[derive(Debug)]
enum Pumped {
    /// Its peer closed its side: the other peer was told (its write side shut down).
    Eof,
    Refused(Violation),
    Failed(String),
    /// The relay asked it to stop (between two reads).
    Stopped,
}

/// Copies `from` to `to`, checking frames, until its peer closes or the relay halts it.
async fn pump<R, W>(
    from: &mut R,
    to: &mut W,
    frames: &mut Frames,
    quiet: &Quiet,
    mut halt: watch::Receiver<bool>,
) -> Pumped
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut buf = vec![0u8; BUFFER];
    loop {
        let n = tokio::select! {
            read = from.read(&mut buf) => match read {
                Ok(0) => {
                    let _ = to.shutdown().await;
                    return Pumped::Eof;
                }
                Ok(n) => n,
                Err(e) => return Pumped::Failed(e.to_string()),
            },
            () = raised(&mut halt) => return Pumped::Stopped,
        };
        let (pass, refused) = match frames.feed(&buf[..n]) {
            Ok(seen) => {
                if seen.data {
                    quiet.touch();
                }
                (n, None)
            }
            Err((violation, before)) => (before, Some(violation)),
        };
        if let Err(e) = to.write_all(&buf[..pass]).await {
            return Pumped::Failed(e.to_string());
        }
        if let Some(v) = refused {
            return Pumped::Refused(v);
        }
    }
}

/// A masking key for the one frame the relay writes to a backend itself.
fn mask_key() -> [u8; 4] {
    use std::hash::{BuildHasher, RandomState};
    (RandomState::new().hash_one(Instant::now()) as u32).to_ne_bytes()
}

/// Why a relay ended, for the debug log.
#[derive(Debug)]
pub(crate) enum End {
    Closed,
    Idle,
    Draining,
    ClientRefused(Violation),
    UpstreamRefused(Violation),
    Failed(String),
}

/// What a relay is told beside its two connections.
pub(crate) struct Limits {
    pub idle: Duration,
    pub deflate: bool,
    pub max_message: u64,
}

/// Relays until both peers are done, the relay idles, or `drain` is raised.
pub(crate) async fn run<C, U>(
    client: C,
    upstream: U,
    limits: Limits,
    mut drain: watch::Receiver<bool>,
) -> End
where
    C: AsyncRead + AsyncWrite + Send,
    U: AsyncRead + AsyncWrite + Send,
{
    let (mut cr, mut cw) = tokio::io::split(client);
    let (mut ur, mut uw) = tokio::io::split(upstream);
    let mut from_client = Frames::new(true, limits.deflate, limits.max_message);
    let mut from_upstream = Frames::new(false, limits.deflate, limits.max_message);
    let quiet = Quiet {
        started: Instant::now(),
        last_ms: AtomicU64::new(0),
    };
    let (halt, halted) = watch::channel(false);
    let end = {
        let up = pump(&mut cr, &mut uw, &mut from_client, &quiet, halted.clone());
        let down = pump(&mut ur, &mut cw, &mut from_upstream, &quiet, halted);
        tokio::pin!(up, down);
        let (mut up_done, mut down_done) = (false, false);
        let mut end = None;
        while end.is_none() || !(up_done && down_done) {
            let idle_left = limits.idle.saturating_sub(quiet.idle_for());
            tokio::select! {
                p = &mut up, if !up_done => {
                    up_done = true;
                    end = end.or(match p {
                        Pumped::Eof | Pumped::Stopped => None,
                        Pumped::Refused(v) => Some(End::ClientRefused(v)),
                        Pumped::Failed(e) => Some(End::Failed(format!("from the client: {e}"))),
                    });
                }
                p = &mut down, if !down_done => {
                    down_done = true;
                    end = end.or(match p {
                        Pumped::Eof | Pumped::Stopped => None,
                        Pumped::Refused(v) => Some(End::UpstreamRefused(v)),
                        Pumped::Failed(e) => Some(End::Failed(format!("from the backend: {e}"))),
                    });
                }
                () = tokio::time::sleep(idle_left), if end.is_none() => {
                    if quiet.idle_for() >= limits.idle {
                        end = Some(End::Idle);
                    }
                }
                () = raised(&mut drain), if end.is_none() => end = Some(End::Draining),
                () = tokio::time::sleep(CLOSE_GRACE), if end.is_some() => break,
            }
            if up_done && down_done && end.is_none() {
                end = Some(End::Closed);
            }
            if end.is_some() {
                let _ = halt.send(true);
            }
        }
        end.unwrap_or(End::Closed)
    };
    // Who is still there hears why, on a frame boundary, and has a moment to answer.
    let codes = match end {
        End::Idle => Some((1001, 1001, "idle")),
        End::Draining => Some((1001, 1001, "server going down")),
        End::ClientRefused(v) => Some((v.code(), 1001, "")),
        End::UpstreamRefused(v) => Some((1001, v.code(), "")),
        End::Closed | End::Failed(_) => None,
    };
    if let Some((to_client, to_upstream, reason)) = codes {
        let farewell = async {
            if from_upstream.at_boundary() {
                let _ = cw.write_all(&close_frame(to_client, reason, None)).await;
                let _ = cw.flush().await;
            }
            if from_client.at_boundary() {
                let mask = mask_key();
                let _ = uw
                    .write_all(&close_frame(to_upstream, reason, Some(mask)))
                    .await;
                let _ = uw.flush().await;
            }
            let mut sink = vec![0u8; BUFFER];
            while matches!(cr.read(&mut sink).await, Ok(n) if n > 0) {}
            while matches!(ur.read(&mut sink).await, Ok(n) if n > 0) {}
        };
        let _ = tokio::time::timeout(CLOSE_GRACE, farewell).await;
    }
    end
}
