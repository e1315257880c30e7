//! The counters of the limit plugins (throttling, quotas, token buckets), shared by every snapshot
//! so that a configuration change never hands out fresh allowances. Counting is local and
//! lock-free per counter (one atomic word holds the window and the count, as the keys' quotas do);
//! counters of a minute or longer are also added to the store's counters every second, and read
//! back at start, so that daily and monthly quotas survive a restart.
//!
//! Memory is bounded: counters whose window ended are swept, and past [`MAX_COUNTERS`] distinct
//! keys (a client inventing keys) new ones are refused until room is made.

use std::collections::HashMap;
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use komainu_keys::Windows;
use komainu_keys::window_cell::{add, pack, unpack};

/// Distinct counters (and buckets) held at once.
pub const MAX_COUNTERS: usize = 1_000_000;
const SHARDS: usize = 32;

/// How long a counter counts before it starts again from zero.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Window {
    Millis(u64),
    /// The calendar day (the keys' quota time zone).
    Day,
    Month,
}

impl Window {
    fn id(self, now_ms: i64, w: &Windows) -> u32 {
        match self {
            Window::Millis(ms) => (now_ms.max(0) as u64 / ms.max(1)) as u32,
            Window::Day => w.day,
            Window::Month => w.month,
        }
    }

    fn ends_at_ms(self, now_ms: i64, w: &Windows) -> i64 {
        match self {
            Window::Millis(ms) => {
                let ms = ms.max(1) as i64;
                (now_ms / ms + 1) * ms
            }
            Window::Day => w.day_end_ms,
            Window::Month => w.month_end_ms,
        }
    }

    /// Worth keeping across a restart.
    fn persisted(self) -> bool {
        !matches!(self, Window::Millis(ms) if ms < 60_000)
    }
}

struct Cell {
    window: Window,
    count: AtomicU64,
    /// Counted here and not yet added to the store's counter.
    unsaved: AtomicU64,
}

/// A token bucket: tokens and when they were last refilled.
struct Bucket {
    tokens: f64,
    refilled_ms: i64,
}

type Shard<T> = RwLock<HashMap<String, Arc<T>>>;

pub struct Counters {
    cells: Box<[Shard<Cell>]>,
    buckets: Box<[Shard<Mutex<Bucket>>]>,
    held: AtomicUsize,
    /// Counts read from the store at start, taken by the counter they belong to when it is first used.
    seeds: Mutex<HashMap<String, u32>>,
    hasher: foldhash::fast::RandomState,
}

impl Default for Counters {
    fn default() -> Self {
        Counters {
            cells: (0..SHARDS).map(|_| RwLock::default()).collect(),
            buckets: (0..SHARDS).map(|_| RwLock::default()).collect(),
            held: AtomicUsize::new(0),
            seeds: Mutex::default(),
            hasher: foldhash::fast::RandomState::default(),
        }
    }
}

/// The store's name of a persisted counter in one window.
fn store_key(key: &str, window: u32) -> String {
    format!("plugins:{key}:{window}")
}

impl Counters {
    fn shard(&self, key: &str) -> usize {
        self.hasher.hash_one(key) as usize % SHARDS
    }

    fn get_or_insert<T>(
        &self,
        shards: &[Shard<T>],
        key: &str,
        make: impl FnOnce() -> T,
    ) -> Option<Arc<T>> {
        let shard = &shards[self.shard(key)];
        if let Some(found) = shard.read().expect("counters lock").get(key) {
            return Some(found.clone());
        }
        if self.held.load(Ordering::Relaxed) >= MAX_COUNTERS {
            return None;
        }
        let mut map = shard.write().expect("counters lock");
        let entry = map.entry(key.to_string()).or_insert_with(|| {
            self.held.fetch_add(1, Ordering::Relaxed);
            Arc::new(make())
        });
        Some(entry.clone())
    }

