//! NgResponseCache: answers from memory what the backend answered before, for `ttl` milliseconds
//! (default an hour, less when the response's `max-age`/`s-maxage` says so). What is cached is
//! chosen by `filter`: `statuses` (200), `methods` (GET), `paths` (full-match regexes; all by
//! default), and `notStatuses`, `notMethods`, `notPaths`. The cache holds at most `maxSize` bytes
//! of bodies (50 MiB); the oldest entries go first. A response is copied as it streams to the
//! client, never delayed. A hit carries `Age` and `X-Otoroshi-Cache: HIT`; a call that goes to the
//! backend carries `X-Otoroshi-Cache: MISS` to it, as Otoroshi's does.
//!
//! Otoroshi keys on route, method, path and query only; here the key also holds the host and the
//! consumer (unless `public`), and [`rules`] keeps out what a shared cache must not hand to
//! another user (`private`, `Set-Cookie`, credentials it did not read) and honours `Vary`.

mod rules;

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::request::Parts;
use http::{HeaderMap, HeaderName, HeaderValue, Method, Response, StatusCode, header};
use regex::RegexSet;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::config::ConfigError;
use crate::def::PluginDef;
use crate::tee::Tee;
use crate::{Body, Outcome, Plugin, RequestCtx, config, full};

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
    /// Share answers between consumers (API keys); by default each consumer has its own.
    public: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            ttl: 3_600_000,
            max_size: 50 * 1024 * 1024,
            auto_clean: true,
            filter: None,
            public: false,
        }
    }
}

/// One kept response, and the request values of the headers it varies on.
struct Entry {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
    stored: Instant,
    keep: Duration,
    vary: Vec<HeaderName>,
    vary_values: Vec<Option<HeaderValue>>,
}

impl Entry {
    fn fresh(&self) -> bool {
        self.stored.elapsed() < self.keep
    }

    fn fits(&self, req: &HeaderMap) -> bool {
        rules::vary_values(req, &self.vary) == self.vary_values
    }
}

/// Variants of one response kept at most (one per set of values of its `Vary` headers).
const VARIANTS: usize = 8;

#[derive(Default)]
struct Store {
    entries: HashMap<String, Vec<Arc<Entry>>>,
    order: VecDeque<String>,
    bytes: usize,
}

struct Cache {
    ttl: Duration,
    max_size: usize,
    public: bool,
    statuses: Vec<u16>,
    not_statuses: Vec<u16>,
    methods: Vec<Method>,
    not_methods: Vec<Method>,
    paths: Option<RegexSet>,
    not_paths: Option<RegexSet>,
    store: Arc<Mutex<Store>>,
}

/// A call the cache may keep the answer of: its key and the request's headers it may vary on.
#[derive(Clone)]
struct Miss {
    key: String,
    request: HeaderMap,
}

/// A kept answer found for a call, served in place of the backend's.
#[derive(Clone)]
struct Hit(Arc<Entry>);

const CACHE_HEADER: HeaderName = HeaderName::from_static("x-otoroshi-cache");

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

    /// The fresh kept answer of `key` that fits the request's `Vary` values.
    fn lookup(&self, key: &str, req: &HeaderMap) -> Option<Arc<Entry>> {
        let store = self.store.lock().expect("cache lock");
        store
            .entries
            .get(key)?
            .iter()
            .find(|e| e.fresh() && e.fits(req))
            .cloned()
    }
}

fn insert(store: &Mutex<Store>, max: usize, key: String, entry: Entry) {
    let mut s = store.lock().expect("cache lock");
    let variants = s.entries.entry(key.clone()).or_default();
    let before: usize = variants.iter().map(|e| e.body.len()).sum();
    variants.retain(|e| e.fresh() && e.vary_values != entry.vary_values);
    variants.truncate(VARIANTS - 1);
    variants.push(Arc::new(entry));
    let after: usize = variants.iter().map(|e| e.body.len()).sum();
    s.bytes = s.bytes + after - before;
    if !s.order.contains(&key) {
        s.order.push_back(key.clone());
    }
    while s.bytes > max {
        let Some(oldest) = s.order.pop_front() else {
            break;
        };
        if let Some(gone) = s.entries.remove(&oldest) {
            s.bytes -= gone.iter().map(|e| e.body.len()).sum::<usize>();
        }
    }
}

impl Plugin for Cache {
    fn transform_request(&self, req: &mut Parts, ctx: &mut RequestCtx) -> Outcome {
        let consumer = ctx.apikey.as_ref().map(|k| &*k.client_id);
        if !self.cacheable(&req.method, ctx.path())
            || !rules::request_may_share(&req.headers, consumer)
        {
            return Outcome::Continue;
        }
        let consumer = if self.public { None } else { consumer };
        let key = rules::key(
            &ctx.route.id,
            &ctx.host,
            &req.method,
            ctx.path_and_query(),
            consumer,
        );
        if !rules::wants_fresh(&req.headers)
            && let Some(hit) = self.lookup(&key, &req.headers)
        {
            ctx.attrs.insert(Hit(hit));
            return Outcome::Continue;
        }
        // Otoroshi tells the backend the call missed the cache.
        req.headers
            .insert(CACHE_HEADER, HeaderValue::from_static("MISS"));
        ctx.attrs.insert(Miss {
            key,
            request: req.headers.clone(),
        });
        Outcome::Continue
    }

    fn backend_call(&self, _req: &Parts, ctx: &mut RequestCtx) -> Option<Response<Body>> {
        let Hit(e) = ctx.attrs.remove::<Hit>()?;
        let mut resp = Response::new(full(e.body.clone()));
        *resp.status_mut() = e.status;
        *resp.headers_mut() = e.headers.clone();
        let h = resp.headers_mut();
        h.insert(header::AGE, HeaderValue::from(e.stored.elapsed().as_secs()));
        h.insert(CACHE_HEADER, HeaderValue::from_static("HIT"));
        Some(resp)
    }

    fn transform_response(&self, resp: &mut Response<Body>, ctx: &mut RequestCtx) {
        let Some(Miss { key, request }) = ctx.attrs.remove::<Miss>() else {
            return;
        };
        if !self.keeps(resp.status()) {
            return;
        }
        let Some(keep) = rules::storable_for(resp.headers(), self.ttl) else {
            return;
        };
        let Some(vary) = rules::vary_names(resp.headers()) else {
            return;
        };
        let vary_values = rules::vary_values(&request, &vary);
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
                        keep,
                        vary,
                        vary_values,
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
        public: cfg.public,
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
    steps: &["TransformRequest", "CallBackend", "TransformResponse"],
    build,
    describe: config::describe::<Config>,
    inert: &["autoClean"],
};
