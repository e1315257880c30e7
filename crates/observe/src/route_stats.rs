//! Per-route counters: what `/metrics` shows by API and route, and what the analytics windows read.
//!
//! A route's counters are allocated on its first request (10,000 configured routes cost nothing
//! until they serve) and kept by route id across snapshot rebuilds ([`Registry`]), so a config
//! change never resets a counter. Recording is relaxed atomic increments: no lock, no allocation.

use crate::prom::{self, Kind, escape};
use std::collections::HashMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use crate::histogram::{Counts, Histogram};

/// Method labels: the common ones, then `OTHER` for any extension method (bounded cardinality).
pub const METHODS: [&str; 8] = [
    "GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "OTHER",
];

/// Status codes with their own label; any other code is labelled by its class (`2xx`..`5xx`).
const CODES: [u16; 32] = [
    200, 201, 202, 204, 206, 301, 302, 303, 304, 307, 308, 400, 401, 403, 404, 405, 406, 408, 409,
    410, 413, 414, 415, 422, 429, 431, 499, 500, 501, 502, 503, 504,
];
const CLASSES: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];
const CODE_SLOTS: usize = CODES.len() + CLASSES.len();

/// Why a backend call failed, as labelled in `komainu_upstream_errors_total{cause}`.
pub const CAUSES: [&str; 8] = [
    "timeout",
    "circuit_open",
    "no_target",
    "connect_refused",
    "dns",
    "tls",
    "reset",
    "other",
];

/// Plans a route tells apart (an API has a handful); later ones are counted as `other`.
const PLAN_SLOTS: usize = 8;

fn method_index(m: &str) -> usize {
    METHODS[..7].iter().position(|x| *x == m).unwrap_or(7)
}

fn code_index(code: u16) -> usize {
    match CODES.binary_search(&code) {
        Ok(i) => i,
        Err(_) => CODES.len() + (code / 100).clamp(1, 5) as usize - 1,
    }
}

fn code_label(i: usize) -> String {
    CODES
        .get(i)
        .map_or_else(|| CLASSES[i - CODES.len()].to_string(), u16::to_string)
}

/// One request as the route's counters see it.
pub struct Observation<'a> {
    pub method: &'a str,
    pub status: u16,
    pub total: Duration,
    /// Time from the first attempt to the backend's response head (none when no backend answered).
    pub upstream: Option<Duration>,
    pub bytes_in: u64,
    /// The plan that admitted the call, if the route's flow has plans.
    pub plan: Option<&'a str>,
    /// The gateway itself refused the call with 429 (a quota or throttling limit).
    pub quota_refused: bool,
    /// Backend attempts made (0 when no backend was called).
    pub attempts: u32,
    /// Index in [`CAUSES`] of a failed backend call.
    pub upstream_error: Option<usize>,
}

/// A plan's share of a route's calls: what the analytics windows break down by plan.
#[derive(Default)]
pub struct PlanCounters {
    pub requests: AtomicU64,
    /// 5xx answers.
    pub errors: AtomicU64,
    /// 4xx answers: the client's faults (refused keys, quotas), counted apart from the 5xx.
    pub client_errors: AtomicU64,
    pub latency: Histogram,
}

struct Counters {
    requests: [[AtomicU64; CODE_SLOTS]; METHODS.len()],
    total: Histogram,
    upstream: Histogram,
    overhead: Histogram,
    bytes_in: AtomicU64,
    bytes_out: AtomicU64,
    attempts: AtomicU64,
    retries: AtomicU64,
    upstream_errors: [AtomicU64; CAUSES.len()],
    quota_refusals: AtomicU64,
    /// Slot 0 is calls no plan admitted; then plans in order of first use; the last is `other`.
    plan_names: [OnceLock<Arc<str>>; PLAN_SLOTS],
    plans: [PlanCounters; PLAN_SLOTS + 2],
}

