//! Route lookup with 10 and 10,000 routes: the trie makes the cost follow the path's depth, so the
//! two should be close.

use std::sync::Arc;

use criterion::{Criterion, criterion_group, criterion_main};
use http::{HeaderMap, Method};
use komainu_model::{Route, parse};
use komainu_plugins::Services;
use komainu_runtime::{Entities, RequestView, Snapshot};
use serde_json::json;

fn snapshot(n: usize) -> Snapshot {
    let mut entities = Entities::default();
    for i in 0..n {
        let doc = json!({
            "id": format!("r{i:05}"),
            "frontend": {"domains": [format!("many.bench/svc{i:05}/api")]},
            "backend": {"targets": [{"hostname": "127.0.0.1", "port": 8080}]}
        });
        let route: Route = parse(&doc).unwrap();
        entities.routes.insert(route.id.clone(), Arc::new(route));
    }
    Snapshot::compile(&entities, &Services::default())
}

fn bench(c: &mut Criterion) {
    let headers = HeaderMap::new();
    let view = RequestView {
        method: &Method::GET,
        headers: &headers,
        query: None,
    };
    let mut g = c.benchmark_group("route lookup");
    for n in [10, 10_000] {
        let s = snapshot(n);
        let path = format!("/svc{:05}/api/users/42", n / 2);
        assert!(s.router.find("many.bench", &path, &view).is_some());
        g.bench_function(format!("{n} routes"), |b| {
            b.iter(|| s.router.find("many.bench", &path, &view).is_some())
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
