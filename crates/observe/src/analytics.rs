//! Per-API analytics for the last 24 hours, from memory: every few seconds the route counters'
//! growth since the last look is added to a per-minute window (by API, route and plan). Nothing
//! is written on the request path and no external database is needed.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

use crate::histogram::Counts;
use crate::route_stats::Registry;

const MINUTE_MS: u64 = 60_000;
/// How long windows are kept: a day of minutes.
const KEPT_MINUTES: u64 = 24 * 60;

type Key = (Arc<str>, Arc<str>, Option<Arc<str>>);

#[derive(Clone, Copy, Default)]
struct Row {
    calls: u64,
    /// 5xx answers.
    errors: u64,
    /// 4xx answers.
    client_errors: u64,
    latency: Counts,
}

impl Row {
    fn add(&mut self, other: &Row) {
        self.calls += other.calls;
        self.errors += other.errors;
        self.client_errors += other.client_errors;
        self.latency.add(&other.latency);
    }

    fn json(&self) -> Value {
        let q = |x| self.latency.quantile_ms(x);
        json!({
            "calls": self.calls,
            "errors": self.errors,
            "client_errors": self.client_errors,
            "p50_ms": q(0.5),
            "p95_ms": q(0.95),
            "p99_ms": q(0.99),
        })
    }
}

#[derive(Default)]
struct State {
    /// What each (route, plan) counter read at the last harvest.
    last: HashMap<(Arc<str>, Option<Arc<str>>), Row>,
    /// Minute (ms since the epoch / 60,000) → rows that moved in it.
    minutes: BTreeMap<u64, HashMap<Key, Row>>,
}

pub struct Analytics {
    registry: Arc<Registry>,
    state: Mutex<State>,
}

/// A query of [`Analytics::stats`]: milliseconds since the epoch.
pub struct Query {
    pub from: u64,
    pub to: u64,
    pub interval: u64,
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or_default()
}

impl Analytics {
    pub fn new(registry: Arc<Registry>) -> Arc<Self> {
        Arc::new(Analytics {
            registry,
            state: Mutex::new(State::default()),
        })
    }

