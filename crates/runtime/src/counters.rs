//! The limit plugins' counters and the store: counts of a minute or longer are read back at start
//! and added to the store's counters every second (one write for all of them), so daily and monthly
//! quotas survive a restart; a failed write is retried with the next.

use std::sync::Arc;

use komainu_keys::KeyService;
use komainu_plugins::counters::{Counters, FLUSH_EVERY, Room};
use komainu_store::{Store, StoreResult, Window};

/// The counters (holding at most `room`), seeded with what the store holds.
pub async fn load_counters(
    store: &dyn Store,
    keys: &KeyService,
    room: Room,
) -> StoreResult<Arc<Counters>> {
    let counters = Arc::new(Counters::new(room));
    let now = keys.clock.now_ms();
    counters.seed(store.counters("plugins:", now.max(0) as u64).await?);
    Ok(counters)
}

/// Writes what was counted since the last call; on failure the counts wait for the next.
pub async fn flush_counters(
    counters: &Counters,
    store: &dyn Store,
    keys: &KeyService,
) -> StoreResult<()> {
    let now = keys.clock.now_ms();
    let windows = keys.calendar.at(now);
    let items = counters.unsaved(now, &windows);
    if items.is_empty() {
        return Ok(());
    }
    let writes = items
        .iter()
        .map(|(key, by, ends)| {
            (
                key.clone(),
                *by,
                Window {
                    ends_at_ms: (*ends).max(0) as u64,
                },
            )
        })
        .collect();
    match store.incr_many(writes).await {
        // The totals include the other nodes' calls on a shared store.
        Ok(totals) => {
            counters.adopt(&items, &totals, now, &windows);
            Ok(())
        }
        Err(e) => {
            counters.unsaved_again(&items, now, &windows);
            Err(e)
        }
    }
}

/// Flushes every second and sweeps ended windows, until the task is dropped.
pub fn spawn_counters(counters: Arc<Counters>, store: Arc<dyn Store>, keys: Arc<KeyService>) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(FLUSH_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if let Err(e) = flush_counters(&counters, &*store, &keys).await {
                tracing::warn!(error = %e, "cannot write the limit plugins' counts: retrying");
            }
            let now = keys.clock.now_ms();
            counters.sweep(now, &keys.calendar.at(now));
        }
    });
}
