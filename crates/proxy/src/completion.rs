//! What a request leaves behind once its response has been sent: the response bytes counted, the
//! chain's log phase, the access log line, the gateway event, the trace span and the `debug_flow`
//! report. They wait for the response body's end ([`Finish`]), because only then are the bytes
//! sent (and a captured response body) known.

use std::net::IpAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::{HeaderValue, Method, Response};
use hyper::body::{Body as HttpBody, Frame, SizeHint};
use komainu_http::{BoxError, Upload};
use komainu_keys::CompiledKey;
use komainu_observe::events::Event;
use komainu_observe::trace::SpanRecord;
use komainu_observe::{Events, RouteStats, TraceContext, Tracer};
use komainu_plugins::{Body, Chain, Done, RequestCtx, RouteIdentity, Step};
use komainu_upstream::Target;
use opentelemetry::KeyValue;
use serde::Serialize;
use serde_json::{Value, json};
use std::io::Write;

use crate::access_log::{AccessLog, redact_query};

/// Where finished requests are reported, from the command line.
#[derive(Default)]
pub struct Sinks {
    pub access_log: Option<AccessLog>,
    pub events: Option<Arc<Events>>,
    pub tracer: Option<Arc<Tracer>>,
    /// The most of each body a `capture` API's events hold.
    pub capture_max: usize,
}

impl Sinks {
    /// Whether requests must keep what reports and events show (paths, hosts, targets).
    pub(crate) fn detailed(&self) -> bool {
        self.access_log.is_some() || self.events.is_some()
    }
}

/// Everything known about a request by the time its response head is ready.
#[derive(Default)]
pub(crate) struct Record {
    pub request_id: u64,
    pub started_ms: i64,
    pub method: Option<Method>,
    pub http2: bool,
    pub https: bool,
    pub client_ip: Option<IpAddr>,
    pub user_agent: Option<HeaderValue>,
    pub host: Option<String>,
    /// The canonical path and the query as logged (credentials redacted).
    pub logged_path: Option<String>,
    pub has_query: bool,
    pub status: u16,
    pub total: Duration,
    pub route: Option<Arc<RouteIdentity>>,
    pub route_name: Option<Arc<str>>,
    pub stats: Option<Arc<RouteStats>>,
    pub target: Option<Arc<Target>>,
    /// The path and query the backend was sent.
    pub upstream_uri: Option<http::Uri>,
    /// The route's own credential parameters (`Chain::credential_params`), redacted in logs.
    pub credential_params: Option<Arc<[Box<str>]>>,
    pub upstream: Option<Duration>,
    pub attempts: u32,
    /// The Otoroshi cause id of a gateway error.
    pub error: Option<&'static str>,
    /// What exactly failed, when a backend call did (DNS, refused, TLS, reset, timeout phase).
    pub error_detail: Option<String>,
    pub upstream_error: Option<usize>,
    pub upload: Option<Upload>,
    pub apikey: Option<Arc<CompiledKey>>,
    pub plan: Option<Arc<str>>,
    pub report: Option<Vec<Step>>,
    pub debug_flow: bool,
    pub capture: bool,
    pub trace: Option<TraceContext>,
    /// The route's own tracer (W3CTracing), when it traces and the gateway does not.
    pub tracer: Option<Arc<Tracer>>,
}

impl Record {
    /// Whether this request's span is exported.
    pub(crate) fn sampled(&self) -> bool {
        self.trace.as_ref().is_some_and(|t| t.sampled)
    }

    fn bytes_in(&self) -> u64 {
        self.upload.as_ref().map_or(0, Upload::bytes)
    }

    fn target_address(&self) -> Option<&str> {
        self.target.as_ref().map(|t| t.address())
    }

