//! The access log: one JSON line per request on standard output, written by a background task so a
//! request never waits on the terminal or a pipe. When the writer falls behind, lines are dropped
//! and counted rather than slowing traffic down.

use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::Value;
use tokio::sync::mpsc;

pub struct AccessLog {
    tx: mpsc::Sender<Value>,
    dropped: AtomicU64,
}

impl AccessLog {
    /// Starts the writer task.
    pub fn start() -> Self {
        let (tx, mut rx) = mpsc::channel::<Value>(16_384);
        tokio::task::spawn_blocking(move || {
            let stdout = std::io::stdout();
            let mut out = std::io::BufWriter::new(stdout.lock());
            while let Some(line) = rx.blocking_recv() {
                let _ = serde_json::to_writer(&mut out, &line);
                let _ = out.write_all(b"\n");
                if rx.is_empty() {
                    let _ = out.flush();
                }
            }
        });
        AccessLog {
            tx,
            dropped: AtomicU64::new(0),
        }
    }

    pub(crate) fn log(&self, line: Value) {
        if self.tx.try_send(line).is_err() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }
}