impl Default for Counters {
    fn default() -> Self {
        Counters {
            requests: std::array::from_fn(|_| std::array::from_fn(|_| AtomicU64::new(0))),
            total: Histogram::default(),
            upstream: Histogram::default(),
            overhead: Histogram::default(),
            bytes_in: AtomicU64::new(0),
            bytes_out: AtomicU64::new(0),
            attempts: AtomicU64::new(0),
            retries: AtomicU64::new(0),
            upstream_errors: Default::default(),
            quota_refusals: AtomicU64::new(0),
            plan_names: Default::default(),
            plans: Default::default(),
        }
    }
}

impl Counters {
    fn plan(&self, plan: Option<&str>) -> &PlanCounters {
        let Some(name) = plan else {
            return &self.plans[0];
        };
        for (i, slot) in self.plan_names.iter().enumerate() {
            let held = slot.get_or_init(|| Arc::from(name));
            if &**held == name {
                return &self.plans[i + 1];
            }
        }
        &self.plans[PLAN_SLOTS + 1]
    }
}

/// A route's counters, allocated on first use.
pub struct RouteStats {
    pub route: Arc<str>,
    pub api: Option<Arc<str>>,
    counters: OnceLock<Box<Counters>>,
}

/// A copy of one plan's counters of one route.
#[derive(Clone, Debug)]
pub struct PlanSample {
    pub plan: Option<Arc<str>>,
    pub requests: u64,
    pub errors: u64,
    pub client_errors: u64,
    pub latency: Counts,
}

impl RouteStats {
    fn new(route: &str, api: Option<&str>) -> Self {
        RouteStats {
            route: Arc::from(route),
            api: api.map(Arc::from),
            counters: OnceLock::new(),
        }
    }

    /// Whether the route has served at least once.
    pub fn served(&self) -> bool {
        self.counters.get().is_some()
    }

    fn counters(&self) -> &Counters {
        self.counters.get_or_init(Box::default)
    }

    pub fn record(&self, o: &Observation) {
        let c = self.counters();
        c.requests[method_index(o.method)][code_index(o.status)].fetch_add(1, Ordering::Relaxed);
        c.total.observe(o.total);
        if let Some(up) = o.upstream {
            c.upstream.observe(up);
            c.overhead.observe(o.total.saturating_sub(up));
        } else {
            c.overhead.observe(o.total);
        }
        c.bytes_in.fetch_add(o.bytes_in, Ordering::Relaxed);
        if o.attempts > 0 {
            c.attempts.fetch_add(o.attempts as u64, Ordering::Relaxed);
            c.retries
                .fetch_add(o.attempts as u64 - 1, Ordering::Relaxed);
        }
        if let Some(cause) = o.upstream_error {
            c.upstream_errors[cause.min(CAUSES.len() - 1)].fetch_add(1, Ordering::Relaxed);
        }
        if o.quota_refused {
            c.quota_refusals.fetch_add(1, Ordering::Relaxed);
        }
        let p = c.plan(o.plan);
        p.requests.fetch_add(1, Ordering::Relaxed);
        if o.status >= 500 {
            p.errors.fetch_add(1, Ordering::Relaxed);
        } else if o.status >= 400 {
            p.client_errors.fetch_add(1, Ordering::Relaxed);
        }
        p.latency.observe(o.total);
    }

    /// Response body bytes, counted as they are sent (after [`record`](Self::record) ran).
    pub fn sent(&self, bytes: u64) {
        self.counters()
            .bytes_out
            .fetch_add(bytes, Ordering::Relaxed);
    }

