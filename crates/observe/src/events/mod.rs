//! Gateway, admin and security events, sent to `--events`: JSON lines in a file rotated by size,
//! or batches POSTed to an HTTP receiver with retries.
//!
//! Emitting never waits: at most `--events-buffer` events are held, and when the destination is
//! slow or down further events are dropped and counted (`komainu_events_dropped_total`) rather
//! than held in growing memory.

mod file;
mod http;

use crate::prom::{self, Kind};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use serde_json::Value;
use tokio::sync::{Notify, oneshot};

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

/// Something that becomes one JSON event (a single line: JSON escapes every newline).
pub trait Event {
    fn write_json(&self, out: &mut Vec<u8>);
}

impl Event for Value {
    fn write_json(&self, out: &mut Vec<u8>) {
        let _ = serde_json::to_writer(out, self);
    }
}

/// Events written but not yet taken by the writer: JSON lines.
#[derive(Default)]
struct Lane {
    lines: Vec<u8>,
    count: u64,
}

/// What the emitting threads and the writer share.
///
/// An event is serialised by the thread that emits it, into that thread's lane: what it
/// allocated is freed where it was allocated, and the writer takes a lane's lines in one swap
/// (under a lock that only this thread and the writer, once a tick, ever take).
struct Shared {
    lanes: Box<[Mutex<Lane>]>,
    capacity: u64,
    /// Events held in memory: in the lanes, or taken by the writer and not yet written.
    held: AtomicU64,
    closing: AtomicBool,
    tally: Tally,
    writer: OnceLock<Writer>,
}

/// How the writer is woken before its tick.
enum Writer {
    Thread(std::thread::Thread),
    Task(Arc<Notify>),
}

/// A lane holding this much wakes the writer: its lines are taken while still in the CPU's
/// cache, rather than a tick's worth (megabytes at full load) streaming through it.
const WAKE_AT: usize = 256 << 10;

/// The largest lane buffer the writer hands back for reuse once written.
const KEPT_BUFFER: usize = 4 << 20;

/// How often at least the writers take what the lanes hold (sooner when one holds
/// [`WAKE_AT`]): the destination trails by at most this much.
const TICK: Duration = Duration::from_millis(50);

impl Shared {
    fn new(lanes: usize, capacity: u64) -> Shared {
        Shared {
            lanes: (0..lanes).map(|_| Mutex::default()).collect(),
            capacity,
            held: AtomicU64::new(0),
            closing: AtomicBool::new(false),
            tally: Tally::default(),
            writer: OnceLock::new(),
        }
    }

    fn wake(&self) {
        match self.writer.get() {
            Some(Writer::Thread(t)) => t.unpark(),
            Some(Writer::Task(n)) => n.notify_one(),
            None => {}
        }
    }

    fn lane(&self) -> &Mutex<Lane> {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        thread_local! {
            static LANE: usize = NEXT.fetch_add(1, Ordering::Relaxed);
        }
        &self.lanes[LANE.with(|l| *l) % self.lanes.len()]
    }

    /// Swaps each lane's lines with `spare` and hands them to `write` (which must leave the
    /// buffer empty): no copy, and never a lock held while writing.
    fn take(&self, spare: &mut Vec<u8>, mut write: impl FnMut(&mut Vec<u8>, u64)) {
        for lane in &self.lanes {
            let count = {
                let mut lane = lane.lock().unwrap_or_else(|p| p.into_inner());
                if lane.count == 0 {
                    continue;
                }
                std::mem::swap(&mut lane.lines, spare);
                std::mem::take(&mut lane.count)
            };
            write(spare, count);
            spare.clear();
            // A burst (large captured bodies) leaves a large buffer behind: not kept.
            if spare.capacity() > KEPT_BUFFER {
                *spare = Vec::with_capacity(64 << 10);
            }
        }
    }

    fn written(&self, count: u64) {
        self.held.fetch_sub(count, Ordering::Relaxed);
        self.tally.sent.fetch_add(count, Ordering::Relaxed);
    }
}

pub struct Events {
    shared: Arc<Shared>,
    /// Resolves when the writer has stopped, after its last pass.
    stopped: Mutex<Option<oneshot::Receiver<()>>>,
}

