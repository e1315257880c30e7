//! Bodies between the client, the plugins and the upstream: the request body bounded and wrapped
//! once ([`request`]), passed through the plugins that stream it or read it whole; the response
//! body read whole for the plugins that ask ([`buffer_response`]). What happens once the response
//! has been sent is `completion`'s.

use bytes::Bytes;
use http::header::{self, HeaderValue};
use http::request::Parts;
use http::{Response, StatusCode};
use http_body_util::BodyExt;
use hyper::body::{Body as HttpBody, Incoming};
use komainu_http::{BoxError, ClientBodyError, Upload};
use komainu_plugins::{Body, BodyLimit, BodyNeed, Chain, RequestCtx, gateway_error};

use crate::client_body::ClientBody;

/// The request body on its way on, and the state of the client's upload.
pub(crate) struct Outgoing {
    pub body: Body,
    pub upload: Option<Upload>,
}

/// Why the request body was refused before anything was forwarded: the client's fault, so its
/// connection is closed after the answer.
pub(crate) struct Refusal {
    pub status: StatusCode,
    pub cause: &'static str,
    pub message: &'static str,
}

/// The refusal of a body over its bound: the listener's (`--max-request-body`), or a route's
/// RequestBodyLengthLimiter with `fail`, which answers Otoroshi's cause (bodysize.scala).
pub(crate) fn too_large(limit: BodyLimit) -> Refusal {
    if limit.by_route {
        return Refusal {
            status: StatusCode::PAYLOAD_TOO_LARGE,
            cause: "errors.failed.response.entityTooLarge",
            message: "Response entity too large",
        };
    }
    Refusal {
        status: StatusCode::PAYLOAD_TOO_LARGE,
        cause: "errors.entity.too.big",
        message: "request body too large",
    }
}

/// Bounds the request body by `limit` (413 when its declared length is over) and, when `silence`
/// is given (HTTP/2), by how long it may stay silent; wraps it once to tell the client's failures
/// from the backend's, then through the chain's body plugins.
pub(crate) async fn request(
    body: Incoming,
    parts: &mut Parts,
    chain: &Chain,
    limit: BodyLimit,
    capture: Option<usize>,
    silence: Option<std::time::Duration>,
    ctx: &mut RequestCtx,
) -> Result<Outgoing, Result<Refusal, Response<Body>>> {
    let declared = body.size_hint().exact();
    if !limit.truncate && limit.max > 0 && declared.is_some_and(|n| n > limit.max) {
        return Err(Ok(too_large(limit)));
    }
    let need = chain.needs().request_body;
    // An empty body needs no box (Empty is zero-sized); a streamed one is boxed once.
    let (mut body, upload): (Body, _) = if body.is_end_stream() {
        (komainu_plugins::empty(), None)
    } else {
        let upload = capture.map_or_else(Upload::default, Upload::capturing);
        (
            ClientBody::new(body, limit, upload.clone(), silence).boxed(),
            Some(upload),
        )
    };
    match need {
        BodyNeed::None => {}
        BodyNeed::Stream => body = chain.request_body_stream(body, ctx),
        BodyNeed::Buffered(max) => {
            let mut bytes = match read_whole(body, max).await {
                Ok(bytes) => bytes,
                Err(Whole::TooLarge) => {
                    return Err(match chain.too_large_answer(ctx) {
                        Some(answer) => Err(answer),
                        None => Ok(too_large(limit)),
                    });
                }
                Err(Whole::Failed(e)) => return Err(Ok(client_failure(&e, limit))),
            };
            chain
                .transform_request_body(parts, &mut bytes, ctx)
                .await
                .map_err(Err)?;
            parts.headers.remove(header::TRANSFER_ENCODING);
            parts
                .headers
                .insert(header::CONTENT_LENGTH, HeaderValue::from(bytes.len()));
            ctx.request_body = Some(bytes.clone());
            // Read whole: the client is done uploading.
            if let Some(u) = &upload {
                u.finish();
            }
            return Ok(Outgoing {
                body: komainu_plugins::full(bytes),
                upload,
            });
        }
    }
    Ok(Outgoing { body, upload })
}

/// Why a body could not be read whole.
enum Whole {
    TooLarge,
    Failed(BoxError),
}

/// The whole of `body`, at most `max` bytes.
async fn read_whole(mut body: Body, max: usize) -> Result<Bytes, Whole> {
    let mut first: Option<Bytes> = None;
    let mut more = bytes::BytesMut::new();
    while let Some(frame) = body.frame().await {
        let Ok(data) = frame.map_err(Whole::Failed)?.into_data() else {
            continue; // trailers
        };
        let len = first.as_ref().map_or(0, Bytes::len) + more.len() + data.len();
        if len > max {
            return Err(Whole::TooLarge);
        }
        // One chunk (the common case) is kept as it is, without a copy.
        match first.take() {
            None if more.is_empty() => first = Some(data),
            Some(f) => {
                more.extend_from_slice(&f);
                more.extend_from_slice(&data);
            }
            None => more.extend_from_slice(&data),
        }
    }
    Ok(first.unwrap_or_else(|| more.freeze()))
}

/// What went wrong reading a client's body whole.
fn client_failure(e: &BoxError, limit: BodyLimit) -> Refusal {
    match e.downcast_ref::<ClientBodyError>() {
        Some(ClientBodyError::TooLarge) => too_large(limit),
        Some(ClientBodyError::TimedOut) => Refusal {
            status: StatusCode::REQUEST_TIMEOUT,
            cause: "errors.request.body.timeout",
            message: "the request body was not sent in time",
        },
        _ => Refusal {
            status: StatusCode::BAD_REQUEST,
            cause: "errors.bad.request.body",
            message: "the request body could not be read",
        },
    }
}

/// Reads the response body whole (at most `max` bytes) for the chain's plugins that read it.
pub(crate) async fn buffer_response(
    resp: Response<Body>,
    max: usize,
    chain: &Chain,
    ctx: &mut RequestCtx,
) -> Response<Body> {
    let (mut parts, body) = resp.into_parts();
    let mut bytes = match read_whole(body, max).await {
        Ok(bytes) => bytes,
        Err(e) => {
            let (cause, message) = if matches!(e, Whole::TooLarge) {
                (
                    "errors.response.entity.too.large",
                    "the backend's response is larger than its plugins read",
                )
            } else {
                ("errors.proxy.error", "the backend's response broke off")
            };
            return gateway_error(StatusCode::BAD_GATEWAY, cause, message, ctx.html);
        }
    };
    if let Err(r) = chain
        .transform_response_body(&mut parts, &mut bytes, ctx)
        .await
    {
        return r;
    }
    parts.headers.remove(header::TRANSFER_ENCODING);
    parts
        .headers
        .insert(header::CONTENT_LENGTH, HeaderValue::from(bytes.len()));
    Response::from_parts(parts, komainu_plugins::full(bytes))
}
