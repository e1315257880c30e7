//! WebSocket frames (RFC 6455 §5) as a relay sees them: each frame's header is read and checked,
//! its payload passes untouched (still masked from a client, still compressed when the peers
//! agreed on `permessage-deflate`), so the relay holds no message, only what it is reading now.
//!
//! A header is refused when a peer breaks the protocol (an unmasked client frame, a masked server
//! frame, an unknown opcode, a reserved bit no extension gave a meaning, a fragmented or long
//! control frame, a continuation out of place, a 64-bit length with its top bit set) or when a
//! message would grow past the relay's bound (counted in frame payload bytes as they travel).

/// Why a peer's bytes were refused, as a close code (RFC 6455 §7.4).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Violation {
    /// 1002: the protocol is broken.
    Protocol,
    /// 1009: a message larger than the relay carries.
    TooBig,
}

impl Violation {
    pub fn code(self) -> u16 {
        match self {
            Violation::Protocol => 1002,
            Violation::TooBig => 1009,
        }
    }
}

/// What a peer sent in the bytes just read.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Seen {
    /// A data frame (text, binary or continuation) started: the relay is not idle.
    pub data: bool,
    /// A close frame started.
    pub close: bool,
}

/// Reads one direction's frames.
#[derive(Debug)]
pub struct Frames {
    /// Frames come from the client (they must be masked) or from the backend (they must not).
    from_client: bool,
    /// `permessage-deflate` was agreed: RSV1 may mark the first frame of a data message.
    deflate: bool,
    max_message: u64,
    header: [u8; 14],
    have: usize,
    /// Payload bytes of the current frame still to pass.
    payload_left: u64,
    /// A fragmented data message is under way, with this many payload bytes so far.
    message: Option<u64>,
}

impl Frames {
    pub fn new(from_client: bool, deflate: bool, max_message: u64) -> Frames {
        Frames {
            from_client,
            deflate,
            max_message,
            header: [0; 14],
            have: 0,
            payload_left: 0,
            message: None,
        }
    }

    /// Whether the bytes read so far end on a frame's boundary (a frame may be written then).
    pub fn at_boundary(&self) -> bool {
        self.have == 0 && self.payload_left == 0
    }

    /// Reads `bytes`: what started in them, or the violation and how many of them come before
    /// the frame that broke the rules (those may still be passed on).
    pub fn feed(&mut self, bytes: &[u8]) -> Result<Seen, (Violation, usize)> {
        let mut seen = Seen::default();
        let mut at = 0;
        // Where the header being read began in `bytes` (0 when it began in earlier bytes).
        let mut header_start = 0;
        while at < bytes.len() {
            if self.payload_left > 0 {
                let take =
                    (bytes.len() - at).min(self.payload_left.min(usize::MAX as u64) as usize);
                self.payload_left -= take as u64;
                at += take;
                continue;
            }
            if self.have == 0 {
                header_start = at;
            }
            self.header[self.have] = bytes[at];
            self.have += 1;
            at += 1;
            let Some(need) = header_len(&self.header[..self.have]) else {
                continue;
            };
            if self.have < need {
                continue;
            }
            self.have = 0;
            match self.check(need) {
                Ok((len, kind)) => {
                    self.payload_left = len;
                    seen.data |= kind == Kind::Data;
                    seen.close |= kind == Kind::Close;
                }
                Err(v) => return Err((v, header_start)),
            }
        }
        Ok(seen)
    }

