//! Events: the immutable facts the hub records, and their envelope.
//!
//! Every event names the aggregate it belongs to, so it knows its own stream
//! ([`Event::stream`]). On the wire an event is `{"type": "...", "data": {...}}`
//! inside the envelope of contract section 5.

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::actor::{Actor, Author, Permission, Role};
use crate::attachment::AttachmentRef;
use crate::channel::{Channel, Direction};
use crate::command::{Draft, Recipient};
use crate::contact::PatientContact;
use crate::ids::{
    dispatch_stream, provider_message_stream, scheduled_stream, AttachmentId, ConversationId,
    MessageId, PatientId, StaffId, StreamName, TemplateId, UnmatchedId, QUIET_HOURS_STREAM,
};
use crate::quiet_hours::QuietHours;
use crate::status::{DeliveryStatus, MessageStatus};
use crate::template::{TemplateContent, TemplateRef, WhatsappTemplateMessage};

/// Who the clinic side of a conversation is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Counterpart {
    /// The reception team: any receptionist may answer.
    Reception,
    /// A named staff member (the doctor or admin who opened it).
    Staff,
}

impl Counterpart {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Counterpart::Reception => "reception",
            Counterpart::Staff => "staff",
        }
    }
}

/// A staff member was registered by an admin.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct StaffRegistered {
    /// The new staff member.
    pub staff_id: StaffId,
    /// Display name.
    pub name: String,
    /// Role (never `patient` or `system`).
    pub role: Role,
    /// Permissions granted at registration.
    pub permissions: Vec<Permission>,
}

/// An admin granted and revoked permissions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct PermissionsChanged {
    /// The staff member.
    pub staff_id: StaffId,
    /// Newly granted.
    pub granted: Vec<Permission>,
    /// Revoked.
    pub revoked: Vec<Permission>,
}

/// An access token was issued to a staff member or patient (only its SHA-256 is kept).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct TokenIssued {
    /// Who the token authenticates.
    pub holder: Actor,
    /// Hex SHA-256 of the token.
    pub token_sha256: String,
}

/// An access token was revoked by an admin.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct TokenRevoked {
    /// Whose token.
    pub holder: Actor,
    /// Hex SHA-256 of the revoked token.
    pub token_sha256: String,
}

/// A patient was registered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct PatientRegistered {
    /// The new patient.
    pub patient_id: PatientId,
    /// The contact record.
    #[serde(flatten)]
    pub contact: PatientContact,
}

/// A patient's contact record changed; carries the whole new record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct PatientContactChanged {
    /// The patient.
    pub patient_id: PatientId,
    /// The record after the change.
    #[serde(flatten)]
    pub contact: PatientContact,
}

/// An admin erased a patient: its data key was destroyed first, so every sealed personal field
/// of the patient and its conversations reads as the erased view from now on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct PatientErased {
    /// The erased patient.
    pub patient_id: PatientId,
    /// How many events of the patient and its conversations hold personal data in plain text
    /// (written before sealing, or never sealed): erasure is complete only when this is 0.
    pub plain_events: u64,
}

/// A patient opted out of SMS (`STOP` …) or back in (`START` …).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct SmsConsentChanged {
    /// The patient.
    pub patient_id: PatientId,
    /// Whether SMS may be sent after this.
    pub opted_in: bool,
    /// The keyword that changed it.
    pub keyword: String,
}

/// An inbound WhatsApp message (re)opened the 24-hour free-form window.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct WhatsappWindowOpened {
    /// The patient.
    pub patient_id: PatientId,
    /// When the inbound message arrived; the window closes 24 hours later.
    pub opened_at: DateTime<Utc>,
}

/// The patient's index of its conversations gained one (written with the conversation's first message).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct PatientConversationOpened {
    /// The patient.
    pub patient_id: PatientId,
    /// The new conversation.
    pub conversation_id: ConversationId,
    /// Reception or a named staff member.
    pub counterpart: Counterpart,
    /// The staff member who opened it, for `staff` conversations.
    pub staff_id: Option<StaffId>,
}

/// One of the patient's conversations was archived (kept in the patient's index so that the
/// doctor's one-open-conversation rule is decided on one stream).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct PatientConversationArchived {
    /// The patient.
    pub patient_id: PatientId,
    /// The archived conversation.
    pub conversation_id: ConversationId,
}

