//! Where Komainu keeps its state: entity documents, counters and a change feed.
//!
//! One trait, [`Store`], with the embedded engine ([`EmbeddedStore`], a redb file in the data dir) for
//! a single node. A shared engine (Redis) implements the same trait: documents by kind and id,
//! windowed counters (the quota primitive) and a feed of changes that every node's runtime follows.

mod embedded;
mod error;
mod redis_store;
mod transaction;

use async_trait::async_trait;
use komainu_model::Kind;
use serde_json::Value;
use tokio::sync::broadcast;

pub use embedded::EmbeddedStore;
pub use redis_store::RedisStore;
pub use transaction::Transaction;

/// Every document of `kind` parsed as `T` straight from its bytes; an unreadable one is logged and
/// skipped.
pub async fn load_all<T>(store: &dyn Store, kind: Kind) -> StoreResult<Vec<T>>
where
    T: serde::de::DeserializeOwned + Send + 'static,
{
    let out = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = out.clone();
    let visit: Visitor = Box::new(move |bytes| match serde_json::from_slice::<T>(bytes) {
        Ok(doc) => sink.lock().expect("not poisoned").push(doc),
        Err(e) => tracing::error!(%kind, error = %e, "stored document unreadable: skipped"),
    });
    store.scan(kind, visit).await?;
    let docs = std::mem::take(&mut *out.lock().expect("not poisoned"));
    Ok(docs)
}
pub use error::{StoreError, StoreResult};

/// How far a follower of the change feed (the routing snapshot, the key index) has applied it:
/// the revision of the last change it has taken in. What read-your-writes waits on.
#[derive(Clone)]
pub struct Applied(std::sync::Arc<tokio::sync::watch::Sender<u64>>);

impl Default for Applied {
    fn default() -> Self {
        Applied(std::sync::Arc::new(tokio::sync::watch::Sender::new(0)))
    }
}

impl Applied {
    /// Records that every change up to `revision` is applied.
    pub fn set(&self, revision: u64) {
        self.0.send_if_modified(|v| {
            let moved = revision > *v;
            if moved {
                *v = revision;
            }
            moved
        });
    }

    pub fn get(&self) -> u64 {
        *self.0.borrow()
    }

    /// Waits until `revision` is applied.
    pub async fn reached(&self, revision: u64) {
        let mut rx = self.0.subscribe();
        let _ = rx.wait_for(|v| *v >= revision).await;
    }
}

/// How a document write treats an existing document with the same id.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WriteMode {
    /// Fails with [`StoreError::Conflict`] when the id exists.
    Create,
    /// Fails with [`StoreError::NotFound`] when the id does not exist.
    Replace,
    /// Writes whatever is there.
    Upsert,
}

/// One step of an atomic batch.
#[derive(Clone, Debug)]
pub enum Op {
    Put {
        kind: Kind,
        id: String,
        doc: Value,
    },
    Delete {
        kind: Kind,
        id: String,
    },
    /// Removes every document of the kind.
    Clear(Kind),
    /// Fails the batch with [`StoreError::Changed`] unless the document's revision is still
    /// `revision` (`None`: unless it still does not exist). What makes a read-modify-write safe
    /// across nodes without a lock: the write commits only if what it read is unchanged.
    Expect {
        kind: Kind,
        id: String,
        revision: Option<u64>,
    },
}

impl Op {
    /// The document this op changes, `None` for a whole kind, nothing for a check.
    pub(crate) fn target(&self) -> Option<(Kind, Option<&str>)> {
        match self {
            Op::Put { kind, id, .. } | Op::Delete { kind, id } => Some((*kind, Some(id))),
            Op::Clear(kind) => Some((*kind, None)),
            Op::Expect { .. } => None,
        }
    }
}

/// A committed change, as seen on the feed. `id` is `None` when a whole kind was cleared.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Change {
    /// Increases with every committed write of this store.
    pub seq: u64,
    pub kind: Kind,
    pub id: Option<String>,
}

/// A grant is at most this share of the quota left (see [`Store::grant`]).
pub const GRANT_SHARE: u64 = 16;

/// The grant [`Store::grant`] makes of `want` when `left` calls remain.
pub fn grant_size(want: u64, left: u64) -> u64 {
    if left == 0 {
        return 0;
    }
    want.min((left / GRANT_SHARE).max(1))
}

/// Receives stored documents as JSON bytes, in id order.
pub type Visitor = Box<dyn FnMut(&[u8]) + Send>;

/// A counter's window: the counter restarts from zero once `ends_at_ms` is reached.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    pub ends_at_ms: u64,
}

