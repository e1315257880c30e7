//! Active health checks: every `interval`, each target answers a GET on the check's `url` within
//! `timeout`. A target failing it leaves the rotation; passing again brings it back. The task ends
//! when its backend is dropped (its configuration changed or went away).

use std::sync::Weak;
use std::time::{Duration, Instant};

use http::{Request, StatusCode, header};
use komainu_http::empty;
use komainu_model::HealthCheck;

use crate::Backend;
use crate::connect;
use crate::target::Target;

pub(crate) fn spawn(backend: Weak<Backend>, check: HealthCheck) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_millis(check.interval.max(100)));
        loop {
            tick.tick().await;
            let Some(backend) = backend.upgrade() else {
                return;
            };
            for target in backend.targets() {
                let healthy = probe(target, &check).await;
                if healthy != target.is_healthy() {
                    tracing::warn!(target = %target.connect_to, healthy, "target health changed");
                }
                target
                    .healthy
                    .store(healthy, std::sync::atomic::Ordering::Relaxed);
            }
        }
    });
}

fn passes(status: StatusCode, check: &HealthCheck) -> bool {
    let s = status.as_u16();
    if check.unhealthy_statuses.contains(&s) {
        return false;
    }
    if check.healthy_statuses.is_empty() {
        status.is_success()
    } else {
        check.healthy_statuses.contains(&s)
    }
}

async fn probe(target: &Target, check: &HealthCheck) -> bool {
    let path = match check.url.find("://") {
        // A full URL: keep its path and query.
        Some(i) => check.url[i + 3..]
            .find('/')
            .map_or("/", |p| &check.url[i + 3 + p..])
            .to_string(),
        None if check.url.starts_with('/') => check.url.clone(),
        None => format!("/{}", check.url),
    };
    let timeout = Duration::from_millis(check.timeout);
    let call = async {
        let until = Instant::now() + timeout;
        let mut sender = connect::open(target, until, "health check timeout")
            .await
            .ok()?;
        let req = Request::get(path)
            .header(header::HOST, target.hostname())
            .body(empty())
            .ok()?;
        sender.try_send_request(req).await.ok().map(|r| r.status())
    };
    match tokio::time::timeout(timeout, call).await {
        Ok(Some(status)) => passes(status, check),
        _ => false,
    }
}
