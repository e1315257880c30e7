//! Delivery: each notification on each channel is a task of its own, retried with exponential
//! back-off (1 s, 2 s, 4 s ... 5 min) until acknowledged or [`ATTEMPTS`] tries have failed.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use crate::mail::{Mail, Mailer};

/// Tries per notification and channel: about forty minutes of retries.
const ATTEMPTS: u32 = 14;
const FIRST_RETRY: Duration = Duration::from_secs(1);
const LONGEST_WAIT: Duration = Duration::from_secs(300);
/// How long a webhook has to answer.
const WEBHOOK_TIMEOUT: Duration = Duration::from_secs(10);

/// One notification: what the webhook receives, and the e-mail to its developer (if any).
pub(crate) struct Notification {
    pub payload: Value,
    pub mail: Option<Mail>,
}

pub(crate) struct Channels {
    webhook: Option<(reqwest::Client, Arc<str>)>,
    mail: Option<Arc<Mailer>>,
}

impl Channels {
    pub(crate) fn new(webhook: Option<String>, mail: Option<Arc<Mailer>>) -> Channels {
        let webhook = webhook.map(|url| {
            let client = reqwest::Client::builder()
                .timeout(WEBHOOK_TIMEOUT)
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("an HTTP client builds");
            (client, Arc::from(url))
        });
        Channels { webhook, mail }
    }

    /// Whether anything would be sent at all (else jobs are not even resolved).
    pub(crate) fn any(&self) -> bool {
        self.webhook.is_some() || self.mail.is_some()
    }

    pub(crate) fn send(&self, n: Notification) {
        let id = n.payload["id"].as_str().unwrap_or_default().to_string();
        if let Some((client, url)) = &self.webhook {
            let (client, url, payload) = (client.clone(), url.clone(), n.payload);
            let what = format!("webhook {}", payload["event"].as_str().unwrap_or_default());
            tokio::spawn(retried(what, move || {
                post(client.clone(), url.clone(), payload.clone(), id.clone())
            }));
        }
        if let (Some(mailer), Some(mail)) = (&self.mail, n.mail) {
            spawn_mail(mailer.clone(), mail);
        }
    }
}

/// Sends one e-mail on a task of its own, retried.
pub(crate) fn spawn_mail(mailer: Arc<Mailer>, mail: Mail) {
    let what = format!("e-mail \"{}\"", mail.subject);
    tokio::spawn(retried(what, move || {
        let (mailer, mail) = (mailer.clone(), mail.clone());
        async move { mailer.send(&mail).await }
    }));
}

/// One webhook call: acknowledged by a 2xx. The notification's id goes in `Idempotency-Key`,
/// so a receiver can tell a retry of a call it did receive.
async fn post(
    client: reqwest::Client,
    url: Arc<str>,
    payload: Value,
    id: String,
) -> Result<(), String> {
    let resp = client
        .post(&*url)
        .header("idempotency-key", id)
        .json(&payload)
        .send()
        .await
        .map_err(|e| e.without_url().to_string())?;
    if resp.status().is_success() {
        Ok(())
    } else {
        Err(format!("answered {}", resp.status()))
    }
}

/// Runs `attempt` until it succeeds, waiting longer after each failure.
async fn retried<F, Fut>(what: String, attempt: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = Result<(), String>>,
{
    let mut wait = FIRST_RETRY;
    for tries in 1..=ATTEMPTS {
        match attempt().await {
            Ok(()) => {
                tracing::info!(%what, tries, "notification delivered");
                return;
            }
            Err(e) if tries == ATTEMPTS => {
                tracing::error!(%what, tries, error = %e, "notification given up");
            }
            Err(e) => {
                tracing::warn!(%what, tries, error = %e, retry_in = ?wait, "notification not delivered");
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(LONGEST_WAIT);
            }
        }
    }
}
