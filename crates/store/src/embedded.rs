//! The embedded engine: one redb file (`<data-dir>/komainu.redb`).
//!
//! redb is copy-on-write with checksummed commits: every write transaction is fsynced before
//! `commit` returns, and a crash (even `kill -9` mid-write) leaves the last committed state. Each
//! kind of entity is a table of `id → JSON bytes`, with each document's revision in one table of
//! `(kind, id) → revision` (the revision a sequence numbers, one per write transaction); counters
//! are `key → (value, window end)`.
//! Calls run on tokio's blocking pool so the async runtime never waits on the disk.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use komainu_model::Kind;
use redb::{
    Database, DatabaseError, ReadableDatabase, ReadableTable, ReadableTableMetadata,
    TableDefinition,
};
use serde_json::Value;
use tokio::sync::broadcast;

use crate::{Change, Op, Store, StoreError, StoreResult, Visitor, Window, WriteMode};

const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");
const COUNTERS: TableDefinition<&str, (u64, u64)> = TableDefinition::new("counters");
const REVISIONS: TableDefinition<(&str, &str), u64> = TableDefinition::new("revisions");
/// The last revision given to a write, under [`DOCUMENTS`].
const SEQUENCE: TableDefinition<&str, u64> = TableDefinition::new("sequence");
const DOCUMENTS: &str = "documents";
const FILE: &str = "komainu.redb";
/// redb's page cache. The gateway reads the store at start and on admin calls, never per request
/// (requests use the runtime's compiled state), so a small cache suffices; redb's default of 1 GiB
/// kept every page read at start-up resident.
const CACHE_BYTES: usize = 2 << 20;

fn docs(kind: Kind) -> TableDefinition<'static, &'static str, &'static [u8]> {
    TableDefinition::new(kind.plural())
}

/// The single-node store: durable, crash-safe, with an in-process change feed.
#[derive(Clone)]
pub struct EmbeddedStore {
    db: Arc<Database>,
    feed: broadcast::Sender<Change>,
    seq: Arc<AtomicU64>,
    /// Numbering and sending a change happen together, so the feed carries increasing `seq`s.
    publishing: Arc<std::sync::Mutex<()>>,
    /// The one node on this store: its last heartbeat and when it expires.
    member: Arc<std::sync::Mutex<Option<(Value, u64)>>>,
}

impl EmbeddedStore {
    /// Whether `dir` holds a store.
    pub fn exists(dir: &Path) -> bool {
        dir.join(FILE).is_file()
    }

    /// Opens (or creates) the store in `dir`. Fails with [`StoreError::Locked`] when another
    /// process has it open.
    pub fn open(dir: &Path) -> StoreResult<Self> {
        std::fs::create_dir_all(dir)
            .map_err(|e| StoreError::Engine(format!("cannot create {}: {e}", dir.display())))?;
        let path = dir.join(FILE);
        let db = redb::Builder::new()
            .set_cache_size(CACHE_BYTES)
            .create(&path)
            .map_err(|e| match e {
                DatabaseError::DatabaseAlreadyOpen => {
                    StoreError::Locked(path.display().to_string())
                }
                other => StoreError::Engine(other.to_string()),
            })?;
        let txn = db.begin_write()?;
        for kind in Kind::ALL {
            txn.open_table(docs(kind))?;
        }
        txn.open_table(META)?;
        txn.open_table(COUNTERS)?;
        txn.open_table(REVISIONS)?;
        txn.open_table(SEQUENCE)?;
        txn.commit()?;
        let (feed, _) = broadcast::channel(4096);
        Ok(EmbeddedStore {
            db: Arc::new(db),
            feed,
            seq: Arc::new(AtomicU64::new(0)),
            publishing: Arc::default(),
            member: Arc::default(),
        })
    }

    async fn blocking<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Database) -> StoreResult<T> + Send + 'static,
    {
        let db = self.db.clone();
        tokio::task::spawn_blocking(move || f(&db)).await?
    }

    fn publish(&self, changes: impl IntoIterator<Item = (Kind, Option<String>)>) {
        let _numbering = self.publishing.lock().expect("publish lock");
        for (kind, id) in changes {
            let seq = self.seq.load(Ordering::Relaxed) + 1;
            // No subscriber is not an error: the feed is a notification, not a log.
            let _ = self.feed.send(Change { seq, kind, id });
            self.seq.store(seq, Ordering::Release);
        }
    }
}

