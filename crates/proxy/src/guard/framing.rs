//! Follows the HTTP/1.1 framing of the bytes a client sends, as the parser will read them, to refuse
//! what the parser would let through: a bare LF (RFC 9112 §2.2 lets a parser take one as a line
//! end, and one header line would become two), a `Transfer-Encoding` other than a lone `chunked`
//! (`gzip, chunked`, `chunked, chunked`), `Transfer-Encoding` beside `Content-Length`, obs-fold,
//! and bare LFs in chunk lines and trailers.
//!
//! A refusal replaces the offending byte with NUL: the parser then rejects the message itself
//! (400, connection closed), so a refused message is never half-delivered and the bytes after it
//! are never read as another request. The tracker follows message bodies (a length, or chunks)
//! only to know where the next head starts; it never buffers.

use memchr::memchr;

/// Longest line prefix kept to read a header's name and value.
const LINE_KEPT: usize = 96;

/// What the connection is waiting for, by the tracker's reading.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Waiting {
    /// The first byte of the next request.
    Request,
    /// The rest of a request head.
    Head,
    /// The rest of a request body.
    Body,
    /// Nothing the tracker reads (an upgrade, HTTP/2, a refused message).
    Nothing,
}

#[derive(Default)]
struct Head {
    /// The current line, up to `LINE_KEPT` bytes.
    line: Vec<u8>,
    /// Bytes of the current line seen (kept or not).
    line_len: usize,
    prev_cr: bool,
    first_line: bool,
    /// The first Content-Length value (the parser refuses differing ones).
    content_length: Option<u64>,
    transfer_encodings: u32,
    chunked: bool,
    upgrade: bool,
}

#[derive(Clone, Copy)]
enum Chunk {
    /// Reading a size line: digits seen, whether past the digits (LWS or extension).
    Size {
        digits: u8,
        after: bool,
        size: u64,
    },
    SizeLf {
        size: u64,
    },
    Data(u64),
    DataCr,
    DataLf,
    /// Trailer lines after the last chunk: bytes of the current line.
    Trailer {
        len: usize,
        prev_cr: bool,
    },
}

enum Phase {
    Idle,
    Head(Box<Head>),
    Fixed(u64),
    Chunked(Chunk),
    /// After a head asking for an upgrade (or CONNECT), until the answer says whether it happened.
    Upgrade,
    Opaque,
}

pub struct Framing {
    phase: Phase,
    /// Recycled head state: one allocation per connection, not per request.
    spare: Option<Box<Head>>,
}

impl Default for Framing {
    fn default() -> Self {
        Framing {
            phase: Phase::Idle,
            spare: None,
        }
    }
}

fn trim(v: &[u8]) -> &[u8] {
    let start = v
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(v.len());
    let end = v
        .iter()
        .rposition(|b| !b.is_ascii_whitespace())
        .map_or(start, |e| e + 1);
    &v[start..end]
}

impl Framing {
    /// A tracker for bytes that are not HTTP/1 (a connection that speaks HTTP/2).
    pub fn opaque() -> Self {
        Framing {
            phase: Phase::Opaque,
            spare: None,
        }
    }

    pub fn waiting(&self) -> Waiting {
        match self.phase {
            Phase::Idle => Waiting::Request,
            Phase::Head(_) => Waiting::Head,
            Phase::Fixed(_) | Phase::Chunked(_) => Waiting::Body,
            Phase::Upgrade | Phase::Opaque => Waiting::Nothing,
        }
    }

    /// Reads bytes just received, in order; may set one of them to NUL (see the module doc).
    /// `upgraded` tells, after an upgrade request, whether the gateway accepted the upgrade.
    pub fn feed(&mut self, bytes: &mut [u8], upgraded: bool) {
        let mut i = 0;
        while i < bytes.len() {
            i = match &mut self.phase {
                Phase::Opaque => return,
                Phase::Upgrade if upgraded => {
                    self.phase = Phase::Opaque;
                    return;
                }
                Phase::Upgrade | Phase::Idle => {
                    let mut head = self.spare.take().unwrap_or_default();
                    *head = Head {
                        line: std::mem::take(&mut head.line),
                        first_line: true,
                        ..Head::default()
                    };
                    head.line.clear();
                    self.phase = Phase::Head(head);
                    i
                }
                Phase::Head(_) => self.head(bytes, i),
                Phase::Fixed(left) => {
                    let take = (*left).min((bytes.len() - i) as u64);
                    *left -= take;
                    if *left == 0 {
                        self.phase = Phase::Idle;
                    }
                    i + take as usize
                }
                Phase::Chunked(_) => self.chunked(bytes, i),
            };
        }
    }

    fn refuse(&mut self, bytes: &mut [u8], at: usize) -> usize {
        bytes[at] = 0;
        self.phase = Phase::Opaque;
        bytes.len()
    }