impl Events {
    /// Starts the writer for `dest`, holding at most `buffer` events not yet written.
    pub fn start(dest: Destination, buffer: usize) -> Arc<Events> {
        let lanes = std::thread::available_parallelism()
            .map_or(2, |n| n.get() * 2)
            .clamp(2, 64);
        let shared = Arc::new(Shared::new(lanes, buffer.max(1) as u64));
        let (done, stopped) = oneshot::channel();
        match dest {
            Destination::File {
                path,
                max_bytes,
                keep,
            } => {
                let writing = shared.clone();
                let thread = std::thread::Builder::new()
                    .name("komainu-events".into())
                    .spawn(move || {
                        file::write(&writing, path, max_bytes, keep);
                        let _ = done.send(());
                    })
                    .expect("the events thread starts");
                let _ = shared.writer.set(Writer::Thread(thread.thread().clone()));
            }
            Destination::Http { url, batch } => {
                let notify = Arc::new(Notify::new());
                let _ = shared.writer.set(Writer::Task(notify.clone()));
                let writing = shared.clone();
                tokio::spawn(async move {
                    http::post_batches(&writing, url, batch, &notify).await;
                    let _ = done.send(());
                });
            }
        }
        Arc::new(Events {
            shared,
            stopped: Mutex::new(Some(stopped)),
        })
    }

    /// Writes `event` into this thread's lane, or drops and counts it when `buffer` events are
    /// already held.
    pub fn emit(&self, event: &dyn Event) {
        let s = &*self.shared;
        s.tally.emitted.fetch_add(1, Ordering::Relaxed);
        if s.held.load(Ordering::Relaxed) >= s.capacity {
            s.tally.dropped.fetch_add(1, Ordering::Relaxed);
            return;
        }
        s.held.fetch_add(1, Ordering::Relaxed);
        let mut lane = s.lane().lock().unwrap_or_else(|p| p.into_inner());
        let before = lane.lines.len();
        event.write_json(&mut lane.lines);
        lane.lines.push(b'\n');
        lane.count += 1;
        let full = before < WAKE_AT && lane.lines.len() >= WAKE_AT;
        drop(lane);
        if full {
            s.wake();
        }
    }

    /// Lets the writer send what is held, waiting for it at most `within` (at shutdown).
    pub async fn close(&self, within: Duration) {
        self.shared.closing.store(true, Ordering::Relaxed);
        self.shared.wake();
        let stopped = self.stopped.lock().ok().and_then(|mut s| s.take());
        if let Some(stopped) = stopped
            && tokio::time::timeout(within, stopped).await.is_err()
        {
            tracing::warn!(
                held = self.shared.held.load(Ordering::Relaxed),
                "events not all sent before shutdown"
            );
        }
    }

    pub fn render(&self, out: &mut String) {
        let t = &self.shared.tally;
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
            prom::single(out, name, Kind::Counter, help, v.load(Ordering::Relaxed));
        }
        let help = format!(
            "Events waiting to be sent (at most {}).",
            self.shared.capacity
        );
        let queued = self.shared.held.load(Ordering::Relaxed);
        prom::single(out, "komainu_events_queued", Kind::Gauge, &help, queued);
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

    /// Events to `events.jsonl` in a new directory, rotated past `max_bytes`, two files kept.
    fn file_events(max_bytes: u64) -> (tempfile::TempDir, PathBuf, Arc<Events>) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("events.jsonl");
        let dest = Destination::File {
            path: path.clone(),
            max_bytes,
            keep: 2,
        };
        (dir, path, Events::start(dest, 10_000))
    }

    #[tokio::test]
    async fn a_file_rotates_past_its_size_and_keeps_its_last_files() {
        let (dir, path, events) = file_events(1000);
        for i in 0..100 {
            events.emit(&serde_json::json!({"n": i, "pad": "x".repeat(40)}));
        }
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while events.shared.tally.sent.load(Ordering::Relaxed) < 100 {
            assert!(std::time::Instant::now() < deadline, "events not written");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let size = |p: &std::path::Path| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
        assert!(size(&path) <= 1000);
        assert!(size(&dir.path().join("events.jsonl.2")) > 0);
        assert!(!dir.path().join("events.jsonl.3").exists());
    }

    #[tokio::test]
    async fn closing_writes_what_is_held_without_waiting_for_a_tick() {
        let (_dir, path, events) = file_events(1 << 20);
        for i in 0..500 {
            events.emit(&serde_json::json!({ "n": i }));
        }
        events.close(Duration::from_secs(10)).await;
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.lines().count(), 500);
        assert_eq!(events.shared.held.load(Ordering::Relaxed), 0);
        assert_eq!(events.shared.tally.sent.load(Ordering::Relaxed), 500);
    }

    #[test]
    fn past_the_buffer_events_are_dropped_and_counted() {
        let events = Events {
            shared: Arc::new(Shared::new(2, 3)),
            stopped: Mutex::new(None),
        };
        for i in 0..5 {
            events.emit(&serde_json::json!(i));
        }
        let t = &events.shared.tally;
        assert_eq!(t.emitted.load(Ordering::Relaxed), 5);
        assert_eq!(t.dropped.load(Ordering::Relaxed), 2);
        let mut spare = Vec::new();
        let mut taken = Vec::new();
        events.shared.take(&mut spare, |lines, n| {
            taken.extend_from_slice(lines);
            assert_eq!(n, 3);
        });
        assert_eq!(taken, b"0\n1\n2\n");
    }
}
