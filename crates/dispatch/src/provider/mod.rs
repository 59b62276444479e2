//! Channel providers: one trait, one adapter per external channel, each speaking its
//! provider's documented wire format. Adapters know nothing of the event log: they take an
//! [`OutboundMessage`] and answer whether the provider accepted it.

use domain::template::WhatsappTemplateMessage;
use domain::{Channel, ConversationId, MessageId};
use thiserror::Error;

pub mod email;
pub(crate) mod http;
pub mod twilio;
pub mod whatsapp;

/// A file carried by an outbound message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboundAttachment {
    /// The file name shown to the patient.
    pub filename: String,
    /// Its MIME type, e.g. `application/pdf`.
    pub media_type: String,
    /// The content.
    pub content: bytes::Bytes,
}

/// One message to hand to a provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboundMessage {
    /// The hub's id of the message (used for e-mail `Message-ID`s and idempotency).
    pub message_id: MessageId,
    /// The conversation it belongs to (used for e-mail threading).
    pub conversation_id: ConversationId,
    /// The channel it travels on.
    pub channel: Channel,
    /// The patient's address on that channel: an E.164 phone number or an e-mail address.
    pub to: String,
    /// Subject line (e-mail).
    pub subject: Option<String>,
    /// The text.
    pub body: String,
    /// Attached files with their contents.
    pub attachments: Vec<OutboundAttachment>,
    /// The hub's earlier message in the same conversation this one answers, for e-mail
    /// `In-Reply-To` / `References`.
    pub in_reply_to: Option<MessageId>,
    /// On WhatsApp outside the 24-hour window: the approved template message sent in place
    /// of `body`.
    pub whatsapp_template: Option<WhatsappTemplateMessage>,
}

/// The provider took the message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accepted {
    /// The provider's ids of what it accepted (Twilio `sid`, WhatsApp `wamid`s, the e-mail
    /// `Message-ID`), the first being the message's main id. Status callbacks name these.
    pub provider_message_ids: Vec<String>,
}

/// Why a provider did not take a message.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SendError {
    /// Worth retrying: the provider certainly did not accept it (connection refused, 429, 5xx
    /// before acceptance, a timeout while connecting).
    #[error("transient provider error: {0}")]
    Transient(String),
    /// The provider refused it for good (bad number, auth failure, 4xx); the reason is shown to staff.
    #[error("provider refused the message: {0}")]
    Rejected(String),
    /// The provider may or may not have accepted it (a timeout after the request was sent):
    /// retrying could send it twice.
    #[error("outcome unknown: {0}")]
    OutcomeUnknown(String),
}

/// A provider that sends one external channel's messages.
#[async_trait::async_trait]
pub trait Provider: Send + Sync + 'static {
    /// The channel this provider serves.
    fn channel(&self) -> Channel;

    /// Hands one message to the provider.
    async fn send(&self, message: &OutboundMessage) -> Result<Accepted, SendError>;
}

/// A provider could not be built from its configuration (a malformed URL or address, or an
/// HTTP client that could not start).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("provider setup failed: {0}")]
pub struct SetupError(pub String);
