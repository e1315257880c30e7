//! Raw TCP exchanges with the gateway: what an HTTP client library would normalise or refuse to
//! send (dot-segments, bare LFs, conflicting framing) goes on the wire byte for byte.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// What came back for a raw request.
pub struct Answer {
    pub text: String,
    /// Whether the gateway closed the connection (within the wait).
    pub closed: bool,
}

impl Answer {
    /// The status of the first response, 0 when none came.
    pub fn status(&self) -> u16 {
        self.text
            .strip_prefix("HTTP/1.1 ")
            .or_else(|| self.text.strip_prefix("HTTP/1.0 "))
            .and_then(|r| r.get(..3))
            .and_then(|s| s.parse().ok())
            .unwrap_or(0)
    }

    /// How many responses came back.
    pub fn responses(&self) -> usize {
        self.text.matches("HTTP/1.1 ").count() + self.text.matches("HTTP/1.0 ").count()
    }

    pub fn header(&self, name: &str) -> Option<String> {
        let head = self.text.split("\r\n\r\n").next()?;
        head.lines().skip(1).find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim()
                .eq_ignore_ascii_case(name)
                .then(|| v.trim().to_string())
        })
    }
}

/// `http://127.0.0.1:port` → `127.0.0.1:port`.
pub fn addr(url: &str) -> &str {
    url.trim_start_matches("http://")
}

/// Sends `request` and reads what comes back until the connection closes or `wait` passes.
pub fn exchange(url: &str, request: &[u8], wait: Duration) -> Answer {
    let mut s = TcpStream::connect(addr(url)).expect("connect to the gateway");
    s.write_all(request).expect("send");
    read_answer(&mut s, wait)
}

/// Reads until the peer closes or `wait` passes.
pub fn read_answer(s: &mut TcpStream, wait: Duration) -> Answer {
    let deadline = Instant::now() + wait;
    let mut out = Vec::new();
    let mut closed = false;
    let mut buf = [0u8; 16 * 1024];
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        s.set_read_timeout(Some(left.max(Duration::from_millis(1))))
            .unwrap();
        match s.read(&mut buf) {
            Ok(0) => {
                closed = true;
                break;
            }
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {
                closed = true;
                break;
            }
            Err(_) => break,
        }
    }
    Answer {
        text: String::from_utf8_lossy(&out).into_owned(),
        closed,
    }
}

/// A GET for `path` on `host`, as raw bytes.
pub fn get(host: &str, path: &str) -> Vec<u8> {
    format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n").into_bytes()
}
