//! The admin API called in-process: every page reads and writes through the same handlers,
//! validation and effects as the REST API, so a form can never store what `curl` could not.

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use http_body_util::BodyExt;
use komainu_admin::InProcess;
use serde_json::Value;
use tower::ServiceExt;

/// The most of an admin answer a page reads (an export of many APIs stays well below it).
const ANSWER_LIMIT: usize = 64 << 20;

/// An admin API answer: its status and JSON body (`Value::Null` when it had none).
pub struct Answer {
    pub status: StatusCode,
    pub body: Value,
}

impl Answer {
    pub fn ok(&self) -> bool {
        self.status.is_success()
    }

    /// The error's message (`error`, Otoroshi's shape).
    pub fn message(&self) -> String {
        self.body["error"].as_str().map_or_else(
            || format!("the admin API answered {}", self.status),
            str::to_string,
        )
    }

    /// The problems of a refused write by JSON path (`details[].path`).
    pub fn field_errors(&self) -> Vec<(String, String)> {
        self.body["details"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|d| {
                (
                    d["path"].as_str().unwrap_or_default().to_string(),
                    d["message"].as_str().unwrap_or_default().to_string(),
                )
            })
            .collect()
    }
}

/// The admin API's router, held to call in-process.
#[derive(Clone)]
pub struct AdminApi(pub Router);

impl AdminApi {
    pub async fn call(&self, method: Method, path: &str, body: Option<&Value>) -> Answer {
        match body {
            Some(v) => {
                let bytes = serde_json::to_vec(v).expect("JSON serializes");
                self.send(method, path, Some(("application/json", bytes)))
                    .await
            }
            None => self.send(method, path, None).await,
        }
    }

    /// A call with a body of any type (a pasted YAML document).
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<(&'static str, Vec<u8>)>,
    ) -> Answer {
        let mut request = Request::builder().method(method).uri(path);
        let body = match body {
            Some((content_type, bytes)) => {
                request = request.header("content-type", content_type);
                Body::from(bytes)
            }
            None => Body::empty(),
        };
        let mut request = request.body(body).expect("a valid request");
        request.extensions_mut().insert(InProcess);
        let response = match self.0.clone().oneshot(request).await {
            Ok(r) => r,
            Err(never) => match never {},
        };
        let status = response.status();
        let bytes = http_body_util::Limited::new(response.into_body(), ANSWER_LIMIT)
            .collect()
            .await
            .map(|c| c.to_bytes())
            .unwrap_or_default();
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Answer { status, body }
    }

    pub async fn get(&self, path: &str) -> Answer {
        self.call(Method::GET, path, None).await
    }

    /// A list endpoint's items (empty when it failed).
    pub async fn list(&self, path: &str) -> Vec<Value> {
        match self.get(path).await.body {
            Value::Array(items) => items,
            _ => Vec::new(),
        }
    }
}