/// One of the patient's archived conversations was reopened.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct PatientConversationReopened {
    /// The patient.
    pub patient_id: PatientId,
    /// The reopened conversation.
    pub conversation_id: ConversationId,
}

/// A conversation began (always followed by its first message in the same append).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ConversationStarted {
    /// The conversation.
    pub conversation_id: ConversationId,
    /// The patient it is with.
    pub patient_id: PatientId,
    /// Reception or a named staff member.
    pub counterpart: Counterpart,
    /// Who wrote the first message.
    pub initiator: Actor,
}

/// A message written through the hub by staff or by the patient in the portal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct MessageSent {
    /// The conversation.
    pub conversation_id: ConversationId,
    /// The message.
    pub message_id: MessageId,
    /// The channel it travels on.
    pub channel: Channel,
    /// `outbound` from the clinic, `inbound` from the patient.
    pub direction: Direction,
    /// Who wrote it.
    pub author: Author,
    /// Subject line (required on e-mail).
    pub subject: Option<String>,
    /// The text.
    pub body: String,
    /// Attached files.
    pub attachments: Vec<AttachmentRef>,
    /// `queued` on external channels, `delivered` for portal messages to the patient, else none.
    pub delivery_status: Option<DeliveryStatus>,
    /// The template version it was rendered from (schema version 3; `null` before).
    pub template: Option<TemplateRef>,
    /// On WhatsApp outside the 24-hour window: the approved template message the dispatcher
    /// sends in place of the text (schema version 3; `null` before and for any other message).
    pub whatsapp_template: Option<WhatsappTemplateMessage>,
    /// For a scheduled message: the time it was scheduled for (schema version 4; `null`
    /// before and for any message sent when written).
    pub scheduled_for: Option<DateTime<Utc>>,
}

/// A phone call was logged (no audio: time, duration and summary).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct CallLogged {
    /// The conversation.
    pub conversation_id: ConversationId,
    /// The call log entry's id.
    pub message_id: MessageId,
    /// The staff member who logged it.
    pub author: Author,
    /// When the call took place.
    pub occurred_at: DateTime<Utc>,
    /// How long it lasted.
    pub duration_seconds: u32,
    /// `inbound` if the patient called, `outbound` if the clinic called.
    pub direction: Direction,
    /// What was said.
    pub summary: String,
}

/// A message's status moved forward (`read` or `replied`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct StatusChanged {
    /// The conversation.
    pub conversation_id: ConversationId,
    /// The message.
    pub message_id: MessageId,
    /// The new status.
    pub status: MessageStatus,
}

/// A staff member starred a message for their own follow-up.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct MessageStarred {
    /// The conversation.
    pub conversation_id: ConversationId,
    /// The message.
    pub message_id: MessageId,
    /// Whose star.
    pub staff_id: StaffId,
}

/// A staff member removed their star.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct MessageUnstarred {
    /// The conversation.
    pub conversation_id: ConversationId,
    /// The message.
    pub message_id: MessageId,
    /// Whose star.
    pub staff_id: StaffId,
}

/// A conversation was archived; everything is kept and stays searchable.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ConversationArchived {
    /// The conversation.
    pub conversation_id: ConversationId,
}

/// An archived conversation was reopened, explicitly or by a new message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ConversationReopened {
    /// The conversation.
    pub conversation_id: ConversationId,
    /// The new message that reopened it, if that is how.
    pub by_message: Option<MessageId>,
}

/// A file was stored for later attachment to messages.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct AttachmentStored {
    /// The file's metadata.
    #[serde(flatten)]
    pub attachment: AttachmentRef,
    /// Who uploaded it (only the uploader may attach it).
    pub uploaded_by: Actor,
}

/// A patient's message that came in through a provider (SMS, e-mail, WhatsApp).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct MessageReceived {
    /// The conversation it was filed in.
    pub conversation_id: ConversationId,
    /// The message.
    pub message_id: MessageId,
    /// The channel it came on.
    pub channel: Channel,
    /// The patient who sent it.
    pub author: Author,
    /// Subject line (e-mail).
    pub subject: Option<String>,
    /// The text.
    pub body: String,
    /// Files that came with it.
    pub attachments: Vec<AttachmentRef>,
    /// The provider's id of the message.
    pub provider_message_id: String,
}