    /// Reads head bytes from `i`; returns where it stopped.
    fn head(&mut self, bytes: &mut [u8], mut i: usize) -> usize {
        loop {
            let Phase::Head(h) = &mut self.phase else {
                return i;
            };
            let Some(n) = memchr(b'\n', &bytes[i..]) else {
                let rest = &bytes[i..];
                h.keep(rest);
                h.prev_cr = rest.last() == Some(&b'\r') || (rest.is_empty() && h.prev_cr);
                return bytes.len();
            };
            let lf = i + n;
            let cr = if n > 0 {
                bytes[lf - 1] == b'\r'
            } else {
                h.prev_cr
            };
            if !cr {
                return self.refuse(bytes, lf);
            }
            h.keep(&bytes[i..lf]);
            i = lf + 1;
            h.prev_cr = false;
            // The line without its CR.
            let kept = h.line.len().min(h.line_len.saturating_sub(1));
            let line_len = h.line_len - 1;
            if line_len == 0 {
                return self.end_of_head(bytes, lf, i);
            }
            let line = &h.line[..kept];
            if h.first_line {
                h.first_line = false;
                if line.starts_with(b"CONNECT ") {
                    h.upgrade = true;
                }
            } else if matches!(line.first(), Some(b' ' | b'\t')) {
                // obs-fold: a continuation line.
                return self.refuse(bytes, lf);
            } else if let Some(colon) = line.iter().position(|&b| b == b':') {
                let (name, value) = (&line[..colon], trim(&line[colon + 1..]));
                if name.eq_ignore_ascii_case(b"content-length") {
                    let length = std::str::from_utf8(value).ok().and_then(|v| v.parse().ok());
                    match length {
                        // Kept whole and a number: the length the parser reads too.
                        Some(n) if line_len <= LINE_KEPT => {
                            h.content_length.get_or_insert(n);
                        }
                        _ => return self.refuse(bytes, lf),
                    }
                } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
                    h.transfer_encodings += 1;
                    // A value longer than what is kept cannot be a lone `chunked`.
                    h.chunked = line_len <= LINE_KEPT && value.eq_ignore_ascii_case(b"chunked");
                } else if name.eq_ignore_ascii_case(b"upgrade") {
                    h.upgrade = true;
                }
            }
            h.line.clear();
            h.line_len = 0;
        }
    }

    /// The empty line ending a head is at `lf`; the body starts at `next`.
    fn end_of_head(&mut self, bytes: &mut [u8], lf: usize, next: usize) -> usize {
        let Phase::Head(h) = std::mem::replace(&mut self.phase, Phase::Idle) else {
            return next;
        };
        let te = h.transfer_encodings > 0;
        if te && (h.transfer_encodings > 1 || !h.chunked || h.content_length.is_some()) {
            self.spare = Some(h);
            return self.refuse(bytes, lf);
        }
        self.phase = match (te, h.content_length) {
            (true, _) => Phase::Chunked(Chunk::Size {
                digits: 0,
                after: false,
                size: 0,
            }),
            (false, Some(n)) if n > 0 => Phase::Fixed(n),
            _ if h.upgrade => Phase::Upgrade,
            _ => Phase::Idle,
        };
        self.spare = Some(h);
        next
    }

    /// Reads chunked-body bytes from `i`, mirroring the parser's strict rules.
    fn chunked(&mut self, bytes: &mut [u8], mut i: usize) -> usize {
        while i < bytes.len() {
            let Phase::Chunked(state) = &mut self.phase else {
                return i;
            };
            let b = bytes[i];
            *state = match *state {
                Chunk::Size {
                    digits,
                    after,
                    size,
                } => match b {
                    b'\r' => Chunk::SizeLf { size },
                    b'\n' => return self.refuse(bytes, i),
                    _ if after => Chunk::Size {
                        digits,
                        after,
                        size,
                    },
                    b'0'..=b'9' | b'a'..=b'f' | b'A'..=b'F' if digits < 16 => {
                        let d = (b as char).to_digit(16).unwrap_or(0);
                        Chunk::Size {
                            digits: digits + 1,
                            after,
                            size: size << 4 | u64::from(d),
                        }
                    }
                    b';' | b' ' | b'\t' if digits > 0 => Chunk::Size {
                        digits,
                        after: true,
                        size,
                    },
                    _ => return self.refuse(bytes, i),
                },
                Chunk::SizeLf { size } => match b {
                    b'\n' if size == 0 => Chunk::Trailer {
                        len: 0,
                        prev_cr: false,
                    },
                    b'\n' => Chunk::Data(size),
                    _ => return self.refuse(bytes, i),
                },
                Chunk::Data(left) => {
                    let take = left.min((bytes.len() - i) as u64);
                    i += take as usize;
                    *state = if left == take {
                        Chunk::DataCr
                    } else {
                        Chunk::Data(left - take)
                    };
                    continue;
                }
                Chunk::DataCr if b == b'\r' => Chunk::DataLf,
                Chunk::DataLf if b == b'\n' => Chunk::Size {
                    digits: 0,
                    after: false,
                    size: 0,
                },
                Chunk::DataCr | Chunk::DataLf => return self.refuse(bytes, i),
                Chunk::Trailer { len, prev_cr } => match b {
                    b'\n' if !prev_cr => return self.refuse(bytes, i),
                    b'\n' if len == 1 => {
                        self.phase = Phase::Idle;
                        return i + 1;
                    }
                    b'\n' => Chunk::Trailer {
                        len: 0,
                        prev_cr: false,
                    },
                    _ => Chunk::Trailer {
                        len: len + 1,
                        prev_cr: b == b'\r',
                    },
                },
            };
            i += 1;
        }
        i
    }
}

