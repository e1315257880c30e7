//! E-mail over SMTP (lettre): `smtp://host:port` (plain; `?tls=required` for STARTTLS) or
//! `smtps://user:pass@host:port`, from one configured sender.

use lettre::message::Mailbox;
use lettre::message::header::ContentType;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

/// The SMTP server and the sender. The URL may hold a password: it is never logged.
#[derive(Clone)]
pub struct MailConfig {
    pub url: String,
    pub from: String,
}

impl std::fmt::Debug for MailConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MailConfig")
            .field("from", &self.from)
            .finish_non_exhaustive()
    }
}

/// One message to one person.
#[derive(Clone, Debug)]
pub struct Mail {
    pub to: String,
    pub subject: String,
    pub body: String,
}

pub(crate) struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl Mailer {
    pub(crate) fn new(config: &MailConfig) -> Result<Mailer, String> {
        let from = config
            .from
            .parse::<Mailbox>()
            .map_err(|e| format!("--smtp-from \"{}\": {e}", config.from))?;
        // The error of a URL that does not parse may repeat it: say what is wrong, not the URL.
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(&config.url)
            .map_err(|_| "--smtp-url: expected smtp://host:port or smtps://user:pass@host:port")?
            .timeout(Some(std::time::Duration::from_secs(10)))
            .build();
        Ok(Mailer { transport, from })
    }

    /// Sends `mail`; `Err` says why it was not accepted (to retry).
    pub(crate) async fn send(&self, mail: &Mail) -> Result<(), String> {
        let to = mail
            .to
            .parse::<Mailbox>()
            .map_err(|e| format!("recipient: {e}"))?;
        let message = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(mail.subject.clone())
            .header(ContentType::TEXT_PLAIN)
            .body(mail.body.clone())
            .map_err(|e| e.to_string())?;
        self.transport
            .send(message)
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
    }
}