/// A provider's message id was linked to the hub's message (stream `provider-message-<key>`,
/// written once: a webhook delivered twice finds it and adds nothing).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ProviderMessageLinked {
    /// The channel.
    pub channel: Channel,
    /// The provider's id.
    pub provider_message_id: String,
    /// `inbound` for a received message, `outbound` for one the hub sent.
    pub direction: Direction,
    /// The conversation of the hub's message.
    pub conversation_id: ConversationId,
    /// The hub's message.
    pub message_id: MessageId,
}

/// A dispatcher claimed an outbound message before handing it to the provider
/// (stream `dispatch-<message id>`): no other dispatcher sends it while the claim holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct DispatchClaimed {
    /// The conversation.
    pub conversation_id: ConversationId,
    /// The message.
    pub message_id: MessageId,
    /// The channel it goes out on.
    pub channel: Channel,
    /// The dispatcher instance that holds the claim.
    pub dispatcher: String,
    /// Until when the claim holds; a claim past it without an outcome is abandoned.
    pub lease_until: DateTime<Utc>,
}

/// An outbound message's delivery status moved forward (stream `dispatch-<message id>`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct DeliveryStatusChanged {
    /// The conversation.
    pub conversation_id: ConversationId,
    /// The message.
    pub message_id: MessageId,
    /// The new delivery status.
    pub status: DeliveryStatus,
    /// Why it failed (the provider's reason, or `outcome_unknown`).
    pub reason: Option<String>,
    /// The provider's ids of the message, when it accepted it.
    pub provider_message_ids: Vec<String>,
}

/// An inbound message from a sender that matches no patient, kept for reception.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct InboundUnmatched {
    /// The queue entry.
    pub unmatched_id: UnmatchedId,
    /// The channel it came on.
    pub channel: Channel,
    /// The sender's phone number or e-mail address.
    pub sender: String,
    /// Subject line (e-mail).
    pub subject: Option<String>,
    /// The text.
    pub body: String,
    /// Files that came with it.
    pub attachments: Vec<AttachmentRef>,
    /// The provider's id of the message.
    pub provider_message_id: String,
}

/// Reception filed an unmatched inbound message into a patient's conversation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct UnmatchedAssigned {
    /// The queue entry.
    pub unmatched_id: UnmatchedId,
    /// The patient it belongs to.
    pub patient_id: PatientId,
    /// The conversation it was filed in.
    pub conversation_id: ConversationId,
    /// The message it became.
    pub message_id: MessageId,
}

/// An admin created a template (stream `template-<id>`); its first version is 1.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct TemplateCreated {
    /// The new template.
    pub template_id: TemplateId,
    /// Its content.
    #[serde(flatten)]
    pub content: TemplateContent,
    /// Its placeholders in order of first use (subject, then body).
    pub variables: Vec<String>,
    /// Always 1.
    pub version: u32,
}

/// An admin wrote a new version of a template; carries the version's whole content.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct TemplateRevised {
    /// The template.
    pub template_id: TemplateId,
    /// The new version's content.
    #[serde(flatten)]
    pub content: TemplateContent,
    /// Its placeholders in order of first use (subject, then body).
    pub variables: Vec<String>,
    /// The new version: one more than the previous.
    pub version: u32,
}

/// An admin retired a template: it can no longer be used, and stays readable.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct TemplateRetired {
    /// The template.
    pub template_id: TemplateId,
    /// Its last version.
    pub version: u32,
}

/// An admin set the clinic's quiet hours (stream `settings-quiet-hours`); replaces the previous setting.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct QuietHoursSet {
    /// The setting.
    #[serde(flatten)]
    pub quiet_hours: QuietHours,
}

/// A message was scheduled (stream `scheduled-<message id>`): nothing enters a timeline yet.
/// Carries everything needed to decide and send it when it is due.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct MessageScheduled {
    /// The id the message will have in the timeline.
    pub message_id: MessageId,
    /// The conversation it will be sent in (the id for a new one when it starts one).
    pub conversation_id: ConversationId,
    /// Whether it will be the first message of a new conversation.
    pub starts_conversation: bool,
    /// For a patient's first message: whom it writes to.
    pub to: Option<Recipient>,
    /// The patient the conversation is with.
    pub patient_id: PatientId,
    /// Who scheduled it; it will be sent as this author.
    pub author: Author,
    /// The message as it will be sent (rendered already when written from a template).
    pub draft: Draft,
    /// The template version it was rendered from.
    pub template: Option<TemplateRef>,
    /// On WhatsApp from a template with an approved counterpart: the template message sent in
    /// place of the text when the 24-hour window is closed at release (schema version 2;
    /// `null` before and for any other message).
    pub whatsapp_template: Option<WhatsappTemplateMessage>,
    /// When the author asked for it to be sent.
    pub send_at: DateTime<Utc>,
    /// When it will be released: `send_at`, or the end of quiet hours it falls into.
    pub release_at: DateTime<Utc>,
}