    fn access_line(&self, bytes_out: u64) -> Value {
        json!({
            "@timestamp": self.started_ms,
            "request_id": self.request_id.to_string(),
            "client_ip": self.client_ip.map(|ip| ip.to_string()),
            "method": self.method.as_ref().map(Method::as_str),
            "host": self.host,
            "path": self.logged_path,
            "query": self.has_query,
            "status": self.status,
            "duration_ms": self.total.as_secs_f64() * 1000.0,
            "upstream_ms": self.upstream.map(|d| d.as_secs_f64() * 1000.0),
            "bytes_in": self.bytes_in(),
            "bytes_out": bytes_out,
            "user_agent": self.user_agent.as_ref().and_then(|v| v.to_str().ok()),
            "route_id": self.route.as_ref().map(|r| r.id.as_str()),
            "api_id": self.route.as_ref().and_then(|r| r.api_id.as_deref()),
            "target": self.target_address(),
            "error": self.error,
            "error_detail": self.error_detail,
        })
    }

    fn scheme(&self) -> &'static str {
        if self.https { "https" } else { "http" }
    }

    fn span(&self, end: SystemTime) -> SpanRecord {
        let start = UNIX_EPOCH + Duration::from_millis(self.started_ms.max(0) as u64);
        let method = self.method.as_ref().map_or("GET", Method::as_str);
        let mut attributes = vec![
            KeyValue::new("http.request.method", method.to_string()),
            KeyValue::new("http.response.status_code", self.status as i64),
            KeyValue::new("url.scheme", self.scheme()),
            KeyValue::new("url.path", self.logged_path.clone().unwrap_or_default()),
            KeyValue::new("server.address", self.host.clone().unwrap_or_default()),
            KeyValue::new(
                "network.protocol.version",
                if self.http2 { "2" } else { "1.1" },
            ),
            KeyValue::new("otoroshi.request.id", self.request_id.to_string()),
        ];
        if let Some(ip) = self.client_ip {
            attributes.push(KeyValue::new("client.address", ip.to_string()));
        }
        if let Some(r) = &self.route {
            attributes.push(KeyValue::new("komainu.route.id", r.id.clone()));
            if let Some(a) = &r.api_id {
                attributes.push(KeyValue::new("komainu.api.id", a.clone()));
            }
        }
        if let Some(t) = self.target_address() {
            attributes.push(KeyValue::new("komainu.target", t.to_string()));
        }
        if let Some(ua) = self.user_agent.as_ref().and_then(|v| v.to_str().ok()) {
            attributes.push(KeyValue::new("user_agent.original", ua.to_string()));
        }
        SpanRecord {
            name: method.to_string(),
            start,
            end,
            attributes,
            error: self.error.map(str::to_string),
        }
    }
}

#[derive(Serialize)]
struct Captured<'a> {
    body: std::borrow::Cow<'a, str>,
    size: u64,
    truncated: bool,
}

#[derive(Serialize)]
struct Capture<'a> {
    max: usize,
    request: Option<Captured<'a>>,
    response: Option<Captured<'a>>,
}

/// JSON written by hand for the one document made per request: keys are literals written as they
/// are, numbers go through `itoa`, and only the strings that come from the request are escaped
/// (serde would escape every key too: most of an event's cost).
struct Json<'a>(&'a mut Vec<u8>);

