//! The Redis engine's change feed against a real redis-server.

use std::time::Duration;

use komainu_model::Kind;
use komainu_store::{RedisStore, Store, WriteMode};
use komainu_test_peers::redis::Redis;
use serde_json::json;

async fn put_group(store: &RedisStore, id: &str) {
    store
        .put(Kind::Group, id, &json!({"id": id}), WriteMode::Create)
        .await
        .unwrap();
}

/// A node that has connected and loaded its documents must hear of every later write, even one
/// made before its feed reader first ran (another node wrote while this one was starting).
#[tokio::test(flavor = "current_thread")]
async fn a_write_made_right_after_connecting_reaches_the_feed() {
    let redis = Redis::start();
    let earlier = RedisStore::connect(&redis.url(), "k", None).await.unwrap();
    put_group(&earlier, "g0").await;
    let store = RedisStore::connect(&redis.url(), "k", None).await.unwrap();
    let mut changes = store.changes();
    // Blocking this thread keeps the one-thread runtime from polling the new store's feed reader
    // until the other node's write is in Redis.
    let url = redis.url();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Runtime::new().unwrap();
        rt.block_on(async {
            let other = RedisStore::connect(&url, "k", None).await.unwrap();
            put_group(&other, "g1").await;
        })
    })
    .join()
    .unwrap();
    let change = tokio::time::timeout(Duration::from_secs(5), changes.recv())
        .await
        .expect("the write made after connecting never reached the feed")
        .unwrap();
    assert_eq!(
        (change.kind, change.id.as_deref()),
        (Kind::Group, Some("g1"))
    );
    assert_eq!(change.seq, 2, "{change:?}");
}
