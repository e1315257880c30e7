//! A fixed-bucket latency histogram of atomics: one relaxed increment per observation, rendered as
//! a Prometheus histogram and read back by the analytics windows.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Upper bounds in seconds: from half a millisecond (a cached answer) to ten seconds (a timeout).
pub const BOUNDS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];
/// Buckets stored: one per bound, and one past the last (`+Inf`).
pub const BUCKETS: usize = BOUNDS.len() + 1;

/// The bound of each bucket in microseconds, for integer comparison on the hot path.
const BOUNDS_US: [u64; 14] = [
    500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000, 1_000_000,
    2_500_000, 5_000_000, 10_000_000,
];

#[derive(Default)]
pub struct Histogram {
    /// Per-bucket counts (not cumulative: one increment per observation).
    buckets: [AtomicU64; BUCKETS],
    sum_us: AtomicU64,
}

/// A point-in-time copy of a histogram.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Counts {
    pub buckets: [u64; BUCKETS],
    pub sum_us: u64,
}

impl Counts {
    pub fn count(&self) -> u64 {
        self.buckets.iter().sum()
    }

    /// `self - earlier`, bucket by bucket.
    pub fn since(&self, earlier: &Counts) -> Counts {
        let mut d = Counts {
            sum_us: self.sum_us.saturating_sub(earlier.sum_us),
            ..Counts::default()
        };
        for (i, b) in d.buckets.iter_mut().enumerate() {
            *b = self.buckets[i].saturating_sub(earlier.buckets[i]);
        }
        d
    }

    pub fn add(&mut self, other: &Counts) {
        self.sum_us += other.sum_us;
        for (a, b) in self.buckets.iter_mut().zip(other.buckets) {
            *a += b;
        }
    }

    /// The `q` quantile in milliseconds, interpolated linearly inside its bucket (as Prometheus'
    /// `histogram_quantile` does); the last finite bound when it falls in `+Inf`.
    pub fn quantile_ms(&self, q: f64) -> Option<f64> {
        let total = self.count();
        if total == 0 {
            return None;
        }
        let rank = q * total as f64;
        let mut seen = 0u64;
        for (i, &n) in self.buckets.iter().enumerate() {
            if n > 0 && (seen + n) as f64 >= rank {
                if i == BOUNDS.len() {
                    return Some(BOUNDS[i - 1] * 1000.0);
                }
                let low = if i == 0 { 0.0 } else { BOUNDS[i - 1] };
                let within = (rank - seen as f64) / n as f64;
                return Some((low + (BOUNDS[i] - low) * within) * 1000.0);
            }
            seen += n;
        }
        Some(BOUNDS[BOUNDS.len() - 1] * 1000.0)
    }
}

impl Histogram {
    pub fn observe(&self, d: Duration) {
        let us = d.as_micros().min(u64::MAX as u128) as u64;
        let i = BOUNDS_US.partition_point(|&b| b < us);
        self.buckets[i].fetch_add(1, Ordering::Relaxed);
        self.sum_us.fetch_add(us, Ordering::Relaxed);
    }

    pub fn counts(&self) -> Counts {
        let mut c = Counts {
            sum_us: self.sum_us.load(Ordering::Relaxed),
            ..Counts::default()
        };
        for (i, b) in self.buckets.iter().enumerate() {
            c.buckets[i] = b.load(Ordering::Relaxed);
        }
        c
    }

    /// Writes the `_bucket`, `_sum` and `_count` series of `name` with `labels` (`k="v",...`).
    pub fn render(&self, out: &mut String, name: &str, labels: &str) {
        let c = self.counts();
        let mut cumulative = 0;
        for (i, n) in c.buckets.iter().enumerate() {
            cumulative += n;
            let le = BOUNDS.get(i).map_or("+Inf".to_string(), |b| b.to_string());
            let _ = writeln!(out, "{name}_bucket{{{labels},le=\"{le}\"}} {cumulative}");
        }
        let _ = writeln!(
            out,
            "{name}_sum{{{labels}}} {}",
            c.sum_us as f64 / 1_000_000.0
        );
        let _ = writeln!(out, "{name}_count{{{labels}}} {cumulative}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn observations_land_in_their_bucket_and_quantiles_stay_inside_it() {
        let h = Histogram::default();
        for _ in 0..90 {
            h.observe(Duration::from_micros(800)); // (0.5 ms, 1 ms]
        }
        for _ in 0..10 {
            h.observe(Duration::from_millis(40)); // (25 ms, 50 ms]
        }
        h.observe(Duration::from_secs(60)); // +Inf
        let c = h.counts();
        assert_eq!(c.buckets[1], 90);
        assert_eq!(c.buckets[6], 10);
        assert_eq!(c.buckets[BUCKETS - 1], 1);
        let p50 = c.quantile_ms(0.5).unwrap();
        assert!((0.5..=1.0).contains(&p50), "{p50}");
        let p95 = c.quantile_ms(0.95).unwrap();
        assert!((25.0..=50.0).contains(&p95), "{p95}");
        assert_eq!(c.quantile_ms(1.0), Some(10_000.0));
        let mut out = String::new();
        h.render(&mut out, "x", "a=\"b\"");
        assert!(out.contains("x_bucket{a=\"b\",le=\"0.001\"} 90\n"), "{out}");
        assert!(out.contains("x_bucket{a=\"b\",le=\"+Inf\"} 101\n"), "{out}");
        assert!(out.contains("x_count{a=\"b\"} 101\n"), "{out}");
    }
}
