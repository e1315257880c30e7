//! The key service: the key index requests read, kept current from the store's change feed, and the
//! background work around it (persisting quota counts every second, rotating secrets).
//!
//! Requests read the index through one atomic pointer load and count quotas on per-key atomics: no
//! lock and no store access per request. Counts are written to the store in one batch every second
//! and read back at start-up, so a restart loses at most the last second of counting.

use std::collections::HashMap;
use std::sync::{Arc, Weak};
use std::time::Duration;

use std::sync::atomic::{AtomicBool, Ordering};

use arc_swap::{ArcSwap, Guard};
use chrono_tz::Tz;
use crossbeam_queue::ArrayQueue;
use komainu_model::{ApiKey, Kind, ServiceGroup, parse};
use komainu_store::{Applied, Change, Store, StoreResult, Window, load_all};
use serde::Serialize;
use tokio::sync::broadcast::error::{RecvError, TryRecvError};

use crate::{Calendar, Clock, CompiledKey, GroupIds, KeyMap, rotation};

#[derive(Default)]
pub struct KeyIndex {
    pub keys: KeyMap,
    /// Ids of the service groups that exist.
    pub groups: GroupIds,
    /// The keys with rotation on: the only ones the rotation task looks at.
    pub rotating: Vec<Arc<CompiledKey>>,
}

impl KeyIndex {
    fn new(keys: KeyMap, groups: GroupIds) -> Self {
        let rotating = keys
            .iter()
            .filter(|k| k.rotation().is_some())
            .cloned()
            .collect();
        KeyIndex {
            keys,
            groups,
            rotating,
        }
    }
}

/// Keys with counts not persisted yet, queued the first time they count after a flush, so a flush
/// visits only them (not every loaded key). Past its capacity the flush scans the whole index.
struct Unsaved {
    queue: ArrayQueue<Arc<CompiledKey>>,
    overflowed: AtomicBool,
    /// Counts a push failed to store (the store was unreachable), by counter and window end:
    /// retried with the next push, so a count is never lost.
    unsent: std::sync::Mutex<std::collections::BTreeMap<(String, u64), u64>>,
    /// Keys called on this node in the last minute, with when: each push reads their counts back
    /// (adding zero), so their view follows the other nodes' calls even while this one is idle.
    recent: std::sync::Mutex<std::collections::HashMap<String, i64>>,
    /// Keys holding a grant (shared store), with their allowance at the last tick: one found
    /// unchanged a tick later is idle here and gives its allowance back, for other nodes.
    granted: std::sync::Mutex<HashMap<Box<str>, Held>>,
}

impl Unsaved {
    /// Takes up to `n` from each counter's unsent count, returning what each gave.
    fn take_unsent(&self, counters: &[(String, Window); 2], n: u64) -> [u64; 2] {
        let mut unsent = self.unsent.lock().expect("unsent");
        counters.each_ref().map(|(counter, window)| {
            let entry = (counter.clone(), window.ends_at_ms);
            let Some(held) = unsent.get_mut(&entry) else {
                return 0;
            };
            let took = (*held).min(n);
            *held -= took;
            if *held == 0 {
                unsent.remove(&entry);
            }
            took
        })
    }

    /// Puts back what [`Unsaved::take_unsent`] took (the refund failed).
    fn put_unsent(&self, counters: &[(String, Window); 2], taken: &[u64; 2]) {
        let mut unsent = self.unsent.lock().expect("unsent");
        for ((counter, window), took) in counters.iter().zip(taken) {
            if *took > 0 {
                *unsent
                    .entry((counter.clone(), window.ends_at_ms))
                    .or_default() += took;
            }
        }
    }
}

/// A key holding a grant, and its allowance as last seen.
type Held = (Arc<CompiledKey>, u32);

/// The most calls asked of the store in one grant (it grants less near the limit).
const GRANT_WANT: u64 = 1024;

/// How long a key called on this node keeps reading the store's count back every second.
const RECENT_MS: i64 = 60_000;

