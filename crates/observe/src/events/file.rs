//! The `file:PATH` destination: JSON lines appended by one thread, rotated by size on whole
//! lines, with a bounded share of the page cache.
//!
//! An event file is written once and read elsewhere (a log shipper tails it within seconds), so
//! its data is handed to the disk and then dropped from the page cache a chunk at a time, the
//! newest chunks kept. Left to the kernel, tens of megabytes a second pile up as dirty pages until
//! the writer is throttled, evict what the machine does reuse, and make every write take fresh
//! pages: on a virtual machine whose host reclaims the guest's free memory, a fault on the host
//! for each (measured here: 1.7 to 3.8 ms of kernel time per MiB written, against 0.25 ms for a
//! file whose pages are recycled).

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::time::Duration;

use super::{Shared, TICK};

/// Written data goes to the disk in chunks of this size; a chunk leaves the page cache once the
/// next one has been handed over (so the newest one to two chunks stay cached).
const CHUNK: u64 = 1 << 20;

/// The file being appended to.
struct Output {
    file: File,
    len: u64,
    /// Data before this offset has been handed to the disk.
    submitted: u64,
    /// Data before this offset has been written and dropped from the page cache.
    dropped: u64,
}

impl Output {
    fn open(path: &Path) -> std::io::Result<Output> {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)?;
        let len = file.metadata()?.len();
        Ok(Output {
            file,
            len,
            // What an earlier run left is the kernel's to handle.
            submitted: len,
            dropped: len,
        })
    }

    fn append(&mut self, lines: &[u8]) -> std::io::Result<()> {
        self.file.write_all(lines)?;
        self.len += lines.len() as u64;
        if self.len - self.submitted >= CHUNK {
            // The chunk handed over last time is waited for (done by now, mostly) and dropped.
            if self.submitted > self.dropped {
                cache::drop_written(&self.file, self.dropped, self.submitted - self.dropped);
                self.dropped = self.submitted;
            }
            cache::start_writeback(&self.file, self.submitted, self.len - self.submitted);
            self.submitted = self.len;
        }
        Ok(())
    }
}

/// Page cache hints; they change what the kernel keeps in memory, never what the file holds,
/// so a refusal (a file system without them) is ignored.
#[cfg(target_os = "linux")]
mod cache {
    use std::fs::File;
    use std::os::fd::AsRawFd;

    /// Starts writing `len` bytes at `offset` to the disk, without waiting.
    pub(super) fn start_writeback(file: &File, offset: u64, len: u64) {
        // SAFETY: the descriptor is open for as long as `file` is borrowed; the call reads no memory.
        unsafe {
            libc::sync_file_range(
                file.as_raw_fd(),
                offset as libc::off64_t,
                len as libc::off64_t,
                libc::SYNC_FILE_RANGE_WRITE,
            );
        }
    }

    /// Waits until `len` bytes at `offset` are on the disk, then drops their pages.
    pub(super) fn drop_written(file: &File, offset: u64, len: u64) {
        let (fd, offset, len) = (
            file.as_raw_fd(),
            offset as libc::off64_t,
            len as libc::off64_t,
        );
        // SAFETY: as above; neither call reads or writes memory of this process.
        unsafe {
            libc::sync_file_range(
                fd,
                offset,
                len,
                libc::SYNC_FILE_RANGE_WAIT_BEFORE
                    | libc::SYNC_FILE_RANGE_WRITE
                    | libc::SYNC_FILE_RANGE_WAIT_AFTER,
            );
            libc::posix_fadvise(fd, offset, len, libc::POSIX_FADV_DONTNEED);
        }
    }
}

#[cfg(not(target_os = "linux"))]
mod cache {
    pub(super) fn start_writeback(_: &std::fs::File, _: u64, _: u64) {}
    pub(super) fn drop_written(_: &std::fs::File, _: u64, _: u64) {}
}