impl Json<'_> {
    /// A literal: inlined, its length is a constant and the copy a few moves.
    #[inline(always)]
    fn raw(&mut self, s: &str) {
        self.0.extend_from_slice(s.as_bytes());
    }

    /// `s` as a JSON string's contents.
    #[inline(always)]
    fn escaped(&mut self, s: &str) {
        /// The bytes a JSON string cannot hold as they are: one lookup per byte.
        const ESCAPE: [bool; 256] = {
            let mut t = [false; 256];
            let mut b = 0;
            while b < 0x20 {
                t[b] = true;
                b += 1;
            }
            t[b'"' as usize] = true;
            t[b'\\' as usize] = true;
            t
        };
        if s.bytes().any(|b| ESCAPE[b as usize]) {
            self.escaped_slowly(s);
        } else {
            self.0.extend_from_slice(s.as_bytes());
        }
    }

    #[cold]
    fn escaped_slowly(&mut self, s: &str) {
        for c in s.chars() {
            match c {
                '"' => self.raw("\\\""),
                '\\' => self.raw("\\\\"),
                c if (c as u32) < 0x20 => {
                    let _ = write!(self.0, "\\u{:04x}", c as u32);
                }
                c => {
                    let mut buf = [0u8; 4];
                    self.raw(c.encode_utf8(&mut buf));
                }
            }
        }
    }

    #[inline(always)]
    fn str(&mut self, s: &str) {
        self.0.push(b'"');
        self.escaped(s);
        self.0.push(b'"');
    }

    /// `s` as a JSON string; gives where its contents were written, for [`Json::again`].
    #[inline(always)]
    fn str_marked(&mut self, s: &str) -> std::ops::Range<usize> {
        self.0.push(b'"');
        let start = self.0.len();
        self.escaped(s);
        let end = self.0.len();
        self.0.push(b'"');
        start..end
    }

    /// Contents written earlier in this document, copied.
    #[inline]
    fn again(&mut self, written: std::ops::Range<usize>) {
        self.0.extend_from_within(written);
    }

    #[inline(always)]
    fn opt(&mut self, s: Option<&str>) {
        match s {
            Some(s) => self.str(s),
            None => self.raw("null"),
        }
    }

    #[inline]
    fn num<N: itoa::Integer>(&mut self, n: N) {
        self.0
            .extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
    }

    /// A trace id as a JSON string of lowercase hex.
    fn trace_id(&mut self, id: &[u8; 16]) {
        self.0.push(b'"');
        self.0
            .extend_from_slice(&komainu_observe::trace::hex_digits::<16, 32>(id));
        self.0.push(b'"');
    }

    /// An address as a JSON string; an IPv4 one without the formatting machinery.
    fn ip(&mut self, ip: IpAddr) {
        match ip {
            IpAddr::V4(v4) => {
                let [a, b, c, d] = v4.octets();
                self.0.push(b'"');
                self.num(a);
                for o in [b, c, d] {
                    self.0.push(b'.');
                    self.num(o);
                }
                self.0.push(b'"');
            }
            IpAddr::V6(v6) => {
                let _ = write!(self.0, "\"{v6}\"");
            }
        }
    }
}

