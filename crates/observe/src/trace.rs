//! W3C trace context (`traceparent`, `tracestate`) and spans exported over OTLP/HTTP.
//!
//! Every traced request gets a span id of its own: the upstream receives a `traceparent` naming
//! it as the parent, continuing the client's trace when it sent one. Sampling follows the
//! client's flag when it sent a trace context, else `--trace-sampling`; only sampled requests
//! build an OpenTelemetry span (at the end of the request, from what the proxy recorded), so an
//! unsampled request costs a header parse and a header write.

use std::time::SystemTime;

use opentelemetry::trace::{
    SpanContext, SpanId, SpanKind, Status, TraceContextExt, TraceFlags, TraceId, TraceState,
    Tracer as _, TracerProvider as _,
};
use opentelemetry::{Context, KeyValue};
use opentelemetry_otlp::WithExportConfig;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::{SdkTracer, SdkTracerProvider};

/// One request's place in a trace.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TraceContext {
    pub trace_id: [u8; 16],
    /// The client's span, when it sent a `traceparent`.
    pub parent: Option<[u8; 8]>,
    /// The gateway's span for this request: the parent the upstream sees.
    pub span_id: [u8; 8],
    pub sampled: bool,
}

fn hex<const N: usize>(s: &str) -> Option<[u8; N]> {
    if s.len() != 2 * N
        || !s
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return None;
    }
    let mut out = [0u8; N];
    for (i, o) in out.iter_mut().enumerate() {
        *o = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(out)
}

/// `traceparent` (W3C Trace Context level 1): `version-traceid-parentid-flags`, lowercase hex;
/// all-zero ids and version `ff` are invalid. Later versions may append fields, which are ignored.
pub fn parse_traceparent(v: &str) -> Option<([u8; 16], [u8; 8], bool)> {
    let mut parts = v.trim().split('-');
    let version: [u8; 1] = hex(parts.next()?)?;
    let trace: [u8; 16] = hex(parts.next()?)?;
    let parent: [u8; 8] = hex(parts.next()?)?;
    let flags: [u8; 1] = hex(parts.next()?)?;
    if version[0] == 0xff || (version[0] == 0 && parts.next().is_some()) {
        return None;
    }
    if trace == [0; 16] || parent == [0; 8] {
        return None;
    }
    Some((trace, parent, flags[0] & 1 == 1))
}

impl TraceContext {
    /// The `traceparent` the upstream receives: this request's span as the parent.
    pub fn traceparent(&self) -> [u8; 55] {
        let mut out = *b"00-________________________________-________________-00";
        out[3..35].copy_from_slice(&hex_digits::<16, 32>(&self.trace_id));
        out[36..52].copy_from_slice(&hex_digits::<8, 16>(&self.span_id));
        if self.sampled {
            out[54] = b'1';
        }
        out
    }

    /// The trace id in lowercase hex, written where it is displayed (no allocation).
    pub fn trace_id_hex(&self) -> Hex<'_> {
        Hex(&self.trace_id)
    }
}

/// A random id that is not all zeros (W3C forbids those). Ids need to be unpredictable enough not
/// to collide, not secret: a per-thread Xoshiro generator seeded from the OS, as OpenTelemetry's
/// own id generator uses, instead of a cryptographic one for every request.
fn random_id<const N: usize>() -> [u8; N] {
    use rand::{Rng, SeedableRng};
    thread_local! {
        static IDS: std::cell::RefCell<rand::rngs::SmallRng> =
            std::cell::RefCell::new(rand::rngs::SmallRng::from_os_rng());
    }
    IDS.with_borrow_mut(|rng| {
        loop {
            let mut id = [0u8; N];
            rng.fill(&mut id[..]);
            if id != [0; N] {
                return id;
            }
        }
    })
}

/// A byte's two lowercase hex digits: one lookup.
fn hex_pair(b: u8) -> [u8; 2] {
    const PAIRS: [[u8; 2]; 256] = {
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        let mut t = [[0u8; 2]; 256];
        let mut b = 0;
        while b < 256 {
            t[b] = [DIGITS[b >> 4], DIGITS[b & 15]];
            b += 1;
        }
        t
    };
    PAIRS[b as usize]
}

/// `N` bytes as their `M` = 2`N` lowercase hex digits, built on the stack.
pub fn hex_digits<const N: usize, const M: usize>(bytes: &[u8; N]) -> [u8; M] {
    const { assert!(M == 2 * N) };
    let mut out = [0u8; M];
    for (pair, b) in out.chunks_exact_mut(2).zip(bytes) {
        pair.copy_from_slice(&hex_pair(*b));
    }
    out
}

