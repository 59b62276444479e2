//! What queries answer: the contract's Message and Conversation shapes, filters and pages.

use chrono::{DateTime, Utc};
use domain::attachment::MediaType;
use domain::event::Counterpart;
use domain::scheduled::ScheduledStatus;
use domain::status::{ConversationStatus, DeliveryStatus, MessageStatus};
use domain::template::{TemplateRef, WhatsappTemplate};
use domain::{
    AttachmentId, Author, Channel, ConversationId, Direction, MessageId, PatientId, Permission,
    Role, StaffId, TemplateId,
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// An attachment as a message lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct AttachmentView {
    /// The attachment's id.
    pub id: AttachmentId,
    /// Its media type.
    pub media_type: MediaType,
    /// Size in bytes.
    pub size: u64,
    /// File name given at upload.
    pub filename: Option<String>,
}

/// The call's own time and length, for call logs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct CallView {
    /// When the call took place.
    pub occurred_at: DateTime<Utc>,
    /// How long it lasted.
    pub duration_seconds: u32,
}

/// A message or call log (contract section 4, "Message").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct MessageView {
    /// The message's id.
    pub id: MessageId,
    /// Its conversation.
    pub conversation_id: ConversationId,
    /// The patient of the conversation.
    pub patient_id: PatientId,
    /// The channel (`call` for call logs).
    pub channel: Channel,
    /// `inbound` from the patient, `outbound` from the clinic.
    pub direction: Direction,
    /// Who wrote or logged it, with the name they had then.
    pub author: Author,
    /// Subject line.
    pub subject: Option<String>,
    /// The text; for a call log, the summary; null once the patient was erased.
    pub body: Option<String>,
    /// Attached files.
    pub attachments: Vec<AttachmentView>,
    /// Whether the conversation's patient was erased: then subject, body, the author's name
    /// and the attachments' file names are null.
    pub erased: bool,
    /// Status from the recipient's side.
    pub status: MessageStatus,
    /// Delivery status on external channels and portal messages to the patient.
    pub delivery_status: Option<DeliveryStatus>,
    /// The provider's reason when delivery failed.
    pub delivery_error: Option<String>,
    /// Whether the caller starred it.
    pub starred: bool,
    /// When the hub recorded it.
    pub sent_at: DateTime<Utc>,
    /// For call logs: the call's time and length.
    pub call: Option<CallView>,
    /// The template version it was rendered from, if any.
    pub template: Option<TemplateRef>,
    /// For a released scheduled message: the time it was scheduled for (`sent_at` is when it
    /// was released); `null` otherwise.
    pub scheduled_for: Option<DateTime<Utc>>,
    /// The global position of the event that recorded it.
    pub position: u64,
}

/// A scheduled message as `GET /v1/scheduled` lists it (contract section 8).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct ScheduledView {
    /// The id the message has (or will have) in the timeline.
    pub message_id: MessageId,
    /// The conversation it is (or will be) sent in.
    pub conversation_id: ConversationId,
    /// The patient the conversation is with.
    pub patient_id: PatientId,
    /// The channel it is sent on.
    pub channel: Channel,
    /// Subject line, if any.
    pub subject: Option<String>,
    /// The text, rendered already when written from a template.
    pub body: String,
    /// The template version it was rendered from, if any.
    pub template: Option<TemplateRef>,
    /// Attached files.
    pub attachments: Vec<AttachmentView>,
    /// When the author asked for it to be sent.
    pub send_at: DateTime<Utc>,
    /// When it is (or was) released: `send_at`, or the end of quiet hours it fell into.
    pub release_at: DateTime<Utc>,
    /// `pending`, `sent`, `cancelled` or `failed`.
    pub status: ScheduledStatus,
    /// For a failed one: the contract error code of the rule that failed.
    pub failure_reason: Option<String>,
    /// Who scheduled it (it is sent as this author).
    pub author: Author,
    /// The position of its `MessageScheduled` (the list's cursor key).
    #[serde(skip)]
    #[schemars(skip)]
    pub position: u64,
}

/// What `GET /v1/scheduled` filters on.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScheduledFilter {
    /// Only this patient's.
    pub patient_id: Option<PatientId>,
    /// Only this conversation's.
    pub conversation_id: Option<ConversationId>,
    /// Only those with this status.
    pub status: Option<ScheduledStatus>,
}

/// A template as `GET /v1/templates` lists it: its current version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct TemplateView {
    /// The template's id.
    pub id: TemplateId,
    /// Display name.
    pub name: String,
    /// The current version (1 for the content it was created with).
    pub version: u32,
    /// Subject line with placeholders.
    pub subject: Option<String>,
    /// Body text with `{{name}}` placeholders.
    pub body: String,
    /// The approved WhatsApp template it is sent as outside the 24-hour window.
    pub whatsapp: Option<WhatsappTemplate>,
    /// Its placeholders in order of first use (subject, then body).
    pub variables: Vec<String>,
    /// Whether it was retired (it can no longer be used).
    pub retired: bool,
    /// Where the template is in the catalogue's order (creation order).
    #[serde(skip)]
    pub position: u64,
}