/// `GET /api/apikeys/:id/quotas`, in Otoroshi's words.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct QuotaReport {
    pub authorized_calls_per_window: u64,
    pub throttling_calls_per_window: u64,
    pub remaining_calls_per_window: u64,
    pub authorized_calls_per_day: u64,
    pub current_calls_per_day: u64,
    pub remaining_calls_per_day: u64,
    pub authorized_calls_per_month: u64,
    pub current_calls_per_month: u64,
    pub remaining_calls_per_month: u64,
}

pub struct KeyService {
    index: ArcSwap<KeyIndex>,
    unsaved: Unsaved,
    pub clock: Clock,
    pub calendar: Calendar,
    store: Arc<dyn Store>,
    /// The store revision the key index holds.
    pub applied: Applied,
    /// This process's claim on the cluster's once-only jobs (secret rotation).
    jobs: Jobs,
    /// Keys whose allowance runs low: granted ahead by a background task, off the request.
    ahead: tokio::sync::mpsc::UnboundedSender<Arc<CompiledKey>>,
    /// The store is shared: quotas are spent from grants.
    shared: bool,
    /// One grant request at a time per key (keys share these by hash: a lock per key would
    /// weigh on 100,000 keys): calls that find the allowance empty wait for it.
    granting: Box<[tokio::sync::Mutex<()>]>,
    /// Told when a subscription's key crosses 80% or 100% of a day or month quota.
    quota_watch: std::sync::OnceLock<Box<dyn Fn(Crossing) + Send + Sync>>,
}

/// A subscription's key crossing a threshold of a quota: `percent` (80, 100) of `quota` in the
/// `window` (`day`, `month`) that ends at `ends_at_ms`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Crossing {
    pub subscription: String,
    pub percent: u64,
    pub window: &'static str,
    pub used: u64,
    pub quota: u64,
    pub ends_at_ms: i64,
}

const GRANT_LOCKS: usize = 64;

/// The lease under which one node of a cluster rotates secrets.
const JOBS_LEASE: &str = "jobs";
/// How long a lease outlives its holder's last renewal (renewed every second): a dead holder's
/// jobs move to another node within this.
const JOBS_LEASE_MS: u64 = 5_000;

struct Jobs {
    holder: String,
    held: AtomicBool,
}

fn day_key(id: &str) -> String {
    format!("quota:day:{id}")
}

fn month_key(id: &str) -> String {
    format!("quota:month:{id}")
}

/// Calls admitted with grants (a shared store), every node's, in the day or the month: what the
/// views read. The grant counters above hold what was granted, spent or not.
fn used_day_key(id: &str) -> String {
    format!("quota:used:day:{id}")
}

fn used_month_key(id: &str) -> String {
    format!("quota:used:month:{id}")
}

/// Which view a stored counter feeds: (month, key id), for counters of the current windows.
fn view_of<'a>(
    counter: &'a str,
    ends: u64,
    w: &crate::Windows,
    grants: bool,
) -> Option<(bool, &'a str)> {
    let (day, month) = if grants {
        (
            counter.strip_prefix("quota:used:day:"),
            counter.strip_prefix("quota:used:month:"),
        )
    } else {
        (
            counter.strip_prefix("quota:day:"),
            counter.strip_prefix("quota:month:"),
        )
    };
    match (day, month) {
        (Some(id), _) if ends == w.day_end_ms as u64 => Some((false, id)),
        (_, Some(id)) if ends == w.month_end_ms as u64 => Some((true, id)),
        _ => None,
    }
}

impl KeyService {
    /// Who is told when a subscription's key crosses 80% or 100% of a quota (set once, at start:
    /// it runs on the request's path, so it only queues).
    pub fn watch_quotas(&self, watch: impl Fn(Crossing) + Send + Sync + 'static) {
        let _ = self.quota_watch.set(Box::new(watch));
    }