/// A due scheduled message was sent: it entered the timeline under its message id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ScheduledMessageReleased {
    /// The message.
    pub message_id: MessageId,
    /// Its conversation.
    pub conversation_id: ConversationId,
    /// When it was released (the timeline's `sent_at`).
    pub released_at: DateTime<Utc>,
}

/// A pending scheduled message was cancelled; it will never be sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ScheduledMessageCancelled {
    /// The message.
    pub message_id: MessageId,
    /// Its conversation.
    pub conversation_id: ConversationId,
}

/// A due scheduled message failed a rule and was not sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ScheduledMessageFailed {
    /// The message.
    pub message_id: MessageId,
    /// Its conversation.
    pub conversation_id: ConversationId,
    /// The contract error code of the rule that failed, e.g. `channel_unavailable`.
    pub failure_reason: String,
}

/// Everything the hub records. Serialized as `{"type": "...", "data": {...}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type", content = "data")]
pub enum Event {
    /// See [`StaffRegistered`].
    StaffRegistered(StaffRegistered),
    /// See [`PermissionsChanged`].
    PermissionsChanged(PermissionsChanged),
    /// See [`TokenIssued`].
    TokenIssued(TokenIssued),
    /// See [`TokenRevoked`].
    TokenRevoked(TokenRevoked),
    /// See [`PatientRegistered`].
    PatientRegistered(PatientRegistered),
    /// See [`PatientContactChanged`].
    PatientContactChanged(PatientContactChanged),
    /// See [`PatientErased`].
    PatientErased(PatientErased),
    /// See [`SmsConsentChanged`].
    SmsConsentChanged(SmsConsentChanged),
    /// See [`WhatsappWindowOpened`].
    WhatsappWindowOpened(WhatsappWindowOpened),
    /// See [`PatientConversationOpened`].
    PatientConversationOpened(PatientConversationOpened),
    /// See [`PatientConversationArchived`].
    PatientConversationArchived(PatientConversationArchived),
    /// See [`PatientConversationReopened`].
    PatientConversationReopened(PatientConversationReopened),
    /// See [`ConversationStarted`].
    ConversationStarted(ConversationStarted),
    /// See [`MessageSent`].
    MessageSent(MessageSent),
    /// See [`CallLogged`].
    CallLogged(CallLogged),
    /// See [`StatusChanged`].
    StatusChanged(StatusChanged),
    /// See [`MessageStarred`].
    MessageStarred(MessageStarred),
    /// See [`MessageUnstarred`].
    MessageUnstarred(MessageUnstarred),
    /// See [`ConversationArchived`].
    ConversationArchived(ConversationArchived),
    /// See [`ConversationReopened`].
    ConversationReopened(ConversationReopened),
    /// See [`AttachmentStored`].
    AttachmentStored(AttachmentStored),
    /// See [`MessageReceived`].
    MessageReceived(MessageReceived),
    /// See [`ProviderMessageLinked`].
    ProviderMessageLinked(ProviderMessageLinked),
    /// See [`DispatchClaimed`].
    DispatchClaimed(DispatchClaimed),
    /// See [`DeliveryStatusChanged`].
    DeliveryStatusChanged(DeliveryStatusChanged),
    /// See [`InboundUnmatched`].
    InboundUnmatched(InboundUnmatched),
    /// See [`UnmatchedAssigned`].
    UnmatchedAssigned(UnmatchedAssigned),
    /// See [`TemplateCreated`].
    TemplateCreated(TemplateCreated),
    /// See [`TemplateRevised`].
    TemplateRevised(TemplateRevised),
    /// See [`TemplateRetired`].
    TemplateRetired(TemplateRetired),
    /// See [`QuietHoursSet`].
    QuietHoursSet(QuietHoursSet),
    /// See [`MessageScheduled`].
    MessageScheduled(MessageScheduled),
    /// See [`ScheduledMessageReleased`].
    ScheduledMessageReleased(ScheduledMessageReleased),
    /// See [`ScheduledMessageCancelled`].
    ScheduledMessageCancelled(ScheduledMessageCancelled),
    /// See [`ScheduledMessageFailed`].
    ScheduledMessageFailed(ScheduledMessageFailed),
}