/// Bytes shown as lowercase hex.
pub struct Hex<'a>(pub &'a [u8]);

impl std::fmt::Display for Hex<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut buf = [0u8; 64];
        let n = self.0.len().min(32);
        for (i, b) in self.0[..n].iter().enumerate() {
            buf[2 * i..2 * i + 2].copy_from_slice(&hex_pair(*b));
        }
        f.write_str(std::str::from_utf8(&buf[..2 * n]).unwrap_or_default())
    }
}

/// What a finished request's span says.
pub struct SpanRecord {
    pub name: String,
    pub start: SystemTime,
    pub end: SystemTime,
    pub attributes: Vec<KeyValue>,
    /// The gateway's error cause, when the request failed.
    pub error: Option<String>,
}

/// Decides sampling and exports sampled spans.
pub struct Tracer {
    /// A new trace is sampled when the low 63 bits of its id fall under this bound: the ratio
    /// decided from the id itself, as OpenTelemetry's `TraceIdRatioBased` sampler does, so every
    /// service sampling a trace at the same ratio keeps the same traces.
    sample_below: u64,
    export: Option<(SdkTracerProvider, SdkTracer)>,
    /// Sampled spans go to the log instead (W3CTracing's `logger` kind).
    log: bool,
}

/// Tracers by what they export to, shared by the snapshots (a route's W3CTracing plugin keeps its
/// exporter, and its batch, across configuration changes).
#[derive(Default)]
pub struct Tracers(std::sync::Mutex<std::collections::HashMap<String, std::sync::Arc<Tracer>>>);

impl Tracers {
    /// The tracer for `kind` (`otlp-http`, `logger`, `noop`) and `endpoint`, sampling every new trace.
    pub fn get(&self, kind: &str, endpoint: &str) -> Result<std::sync::Arc<Tracer>, String> {
        let key = format!("{kind} {endpoint}");
        let mut all = self.0.lock().expect("tracers");
        if let Some(t) = all.get(&key) {
            return Ok(t.clone());
        }
        let tracer = match kind {
            "otlp-http" => Tracer::new(Some(endpoint), 1.0)?,
            "logger" => Tracer {
                log: true,
                ..Tracer::new(None, 1.0)?
            },
            _ => Tracer::new(None, 1.0)?,
        };
        let tracer = std::sync::Arc::new(tracer);
        all.insert(key, tracer.clone());
        Ok(tracer)
    }
}

impl Tracer {
    /// A tracer exporting to `endpoint` (OTLP/HTTP protobuf; `/v1/traces` is added to a bare
    /// address) with `ratio` of new traces sampled. Without an endpoint, trace context is still
    /// read and propagated; nothing is exported.
    pub fn new(endpoint: Option<&str>, ratio: f64) -> Result<Tracer, String> {
        let export = match endpoint {
            None => None,
            Some(e) => {
                let url =
                    reqwest::Url::parse(e).map_err(|err| format!("--otlp-endpoint {e}: {err}"))?;
                let url = if url.path() == "/" {
                    format!("{}v1/traces", url.as_str())
                } else {
                    url.to_string()
                };
                let exporter = opentelemetry_otlp::SpanExporter::builder()
                    .with_http()
                    .with_endpoint(url)
                    .build()
                    .map_err(|err| format!("--otlp-endpoint {e}: {err}"))?;
                let provider = SdkTracerProvider::builder()
                    .with_batch_exporter(exporter)
                    .with_resource(Resource::builder().with_service_name("komainu").build())
                    .build();
                let tracer = provider.tracer("komainu");
                Some((provider, tracer))
            }
        };
        Ok(Tracer {
            sample_below: (ratio.clamp(0.0, 1.0) * (1u64 << 63) as f64) as u64,
            export,
            log: false,
        })
    }

    /// This request's trace context, continuing `traceparent` when valid.
    pub fn start(&self, traceparent: Option<&str>) -> TraceContext {
        let span_id = random_id::<8>();
        match traceparent.and_then(parse_traceparent) {
            Some((trace_id, parent, sampled)) => TraceContext {
                trace_id,
                parent: Some(parent),
                span_id,
                sampled,
            },
            None => {
                let trace_id = random_id::<16>();
                let low = u64::from_be_bytes(trace_id[8..].try_into().expect("8 bytes"));
                TraceContext {
                    trace_id,
                    parent: None,
                    span_id,
                    sampled: low >> 1 < self.sample_below,
                }
            }
        }
    }