/// The storage contract every engine fulfils. A write returns only once it is durable.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// The document of `kind` with `id`.
    async fn get(&self, kind: Kind, id: &str) -> StoreResult<Option<Value>>;
    /// The document of `kind` with `id` and its revision: a number that changes with every write
    /// of the document (0 for one stored before revisions were kept), for [`Op::Expect`].
    async fn get_versioned(&self, kind: Kind, id: &str) -> StoreResult<Option<(Value, u64)>>;
    /// Every document of `kind`, ordered by id.
    async fn list(&self, kind: Kind) -> StoreResult<Vec<Value>>;
    /// Hands every document of `kind` (its JSON bytes) to `visit`, one at a time: what loads large
    /// sets (100k API keys) straight into typed form, without a JSON tree per document.
    async fn scan(&self, kind: Kind, visit: Visitor) -> StoreResult<()>;
    /// Writes one document.
    async fn put(&self, kind: Kind, id: &str, doc: &Value, mode: WriteMode) -> StoreResult<()>;
    /// Deletes one document; `false` when there was none.
    async fn delete(&self, kind: Kind, id: &str) -> StoreResult<bool>;
    /// Applies every op or none (every [`Op::Expect`] is checked before anything is written).
    async fn apply(&self, ops: Vec<Op>) -> StoreResult<()>;

    /// Adds `by` to the counter `key` within `window` and returns the new value. A counter whose
    /// window has ended starts again from zero.
    async fn incr(&self, key: &str, by: u64, window: Window) -> StoreResult<u64>;
    /// Adds several counters at once (one durable write for all of them); each counter's value
    /// after its addition, in order (with several nodes on one store: the count of all of them).
    async fn incr_many(&self, items: Vec<(String, u64, Window)>) -> StoreResult<Vec<u64>>;
    /// The current value of counter `key` (zero once its window ended).
    async fn counter(&self, key: &str, now_ms: u64) -> StoreResult<u64>;
    /// Every counter whose key starts with `prefix` and whose window is still open.
    async fn counters(&self, prefix: &str, now_ms: u64) -> StoreResult<Vec<(String, u64)>>;
    /// Sets counter `key` back to zero.
    async fn reset_counter(&self, key: &str) -> StoreResult<()>;
    /// Grants up to `want` calls of the quotas `limits` (counter key, limit, window), atomically:
    /// the grant is added to every counter and never takes one past its limit, and it is at most a
    /// [`GRANT_SHARE`]th of the smallest quota left (at least 1), so nodes asking near the limit
    /// get less and less and the last calls go one by one. Returns the grant (0: a quota is spent).
    /// What lets several nodes spend one quota exactly without a store round trip per call.
    async fn grant(&self, limits: &[(String, u64, Window)], want: u64) -> StoreResult<u64>;
    /// Gives back `n` granted calls not spent (never below zero; nothing once a window ended).
    async fn refund(&self, counters: &[(String, Window)], n: u64) -> StoreResult<()>;
    /// Whether other nodes share this store (and its counters).
    fn shared(&self) -> bool {
        false
    }

    /// A small value of the gateway's own (admin credentials, format version).
    async fn meta(&self, key: &str) -> StoreResult<Option<Value>>;
    async fn set_meta(&self, key: &str, value: &Value) -> StoreResult<()>;

    /// Subscribes to committed changes. A receiver that lags must reload everything.
    fn changes(&self) -> broadcast::Receiver<Change>;
    /// The `seq` of the last change this node has committed or seen on the feed: a follower that
    /// has applied this revision holds every write acknowledged so far.
    fn revision(&self) -> u64;
    /// Whether the store answers.
    async fn ping(&self) -> StoreResult<()>;

    /// Records that the node `member["id"]` is alive (its heartbeat): it is listed by
    /// [`members`](Store::members) until `ttl_ms` after `now_ms`.
    async fn heartbeat(&self, member: &Value, now_ms: u64, ttl_ms: u64) -> StoreResult<()>;
    /// The nodes whose heartbeat has not expired at `now_ms`, by id.
    async fn members(&self, now_ms: u64) -> StoreResult<Vec<Value>>;

    /// Takes the lease `name` for `holder`, or renews it, for `ttl_ms`: true while `holder` holds
    /// it. What must run once per cluster (secret rotation) runs on the holder only; when it
    /// dies, another node takes the lease once `ttl_ms` has passed.
    async fn lease(&self, name: &str, holder: &str, ttl_ms: u64) -> StoreResult<bool>;
}