    /// Harvests every 10 seconds, for as long as the analytics live.
    pub fn spawn(self: &Arc<Self>) {
        let weak = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(10));
            loop {
                tick.tick().await;
                let Some(a) = weak.upgrade() else { return };
                a.harvest(now_ms());
            }
        });
    }

    /// Adds what every route counter grew by since the last harvest to the window of `now`.
    pub fn harvest(&self, now: u64) {
        let minute = now / MINUTE_MS;
        let routes = self.registry.active();
        let mut state = self.state.lock().expect("analytics");
        let State { last, minutes } = &mut *state;
        for route in routes {
            let Some(api) = &route.api else { continue };
            for p in route.plans() {
                let now_row = Row {
                    calls: p.requests,
                    errors: p.errors,
                    client_errors: p.client_errors,
                    latency: p.latency,
                };
                let before = last
                    .insert((route.route.clone(), p.plan.clone()), now_row)
                    .unwrap_or_default();
                let delta = Row {
                    calls: now_row.calls.saturating_sub(before.calls),
                    errors: now_row.errors.saturating_sub(before.errors),
                    client_errors: now_row.client_errors.saturating_sub(before.client_errors),
                    latency: now_row.latency.since(&before.latency),
                };
                if delta.calls > 0 {
                    minutes
                        .entry(minute)
                        .or_default()
                        .entry((api.clone(), route.route.clone(), p.plan))
                        .or_default()
                        .add(&delta);
                }
            }
        }
        let oldest = minute.saturating_sub(KEPT_MINUTES);
        *minutes = minutes.split_off(&oldest);
    }

    /// Calls, errors and latency percentiles of every API that was called in `from..=to`, by API
    /// (the dashboard's one read, whatever the number of APIs).
    pub fn by_api(&self, from: u64, to: u64) -> Value {
        self.harvest(now_ms());
        let state = self.state.lock().expect("analytics");
        let mut apis: BTreeMap<&str, Row> = BTreeMap::new();
        for (_, rows) in state.minutes.range(from / MINUTE_MS..=to / MINUTE_MS) {
            for ((api, _, _), row) in rows {
                apis.entry(api).or_default().add(row);
            }
        }
        let apis: serde_json::Map<String, Value> = apis
            .into_iter()
            .map(|(api, row)| (api.to_string(), row.json()))
            .collect();
        json!({"from": from, "to": to, "apis": apis})
    }

    /// Calls, errors and latency percentiles of `api` over the query's range: in total, per
    /// interval, by route and by plan. Harvests first, so the last seconds are included.
    pub fn stats(&self, api: &str, q: &Query) -> Value {
        self.harvest(now_ms());
        let state = self.state.lock().expect("analytics");
        let interval = q.interval.max(MINUTE_MS);
        let mut total = Row::default();
        let mut intervals: BTreeMap<u64, Row> = BTreeMap::new();
        let mut routes: BTreeMap<&str, Row> = BTreeMap::new();
        let mut plans: BTreeMap<&str, Row> = BTreeMap::new();
        let first = q.from / MINUTE_MS;
        let last = q.to / MINUTE_MS;
        for (minute, rows) in state.minutes.range(first..=last) {
            let start = q.from + (minute * MINUTE_MS).saturating_sub(q.from) / interval * interval;
            for ((a, route, plan), row) in rows {
                if &**a != api {
                    continue;
                }
                total.add(row);
                intervals.entry(start).or_default().add(row);
                routes.entry(route).or_default().add(row);
                plans
                    .entry(plan.as_deref().unwrap_or(""))
                    .or_default()
                    .add(row);
            }
        }
        let named = |m: BTreeMap<&str, Row>, key: &str| -> Vec<Value> {
            m.into_iter()
                .map(|(k, r)| {
                    let mut v = r.json();
                    v[key] = json!(k);
                    v
                })
                .collect()
        };
        json!({
            "api": api,
            "from": q.from,
            "to": q.to,
            "interval_ms": interval,
            "total": total.json(),
            "intervals": intervals.into_iter().map(|(from, r)| {
                let mut v = r.json();
                v["from"] = json!(from);
                v
            }).collect::<Vec<_>>(),
            "routes": named(routes, "route"),
            "plans": named(plans, "plan"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::route_stats::Observation;

    #[test]
    fn windows_hold_what_moved_and_forget_after_a_day() {
        let reg = Arc::new(Registry::default());
        let a = Analytics::new(reg.clone());
        let r = reg.route("r", Some("api"));
        let call = |ms| Observation {
            method: "GET",
            status: 200,
            total: Duration::from_millis(ms),
            upstream: None,
            bytes_in: 0,
            plan: Some("gold"),
            quota_refused: false,
            attempts: 0,
            upstream_error: None,
        };
        let t0 = (now_ms() / MINUTE_MS - 10) * MINUTE_MS;
        r.record(&call(3));
        a.harvest(t0);
        r.record(&call(30));
        a.harvest(t0 + MINUTE_MS);
        a.harvest(t0 + 2 * MINUTE_MS);
        let s = a.stats(
            "api",
            &Query {
                from: t0,
                to: t0 + 3 * MINUTE_MS,
                interval: MINUTE_MS,
            },
        );
        assert_eq!(s["total"]["calls"], 2, "{s}");
        assert_eq!(s["intervals"].as_array().unwrap().len(), 2, "{s}");
        assert_eq!(s["plans"][0]["plan"], "gold");
        let p99 = s["total"]["p99_ms"].as_f64().unwrap();
        assert!((25.0..=50.0).contains(&p99), "{p99}");
        a.harvest(t0 + (KEPT_MINUTES + 5) * MINUTE_MS);
        assert!(a.state.lock().unwrap().minutes.is_empty());
    }
}
