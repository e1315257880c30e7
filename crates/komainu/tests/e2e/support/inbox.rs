//! Where the gateway's notifications land in tests: a real SMTP server (aiosmtpd, through
//! `scripts/smtp-sink`) and a webhook receiver that can fail its first calls.

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

const SINK: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../scripts/smtp-sink");

/// The SMTP server, and every message it accepted (`from`, `to`, `subject`, `body`).
pub struct Smtp {
    pub port: u16,
    child: Child,
    mails: Arc<Mutex<Vec<Value>>>,
}

impl Smtp {
    pub fn start() -> Smtp {
        let mut child = Command::new("python3")
            .arg(SINK)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("python3 runs the SMTP sink (pip install aiosmtpd: scripts/test does)");
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let port = lines
            .next()
            .and_then(Result::ok)
            .and_then(|l| l.trim().parse().ok())
            .expect("the SMTP sink prints its port");
        let mails = Arc::new(Mutex::new(Vec::new()));
        let sink = mails.clone();
        std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                if let Ok(mail) = serde_json::from_str(&line) {
                    sink.lock().unwrap().push(mail);
                }
            }
        });
        Smtp { port, child, mails }
    }

    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    pub fn all(&self) -> Vec<Value> {
        self.mails.lock().unwrap().clone()
    }

    /// The first message to `to` whose subject holds `subject`, once it arrived.
    pub fn wait(&self, to: &str, subject: &str) -> Value {
        wait_for(&format!("a mail \"{subject}\" to {to}"), || {
            self.all().into_iter().find(|m| {
                m["to"]
                    .as_array()
                    .is_some_and(|t| t.iter().any(|a| a == to))
                    && m["subject"].as_str().is_some_and(|s| s.contains(subject))
            })
        })
    }
}

impl Drop for Smtp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn wait_for<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let started = Instant::now();
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "never got {what}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// One call the webhook received: its `Idempotency-Key`, its JSON body, what it answered.
#[derive(Clone, Debug)]
pub struct Call {
    pub key: String,
    pub body: Value,
    pub status: u16,
}

/// A webhook receiver answering 500 to its first `failing` calls, then 200.
pub struct Hook {
    pub url: String,
    calls: Arc<Mutex<Vec<Call>>>,
}

impl Hook {
    pub fn start(failing: usize) -> Hook {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/notifications", listener.local_addr().unwrap());
        let calls = Arc::new(Mutex::new(Vec::<Call>::new()));
        let log = calls.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let Some((head, body)) = read_request(&mut stream) else {
                    continue;
                };
                let key = head
                    .lines()
                    .find_map(|l| {
                        let (name, value) = l.split_once(':')?;
                        name.eq_ignore_ascii_case("idempotency-key")
                            .then(|| value.trim().to_string())
                    })
                    .unwrap_or_default();
                let mut log = log.lock().unwrap();
                let status = if log.len() < failing { 500 } else { 200 };
                log.push(Call {
                    key,
                    body: serde_json::from_slice(&body).unwrap_or(Value::Null),
                    status,
                });
                let _ = write!(
                    stream,
                    "HTTP/1.1 {status} X\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
                );
            }
        });
        Hook { url, calls }
    }

    pub fn calls(&self) -> Vec<Call> {
        self.calls.lock().unwrap().clone()
    }

    /// The bodies of the calls it acknowledged (200) for `event`.
    pub fn delivered(&self, event: &str) -> Vec<Value> {
        self.calls()
            .into_iter()
            .filter(|c| c.status == 200 && c.body["event"] == event)
            .map(|c| c.body)
            .collect()
    }

    /// The first acknowledged `event`, once it came.
    pub fn wait(&self, event: &str) -> Value {
        wait_for(&format!("webhook {event}"), || {
            self.delivered(event).into_iter().next()
        })
    }
}

/// A request's head and body (by `Content-Length`).
fn read_request(stream: &mut std::net::TcpStream) -> Option<(String, Vec<u8>)> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        let n = stream.read(&mut chunk).ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
        let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
            continue;
        };
        let head = String::from_utf8_lossy(&buf[..end]).to_string();
        let len = head
            .lines()
            .find_map(|l| {
                let (name, value) = l.split_once(':')?;
                name.eq_ignore_ascii_case("content-length")
                    .then(|| value.trim().parse::<usize>().ok())?
            })
            .unwrap_or(0);
        while buf.len() < end + 4 + len {
            let n = stream.read(&mut chunk).ok()?;
            if n == 0 {
                break;
            }
            buf.extend_from_slice(&chunk[..n]);
        }
        return Some((head, buf[end + 4..].to_vec()));
    }
}