impl Head {
    /// Adds bytes of the current line, keeping its first `LINE_KEPT`.
    fn keep(&mut self, bytes: &[u8]) {
        let room = LINE_KEPT.saturating_sub(self.line.len());
        self.line.extend_from_slice(&bytes[..bytes.len().min(room)]);
        self.line_len += bytes.len();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `input` in pieces of `step` bytes; returns the bytes as the parser would see them.
    fn run(input: &str, step: usize) -> (Vec<u8>, Framing) {
        let mut f = Framing::default();
        let mut bytes = input.as_bytes().to_vec();
        for piece in bytes.chunks_mut(step) {
            f.feed(piece, false);
        }
        (bytes, f)
    }

    fn refused(input: &str) -> bool {
        (1..=input.len().max(1))
            .map(|step| run(input, step).0.contains(&0))
            .fold(None, |all: Option<bool>, r| {
                assert!(
                    all.is_none_or(|a| a == r),
                    "verdict depends on read size: {input:?}"
                );
                Some(r)
            })
            .unwrap_or(false)
    }

    #[test]
    fn well_formed_requests_pass_in_any_pieces() {
        for input in [
            "GET / HTTP/1.1\r\nHost: a\r\n\r\n",
            "POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nab\ncdGET / HTTP/1.1\r\nHost: a\r\n\r\n",
            "POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3;ext=1\r\na\nb\r\n0\r\nX-T: 1\r\n\r\nGET / HTTP/1.1\r\n\r\n",
            "POST /x HTTP/1.1\r\ntransfer-encoding:  Chunked \r\n\r\n0\r\n\r\n",
        ] {
            assert!(!refused(input), "{input:?}");
            let (_, f) = run(input, 7);
            assert_eq!(f.waiting(), Waiting::Request, "{input:?}");
        }
    }

    #[test]
    fn smuggling_shapes_are_refused() {
        for input in [
            "GET / HTTP/1.1\nHost: a\r\n\r\n",
            "GET / HTTP/1.1\r\nX-A: 1\nTransfer-Encoding: chunked\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: a\r\n\n",
            "POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
            "POST / HTTP/1.1\r\nTransfer-Encoding: chunked, chunked\r\n\r\n",
            "POST / HTTP/1.1\r\nTransfer-Encoding: identity, chunked\r\n\r\n",
            "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
            "POST / HTTP/1.1\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n",
            "GET / HTTP/1.1\r\nX-A: 1\r\n folded\r\n\r\n",
            "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\na\nb\r\n0\r\n\r\n",
            "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcX\r\n",
            "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX-T: 1\n\r\n",
            "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        ] {
            assert!(refused(input), "{input:?}");
        }
    }

    #[test]
    fn bodies_are_skipped_not_read() {
        let (bytes, f) = run(
            "POST / HTTP/1.1\r\nContent-Length: 10\r\n\r\n\n\n\n\n\n\n\n\n\n\n",
            3,
        );
        assert!(!bytes.contains(&0));
        assert_eq!(f.waiting(), Waiting::Request);
        let (_, f) = run("POST / HTTP/1.1\r\nContent-Length: 10\r\n\r\n12345", 100);
        assert_eq!(f.waiting(), Waiting::Body);
        let (_, f) = run("GET / HTTP/1.1\r\nHost: a", 100);
        assert_eq!(f.waiting(), Waiting::Head);
    }

    #[test]
    fn upgrades_stop_the_tracking_once_accepted() {
        let mut f = Framing::default();
        let mut head =
            b"GET /ws HTTP/1.1\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\r\n".to_vec();
        f.feed(&mut head, false);
        assert_eq!(f.waiting(), Waiting::Nothing);
        let mut frame = b"\x81\x05hel\nlo".to_vec();
        f.feed(&mut frame, true);
        assert!(!frame.contains(&0));
        let mut f = Framing::default();
        f.feed(&mut head.clone(), false);
        let mut next = b"GET / HTTP/1.1\nX: 1\r\n\r\n".to_vec();
        f.feed(&mut next, false);
        assert!(
            next.contains(&0),
            "an upgrade refused: the next request is read as one"
        );
    }
}
