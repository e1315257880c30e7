//! Who holds the counters: every counter belongs to the route whose call created it, and each
//! route may hold at most its share ([`Room::per_owner`]). A route at its share makes room among its
//! own counters, never among another's: a client inventing values of an expression (`${req.query.u}`)
//! evicts only that route's counters, and from those the least counted first (a sample of the
//! oldest), so the flood's one-call counters go before the route's real consumers.
//! When the whole table is full, room is made in the route that holds the most.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// How many counters may be held.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Room {
    /// Per route.
    pub per_owner: usize,
    /// In all.
    pub total: usize,
}

impl Default for Room {
    fn default() -> Self {
        Room {
            per_owner: 100_000,
            total: 1_000_000,
        }
    }
}

/// Which table a counter is in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Table {
    Cells,
    Buckets,
}

/// A route's counters: how many, and their keys from the oldest.
#[derive(Default)]
pub(crate) struct Owner {
    pub held: AtomicUsize,
    keys: Mutex<VecDeque<(Table, Arc<str>)>>,
}

/// Counters looked at to pick the one to evict.
const SAMPLE: usize = 8;

impl Owner {
    pub fn remember(&self, table: Table, key: Arc<str>) {
        self.keys
            .lock()
            .expect("owner lock")
            .push_back((table, key));
    }

    /// Up to [`SAMPLE`] of the oldest keys, taken out (those not evicted go back with
    /// [`Owner::give_back`], at the back: a survivor is not sampled again soon).
    pub fn oldest(&self) -> Vec<(Table, Arc<str>)> {
        let mut keys = self.keys.lock().expect("owner lock");
        let n = keys.len().min(SAMPLE);
        keys.drain(..n).collect()
    }

    pub fn give_back(&self, keys: impl IntoIterator<Item = (Table, Arc<str>)>) {
        self.keys.lock().expect("owner lock").extend(keys);
    }

    /// Drops the keys of counters no longer held, once they are many.
    pub fn compact(&self, held: impl Fn(Table, &str) -> bool) {
        let mut keys = self.keys.lock().expect("owner lock");
        if keys.len() > 2 * self.held.load(Ordering::Relaxed) + 64 {
            keys.retain(|(t, k)| held(*t, k));
        }
    }
}

/// Every route holding counters.
#[derive(Default)]
pub(crate) struct Owners(Mutex<HashMap<Arc<str>, Arc<Owner>>>);

impl Owners {
    pub fn get(&self, id: &str) -> Arc<Owner> {
        let mut map = self.0.lock().expect("owners lock");
        if let Some(o) = map.get(id) {
            return o.clone();
        }
        let owner = Arc::new(Owner::default());
        map.insert(Arc::from(id), owner.clone());
        owner
    }

    /// The route holding the most counters.
    pub fn largest(&self) -> Option<Arc<Owner>> {
        let map = self.0.lock().expect("owners lock");
        map.values()
            .max_by_key(|o| o.held.load(Ordering::Relaxed))
            .cloned()
    }

    /// Every route, for sweeps.
    pub fn all(&self) -> Vec<Arc<Owner>> {
        let mut map = self.0.lock().expect("owners lock");
        map.retain(|_, o| o.held.load(Ordering::Relaxed) > 0 || Arc::strong_count(o) > 1);
        map.values().cloned().collect()
    }
}
