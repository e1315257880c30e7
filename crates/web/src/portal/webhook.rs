//! `validation: {kind: "webhook", config: {url, headers, timeout}}`: the plan's team decides each
//! subscription over HTTP. The portal posts what is asked; `{"accepted": true}` creates the
//! subscription, `{"accepted": false, "reason": "..."}` refuses it with the reason, and anything
//! else (no answer, an error status, another body) leaves it `pending` for an admin.

use std::time::Duration;

use komainu_model::ApiDocumentationPlan;
use serde_json::{Value, json};

use crate::Web;

/// What the webhook decided.
pub enum Decision {
    Accepted,
    Refused(String),
    Undecided(String),
}

/// The question asked for `developer` (id, e-mail) subscribing `application` to `plan` of `api`.
pub async fn ask(
    web: &Web,
    plan: &ApiDocumentationPlan,
    api: &str,
    developer: (&str, &str),
    application: &str,
) -> Decision {
    let config = &plan.validation.config;
    let Some(url) = config["url"]
        .as_str()
        .filter(|u| u.starts_with("http://") || u.starts_with("https://"))
    else {
        return Decision::Undecided("the plan's webhook has no http(s) url".into());
    };
    let timeout = config["timeout"].as_u64().unwrap_or(10_000);
    let mut request = web
        .0
        .http
        .post(url)
        .timeout(Duration::from_millis(timeout))
        .json(&json!({
            "api": api,
            "plan": plan.id,
            "developer": {"id": developer.0, "email": developer.1},
            "application": application,
        }));
    if let Some(headers) = config["headers"].as_object() {
        for (k, v) in headers {
            if let Some(v) = v.as_str() {
                request = request.header(k, v);
            }
        }
    }
    let answer = match request.send().await {
        Ok(r) if r.status().is_success() => r.json::<Value>().await.unwrap_or(Value::Null),
        Ok(r) => return Decision::Undecided(format!("the webhook answered {}", r.status())),
        Err(e) => return Decision::Undecided(format!("the webhook could not be reached: {e}")),
    };
    match answer["accepted"].as_bool() {
        Some(true) => Decision::Accepted,
        Some(false) => Decision::Refused(
            answer["reason"]
                .as_str()
                .unwrap_or("the API's team declined this subscription")
                .to_string(),
        ),
        None => Decision::Undecided("the webhook's answer has no `accepted`".into()),
    }
}
