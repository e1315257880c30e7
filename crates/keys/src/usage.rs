//! Consumption per subscription: calls made with a subscription's key, in total and per day
//! (in the quota time zone), kept as store counters beside the quota counts and written by the
//! same once-a-second flush.

use chrono::NaiveDate;
use komainu_store::{Store, StoreResult, Window};
use serde::Serialize;

/// Per-day counts are kept this long.
const DAYS_KEPT_MS: u64 = 400 * 86_400_000;

fn prefix(subscription: &str) -> String {
    format!("usage:{subscription}:")
}

/// `YYYY-MM-DD` of a day window id.
pub(crate) fn date_of(day: u32) -> String {
    NaiveDate::from_num_days_from_ce_opt(day as i32)
        .map(|d| d.format("%Y-%m-%d").to_string())
        .unwrap_or_default()
}

/// The counter increments recording `calls` made on day window `day` (ending at `day_end_ms`).
pub(crate) fn increments(
    subscription: &str,
    day: u32,
    day_end_ms: i64,
    calls: u64,
) -> [(String, u64, Window); 2] {
    let p = prefix(subscription);
    [
        (
            format!("{p}total"),
            calls,
            Window {
                ends_at_ms: u64::MAX,
            },
        ),
        (
            format!("{p}day:{}", date_of(day)),
            calls,
            Window {
                ends_at_ms: (day_end_ms.max(0) as u64).saturating_add(DAYS_KEPT_MS),
            },
        ),
    ]
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct DayUsage {
    pub date: String,
    pub calls: u64,
}

/// A subscription's consumption.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct SubscriptionUsage {
    pub total: u64,
    /// Oldest day first.
    pub days: Vec<DayUsage>,
}

impl SubscriptionUsage {
    /// Adds `other` into this one (aggregates per plan or API).
    pub fn add(&mut self, other: &SubscriptionUsage) {
        self.total += other.total;
        for d in &other.days {
            match self.days.iter_mut().find(|x| x.date == d.date) {
                Some(x) => x.calls += d.calls,
                None => self.days.push(d.clone()),
            }
        }
        self.days.sort_by(|a, b| a.date.cmp(&b.date));
    }
}

/// Reads the persisted consumption of `subscription`.
pub async fn read(
    store: &dyn Store,
    subscription: &str,
    now_ms: i64,
) -> StoreResult<SubscriptionUsage> {
    let p = prefix(subscription);
    let mut usage = SubscriptionUsage::default();
    for (key, calls) in store.counters(&p, now_ms.max(0) as u64).await? {
        match key[p.len()..].strip_prefix("day:") {
            Some(date) => usage.days.push(DayUsage {
                date: date.to_string(),
                calls,
            }),
            None if &key[p.len()..] == "total" => usage.total = calls,
            None => {}
        }
    }
    usage.days.sort_by(|a, b| a.date.cmp(&b.date));
    Ok(usage)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn day_ids_read_as_dates() {
        let day = NaiveDate::from_ymd_opt(2026, 11, 23).unwrap();
        use chrono::Datelike;
        assert_eq!(date_of(day.num_days_from_ce() as u32), "2026-11-23");
        let inc = increments("s1", day.num_days_from_ce() as u32, 0, 3);
        assert_eq!(inc[0].0, "usage:s1:total");
        assert_eq!(inc[1].0, "usage:s1:day:2026-11-23");
    }
}