    /// Checks the complete header of `len` bytes; its payload length and kind.
    fn check(&mut self, len: usize) -> Result<(u64, Kind), Violation> {
        let h = &self.header[..len];
        let (fin, rsv, opcode) = (h[0] & 0x80 != 0, (h[0] >> 4) & 0x07, h[0] & 0x0f);
        let masked = h[1] & 0x80 != 0;
        if masked != self.from_client {
            return Err(Violation::Protocol);
        }
        let payload = match h[1] & 0x7f {
            126 => u64::from(u16::from_be_bytes([h[2], h[3]])),
            127 => u64::from_be_bytes(h[2..10].try_into().expect("8 bytes")),
            n => u64::from(n),
        };
        if payload >> 63 != 0 {
            return Err(Violation::Protocol);
        }
        match opcode {
            0x8..=0xa => {
                if !fin || rsv != 0 || payload > 125 {
                    return Err(Violation::Protocol);
                }
                let kind = if opcode == 0x8 {
                    Kind::Close
                } else {
                    Kind::Control
                };
                Ok((payload, kind))
            }
            0x0..=0x2 => {
                let first = opcode != 0;
                let compressed_first = rsv == 0b100 && self.deflate && first;
                if rsv != 0 && !compressed_first {
                    return Err(Violation::Protocol);
                }
                let so_far = match (first, self.message) {
                    (true, None) => 0,
                    (false, Some(n)) => n,
                    _ => return Err(Violation::Protocol),
                };
                let total = so_far.saturating_add(payload);
                if total > self.max_message {
                    return Err(Violation::TooBig);
                }
                self.message = (!fin).then_some(total);
                Ok((payload, Kind::Data))
            }
            _ => Err(Violation::Protocol),
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Data,
    Close,
    Control,
}

/// The length of a header whose first bytes are `h`, once they tell it.
fn header_len(h: &[u8]) -> Option<usize> {
    let second = *h.get(1)?;
    let extended = match second & 0x7f {
        126 => 2,
        127 => 8,
        _ => 0,
    };
    let mask = if second & 0x80 != 0 { 4 } else { 0 };
    Some(2 + extended + mask)
}

/// A close frame with `code`, masked with `mask` when it goes to a backend (a client's frames
/// are masked), unmasked when it goes to a client.
pub fn close_frame(code: u16, reason: &str, mask: Option<[u8; 4]>) -> Vec<u8> {
    let mut payload = code.to_be_bytes().to_vec();
    payload.extend_from_slice(&reason.as_bytes()[..reason.len().min(123)]);
    let mut out = vec![0x88, payload.len() as u8];
    if let Some(key) = mask {
        out[1] |= 0x80;
        out.extend_from_slice(&key);
        for (i, b) in payload.iter_mut().enumerate() {
            *b ^= key[i % 4];
        }
    }
    out.extend_from_slice(&payload);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A frame: `first` byte, payload of `len`, masked or not.
    fn frame(first: u8, len: usize, masked: bool) -> Vec<u8> {
        let mut out = vec![first];
        let m = if masked { 0x80 } else { 0 };
        match len {
            0..=125 => out.push(m | len as u8),
            126..=65535 => {
                out.push(m | 126);
                out.extend_from_slice(&(len as u16).to_be_bytes());
            }
            _ => {
                out.push(m | 127);
                out.extend_from_slice(&(len as u64).to_be_bytes());
            }
        }
        if masked {
            out.extend_from_slice(&[1, 2, 3, 4]);
        }
        out.extend(std::iter::repeat_n(b'x', len));
        out
    }

    #[test]
    fn frames_pass_whatever_way_they_are_cut() {
        let mut stream = frame(0x01, 5, true); // text, not final
        stream.extend(frame(0x89, 3, true)); // a ping between fragments
        stream.extend(frame(0x80, 70_000, true)); // the final continuation
        stream.extend(frame(0x88, 2, true)); // close
        for cut in [1, 3, 7, 1000, stream.len()] {
            let mut f = Frames::new(true, false, 1 << 20);
            let mut seen = Seen::default();
            for chunk in stream.chunks(cut) {
                let s = f.feed(chunk).unwrap();
                seen.data |= s.data;
                seen.close |= s.close;
            }
            assert!(seen.data && seen.close && f.at_boundary(), "cut {cut}");
        }
    }

    #[test]
    fn broken_frames_are_refused_at_their_start() {
        let refuse = |bytes: Vec<u8>, from_client: bool, deflate: bool| {
            let mut good = frame(0x82, 4, from_client);
            let at = good.len();
            good.extend(bytes);
            Frames::new(from_client, deflate, 100)
                .feed(&good)
                .unwrap_err()
                == (Violation::Protocol, at)
        };
        assert!(
            refuse(frame(0x82, 4, false), true, false),
            "an unmasked client frame"
        );
        assert!(
            refuse(frame(0x82, 4, true), false, false),
            "a masked server frame"
        );
        assert!(
            refuse(frame(0x83, 1, true), true, false),
            "an unknown opcode"
        );
        assert!(
            refuse(frame(0xc2, 1, true), true, false),
            "RSV1 without deflate"
        );
        assert!(refuse(frame(0xa2, 1, true), true, true), "RSV2");
        assert!(
            refuse(frame(0x09, 1, true), true, false),
            "a fragmented ping"
        );
        assert!(refuse(frame(0x89, 126, true), true, false), "a long ping");
        assert!(
            refuse(frame(0x80, 1, true), true, false),
            "a continuation of nothing"
        );
        let mut top = vec![0x82, 0xff];
        top.extend_from_slice(&u64::MAX.to_be_bytes());
        top.extend_from_slice(&[0; 4]);
        assert!(refuse(top, true, false), "a length with its top bit set");
        assert!(
            Frames::new(true, true, 100)
                .feed(&frame(0xc2, 4, true))
                .is_ok(),
            "deflate"
        );
        let mut two = frame(0x02, 60, true);
        two.extend(frame(0x80, 60, true));
        assert_eq!(
            Frames::new(true, false, 100).feed(&two).unwrap_err().0,
            Violation::TooBig
        );
    }

    #[test]
    fn close_frames_are_masked_toward_backends_only() {
        assert_eq!(
            close_frame(1001, "idle", None),
            [0x88, 6, 0x03, 0xe9, b'i', b'd', b'l', b'e']
        );
        let masked = close_frame(1001, "", Some([1, 2, 3, 4]));
        assert_eq!(masked, [0x88, 0x82, 1, 2, 3, 4, 0x03 ^ 1, 0xe9 ^ 2]);
        assert!(Frames::new(true, false, 10).feed(&masked).unwrap().close);
    }
}
