//! A counter in one atomic word: (window id, count). Rolling into a new window and counting are one
//! compare-and-swap, with no lock; what API keys' quotas and the limit plugins count with.

use std::sync::atomic::{AtomicU64, Ordering};

/// One word holding a window id (high half) and a count (low half).
pub fn pack(window: u32, count: u32) -> u64 {
    (u64::from(window) << 32) | u64::from(count)
}

/// `(window, count)` of a packed word.
pub fn unpack(word: u64) -> (u32, u32) {
    ((word >> 32) as u32, word as u32)
}

/// Adds `by` to `cell` in `window`, restarting from zero when the window changed; the new count.
pub fn add(cell: &AtomicU64, window: u32, by: u32) -> u32 {
    let mut current = cell.load(Ordering::Relaxed);
    loop {
        let (w, c) = unpack(current);
        let next = if w == window {
            c.saturating_add(by)
        } else {
            by
        };
        match cell.compare_exchange_weak(
            current,
            pack(window, next),
            Ordering::AcqRel,
            Ordering::Relaxed,
        ) {
            Ok(_) => return next,
            Err(actual) => current = actual,
        }
    }
}

/// The count of `cell` in `window` (zero once the window moved on).
pub fn read(cell: &AtomicU64, window: u32) -> u32 {
    let (w, c) = unpack(cell.load(Ordering::Relaxed));
    if w == window { c } else { 0 }
}