/// Counter `key`'s value while its window is `window` (`None` once the window changed).
fn counted(
    table: &impl ReadableTable<&'static str, (u64, u64)>,
    key: &str,
    window: Window,
) -> StoreResult<Option<u64>> {
    Ok(table
        .get(key)?
        .map(|v| v.value())
        .and_then(|(value, ends)| (ends == window.ends_at_ms).then_some(value)))
}

/// Adds `by` to counter `key` in `window` (restarting it when the window changed).
fn add_counter(
    txn: &redb::WriteTransaction,
    key: &str,
    by: u64,
    window: Window,
) -> StoreResult<u64> {
    let mut table = txn.open_table(COUNTERS)?;
    let value = counted(&table, key, window)?
        .unwrap_or(0)
        .saturating_add(by);
    table.insert(key, (value, window.ends_at_ms))?;
    Ok(value)
}

/// Fails with [`StoreError::Changed`] unless every [`Op::Expect`] of `ops` holds.
fn check_expectations(txn: &redb::WriteTransaction, ops: &[Op]) -> StoreResult<()> {
    let revisions = txn.open_table(REVISIONS)?;
    for op in ops {
        let Op::Expect { kind, id, revision } = op else {
            continue;
        };
        let exists = txn.open_table(docs(*kind))?.get(id.as_str())?.is_some();
        let current = revisions
            .get((kind.plural(), id.as_str()))?
            .map_or(0, |v| v.value());
        let holds = match revision {
            None => !exists,
            Some(r) => exists && current == *r,
        };
        if !holds {
            return Err(StoreError::Changed {
                kind: *kind,
                id: id.clone(),
            });
        }
    }
    Ok(())
}

/// Writes `ops` under the next revision; whether each op changed something (a delete of a
/// missing document does not).
fn write_ops(txn: &redb::WriteTransaction, ops: &[Op]) -> StoreResult<Vec<bool>> {
    let revision = {
        let mut sequence = txn.open_table(SEQUENCE)?;
        let next = sequence.get(DOCUMENTS)?.map_or(0, |v| v.value()) + 1;
        sequence.insert(DOCUMENTS, next)?;
        next
    };
    let mut revisions = txn.open_table(REVISIONS)?;
    let mut changed = Vec::with_capacity(ops.len());
    for op in ops {
        changed.push(match op {
            Op::Put { kind, id, doc } => {
                let bytes = serde_json::to_vec(doc)?;
                txn.open_table(docs(*kind))?
                    .insert(id.as_str(), bytes.as_slice())?;
                revisions.insert((kind.plural(), id.as_str()), revision)?;
                true
            }
            Op::Delete { kind, id } => {
                revisions.remove((kind.plural(), id.as_str()))?;
                txn.open_table(docs(*kind))?.remove(id.as_str())?.is_some()
            }
            Op::Clear(kind) => {
                txn.open_table(docs(*kind))?.retain(|_, _| false)?;
                revisions.retain(|(k, _), _| k != kind.plural())?;
                true
            }
            Op::Expect { .. } => false,
        });
    }
    Ok(changed)
}

#[async_trait]
impl Store for EmbeddedStore {
    async fn get(&self, kind: Kind, id: &str) -> StoreResult<Option<Value>> {
        let id = id.to_string();
        self.blocking(move |db| {
            let txn = db.begin_read()?;
            let table = txn.open_table(docs(kind))?;
            match table.get(id.as_str())? {
                Some(bytes) => Ok(Some(serde_json::from_slice(bytes.value())?)),
                None => Ok(None),
            }
        })
        .await
    }

    async fn get_versioned(&self, kind: Kind, id: &str) -> StoreResult<Option<(Value, u64)>> {
        let id = id.to_string();
        self.blocking(move |db| {
            let txn = db.begin_read()?;
            let Some(bytes) = txn.open_table(docs(kind))?.get(id.as_str())? else {
                return Ok(None);
            };
            let revision = txn
                .open_table(REVISIONS)?
                .get((kind.plural(), id.as_str()))?
                .map_or(0, |v| v.value());
            Ok(Some((serde_json::from_slice(bytes.value())?, revision)))
        })
        .await
    }

