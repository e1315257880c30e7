//! The shared engine: Redis (or Valkey), for several gateway nodes on one configuration.
//!
//! Under a key prefix (`komainu` by default): a hash of `id → JSON` per entity kind, a global
//! revision counter (each document's revision, the global one of its last write, in a hash per
//! kind), a change feed as a Redis Stream (`XADD` in the same script as the write, so
//! a committed write is always on the feed), counters as hashes `{v, e}` (value, window end) that
//! expire with their window, and a hash of the gateway's own values. Every write is one Lua script:
//! atomic, and numbered by the revision it commits. Each node follows the stream from where it
//! last read (a Stream, not pub/sub, keeps what a disconnected node missed); a gap in revisions
//! (the stream was trimmed past a node that was away) makes the node's followers reload
//! everything. While Redis is unreachable every call fails with [`StoreError::Unavailable`].

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use komainu_model::Kind;
use redis::AsyncCommands;
use redis::aio::ConnectionManager;
use serde_json::Value;
use tokio::sync::broadcast;

use crate::{Change, Op, Store, StoreError, StoreResult, Visitor, Window, WriteMode};

/// How many changes the stream keeps (approximately): a node away for longer reloads everything.
const FEED_LEN: u64 = 100_000;

/// Writes a batch of ops: `ARGV[1]` the prefix, `ARGV[2]` the JSON list of ops, `ARGV[3]` the
/// feed's length. A `create` on an existing id, a `replace` of a missing one or an `expect` that
/// no longer holds fails the whole batch before anything is written. Each change is numbered by
/// the global revision, which also becomes the document's own revision. Returns the revision of
/// the last change.
const APPLY: &str = r#"
local prefix, ops, maxlen = ARGV[1], cjson.decode(ARGV[2]), ARGV[3]
for _, op in ipairs(ops) do
  local exists = op.id and redis.call('HEXISTS', prefix .. ':doc:' .. op.kind, op.id) == 1
  if op.mode == 'create' and exists then
    return redis.error_reply('conflict ' .. op.kind .. ' ' .. op.id)
  end
  if op.mode == 'replace' and not exists then
    return redis.error_reply('notfound ' .. op.kind .. ' ' .. op.id)
  end
  if op.op == 'expect' then
    local rev = tonumber(redis.call('HGET', prefix .. ':docrev:' .. op.kind, op.id) or '0')
    if (op.rev == nil and exists) or (op.rev ~= nil and (not exists or rev ~= op.rev)) then
      return redis.error_reply('changed ' .. op.kind .. ' ' .. op.id)
    end
  end
end
local rev = 0
for _, op in ipairs(ops) do
  local docs = prefix .. ':doc:' .. op.kind
  local revs = prefix .. ':docrev:' .. op.kind
  local changed = 1
  if op.op == 'put' then
    redis.call('HSET', docs, op.id, op.doc)
  elseif op.op == 'delete' then
    changed = redis.call('HDEL', docs, op.id)
  elseif op.op == 'clear' then
    redis.call('DEL', docs, revs)
  else
    changed = 0
  end
  if changed == 1 then
    rev = redis.call('INCR', prefix .. ':rev')
    if op.op == 'put' then
      redis.call('HSET', revs, op.id, rev)
    elseif op.op == 'delete' then
      redis.call('HDEL', revs, op.id)
    end
    redis.call('XADD', prefix .. ':feed', 'MAXLEN', '~', maxlen, '*',
      'rev', rev, 'kind', op.kind, 'id', op.id or '')
  end
end
return rev
"#;

/// Takes or renews a lease (`SET NX PX`, or `PEXPIRE` by its holder): 1 when `ARGV[1]` holds
/// `KEYS[1]` for the next `ARGV[2]` ms.
const LEASE: &str = r#"
local holder = redis.call('GET', KEYS[1])
if not holder then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
elseif holder == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
"#;

