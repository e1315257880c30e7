//! NgResponseCache: answers from memory what the backend answered before, for `ttl` milliseconds
//! (default an hour), keyed as Otoroshi keys it (route, method, path and query). What is cached is
//! chosen by `filter`: `statuses` (200), `methods` (GET), `paths` (full-match regexes; all by
//! default), and `notStatuses`, `notMethods`, `notPaths`. The cache holds at most `maxSize` bytes
//! of bodies (50 MiB); the oldest entries go first. A response is copied as it streams to the
//! client, never delayed. A hit carries `Age`; the backend is not called.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::request::Parts;
use http::{HeaderMap, HeaderValue, Method, Response, StatusCode, header};
use regex::RegexSet;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::config::ConfigError;
use crate::registry::PluginDef;
use crate::tee::Tee;
use crate::{Body, Plugin, RequestCtx, config, full};

#[derive(Deserialize, Serialize, JsonSchema)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
struct Filter {
    statuses: Vec<u16>,
    methods: Vec<String>,
    paths: Vec<String>,
    not_statuses: Vec<u16>,
    not_methods: Vec<String>,
    not_paths: Vec<String>,
}

impl Default for Filter {
    fn default() -> Self {
        Filter {
            statuses: vec![200],
            methods: vec!["GET".into()],
            paths: Vec::new(),
            not_statuses: Vec::new(),
            not_methods: Vec::new(),
            not_paths: Vec::new(),
        }
    }
}

#[derive(Deserialize, Serialize, JsonSchema)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
struct Config {
    ttl: u64,
    max_size: usize,
    /// Otoroshi cleans its store of expired entries; here they expire by themselves.
    auto_clean: bool,
    filter: Option<Filter>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            ttl: 3_600_000,
            max_size: 50 * 1024 * 1024,
            auto_clean: true,
            filter: None,
        }
    }
}

struct Entry {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
    stored: Instant,
}

#[derive(Default)]
struct Store {
    entries: HashMap<String, Arc<Entry>>,
    order: VecDeque<String>,
    bytes: usize,
}

struct Cache {
    ttl: Duration,
    max_size: usize,
    statuses: Vec<u16>,
    not_statuses: Vec<u16>,
    methods: Vec<Method>,
    not_methods: Vec<Method>,
    paths: Option<RegexSet>,
    not_paths: Option<RegexSet>,
    store: Arc<Mutex<Store>>,
}

/// The key of a call the cache may answer or keep.
#[derive(Clone)]
struct CacheKey(String);

impl Cache {
    fn cacheable(&self, method: &Method, path: &str) -> bool {
        (self.methods.is_empty() || self.methods.contains(method))
            && !self.not_methods.contains(method)
            && self.paths.as_ref().is_none_or(|p| p.is_match(path))
            && !self.not_paths.as_ref().is_some_and(|p| p.is_match(path))
    }

    fn keeps(&self, status: StatusCode) -> bool {
        let s = status.as_u16();
        (self.statuses.is_empty() || self.statuses.contains(&s)) && !self.not_statuses.contains(&s)
    }
}

fn insert(store: &Mutex<Store>, max: usize, key: String, entry: Entry) {
    let mut s = store.lock().expect("cache lock");
    if let Some(old) = s.entries.remove(&key) {
        s.bytes -= old.body.len();
        s.order.retain(|k| *k != key);
    }
    while s.bytes + entry.body.len() > max {
        let Some(oldest) = s.order.pop_front() else {
            break;
        };
        if let Some(e) = s.entries.remove(&oldest) {
            s.bytes -= e.body.len();
        }
    }
    s.bytes += entry.body.len();
    s.order.push_back(key.clone());
    s.entries.insert(key, Arc::new(entry));
}

impl Plugin for Cache {
    fn backend_call(&self, req: &Parts, ctx: &mut RequestCtx) -> Option<Response<Body>> {
        if !self.cacheable(&req.method, ctx.path()) {
            return None;
        }
        let key = format!(
            "{}:{}-{}",
            ctx.route.id,
            req.method.as_str().to_ascii_lowercase(),
            ctx.path_and_query()
        );
        let hit = self
            .store
            .lock()
            .expect("cache lock")
            .entries
            .get(&key)
            .cloned();
        if let Some(e) = hit.filter(|e| e.stored.elapsed() < self.ttl) {
            let mut resp = Response::new(full(e.body.clone()));
            *resp.status_mut() = e.status;
            *resp.headers_mut() = e.headers.clone();
            resp.headers_mut()
                .insert(header::AGE, HeaderValue::from(e.stored.elapsed().as_secs()));
            return Some(resp);
        }
        ctx.attrs.insert(CacheKey(key));
        None
    }

    fn transform_response(&self, resp: &mut Response<Body>, ctx: &mut RequestCtx) {
        let Some(CacheKey(key)) = ctx.attrs.remove::<CacheKey>() else {
            return;
        };
        if !self.keeps(resp.status()) {
            return;
        }
        let (status, headers) = (resp.status(), resp.headers().clone());
        let (store, max) = (self.store.clone(), self.max_size);
        let body = std::mem::replace(resp.body_mut(), crate::empty());
        *resp.body_mut() = Tee::wrap(
            body,
            max,
            Box::new(move |copy| {
                if let Some(body) = copy {
                    let entry = Entry {
                        status,
                        headers,
                        body,
                        stored: Instant::now(),
                    };
                    insert(&store, max, key, entry);
                }
            }),
        );
    }
}

fn methods(list: &[String], field: &str) -> Result<Vec<Method>, ConfigError> {
    list.iter()
        .enumerate()
        .map(|(i, m)| {
            Method::from_bytes(m.to_ascii_uppercase().as_bytes())
                .map_err(|_| ConfigError::at(format!("{field}[{i}]"), "not an HTTP method"))
        })
        .collect()
}

fn build(config: &Value, _services: &crate::Services) -> Result<Arc<dyn Plugin>, ConfigError> {
    let cfg: Config = config::parse(config)?;
    let f = cfg.filter.unwrap_or_default();
    Ok(Arc::new(Cache {
        ttl: Duration::from_millis(cfg.ttl),
        max_size: cfg.max_size,
        statuses: f.statuses,
        not_statuses: f.not_statuses,
        methods: methods(&f.methods, "filter.methods")?,
        not_methods: methods(&f.not_methods, "filter.notMethods")?,
        paths: config::regexes(&f.paths, "filter.paths")?,
        not_paths: config::regexes(&f.not_paths, "filter.notPaths")?,
        store: Arc::default(),
    }))
}

pub(crate) const PLUGIN: PluginDef = PluginDef {
    name: "NgResponseCache",
    title: "Response Cache",
    description: "This plugin can cache responses from target services",
    categories: &["Other"],
    steps: &["CallBackend", "TransformResponse"],
    build,
    describe: config::describe::<Config>,
    inert: &["autoClean"],
};