    async fn list(&self, kind: Kind) -> StoreResult<Vec<Value>> {
        self.blocking(move |db| {
            let txn = db.begin_read()?;
            let table = txn.open_table(docs(kind))?;
            let mut out = Vec::with_capacity(table.len()? as usize);
            for entry in table.iter()? {
                let (_, bytes) = entry?;
                out.push(serde_json::from_slice(bytes.value())?);
            }
            Ok(out)
        })
        .await
    }

    async fn scan(&self, kind: Kind, mut visit: Visitor) -> StoreResult<()> {
        self.blocking(move |db| {
            let txn = db.begin_read()?;
            let table = txn.open_table(docs(kind))?;
            for entry in table.iter()? {
                let (_, bytes) = entry?;
                visit(bytes.value());
            }
            Ok(())
        })
        .await
    }

    async fn put(&self, kind: Kind, id: &str, doc: &Value, mode: WriteMode) -> StoreResult<()> {
        let id = id.to_string();
        let op = Op::Put {
            kind,
            id: id.clone(),
            doc: doc.clone(),
        };
        let written = id.clone();
        self.blocking(move |db| {
            let txn = db.begin_write()?;
            let exists = txn.open_table(docs(kind))?.get(id.as_str())?.is_some();
            match (mode, exists) {
                (WriteMode::Create, true) => return Err(StoreError::Conflict { kind, id }),
                (WriteMode::Replace, false) => return Err(StoreError::NotFound { kind, id }),
                _ => {}
            }
            write_ops(&txn, std::slice::from_ref(&op))?;
            txn.commit()?;
            Ok(())
        })
        .await?;
        self.publish([(kind, Some(written))]);
        Ok(())
    }

    async fn delete(&self, kind: Kind, id: &str) -> StoreResult<bool> {
        let op = Op::Delete {
            kind,
            id: id.to_string(),
        };
        let deleted = id.to_string();
        let existed = self
            .blocking(move |db| {
                let txn = db.begin_write()?;
                let existed = write_ops(&txn, std::slice::from_ref(&op))?[0];
                txn.commit()?;
                Ok(existed)
            })
            .await?;
        if existed {
            self.publish([(kind, Some(deleted))]);
        }
        Ok(existed)
    }

    async fn apply(&self, ops: Vec<Op>) -> StoreResult<()> {
        let changes: Vec<(Kind, Option<String>)> = ops
            .iter()
            .filter_map(Op::target)
            .map(|(kind, id)| (kind, id.map(str::to_string)))
            .collect();
        self.blocking(move |db| {
            let txn = db.begin_write()?;
            check_expectations(&txn, &ops)?;
            write_ops(&txn, &ops)?;
            txn.commit()?;
            Ok(())
        })
        .await?;
        self.publish(changes);
        Ok(())
    }

    async fn incr(&self, key: &str, by: u64, window: Window) -> StoreResult<u64> {
        let key = key.to_string();
        self.blocking(move |db| {
            let txn = db.begin_write()?;
            let value = add_counter(&txn, &key, by, window)?;
            txn.commit()?;
            Ok(value)
        })
        .await
    }

    async fn incr_many(&self, items: Vec<(String, u64, Window)>) -> StoreResult<Vec<u64>> {
        if items.is_empty() {
            return Ok(Vec::new());
        }
        self.blocking(move |db| {
            let txn = db.begin_write()?;
            let mut values = Vec::with_capacity(items.len());
            for (key, by, window) in &items {
                values.push(add_counter(&txn, key, *by, *window)?);
            }
            txn.commit()?;
            Ok(values)
        })
        .await
    }

    async fn counters(&self, prefix: &str, now_ms: u64) -> StoreResult<Vec<(String, u64)>> {
        let prefix = prefix.to_string();
        self.blocking(move |db| {
            let txn = db.begin_read()?;
            let table = txn.open_table(COUNTERS)?;
            let mut out = Vec::new();
            for entry in table.range(prefix.as_str()..)? {
                let (k, v) = entry?;
                if !k.value().starts_with(prefix.as_str()) {
                    break;
                }
                let (value, ends) = v.value();
                if ends > now_ms {
                    out.push((k.value().to_string(), value));
                }
            }
            Ok(out)
        })
        .await
    }

