//! Request ids in Otoroshi's snowflake form: milliseconds since 2020 (41 bits), a node number
//! (10 bits, random per process) and a sequence (12 bits), so ids sort by time and two nodes do
//! not collide. One atomic add per request, no lock.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

const EPOCH_MS: u64 = 1_577_836_800_000; // 2020-01-01

fn node() -> u64 {
    static NODE: OnceLock<u64> = OnceLock::new();
    *NODE.get_or_init(|| {
        use std::hash::{BuildHasher, RandomState};
        RandomState::new().hash_one(std::process::id()) & 0x3ff
    })
}

/// A new id, and the time it was taken (milliseconds since the epoch).
pub(crate) fn next() -> (u64, i64) {
    static SEQ: AtomicU64 = AtomicU64::new(0);
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    let seq = SEQ.fetch_add(1, Ordering::Relaxed) & 0xfff;
    let id = ((now.saturating_sub(EPOCH_MS)) << 22) | (node() << 12) | seq;
    (id, now as i64)
}

#[cfg(test)]
mod tests {
    #[test]
    fn ids_are_distinct_and_grow() {
        let (a, _) = super::next();
        let (b, _) = super::next();
        assert_ne!(a, b);
        assert!(b >> 22 >= a >> 22);
    }
}
