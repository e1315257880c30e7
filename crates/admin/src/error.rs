//! The admin API's error: a status and `{"error": "...", "details": [{"path", "message"}]}`.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use komainu_model::FieldError;
use komainu_store::StoreError;
use serde_json::json;

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub error: String,
    pub details: Vec<FieldError>,
    /// The write lost a race with another writer (see [`Admin::atomically`](crate::Admin)): run
    /// it again.
    pub(crate) changed: bool,
}

impl ApiError {
    pub fn new(status: StatusCode, error: impl Into<String>) -> Self {
        ApiError {
            status,
            error: error.into(),
            details: Vec::new(),
            changed: false,
        }
    }

    pub fn bad_request(error: impl Into<String>) -> Self {
        ApiError::new(StatusCode::BAD_REQUEST, error)
    }

    pub fn invalid(details: Vec<FieldError>) -> Self {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            error: "invalid entity".into(),
            details,
            changed: false,
        }
    }

    pub fn not_found(error: impl Into<String>) -> Self {
        ApiError::new(StatusCode::NOT_FOUND, error)
    }

    pub fn conflict(error: impl Into<String>) -> Self {
        ApiError::new(StatusCode::CONFLICT, error)
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        let status = match e {
            StoreError::Conflict { .. } => StatusCode::CONFLICT,
            StoreError::Changed { .. } => {
                return ApiError {
                    changed: true,
                    ..ApiError::conflict(format!("{e}: retry"))
                };
            }
            StoreError::NotFound { .. } => StatusCode::NOT_FOUND,
            StoreError::Locked(_) | StoreError::Engine(_) => {
                tracing::error!(error = %e, "store failure");
                StatusCode::INTERNAL_SERVER_ERROR
            }
            // Nothing was written: the client may retry once the store is back.
            StoreError::Unavailable(_) => {
                tracing::warn!(error = %e, "store unreachable: write refused");
                StatusCode::SERVICE_UNAVAILABLE
            }
        };
        ApiError::new(status, e.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({"error": self.error, "details": self.details});
        let mut response = (self.status, Json(body)).into_response();
        if self.status == StatusCode::PAYLOAD_TOO_LARGE {
            // The rest of the body is never read: tell the client this connection is done.
            response.headers_mut().insert(
                axum::http::header::CONNECTION,
                axum::http::HeaderValue::from_static("close"),
            );
        }
        response
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

impl From<komainu_apim::Refusal> for ApiError {
    fn from(r: komainu_apim::Refusal) -> Self {
        match r {
            komainu_apim::Refusal::Invalid(details) => ApiError::invalid(details),
            komainu_apim::Refusal::NotFound(m) => ApiError::not_found(m),
            komainu_apim::Refusal::Conflict(m) => ApiError::conflict(m),
            komainu_apim::Refusal::Store(e) => e.into(),
        }
    }
}