fn rotate(path: &Path, keep: u32) {
    let name = |i: u32| {
        let mut p = path.as_os_str().to_owned();
        p.push(format!(".{i}"));
        PathBuf::from(p)
    };
    let _ = std::fs::remove_file(name(keep));
    for i in (1..keep).rev() {
        let _ = std::fs::rename(name(i), name(i + 1));
    }
    let _ = std::fs::rename(path, name(1));
}

/// The length of the longest run of whole lines of `lines` within `room` bytes; one line at
/// least, so that a line larger than a file still goes somewhere.
fn whole_lines(lines: &[u8], room: u64) -> usize {
    let within = &lines[..lines.len().min(room as usize)];
    match memchr::memrchr(b'\n', within) {
        Some(end) => end + 1,
        None => memchr::memchr(b'\n', lines).map_or(lines.len(), |end| end + 1),
    }
}

/// The writer thread: takes what the lanes hold every [`TICK`] (or when woken), appends it to
/// `path`, rotating to `path.1`..`path.<keep>` past `max_bytes`; returns once closing.
pub(super) fn write(shared: &Shared, path: PathBuf, max_bytes: u64, keep: u32) {
    let mut output: Option<Output> = None;
    let mut spare = Vec::with_capacity(64 << 10);
    loop {
        let closing = shared.closing.load(Ordering::Relaxed);
        shared.take(&mut spare, |lines, count| {
            let mut rest = &lines[..];
            while !rest.is_empty() {
                let Some(out) = output.as_mut() else {
                    match Output::open(&path) {
                        Ok(o) => output = Some(o),
                        Err(e) => {
                            shared.tally.failed_pushes.fetch_add(1, Ordering::Relaxed);
                            tracing::warn!(path = %path.display(), error = %e, "cannot open the events file");
                            std::thread::sleep(Duration::from_secs(1));
                        }
                    }
                    continue;
                };
                // Whole lines only, as many as the file has room for; a new file past it.
                let n = if out.len + rest.len() as u64 > max_bytes {
                    let fits = whole_lines(rest, max_bytes.saturating_sub(out.len));
                    if out.len > 0 && out.len + fits as u64 > max_bytes {
                        output = None;
                        rotate(&path, keep);
                        continue;
                    }
                    fits
                } else {
                    rest.len()
                };
                if let Err(e) = out.append(&rest[..n]) {
                    shared.tally.failed_pushes.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(path = %path.display(), error = %e, "cannot write the events file");
                    output = None;
                    std::thread::sleep(Duration::from_millis(200));
                    continue;
                }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_takes_whole_lines_up_to_its_room() {
        let lines = b"aaaa\nbbbb\ncccc\n";
        assert_eq!(whole_lines(lines, 12), 10);
        assert_eq!(whole_lines(lines, 100), 15);
        // Not even one line fits: one line all the same (a fresh file takes it).
        assert_eq!(whole_lines(lines, 2), 5);
    }

    #[test]
    fn written_chunks_are_handed_over_then_dropped_and_the_file_keeps_every_byte() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("events.jsonl");
        std::fs::write(&path, b"earlier\n").unwrap();
        let mut out = Output::open(&path).unwrap();
        assert_eq!((out.len, out.submitted, out.dropped), (8, 8, 8));
        let line = [b"x".repeat(1023), b"\n".to_vec()].concat();
        let mut expected = b"earlier\n".to_vec();
        for _ in 0..3 * 1024 + 10 {
            out.append(&line).unwrap();
            expected.extend_from_slice(&line);
            // What is dropped was handed over first; at most two chunks are still cached.
            assert!(out.dropped <= out.submitted && out.submitted <= out.len);
            assert!(out.len - out.dropped < 2 * CHUNK + line.len() as u64);
        }
        assert!(out.dropped >= CHUNK, "{}", out.dropped);
        drop(out);
        assert!(std::fs::read(&path).unwrap() == expected);
    }
}