/// A finished request is its own `GatewayEvent` (Otoroshi's field names).
impl Event for Completion {
    fn write_json(&self, out: &mut Vec<u8>) {
        let r = &self.record;
        let ms = |d: Duration| d.as_millis() as u64;
        let host = r.host.as_deref().unwrap_or("");
        let path = r.logged_path.as_deref().unwrap_or("");
        let upstream = r.upstream.unwrap_or_default();
        let route = r.route.as_deref();
        let mut j = Json(out);
        // The id and the time are written twice, as are the route's id and name, the host and
        // the path: each is formatted or escaped once, then copied.
        let mut id = itoa::Buffer::new();
        let id = id.format(r.request_id);
        let mut at = itoa::Buffer::new();
        let at = at.format(r.started_ms);
        j.raw("{\"@type\":\"GatewayEvent\",\"@id\":\"");
        j.raw(id);
        j.raw("\",\"@timestamp\":");
        j.raw(at);
        j.raw(",\"@callAt\":");
        j.raw(at);
        j.raw(",\"@product\":\"komainu\",\"@serviceId\":");
        let route_id = route.map(|x| j.str_marked(&x.id));
        if route_id.is_none() {
            j.raw("null");
        }
        j.raw(",\"@service\":");
        let route_name = r.route_name.as_deref().map(|n| j.str_marked(n));
        if route_name.is_none() {
            j.raw("null");
        }
        j.raw(",\"reqId\":\"");
        j.raw(id);
        j.raw(if r.http2 {
            "\",\"protocol\":\"HTTP/2.0\",\"to\":{\"scheme\":\""
        } else {
            "\",\"protocol\":\"HTTP/1.1\",\"to\":{\"scheme\":\""
        });
        j.raw(r.scheme());
        j.raw("\",\"host\":");
        let host = j.str_marked(host);
        j.raw(",\"uri\":");
        let path = j.str_marked(path);
        j.raw("},\"target\":{\"scheme\":");
        j.opt(
            r.target
                .as_ref()
                .map(|t| if t.is_tls() { "https" } else { "http" }),
        );
        j.raw(",\"host\":");
        j.opt(r.target_address());
        j.raw(",\"uri\":");
        match r.upstream_uri.as_ref().and_then(|u| u.path_and_query()) {
            // Credentials in the query never reach an event, as in `to.uri`.
            Some(target) => {
                j.raw("\"");
                j.escaped(target.path());
                if let Some(q) = target.query() {
                    j.raw("?");
                    let route = r.credential_params.as_deref().unwrap_or_default();
                    j.escaped(&redact_query(q, route));
                }
                j.raw("\"");
            }
            None => j.raw("null"),
        }
        j.raw("},\"url\":\"");
        j.raw(r.scheme());
        j.raw("://");
        j.again(host);
        j.again(path);
        j.raw("\",\"method\":");
        j.opt(r.method.as_ref().map(Method::as_str));
        j.raw(",\"from\":");
        match r.client_ip {
            Some(ip) => j.ip(ip),
            None => j.raw("null"),
        }
        j.raw(",\"status\":");
        j.num(r.status);
        j.raw(",\"duration\":");
        j.num(ms(r.total));
        j.raw(",\"backendDuration\":");
        j.num(ms(upstream));
        j.raw(",\"overhead\":");
        j.num(ms(r.total.saturating_sub(upstream)));
        j.raw(",\"callAttempts\":");
        j.num(r.attempts);
        j.raw(",\"data\":{\"dataIn\":");
        j.num(r.bytes_in());
        j.raw(",\"dataOut\":");
        j.num(self.bytes_out);
        j.raw("},\"route\":");
        match route_id {
            Some(id) => {
                j.raw("{\"id\":\"");
                j.again(id);
                if let Some(name) = route_name {
                    j.raw("\",\"name\":\"");
                    j.again(name);
                }
                j.raw("\"}");
            }
            None => j.raw("null"),
        }
        j.raw(",\"api\":");
        match route.and_then(|x| x.api_id.as_deref()) {
            Some(id) => {
                j.raw("{\"id\":");
                j.str(id);
                j.raw("}");
            }
            None => j.raw("null"),
        }
        j.raw(",\"plan\":");
        j.opt(r.plan.as_deref());
        j.raw(",\"identity\":");
        match &r.apikey {
            Some(k) => {
                j.raw("{\"identityType\":\"APIKEY\",\"identity\":");
                j.str(&k.client_id);
                j.raw(",\"label\":");
                j.str(
                    k.metadata()
                        .get("name")
                        .map_or(&*k.client_id, String::as_str),
                );
                j.raw("}");
            }
            None => j.raw("null"),
        }
        j.raw(",\"gwError\":");
        j.opt(r.error);
        if let Some(detail) = r.error_detail.as_deref() {
            j.raw(",\"errorDetail\":");
            j.str(detail);
        }
        j.raw(if r.error.is_some() || r.status >= 500 {
            ",\"err\":true,\"userAgent\":"
        } else {
            ",\"err\":false,\"userAgent\":"
        });
        j.opt(r.user_agent.as_ref().and_then(|v| v.to_str().ok()));
        j.raw(",\"traceId\":");
        match &r.trace {
            Some(t) => j.trace_id(&t.trace_id),
            None => j.raw("null"),
        }
        if let Some(report) = r.report.as_deref() {
            j.raw(",\"report\":");
            let _ = serde_json::to_writer(&mut *j.0, report);
        }
        if r.capture {
            fn captured(b: Option<&[u8]>, total: u64) -> Option<Captured<'_>> {
                b.map(|b| Captured {
                    body: String::from_utf8_lossy(b),
                    size: total,
                    truncated: total > b.len() as u64,
                })
            }
            let request = r.upload.as_ref().and_then(Upload::captured);
            let capture = Capture {
                max: self.sinks.capture_max,
                request: captured(request.as_deref(), r.bytes_in()),
                response: captured(self.captured.as_deref(), self.bytes_out),
            };
            j.raw(",\"capture\":");
            let _ = serde_json::to_writer(&mut *j.0, &capture);
        }
        j.raw("}");
    }
}

