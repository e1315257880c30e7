//! GzipResponseCompressor: gzips responses, streaming, for clients that accept it. Config:
//! `excluded_patterns` (paths left alone), `allowed_list` (content types, `*` wildcards; default
//! text/*, application/javascript, application/json), `blocked_list`, `compression_level` (5).
//! Otoroshi's `buffer_size` and `chunked_threshold` are accepted and not needed: compression streams.

use std::io::Write;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use flate2::Compression;
use flate2::write::GzEncoder;
use http::request::Parts;
use http::{HeaderValue, Method, Response, StatusCode, header};
use http_body_util::BodyExt;
use hyper::body::Frame;
use regex::RegexSet;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::config::ConfigError;
use crate::registry::PluginDef;
use crate::{Body, BoxError, Outcome, Plugin, RequestCtx, config, empty};

#[derive(Deserialize, Serialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
struct Config {
    excluded_patterns: Vec<String>,
    allowed_list: Vec<String>,
    blocked_list: Vec<String>,
    compression_level: u32,
    /// Otoroshi's buffering knobs: accepted, not needed (compression streams).
    #[allow(dead_code)]
    buffer_size: Option<u64>,
    #[allow(dead_code)]
    chunked_threshold: Option<u64>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            excluded_patterns: Vec::new(),
            allowed_list: vec![
                "text/*".into(),
                "application/javascript".into(),
                "application/json".into(),
            ],
            blocked_list: Vec::new(),
            compression_level: 5,
            buffer_size: None,
            chunked_threshold: None,
        }
    }
}

struct Gzip {
    excluded: Option<RegexSet>,
    allowed: RegexSet,
    blocked: RegexSet,
    level: Compression,
}

/// Marks a request whose client takes gzip.
#[derive(Clone, Copy)]
struct AcceptsGzip;

impl Plugin for Gzip {
    fn transform_request(&self, req: &mut Parts, ctx: &mut RequestCtx) -> Outcome {
        let accepts = req
            .headers
            .get_all(header::ACCEPT_ENCODING)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .any(|v| {
                v.split(',')
                    .any(|e| e.trim().split(';').next() == Some("gzip"))
            });
        let excluded = self
            .excluded
            .as_ref()
            .is_some_and(|set| set.is_match(ctx.path()));
        if accepts && req.method != Method::HEAD && !excluded {
            ctx.attrs.insert(AcceptsGzip);
        }
        Outcome::Continue
    }

    fn transform_response(&self, resp: &mut Response<Body>, ctx: &mut RequestCtx) {
        if ctx.attrs.get::<AcceptsGzip>().is_none()
            || matches!(
                resp.status(),
                StatusCode::NO_CONTENT | StatusCode::NOT_MODIFIED
            )
            || resp.headers().contains_key(header::CONTENT_ENCODING)
        {
            return;
        }
        let mime = resp
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|v| {
                v.split(';')
                    .next()
                    .unwrap_or("")
                    .trim()
                    .to_ascii_lowercase()
            })
            .unwrap_or_default();
        if !self.allowed.is_match(&mime) || self.blocked.is_match(&mime) {
            return;
        }
        let h = resp.headers_mut();
        h.remove(header::CONTENT_LENGTH);
        h.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        h.append(header::VARY, HeaderValue::from_static("Accept-Encoding"));
        let body = std::mem::replace(resp.body_mut(), empty());
        *resp.body_mut() = GzipBody {
            inner: body,
            encoder: Some(GzEncoder::new(Vec::new(), self.level)),
        }
        .boxed();
    }
}

/// Compresses a body frame by frame, never holding more than the compressor's window.
struct GzipBody {
    inner: Body,
    encoder: Option<GzEncoder<Vec<u8>>>,
}

impl hyper::body::Body for GzipBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        loop {
            if self.encoder.is_none() {
                return Poll::Ready(None);
            }
            match ready!(Pin::new(&mut self.inner).poll_frame(cx)) {
                Some(Ok(frame)) => match frame.into_data() {
                    Ok(data) => {
                        let encoder = self.encoder.as_mut().expect("present");
                        encoder.write_all(&data)?;
                        let out = std::mem::take(encoder.get_mut());
                        if !out.is_empty() {
                            return Poll::Ready(Some(Ok(Frame::data(out.into()))));
                        }
                    }
                    // Trailers cannot follow a body whose length the encoder changes: drop them.
                    Err(_trailers) => {}
                },
                Some(Err(e)) => return Poll::Ready(Some(Err(e))),
                None => {
                    let rest = self.encoder.take().expect("present").finish()?;
                    return Poll::Ready(Some(Ok(Frame::data(rest.into()))));
                }
            }
        }
    }
}

pub(crate) fn build(
    config: &Value,
    _services: &crate::Services,
) -> Result<Arc<dyn Plugin>, ConfigError> {
    let cfg: Config = config::parse(config)?;
    if cfg.compression_level > 9 {
        return Err(ConfigError::at("compression_level", "between 0 and 9"));
    }
    let excluded = config::regexes(&cfg.excluded_patterns, "excluded_patterns")?;
    Ok(Arc::new(Gzip {
        excluded,
        allowed: config::wildcards(&cfg.allowed_list, "allowed_list")?,
        blocked: config::wildcards(&cfg.blocked_list, "blocked_list")?,
        level: Compression::new(cfg.compression_level),
    }))
}

pub(crate) const PLUGIN: PluginDef = PluginDef {
    name: "GzipResponseCompressor",
    title: "Gzip compression",
    description: "This plugin can compress responses using gzip",
    categories: &["Transformations", "Classic"],
    steps: &["TransformResponse"],
    build,
    describe: config::describe::<Config>,
    inert: &["buffer_size", "chunked_threshold"],
};