    /// Counts one call for `key` in its `window` now; the count in this window after it, `None`
    /// when no more counters can be held.
    pub fn hit(&self, key: &str, window: Window, now_ms: i64, w: &Windows) -> Option<u64> {
        let id = window.id(now_ms, w);
        let cell = self.get_or_insert(&self.cells, key, || {
            let seed = if window.persisted() {
                self.seeds
                    .lock()
                    .expect("seeds lock")
                    .remove(&store_key(key, id))
                    .unwrap_or(0)
            } else {
                0
            };
            Cell {
                window,
                count: AtomicU64::new(pack(id, seed)),
                unsaved: AtomicU64::new(pack(id, 0)),
            }
        })?;
        if window.persisted() {
            add(&cell.unsaved, id, 1);
        }
        Some(u64::from(add(&cell.count, id, 1)))
    }

    /// Takes one token from `key`'s bucket (`capacity` tokens, refilled at `per_second`); `None`
    /// when no more buckets can be held.
    pub fn take_token(
        &self,
        key: &str,
        capacity: f64,
        per_second: f64,
        now_ms: i64,
    ) -> Option<bool> {
        let bucket = self.get_or_insert(&self.buckets, key, || {
            Mutex::new(Bucket {
                tokens: capacity,
                refilled_ms: now_ms,
            })
        })?;
        let mut b = bucket.lock().expect("bucket lock");
        let elapsed_s = (now_ms - b.refilled_ms).max(0) as f64 / 1000.0;
        b.tokens = (b.tokens + elapsed_s * per_second).min(capacity);
        b.refilled_ms = now_ms;
        Some(if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            true
        } else {
            false
        })
    }

    /// Takes in the persisted counts of `(store key, count)` (what the store holds at start).
    pub fn seed(&self, counts: Vec<(String, u64)>) {
        let mut seeds = self.seeds.lock().expect("seeds lock");
        for (key, count) in counts {
            seeds.insert(key, count.min(u64::from(u32::MAX)) as u32);
        }
    }

    /// The counts not yet in the store, as store increments, taken out of the counters.
    pub fn unsaved(&self, now_ms: i64, w: &Windows) -> Vec<(String, u64, i64)> {
        let mut out = Vec::new();
        for shard in self.cells.iter() {
            for (key, cell) in shard.read().expect("counters lock").iter() {
                if !cell.window.persisted() {
                    continue;
                }
                let id = cell.window.id(now_ms, w);
                let (window, count) = unpack(cell.unsaved.swap(pack(id, 0), Ordering::AcqRel));
                // Counts of a window that just ended are still that window's.
                if count > 0 {
                    let ends = if window == id {
                        cell.window.ends_at_ms(now_ms, w)
                    } else {
                        now_ms
                    };
                    out.push((store_key(key, window), u64::from(count), ends));
                }
            }
        }
        out
    }

    /// The counter a store key names, with its current window id, while that window is the
    /// key's.
    fn current(&self, store_key: &str, now_ms: i64, w: &Windows) -> Option<(Arc<Cell>, u32)> {
        let (key, window) = store_key.strip_prefix("plugins:")?.rsplit_once(':')?;
        let shard = &self.cells[self.shard(key)];
        let cell = shard.read().expect("counters lock").get(key)?.clone();
        let id = cell.window.id(now_ms, w);
        (window.parse() == Ok(id)).then_some((cell, id))
    }

    /// Gives back counts whose write failed: the next write carries them.
    pub fn unsaved_again(&self, items: &[(String, u64, i64)], now_ms: i64, w: &Windows) {
        for (store_key, count, _) in items {
            if let Some((cell, id)) = self.current(store_key, now_ms, w) {
                add(&cell.unsaved, id, *count as u32);
            }
        }
    }

    /// Takes in the store's totals after a write of `items` (with several nodes on one store,
    /// every node's calls): a counter's count becomes that total plus what it counted since.
    /// Never lowers a count.
    pub fn adopt(&self, items: &[(String, u64, i64)], totals: &[u64], now_ms: i64, w: &Windows) {
        for ((store_key, _, _), total) in items.iter().zip(totals) {
            let Some((cell, id)) = self.current(store_key, now_ms, w) else {
                continue;
            };
            let since = u64::from(unpack(cell.unsaved.load(Ordering::Acquire)).1);
            let view = total.saturating_add(since).min(u64::from(u32::MAX)) as u32;
            let _ = cell
                .count
                .fetch_update(Ordering::AcqRel, Ordering::Relaxed, |word| {
                    let (window, count) = unpack(word);
                    (window == id && view > count).then_some(pack(id, view))
                });
        }
    }

    /// Forgets counters whose window ended and buckets full again.
    pub fn sweep(&self, now_ms: i64, w: &Windows) {
        for shard in self.cells.iter() {
            let mut map = shard.write().expect("counters lock");
            let before = map.len();
            map.retain(|_, c| {
                let id = c.window.id(now_ms, w);
                unpack(c.count.load(Ordering::Relaxed)).0 == id
                    || unpack(c.unsaved.load(Ordering::Relaxed)).1 > 0
            });
            self.held.fetch_sub(before - map.len(), Ordering::Relaxed);
        }
        for shard in self.buckets.iter() {
            let mut map = shard.write().expect("counters lock");
            let before = map.len();
            // A bucket untouched for a minute is full again: forgetting it changes nothing.
            map.retain(|_, b| now_ms - b.lock().expect("bucket lock").refilled_ms < 60_000);
            self.held.fetch_sub(before - map.len(), Ordering::Relaxed);
        }
    }

    /// Counters and buckets held now.
    pub fn held(&self) -> usize {
        self.held.load(Ordering::Relaxed)
    }
}

