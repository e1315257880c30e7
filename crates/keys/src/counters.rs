//! A key's quota counters: calls this second, today, this month. Each counter is one atomic word
//! holding (window id, count), so rolling into a new window and counting are one compare-and-swap,
//! with no lock. Calls not yet persisted are kept aside, tagged with their window, for the flusher.

use std::sync::atomic::{AtomicU64, Ordering};

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
        ] {
            cell.store(0, Ordering::Relaxed);
        }
    }

    /// Adopts the store's count of the day or month window `window` (every node's calls there):
    /// the local view becomes that count plus the calls not pushed yet. Never lowers the view.
    pub(crate) fn adopt(&self, month: bool, window: u32, stored: u64) {
        let (cell, unsaved) = if month {
            (&self.month, &self.unsaved_month)
        } else {
            (&self.day, &self.unsaved_day)
        };
        let view = stored.saturating_add(u64::from(read(unsaved, window)));
        let view = view.min(u64::from(u32::MAX)) as u32;
        let _ = cell.fetch_update(Ordering::AcqRel, Ordering::Relaxed, |current| {
            let (w, c) = unpack(current);
            (w == window && view > c).then_some(pack(window, view))
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