    /// Every plan's counters, when the route has served at least once.
    pub fn plans(&self) -> Vec<PlanSample> {
        let Some(c) = self.counters.get() else {
            return Vec::new();
        };
        let sample = |name: Option<Arc<str>>, p: &PlanCounters| PlanSample {
            plan: name,
            requests: p.requests.load(Ordering::Relaxed),
            errors: p.errors.load(Ordering::Relaxed),
            client_errors: p.client_errors.load(Ordering::Relaxed),
            latency: p.latency.counts(),
        };
        let mut out = vec![sample(None, &c.plans[0])];
        for (i, name) in c.plan_names.iter().enumerate() {
            if let Some(n) = name.get() {
                out.push(sample(Some(n.clone()), &c.plans[i + 1]));
            }
        }
        out.push(sample(Some(Arc::from("other")), &c.plans[PLAN_SLOTS + 1]));
        out.retain(|s| s.requests > 0);
        out
    }

    fn labels(&self) -> String {
        format!(
            "api=\"{}\",route=\"{}\"",
            escape(self.api.as_deref().unwrap_or("")),
            escape(&self.route)
        )
    }
}

/// A family rendered from every route: its name, its help, and where a route keeps its value.
type Family<T> = (&'static str, &'static str, fn(&Counters) -> &T);

/// Every route's counters by route id, shared by the snapshots that come and go.
#[derive(Default)]
pub struct Registry {
    routes: Mutex<HashMap<Arc<str>, Arc<RouteStats>>>,
}

impl Registry {
    /// The counters of route `id` (the same ones the previous snapshot used), created if new.
    /// Called while compiling a snapshot, never per request.
    pub fn route(&self, id: &str, api: Option<&str>) -> Arc<RouteStats> {
        let mut routes = self.routes.lock().expect("stats registry");
        match routes.get(id) {
            Some(s) if s.api.as_deref() == api => s.clone(),
            _ => {
                let s = Arc::new(RouteStats::new(id, api));
                routes.insert(s.route.clone(), s.clone());
                s
            }
        }
    }

    /// Forgets routes that are no longer configured.
    pub fn retain(&self, live: &dyn Fn(&str) -> bool) {
        self.routes
            .lock()
            .expect("stats registry")
            .retain(|id, _| live(id));
    }

    /// The routes that have served at least once.
    pub fn active(&self) -> Vec<Arc<RouteStats>> {
        let mut v: Vec<_> = self
            .routes
            .lock()
            .expect("stats registry")
            .values()
            .filter(|s| s.counters.get().is_some())
            .cloned()
            .collect();
        v.sort_by(|a, b| a.route.cmp(&b.route));
        v
    }