    /// Tells the watcher of the thresholds this call crossed, if any.
    pub(crate) fn crossed(
        &self,
        key: &CompiledKey,
        usage: &crate::Usage,
        windows: &crate::Windows,
    ) {
        let Some(watch) = self.quota_watch.get() else {
            return;
        };
        let Some(sub) = key.meta(komainu_model::SUBSCRIPTION_META) else {
            return;
        };
        let windows = [
            ("day", usage.day, key.daily_quota, windows.day_end_ms),
            (
                "month",
                usage.month,
                key.monthly_quota,
                windows.month_end_ms,
            ),
        ];
        for (window, used, quota, ends_at_ms) in windows {
            if quota == 0 || quota >= komainu_model::UNLIMITED {
                continue;
            }
            for percent in [80, 100] {
                let threshold = (quota * percent).div_ceil(100);
                if used == threshold {
                    watch(Crossing {
                        subscription: sub.to_string(),
                        percent,
                        window,
                        used,
                        quota,
                        ends_at_ms,
                    });
                }
            }
        }
    }

    /// Whether this node holds the lease of the cluster's once-only jobs.
    pub fn runs_jobs(&self) -> bool {
        self.jobs.held.load(Ordering::Acquire)
    }

    /// Loads keys, groups and persisted counts, then follows the store and starts the background work.
    pub async fn start(store: Arc<dyn Store>, tz: Tz) -> StoreResult<Arc<KeyService>> {
        let feed = store.changes();
        let (ahead, low) = tokio::sync::mpsc::unbounded_channel();
        let service = Arc::new(KeyService {
            ahead,
            shared: store.shared(),
            granting: (0..GRANT_LOCKS).map(|_| Default::default()).collect(),
            quota_watch: std::sync::OnceLock::new(),
            index: ArcSwap::from_pointee(KeyIndex::default()),
            unsaved: Unsaved {
                queue: ArrayQueue::new(65_536),
                overflowed: AtomicBool::new(false),
                unsent: Default::default(),
                recent: Default::default(),
                granted: Default::default(),
            },
            clock: Clock::default(),
            calendar: Calendar::new(tz),
            store,
            applied: Applied::default(),
            jobs: Jobs {
                holder: komainu_model::uuid(),
                held: AtomicBool::new(false),
            },
        });
        let loaded_at = service.store.revision();
        service.reload().await?;
        service.applied.set(loaded_at);
        tokio::spawn(follow(Arc::downgrade(&service), feed));
        tokio::spawn(every_second(Arc::downgrade(&service)));
        tokio::spawn(grant_ahead(Arc::downgrade(&service), low));
        Ok(service)
    }

    /// The current index (hold it for one request, not longer).
    pub fn index(&self) -> Guard<Arc<KeyIndex>> {
        self.index.load()
    }

    pub(crate) fn now_ms(&self) -> i64 {
        self.clock.now_ms()
    }

    fn compile(&self, doc: ApiKey, previous: &KeyIndex) -> Arc<CompiledKey> {
        let counters = previous
            .keys
            .get(&doc.client_id)
            .map(|k| k.counters.clone())
            .unwrap_or_default();
        Arc::new(CompiledKey::new(doc, counters))
    }

    /// Reads every key and group, and the persisted counts of keys new to the index.
    async fn reload(&self) -> StoreResult<()> {
        let now = self.now_ms();
        let w = self.calendar.at(now);
        let persisted: HashMap<String, u64> = self
            .store
            .counters("quota:", now.max(0) as u64)
            .await?
            .into_iter()
            .collect();
        let previous = self.index.load_full();
        let mut keys = KeyMap::default();
        for key in load_all::<ApiKey>(&*self.store, Kind::ApiKey).await? {
            let fresh = !previous.keys.contains(&key.client_id);
            let compiled = self.compile(key, &previous);
            if fresh {
                let id = &compiled.client_id;
                let (day, month) = if self.shared {
                    (used_day_key(id), used_month_key(id))
                } else {
                    (day_key(id), month_key(id))
                };
                let day = persisted.get(&day).copied().unwrap_or(0);
                let month = persisted.get(&month).copied().unwrap_or(0);
                compiled.counters.seed(&w, day, month);
            }
            keys.insert(compiled);
        }
        let groups = self.group_ids().await?;
        self.index.store(Arc::new(KeyIndex::new(keys, groups)));
        Ok(())
    }

