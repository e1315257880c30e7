//! The counters of the limit plugins (throttling, quotas, token buckets), shared by every snapshot
//! so that a configuration change never hands out fresh allowances. Counting is local and
//! lock-free per counter (one atomic word holds the window and the count, as the keys' quotas do);
//! counters of a minute or longer are also added to the store's counters every second, and read
//! back at start, so that daily and monthly quotas survive a restart.
//!
//! Memory is bounded per route ([`owners`]): a route holding its share of counters evicts its own
//! least counted ones to make room, so one route's flood never refuses or resets another's.

mod owners;

use std::collections::HashMap;
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use komainu_keys::Windows;
use komainu_keys::window_cell::{add, pack, read, unpack};

pub use owners::Room;
use owners::{Owner, Owners, Table};

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
    owner: Arc<Owner>,
}

/// A token bucket: tokens and when they were last refilled.
struct Bucket {
    tokens: f64,
    capacity: f64,
    per_second: f64,
    refilled_ms: i64,
}

impl Bucket {
    /// Tokens taken and not refilled yet at `now_ms`: how much the bucket is in use.
    fn used(&self, now_ms: i64) -> f64 {
        let refill = (now_ms - self.refilled_ms).max(0) as f64 / 1000.0 * self.per_second;
        (self.capacity - self.tokens - refill).max(0.0)
    }
}

/// The time a counter is used at, and the calendar windows then.
#[derive(Clone, Copy)]
struct At<'a> {
    ms: i64,
    windows: &'a Windows,
}

struct Held<T> {
    value: T,
    owner: Arc<Owner>,
}

type Shard<T> = RwLock<HashMap<Arc<str>, Arc<T>>>;

pub struct Counters {
    cells: Box<[Shard<Cell>]>,
    buckets: Box<[Shard<Held<Mutex<Bucket>>>]>,
    owners: Owners,
    room: Room,
    held: AtomicUsize,
    /// Counts of evicted counters not yet in the store: the next write carries them.
    evicted: Mutex<Vec<(String, u64, i64)>>,
    /// Counts read from the store at start, taken by the counter they belong to when it is first used.
    seeds: Mutex<HashMap<String, u32>>,
    hasher: foldhash::fast::RandomState,
}

impl Default for Counters {
    fn default() -> Self {
        Counters::new(Room::default())
    }
}

/// The store's name of a persisted counter in one window.
fn store_key(key: &str, window: u32) -> String {
    format!("plugins:{key}:{window}")
}

impl Counters {
    pub fn new(room: Room) -> Counters {
        Counters {
            cells: (0..SHARDS).map(|_| RwLock::default()).collect(),
            buckets: (0..SHARDS).map(|_| RwLock::default()).collect(),
            owners: Owners::default(),
            room,
            held: AtomicUsize::new(0),
            evicted: Mutex::default(),
            seeds: Mutex::default(),
            hasher: foldhash::fast::RandomState::default(),
        }
    }

    fn shard(&self, key: &str) -> usize {
        self.hasher.hash_one(key) as usize % SHARDS
    }

    /// The counter `key` of `table`, created for `owner` (a route id) when missing, after making
    /// room for it.
    fn get_or_insert<T>(
        &self,
        (table, shards): (Table, &[Shard<T>]),
        owner: &str,
        key: &str,
        at: At<'_>,
        make: impl FnOnce(Arc<Owner>) -> T,
    ) -> Arc<T> {
        let shard = &shards[self.shard(key)];
        if let Some(found) = shard.read().expect("counters lock").get(key) {
            return found.clone();
        }
        let owner = self.owners.get(owner);
        if owner.held.load(Ordering::Relaxed) >= self.room.per_owner {
            self.evict_from(&owner, at);
        } else if self.held.load(Ordering::Relaxed) >= self.room.total
            && let Some(largest) = self.owners.largest()
        {
            self.evict_from(&largest, at);
        }
        let key: Arc<str> = Arc::from(key);
        let (entry, created) = {
            let mut map = shard.write().expect("counters lock");
            match map.get(&key) {
                Some(found) => (found.clone(), false),
                None => {
                    let entry = Arc::new(make(owner.clone()));
                    map.insert(key.clone(), entry.clone());
                    (entry, true)
                }
            }
        };
        if created {
            owner.held.fetch_add(1, Ordering::Relaxed);
            self.held.fetch_add(1, Ordering::Relaxed);
            owner.remember(table, key);
        }
        entry
    }