/// A counter script: `$body` after `counted(key, ends)`, a counter's value while its window is the
/// one ending at `ends` (nil once the window changed), the rule every counter script reads by.
macro_rules! counter_script {
    ($body:literal) => {
        concat!(
            r#"
local function counted(key, ends)
  if redis.call('HGET', key, 'e') == ends then
    return tonumber(redis.call('HGET', key, 'v') or '0')
  end
  return nil
end
"#,
            $body
        )
    };
}

/// Adds to counters: `ARGV[1]` the prefix, then (key, by, window end in ms) triples. A counter
/// restarts when its window changed and expires with its window. Returns the new values.
const INCR: &str = counter_script!(
    r#"
local out = {}
for i = 2, #ARGV, 3 do
  local key = ARGV[1] .. ':ctr:' .. ARGV[i]
  local v = (counted(key, ARGV[i + 2]) or 0) + tonumber(ARGV[i + 1])
  redis.call('HSET', key, 'v', v, 'e', ARGV[i + 2])
  redis.call('PEXPIREAT', key, ARGV[i + 2])
  out[#out + 1] = v
end
return out
"#
);

/// Grants quota: `ARGV[1]` the prefix, `ARGV[2]` the calls wanted, `ARGV[3]` the share, then
/// (key, limit, window end in ms) triples. The grant is the least quota left over the counters,
/// divided by the share (at least 1), at most what was wanted; added to every counter (see
/// `Store::grant`, and `grant_size`, which this mirrors).
const GRANT: &str = counter_script!(
    r#"
local left = nil
local used = {}
for i = 4, #ARGV, 3 do
  local v = counted(ARGV[1] .. ':ctr:' .. ARGV[i], ARGV[i + 2]) or 0
  used[i] = v
  local l = tonumber(ARGV[i + 1]) - v
  if l < 0 then l = 0 end
  if left == nil or l < left then left = l end
end
if left == nil or left == 0 then return 0 end
local share = math.floor(left / tonumber(ARGV[3]))
if share < 1 then share = 1 end
local granted = math.min(tonumber(ARGV[2]), share)
for i = 4, #ARGV, 3 do
  local key = ARGV[1] .. ':ctr:' .. ARGV[i]
  redis.call('HSET', key, 'v', used[i] + granted, 'e', ARGV[i + 2])
  redis.call('PEXPIREAT', key, ARGV[i + 2])
end
return granted
"#
);

/// Gives back unspent calls: `ARGV[1]` the prefix, `ARGV[2]` how many, then (key, window end)
/// pairs; a counter of another window is left alone.
const REFUND: &str = counter_script!(
    r#"
for i = 3, #ARGV, 2 do
  local key = ARGV[1] .. ':ctr:' .. ARGV[i]
  local v = counted(key, ARGV[i + 1])
  if v then
    redis.call('HSET', key, 'v', math.max(0, v - tonumber(ARGV[2])))
  end
end
return 0
"#
);

/// A batch with more ops than this (an import) goes over [`RedisStore::bulk`].
const BULK_OPS: usize = 256;

#[derive(Clone)]
pub struct RedisStore {
    conn: ConnectionManager,
    /// For large batches: a script writing 100,000 documents runs for seconds, past the 2 s in
    /// which an ordinary call must answer (or the store is deemed unreachable).
    bulk: ConnectionManager,
    prefix: Arc<str>,
    feed: broadcast::Sender<Change>,
    /// The highest revision this node committed or read on the feed.
    seen: Arc<AtomicU64>,
    apply: Arc<redis::Script>,
    incr: Arc<redis::Script>,
    lease: Arc<redis::Script>,
    grant: Arc<redis::Script>,
    refund: Arc<redis::Script>,
}

impl From<redis::RedisError> for StoreError {
    /// The scripts' refusals (`conflict`, `notfound`, `changed`, each followed by kind and id)
    /// come back as error codes; anything else means Redis did not do the work.
    fn from(e: redis::RedisError) -> Self {
        let refusal = e.code().zip(e.detail()).and_then(|(code, detail)| {
            let (kind, id) = detail.split_once(' ')?;
            let (kind, id) = (Kind::from_plural(kind)?, id.to_string());
            match code {
                "conflict" => Some(StoreError::Conflict { kind, id }),
                "notfound" => Some(StoreError::NotFound { kind, id }),
                "changed" => Some(StoreError::Changed { kind, id }),
                _ => None,
            }
        });
        refusal.unwrap_or_else(|| StoreError::Unavailable(e.to_string()))
    }
}

fn op_json(op: &Op, mode: WriteMode) -> Value {
    let mode = match mode {
        WriteMode::Create => "create",
        WriteMode::Replace => "replace",
        WriteMode::Upsert => "upsert",
    };
    match op {
        Op::Put { kind, id, doc } => serde_json::json!({
            "op": "put", "kind": kind.plural(), "id": id, "doc": doc.to_string(), "mode": mode,
        }),
        Op::Delete { kind, id } => serde_json::json!({
            "op": "delete", "kind": kind.plural(), "id": id, "mode": "upsert",
        }),
        Op::Clear(kind) => serde_json::json!({
            "op": "clear", "kind": kind.plural(), "mode": "upsert",
        }),
        // No `rev` at all when the document must not exist (Lua reads a JSON null as a value).
        Op::Expect { kind, id, revision } => {
            let mut check = serde_json::json!({
                "op": "expect", "kind": kind.plural(), "id": id, "mode": "upsert",
            });
            if let Some(rev) = revision {
                check["rev"] = (*rev).into();
            }
            check
        }
    }
}

impl RedisStore {
    /// Connects to `url` (`redis://[user:pass@]host:port/db`, `rediss://...`) and starts following
    /// the change feed. `root_ca` (PEM): the CA a `rediss://` server's certificate is checked
    /// against instead of the public roots. Fails when Redis does not answer.
    pub async fn connect(url: &str, prefix: &str, root_ca: Option<Vec<u8>>) -> StoreResult<Self> {
        let client = match root_ca {
            None => redis::Client::open(url),
            Some(ca) => redis::Client::build_with_tls(
                url,
                redis::TlsCertificates {
                    client_tls: None,
                    root_cert: Some(ca),
                },
            ),
        }
        .map_err(|e| StoreError::Engine(format!("--store {}: {e}", redact(url))))?;
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(2)))
            .set_response_timeout(Some(Duration::from_secs(2)))
            .set_number_of_retries(1);
        let mut conn = ConnectionManager::new_with_config(client.clone(), config.clone())
            .await
            .map_err(|e| StoreError::Unavailable(format!("{}: {e}", redact(url))))?;
        let bulk = ConnectionManager::new_with_config(
            client.clone(),
            config.set_response_timeout(Some(Duration::from_secs(120))),
        )
        .await
        .map_err(|e| StoreError::Unavailable(format!("{}: {e}", redact(url))))?;
        let prefix: Arc<str> = Arc::from(prefix);
        // The revision and the feed's newest entry as of one instant: the feed is followed from
        // that entry, so a write made after this (by any node) reaches the followers even when
        // they load the documents before the follower's first read.
        let (rev, newest): (Option<u64>, redis::streams::StreamRangeReply) = redis::pipe()
            .atomic()
            .get(format!("{prefix}:rev"))
            .xrevrange_count(format!("{prefix}:feed"), "+", "-", 1)
            .query_async(&mut conn)
            .await?;
        let from = newest
            .ids
            .first()
            .map_or_else(|| "0-0".to_string(), |e| e.id.clone());
        let (feed, _) = broadcast::channel(4096);
        let store = RedisStore {
            conn,
            bulk,
            prefix,
            feed,
            seen: Arc::new(AtomicU64::new(rev.unwrap_or(0))),
            apply: Arc::new(redis::Script::new(APPLY)),
            incr: Arc::new(redis::Script::new(INCR)),
            lease: Arc::new(redis::Script::new(LEASE)),
            grant: Arc::new(redis::Script::new(GRANT)),
            refund: Arc::new(redis::Script::new(REFUND)),
        };
        tokio::spawn(follow(client, store.clone(), from, rev.unwrap_or(0)));
        Ok(store)
    }

    fn key(&self, rest: &str) -> String {
        format!("{}:{rest}", self.prefix)
    }

    fn saw(&self, rev: u64) {
        self.seen.fetch_max(rev, Ordering::AcqRel);
    }

    async fn add(&self, items: &[(String, u64, Window)]) -> StoreResult<Vec<u64>> {
        let mut conn = self.conn.clone();
        let mut call = self.incr.prepare_invoke();
        call.arg(&*self.prefix);
        for (key, by, window) in items {
            call.arg(key).arg(*by).arg(window.ends_at_ms);
        }
        Ok(call.invoke_async(&mut conn).await?)
    }

    async fn run(&self, ops: &[(Op, WriteMode)]) -> StoreResult<u64> {
        let list: Vec<Value> = ops.iter().map(|(op, mode)| op_json(op, *mode)).collect();
        let mut conn = if ops.len() > BULK_OPS {
            self.bulk.clone()
        } else {
            self.conn.clone()
        };
        let rev: u64 = self
            .apply
            .prepare_invoke()
            .arg(&*self.prefix)
            .arg(Value::Array(list).to_string())
            .arg(FEED_LEN)
            .invoke_async(&mut conn)
            .await?;
        self.saw(rev);
        Ok(rev)
    }
}

