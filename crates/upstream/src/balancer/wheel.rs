//! Weighted round robin and weighted random: one cycle of smooth weighted round robin (nginx's
//! algorithm) computed when the backend is built, then walked with an atomic counter.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use rand::Rng;

use crate::target::Target;

/// Longest cycle kept; larger weight sums are scaled down.
const MAX_CYCLE: u64 = 4096;

pub(crate) struct Wheel {
    order: Vec<usize>,
    counter: AtomicUsize,
}

impl Wheel {
    pub(crate) fn new(targets: &[Arc<Target>]) -> Self {
        let raw: Vec<u64> = targets.iter().map(|t| u64::from(t.weight.max(1))).collect();
        let sum: u64 = raw.iter().sum();
        let weights: Vec<i64> = raw
            .iter()
            .map(|w| {
                if sum > MAX_CYCLE {
                    (w * MAX_CYCLE / sum).max(1) as i64
                } else {
                    *w as i64
                }
            })
            .collect();
        let total: i64 = weights.iter().sum();
        let mut current = vec![0i64; weights.len()];
        let mut order = Vec::with_capacity(total as usize);
        for _ in 0..total {
            for (c, w) in current.iter_mut().zip(&weights) {
                *c += w;
            }
            let (best, _) = current
                .iter()
                .enumerate()
                .max_by_key(|(i, c)| (**c, std::cmp::Reverse(*i)))
                .expect("non-empty");
            current[best] -= total;
            order.push(best);
        }
        Wheel {
            order,
            counter: AtomicUsize::new(0),
        }
    }

    fn scan(&self, start: usize, ok: &dyn Fn(usize) -> bool) -> Option<usize> {
        let len = self.order.len();
        (0..len)
            .map(|k| self.order[(start + k) % len])
            .find(|i| ok(*i))
    }

    pub(crate) fn next(&self, ok: &dyn Fn(usize) -> bool) -> Option<usize> {
        if self.order.is_empty() {
            return None;
        }
        self.scan(self.counter.fetch_add(1, Ordering::Relaxed), ok)
    }

    pub(crate) fn random(&self, ok: &dyn Fn(usize) -> bool) -> Option<usize> {
        if self.order.is_empty() {
            return None;
        }
        self.scan(rand::rng().random_range(0..self.order.len()), ok)
    }
}
