//! Hash-based selection (Sticky, IpAddressHash, HeaderHash, CookieHash, QueryHash): a key hashed onto
//! the targets with jump consistent hashing, so adding a target moves few keys.

use std::hash::{DefaultHasher, Hash, Hasher};

/// Jump consistent hash (Lamping and Veach, 2014): a bucket in `0..buckets`.
fn jump(mut key: u64, buckets: usize) -> usize {
    let (mut b, mut j) = (-1i64, 0i64);
    while j < buckets as i64 {
        b = j;
        key = key.wrapping_mul(2_862_933_555_777_941_757).wrapping_add(1);
        j = ((b + 1) as f64 * ((1u64 << 31) as f64 / ((key >> 33) + 1) as f64)) as i64;
    }
    b as usize
}

/// The target for `key`, or the next available one after it.
pub(crate) fn consistent(key: &str, n: usize, ok: &dyn Fn(usize) -> bool) -> Option<usize> {
    let mut h = DefaultHasher::new();
    key.hash(&mut h);
    next(jump(h.finish(), n), n, ok)
}

/// The first available target from `start` on.
pub(crate) fn next(start: usize, n: usize, ok: &dyn Fn(usize) -> bool) -> Option<usize> {
    (0..n).map(|k| (start + k) % n).find(|i| ok(*i))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jump_hash_is_stable_and_spread() {
        let mut counts = [0; 4];
        for i in 0..4000u64 {
            let b = jump(i.wrapping_mul(0x9E37_79B9_7F4A_7C15), 4);
            counts[b] += 1;
            assert_eq!(b, jump(i.wrapping_mul(0x9E37_79B9_7F4A_7C15), 4));
        }
        assert!(counts.iter().all(|c| *c > 800), "{counts:?}");
    }
}