    async fn group_ids(&self) -> StoreResult<GroupIds> {
        let groups = load_all::<ServiceGroup>(&*self.store, Kind::Group).await?;
        Ok(groups.into_iter().map(|g| g.id).collect())
    }

    /// Applies changed keys and groups, swapping the index once.
    async fn apply(&self, changes: &[Change]) -> StoreResult<()> {
        let previous = self.index.load_full();
        let mut keys = previous.keys.clone();
        for c in changes.iter().filter(|c| c.kind == Kind::ApiKey) {
            let Some(id) = &c.id else {
                return self.reload().await;
            };
            match self.store.get(Kind::ApiKey, id).await? {
                Some(doc) => match parse::<ApiKey>(&doc) {
                    Ok(key) => {
                        keys.insert(self.compile(key, &previous));
                    }
                    Err(e) => {
                        tracing::error!(key = %id, error = %e.message, "stored API key unreadable")
                    }
                },
                None => {
                    keys.remove(id);
                }
            }
        }
        let groups = if changes.iter().any(|c| c.kind == Kind::Group) {
            self.group_ids().await?
        } else {
            previous.groups.clone()
        };
        self.index.store(Arc::new(KeyIndex::new(keys, groups)));
        Ok(())
    }

    pub(crate) fn mark_unsaved(&self, key: &Arc<CompiledKey>) {
        if self.unsaved.queue.push(key.clone()).is_err() {
            self.unsaved.overflowed.store(true, Ordering::Relaxed);
        }
    }

    /// Whether quotas are spent from grants (a shared store) rather than counted here alone.
    pub fn grants(&self) -> bool {
        self.shared
    }

    /// Asks the store for calls of `key`'s daily and monthly quotas (see
    /// [`Store::grant`](komainu_store::Store::grant)). Calls that find the allowance empty wait
    /// here, one request per key at a time; `ahead` asks while some allowance is left. When the
    /// store does not answer, the node grants itself what its own view of the quota allows and
    /// pushes that once the store is back, so traffic goes on through an outage.
    pub async fn grant(&self, key: &Arc<CompiledKey>, ahead: bool) {
        let lock = std::hash::BuildHasher::hash_one(
            &foldhash::fast::FixedState::default(),
            &*key.client_id,
        ) as usize;
        let _one = self.granting[lock % GRANT_LOCKS].lock().await;
        let w = self.calendar.at(self.now_ms());
        if !ahead && key.counters.allowance(w.day) > 0 {
            return;
        }
        let limits = [
            (
                day_key(&key.client_id),
                key.daily_quota,
                Window {
                    ends_at_ms: w.day_end_ms as u64,
                },
            ),
            (
                month_key(&key.client_id),
                key.monthly_quota,
                Window {
                    ends_at_ms: w.month_end_ms as u64,
                },
            ),
        ];
        let granted = match self.store.grant(&limits, GRANT_WANT).await {
            Ok(n) => n,
            Err(e) => {
                tracing::warn!(key = %key.client_id, error = %e, "quota grant unavailable: counting on this node's view");
                let usage = key.counters.usage(&w);
                let left = key
                    .daily_quota
                    .saturating_sub(usage.day)
                    .min(key.monthly_quota.saturating_sub(usage.month))
                    .saturating_sub(u64::from(key.counters.allowance(w.day)));
                let n = komainu_store::grant_size(GRANT_WANT, left);
                let mut unsent = self.unsaved.unsent.lock().expect("unsent");
                for (counter, _, window) in &limits {
                    *unsent
                        .entry((counter.clone(), window.ends_at_ms))
                        .or_default() += n;
                }
                n
            }
        };
        if granted > 0 {
            key.counters
                .add_allowance(w.day, granted.min(u64::from(u32::MAX)) as u32);
            let mut held = self.unsaved.granted.lock().expect("granted");
            held.insert(key.client_id.clone(), (key.clone(), 0));
        }
    }

    /// Asks for `key`'s next grant in the background (its allowance runs low).
    pub(crate) fn grant_ahead(&self, key: &Arc<CompiledKey>) {
        let _ = self.ahead.send(key.clone());
    }

