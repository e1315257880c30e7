//! GzipResponseCompressor and BrotliResponseCompressor: compress responses, streaming, for clients
//! that accept the encoding. Config: `excluded_patterns` (paths left alone), `allowed_list`
//! (content types, `*` wildcards; default text/*, application/javascript, application/json),
//! `blocked_list`, `compression_level` (5; gzip 0–9, brotli 0–11). Otoroshi's `buffer_size` and
//! `chunked_threshold` are accepted and not needed: compression streams.

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
use crate::def::PluginDef;
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

#[derive(Clone, Copy, PartialEq, Eq)]
enum Codec {
    Gzip,
    Brotli,
}

impl Codec {
    fn token(self) -> &'static str {
        match self {
            Codec::Gzip => "gzip",
            Codec::Brotli => "br",
        }
    }
}

struct Compressor {
    codec: Codec,
    excluded: Option<RegexSet>,
    allowed: RegexSet,
    blocked: RegexSet,
    level: u32,
}

/// Marks a request whose client takes this encoding.
#[derive(Clone, Copy)]
struct Accepts(Codec);

impl Plugin for Compressor {
    fn transform_request(&self, req: &mut Parts, ctx: &mut RequestCtx) -> Outcome {
        let accepts = req
            .headers
            .get_all(header::ACCEPT_ENCODING)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .any(|v| {
                v.split(',')
                    .any(|e| e.trim().split(';').next() == Some(self.codec.token()))
            });
        let excluded = self
            .excluded
            .as_ref()
            .is_some_and(|set| set.is_match(ctx.path()));
        // One encoding per response: the first compressor of the chain the client takes.
        if accepts
            && req.method != Method::HEAD
            && !excluded
            && ctx.attrs.get::<Accepts>().is_none()
        {
            ctx.attrs.insert(Accepts(self.codec));
        }
        Outcome::Continue
    }

    fn transform_response(&self, resp: &mut Response<Body>, ctx: &mut RequestCtx) {
        if ctx.attrs.get::<Accepts>().is_none_or(|a| a.0 != self.codec)
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
        h.insert(
            header::CONTENT_ENCODING,
            HeaderValue::from_static(self.codec.token()),
        );
        h.append(header::VARY, HeaderValue::from_static("Accept-Encoding"));
        let body = std::mem::replace(resp.body_mut(), empty());
        let encoder = match self.codec {
            Codec::Gzip => Encoder::Gzip(GzEncoder::new(Vec::new(), Compression::new(self.level))),
            Codec::Brotli => Encoder::Brotli(Box::new(brotli::CompressorWriter::new(
                Vec::new(),
                16 * 1024,
                self.level,
                22,
            ))),
        };
        *resp.body_mut() = Compressed {
            inner: body,
            encoder: Some(encoder),
        }
        .boxed();
    }
}

enum Encoder {
    Gzip(GzEncoder<Vec<u8>>),
    Brotli(Box<brotli::CompressorWriter<Vec<u8>>>),
}

impl Encoder {
    fn write_all(&mut self, data: &[u8]) -> std::io::Result<()> {
        match self {
            Encoder::Gzip(e) => e.write_all(data),
            Encoder::Brotli(e) => e.write_all(data),
        }
    }

    /// The compressed bytes produced so far.
    fn take(&mut self) -> Vec<u8> {
        match self {
            Encoder::Gzip(e) => std::mem::take(e.get_mut()),
            Encoder::Brotli(e) => std::mem::take(e.get_mut()),
        }
    }

    fn finish(self) -> std::io::Result<Vec<u8>> {
        match self {
            Encoder::Gzip(e) => e.finish(),
            Encoder::Brotli(e) => Ok(e.into_inner()),
        }
    }
}

/// Compresses a body frame by frame, never holding more than the compressor's window.
struct Compressed {
    inner: Body,
    encoder: Option<Encoder>,
}

impl hyper::body::Body for Compressed {
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
                        let out = encoder.take();
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

fn build(codec: Codec, config: &Value) -> Result<Arc<dyn Plugin>, ConfigError> {
    let cfg: Config = config::parse(config)?;
    let max = if codec == Codec::Gzip { 9 } else { 11 };
    if cfg.compression_level > max {
        return Err(ConfigError::at(
            "compression_level",
            format!("between 0 and {max}"),
        ));
    }
    let excluded = config::regexes(&cfg.excluded_patterns, "excluded_patterns")?;
    Ok(Arc::new(Compressor {
        codec,
        excluded,
        allowed: config::wildcards(&cfg.allowed_list, "allowed_list")?,
        blocked: config::wildcards(&cfg.blocked_list, "blocked_list")?,
        level: cfg.compression_level,
    }))
}

fn build_gzip(config: &Value, _services: &crate::Services) -> Result<Arc<dyn Plugin>, ConfigError> {
    build(Codec::Gzip, config)
}

fn build_brotli(
    config: &Value,
    _services: &crate::Services,
) -> Result<Arc<dyn Plugin>, ConfigError> {
    build(Codec::Brotli, config)
}

pub(crate) const PLUGIN_GZIP: PluginDef = PluginDef {
    name: "GzipResponseCompressor",
    title: "Gzip compression",
    description: "This plugin can compress responses using gzip",
    categories: &["Transformations", "Classic"],
    steps: &["TransformResponse"],
    build: build_gzip,
    describe: config::describe::<Config>,
    inert: &["buffer_size", "chunked_threshold"],
};

pub(crate) const PLUGIN_BROTLI: PluginDef = PluginDef {
    name: "BrotliResponseCompressor",
    title: "Brotli compression",
    description: "This plugin can compress responses using brotli",
    categories: &["Transformations", "Classic"],
    steps: &["TransformResponse"],
    build: build_brotli,
    describe: config::describe::<Config>,
    inert: &["buffer_size", "chunked_threshold"],
};
