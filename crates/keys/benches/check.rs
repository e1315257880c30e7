//! Key lookup and quota check, the per-request cost of ApikeyCalls: by secret and by HS256 JWT on
//! one thread, then both cores on the same key (the worst case: one counter word shared) and on
//! distinct keys. Per-call times that stay flat from one thread to two mean nothing serializes the
//! calls.

use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use http::Method;
use komainu_keys::{ApikeyConfig, KeyService, Presented, RequestFacts, RouteIdentity, Verdict};
use komainu_model::Kind;
use komainu_store::{EmbeddedStore, Store, WriteMode};
use serde_json::json;

const KEYS: usize = 100_000;

fn service() -> (Arc<KeyService>, tempfile::TempDir, tokio::runtime::Runtime) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let service = rt.block_on(async {
        let store = EmbeddedStore::open(dir.path()).unwrap();
        store.put(Kind::Group, "g", &json!({"id": "g"}), WriteMode::Create).await.unwrap();
        let ops = (0..KEYS)
            .map(|i| {
                let id = format!("key{i}");
                let doc = json!({"clientId": id, "clientSecret": "secret-of-the-key", "authorizedEntities": ["group_g"],
                    "throttlingQuota": 10_000_000, "dailyQuota": 10_000_000_000u64, "monthlyQuota": 10_000_000_000u64});
                komainu_store::Op::Put { kind: Kind::ApiKey, id, doc }
            })
            .collect();
        store.apply(ops).await.unwrap();
        KeyService::start(Arc::new(store), chrono_tz::UTC).await.unwrap()
    });
    (service, dir, rt)
}

fn by_secret(key: &str) -> Presented {
    Presented::Secret {
        id: key.to_string(),
        secret: "secret-of-the-key".into(),
        strip: Vec::new(),
    }
}

fn call(service: &KeyService, presented: Presented, cfg: &ApikeyConfig, route: &RouteIdentity) {
    let facts = RequestFacts {
        method: "GET",
        host: "h",
        path: "/",
        url: "http://h/",
        xsrf_header: None,
    };
    match service.check(presented, cfg, route, &Method::GET, &facts, true) {
        Verdict::Passed { .. } => {}
        _ => panic!("refused"),
    }
}

fn threaded(service: &Arc<KeyService>, iters: u64, threads: u64, same_key: bool) -> Duration {
    let started = Instant::now();
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let service = service.clone();
            std::thread::spawn(move || {
                let cfg = ApikeyConfig::default();
                let route = RouteIdentity {
                    id: "r".into(),
                    api_id: None,
                    groups: vec!["g".into()],
                };
                let key = if same_key {
                    "key1".to_string()
                } else {
                    format!("key{}", t * 7 + 2)
                };
                for _ in 0..iters / threads {
                    call(&service, by_secret(&key), &cfg, &route);
                }
            })
        })
        .collect();
    handles.into_iter().for_each(|h| h.join().unwrap());
    // Time per call, as if the calls of all threads ran one after another.
    started.elapsed().mul_f64(1.0 / threads as f64)
}

fn bench(c: &mut Criterion) {
    let (service, _dir, _rt) = service();
    let cfg = ApikeyConfig::default();
    let route = RouteIdentity {
        id: "r".into(),
        api_id: None,
        groups: vec!["g".into()],
    };
    let mut g = c.benchmark_group(format!("apikey check, {KEYS} keys loaded"));
    g.bench_function("1 thread", |b| {
        b.iter(|| call(&service, by_secret("key42"), &cfg, &route))
    });
    let token = jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        &json!({"iss": "key42"}),
        &jsonwebtoken::EncodingKey::from_secret(b"secret-of-the-key"),
    )
    .unwrap();
    g.bench_function("1 thread, HS256 JWT", |b| {
        b.iter(|| {
            let jwt = Presented::Jwt {
                token: token.clone(),
                strip: Vec::new(),
            };
            call(&service, jwt, &cfg, &route)
        })
    });
    g.bench_function("2 threads, same key", |b| {
        b.iter_custom(|iters| threaded(&service, iters, 2, true))
    });
    g.bench_function("2 threads, distinct keys", |b| {
        b.iter_custom(|iters| threaded(&service, iters, 2, false))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
