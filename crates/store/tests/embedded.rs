//! The embedded engine against its contract: modes, batches, counters, the feed, reopening.

use komainu_model::Kind;
use komainu_store::{EmbeddedStore, Op, Store, StoreError, Window, WriteMode};
use serde_json::json;

#[tokio::test]
async fn write_modes_and_reads() {
    let dir = tempfile::tempdir().unwrap();
    let store = EmbeddedStore::open(dir.path()).unwrap();
    let doc = json!({"id": "g1", "name": "one"});
    store
        .put(Kind::Group, "g1", &doc, WriteMode::Create)
        .await
        .unwrap();
    let dup = store.put(Kind::Group, "g1", &doc, WriteMode::Create).await;
    assert!(matches!(dup, Err(StoreError::Conflict { .. })));
    let missing = store.put(Kind::Group, "g2", &doc, WriteMode::Replace).await;
    assert!(matches!(missing, Err(StoreError::NotFound { .. })));
    assert_eq!(
        store.get(Kind::Group, "g1").await.unwrap(),
        Some(doc.clone())
    );
    assert_eq!(
        store.get(Kind::Route, "g1").await.unwrap(),
        None,
        "kinds are apart"
    );
    store
        .put(Kind::Group, "a0", &json!({"id": "a0"}), WriteMode::Upsert)
        .await
        .unwrap();
    let ids: Vec<_> = store
        .list(Kind::Group)
        .await
        .unwrap()
        .into_iter()
        .map(|d| d["id"].clone())
        .collect();
    assert_eq!(ids, vec![json!("a0"), json!("g1")], "listed by id");
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = seen.clone();
    store
        .scan(
            Kind::Group,
            Box::new(move |bytes| {
                sink.lock()
                    .unwrap()
                    .push(serde_json::from_slice::<serde_json::Value>(bytes).unwrap()["id"].clone())
            }),
        )
        .await
        .unwrap();
    assert_eq!(
        *seen.lock().unwrap(),
        vec![json!("a0"), json!("g1")],
        "scanned by id"
    );
    assert!(store.delete(Kind::Group, "g1").await.unwrap());
    assert!(!store.delete(Kind::Group, "g1").await.unwrap());
}

#[tokio::test]
async fn batches_are_atomic_and_announced() {
    let dir = tempfile::tempdir().unwrap();
    let store = EmbeddedStore::open(dir.path()).unwrap();
    let mut feed = store.changes();
    store
        .put(
            Kind::Backend,
            "old",
            &json!({"id": "old"}),
            WriteMode::Create,
        )
        .await
        .unwrap();
    store
        .apply(vec![
            Op::Clear(Kind::Backend),
            Op::Put {
                kind: Kind::Backend,
                id: "b1".into(),
                doc: json!({"id": "b1"}),
            },
            Op::Put {
                kind: Kind::Route,
                id: "r1".into(),
                doc: json!({"id": "r1"}),
            },
            Op::Delete {
                kind: Kind::Route,
                id: "r1".into(),
            },
        ])
        .await
        .unwrap();
    assert_eq!(
        store.list(Kind::Backend).await.unwrap(),
        vec![json!({"id": "b1"})]
    );
    assert!(store.list(Kind::Route).await.unwrap().is_empty());
    let first = feed.recv().await.unwrap();
    assert_eq!(
        (first.kind, first.id.as_deref()),
        (Kind::Backend, Some("old"))
    );
    let mut last = first.seq;
    for _ in 0..4 {
        let c = feed.recv().await.unwrap();
        assert!(c.seq > last, "sequence increases");
        last = c.seq;
    }
}

#[tokio::test]
async fn counters_restart_with_their_window() {
    let dir = tempfile::tempdir().unwrap();
    let store = EmbeddedStore::open(dir.path()).unwrap();
    let day1 = Window { ends_at_ms: 1_000 };
    assert_eq!(store.incr("k", 1, day1).await.unwrap(), 1);
    assert_eq!(store.incr("k", 5, day1).await.unwrap(), 6);
    assert_eq!(store.counter("k", 999).await.unwrap(), 6);
    assert_eq!(store.counter("k", 1_000).await.unwrap(), 0, "window over");
    let day2 = Window { ends_at_ms: 2_000 };
    assert_eq!(
        store.incr("k", 1, day2).await.unwrap(),
        1,
        "new window starts at zero"
    );
    store.reset_counter("k").await.unwrap();
    assert_eq!(store.counter("k", 1_500).await.unwrap(), 0);
    let w = Window { ends_at_ms: 5_000 };
    store
        .incr_many(vec![
            ("q:a".into(), 2, w),
            ("q:b".into(), 3, w),
            ("r:c".into(), 1, w),
            ("q:a".into(), 1, w),
        ])
        .await
        .unwrap();
    store
        .incr("q:old", 9, Window { ends_at_ms: 10 })
        .await
        .unwrap();
    let found = store.counters("q:", 100).await.unwrap();
    assert_eq!(found, vec![("q:a".to_string(), 3), ("q:b".to_string(), 3)]);
}

