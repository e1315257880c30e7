//! An API's traffic tab: calls with their 4xx and 5xx and latency percentiles over the last hour
//! (charts), by plan and by route, and the consumers (keys) that called most today.

use maud::{Markup, html};
use serde_json::Value;

use super::chart::{self, Point};
use super::seg;
use crate::Web;
use crate::page;

/// The most keys whose counts are read for the top consumers.
const KEYS_READ: usize = 200;

fn points(stats: &Value) -> Vec<Point> {
    let (from, to) = (
        stats["from"].as_u64().unwrap_or(0),
        stats["to"].as_u64().unwrap_or(0),
    );
    let step = stats["interval_ms"].as_u64().unwrap_or(60_000).max(1);
    let rows = stats["intervals"].as_array().cloned().unwrap_or_default();
    let mut out = Vec::new();
    let mut at = from;
    while at <= to && out.len() < 1_000 {
        let row = rows.iter().find(|r| r["from"].as_u64() == Some(at));
        let n = |k: &str| row.and_then(|r| r[k].as_u64()).unwrap_or(0);
        let ms = |k: &str| row.and_then(|r| r[k].as_f64());
        out.push(Point {
            calls: n("calls"),
            client_errors: n("client_errors"),
            errors: n("errors"),
            p: [ms("p50_ms"), ms("p95_ms"), ms("p99_ms")],
        });
        at += step;
    }
    out
}

fn rows(list: &Value, key: &str, label: &str) -> Markup {
    let ms = |v: &Value| v.as_f64().map_or("–".to_string(), |x| format!("{x:.1} ms"));
    html! {
        table class={"by-" (key)} {
            thead { tr { th { (label) } th { "Calls" } th { "4xx" } th { "5xx" } th { "p50" } th { "p95" } th { "p99" } } }
            tbody { @for r in list.as_array().into_iter().flatten() {
                tr { td { (r[key].as_str().filter(|s| !s.is_empty()).unwrap_or("(none)")) } td { (r["calls"]) } td { (r["client_errors"]) } td { (r["errors"]) } td { (ms(&r["p50_ms"])) } td { (ms(&r["p95_ms"])) } td { (ms(&r["p99_ms"])) } }
            } }
        }
    }
}

/// The keys of the API that called most today, with their counts.
async fn top_keys(web: &Web, id: &str) -> Vec<(String, String, u64)> {
    let keys = web
        .0
        .api
        .list(&format!("/api/apis/{}/apikeys", seg(id)))
        .await;
    let mut out = Vec::new();
    for k in keys.iter().take(KEYS_READ) {
        let cid = k["clientId"].as_str().unwrap_or_default();
        let q = web
            .0
            .api
            .get(&format!("/api/apikeys/{}/quotas", seg(cid)))
            .await
            .body;
        let today = q["currentCallsPerDay"].as_u64().unwrap_or(0);
        if today > 0 {
            out.push((
                cid.to_string(),
                k["clientName"].as_str().unwrap_or_default().to_string(),
                today,
            ));
        }
    }
    out.sort_by_key(|k| std::cmp::Reverse(k.2));
    out.truncate(10);
    out
}

pub(crate) async fn section(web: &Web, id: &str) -> Markup {
    let stats = web
        .0
        .api
        .get(&format!("/api/apis/{}/stats", seg(id)))
        .await
        .body;
    let points = points(&stats);
    let total = &stats["total"];
    let top = top_keys(web, id).await;
    html! {
        h2 { "Last hour" }
        p class="traffic-total" {
            strong { (page::thousands(total["calls"].as_u64().unwrap_or(0))) } " calls, "
            (total["client_errors"]) " client errors (4xx), " (total["errors"]) " server errors (5xx)"
        }
        figure { (chart::calls(&points)) figcaption { "Calls per minute; amber: 4xx and 5xx, red: 5xx." } }
        figure { (chart::latency(&points)) figcaption { "Latency per minute: p50 (green), p95 (amber), p99 (red)." } }
        h2 { "By plan" } (rows(&stats["plans"], "plan", "Plan"))
        h2 { "By route" } (rows(&stats["routes"], "route", "Route"))
        h2 { "Top consumers today" }
        @if top.is_empty() { p { "No key called today." } } @else {
            table class="top-keys" {
                thead { tr { th { "Key" } th { "Name" } th { "Calls today" } } }
                tbody { @for (cid, name, n) in &top { tr { td { a href={"/ui/entities/apikeys/" (seg(cid))} { code { (cid) } } } td { (name) } td { (page::thousands(*n)) } } } }
            }
        }
    }
}