/// How often counts are written to the store and ended windows swept.
pub const FLUSH_EVERY: Duration = Duration::from_secs(1);

#[cfg(test)]
mod tests {
    use super::*;

    fn windows(day: u32) -> Windows {
        Windows {
            second: 1,
            day,
            day_start_ms: 0,
            day_end_ms: 86_400_000,
            month: 1,
            month_end_ms: 2_592_000_000,
        }
    }

    #[test]
    fn counts_restart_with_each_window() {
        let c = Counters::default();
        let w = windows(10);
        assert_eq!(c.hit("a", Window::Millis(1000), 500, &w), Some(1));
        assert_eq!(c.hit("a", Window::Millis(1000), 900, &w), Some(2));
        assert_eq!(c.hit("a", Window::Millis(1000), 1100, &w), Some(1));
        assert_eq!(c.hit("d", Window::Day, 0, &w), Some(1));
        assert_eq!(c.hit("d", Window::Day, 0, &windows(11)), Some(1));
    }

    #[test]
    fn persisted_counts_go_out_once_and_come_back_at_start() {
        let c = Counters::default();
        let w = windows(10);
        for _ in 0..3 {
            c.hit("q", Window::Day, 0, &w);
        }
        c.hit("t", Window::Millis(1000), 0, &w);
        let out = c.unsaved(0, &w);
        assert_eq!(out, vec![("plugins:q:10".into(), 3, 86_400_000)]);
        assert!(c.unsaved(0, &w).is_empty(), "taken out");
        let again = Counters::default();
        again.seed(vec![("plugins:q:10".into(), 3)]);
        assert_eq!(again.hit("q", Window::Day, 0, &w), Some(4));
    }

    #[test]
    fn the_stores_total_is_taken_in_without_losing_local_calls() {
        let c = Counters::default();
        let w = windows(10);
        c.hit("q", Window::Day, 0, &w);
        let out = c.unsaved(0, &w);
        c.hit("q", Window::Day, 0, &w);
        // Another node counted 40 meanwhile: the store says 41 after this node's 1.
        c.adopt(&out, &[41], 0, &w);
        assert_eq!(
            c.hit("q", Window::Day, 0, &w),
            Some(43),
            "41 and 1 since, then this one"
        );
        c.adopt(&out, &[5], 0, &w);
        assert_eq!(c.hit("q", Window::Day, 0, &w), Some(44), "never lowered");
    }

    #[test]
    fn buckets_refill_at_their_rate() {
        let c = Counters::default();
        assert_eq!(c.take_token("b", 2.0, 1.0, 0), Some(true));
        assert_eq!(c.take_token("b", 2.0, 1.0, 0), Some(true));
        assert_eq!(c.take_token("b", 2.0, 1.0, 0), Some(false));
        assert_eq!(c.take_token("b", 2.0, 1.0, 1000), Some(true));
    }

    #[test]
    fn ended_windows_are_swept() {
        let c = Counters::default();
        let w = windows(10);
        c.hit("a", Window::Millis(1000), 0, &w);
        c.sweep(5000, &w);
        assert_eq!(c.held(), 0);
    }
}