    /// Gives back every unspent allowance (the node stops): other nodes can spend it.
    pub async fn give_back_grants(&self) {
        self.give_back(false).await
    }

    /// Gives back the allowance of keys not called here since the last tick (`idle_only`), or
    /// of every key.
    async fn give_back(&self, idle_only: bool) {
        let w = self.calendar.at(self.now_ms());
        let idle: Vec<(Arc<CompiledKey>, u32)> = {
            let mut held = self.unsaved.granted.lock().expect("granted");
            let mut idle = Vec::new();
            held.retain(|_, (key, seen)| {
                let now = key.counters.allowance(w.day);
                if now == 0 {
                    return false;
                }
                if (now == *seen || !idle_only) && key.counters.take_allowance(w.day, now) {
                    idle.push((key.clone(), now));
                    return false;
                }
                *seen = now;
                true
            });
            idle
        };
        for (key, n) in idle {
            let counters = [
                (
                    day_key(&key.client_id),
                    Window {
                        ends_at_ms: w.day_end_ms as u64,
                    },
                ),
                (
                    month_key(&key.client_id),
                    Window {
                        ends_at_ms: w.month_end_ms as u64,
                    },
                ),
            ];
            // What the node granted itself in an outage and has not pushed is taken back here:
            // refunded to the store before its push, it would find no counter to take from.
            let taken = self.unsaved.take_unsent(&counters, u64::from(n));
            if let Err(e) = self.refund_rest(&counters, u64::from(n), &taken).await {
                // Still this node's to spend, and to give back once the store answers.
                tracing::warn!(key = %key.client_id, error = %e, "unspent quota not given back yet");
                self.unsaved.put_unsent(&counters, &taken);
                key.counters.add_allowance(w.day, n);
                let mut held = self.unsaved.granted.lock().expect("granted");
                held.insert(key.client_id.clone(), (key.clone(), 0));
            }
        }
    }

    /// Refunds `n` less what each counter `taken` locally: one call when they took alike.
    async fn refund_rest(
        &self,
        counters: &[(String, Window); 2],
        n: u64,
        taken: &[u64; 2],
    ) -> StoreResult<()> {
        if taken[0] == taken[1] {
            if taken[0] < n {
                self.store.refund(counters, n - taken[0]).await?;
            }
            return Ok(());
        }
        for (counter, took) in counters.iter().zip(taken) {
            if *took < n {
                self.store
                    .refund(std::slice::from_ref(counter), n - took)
                    .await?;
            }
        }
        Ok(())
    }