/// The stream of the actor that holds a token: the patient's or the staff member's.
fn holder_stream(holder: &Actor) -> String {
    match holder.role {
        Role::Patient => PatientId(holder.id).stream(),
        _ => StaffId(holder.id).stream(),
    }
}

impl Event {
    /// The stream this event belongs to.
    pub fn stream(&self) -> String {
        match self {
            Event::StaffRegistered(e) => e.staff_id.stream(),
            Event::PermissionsChanged(e) => e.staff_id.stream(),
            Event::TokenIssued(e) => holder_stream(&e.holder),
            Event::TokenRevoked(e) => holder_stream(&e.holder),
            Event::PatientRegistered(e) => e.patient_id.stream(),
            Event::PatientContactChanged(e) => e.patient_id.stream(),
            Event::PatientErased(e) => e.patient_id.stream(),
            Event::SmsConsentChanged(e) => e.patient_id.stream(),
            Event::WhatsappWindowOpened(e) => e.patient_id.stream(),
            Event::PatientConversationOpened(e) => e.patient_id.stream(),
            Event::PatientConversationArchived(e) => e.patient_id.stream(),
            Event::PatientConversationReopened(e) => e.patient_id.stream(),
            Event::ConversationStarted(e) => e.conversation_id.stream(),
            Event::MessageSent(e) => e.conversation_id.stream(),
            Event::CallLogged(e) => e.conversation_id.stream(),
            Event::StatusChanged(e) => e.conversation_id.stream(),
            Event::MessageStarred(e) => e.conversation_id.stream(),
            Event::MessageUnstarred(e) => e.conversation_id.stream(),
            Event::ConversationArchived(e) => e.conversation_id.stream(),
            Event::ConversationReopened(e) => e.conversation_id.stream(),
            Event::AttachmentStored(e) => AttachmentId::stream(&e.attachment.id),
            Event::MessageReceived(e) => e.conversation_id.stream(),
            Event::ProviderMessageLinked(e) => {
                provider_message_stream(e.channel, &e.provider_message_id)
            }
            Event::DispatchClaimed(e) => dispatch_stream(e.message_id),
            Event::DeliveryStatusChanged(e) => dispatch_stream(e.message_id),
            Event::InboundUnmatched(e) => e.unmatched_id.stream(),
            Event::UnmatchedAssigned(e) => e.unmatched_id.stream(),
            Event::TemplateCreated(e) => e.template_id.stream(),
            Event::TemplateRevised(e) => e.template_id.stream(),
            Event::TemplateRetired(e) => e.template_id.stream(),
            Event::QuietHoursSet(_) => QUIET_HOURS_STREAM.to_owned(),
            Event::MessageScheduled(e) => scheduled_stream(e.message_id),
            Event::ScheduledMessageReleased(e) => scheduled_stream(e.message_id),
            Event::ScheduledMessageCancelled(e) => scheduled_stream(e.message_id),
            Event::ScheduledMessageFailed(e) => scheduled_stream(e.message_id),
        }
    }

