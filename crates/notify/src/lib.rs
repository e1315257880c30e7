//! Notifications to developers: what happened to their subscriptions, keys, APIs and quotas, sent
//! to the operator's webhook (`--notify-webhook`) and by e-mail to the developer (`--smtp-url`,
//! `--smtp-from`); the portal's account e-mails go through the same mailer.
//!
//! Nothing here runs on a request's path: producers put a [`Job`] on a bounded queue and go on
//! (a full queue drops the job, logged). A worker turns each job into notifications (reading
//! the store for the developer and the API), deduplicates those that happen once per window or
//! per developer (with the store's counters, so once cluster-wide), and delivers each channel on
//! its own task, retried with back-off until it is acknowledged — a webhook's 2xx, the SMTP
//! server's acceptance — and never again after.

mod deliver;
mod jobs;
mod mail;

use std::sync::Arc;

use komainu_store::Store;
use tokio::sync::mpsc;

pub use jobs::{Job, QuotaLevel};
pub use mail::{Mail, MailConfig};

/// How many jobs wait for the worker at most.
const QUEUE: usize = 4096;

/// Where notifications go.
#[derive(Clone, Debug, Default)]
pub struct Config {
    /// Receives one JSON POST per notification.
    pub webhook: Option<String>,
    /// The SMTP server and the sender's address.
    pub mail: Option<MailConfig>,
}

/// The handle producers hold: cheap to clone, never blocking.
#[derive(Clone)]
pub struct Notifier {
    tx: mpsc::Sender<Job>,
    mail: Option<Arc<mail::Mailer>>,
}

impl Notifier {
    /// Starts the worker on the current runtime. Fails when the SMTP settings are unusable.
    pub fn start(config: Config, store: Arc<dyn Store>) -> Result<Notifier, String> {
        let mail = config
            .mail
            .as_ref()
            .map(mail::Mailer::new)
            .transpose()?
            .map(Arc::new);
        let (tx, rx) = mpsc::channel(QUEUE);
        let deliver = deliver::Channels::new(config.webhook, mail.clone());
        tokio::spawn(jobs::run(rx, store, deliver));
        Ok(Notifier { tx, mail })
    }

    /// Queues `job`; dropped (and logged) when the queue is full.
    pub fn notify(&self, job: Job) {
        if let Err(e) = self.tx.try_send(job) {
            tracing::warn!(error = %e, "notification dropped: the queue is full");
        }
    }

    /// Whether e-mails can be sent (an SMTP server is configured).
    pub fn mails(&self) -> bool {
        self.mail.is_some()
    }

    /// Sends one e-mail (the portal's account messages), retried in the background; `false`
    /// when no SMTP server is configured.
    pub fn mail(&self, mail: Mail) -> bool {
        match &self.mail {
            Some(m) => {
                deliver::spawn_mail(m.clone(), mail);
                true
            }
            None => false,
        }
    }
}