    /// Writes the counts made since the last flush, in one transaction.
    pub async fn flush(&self) -> StoreResult<()> {
        let w = self.calendar.at(self.now_ms());
        let mut keys: Vec<Arc<CompiledKey>> =
            std::iter::from_fn(|| self.unsaved.queue.pop()).collect();
        if self.unsaved.overflowed.swap(false, Ordering::Relaxed) {
            keys = self.index.load().keys.iter().cloned().collect();
        }
        let mut batch = Vec::new();
        for key in &keys {
            let id = &key.client_id;
            let ((day, d), (month, m)) = key.counters.take_unsaved();
            // Counts of a window that has ended no longer matter to any quota.
            if d > 0
                && let Some(sub) = key.meta(komainu_model::SUBSCRIPTION_META)
            {
                batch.extend(crate::usage::increments(
                    sub,
                    day,
                    w.day_end_ms,
                    u64::from(d),
                ));
            }
            // Granted calls are in the store's quota counters already (as granted): what is
            // pushed then is the calls made, which every node's view reads.
            let (day_counter, month_counter) = if self.grants() {
                (used_day_key(id), used_month_key(id))
            } else {
                (day_key(id), month_key(id))
            };
            if d > 0 && day == w.day {
                batch.push((
                    day_counter,
                    u64::from(d),
                    Window {
                        ends_at_ms: w.day_end_ms as u64,
                    },
                ));
            }
            if m > 0 && month == w.month {
                batch.push((
                    month_counter,
                    u64::from(m),
                    Window {
                        ends_at_ms: w.month_end_ms as u64,
                    },
                ));
            }
        }
        // Counts a failed push could not store go with the next one, merged by counter.
        let mut merged = std::mem::take(&mut *self.unsaved.unsent.lock().expect("unsent"));
        for (key, by, window) in batch {
            *merged.entry((key, window.ends_at_ms)).or_default() += by;
        }
        {
            let now = self.now_ms();
            let mut recent = self.unsaved.recent.lock().expect("recent");
            for key in &keys {
                recent.insert(key.client_id.to_string(), now);
            }
            recent.retain(|_, at| now - *at < RECENT_MS);
            for id in recent.keys() {
                let (day, month) = if self.grants() {
                    (used_day_key(id), used_month_key(id))
                } else {
                    (day_key(id), month_key(id))
                };
                merged.entry((day, w.day_end_ms as u64)).or_default();
                merged.entry((month, w.month_end_ms as u64)).or_default();
            }
        }
        let batch: Vec<(String, u64, Window)> = merged
            .iter()
            .map(|((k, ends), by)| (k.clone(), *by, Window { ends_at_ms: *ends }))
            .collect();
        match self.store.incr_many(batch).await {
            Ok(values) => {
                // What the store counted is every node's calls: each key's view becomes that,
                // plus this node's calls made since (not pushed yet). It goes down with a reset.
                let index = self.index.load();
                for (((counter, ends), _), stored) in merged.iter().zip(values) {
                    let Some((month, id)) = view_of(counter, *ends, &w, self.grants()) else {
                        continue;
                    };
                    if let Some(key) = index.keys.get(id) {
                        let window = if month { w.month } else { w.day };
                        let view = stored.saturating_add(key.counters.unsaved(month, window));
                        key.counters.adopt(month, window, view);
                    }
                }
                Ok(())
            }
            Err(e) => {
                let mut unsent = self.unsaved.unsent.lock().expect("unsent");
                for (k, by) in merged {
                    *unsent.entry(k).or_default() += by;
                }
                Err(e)
            }
        }
    }

    /// Consumption of key `id` now.
    pub fn quotas(&self, id: &str) -> Option<QuotaReport> {
        let key = self.index.load().keys.get(id)?.clone();
        let usage = key.counters.usage(&self.calendar.at(self.now_ms()));
        let d = &*key;
        Some(QuotaReport {
            authorized_calls_per_window: d.throttling_quota,
            throttling_calls_per_window: usage.second,
            remaining_calls_per_window: d.throttling_quota.saturating_sub(usage.second),
            authorized_calls_per_day: d.daily_quota,
            current_calls_per_day: usage.day,
            remaining_calls_per_day: d.daily_quota.saturating_sub(usage.day),
            authorized_calls_per_month: d.monthly_quota,
            current_calls_per_month: usage.month,
            remaining_calls_per_month: d.monthly_quota.saturating_sub(usage.month),
        })
    }

    /// Sets key `id`'s counts back to zero, in memory and in the store.
    pub async fn reset_quotas(&self, id: &str) -> StoreResult<bool> {
        let Some(key) = self.index.load().keys.get(id).cloned() else {
            return Ok(false);
        };
        key.counters.reset();
        for counter in [
            day_key(id),
            month_key(id),
            used_day_key(id),
            used_month_key(id),
        ] {
            self.store.reset_counter(&counter).await?;
        }
        Ok(true)
    }

    pub(crate) fn store_handle(&self) -> Arc<dyn Store> {
        self.store.clone()
    }
}

