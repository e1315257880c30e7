//! The frames between the gateway and a worker process: a little-endian `u32` length, then that
//! many bytes. A job is `[op u8][filter length u32][filter][input]`; an answer is `[status u8]`
//! then the output or the error message. Lengths are checked against [`MAX_FRAME`] before
//! anything is allocated.

use std::io::{self, Read, Write};

/// The largest frame either side reads.
pub const MAX_FRAME: usize = 64 << 20;

/// Run a jq filter.
pub const OP_JQ: u8 = 1;

/// How a job ended, as the worker says it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Status {
    Ok = 0,
    BadInput = 1,
    FilterFailed = 2,
    OutputTooLarge = 3,
    DoesNotCompile = 4,
    BadJob = 5,
}

impl Status {
    pub fn from_byte(b: u8) -> Option<Status> {
        Some(match b {
            0 => Status::Ok,
            1 => Status::BadInput,
            2 => Status::FilterFailed,
            3 => Status::OutputTooLarge,
            4 => Status::DoesNotCompile,
            5 => Status::BadJob,
            _ => return None,
        })
    }
}

/// A jq job as one frame's payload.
pub fn jq_job(filter: &str, input: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(5 + filter.len() + input.len());
    out.push(OP_JQ);
    out.extend_from_slice(&(filter.len() as u32).to_le_bytes());
    out.extend_from_slice(filter.as_bytes());
    out.extend_from_slice(input);
    out
}

/// A job's filter and input, from a frame's payload.
pub fn parse_jq_job(payload: &[u8]) -> Option<(&str, &[u8])> {
    let (&op, rest) = payload.split_first()?;
    if op != OP_JQ || rest.len() < 4 {
        return None;
    }
    let (len, rest) = rest.split_at(4);
    let len = u32::from_le_bytes(len.try_into().ok()?) as usize;
    if len > rest.len() {
        return None;
    }
    let (filter, input) = rest.split_at(len);
    Some((std::str::from_utf8(filter).ok()?, input))
}

/// Writes one frame.
pub fn write_frame(w: &mut impl Write, parts: &[&[u8]]) -> io::Result<()> {
    let len: usize = parts.iter().map(|p| p.len()).sum();
    w.write_all(&(len as u32).to_le_bytes())?;
    for p in parts {
        w.write_all(p)?;
    }
    w.flush()
}

/// Reads one frame; `None` at a clean end of the stream.
pub fn read_frame(r: &mut impl Read) -> io::Result<Option<Vec<u8>>> {
    let mut len = [0u8; 4];
    match r.read_exact(&mut len) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    let len = checked_len(len)?;
    let mut buf = vec![0u8; len];
    r.read_exact(&mut buf)?;
    Ok(Some(buf))
}

/// A frame's length, refused past [`MAX_FRAME`].
pub fn checked_len(len: [u8; 4]) -> io::Result<usize> {
    let len = u32::from_le_bytes(len) as usize;
    if len > MAX_FRAME {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("a frame of {len} bytes"),
        ));
    }
    Ok(len)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jobs_round_trip_and_bad_ones_are_refused() {
        let job = jq_job(".a", b"{\"a\":1}");
        assert_eq!(parse_jq_job(&job), Some((".a", &b"{\"a\":1}"[..])));
        assert_eq!(parse_jq_job(&job[..3]), None);
        assert_eq!(parse_jq_job(&[OP_JQ, 255, 255, 255, 255]), None);
        assert_eq!(parse_jq_job(&[9, 0, 0, 0, 0]), None);
        let mut buf = Vec::new();
        write_frame(&mut buf, &[b"ab", b"c"]).unwrap();
        assert_eq!(read_frame(&mut &buf[..]).unwrap(), Some(b"abc".to_vec()));
        assert_eq!(read_frame(&mut &b""[..]).unwrap(), None);
        assert!(read_frame(&mut &[255u8, 255, 255, 255][..]).is_err());
    }
}
