//! Proxy counters, atomics only, rendered as Prometheus text on scrape.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Default)]
pub struct ProxyMetrics {
    /// Responses by status class: 1xx..5xx.
    responses: [AtomicU64; 5],
    not_found: AtomicU64,
    upstream_errors: AtomicU64,
}

impl ProxyMetrics {
    pub(crate) fn response(&self, status: u16) {
        let class = (status / 100).clamp(1, 5) as usize - 1;
        self.responses[class].fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn not_found(&self) {
        self.not_found.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn upstream_error(&self) {
        self.upstream_errors.fetch_add(1, Ordering::Relaxed);
    }

    pub fn render(&self, out: &mut String) {
        let _ = writeln!(
            out,
            "# HELP komainu_proxy_responses_total Proxied responses by status class."
        );
        let _ = writeln!(out, "# TYPE komainu_proxy_responses_total counter");
        for (i, n) in self.responses.iter().enumerate() {
            let _ = writeln!(
                out,
                "komainu_proxy_responses_total{{code=\"{}xx\"}} {}",
                i + 1,
                n.load(Ordering::Relaxed)
            );
        }
        let _ = writeln!(
            out,
            "# HELP komainu_proxy_route_not_found_total Requests no route matched."
        );
        let _ = writeln!(out, "# TYPE komainu_proxy_route_not_found_total counter");
        let _ = writeln!(
            out,
            "komainu_proxy_route_not_found_total {}",
            self.not_found.load(Ordering::Relaxed)
        );
        let _ = writeln!(
            out,
            "# HELP komainu_proxy_upstream_errors_total Backend calls that failed."
        );
        let _ = writeln!(out, "# TYPE komainu_proxy_upstream_errors_total counter");
        let _ = writeln!(
            out,
            "komainu_proxy_upstream_errors_total {}",
            self.upstream_errors.load(Ordering::Relaxed)
        );
    }
}
