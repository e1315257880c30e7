//! An optimistic transaction over any engine: what read-modify-writes use instead of a lock.
//!
//! Every document read through a [`Transaction`] is remembered with its revision; a write through
//! it carries an [`Op::Expect`] for each, so it commits only if none changed meanwhile, on this
//! node or another. A caller that gets [`StoreError::Changed`] runs its read-modify-write again on
//! a fresh transaction. Lists and scans are not tracked: what a write decides from a whole kind
//! (references, uniqueness) is checked as before, not made serializable.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use komainu_model::Kind;
use serde_json::Value;
use tokio::sync::broadcast;

use crate::{Change, Op, Store, StoreError, StoreResult, Visitor, Window, WriteMode};

pub struct Transaction {
    inner: Arc<dyn Store>,
    /// What was read: each document's revision, `None` when it did not exist.
    read: Mutex<BTreeMap<(Kind, String), Option<u64>>>,
}

impl Transaction {
    pub fn new(inner: Arc<dyn Store>) -> Self {
        Transaction {
            inner,
            read: Mutex::default(),
        }
    }

    /// The checks for what was read, then `ops`. The reads are forgotten: the next write through
    /// this transaction is checked against what is read after this one.
    fn guarded(&self, ops: Vec<Op>) -> Vec<Op> {
        let read = std::mem::take(&mut *self.read.lock().expect("read set"));
        let mut all: Vec<Op> = read
            .into_iter()
            .map(|((kind, id), revision)| Op::Expect { kind, id, revision })
            .collect();
        all.extend(ops);
        all
    }

    fn remember(&self, kind: Kind, id: &str, revision: Option<u64>) {
        self.read
            .lock()
            .expect("read set")
            .entry((kind, id.to_string()))
            .or_insert(revision);
    }
}

#[async_trait]
impl Store for Transaction {
    async fn get(&self, kind: Kind, id: &str) -> StoreResult<Option<Value>> {
        Ok(self.get_versioned(kind, id).await?.map(|(doc, _)| doc))
    }

    async fn get_versioned(&self, kind: Kind, id: &str) -> StoreResult<Option<(Value, u64)>> {
        let found = self.inner.get_versioned(kind, id).await?;
        self.remember(kind, id, found.as_ref().map(|(_, rev)| *rev));
        Ok(found)
    }

    async fn list(&self, kind: Kind) -> StoreResult<Vec<Value>> {
        self.inner.list(kind).await
    }

    async fn scan(&self, kind: Kind, visit: Visitor) -> StoreResult<()> {
        self.inner.scan(kind, visit).await
    }

    /// A put under the mode's condition and the transaction's checks.
    async fn put(&self, kind: Kind, id: &str, doc: &Value, mode: WriteMode) -> StoreResult<()> {
        let existing = self.get_versioned(kind, id).await?;
        match (mode, existing) {
            (WriteMode::Create, Some(_)) => Err(StoreError::Conflict {
                kind,
                id: id.to_string(),
            }),
            (WriteMode::Replace, None) => Err(StoreError::NotFound {
                kind,
                id: id.to_string(),
            }),
            _ => {
                let put = Op::Put {
                    kind,
                    id: id.to_string(),
                    doc: doc.clone(),
                };
                self.inner.apply(self.guarded(vec![put])).await
            }
        }
    }

    async fn delete(&self, kind: Kind, id: &str) -> StoreResult<bool> {
        if self.get_versioned(kind, id).await?.is_none() {
            return Ok(false);
        }
        let delete = Op::Delete {
            kind,
            id: id.to_string(),
        };
        self.inner.apply(self.guarded(vec![delete])).await?;
        Ok(true)
    }

    async fn apply(&self, ops: Vec<Op>) -> StoreResult<()> {
        self.inner.apply(self.guarded(ops)).await
    }

    async fn incr(&self, key: &str, by: u64, window: Window) -> StoreResult<u64> {
        self.inner.incr(key, by, window).await
    }

    async fn incr_many(&self, items: Vec<(String, u64, Window)>) -> StoreResult<Vec<u64>> {
        self.inner.incr_many(items).await
    }

    async fn counter(&self, key: &str, now_ms: u64) -> StoreResult<u64> {
        self.inner.counter(key, now_ms).await
    }

    async fn counters(&self, prefix: &str, now_ms: u64) -> StoreResult<Vec<(String, u64)>> {
        self.inner.counters(prefix, now_ms).await
    }

    async fn reset_counter(&self, key: &str) -> StoreResult<()> {
        self.inner.reset_counter(key).await
    }

    async fn grant(&self, limits: &[(String, u64, Window)], want: u64) -> StoreResult<u64> {
        self.inner.grant(limits, want).await
    }

    async fn refund(&self, counters: &[(String, Window)], n: u64) -> StoreResult<()> {
        self.inner.refund(counters, n).await
    }

    fn shared(&self) -> bool {
        self.inner.shared()
    }

    async fn meta(&self, key: &str) -> StoreResult<Option<Value>> {
        self.inner.meta(key).await
    }

    async fn set_meta(&self, key: &str, value: &Value) -> StoreResult<()> {
        self.inner.set_meta(key, value).await
    }

    fn changes(&self) -> broadcast::Receiver<Change> {
        self.inner.changes()
    }

    fn revision(&self) -> u64 {
        self.inner.revision()
    }

    async fn ping(&self) -> StoreResult<()> {
        self.inner.ping().await
    }

    async fn heartbeat(&self, member: &Value, now_ms: u64, ttl_ms: u64) -> StoreResult<()> {
        self.inner.heartbeat(member, now_ms, ttl_ms).await
    }

    async fn members(&self, now_ms: u64) -> StoreResult<Vec<Value>> {
        self.inner.members(now_ms).await
    }

    async fn lease(&self, name: &str, holder: &str, ttl_ms: u64) -> StoreResult<bool> {
        self.inner.lease(name, holder, ttl_ms).await
    }
}
