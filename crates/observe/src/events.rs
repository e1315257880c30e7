//! Gateway, admin and security events, sent to `--events`: JSON lines in a file rotated by size,
//! or batches POSTed to an HTTP receiver with retries.
//!
//! Emitting never waits: at most `--events-buffer` events are held, and when the destination is
//! slow or down further events are dropped and counted (`komainu_events_dropped_total`) rather
//! than held in growing memory.

use std::fmt::Write as _;
use std::io::Write;
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
                        write_file(&writing, path, max_bytes, keep);
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
                    post_batches(&writing, url, batch, &notify).await;
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
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {}",
                v.load(Ordering::Relaxed)
            );
        }
        let _ = writeln!(
            out,
            "# HELP komainu_events_queued Events waiting to be sent (at most {}).\n# TYPE komainu_events_queued gauge\nkomainu_events_queued {}",
            self.shared.capacity,
            self.shared.held.load(Ordering::Relaxed)
        );
    }
}

type Open = (std::fs::File, u64);

fn open(path: &PathBuf) -> std::io::Result<Open> {
    let f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    let len = f.metadata()?.len();
    Ok((f, len))
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

/// How often at least the writers take what the lanes hold (sooner when one holds
/// [`WAKE_AT`]): the destination trails by at most this much.
const TICK: Duration = Duration::from_millis(50);

/// The length of the longest run of whole lines of `lines` within `room` bytes; one line at
/// least, so that a line larger than a file still goes somewhere.
fn whole_lines(lines: &[u8], room: u64) -> usize {
    let within = &lines[..lines.len().min(room as usize)];
    match memchr::memrchr(b'\n', within) {
        Some(end) => end + 1,
        None => memchr::memchr(b'\n', lines).map_or(lines.len(), |end| end + 1),
    }
}

fn write_file(shared: &Shared, path: PathBuf, max_bytes: u64, keep: u32) {
    let mut file: Option<Open> = None;
    let mut spare = Vec::with_capacity(64 << 10);
    loop {
        let closing = shared.closing.load(Ordering::Relaxed);
        shared.take(&mut spare, |lines, count| {
            let mut rest = &lines[..];
            while !rest.is_empty() {
                let Some((out, len)) = file.as_mut() else {
                    match open(&path) {
                        Ok(f) => file = Some(f),
                        Err(e) => {
                            shared.tally.failed_pushes.fetch_add(1, Ordering::Relaxed);
                            tracing::warn!(path = %path.display(), error = %e, "cannot open the events file");
                            std::thread::sleep(Duration::from_secs(1));
                        }
                    }
                    continue;
                };
                // Whole lines only, as many as the file has room for; a new file past it.
                let n = if *len + rest.len() as u64 > max_bytes {
                    let fits = whole_lines(rest, max_bytes.saturating_sub(*len));
                    if *len > 0 && *len + fits as u64 > max_bytes {
                        file = None;
                        rotate(&path, keep);
                        continue;
                    }
                    fits
                } else {
                    rest.len()
                };
                if let Err(e) = out.write_all(&rest[..n]) {
                    shared.tally.failed_pushes.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(path = %path.display(), error = %e, "cannot write the events file");
                    file = None;
                    std::thread::sleep(Duration::from_millis(200));
                    continue;
                }
                *len += n as u64;
                rest = &rest[n..];
            }
            shared.written(count);
        });
        if closing {
            return;
        }
        std::thread::park_timeout(TICK);
    }
}

async fn post_batches(shared: &Shared, url: String, batch: usize, wake: &Notify) {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("an HTTP client");
    let mut taken = Vec::new();
    let mut emptied: Vec<Vec<u8>> = Vec::new();
    let mut spare = Vec::with_capacity(64 << 10);
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = wake.notified() => {}
        }
        let closing = shared.closing.load(Ordering::Relaxed);
        // Taken whole (a swap per lane), posted after the lanes' locks are let go; each lane gets
        // an emptied buffer back (the bodies are copies), so it does not regrow from nothing.
        shared.take(&mut spare, |lines, _| {
            taken.push(std::mem::replace(lines, emptied.pop().unwrap_or_default()))
        });
        for mut lines in taken.drain(..) {
            let mut rest = &lines[..];
            while !rest.is_empty() {
                let (body, count, used) = json_array(rest, batch);
                rest = &rest[used..];
                if post(shared, &client, &url, body, count).await {
                    shared.written(count);
                } else {
                    shared.held.fetch_sub(count, Ordering::Relaxed);
                    shared.tally.dropped.fetch_add(count, Ordering::Relaxed);
                }
            }
            if lines.capacity() <= KEPT_BUFFER {
                lines.clear();
                emptied.push(lines);
            }
        }
        if closing {
            return;
        }
    }
}

/// Up to `batch` JSON lines of `lines` as one JSON array, with how many it holds and how many
/// bytes of `lines` it used.
fn json_array(lines: &[u8], batch: usize) -> (bytes::Bytes, u64, usize) {
    let mut used = 0;
    let mut count = 0;
    for end in memchr::memchr_iter(b'\n', lines) {
        used = end + 1;
        count += 1;
        if count == batch {
            break;
        }
    }
    let mut body = Vec::with_capacity(used + 1);
    body.push(b'[');
    body.extend_from_slice(&lines[..used]);
    // Each line's newline becomes the separator; the last one the closing bracket.
    for b in &mut body[1..] {
        if *b == b'\n' {
            *b = b',';
        }
    }
    match body.last_mut() {
        Some(last @ b',') => *last = b']',
        _ => body.push(b']'),
    }
    (bytes::Bytes::from(body), count as u64, used)
}

/// POSTs `body` until the receiver accepts it; false when it still refuses at shutdown.
async fn post(
    shared: &Shared,
    client: &reqwest::Client,
    url: &str,
    body: bytes::Bytes,
    count: u64,
) -> bool {
    let mut backoff = Duration::from_millis(200);
    loop {
        let sent = client
            .post(url)
            .header("content-type", "application/json")
            .body(body.clone())
            .send()
            .await;
        match sent {
            Ok(r) if r.status().is_success() => return true,
            outcome => {
                shared.tally.failed_pushes.fetch_add(1, Ordering::Relaxed);
                let why = match outcome {
                    Ok(r) => r.status().to_string(),
                    Err(e) => e.to_string(),
                };
                tracing::warn!(%url, error = %why, events = count, "events receiver unavailable, retrying");
                if shared.closing.load(Ordering::Relaxed) {
                    return false;
                }
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
        }
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

    #[test]
    fn lines_become_json_arrays_of_at_most_a_batch() {
        let lines = b"{\"n\":1}\n{\"n\":2}\n{\"n\":3}\n";
        let (body, count, used) = json_array(lines, 2);
        assert_eq!((&body[..], count), (&b"[{\"n\":1},{\"n\":2}]"[..], 2));
        let (body, count, rest) = json_array(&lines[used..], 2);
        assert_eq!((&body[..], count), (&b"[{\"n\":3}]"[..], 1));
        assert_eq!(used + rest, lines.len());
    }

    #[test]
    fn a_file_takes_whole_lines_up_to_its_room() {
        let lines = b"aaaa\nbbbb\ncccc\n";
        assert_eq!(whole_lines(lines, 12), 10);
        assert_eq!(whole_lines(lines, 100), 15);
        // Not even one line fits: one line all the same (a fresh file takes it).
        assert_eq!(whole_lines(lines, 2), 5);
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