/// A request's pending reports, run by [`Finish`] when the response body ends.
pub(crate) struct Completion {
    pub record: Record,
    pub started: Instant,
    /// The chain's log phase, with the request's context.
    pub chain_log: Option<(Arc<Chain>, Box<RequestCtx>)>,
    pub sinks: Arc<Sinks>,
    /// Response body bytes sent, once the body has ended.
    pub bytes_out: u64,
    /// The first bytes of the response body, for a `capture` API.
    pub captured: Option<Vec<u8>>,
}

impl Completion {
    fn done(mut self, sent: u64, complete: bool, captured: Option<Vec<u8>>) {
        let r = &self.record;
        if let Some(stats) = &r.stats {
            stats.sent(sent);
        }
        if let Some((chain, ctx)) = &self.chain_log {
            chain.log(
                ctx,
                &Done {
                    status: r.status,
                    duration: self.started.elapsed(),
                    bytes_out: sent,
                    complete,
                },
            );
        }
        let sinks = &self.sinks;
        if let Some(log) = &sinks.access_log {
            log.log(r.access_line(sent));
        }
        if let (Some(tracer), Some(cx)) = (r.tracer.as_ref().or(sinks.tracer.as_ref()), &r.trace) {
            tracer.finish(cx, || r.span(SystemTime::now()));
        }
        if r.debug_flow
            && let Some(report) = &r.report
        {
            tracing::info!(
                request_id = r.request_id,
                route = r.route.as_ref().map_or("", |x| x.id.as_str()),
                status = r.status,
                duration_us = self.started.elapsed().as_micros() as u64,
                report = %json!(report),
                "debug flow"
            );
        }
        if let (Some(events), true) = (&self.sinks.events, self.record.route.is_some()) {
            self.bytes_out = sent;
            self.captured = captured;
            events.emit(&self);
        }
    }
}

/// The response, whose body runs `completion` once it has been sent (or dropped).
pub(crate) fn after_sent(resp: Response<Body>, completion: Completion) -> Response<Body> {
    let (parts, inner) = resp.into_parts();
    let capture = (completion.record.capture && completion.sinks.events.is_some())
        .then(|| Vec::with_capacity(completion.sinks.capture_max.min(8192)));
    let body = Finish {
        inner,
        pending: Some(completion),
        sent: 0,
        capture,
    };
    Response::from_parts(parts, Body::new(body))
}

/// Only counts the bytes sent, for a response whose length is not known in advance.
pub(crate) fn count_sent(resp: Response<Body>, stats: Arc<RouteStats>) -> Response<Body> {
    let (parts, inner) = resp.into_parts();
    let body = Counted {
        inner,
        stats,
        sent: 0,
    };
    Response::from_parts(parts, Body::new(body))
}

struct Finish {
    inner: Body,
    pending: Option<Completion>,
    sent: u64,
    /// The first bytes of the response body, for a `capture` API's event.
    capture: Option<Vec<u8>>,
}

impl Finish {
    fn finish(&mut self, complete: bool) {
        if let Some(c) = self.pending.take() {
            c.done(self.sent, complete, self.capture.take());
        }
    }
}

impl HttpBody for Finish {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    let len = data.len();
                    let this = &mut *self;
                    this.sent += len as u64;
                    if let (Some(buf), Some(p)) = (this.capture.as_mut(), this.pending.as_ref()) {
                        let room = p.sinks.capture_max.saturating_sub(buf.len());
                        buf.extend_from_slice(&data[..room.min(len)]);
                    }
                }
            }
            Poll::Ready(None) => self.finish(true),
            Poll::Ready(Some(Err(_))) => self.finish(false),
            Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for Finish {
    fn drop(&mut self) {
        // An empty body is never polled to its end: it was sent whole all the same.
        let complete = self.inner.is_end_stream();
        self.finish(complete);
    }
}