    /// Exports the span of a sampled request; `span` is only built for one (an unsampled request
    /// must not pay for the attributes' strings).
    pub fn finish(&self, cx: &TraceContext, span: impl FnOnce() -> SpanRecord) {
        if !cx.sampled {
            return;
        }
        let span = span();
        if self.log {
            let took = span.end.duration_since(span.start).unwrap_or_default();
            tracing::info!(
                trace_id = %cx.trace_id_hex(),
                span_id = %Hex(&cx.span_id),
                parent_id = %Hex(cx.parent.as_ref().map_or(&[][..], |p| &p[..])),
                name = %span.name,
                duration_us = took.as_micros() as u64,
                error = span.error.as_deref().unwrap_or(""),
                "span"
            );
            return;
        }
        let Some((_, tracer)) = &self.export else {
            return;
        };
        let parent = match cx.parent {
            Some(p) => Context::new().with_remote_span_context(SpanContext::new(
                TraceId::from_bytes(cx.trace_id),
                SpanId::from_bytes(p),
                TraceFlags::SAMPLED,
                true,
                TraceState::default(),
            )),
            None => Context::new(),
        };
        let mut s = tracer
            .span_builder(span.name)
            .with_kind(SpanKind::Server)
            .with_trace_id(TraceId::from_bytes(cx.trace_id))
            .with_span_id(SpanId::from_bytes(cx.span_id))
            .with_start_time(span.start)
            .with_attributes(span.attributes)
            .start_with_context(tracer, &parent);
        if let Some(e) = span.error {
            opentelemetry::trace::Span::set_status(&mut s, Status::error(e));
        }
        opentelemetry::trace::Span::end_with_timestamp(&mut s, span.end);
    }

    /// Sends the spans still batched (at shutdown).
    pub fn shutdown(&self) {
        if let Some((provider, _)) = &self.export {
            let _ = provider.force_flush();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traceparent_is_parsed_strictly_and_continued() {
        let tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let (trace, parent, sampled) = parse_traceparent(tp).unwrap();
        assert!(sampled);
        assert_eq!(parent, [0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7]);
        for bad in [
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
            "garbage",
        ] {
            assert!(parse_traceparent(bad).is_none(), "{bad}");
        }
        // A later version may carry more fields.
        assert!(
            parse_traceparent("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-xyz")
                .is_some()
        );
        let t = Tracer::new(None, 0.0).unwrap();
        let cx = t.start(Some(tp));
        assert_eq!(cx.trace_id, trace);
        assert_eq!(cx.parent, Some(parent));
        assert_eq!(
            cx.trace_id_hex().to_string(),
            "4bf92f3577b34da6a3ce929d0e0e4736"
        );
        let out = String::from_utf8(cx.traceparent().to_vec()).unwrap();
        assert!(
            out.starts_with("00-4bf92f3577b34da6a3ce929d0e0e4736-"),
            "{out}"
        );
        assert!(out.ends_with("-01") && out.len() == 55, "{out}");
        assert_ne!(&out[36..52], "00f067aa0ba902b7");
        let fresh = t.start(None);
        assert!(!fresh.sampled && fresh.parent.is_none());
        assert!(Tracer::new(None, 1.0).unwrap().start(Some("nope")).sampled);
    }

    #[test]
    fn new_traces_are_sampled_at_the_ratio_and_propagate_their_decision() {
        let t = Tracer::new(None, 0.25).unwrap();
        let mut sampled = 0;
        for _ in 0..20_000 {
            let cx = t.start(None);
            sampled += cx.sampled as u32;
            // What the upstream receives parses back to this trace, this span and this decision.
            let header = String::from_utf8(cx.traceparent().to_vec()).unwrap();
            let (trace, parent, flag) = parse_traceparent(&header).expect("valid traceparent");
            assert_eq!((trace, parent, flag), (cx.trace_id, cx.span_id, cx.sampled));
        }
        // 5,000 expected; 4,700..5,300 is over six standard deviations wide.
        assert!(
            (4_700..5_300).contains(&sampled),
            "{sampled} of 20,000 sampled"
        );
        assert!(!Tracer::new(None, 0.0).unwrap().start(None).sampled);
    }
}