    /// The event's type name, e.g. `MessageSent`.
    pub fn event_type(&self) -> &'static str {
        match self {
            Event::StaffRegistered(_) => "StaffRegistered",
            Event::PermissionsChanged(_) => "PermissionsChanged",
            Event::TokenIssued(_) => "TokenIssued",
            Event::TokenRevoked(_) => "TokenRevoked",
            Event::PatientRegistered(_) => "PatientRegistered",
            Event::PatientContactChanged(_) => "PatientContactChanged",
            Event::PatientErased(_) => "PatientErased",
            Event::SmsConsentChanged(_) => "SmsConsentChanged",
            Event::WhatsappWindowOpened(_) => "WhatsappWindowOpened",
            Event::PatientConversationOpened(_) => "PatientConversationOpened",
            Event::PatientConversationArchived(_) => "PatientConversationArchived",
            Event::PatientConversationReopened(_) => "PatientConversationReopened",
            Event::ConversationStarted(_) => "ConversationStarted",
            Event::MessageSent(_) => "MessageSent",
            Event::CallLogged(_) => "CallLogged",
            Event::StatusChanged(_) => "StatusChanged",
            Event::MessageStarred(_) => "MessageStarred",
            Event::MessageUnstarred(_) => "MessageUnstarred",
            Event::ConversationArchived(_) => "ConversationArchived",
            Event::ConversationReopened(_) => "ConversationReopened",
            Event::AttachmentStored(_) => "AttachmentStored",
            Event::MessageReceived(_) => "MessageReceived",
            Event::ProviderMessageLinked(_) => "ProviderMessageLinked",
            Event::DispatchClaimed(_) => "DispatchClaimed",
            Event::DeliveryStatusChanged(_) => "DeliveryStatusChanged",
            Event::InboundUnmatched(_) => "InboundUnmatched",
            Event::UnmatchedAssigned(_) => "UnmatchedAssigned",
            Event::TemplateCreated(_) => "TemplateCreated",
            Event::TemplateRevised(_) => "TemplateRevised",
            Event::TemplateRetired(_) => "TemplateRetired",
            Event::QuietHoursSet(_) => "QuietHoursSet",
            Event::MessageScheduled(_) => "MessageScheduled",
            Event::ScheduledMessageReleased(_) => "ScheduledMessageReleased",
            Event::ScheduledMessageCancelled(_) => "ScheduledMessageCancelled",
            Event::ScheduledMessageFailed(_) => "ScheduledMessageFailed",
        }
    }

    /// The schema version of this event's current shape. Every type starts at 1; a changed
    /// shape gets a new version and an upcaster from the old one (`eventlog::upcast`).
    pub fn schema_version(&self) -> u32 {
        // The last version of each type with personal data stores them sealed under the
        // patient's key (`eventlog::seal`); opened, it has the shape of the version before.
        match self {
            // 3: the template it was rendered from, and the WhatsApp template message.
            // 4: the time a scheduled message was scheduled for.
            // 5: personal fields sealed.
            Event::MessageSent(_) => 5,
            // 2: the author carries the name it had when it wrote. 3: personal fields sealed.
            Event::CallLogged(_) | Event::MessageReceived(_) => 3,
            // 2: the contact record carries the patient's time zone. 3: personal fields sealed.
            Event::PatientRegistered(_) | Event::PatientContactChanged(_) => 3,
            // 2: the approved WhatsApp template message it is released as outside the window.
            // 3: personal fields sealed.
            Event::MessageScheduled(_) => 3,
            // 2: the file name sealed under the attachment's own key (the patient is not known
            // at upload; erasing the patient destroys the keys of its messages' files).
            Event::AttachmentStored(_) => 2,
            _ => 1,
        }
    }

    /// The event's `data` as JSON.
    pub fn data(&self) -> serde_json::Value {
        match serde_json::to_value(self) {
            Ok(serde_json::Value::Object(mut fields)) => {
                fields.remove("data").unwrap_or(serde_json::Value::Null)
            }
            // Every variant is a struct of plain serializable fields.
            _ => unreachable!("events serialize to a tagged object"),
        }
    }

    /// Rebuilds an event from its type name and `data`.
    pub fn from_parts(
        event_type: &str,
        data: serde_json::Value,
    ) -> Result<Self, serde_json::Error> {
        serde_json::from_value(serde_json::json!({ "type": event_type, "data": data }))
    }
}

/// Correlation, causation and idempotency of the command that caused an event.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct EventMetadata {
    /// Shared by every event caused by one request.
    pub correlation_id: Option<Uuid>,
    /// The event or request that directly caused this one.
    pub causation_id: Option<Uuid>,
    /// The caller's idempotency key, if the command carried one.
    pub idempotency_key: Option<String>,
}

/// A recorded event with the full envelope of contract section 5.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct EventEnvelope {
    /// Unique id of the event.
    pub event_id: Uuid,
    /// The stream, e.g. `conversation-<uuid>`.
    pub stream: String,
    /// 0-based position in the stream.
    pub version: u64,
    /// Global position in commit order, starting at 1.
    pub position: u64,
    /// Type and data.
    #[serde(flatten)]
    pub event: Event,
    /// Version of the event type's shape.
    pub schema_version: u32,
    /// When the hub recorded it.
    pub occurred_at: DateTime<Utc>,
    /// Who caused it.
    pub actor: Actor,
    /// Correlation, causation and idempotency key.
    pub metadata: EventMetadata,
}
