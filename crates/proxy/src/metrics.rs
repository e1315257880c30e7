//! Proxy counters, atomics only, rendered as Prometheus text on scrape.

use komainu_observe::prom::{self, Kind};
use std::fmt::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// Which connection timer fired.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Timeout {
    /// No request head in time (the first, or between two on a kept-alive connection).
    Idle,
    /// A request head not complete within the header timeout.
    Header,
    /// A request body silent for longer than the body timeout.
    Body,
}

impl Timeout {
    const ALL: [Timeout; 3] = [Timeout::Idle, Timeout::Header, Timeout::Body];

    fn label(self) -> &'static str {
        match self {
            Timeout::Idle => "idle",
            Timeout::Header => "header",
            Timeout::Body => "body",
        }
    }

    pub(crate) fn describe(self) -> &'static str {
        match self {
            Timeout::Idle => "idle timeout",
            Timeout::Header => "request head not received in time",
            Timeout::Body => "request body silent for too long",
        }
    }
}

/// Why the gateway refused a request before routing it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// Bad framing (bare LF, Transfer-Encoding, ...): refused by the parser.
    Framing,
    Path,
    Host,
    UriTooLong,
    BodyTooLarge,
    /// The client's request body failed (aborted upload, malformed chunks).
    BodyAborted,
}

impl Refusal {
    const ALL: [Refusal; 6] = [
        Refusal::Framing,
        Refusal::Path,
        Refusal::Host,
        Refusal::UriTooLong,
        Refusal::BodyTooLarge,
        Refusal::BodyAborted,
    ];

    fn label(self) -> &'static str {
        match self {
            Refusal::Framing => "framing",
            Refusal::Path => "path",
            Refusal::Host => "host",
            Refusal::UriTooLong => "uri_too_long",
            Refusal::BodyTooLarge => "body_too_large",
            Refusal::BodyAborted => "body_aborted",
        }
    }
}

/// Connection-level counters, shared with every connection's guard.
#[derive(Default)]
pub struct ListenerMetrics {
    open: AtomicU64,
    accepted: AtomicU64,
    over_capacity: AtomicU64,
    timeouts: [AtomicU64; 3],
    refused: [AtomicU64; 6],
    tls_handshakes: AtomicU64,
    tls_failures: AtomicU64,
    websockets: AtomicU64,
    websockets_open: AtomicU64,
    /// Open connections by listener (http, https) and protocol (HTTP/1.1, HTTP/2).
    open_by: [AtomicU64; 4],
}

/// Counts a connection under its listener and protocol until dropped.
pub(crate) struct OpenProtocol(Arc<ListenerMetrics>, usize);

impl Drop for OpenProtocol {
    fn drop(&mut self) {
        self.0.open_by[self.1].fetch_sub(1, Ordering::Relaxed);
    }
}

/// Counts a relayed WebSocket open until dropped.
pub(crate) struct OpenWebsocket(Arc<ListenerMetrics>);

