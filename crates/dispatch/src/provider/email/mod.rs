//! E-mail through SMTP (lettre): STARTTLS, implicit TLS or plain, with credentials, all
//! from one connection URL such as `smtp://user:pass@host:587?tls=required`.

mod compose;
mod threading;

use std::fmt;
use std::time::Duration;

use domain::Channel;
use lettre::message::Mailbox;
use lettre::transport::smtp;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};

pub use threading::{hub_message_id, parse_hub_message_id};

use super::{Accepted, OutboundMessage, Provider, SendError, SetupError};

/// How long connecting and each SMTP exchange may take.
const TIMEOUT: Duration = Duration::from_secs(30);

/// How to reach the SMTP server and whom the mail is from.
#[derive(Clone)]
pub struct EmailConfig {
    /// `smtp://[user:pass@]host[:port][?tls=required|opportunistic]` (STARTTLS or plain) or
    /// `smtps://…` (implicit TLS).
    pub smtp_url: String,
    /// The sender, e.g. `Clinic <clinic@example.org>`; its domain names the hub's
    /// `Message-ID`s.
    pub from: String,
}

impl fmt::Debug for EmailConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EmailConfig")
            .field("smtp_url", &"<redacted>")
            .field("from", &self.from)
            .finish()
    }
}

/// The e-mail provider.
#[derive(Debug, Clone)]
pub struct SmtpEmail {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    domain: String,
}

impl SmtpEmail {
    /// Builds the provider: the URL and the sender address must parse. It does not connect.
    pub fn new(config: &EmailConfig) -> Result<Self, SetupError> {
        let from: Mailbox = config
            .from
            .parse()
            .map_err(|err| SetupError(format!("e-mail sender: {err}")))?;
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(&config.smtp_url)
            .map_err(|err| SetupError(format!("SMTP URL: {err}")))?
            .timeout(Some(TIMEOUT))
            .build();
        let domain = from.email.domain().to_owned();
        Ok(Self {
            transport,
            from,
            domain,
        })
    }
}

#[async_trait::async_trait]
impl Provider for SmtpEmail {
    fn channel(&self) -> Channel {
        Channel::Email
    }

    async fn send(&self, message: &OutboundMessage) -> Result<Accepted, SendError> {
        let composed = compose::compose(message, &self.from, &self.domain)?;
        self.transport
            .send(composed.message)
            .await
            .map_err(|err| classify(&err))?;
        tracing::debug!(message_id = %composed.message_id, "smtp server accepted the e-mail");
        Ok(Accepted {
            provider_message_ids: vec![composed.message_id],
        })
    }
}

/// Maps an SMTP failure: 4xx replies and failures to connect are transient, 5xx replies
/// are rejections, and a connection lost mid-session may have lost it after `DATA`.
fn classify(err: &smtp::Error) -> SendError {
    if let Some(code) = err.status() {
        let text = std::error::Error::source(err)
            .map(ToString::to_string)
            .unwrap_or_default();
        let reason = format!("smtp {code}: {text}");
        return if err.is_permanent() {
            SendError::Rejected(reason)
        } else {
            SendError::Transient(reason)
        };
    }
    if err.is_tls() || is_connection_failure(err) {
        SendError::Transient(format!("smtp: {err}"))
    } else if err.is_client() {
        SendError::Rejected(format!("smtp: {err}"))
    } else {
        SendError::OutcomeUnknown(format!("smtp: the session broke off: {err}"))
    }
}

/// Whether the error arose while connecting (refused, unresolvable, connect timeout).
/// lettre has no predicate for it; its connection errors display as `Connection error`. Were
/// that to change, such failures would count as outcome unknown: the cautious side.
fn is_connection_failure(err: &smtp::Error) -> bool {
    err.to_string().starts_with("Connection error")
}
