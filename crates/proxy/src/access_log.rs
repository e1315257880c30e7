//! The access log: one JSON line per request on standard output, written by a background thread so
//! a request never waits on the terminal or a pipe. When the writer falls behind, lines are dropped
//! and counted rather than slowing traffic down.

use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};

use std::sync::mpsc::TryRecvError;
use std::time::Duration;

use serde_json::Value;

/// Query parameters that carry credentials, compared without case, `-` or `_` (`clientSecret`,
/// `client_secret` and `Client-Secret` are one): their values never reach the log.
const SECRET_PARAMS: [&str; 16] = [
    "accesstoken",
    "apikey",
    "xapikey",
    "bearerauth",
    "basicauth",
    "token",
    "clientsecret",
    "secret",
    "password",
    "passwd",
    "jwt",
    "code",
    "idtoken",
    "refreshtoken",
    "authorization",
    "signature",
];

/// Whether `name` is `plain` (lower case, without `-` or `_`) once its case, `-` and `_` are
/// set aside; no allocation, as it runs on every logged request.
fn same_name(name: &str, plain: &str) -> bool {
    let mut letters = name
        .bytes()
        .filter(|b| *b != b'-' && *b != b'_')
        .map(|b| b.to_ascii_lowercase());
    plain.bytes().all(|p| letters.next() == Some(p)) && letters.next().is_none()
}

/// `query` with the values of credential-bearing parameters (the usual ones, and `route`'s own:
/// renamed API-key extractors, lower case without `-` or `_`) replaced by `REDACTED`.
pub(crate) fn redact_query<'q>(query: &'q str, route: &[Box<str>]) -> std::borrow::Cow<'q, str> {
    let secret = |k: &str| {
        let k = percent_decoded(k);
        SECRET_PARAMS.iter().any(|s| same_name(&k, s)) || route.iter().any(|r| same_name(&k, r))
    };
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

/// A parameter name with its percent escapes decoded (`client%5Fsecret` is `client_secret`).
fn percent_decoded(name: &str) -> std::borrow::Cow<'_, str> {
    if !name.contains('%') && !name.contains('+') {
        return std::borrow::Cow::Borrowed(name);
    }
    let decoded: Vec<u8> = form_urlencoded::parse(name.as_bytes())
        .next()
        .map(|(k, _)| k.into_owned().into_bytes())
        .unwrap_or_default();
    std::borrow::Cow::Owned(String::from_utf8_lossy(&decoded).into_owned())
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
        assert_eq!(redact_query("a=1&b=2", &[]), "a=1&b=2");
        assert_eq!(
            redact_query(
                "clientSecret=s1&Client-Secret=s2&client%5Fsecret=s3&page=1",
                &[]
            ),
            "clientSecret=REDACTED&Client-Secret=REDACTED&client%5Fsecret=REDACTED&page=1"
        );
        assert_eq!(
            redact_query("my_key=k&other=1", &["mykey".into()]),
            "my_key=REDACTED&other=1"
        );
        assert_eq!(
            redact_query("access_token=eyJ.x.y&page=2&APIKEY=k", &[]),
            "access_token=REDACTED&page=2&APIKEY=REDACTED"
        );
    }
}
