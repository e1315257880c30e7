//! The access log: one JSON line per request on standard output, written by a background thread so
//! a request never waits on the terminal or a pipe. When the writer falls behind, lines are dropped
//! and counted rather than slowing traffic down.

use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};

use std::sync::mpsc::TryRecvError;
use std::time::Duration;

use serde_json::Value;

/// Query parameters that carry credentials: their values never reach the log.
const SECRET_PARAMS: [&str; 12] = [
    "access_token",
    "apikey",
    "api_key",
    "x-api-key",
    "bearer_auth",
    "basic_auth",
    "token",
    "client_secret",
    "secret",
    "password",
    "jwt",
    "code",
];

/// `query` with the values of credential-bearing parameters replaced by `REDACTED`.
pub(crate) fn redact_query(query: &str) -> std::borrow::Cow<'_, str> {
    let secret = |k: &str| SECRET_PARAMS.iter().any(|s| k.eq_ignore_ascii_case(s));
    if !query
        .split('&')
        .any(|kv| secret(kv.split_once('=').map_or(kv, |(k, _)| k)))
    {
        return std::borrow::Cow::Borrowed(query);
    }
    let parts: Vec<String> = query
        .split('&')
        .map(|kv| match kv.split_once('=') {
            Some((k, _)) if secret(k) => format!("{k}=REDACTED"),
            _ => kv.to_string(),
        })
        .collect();
    std::borrow::Cow::Owned(parts.join("&"))
}

pub struct AccessLog {
    tx: std::sync::mpsc::SyncSender<Value>,
    dropped: AtomicU64,
}

/// How long the writer sleeps once it has written everything queued. The writer polls rather
/// than waits on the queue, so a request queues its line without waking a thread: under load the
/// writer finds a batch at each look, and an idle gateway's lines appear within this.
const TICK: Duration = Duration::from_millis(50);

impl AccessLog {
    /// Starts the writer thread.
    pub fn start() -> Self {
        let (tx, rx) = std::sync::mpsc::sync_channel::<Value>(16_384);
        std::thread::Builder::new()
            .name("komainu-access-log".into())
            .spawn(move || {
                let stdout = std::io::stdout();
                let mut out = std::io::BufWriter::new(stdout.lock());
                loop {
                    match rx.try_recv() {
                        Ok(line) => {
                            let _ = serde_json::to_writer(&mut out, &line);
                            let _ = out.write_all(b"\n");
                        }
                        Err(TryRecvError::Empty) => {
                            let _ = out.flush();
                            std::thread::sleep(TICK);
                        }
                        Err(TryRecvError::Disconnected) => break,
                    }
                }
                let _ = out.flush();
            })
            .expect("the access log thread starts");
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

#[cfg(test)]
mod tests {
    use super::redact_query;

    #[test]
    fn credentials_never_reach_the_log() {
        assert_eq!(redact_query("a=1&b=2"), "a=1&b=2");
        assert_eq!(
            redact_query("access_token=eyJ.x.y&page=2&APIKEY=k"),
            "access_token=REDACTED&page=2&APIKEY=REDACTED"
        );
    }
}