/// A staff member as the staff directory lists them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct StaffEntry {
    /// The staff member's id.
    pub id: StaffId,
    /// Display name.
    pub name: String,
    /// `receptionist`, `doctor`, `admin` or `auditor`.
    pub role: Role,
    /// Permissions held now.
    pub permissions: Vec<Permission>,
    /// Where the entry is in the directory's order (registration order).
    #[serde(skip)]
    pub position: u64,
}

/// A patient the patient directory found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PatientMatch {
    /// The patient.
    pub id: PatientId,
    /// Where the patient is in the directory's order (registration order).
    pub position: u64,
}

/// Someone who takes part in a conversation, with their current name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct Participant {
    /// Their id.
    pub id: Uuid,
    /// Their role.
    pub role: Role,
    /// Their name in the directory now (the bootstrap admin is "Administrator").
    pub name: Option<String>,
}

/// Whose turn it is in a conversation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Awaiting {
    /// The latest entry is the patient's message: the clinic owes a reply.
    Clinic,
    /// The latest entry is the clinic's (a message or a logged call).
    Patient,
}

impl Awaiting {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Awaiting::Clinic => "clinic",
            Awaiting::Patient => "patient",
        }
    }

    /// Whose turn it is after an entry in `direction` (a call log is the clinic's entry,
    /// whoever called).
    pub fn after(direction: Direction, call_log: bool) -> Self {
        match direction {
            Direction::Inbound if !call_log => Awaiting::Clinic,
            _ => Awaiting::Patient,
        }
    }
}

impl std::str::FromStr for Awaiting {
    type Err = domain::UnknownName;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "clinic" => Ok(Awaiting::Clinic),
            "patient" => Ok(Awaiting::Patient),
            other => Err(domain::UnknownName::new("awaiting", other)),
        }
    }
}

/// A conversation (contract section 4, "Conversation").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct ConversationView {
    /// The conversation's id.
    pub id: ConversationId,
    /// The patient.
    pub patient_id: PatientId,
    /// `reception` or `staff`.
    pub counterpart: Counterpart,
    /// The patient's name in the directory now.
    pub patient_name: Option<String>,
    /// The patient, the initiator and everyone who wrote in it.
    pub participants: Vec<Participant>,
    /// `archived`, or the latest entry's status.
    pub status: ConversationStatus,
    /// `clinic` when the latest entry is the patient's message, `patient` when it is the clinic's.
    pub awaiting: Awaiting,
    /// Whether it is archived.
    pub archived: bool,
    /// When its latest entry was recorded.
    pub last_message_at: DateTime<Utc>,
    /// Unread messages addressed to the caller's side.
    pub unread_count: u64,
    /// The latest entry.
    pub latest_message: MessageView,
    /// The global position of its latest activity.
    pub position: u64,
}

/// Filters of the inbox list. Message-level filters match a conversation when one of its
/// entries satisfies all of them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConversationFilter {
    /// Only this patient's conversations.
    pub patient_id: Option<PatientId>,
    /// Only conversations with this status.
    pub status: Option<ConversationStatus>,
    /// Only conversations waiting for this side's next entry.
    pub awaiting: Option<Awaiting>,
    /// Entries on this channel.
    pub channel: Option<Channel>,
    /// Entries in this direction.
    pub direction: Option<Direction>,
    /// Entries the caller starred (`true`) or did not (`false`).
    pub starred: Option<bool>,
    /// Full-text search over subjects, bodies and call summaries.
    pub q: Option<String>,
}

/// Filters of the message search; `status` `archived` means "in an archived conversation".
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MessageFilter {
    /// Only this conversation's entries.
    pub conversation_id: Option<ConversationId>,
    /// Only this patient's messages.
    pub patient_id: Option<PatientId>,
    /// Message status, or `archived`.
    pub status: Option<ConversationStatus>,
    /// Only this channel.
    pub channel: Option<Channel>,
    /// Only this direction.
    pub direction: Option<Direction>,
    /// Starred by the caller, or not.
    pub starred: Option<bool>,
    /// Full-text search.
    pub q: Option<String>,
}

/// A page request: size and the opaque cursor of the previous page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageRequest {
    /// Page size, 1 to 200.
    pub limit: u32,
    /// Where the previous page ended.
    pub cursor: Option<String>,
}

/// One page of a list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
#[schemars(rename = "{T}Page")]
pub struct Page<T> {
    /// The items.
    pub items: Vec<T>,
    /// The cursor of the next page; null on the last page.
    pub next_cursor: Option<String>,
}

/// Opaque keyset cursors: the last position seen, tagged by the list they belong to.
pub(crate) mod cursor {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;

    use crate::QueryError;

    /// Encodes a position for list `kind`.
    pub fn encode(kind: &str, position: u64) -> String {
        URL_SAFE_NO_PAD.encode(format!("{kind}:{position}"))
    }

    /// Decodes a cursor of list `kind`.
    pub fn decode(kind: &str, cursor: &str) -> Result<u64, QueryError> {
        let bytes = URL_SAFE_NO_PAD
            .decode(cursor)
            .map_err(|_| QueryError::InvalidCursor)?;
        let text = String::from_utf8(bytes).map_err(|_| QueryError::InvalidCursor)?;
        let (tag, position) = text.split_once(':').ok_or(QueryError::InvalidCursor)?;
        if tag != kind {
            return Err(QueryError::InvalidCursor);
        }
        position.parse().map_err(|_| QueryError::InvalidCursor)
    }
}
