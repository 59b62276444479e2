//! What providers tell the hub: inbound messages and delivery status reports, parsed from
//! each provider's webhook format, with the provider's own authentication checks.

use bytes::Bytes;
use chrono::{DateTime, Utc};
use domain::Channel;
use thiserror::Error;

pub mod email;
mod form;
mod signature;
pub mod twilio;
pub mod whatsapp;

/// A file that came with an inbound message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboundAttachment {
    /// The file name, as the sender named it (a generated one when it had none).
    pub filename: String,
    /// Its MIME type as declared by the sender.
    pub media_type: String,
    /// The content.
    pub content: Bytes,
}

/// A message a patient sent to the clinic through a provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboundMessage {
    /// The channel it came on.
    pub channel: Channel,
    /// The provider's id of the message (Twilio `MessageSid`, WhatsApp `wamid`, e-mail
    /// `Message-ID`): a webhook delivered twice carries the same id.
    pub provider_message_id: String,
    /// The sender: an E.164 phone number, or an e-mail address in lower case.
    pub from: String,
    /// Subject line (e-mail).
    pub subject: Option<String>,
    /// The text (an e-mail's plain-text part).
    pub body: String,
    /// Attached files (e-mail).
    pub attachments: Vec<InboundAttachment>,
    /// When the provider says it was sent, if it says.
    pub sent_at: Option<DateTime<Utc>>,
    /// The message ids this one answers (e-mail `In-Reply-To` then `References`, without `<>`).
    pub thread_references: Vec<String>,
}

/// A delivery state a provider reports for an outbound message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportedStatus {
    /// Accepted or queued at the provider, on its way.
    Sent,
    /// Handed to the handset or mailbox.
    Delivered,
    /// The patient opened it (WhatsApp read receipts).
    Read,
    /// It could not be delivered.
    Failed,
}

/// A provider's report about one outbound message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusReport {
    /// The provider's id of the message, as the send answered it.
    pub provider_message_id: String,
    /// The new state.
    pub status: ReportedStatus,
    /// The provider's reason for a failure (error code and title).
    pub reason: Option<String>,
}

/// Why a webhook's content could not be read.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum InboundError {
    /// A field the provider always sends is absent or empty.
    #[error("missing field `{0}`")]
    MissingField(&'static str),
    /// The sender is not an E.164 phone number.
    #[error("sender is not an E.164 phone number (`+` then 8 to 15 digits)")]
    InvalidPhone,
    /// The sender is not a valid e-mail address.
    #[error("sender is not a valid e-mail address")]
    InvalidEmail,
    /// A status the hub does not know.
    #[error("unknown delivery status `{0}`")]
    UnknownStatus(String),
    /// The body is not JSON of the provider's documented shape.
    #[error("malformed JSON: {0}")]
    MalformedJson(String),
    /// The body is not an RFC 5322 message.
    #[error("not an e-mail message")]
    NotAMessage,
}