    /// The per-route families in Prometheus text format; series that never moved are left out.
    pub fn render(&self, out: &mut String) {
        let active = self.active();
        prom::family(
            out,
            "komainu_http_requests_total",
            Kind::Counter,
            "Requests by API, route, method and status code.",
        );
        for s in &active {
            let l = s.labels();
            for (m, codes) in s.counters().requests.iter().enumerate() {
                for (i, n) in codes.iter().enumerate() {
                    let n = n.load(Ordering::Relaxed);
                    if n > 0 {
                        let _ = writeln!(
                            out,
                            "komainu_http_requests_total{{{l},method=\"{}\",code=\"{}\"}} {n}",
                            METHODS[m],
                            code_label(i)
                        );
                    }
                }
            }
        }
        prom::family(
            out,
            "komainu_http_plan_requests_total",
            Kind::Counter,
            "Requests by API, route and the plan that admitted them (\"\" when none did).",
        );
        for s in &active {
            let l = s.labels();
            for p in s.plans() {
                let plan = escape(p.plan.as_deref().unwrap_or(""));
                let _ = writeln!(
                    out,
                    "komainu_http_plan_requests_total{{{l},plan=\"{plan}\"}} {}",
                    p.requests
                );
            }
        }
        let histograms: [Family<Histogram>; 3] = [
            (
                "komainu_http_request_duration_seconds",
                "Time from the request head to the response head, by API and route.",
                |c| &c.total,
            ),
            (
                "komainu_http_upstream_duration_seconds",
                "Time from the first backend attempt to the backend's response head.",
                |c| &c.upstream,
            ),
            (
                "komainu_http_overhead_duration_seconds",
                "The gateway's own share of a request: total minus upstream.",
                |c| &c.overhead,
            ),
        ];
        for (name, help, h) in histograms {
            prom::family(out, name, Kind::Histogram, help);
            for s in &active {
                h(s.counters()).render(out, name, &s.labels());
            }
        }
        let counters: [Family<AtomicU64>; 5] = [
            (
                "komainu_http_request_bytes_total",
                "Request body bytes received, by API and route.",
                |c| &c.bytes_in,
            ),
            (
                "komainu_http_response_bytes_total",
                "Response body bytes sent, by API and route.",
                |c| &c.bytes_out,
            ),
            (
                "komainu_upstream_attempts_total",
                "Backend attempts, retries included.",
                |c| &c.attempts,
            ),
            (
                "komainu_upstream_retries_total",
                "Backend attempts after the first of a call.",
                |c| &c.retries,
            ),
            (
                "komainu_quota_refusals_total",
                "Calls the gateway refused with 429 (quotas and throttling), by API and route.",
                |c| &c.quota_refusals,
            ),
        ];
        for (name, help, v) in counters {
            prom::family(out, name, Kind::Counter, help);
            for s in &active {
                let _ = writeln!(
                    out,
                    "{name}{{{}}} {}",
                    s.labels(),
                    v(s.counters()).load(Ordering::Relaxed)
                );
            }
        }
        prom::family(
            out,
            "komainu_upstream_errors_total",
            Kind::Counter,
            "Failed backend calls by cause (timeout, circuit_open, no_target, connect_refused, dns, tls, reset, other).",
        );
        for s in &active {
            let l = s.labels();
            for (i, n) in s.counters().upstream_errors.iter().enumerate() {
                let n = n.load(Ordering::Relaxed);
                if n > 0 {
                    let _ = writeln!(
                        out,
                        "komainu_upstream_errors_total{{{l},cause=\"{}\"}} {n}",
                        CAUSES[i]
                    );
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call<'a>(method: &'a str, status: u16, plan: Option<&'a str>) -> Observation<'a> {
        Observation {
            method,
            status,
            total: Duration::from_millis(3),
            upstream: Some(Duration::from_millis(2)),
            bytes_in: 10,
            plan,
            quota_refused: status == 429,
            attempts: 1,
            upstream_error: None,
        }
    }

    #[test]
    fn counters_survive_a_rebuild_and_labels_stay_bounded() {
        let reg = Registry::default();
        let r = reg.route("r1", Some("api1"));
        r.record(&call("GET", 200, None));
        r.record(&call("BREW", 418, Some("gold")));
        r.record(&call("POST", 429, Some("free")));
        r.sent(100);
        assert!(Arc::ptr_eq(&r, &reg.route("r1", Some("api1"))));
        let mut out = String::new();
        reg.render(&mut out);
        for line in [
            "komainu_http_requests_total{api=\"api1\",route=\"r1\",method=\"GET\",code=\"200\"} 1",
            "komainu_http_requests_total{api=\"api1\",route=\"r1\",method=\"OTHER\",code=\"4xx\"} 1",
            "komainu_http_plan_requests_total{api=\"api1\",route=\"r1\",plan=\"gold\"} 1",
            "komainu_quota_refusals_total{api=\"api1\",route=\"r1\"} 1",
            "komainu_http_response_bytes_total{api=\"api1\",route=\"r1\"} 100",
        ] {
            assert!(out.contains(line), "{line} missing from\n{out}");
        }
        for i in 0..20 {
            r.record(&call("GET", 200, Some(&format!("p{i}"))));
        }
        let plans = r.plans();
        assert!(plans.len() <= PLAN_SLOTS + 2, "{}", plans.len());
        assert_eq!(plans.iter().map(|p| p.requests).sum::<u64>(), 23);
    }
}
