//! `GET /api/apis/:id/stats?from&to&interval`: an API's calls, errors and latency percentiles
//! from the gateway's in-memory windows (the last 24 hours), in total, per interval, by route and
//! by plan. Times are milliseconds since the epoch; the default range is the last hour.

use std::collections::HashMap;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use komainu_observe::analytics;
use serde_json::Value;

use crate::Admin;
use crate::error::{ApiError, ApiResult};

const HOUR_MS: u64 = 3_600_000;

fn param(q: &HashMap<String, String>, name: &str) -> ApiResult<Option<u64>> {
    match q.get(name) {
        None => Ok(None),
        Some(v) => v.parse().map(Some).map_err(|_| {
            ApiError::bad_request(format!(
                "{name}: expected milliseconds since the epoch (or, for interval, a duration in ms), got \"{v}\""
            ))
        }),
    }
}

/// `GET /api/stats?from&to`: every API's totals over the range (default: the last hour).
pub(crate) async fn all_stats(
    State(admin): State<Admin>,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<Json<Value>> {
    let analytics = analytics_of(&admin)?;
    let (from, to) = range(&q)?;
    Ok(Json(analytics.by_api(from, to)))
}

fn analytics_of(admin: &Admin) -> ApiResult<&komainu_observe::Analytics> {
    admin.analytics.as_deref().ok_or_else(|| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "analytics are kept by the gateway process: not available here",
        )
    })
}

/// The query's `from..to` (milliseconds since the epoch), the last hour by default.
fn range(q: &HashMap<String, String>) -> ApiResult<(u64, u64)> {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    let to = param(q, "to")?.unwrap_or(now);
    let from = param(q, "from")?.unwrap_or(to.saturating_sub(HOUR_MS));
    if from > to {
        return Err(ApiError::bad_request("from: must not be after to"));
    }
    Ok((from, to))
}

pub(crate) async fn api_stats(
    State(admin): State<Admin>,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<Json<Value>> {
    let analytics = analytics_of(&admin)?;
    crate::management::api(&admin, &id).await?;
    let (from, to) = range(&q)?;
    let interval = param(&q, "interval")?.unwrap_or(((to - from) / 60).max(60_000));
    if interval == 0 {
        return Err(ApiError::bad_request("interval: must be positive"));
    }
    let query = analytics::Query { from, to, interval };
    Ok(Json(analytics.stats(&id, &query)))
}