#[tokio::test]
async fn state_survives_reopening_and_the_file_is_exclusive() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = EmbeddedStore::open(dir.path()).unwrap();
        store
            .put(
                Kind::ApiKey,
                "k1",
                &json!({"clientId": "k1"}),
                WriteMode::Create,
            )
            .await
            .unwrap();
        store.set_meta("admin", &json!({"id": "x"})).await.unwrap();
        store
            .incr(
                "c",
                3,
                Window {
                    ends_at_ms: u64::MAX,
                },
            )
            .await
            .unwrap();
        assert!(matches!(
            EmbeddedStore::open(dir.path()),
            Err(StoreError::Locked(_))
        ));
    }
    let store = EmbeddedStore::open(dir.path()).unwrap();
    assert!(store.get(Kind::ApiKey, "k1").await.unwrap().is_some());
    assert_eq!(store.meta("admin").await.unwrap(), Some(json!({"id": "x"})));
    assert_eq!(store.counter("c", 0).await.unwrap(), 3);
    store.ping().await.unwrap();
}

#[tokio::test]
async fn a_write_based_on_a_stale_read_is_refused_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store: std::sync::Arc<dyn Store> =
        std::sync::Arc::new(EmbeddedStore::open(dir.path()).unwrap());
    let put = |name: &str| Op::Put {
        kind: Kind::Group,
        id: "g".into(),
        doc: json!({"id": "g", "name": name}),
    };
    store.apply(vec![put("first")]).await.unwrap();
    let (_, first) = store
        .get_versioned(Kind::Group, "g")
        .await
        .unwrap()
        .unwrap();

    // Two read-modify-writes of the same document: the second to commit is refused.
    let (a, b) = (
        komainu_store::Transaction::new(store.clone()),
        komainu_store::Transaction::new(store.clone()),
    );
    a.get(Kind::Group, "g").await.unwrap();
    b.get(Kind::Group, "g").await.unwrap();
    a.apply(vec![put("by a")]).await.unwrap();
    let lost = b.apply(vec![put("by b")]).await;
    assert!(
        matches!(lost, Err(StoreError::Changed { kind: Kind::Group, ref id }) if id == "g"),
        "{lost:?}"
    );
    let (doc, second) = store
        .get_versioned(Kind::Group, "g")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(doc["name"], "by a", "the refused write wrote nothing");
    assert!(second > first, "every write moves the revision");

    // Deleted and created again: a new revision, so a read of the old one cannot pass (no ABA).
    store
        .apply(vec![Op::Delete {
            kind: Kind::Group,
            id: "g".into(),
        }])
        .await
        .unwrap();
    let absent = Op::Expect {
        kind: Kind::Group,
        id: "g".into(),
        revision: None,
    };
    store
        .apply(vec![absent.clone(), put("again")])
        .await
        .unwrap();
    let stale = Op::Expect {
        kind: Kind::Group,
        id: "g".into(),
        revision: Some(second),
    };
    assert!(matches!(
        store.apply(vec![stale, put("stale")]).await,
        Err(StoreError::Changed { .. })
    ));
    assert!(matches!(
        store.apply(vec![absent, put("stale")]).await,
        Err(StoreError::Changed { .. })
    ));
    let (_, third) = store
        .get_versioned(Kind::Group, "g")
        .await
        .unwrap()
        .unwrap();
    assert!(third > second);
    drop(a);
    drop(b);
    drop(store);
    let reopened = EmbeddedStore::open(dir.path()).unwrap();
    let (doc, kept) = reopened
        .get_versioned(Kind::Group, "g")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (doc["name"].as_str(), kept),
        (Some("again"), third),
        "revisions are durable"
    );
}

#[tokio::test]
async fn grants_shrink_near_the_limit_never_pass_it_and_come_back() {
    let dir = tempfile::tempdir().unwrap();
    let store = EmbeddedStore::open(dir.path()).unwrap();
    let w = Window {
        ends_at_ms: u64::MAX,
    };
    let limits = [("day".to_string(), 40, w), ("month".to_string(), 1000, w)];
    // A sixteenth of what is left (at least one), at most what is asked.
    assert_eq!(store.grant(&limits, 100).await.unwrap(), 2);
    let mut granted = 2;
    while let n @ 1.. = store.grant(&limits, 100).await.unwrap() {
        assert!(
            n <= (40 - granted).max(16) / 16,
            "{n} with {} left",
            40 - granted
        );
        granted += n;
    }
    assert_eq!(
        granted, 40,
        "granted up to the smallest limit, never past it"
    );
    assert_eq!(store.counter("month", 0).await.unwrap(), 40);
    store
        .refund(&[("day".to_string(), w), ("month".to_string(), w)], 5)
        .await
        .unwrap();
    assert_eq!(store.counter("day", 0).await.unwrap(), 35);
    assert_eq!(store.grant(&limits, 100).await.unwrap(), 1);
}