async fn follow(service: Weak<KeyService>, mut feed: tokio::sync::broadcast::Receiver<Change>) {
    loop {
        let mut changes = Vec::new();
        let mut lagged = false;
        match feed.recv().await {
            Ok(c) => changes.push(c),
            Err(RecvError::Lagged(_)) => lagged = true,
            Err(RecvError::Closed) => return,
        }
        loop {
            match feed.try_recv() {
                Ok(c) => changes.push(c),
                Err(TryRecvError::Lagged(_)) => lagged = true,
                Err(_) => break,
            }
        }
        let Some(service) = service.upgrade() else {
            return;
        };
        // What the index holds once this batch is in (see the runtime's follower).
        let revision = if lagged {
            service.store.revision()
        } else {
            changes.iter().map(|c| c.seq).max().unwrap_or(0)
        };
        changes.retain(|c| matches!(c.kind, Kind::ApiKey | Kind::Group));
        if changes.is_empty() && !lagged {
            service.applied.set(revision);
            continue;
        }
        let result = if lagged {
            service.reload().await
        } else {
            service.apply(&changes).await
        };
        match result {
            Ok(()) => service.applied.set(revision),
            Err(e) => {
                tracing::error!(error = %e, "cannot read key changes: keeping the current keys, retrying");
                // What failed is not known: reload everything once the store answers.
                loop {
                    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
                    let revision = service.store.revision();
                    if service.reload().await.is_ok() {
                        service.applied.set(revision);
                        break;
                    }
                }
            }
        }
    }
}

/// Grants ahead the keys whose allowance runs low, each on its own task.
async fn grant_ahead(
    service: Weak<KeyService>,
    mut low: tokio::sync::mpsc::UnboundedReceiver<Arc<CompiledKey>>,
) {
    while let Some(key) = low.recv().await {
        let Some(service) = service.upgrade() else {
            return;
        };
        tokio::spawn(async move { service.grant(&key, true).await });
    }
}

/// Persists counts and rotates secrets, once a second, while the service lives.
async fn every_second(service: Weak<KeyService>) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tick.tick().await;
        let Some(service) = service.upgrade() else {
            return;
        };
        if let Err(e) = service.flush().await {
            tracing::error!(error = %e, "cannot persist quota counts");
        }
        if service.grants() {
            service.give_back(true).await;
        }
        let jobs = &service.jobs;
        let held = match service
            .store
            .lease(JOBS_LEASE, &jobs.holder, JOBS_LEASE_MS)
            .await
        {
            Ok(held) => held,
            Err(e) => {
                tracing::debug!(error = %e, "jobs lease not renewed");
                false
            }
        };
        if held != jobs.held.swap(held, Ordering::AcqRel) {
            tracing::info!(held, "the cluster's jobs (secret rotation) lease");
        }
        if held {
            rotation::rotate_due(&service).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unsaved() -> Unsaved {
        Unsaved {
            queue: ArrayQueue::new(1),
            overflowed: AtomicBool::new(false),
            unsent: Default::default(),
            recent: Default::default(),
            granted: Default::default(),
        }
    }

    fn counters() -> [(String, Window); 2] {
        [
            (day_key("k"), Window { ends_at_ms: 100 }),
            (month_key("k"), Window { ends_at_ms: 900 }),
        ]
    }

    fn unsent(u: &Unsaved) -> Vec<u64> {
        let unsent = u.unsent.lock().unwrap();
        counters()
            .iter()
            .map(|(c, w)| unsent.get(&(c.clone(), w.ends_at_ms)).copied().unwrap_or(0))
            .collect()
    }

    #[test]
    fn an_allowance_granted_in_an_outage_is_given_back_before_its_push() {
        // Granted 62 by itself while the store was down, 5 spent: the 57 left are taken off the
        // count still to push, which then stores the 5 calls made, not 62.
        let u = unsaved();
        u.put_unsent(&counters(), &[62, 62]);
        assert_eq!(u.take_unsent(&counters(), 57), [57, 57]);
        assert_eq!(unsent(&u), [5, 5]);
        // More given back than is unsent (the rest came from the store): the store refunds the
        // rest, and a counter with nothing left to push is gone from the map.
        assert_eq!(u.take_unsent(&counters(), 9), [5, 5]);
        assert_eq!(unsent(&u), [0, 0]);
        assert!(u.unsent.lock().unwrap().is_empty());
        // A failed refund puts back exactly what was taken.
        u.put_unsent(&counters(), &[3, 8]);
        let taken = u.take_unsent(&counters(), 6);
        assert_eq!(taken, [3, 6]);
        u.put_unsent(&counters(), &taken);
        assert_eq!(unsent(&u), [3, 8]);
    }
}
