//! A key's quota counters: calls this second, today, this month. Each counter is one atomic word
//! holding (window id, count), so rolling into a new window and counting are one compare-and-swap,
//! with no lock. Calls not yet persisted are kept aside, tagged with their window, for the flusher.
//!
//! On a shared store the daily and monthly quotas are spent from an allowance the store granted
//! this node (tagged with its day window): a call takes one from it, lock-free; an empty
//! allowance sends the call to the store for a new grant (see `KeyService::grant`).

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use crate::Windows;
use crate::window_cell::{add, pack, read, unpack};

/// Calls counted in each window.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Usage {
    pub second: u64,
    pub day: u64,
    pub month: u64,
}

#[derive(Default)]
pub struct KeyCounters {
    second: AtomicU64,
    day: AtomicU64,
    month: AtomicU64,
    unsaved_day: AtomicU64,
    unsaved_month: AtomicU64,
    /// Calls granted to this node and not spent yet: (day window, count).
    allowance: AtomicU64,
    /// The size of the last grant: a spend that leaves a quarter of it asks for the next one
    /// ahead, so calls far from the limit rarely wait for the store.
    last_grant: AtomicU32,
}

/// What [`KeyCounters::spend`] found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Spent {
    /// One granted call taken; ask for the next grant ahead when `refill` is set.
    Taken { refill: bool },
    /// Nothing granted left in this window.
    Empty,
}

impl KeyCounters {
    /// Counts `by` calls now; the usage after counting them, and whether these are the first
    /// calls not persisted yet (the key then needs a place in the flusher's queue).
    pub fn hit(&self, w: &Windows, by: u32) -> (Usage, bool) {
        let first_unsaved = add(&self.unsaved_day, w.day, by) == by;
        add(&self.unsaved_month, w.month, by);
        let usage = Usage {
            second: u64::from(add(&self.second, w.second, by)),
            day: u64::from(add(&self.day, w.day, by)),
            month: u64::from(add(&self.month, w.month, by)),
        };
        (usage, first_unsaved)
    }

    /// Takes one granted call of day window `day`.
    pub fn spend(&self, day: u32) -> Spent {
        let taken = self
            .allowance
            .fetch_update(Ordering::AcqRel, Ordering::Relaxed, |word| {
                let (w, c) = unpack(word);
                (w == day && c > 0).then(|| pack(day, c - 1))
            });
        match taken {
            Ok(word) => {
                let left = unpack(word).1 - 1;
                let last = self.last_grant.load(Ordering::Relaxed);
                Spent::Taken {
                    refill: last >= 8 && left == last / 4,
                }
            }
            Err(_) => Spent::Empty,
        }
    }

    /// Granted calls of day window `day` not spent yet.
    pub fn allowance(&self, day: u32) -> u32 {
        read(&self.allowance, day)
    }

    /// Adds a grant of `n` calls in day window `day` (a grant of another window replaces it).
    pub(crate) fn add_allowance(&self, day: u32, n: u32) {
        add(&self.allowance, day, n);
        self.last_grant.store(n, Ordering::Relaxed);
    }

    /// Takes back the whole allowance if it is still `seen` calls of window `day`: what an idle
    /// node gives back to the store. `false` when a call spent from it meanwhile.
    pub(crate) fn take_allowance(&self, day: u32, seen: u32) -> bool {
        seen > 0
            && self
                .allowance
                .compare_exchange(
                    pack(day, seen),
                    pack(day, 0),
                    Ordering::AcqRel,
                    Ordering::Relaxed,
                )
                .is_ok()
    }

    /// Calls counted in window `window` and not pushed yet (day, or month when `month`).
    pub(crate) fn unsaved(&self, month: bool, window: u32) -> u64 {
        let cell = if month {
            &self.unsaved_month
        } else {
            &self.unsaved_day
        };
        u64::from(read(cell, window))
    }

    /// The usage now, without counting.
    pub fn usage(&self, w: &Windows) -> Usage {
        Usage {
            second: u64::from(read(&self.second, w.second)),
            day: u64::from(read(&self.day, w.day)),
            month: u64::from(read(&self.month, w.month)),
        }
    }

