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

pub struct Events {
    tx: mpsc::Sender<Value>,
    tally: Arc<Tally>,
}

impl Events {
    /// Starts the writer for `dest`, holding at most `buffer` events not yet written.
    pub fn start(dest: Destination, buffer: usize) -> Arc<Events> {
        let (tx, rx) = mpsc::channel(buffer.max(1));
        let tally = Arc::new(Tally::default());
        match dest {
            Destination::File {
                path,
                max_bytes,
                keep,
            } => {
                let t = tally.clone();
                tokio::task::spawn_blocking(move || write_file(rx, path, max_bytes, keep, t));
            }
            Destination::Http { url, batch } => {
                tokio::spawn(post_batches(rx, url, batch, tally.clone()));
            }
        }
        Arc::new(Events { tx, tally })
    }

    /// Queues `event`, or drops and counts it when the queue is full.
    pub fn emit(&self, event: Value) {
        self.tally.emitted.fetch_add(1, Ordering::Relaxed);
        if self.tx.try_send(event).is_err() {
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
        let queued = self.tx.max_capacity() - self.tx.capacity();
        let _ = writeln!(
            out,
            "# HELP komainu_events_queued Events waiting to be sent.\n# TYPE komainu_events_queued gauge\nkomainu_events_queued {queued}"
        );
    }
}

fn open(path: &PathBuf) -> std::io::Result<(std::io::BufWriter<std::fs::File>, u64)> {
    let f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    let len = f.metadata()?.len();
    Ok((std::io::BufWriter::new(f), len))
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

fn write_file(
    mut rx: mpsc::Receiver<Value>,
    path: PathBuf,
    max_bytes: u64,
    keep: u32,
    tally: Arc<Tally>,
) {
    let mut file = None;
    while let Some(event) = rx.blocking_recv() {
        let mut line = serde_json::to_vec(&event).unwrap_or_default();
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
        if rx.is_empty()
            && let Some((out, _)) = file.as_mut()
        {
            let _ = out.flush();
        }
    }
}

async fn post_batches(mut rx: mpsc::Receiver<Value>, url: String, batch: usize, tally: Arc<Tally>) {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("an HTTP client");
    let mut events = Vec::with_capacity(batch);
    loop {
        if rx.recv_many(&mut events, batch).await == 0 {
            return;
        }
        let body = serde_json::to_vec(&events).unwrap_or_default();
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
            events.emit(serde_json::json!({"n": i, "pad": "x".repeat(40)}));
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