    /// Evicts one of `owner`'s counters: the least counted of a sample of its oldest.
    fn evict_from(&self, owner: &Owner, at: At<'_>) {
        let sample = owner.oldest();
        let weight = |(table, key): &(Table, Arc<str>)| match table {
            Table::Cells => {
                let map = self.cells[self.shard(key)].read().expect("counters lock");
                map.get(key).map(|c| {
                    let id = c.window.id(at.ms, at.windows);
                    u64::from(read(&c.count, id))
                })
            }
            Table::Buckets => {
                let map = self.buckets[self.shard(key)].read().expect("counters lock");
                map.get(key)
                    .map(|b| b.value.lock().expect("bucket lock").used(at.ms) as u64)
            }
        };
        // Keys of counters already swept are dropped here.
        let mut live: Vec<_> = sample
            .into_iter()
            .filter_map(|k| weight(&k).map(|w| (w, k)))
            .collect();
        let Some(at_least) = (0..live.len()).min_by_key(|&i| live[i].0) else {
            return;
        };
        let (_, (table, key)) = live.swap_remove(at_least);
        self.remove(table, &key, at);
        owner.give_back(live.into_iter().map(|(_, k)| k));
    }

    /// Forgets one counter, keeping its unsaved counts for the next write.
    fn remove(&self, table: Table, key: &str, at: At<'_>) {
        let owner = match table {
            Table::Cells => {
                let removed = self.cells[self.shard(key)]
                    .write()
                    .expect("counters lock")
                    .remove(key);
                removed.map(|cell| {
                    let (window, count) = unpack(cell.unsaved.load(Ordering::Acquire));
                    if count > 0 {
                        let ends = if window == cell.window.id(at.ms, at.windows) {
                            cell.window.ends_at_ms(at.ms, at.windows)
                        } else {
                            at.ms
                        };
                        self.evicted.lock().expect("evicted lock").push((
                            store_key(key, window),
                            u64::from(count),
                            ends,
                        ));
                    }
                    cell.owner.clone()
                })
            }
            Table::Buckets => self.buckets[self.shard(key)]
                .write()
                .expect("counters lock")
                .remove(key)
                .map(|b| b.owner.clone()),
        };
        if let Some(owner) = owner {
            owner.held.fetch_sub(1, Ordering::Relaxed);
            self.held.fetch_sub(1, Ordering::Relaxed);
        }
    }

