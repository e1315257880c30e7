//! Quota windows: the second, the day (00:00:00.000 to 23:59:59.999) and the month (first day 00:00
//! to last day 23:59:59.999), in the configured time zone (UTC by default). Day and month are
//! computed once per window and cached; a request reads one pointer.

use std::sync::Arc;

use arc_swap::ArcSwap;
use chrono::{Datelike, NaiveDate, TimeZone};
use chrono_tz::Tz;

/// The current windows: ids (numbers that change when a window ends) and when day and month end.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Windows {
    pub second: u32,
    pub day: u32,
    pub day_start_ms: i64,
    pub day_end_ms: i64,
    pub month: u32,
    pub month_end_ms: i64,
}

pub struct Calendar {
    tz: Tz,
    cached: ArcSwap<Windows>,
}

fn local_midnight_ms(tz: Tz, date: NaiveDate) -> i64 {
    let midnight = date.and_hms_opt(0, 0, 0).expect("valid time");
    // A day that starts in a DST gap starts at the first instant that exists.
    tz.from_local_datetime(&midnight)
        .earliest()
        .or_else(|| {
            tz.from_local_datetime(&(midnight + chrono::Duration::hours(1)))
                .earliest()
        })
        .map(|t| t.timestamp_millis())
        .unwrap_or_else(|| midnight.and_utc().timestamp_millis())
}

impl Calendar {
    pub fn new(tz: Tz) -> Self {
        let first = compute(tz, 0);
        Calendar {
            tz,
            cached: ArcSwap::from_pointee(first),
        }
    }

    /// The windows at `now_ms`.
    pub fn at(&self, now_ms: i64) -> Windows {
        let cached = **self.cached.load();
        if (cached.day_start_ms..cached.day_end_ms).contains(&now_ms) {
            return Windows {
                second: (now_ms / 1000).max(1) as u32,
                ..cached
            };
        }
        let fresh = compute(self.tz, now_ms);
        self.cached.store(Arc::new(fresh));
        fresh
    }
}

fn compute(tz: Tz, now_ms: i64) -> Windows {
    let now = tz
        .timestamp_millis_opt(now_ms)
        .single()
        .expect("valid instant");
    let date = now.date_naive();
    let next_day = date.succ_opt().expect("in range");
    let (y, m) = (date.year(), date.month());
    let first_next_month = if m == 12 {
        NaiveDate::from_ymd_opt(y + 1, 1, 1)
    } else {
        NaiveDate::from_ymd_opt(y, m + 1, 1)
    }
    .expect("valid date");
    Windows {
        second: (now_ms / 1000).max(1) as u32,
        day: date.num_days_from_ce() as u32,
        day_start_ms: local_midnight_ms(tz, date),
        day_end_ms: local_midnight_ms(tz, next_day),
        month: (y * 12 + m as i32) as u32,
        month_end_ms: local_midnight_ms(tz, first_next_month),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_and_months_end_at_local_midnight() {
        let utc = Calendar::new(chrono_tz::UTC);
        // 2026-01-31T23:59:59.999Z then 2026-02-01T00:00:00.000Z
        let before = utc.at(1_769_903_999_999);
        let after = utc.at(1_769_904_000_000);
        assert_ne!(before.day, after.day);
        assert_ne!(before.month, after.month);
        assert_eq!(before.day_end_ms, 1_769_904_000_000);
        assert_eq!(before.month_end_ms, 1_769_904_000_000);
        let paris = Calendar::new(chrono_tz::Europe::Paris);
        let w = paris.at(1_769_904_000_000); // 01:00 in Paris on Feb 1st
        assert_eq!(w.day_end_ms, 1_769_904_000_000 + 23 * 3_600_000);
    }
}