struct Counted {
    inner: Body,
    stats: Arc<RouteStats>,
    sent: u64,
}

impl HttpBody for Counted {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        if let Poll::Ready(Some(Ok(frame))) = &polled
            && let Some(data) = frame.data_ref()
        {
            self.sent += data.len() as u64;
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        self.stats.sent(self.sent);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn written(f: impl FnOnce(&mut Json)) -> Value {
        let mut out = Vec::new();
        f(&mut Json(&mut out));
        serde_json::from_slice(&out).expect("valid JSON")
    }

    #[test]
    fn strings_addresses_and_ids_are_valid_json() {
        let tricky = "a\"b\\c\u{1}d\ne\u{e9}\u{1f600}";
        assert_eq!(written(|j| j.str(tricky)), tricky);
        assert_eq!(written(|j| j.str("/plain/path")), "/plain/path");
        assert_eq!(
            written(|j| j.ip("192.168.0.254".parse().unwrap())),
            "192.168.0.254"
        );
        assert_eq!(written(|j| j.ip("::1".parse().unwrap())), "::1");
        assert_eq!(written(|j| j.ip("0.0.0.0".parse().unwrap())), "0.0.0.0");
        let mut id = [0u8; 16];
        id[..4].copy_from_slice(&[0x00, 0x0f, 0xa0, 0xff]);
        assert_eq!(
            written(|j| j.trace_id(&id)),
            format!("000fa0ff{}", "0".repeat(24))
        );
    }

    #[test]
    fn a_gateway_event_repeats_its_escaped_fields_exactly() {
        let record = Record {
            request_id: 917301493698381553,
            started_ms: 1796538518735,
            method: Some(Method::POST),
            client_ip: Some("203.0.113.9".parse().unwrap()),
            host: Some("shop.test".into()),
            logged_path: Some("/items/\"quoted\"\\x?page=2".into()),
            has_query: true,
            status: 502,
            route: Some(Arc::new(RouteIdentity {
                id: "r\"1".into(),
                api_id: Some("shop".into()),
                groups: Vec::new(),
            })),
            route_name: Some(Arc::from("items \u{1}")),
            error: Some("errors.proxy.error"),
            upstream_uri: Some(http::Uri::from_static("/v1/items?password=hunter2&page=2")),
            trace: Some(TraceContext {
                trace_id: [0xab; 16],
                parent: None,
                span_id: [1; 8],
                sampled: false,
            }),
            ..Record::default()
        };
        let completion = Completion {
            record,
            started: Instant::now(),
            chain_log: None,
            sinks: Arc::new(Sinks::default()),
            bytes_out: 20,
            captured: None,
        };
        let mut out = Vec::new();
        completion.write_json(&mut out);
        let e: Value = serde_json::from_slice(&out).expect("valid JSON");
        assert_eq!(e["@id"], "917301493698381553");
        assert_eq!(e["reqId"], e["@id"]);
        assert_eq!(e["@timestamp"], 1796538518735u64);
        assert_eq!(e["@callAt"], e["@timestamp"]);
        assert_eq!(e["@serviceId"], "r\"1");
        assert_eq!(e["route"]["id"], "r\"1");
        assert_eq!(e["@service"], "items \u{1}");
        assert_eq!(e["route"]["name"], "items \u{1}");
        assert_eq!(e["to"]["uri"], "/items/\"quoted\"\\x?page=2");
        assert_eq!(e["url"], "http://shop.test/items/\"quoted\"\\x?page=2");
        assert_eq!(e["api"]["id"], "shop");
        assert_eq!(e["from"], "203.0.113.9");
        assert_eq!(
            (e["status"].as_u64(), e["err"].as_bool()),
            (Some(502), Some(true))
        );
        assert_eq!(e["gwError"], "errors.proxy.error");
        assert_eq!(e["data"]["dataOut"], 20);
        assert_eq!(e["traceId"], "ab".repeat(16));
        assert_eq!(e["target"]["uri"], "/v1/items?password=REDACTED&page=2");
        assert!(e["target"]["host"].is_null() && e["identity"].is_null());
    }
}
