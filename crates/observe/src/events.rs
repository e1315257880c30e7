//! Gateway, admin and security events, sent to `--events`: JSON lines in a file rotated by size,
//! or batches POSTed to an HTTP receiver with retries.
//!
//! Emitting never waits: events go through a bounded queue, and when the destination is slow or
//! down the queue fills and further events are dropped and counted
//! (`komainu_events_dropped_total`) rather than held in growing memory.

use std::fmt::Write as _;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde_json::Value;
use tokio::sync::mpsc;

/// Where events go, from `--events`.
#[derive(Clone, Debug, PartialEq)]
pub enum Destination {
    /// `file:PATH`: one JSON object per line; rotated to `PATH.1`..`PATH.<keep>` past `max_bytes`.
    File {
        path: PathBuf,
        max_bytes: u64,
        keep: u32,
    },
    /// `http://` or `https://`: JSON arrays of up to `batch` events.
    Http { url: String, batch: usize },
}

impl std::str::FromStr for Destination {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        if let Some(path) = s.strip_prefix("file:") {
            if path.is_empty() {
                return Err(
                    "--events file: needs a path (file:/var/log/komainu/events.jsonl)".into(),
                );
            }
            return Ok(Destination::File {
                path: PathBuf::from(path),
                max_bytes: 100 << 20,
                keep: 5,
            });
        }
        if s.starts_with("http://") || s.starts_with("https://") {
            reqwest::Url::parse(s).map_err(|e| format!("--events {s}: {e}"))?;
            return Ok(Destination::Http {
                url: s.to_string(),
                batch: 500,
            });
        }
        Err(format!(
            "--events {s}: expected file:PATH, http://URL or https://URL"
        ))
    }
}

#[derive(Default)]
struct Tally {
    emitted: AtomicU64,
    sent: AtomicU64,
    dropped: AtomicU64,
    failed_pushes: AtomicU64,
}

/// Something that becomes one JSON event, written by the events thread (so a request pays for
/// moving its record, not for serialising it).
pub trait Event: Send {
    fn write_json(&self, out: &mut Vec<u8>);
}

impl Event for Value {
    fn write_json(&self, out: &mut Vec<u8>) {
        let _ = serde_json::to_writer(out, self);
    }
}

type Boxed = Box<dyn Event>;

enum Queue {
    /// The file writer is a thread of its own: a bounded std channel it can wait on with a timeout.
    File(std::sync::mpsc::SyncSender<Boxed>),
    Http(mpsc::Sender<Boxed>),
}

pub struct Events {
    queue: Queue,
    capacity: usize,
    queued: Arc<AtomicU64>,
    tally: Arc<Tally>,
}

impl Events {
    /// Starts the writer for `dest`, holding at most `buffer` events not yet written.
    pub fn start(dest: Destination, buffer: usize) -> Arc<Events> {
        let capacity = buffer.max(1);
        let tally = Arc::new(Tally::default());
        let queued = Arc::new(AtomicU64::new(0));
        let queue = match dest {
            Destination::File {
                path,
                max_bytes,
                keep,
            } => {
                let (tx, rx) = std::sync::mpsc::sync_channel(capacity);
                let (t, q) = (tally.clone(), queued.clone());
                std::thread::Builder::new()
                    .name("komainu-events".into())
                    .spawn(move || write_file(rx, path, max_bytes, keep, t, q))
                    .expect("the events thread starts");
                Queue::File(tx)
            }
            Destination::Http { url, batch } => {
                let (tx, rx) = mpsc::channel(capacity);
                tokio::spawn(post_batches(rx, url, batch, tally.clone(), queued.clone()));
                Queue::Http(tx)
            }
        };
        Arc::new(Events {
            queue,
            capacity,
            queued,
            tally,
        })
    }