    /// Starts from persisted counts (at start-up).
    pub fn seed(&self, w: &Windows, day: u64, month: u64) {
        self.day.store(
            pack(w.day, day.min(u64::from(u32::MAX)) as u32),
            Ordering::Relaxed,
        );
        self.month.store(
            pack(w.month, month.min(u64::from(u32::MAX)) as u32),
            Ordering::Relaxed,
        );
    }

    /// Back to zero in every window.
    pub fn reset(&self) {
        for cell in [
            &self.second,
            &self.day,
            &self.month,
            &self.unsaved_day,
            &self.unsaved_month,
            &self.allowance,
        ] {
            cell.store(0, Ordering::Relaxed);
        }
    }

    /// Adopts `view` as the count of the day or month window `window`: every node's calls
    /// there, from the store, and this node's since. The view may go down (a reset, or a count
    /// this node had ahead of the store).
    pub(crate) fn adopt(&self, month: bool, window: u32, view: u64) {
        let cell = if month { &self.month } else { &self.day };
        let view = view.min(u64::from(u32::MAX)) as u32;
        let _ = cell.fetch_update(Ordering::AcqRel, Ordering::Relaxed, |current| {
            let (w, c) = unpack(current);
            (w == window && view != c).then_some(pack(window, view))
        });
    }

    /// Takes the calls not persisted yet: `(day window, count)` and `(month window, count)`.
    pub(crate) fn take_unsaved(&self) -> ((u32, u32), (u32, u32)) {
        (
            unpack(self.unsaved_day.swap(0, Ordering::AcqRel)),
            unpack(self.unsaved_month.swap(0, Ordering::AcqRel)),
        )
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_grant_is_spent_once_per_call_and_only_in_its_window() {
        let c = KeyCounters::default();
        assert_eq!(c.spend(7), Spent::Empty);
        c.add_allowance(7, 16);
        let refills = (0..16)
            .filter(|_| matches!(c.spend(7), Spent::Taken { refill: true }))
            .count();
        assert_eq!(refills, 1, "the next grant is asked for once, ahead");
        assert_eq!(c.spend(7), Spent::Empty);
        c.add_allowance(7, 3);
        assert_eq!(c.spend(8), Spent::Empty, "a new day starts without a grant");
        assert!(!c.take_allowance(7, 2), "not what is left");
        assert!(c.take_allowance(7, 3));
        assert_eq!(c.allowance(7), 0);
    }

    use super::*;

    fn w(second: u32, day: u32, month: u32) -> Windows {
        Windows {
            second,
            day,
            day_start_ms: 0,
            day_end_ms: 0,
            month,
            month_end_ms: 0,
        }
    }

    #[test]
    fn counts_restart_with_each_window() {
        let c = KeyCounters::default();
        let u = |second, day, month| Usage { second, day, month };
        assert_eq!(
            c.hit(&w(1, 10, 5), 1),
            (u(1, 1, 1), true),
            "first unsaved call"
        );
        assert_eq!(c.hit(&w(1, 10, 5), 1), (u(2, 2, 2), false));
        assert_eq!(c.hit(&w(2, 10, 5), 1), (u(1, 3, 3), false));
        assert_eq!(c.hit(&w(3, 11, 5), 1), (u(1, 1, 4), true), "a new day");
        assert_eq!(c.usage(&w(3, 11, 6)), u(1, 1, 0));
        assert_eq!(c.take_unsaved(), ((11, 1), (5, 4)));
        assert_eq!(c.take_unsaved(), ((0, 0), (0, 0)));
        assert!(c.hit(&w(3, 11, 5), 1).1, "unsaved again after a flush");
    }

    #[test]
    fn concurrent_hits_are_exact() {
        let c = std::sync::Arc::new(KeyCounters::default());
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let c = c.clone();
                std::thread::spawn(move || {
                    for _ in 0..10_000 {
                        c.hit(&w(1, 1, 1), 1);
                    }
                })
            })
            .collect();
        threads.into_iter().for_each(|t| t.join().unwrap());
        assert_eq!(c.usage(&w(1, 1, 1)).day, 40_000);
    }
}