    /// Counts one call for `key` (a counter of the route `owner`) in its `window` now; the count
    /// in this window after it.
    pub fn hit(&self, owner: &str, key: &str, window: Window, now_ms: i64, w: &Windows) -> u64 {
        let id = window.id(now_ms, w);
        let at = At {
            ms: now_ms,
            windows: w,
        };
        let cell = self.get_or_insert((Table::Cells, &self.cells[..]), owner, key, at, |owner| {
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
                owner,
            }
        });
        if window.persisted() {
            add(&cell.unsaved, id, 1);
        }
        u64::from(add(&cell.count, id, 1))
    }

    /// Takes one token from `key`'s bucket (a bucket of the route `owner`: `capacity` tokens,
    /// refilled at `per_second`); whether there was one.
    pub fn take_token(
        &self,
        (owner, key): (&str, &str),
        (capacity, per_second): (f64, f64),
        now_ms: i64,
        w: &Windows,
    ) -> bool {
        let at = At {
            ms: now_ms,
            windows: w,
        };
        let tables = (Table::Buckets, &self.buckets[..]);
        let bucket = self.get_or_insert(tables, owner, key, at, |owner| Held {
            value: Mutex::new(Bucket {
                tokens: capacity,
                capacity,
                per_second,
                refilled_ms: now_ms,
            }),
            owner,
        });
        let mut b = bucket.value.lock().expect("bucket lock");
        let elapsed_s = (now_ms - b.refilled_ms).max(0) as f64 / 1000.0;
        b.tokens = (b.tokens + elapsed_s * per_second).min(capacity);
        b.refilled_ms = now_ms;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            true
        } else {
            false
        }
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
        let mut out = std::mem::take(&mut *self.evicted.lock().expect("evicted lock"));
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
        let mut gone = Vec::new();
        for shard in self.cells.iter() {
            for (key, c) in shard.read().expect("counters lock").iter() {
                let id = c.window.id(now_ms, w);
                if read(&c.count, id) == 0 && unpack(c.unsaved.load(Ordering::Relaxed)).1 == 0 {
                    gone.push((Table::Cells, key.clone()));
                }
            }
        }
        for shard in self.buckets.iter() {
            for (key, b) in shard.read().expect("counters lock").iter() {
                // A bucket untouched for a minute is full again: forgetting it changes nothing.
                if now_ms - b.value.lock().expect("bucket lock").refilled_ms >= 60_000 {
                    gone.push((Table::Buckets, key.clone()));
                }
            }
        }
        let at = At {
            ms: now_ms,
            windows: w,
        };
        for (table, key) in gone {
            self.remove(table, &key, at);
        }
        for owner in self.owners.all() {
            owner.compact(|table, key| match table {
                Table::Cells => self.cells[self.shard(key)]
                    .read()
                    .expect("counters lock")
                    .contains_key(key),
                Table::Buckets => self.buckets[self.shard(key)]
                    .read()
                    .expect("counters lock")
                    .contains_key(key),
            });
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
        assert_eq!(c.hit("r", "a", Window::Millis(1000), 500, &w), 1);
        assert_eq!(c.hit("r", "a", Window::Millis(1000), 900, &w), 2);
        assert_eq!(c.hit("r", "a", Window::Millis(1000), 1100, &w), 1);
        assert_eq!(c.hit("r", "d", Window::Day, 0, &w), 1);
        assert_eq!(c.hit("r", "d", Window::Day, 0, &windows(11)), 1);
    }

    #[test]
    fn persisted_counts_go_out_once_and_come_back_at_start() {
        let c = Counters::default();
        let w = windows(10);
        for _ in 0..3 {
            c.hit("r", "q", Window::Day, 0, &w);
        }
        c.hit("r", "t", Window::Millis(1000), 0, &w);
        let out = c.unsaved(0, &w);
        assert_eq!(out, vec![("plugins:q:10".into(), 3, 86_400_000)]);
        assert!(c.unsaved(0, &w).is_empty(), "taken out");
        let again = Counters::default();
        again.seed(vec![("plugins:q:10".into(), 3)]);
        assert_eq!(again.hit("r", "q", Window::Day, 0, &w), 4);
    }

    #[test]
    fn the_stores_total_is_taken_in_without_losing_local_calls() {
        let c = Counters::default();
        let w = windows(10);
        c.hit("r", "q", Window::Day, 0, &w);
        let out = c.unsaved(0, &w);
        c.hit("r", "q", Window::Day, 0, &w);
        // Another node counted 40 meanwhile: the store says 41 after this node's 1.
        c.adopt(&out, &[41], 0, &w);
        assert_eq!(
            c.hit("r", "q", Window::Day, 0, &w),
            43,
            "41 and 1 since, then this one"
        );
        c.adopt(&out, &[5], 0, &w);
        assert_eq!(c.hit("r", "q", Window::Day, 0, &w), 44, "never lowered");
    }

    #[test]
    fn buckets_refill_at_their_rate() {
        let c = Counters::default();
        let w = windows(10);
        assert!(c.take_token(("r", "b"), (2.0, 1.0), 0, &w));
        assert!(c.take_token(("r", "b"), (2.0, 1.0), 0, &w));
        assert!(!c.take_token(("r", "b"), (2.0, 1.0), 0, &w));
        assert!(c.take_token(("r", "b"), (2.0, 1.0), 1000, &w));
    }

    #[test]
    fn a_route_at_its_share_evicts_its_own_least_counted() {
        let c = Counters::new(Room {
            per_owner: 10,
            total: 1_000,
        });
        let w = windows(10);
        // Two real consumers of route a, then a flood of one-call values.
        for _ in 0..5 {
            c.hit("a", "a:alice", Window::Day, 0, &w);
            c.hit("a", "a:bob", Window::Day, 0, &w);
        }
        c.hit("b", "b:carol", Window::Day, 0, &w);
        for i in 0..10_000 {
            c.hit("a", &format!("a:flood{i}"), Window::Day, 0, &w);
        }
        assert_eq!(c.held(), 11, "a holds its share, b its one counter");
        assert_eq!(c.hit("a", "a:alice", Window::Day, 0, &w), 6, "kept");
        assert_eq!(c.hit("a", "a:bob", Window::Day, 0, &w), 6, "kept");
        assert_eq!(
            c.hit("b", "b:carol", Window::Day, 0, &w),
            2,
            "never touched"
        );
        // The evicted flood counters' counts still reach the store.
        let saved: u64 = c.unsaved(0, &w).iter().map(|(_, n, _)| n).sum();
        assert_eq!(saved, 10 + 10_000 + 1 + 3);
    }

    #[test]
    fn a_full_table_makes_room_in_the_largest_route() {
        let c = Counters::new(Room {
            per_owner: 100,
            total: 50,
        });
        let w = windows(10);
        for i in 0..500 {
            c.hit("flood", &format!("f{i}"), Window::Millis(1000), 0, &w);
        }
        for i in 0..10 {
            c.hit("quiet", &format!("q{i}"), Window::Millis(1000), 0, &w);
        }
        assert_eq!(c.held(), 50);
        for i in 0..10 {
            assert_eq!(
                c.hit("quiet", &format!("q{i}"), Window::Millis(1000), 0, &w),
                2
            );
        }
    }

    #[test]
    fn sweeps_forget_ended_windows_and_their_keys() {
        let c = Counters::new(Room {
            per_owner: 1_000,
            total: 1_000,
        });
        let w = windows(10);
        for round in 0..20 {
            for i in 0..100 {
                c.hit(
                    "r",
                    &format!("k{round}-{i}"),
                    Window::Millis(1000),
                    round * 1000,
                    &w,
                );
            }
            c.sweep(round * 1000 + 1000, &w);
            assert_eq!(c.held(), 0);
        }
        let owner = c.owners.get("r");
        assert!(
            owner.oldest().len() <= 8,
            "keys of swept counters are dropped"
        );
    }

    #[test]
    fn ended_windows_are_swept() {
        let c = Counters::default();
        let w = windows(10);
        c.hit("r", "a", Window::Millis(1000), 0, &w);
        c.sweep(5000, &w);
        assert_eq!(c.held(), 0);
    }
}