    /// Queues `event`, or drops and counts it when the queue is full.
    pub fn emit(&self, event: Boxed) {
        self.tally.emitted.fetch_add(1, Ordering::Relaxed);
        let queued = match &self.queue {
            Queue::File(tx) => tx.try_send(event).is_ok(),
            Queue::Http(tx) => tx.try_send(event).is_ok(),
        };
        if queued {
            self.queued.fetch_add(1, Ordering::Relaxed);
        } else {
            self.tally.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    pub fn render(&self, out: &mut String) {
        let t = &self.tally;
        for (name, help, v) in [
            (
                "komainu_events_emitted_total",
                "Events produced.",
                &t.emitted,
            ),
            (
                "komainu_events_sent_total",
                "Events written to the file or accepted by the receiver.",
                &t.sent,
            ),
            (
                "komainu_events_dropped_total",
                "Events lost because the destination fell behind or was down.",
                &t.dropped,
            ),
            (
                "komainu_events_push_failures_total",
                "Failed attempts to write or POST a batch (retried).",
                &t.failed_pushes,
            ),
        ] {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {}",
                v.load(Ordering::Relaxed)
            );
        }
        let _ = writeln!(
            out,
            "# HELP komainu_events_queued Events waiting to be sent (at most {}).\n# TYPE komainu_events_queued gauge\nkomainu_events_queued {}",
            self.capacity,
            self.queued.load(Ordering::Relaxed)
        );
    }
}

fn open(path: &PathBuf) -> std::io::Result<(std::io::BufWriter<std::fs::File>, u64)> {
    let f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    let len = f.metadata()?.len();
    Ok((std::io::BufWriter::with_capacity(64 << 10, f), len))
}

fn rotate(path: &PathBuf, keep: u32) {
    let name = |i: u32| {
        let mut p = path.clone().into_os_string();
        p.push(format!(".{i}"));
        PathBuf::from(p)
    };
    let _ = std::fs::remove_file(name(keep));
    for i in (1..keep).rev() {
        let _ = std::fs::rename(name(i), name(i + 1));
    }
    let _ = std::fs::rename(path, name(1));
}

/// How often the writers wake to take what was queued. Waking per event would cost a context
/// switch per request; waking on a period costs nothing per request, and the destination trails
/// by at most this much.
const TICK: Duration = Duration::from_millis(50);

fn write_file(
    rx: std::sync::mpsc::Receiver<Boxed>,
    path: PathBuf,
    max_bytes: u64,
    keep: u32,
    tally: Arc<Tally>,
    queued: Arc<AtomicU64>,
) {
    use std::sync::mpsc::TryRecvError;
    let mut file = None;
    let mut line = Vec::with_capacity(2048);
    loop {
        let event = match rx.try_recv() {
            Ok(e) => e,
            Err(TryRecvError::Empty) => {
                if let Some((out, _)) = file.as_mut() {
                    let _ = std::io::Write::flush(out);
                }
                std::thread::sleep(TICK);
                continue;
            }
            Err(TryRecvError::Disconnected) => break,
        };
        queued.fetch_sub(1, Ordering::Relaxed);
        line.clear();
        event.write_json(&mut line);
        line.push(b'\n');
        loop {
            if file.is_none() {
                match open(&path) {
                    Ok(f) => file = Some(f),
                    Err(e) => {
                        tally.failed_pushes.fetch_add(1, Ordering::Relaxed);
                        tracing::warn!(path = %path.display(), error = %e, "cannot open the events file");
                        std::thread::sleep(Duration::from_secs(1));
                        continue;
                    }
                }
            }
            let (out, len) = file.as_mut().expect("opened");
            if *len > 0 && *len + line.len() as u64 > max_bytes {
                let _ = out.flush();
                file = None;
                rotate(&path, keep);
                continue;
            }
            if out.write_all(&line).is_err() {
                tally.failed_pushes.fetch_add(1, Ordering::Relaxed);
                file = None;
                std::thread::sleep(Duration::from_millis(200));
                continue;
            }
            *len += line.len() as u64;
            break;
        }
        tally.sent.fetch_add(1, Ordering::Relaxed);
    }
    if let Some((mut out, _)) = file {
        let _ = out.flush();
    }
}

async fn post_batches(
    mut rx: mpsc::Receiver<Boxed>,
    url: String,
    batch: usize,
    tally: Arc<Tally>,
    queued: Arc<AtomicU64>,
) {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("an HTTP client");
    let mut events = Vec::with_capacity(batch);
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        while events.len() < batch {
            match rx.try_recv() {
                Ok(e) => events.push(e),
                Err(mpsc::error::TryRecvError::Empty) => break,
                Err(mpsc::error::TryRecvError::Disconnected) if events.is_empty() => return,
                Err(mpsc::error::TryRecvError::Disconnected) => break,
            }
        }
        if events.is_empty() {
            tick.tick().await;
            continue;
        }
        queued.fetch_sub(events.len() as u64, Ordering::Relaxed);
        let mut body = Vec::with_capacity(events.len() * 512);
        body.push(b'[');
        for (i, e) in events.iter().enumerate() {
            if i > 0 {
                body.push(b',');
            }
            e.write_json(&mut body);
        }
        body.push(b']');
        let body = bytes::Bytes::from(body);
        let mut backoff = Duration::from_millis(200);
        loop {
            let sent = client
                .post(&url)
                .header("content-type", "application/json")
                .body(body.clone())
                .send()
                .await;
            match sent {
                Ok(r) if r.status().is_success() => break,
                outcome => {
                    tally.failed_pushes.fetch_add(1, Ordering::Relaxed);
                    let why = match outcome {
                        Ok(r) => r.status().to_string(),
                        Err(e) => e.to_string(),
                    };
                    tracing::warn!(%url, error = %why, events = events.len(), "events receiver unavailable, retrying");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                }
            }
        }
        tally.sent.fetch_add(events.len() as u64, Ordering::Relaxed);
        events.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn destinations_parse_or_say_what_is_expected() {
        assert!(matches!(
            "file:/tmp/e.jsonl".parse::<Destination>(),
            Ok(Destination::File { .. })
        ));
        assert!(matches!(
            "https://collector:4318/events".parse::<Destination>(),
            Ok(Destination::Http { .. })
        ));
        let e = "kafka://x".parse::<Destination>().unwrap_err();
        assert!(e.contains("expected file:PATH"), "{e}");
        assert!("file:".parse::<Destination>().is_err());
    }

    #[tokio::test]
    async fn a_file_rotates_past_its_size_and_keeps_its_last_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("events.jsonl");
        let events = Events::start(
            Destination::File {
                path: path.clone(),
                max_bytes: 1000,
                keep: 2,
            },
            10_000,
        );
        for i in 0..100 {
            events.emit(Box::new(serde_json::json!({"n": i, "pad": "x".repeat(40)})));
        }
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while events.tally.sent.load(Ordering::Relaxed) < 100 {
            assert!(std::time::Instant::now() < deadline, "events not written");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let size = |p: &std::path::Path| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
        assert!(size(&path) <= 1000);
        assert!(size(&dir.path().join("events.jsonl.2")) > 0);
        assert!(!dir.path().join("events.jsonl.3").exists());
    }
}