/// `url` without its password, for messages.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => format!("{}://***@{}", &url[..s], &url[at + 1..]),
        _ => url.to_string(),
    }
}

/// Reads the feed from the entry after `last_id` (the newest at connect, whose revision is
/// `last_rev`) for as long as the store lives; reconnects after a failure, and tells followers to
/// reload everything when revisions were missed.
async fn follow(client: redis::Client, store: RedisStore, mut last_id: String, mut last_rev: u64) {
    let feed_key = store.key("feed");
    let mut conn = None;
    loop {
        if store.feed.receiver_count() == 0 && Arc::strong_count(&store.seen) == 1 {
            return;
        }
        if conn.is_none() {
            // The feed blocks for a second at most: a reply later than this is a dead connection.
            let config = redis::AsyncConnectionConfig::new()
                .set_connection_timeout(Some(Duration::from_secs(2)))
                .set_response_timeout(Some(Duration::from_secs(3)));
            match client
                .get_multiplexed_async_connection_with_config(&config)
                .await
            {
                Ok(c) => conn = Some(c),
                Err(e) => {
                    tracing::warn!(error = %e, "cannot read the store's change feed: retrying");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
            }
        }
        let c = conn.as_mut().expect("connected");
        let opts = redis::streams::StreamReadOptions::default()
            .block(1000)
            .count(1000);
        let read: Result<redis::streams::StreamReadReply, _> =
            c.xread_options(&[&feed_key], &[&last_id], &opts).await;
        let reply = match read {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(error = %e, "the store's change feed broke: reconnecting");
                conn = None;
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
        };
        for key in reply.keys {
            for entry in key.ids {
                last_id = entry.id.clone();
                let rev: u64 = entry.get("rev").unwrap_or(0);
                let kind: String = entry.get("kind").unwrap_or_default();
                let id: String = entry.get("id").unwrap_or_default();
                if rev <= last_rev {
                    continue;
                }
                if rev > last_rev + 1 && last_rev > 0 {
                    // Changes were missed: every kind may have changed.
                    for kind in Kind::ALL {
                        let _ = store.feed.send(Change {
                            seq: rev,
                            kind,
                            id: None,
                        });
                    }
                }
                last_rev = rev;
                store.saw(rev);
                if let Some(kind) = Kind::from_plural(&kind) {
                    let _ = store.feed.send(Change {
                        seq: rev,
                        kind,
                        id: (!id.is_empty()).then_some(id),
                    });
                }
            }
        }
    }
}

#[async_trait]
impl Store for RedisStore {
    async fn get(&self, kind: Kind, id: &str) -> StoreResult<Option<Value>> {
        let mut conn = self.conn.clone();
        let raw: Option<Vec<u8>> = conn
            .hget(self.key(&format!("doc:{}", kind.plural())), id)
            .await?;
        Ok(match raw {
            Some(b) => Some(serde_json::from_slice(&b)?),
            None => None,
        })
    }

    async fn get_versioned(&self, kind: Kind, id: &str) -> StoreResult<Option<(Value, u64)>> {
        let mut conn = self.conn.clone();
        // One MULTI: the document and its revision as of the same write.
        let (raw, rev): (Option<Vec<u8>>, Option<u64>) = redis::pipe()
            .atomic()
            .hget(self.key(&format!("doc:{}", kind.plural())), id)
            .hget(self.key(&format!("docrev:{}", kind.plural())), id)
            .query_async(&mut conn)
            .await?;
        Ok(match raw {
            Some(b) => Some((serde_json::from_slice(&b)?, rev.unwrap_or(0))),
            None => None,
        })
    }

    async fn list(&self, kind: Kind) -> StoreResult<Vec<Value>> {
        let out = Arc::new(std::sync::Mutex::new(Vec::new()));
        let sink = out.clone();
        self.scan(
            kind,
            Box::new(move |b| {
                if let Ok(v) = serde_json::from_slice(b) {
                    sink.lock().expect("list").push(v);
                }
            }),
        )
        .await?;
        Ok(std::mem::take(&mut *out.lock().expect("list")))
    }

    async fn scan(&self, kind: Kind, mut visit: Visitor) -> StoreResult<()> {
        let mut conn = self.conn.clone();
        let mut all: Vec<(String, Vec<u8>)> = conn
            .hgetall(self.key(&format!("doc:{}", kind.plural())))
            .await?;
        all.sort_by(|a, b| a.0.cmp(&b.0));
        for (_, doc) in &all {
            visit(doc);
        }
        Ok(())
    }

    async fn put(&self, kind: Kind, id: &str, doc: &Value, mode: WriteMode) -> StoreResult<()> {
        let op = Op::Put {
            kind,
            id: id.to_string(),
            doc: doc.clone(),
        };
        self.run(&[(op, mode)]).await.map(|_| ())
    }

    async fn delete(&self, kind: Kind, id: &str) -> StoreResult<bool> {
        let op = Op::Delete {
            kind,
            id: id.to_string(),
        };
        // The script commits no revision when there was nothing to delete.
        Ok(self.run(&[(op, WriteMode::Upsert)]).await? > 0)
    }

    async fn apply(&self, ops: Vec<Op>) -> StoreResult<()> {
        let ops: Vec<(Op, WriteMode)> = ops.into_iter().map(|o| (o, WriteMode::Upsert)).collect();
        self.run(&ops).await.map(|_| ())
    }

    async fn incr(&self, key: &str, by: u64, window: Window) -> StoreResult<u64> {
        let values = self.add(&[(key.to_string(), by, window)]).await?;
        Ok(values.first().copied().unwrap_or(by))
    }

    async fn incr_many(&self, items: Vec<(String, u64, Window)>) -> StoreResult<Vec<u64>> {
        if items.is_empty() {
            return Ok(Vec::new());
        }
        self.add(&items).await
    }

    async fn counter(&self, key: &str, now_ms: u64) -> StoreResult<u64> {
        let mut conn = self.conn.clone();
        let (v, e): (Option<u64>, Option<u64>) = redis::cmd("HMGET")
            .arg(self.key(&format!("ctr:{key}")))
            .arg("v")
            .arg("e")
            .query_async(&mut conn)
            .await?;
        Ok(match (v, e) {
            (Some(v), Some(e)) if e > now_ms => v,
            _ => 0,
        })
    }

    async fn counters(&self, prefix: &str, now_ms: u64) -> StoreResult<Vec<(String, u64)>> {
        let mut conn = self.conn.clone();
        let pattern = self.key(&format!("ctr:{prefix}*"));
        let mut keys: Vec<String> = Vec::new();
        {
            let mut iter: redis::AsyncIter<String> = conn.scan_match(&pattern).await?;
            while let Some(k) = iter.next_item().await {
                keys.push(k?);
            }
        }
        keys.sort();
        let strip = self.key("ctr:").len();
        let mut out = Vec::new();
        for k in keys {
            let (v, e): (Option<u64>, Option<u64>) = redis::cmd("HMGET")
                .arg(&k)
                .arg("v")
                .arg("e")
                .query_async(&mut conn)
                .await?;
            if let (Some(v), Some(e)) = (v, e)
                && e > now_ms
            {
                out.push((k[strip..].to_string(), v));
            }
        }
        Ok(out)
    }

    async fn reset_counter(&self, key: &str) -> StoreResult<()> {
        let mut conn = self.conn.clone();
        let _: () = conn.del(self.key(&format!("ctr:{key}"))).await?;
        Ok(())
    }

    async fn grant(&self, limits: &[(String, u64, Window)], want: u64) -> StoreResult<u64> {
        let mut conn = self.conn.clone();
        let mut call = self.grant.prepare_invoke();
        call.arg(&*self.prefix).arg(want).arg(crate::GRANT_SHARE);
        for (key, limit, window) in limits {
            call.arg(key).arg(*limit).arg(window.ends_at_ms);
        }
        Ok(call.invoke_async(&mut conn).await?)
    }

    async fn refund(&self, counters: &[(String, Window)], n: u64) -> StoreResult<()> {
        let mut conn = self.conn.clone();
        let mut call = self.refund.prepare_invoke();
        call.arg(&*self.prefix).arg(n);
        for (key, window) in counters {
            call.arg(key).arg(window.ends_at_ms);
        }
        let _: i64 = call.invoke_async(&mut conn).await?;
        Ok(())
    }

    fn shared(&self) -> bool {
        true
    }

    async fn meta(&self, key: &str) -> StoreResult<Option<Value>> {
        let mut conn = self.conn.clone();
        let raw: Option<Vec<u8>> = conn.hget(self.key("meta"), key).await?;
        Ok(match raw {
            Some(b) => Some(serde_json::from_slice(&b)?),
            None => None,
        })
    }

    async fn set_meta(&self, key: &str, value: &Value) -> StoreResult<()> {
        let mut conn = self.conn.clone();
        let _: () = conn.hset(self.key("meta"), key, value.to_string()).await?;
        Ok(())
    }

    fn changes(&self) -> broadcast::Receiver<Change> {
        self.feed.subscribe()
    }

    fn revision(&self) -> u64 {
        self.seen.load(Ordering::Acquire)
    }

    async fn ping(&self) -> StoreResult<()> {
        let mut conn = self.conn.clone();
        let _: String = redis::cmd("PING").query_async(&mut conn).await?;
        Ok(())
    }

    async fn lease(&self, name: &str, holder: &str, ttl_ms: u64) -> StoreResult<bool> {
        let mut conn = self.conn.clone();
        let held: i64 = self
            .lease
            .key(self.key(&format!("lease:{name}")))
            .arg(holder)
            .arg(ttl_ms)
            .invoke_async(&mut conn)
            .await?;
        Ok(held == 1)
    }

    async fn heartbeat(&self, member: &Value, now_ms: u64, ttl_ms: u64) -> StoreResult<()> {
        let id = member["id"].as_str().unwrap_or_default();
        let entry = serde_json::json!({"member": member, "expires": now_ms + ttl_ms});
        let mut conn = self.conn.clone();
        let _: () = conn
            .hset(self.key("members"), id, entry.to_string())
            .await?;
        Ok(())
    }

    async fn members(&self, now_ms: u64) -> StoreResult<Vec<Value>> {
        let mut conn = self.conn.clone();
        let all: Vec<(String, String)> = conn.hgetall(self.key("members")).await?;
        let mut live = Vec::new();
        let mut gone = Vec::new();
        for (id, raw) in all {
            let entry: Value = serde_json::from_str(&raw).unwrap_or_default();
            if entry["expires"].as_u64().unwrap_or(0) > now_ms {
                live.push((id, entry["member"].clone()));
            } else {
                gone.push(id);
            }
        }
        // A node that stopped beating long ago is forgotten.
        if !gone.is_empty() {
            let _: () = conn.hdel(self.key("members"), gone).await?;
        }
        live.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(live.into_iter().map(|(_, m)| m).collect())
    }
}
