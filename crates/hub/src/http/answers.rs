//! The JSON answers of commands, documented in the OpenAPI document by these types.

use domain::attachment::MediaType;
use domain::{ConversationId, MessageId};
use schemars::JsonSchema;
use serde::Serialize;
use serde_json::Value;
use uuid::Uuid;

use commands::Committed;

/// A registration or a new token: `{id, token}`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Registered {
    /// The staff member's or patient's id.
    pub id: Uuid,
    /// The access token, shown only here.
    pub token: Option<String>,
    /// Global position of the change.
    pub position: u64,
}

/// A command that changed a record: its id and the position to wait for.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Ack {
    /// The record's id.
    pub id: Uuid,
    /// Global position of the change.
    pub position: u64,
}

/// A message command: `{conversation_id, message_id, position}`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct MessageAnswer {
    /// The conversation.
    pub conversation_id: Option<ConversationId>,
    /// The message or call log.
    pub message_id: Option<MessageId>,
    /// Global position of the change.
    pub position: u64,
    /// For a scheduled message: when it was asked to be sent (absent otherwise).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub send_at: Option<chrono::DateTime<chrono::Utc>>,
}

impl MessageAnswer {
    /// The answer for a committed message-writing command.
    pub fn from_committed(committed: &Committed) -> Self {
        let ids = committed.message();
        MessageAnswer {
            conversation_id: ids.map(|(c, _)| c),
            message_id: ids.map(|(_, m)| m),
            position: committed.position,
            send_at: None,
        }
    }

    /// The answer for a scheduled message: the conversation it will be sent in (for a first
    /// message, the id the new conversation will have once it is sent), and `send_at`.
    pub fn scheduled(committed: &Committed, send_at: chrono::DateTime<chrono::Utc>) -> Self {
        MessageAnswer {
            send_at: Some(send_at),
            ..MessageAnswer::from_committed(committed)
        }
    }
}

/// A star or unstar.
#[derive(Debug, Serialize, JsonSchema)]
pub struct StarAnswer {
    /// The conversation.
    pub conversation_id: ConversationId,
    /// The message.
    pub message_id: MessageId,
    /// Whether the caller's star is now set.
    pub starred: bool,
    /// Global position of the change.
    pub position: u64,
}

/// An archive or reopen.
#[derive(Debug, Serialize, JsonSchema)]
pub struct ArchiveAnswer {
    /// The conversation.
    pub conversation_id: ConversationId,
    /// Whether it is archived now.
    pub archived: bool,
    /// Global position of the change.
    pub position: u64,
}

/// A stored attachment.
#[derive(Debug, Serialize, JsonSchema)]
pub struct AttachmentAnswer {
    /// The attachment's id.
    pub id: Uuid,
    /// Its verified media type.
    pub media_type: MediaType,
    /// Size in bytes.
    pub size: u64,
    /// Hex SHA-256 of the content.
    pub sha256: String,
    /// The file name given at upload.
    pub filename: Option<String>,
    /// Global position of the change.
    pub position: u64,
}

/// A patient's contact record.
#[derive(Debug, Serialize, JsonSchema)]
pub struct PatientRecord {
    /// The patient's id.
    pub id: Uuid,
    /// Name.
    pub name: String,
    /// E.164 phone number.
    pub phone: Option<String>,
    /// E-mail address.
    pub email: Option<String>,
    /// Whether the patient has a portal account.
    pub portal_enabled: bool,
    /// Whether the patient agreed to WhatsApp.
    pub whatsapp_opt_in: bool,
    /// Whether the patient opted out of SMS with a keyword.
    pub sms_opted_out: bool,
    /// Whether the patient was erased: then name is `"erased"` and phone, e-mail and time zone
    /// are null.
    pub erased: bool,
    /// The patient's IANA time zone, in which quiet hours are judged; null when not known.
    pub time_zone: Option<String>,
    /// Until when free-form WhatsApp messages may be sent (24 hours after the patient's last
    /// inbound WhatsApp message); null when the patient never wrote on WhatsApp.
    pub whatsapp_window_closes_at: Option<chrono::DateTime<chrono::Utc>>,
    /// Global position the record reflects, after a change.
    pub position: Option<u64>,
}

/// `POST /v1/patients/{id}/erase` answer.
#[derive(Debug, Serialize, JsonSchema)]
pub struct ErasureAnswer {
    /// The erased patient.
    pub id: Uuid,
    /// Always true.
    pub erased: bool,
    /// Whether nothing personal of the patient remains readable in the log: false when the log
    /// holds some of it in plain text (written before personal fields were sealed).
    pub complete: bool,
    /// How many of the patient's events hold personal data in plain text.
    pub plain_events: u64,
    /// Global position of the `PatientErased` event.
    pub position: u64,
}

/// The head of the log's hash chain.
#[derive(Debug, Serialize, JsonSchema)]
pub struct AuditHead {
    /// The newest event's position (0 for an empty log).
    pub position: u64,
    /// Its `hash`: lowercase hex SHA-256 (64 zeros for an empty log).
    pub hash: String,
}

/// A page of the event log.
#[derive(Debug, Serialize, JsonSchema)]
pub struct EventPage {
    /// Events in global order, each in the contract's envelope.
    pub items: Vec<Value>,
    /// The last position of a full page (pass as `after`), null on the last page.
    pub next_cursor: Option<String>,
}
