//! Load-aware selection: LeastConnections, PowerOfTwoRandomChoices, (Weighted)BestResponseTime.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use rand::Rng;
use rand::seq::IndexedRandom;

use crate::target::Target;

fn candidates(targets: &[Arc<Target>], ok: &dyn Fn(usize) -> bool) -> Vec<usize> {
    (0..targets.len()).filter(|i| ok(*i)).collect()
}

/// Fewest calls in flight; ties take turns.
pub(crate) fn least_connections(
    targets: &[Arc<Target>],
    ok: &dyn Fn(usize) -> bool,
    turn: &AtomicUsize,
) -> Option<usize> {
    let c = candidates(targets, ok);
    let min = c.iter().map(|i| targets[*i].inflight()).min()?;
    let least: Vec<usize> = c
        .into_iter()
        .filter(|i| targets[*i].inflight() == min)
        .collect();
    Some(least[turn.fetch_add(1, Ordering::Relaxed) % least.len()])
}

/// Two distinct random candidates; the one with fewer calls in flight.
pub(crate) fn power_of_two(targets: &[Arc<Target>], ok: &dyn Fn(usize) -> bool) -> Option<usize> {
    let c = candidates(targets, ok);
    let mut rng = rand::rng();
    match c.len() {
        0 => None,
        1 => Some(c[0]),
        len => {
            let a = rng.random_range(0..len);
            let b = (a + rng.random_range(1..len)) % len;
            let (a, b) = (c[a], c[b]);
            Some(if targets[b].inflight() < targets[a].inflight() {
                b
            } else {
                a
            })
        }
    }
}

/// The fastest candidate with probability `ratio`, else a random one. Candidates never measured
/// are tried first, so every target gets a response time.
pub(crate) fn best_response_time(
    targets: &[Arc<Target>],
    ok: &dyn Fn(usize) -> bool,
    ratio: f64,
) -> Option<usize> {
    let c = candidates(targets, ok);
    let mut rng = rand::rng();
    let unmeasured: Vec<usize> = c
        .iter()
        .copied()
        .filter(|i| targets[*i].response_time_us.load(Ordering::Relaxed) == 0)
        .collect();
    if !unmeasured.is_empty() {
        return unmeasured.choose(&mut rng).copied();
    }
    if ratio < 1.0 && !rng.random_bool(ratio) {
        return c.choose(&mut rng).copied();
    }
    c.into_iter()
        .min_by_key(|i| targets[*i].response_time_us.load(Ordering::Relaxed))
}