    async fn counter(&self, key: &str, now_ms: u64) -> StoreResult<u64> {
        let key = key.to_string();
        self.blocking(move |db| {
            let txn = db.begin_read()?;
            let table = txn.open_table(COUNTERS)?;
            Ok(match table.get(key.as_str())? {
                Some(v) if v.value().1 > now_ms => v.value().0,
                _ => 0,
            })
        })
        .await
    }

    async fn reset_counter(&self, key: &str) -> StoreResult<()> {
        let key = key.to_string();
        self.blocking(move |db| {
            let txn = db.begin_write()?;
            txn.open_table(COUNTERS)?.remove(key.as_str())?;
            txn.commit()?;
            Ok(())
        })
        .await
    }

    async fn grant(&self, limits: &[(String, u64, Window)], want: u64) -> StoreResult<u64> {
        let limits = limits.to_vec();
        self.blocking(move |db| {
            let txn = db.begin_write()?;
            let mut left = u64::MAX;
            {
                let table = txn.open_table(COUNTERS)?;
                for (key, limit, window) in &limits {
                    let used = counted(&table, key, *window)?.unwrap_or(0);
                    left = left.min(limit.saturating_sub(used));
                }
            }
            let granted = crate::grant_size(want, left);
            if granted > 0 {
                for (key, _, window) in &limits {
                    add_counter(&txn, key, granted, *window)?;
                }
                txn.commit()?;
            }
            Ok(granted)
        })
        .await
    }

    async fn refund(&self, counters: &[(String, Window)], n: u64) -> StoreResult<()> {
        let counters = counters.to_vec();
        self.blocking(move |db| {
            let txn = db.begin_write()?;
            {
                let mut table = txn.open_table(COUNTERS)?;
                for (key, window) in &counters {
                    if let Some(v) = counted(&table, key, *window)? {
                        table.insert(key.as_str(), (v.saturating_sub(n), window.ends_at_ms))?;
                    }
                }
            }
            txn.commit()?;
            Ok(())
        })
        .await
    }

    async fn meta(&self, key: &str) -> StoreResult<Option<Value>> {
        let key = key.to_string();
        self.blocking(move |db| {
            let txn = db.begin_read()?;
            let table = txn.open_table(META)?;
            match table.get(key.as_str())? {
                Some(bytes) => Ok(Some(serde_json::from_slice(bytes.value())?)),
                None => Ok(None),
            }
        })
        .await
    }

    async fn set_meta(&self, key: &str, value: &Value) -> StoreResult<()> {
        let key = key.to_string();
        let bytes = serde_json::to_vec(value)?;
        self.blocking(move |db| {
            let txn = db.begin_write()?;
            txn.open_table(META)?
                .insert(key.as_str(), bytes.as_slice())?;
            txn.commit()?;
            Ok(())
        })
        .await
    }

    fn changes(&self) -> broadcast::Receiver<Change> {
        self.feed.subscribe()
    }

    fn revision(&self) -> u64 {
        self.seq.load(Ordering::Acquire)
    }

    async fn ping(&self) -> StoreResult<()> {
        self.blocking(|db| {
            db.begin_read()?.open_table(META)?;
            Ok(())
        })
        .await
    }

    async fn heartbeat(&self, member: &Value, now_ms: u64, ttl_ms: u64) -> StoreResult<()> {
        *self.member.lock().expect("member") = Some((member.clone(), now_ms + ttl_ms));
        Ok(())
    }

    /// One process owns the data dir: it holds every lease.
    async fn lease(&self, _: &str, _: &str, _: u64) -> StoreResult<bool> {
        Ok(true)
    }

    async fn members(&self, now_ms: u64) -> StoreResult<Vec<Value>> {
        let member = self.member.lock().expect("member");
        Ok(member
            .iter()
            .filter(|(_, expires)| *expires > now_ms)
            .map(|(m, _)| m.clone())
            .collect())
    }
}
