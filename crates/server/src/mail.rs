//! Outgoing e-mail: the one-time links of e-mail verification and password recovery.
//!
//! Production sends through the SMTP server of `mail.smtp_url` (lettre; `smtps://` is TLS from
//! the start, `smtp://...?tls=required` STARTTLS, both with rustls and the system's roots; plain
//! `smtp://` only for a relay on the same host). Development (`serve --dev`) without an SMTP
//! server writes the message to the log instead. Neither configured: no mail, and the pages do
//! not offer what needs it.

use lettre::message::{header::ContentType, Mailbox};
use lettre::{Message, SmtpTransport, Transport as _};

use crate::config::MailConfig;

pub enum Mailer {
    Smtp {
        transport: Box<SmtpTransport>,
        from: Mailbox,
    },
    /// `--dev` without SMTP: messages go to the log.
    Log,
}

impl Mailer {
    /// The mailer the configuration asks for; `None` when mail is off.
    pub fn from_config(config: &MailConfig, dev: bool) -> Result<Option<Mailer>, String> {
        let url = config.smtp_url.as_deref().map(str::trim).filter(|u| !u.is_empty());
        let Some(url) = url else { return Ok(dev.then_some(Mailer::Log)) };
        let transport = SmtpTransport::from_url(url)
            .map_err(|e| format!("configuration key `mail.smtp_url`: {e}"))?
            .timeout(Some(std::time::Duration::from_secs(10)))
            .build();
        let from: Mailbox =
            config.from.parse().map_err(|e| format!("configuration key `mail.from`: {e} ({:?})", config.from))?;
        Ok(Some(Mailer::Smtp { transport: Box::new(transport), from }))
    }

    /// Sends a plain-text message; blocking (call it on the blocking pool).
    pub fn send(&self, to: &str, subject: &str, body: &str) -> Result<(), String> {
        match self {
            Mailer::Log => {
                tracing::warn!(to, subject, body, "development mode: this e-mail is logged, not sent");
                Ok(())
            }
            Mailer::Smtp { transport, from } => {
                let to: Mailbox = to.parse().map_err(|e| format!("recipient address: {e}"))?;
                let message = Message::builder()
                    .from(from.clone())
                    .to(to)
                    .subject(subject)
                    .header(ContentType::TEXT_PLAIN)
                    .body(body.to_owned())
                    .map_err(|e| format!("building the message: {e}"))?;
                transport.send(&message).map(|_| ()).map_err(|e| format!("sending through SMTP: {e}"))
            }
        }
    }
}