impl Drop for OpenWebsocket {
    fn drop(&mut self) {
        self.0.websockets_open.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Counts a connection open until dropped.
pub(crate) struct OpenConnection(Arc<ListenerMetrics>);

impl Drop for OpenConnection {
    fn drop(&mut self) {
        self.0.open.fetch_sub(1, Ordering::Relaxed);
    }
}

impl ListenerMetrics {
    pub(crate) fn connection(self: &Arc<Self>) -> OpenConnection {
        self.accepted.fetch_add(1, Ordering::Relaxed);
        self.open.fetch_add(1, Ordering::Relaxed);
        OpenConnection(self.clone())
    }

    /// Once the connection's protocol is known.
    pub(crate) fn speaking(self: &Arc<Self>, tls: bool, h2: bool) -> OpenProtocol {
        let i = (tls as usize) * 2 + h2 as usize;
        self.open_by[i].fetch_add(1, Ordering::Relaxed);
        OpenProtocol(self.clone(), i)
    }

    pub(crate) fn over_capacity(&self) {
        self.over_capacity.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn timed_out(&self, t: Timeout) {
        self.timeouts[t as usize].fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn refused(&self, r: Refusal) {
        self.refused[r as usize].fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn tls_handshake(&self) {
        self.tls_handshakes.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn tls_failed(&self) {
        self.tls_failures.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn websocket(self: &Arc<Self>) -> OpenWebsocket {
        self.websockets.fetch_add(1, Ordering::Relaxed);
        self.websockets_open.fetch_add(1, Ordering::Relaxed);
        OpenWebsocket(self.clone())
    }

    pub(crate) fn framing_refused(&self) {
        self.refused(Refusal::Framing);
    }
}

#[derive(Default)]
pub struct ProxyMetrics {
    /// Responses by status class: 1xx..5xx.
    responses: [AtomicU64; 5],
    not_found: AtomicU64,
    upstream_errors: AtomicU64,
    pub(crate) listener: Arc<ListenerMetrics>,
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

    pub(crate) fn refused(&self, r: Refusal) {
        self.listener.refused(r);
    }

    pub fn render(&self, out: &mut String) {
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        prom::family(
            out,
            "komainu_proxy_responses_total",
            Kind::Counter,
            "Proxied responses by status class.",
        );
        for (i, n) in self.responses.iter().enumerate() {
            let _ = writeln!(
                out,
                "komainu_proxy_responses_total{{code=\"{}xx\"}} {}",
                i + 1,
                load(n)
            );
        }
        prom::family(
            out,
            "komainu_proxy_route_not_found_total",
            Kind::Counter,
            "Requests no route matched.",
        );
        let _ = writeln!(
            out,
            "komainu_proxy_route_not_found_total {}",
            load(&self.not_found)
        );
        prom::family(
            out,
            "komainu_proxy_upstream_errors_total",
            Kind::Counter,
            "Backend calls that failed.",
        );
        let _ = writeln!(
            out,
            "komainu_proxy_upstream_errors_total {}",
            load(&self.upstream_errors)
        );
        let l = &self.listener;
        prom::family(
            out,
            "komainu_proxy_connections_open",
            Kind::Gauge,
            "Client connections open now.",
        );
        let _ = writeln!(out, "komainu_proxy_connections_open {}", load(&l.open));
        prom::family(
            out,
            "komainu_proxy_connections_open_by_protocol",
            Kind::Gauge,
            "Client connections open now, by listener and protocol.",
        );
        for (i, n) in l.open_by.iter().enumerate() {
            let _ = writeln!(
                out,
                "komainu_proxy_connections_open_by_protocol{{listener=\"{}\",protocol=\"{}\"}} {}",
                if i >= 2 { "https" } else { "http" },
                if i % 2 == 1 { "http2" } else { "http1" },
                load(n)
            );
        }
        prom::family(
            out,
            "komainu_proxy_connections_total",
            Kind::Counter,
            "Client connections accepted.",
        );
        let _ = writeln!(out, "komainu_proxy_connections_total {}", load(&l.accepted));
        prom::family(
            out,
            "komainu_proxy_connections_refused_total",
            Kind::Counter,
            "Client connections refused because --max-connections were open.",
        );
        let _ = writeln!(
            out,
            "komainu_proxy_connections_refused_total {}",
            load(&l.over_capacity)
        );
        prom::family(
            out,
            "komainu_proxy_tls_handshakes_total",
            Kind::Counter,
            "TLS handshakes with clients, by outcome.",
        );
        let _ = writeln!(
            out,
            "komainu_proxy_tls_handshakes_total{{outcome=\"ok\"}} {}",
            load(&l.tls_handshakes)
        );
        let _ = writeln!(
            out,
            "komainu_proxy_tls_handshakes_total{{outcome=\"failed\"}} {}",
            load(&l.tls_failures)
        );
        prom::family(
            out,
            "komainu_proxy_websockets_total",
            Kind::Counter,
            "WebSocket upgrades relayed to a backend.",
        );
        let _ = writeln!(
            out,
            "komainu_proxy_websockets_total {}",
            load(&l.websockets)
        );
        prom::family(
            out,
            "komainu_proxy_websockets_open",
            Kind::Gauge,
            "WebSocket relays open now.",
        );
        let _ = writeln!(
            out,
            "komainu_proxy_websockets_open {}",
            load(&l.websockets_open)
        );
        prom::family(
            out,
            "komainu_proxy_client_timeouts_total",
            Kind::Counter,
            "Client connections closed by a timer, by phase (idle, header, body).",
        );
        for t in Timeout::ALL {
            let _ = writeln!(
                out,
                "komainu_proxy_client_timeouts_total{{phase=\"{}\"}} {}",
                t.label(),
                load(&l.timeouts[t as usize])
            );
        }
        prom::family(
            out,
            "komainu_proxy_requests_refused_total",
            Kind::Counter,
            "Requests refused before routing, by reason.",
        );
        for r in Refusal::ALL {
            let _ = writeln!(
                out,
                "komainu_proxy_requests_refused_total{{reason=\"{}\"}} {}",
                r.label(),
                load(&l.refused[r as usize])
            );
        }
    }
}

/// A per-target gauge: name, help, and its value for a target.
type TargetGauge = (
    &'static str,
    &'static str,
    fn(&komainu_upstream::Target) -> u64,
);

/// Per-target gauges of the routes that served at least once: health, circuit and calls in
/// flight (a route's targets are listed once even when it is on several hosts).
pub(crate) fn render_targets(out: &mut String, routes: &[Arc<komainu_runtime::CompiledRoute>]) {
    let gauges: [TargetGauge; 3] = [
        (
            "komainu_upstream_target_healthy",
            "1 when the target's last health check passed (always 1 without health checks).",
            |t| t.is_healthy() as u64,
        ),
        (
            "komainu_upstream_target_circuit_open",
            "1 while the target's circuit breaker is open.",
            |t| t.circuit_open() as u64,
        ),
        (
            "komainu_upstream_target_in_flight",
            "Calls in flight to the target.",
            |t| t.in_flight() as u64,
        ),
    ];
    let served: Vec<_> = routes.iter().filter(|r| r.stats.served()).collect();
    for (name, help, value) in gauges {
        prom::family(out, name, Kind::Gauge, help);
        for r in &served {
            for t in r.backend.targets() {
                let _ = writeln!(
                    out,
                    "{name}{{route=\"{}\",target=\"{}\"}} {}",
                    r.identity.id.replace('"', "\\\""),
                    t.address(),
                    value(t)
                );
            }
        }
    }
}
