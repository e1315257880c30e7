//! RequestBodyLengthLimiter and ResponseBodyLengthLimiter. Request bodies, config (Otoroshi's):
//! `max_length` (bytes, default 4 MiB) and `fail`: when true a larger body is refused with 413
//! `errors.failed.response.entityTooLarge` (Otoroshi's cause, in bodysize.scala) (at once when its Content-Length says so, else when the stream crosses
//! the bound); when false, as Otoroshi does, the body is cut at `max_length` and the start forwarded.
//! Response bodies, same keys: a longer one is cut at `max_length`; with `fail`, one whose
//! Content-Length says it is longer is replaced by 413 `errors.failed.response.entityTooLarge`,
//! and a streamed one is broken off at the bound (the client sees it end early).

use std::sync::Arc;

use http::header;
use http::request::Parts;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::config::ConfigError;
use crate::def::PluginDef;
use crate::{Body, BodyLimit, Outcome, Plugin, RequestCtx, config};

const DEFAULT_MAX: u64 = 4 * 1024 * 1024;

#[derive(Deserialize, Serialize, JsonSchema, Default)]
#[serde(default, deny_unknown_fields)]
struct Config {
    max_length: Option<u64>,
    fail: bool,
}

struct RequestBodyLength(BodyLimit);

impl Plugin for RequestBodyLength {
    fn transform_request(&self, req: &mut Parts, ctx: &mut RequestCtx) -> Outcome {
        if self.0.truncate {
            // The forwarded length is no longer the declared one.
            req.headers.remove(header::CONTENT_LENGTH);
        }
        ctx.body_limit = Some(self.0);
        Outcome::Continue
    }
}

pub(crate) fn build_request(
    config: &Value,
    _services: &crate::Services,
) -> Result<Arc<dyn Plugin>, ConfigError> {
    let cfg: Config = config::parse(config)?;
    Ok(Arc::new(RequestBodyLength(BodyLimit {
        max: cfg.max_length.unwrap_or(DEFAULT_MAX),
        truncate: !cfg.fail,
        by_route: true,
    })))
}

pub(crate) const PLUGIN_REQUEST: PluginDef = PluginDef {
    name: "RequestBodyLengthLimiter",
    title: "Request Body length limiter",
    description: "This plugin will limit request body length",
    categories: &["Transformations"],
    steps: &["TransformRequest"],
    build: build_request,
    describe: config::describe::<Config>,
    inert: &[],
};

/// Cuts (or, with `fail`, breaks off) a response body at `max` bytes, as it streams.
struct Capped {
    inner: Body,
    left: u64,
    fail: bool,
}

impl hyper::body::Body for Capped {
    type Data = bytes::Bytes;
    type Error = crate::BoxError;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<bytes::Bytes>, crate::BoxError>>> {
        use std::task::Poll;
        if self.left == 0 && !self.fail {
            return Poll::Ready(None);
        }
        match std::task::ready!(std::pin::Pin::new(&mut self.inner).poll_frame(cx)) {
            Some(Ok(frame)) => match frame.into_data() {
                Ok(mut data) => {
                    if data.len() as u64 > self.left {
                        if self.fail {
                            return Poll::Ready(Some(Err("response body over its limit".into())));
                        }
                        data.truncate(self.left as usize);
                    }
                    self.left -= data.len() as u64;
                    Poll::Ready(Some(Ok(hyper::body::Frame::data(data))))
                }
                Err(trailers) => Poll::Ready(Some(Ok(trailers))),
            },
            other => Poll::Ready(other),
        }
    }
}

struct ResponseBodyLength {
    max: u64,
    fail: bool,
}

impl Plugin for ResponseBodyLength {
    fn transform_response(&self, resp: &mut http::Response<Body>, ctx: &mut RequestCtx) {
        use http_body_util::BodyExt;
        let declared = resp
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if self.fail && declared.is_some_and(|n| n > self.max) {
            *resp = crate::gateway_error(
                http::StatusCode::PAYLOAD_TOO_LARGE,
                "errors.failed.response.entityTooLarge",
                "Response entity too large",
                ctx.html,
            );
            return;
        }
        if declared.is_some_and(|n| n <= self.max) {
            return;
        }
        resp.headers_mut().remove(header::CONTENT_LENGTH);
        let inner = std::mem::replace(resp.body_mut(), crate::empty());
        *resp.body_mut() = Capped {
            inner,
            left: self.max,
            fail: self.fail,
        }
        .boxed();
    }
}

pub(crate) fn build_response(
    config: &Value,
    _services: &crate::Services,
) -> Result<Arc<dyn Plugin>, ConfigError> {
    let cfg: Config = config::parse(config)?;
    Ok(Arc::new(ResponseBodyLength {
        max: cfg.max_length.unwrap_or(DEFAULT_MAX),
        fail: cfg.fail,
    }))
}

pub(crate) const PLUGIN_RESPONSE: PluginDef = PluginDef {
    name: "ResponseBodyLengthLimiter",
    title: "Response Body length limiter",
    description: "This plugin will limit response body length",
    categories: &["Transformations"],
    steps: &["TransformResponse"],
    build: build_response,
    describe: config::describe::<Config>,
    inert: &[],
};
