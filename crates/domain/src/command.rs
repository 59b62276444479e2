//! Commands: what actors ask the hub to do. Ids of new things are chosen by the caller.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::actor::{Actor, Permission, Role};
use crate::attachment::AttachmentRef;
use crate::channel::{Channel, Direction};
use crate::contact::PatientContact;
use crate::error::DomainError;
use crate::ids::{ConversationId, MessageId, PatientId, StaffId, TemplateId, UnmatchedId};
use crate::template::TemplateContent;

/// Register a staff member (admin only).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct RegisterStaff {
    /// Id for the new staff member.
    pub staff_id: StaffId,
    /// Display name.
    pub name: String,
    /// Role: receptionist, doctor, admin or auditor.
    pub role: Role,
    /// Permissions to grant.
    pub permissions: Vec<Permission>,
    /// Hex SHA-256 of the access token issued with the registration.
    pub token_sha256: String,
}

/// Grant and revoke a staff member's permissions (admin only).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ChangePermissions {
    /// The staff member.
    pub staff_id: StaffId,
    /// Permissions to grant.
    pub grant: Vec<Permission>,
    /// Permissions to revoke.
    pub revoke: Vec<Permission>,
}

/// Revoke every token of a staff member or patient and issue a new one (admin only).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct RotateToken {
    /// Whose token.
    pub holder: Actor,
    /// Hex SHA-256 of the new token.
    pub token_sha256: String,
}

/// Revoke every token of a staff member or patient (admin only).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct RevokeTokens {
    /// Whose tokens.
    pub holder: Actor,
}

/// Register a patient (admin or receptionist).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct RegisterPatient {
    /// Id for the new patient.
    pub patient_id: PatientId,
    /// Contact record.
    pub contact: PatientContact,
    /// Hex SHA-256 of the access token issued with the registration.
    pub token_sha256: String,
}

/// Replace a patient's contact record (admin or receptionist).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ChangePatientContact {
    /// The patient.
    pub patient_id: PatientId,
    /// The whole record after the change.
    pub contact: PatientContact,
}

/// The content of a message being written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Draft {
    /// The channel to send on.
    pub channel: Channel,
    /// Subject line (required on e-mail).
    pub subject: Option<String>,
    /// The text.
    pub body: String,
    /// Files to attach, already stored and resolved.
    pub attachments: Vec<AttachmentRef>,
}

/// A template a message is written from, with the caller's values of its variables (every
/// variable but `patient_name`, which the hub fills from the patient's record).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct TemplateUse {
    /// The template.
    pub id: TemplateId,
    /// Values by variable name.
    pub variables: BTreeMap<String, String>,
}

/// Whom a patient writes its first message to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Recipient {
    /// The reception team.
    Reception,
    /// A named staff member, with the role the hub knows for it.
    Staff {
        /// The staff member.
        id: StaffId,
        /// Its role.
        role: Role,
    },
}

/// Write the first message of a new conversation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct StartConversation {
    /// Id for the new conversation.
    pub conversation_id: ConversationId,
    /// Id for the first message.
    pub message_id: MessageId,
    /// The patient the conversation is with (the patient itself when a patient writes).
    pub patient_id: PatientId,
    /// For a patient: whom it writes to. Staff always write to the patient.
    pub to: Option<Recipient>,
    /// The message (with a template: its channel and attachments; the subject and body are
    /// rendered from the template).
    pub draft: Draft,
    /// The template the subject and body are rendered from, if any.
    #[serde(default)]
    pub template: Option<TemplateUse>,
}

/// Write a message in an existing conversation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct SendMessage {
    /// The conversation.
    pub conversation_id: ConversationId,
    /// Id for the message.
    pub message_id: MessageId,
    /// The message (with a template: its channel and attachments; the subject and body are
    /// rendered from the template).
    pub draft: Draft,
    /// The template the subject and body are rendered from, if any.
    #[serde(default)]
    pub template: Option<TemplateUse>,
}

/// Log a phone call in a conversation (staff).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct LogCall {
    /// The conversation.
    pub conversation_id: ConversationId,
    /// Id for the call log entry.
    pub message_id: MessageId,
    /// When the call took place.
    pub occurred_at: DateTime<Utc>,
    /// How long it lasted, in seconds (0 to 86,400).
    pub duration_seconds: i64,
    /// Who called whom.
    pub direction: Direction,
    /// What was said.
    pub summary: String,
}

/// The recipient opened a message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct MarkRead {
    /// The conversation.
    pub conversation_id: ConversationId,
    /// The message.
    pub message_id: MessageId,
}

/// Star or unstar a message for the calling staff member.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct SetStar {
    /// The conversation.
    pub conversation_id: ConversationId,
    /// The message.
    pub message_id: MessageId,
    /// `true` to star, `false` to unstar.
    pub starred: bool,
}

/// Archive or reopen a conversation (staff).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct SetArchived {
    /// The conversation.
    pub conversation_id: ConversationId,
    /// `true` to archive, `false` to reopen.
    pub archived: bool,
}

/// File a message that a patient sent through a provider: into an existing conversation of
/// the patient's, or into a new reception conversation. Decided for the hub's webhooks (as the
/// system) or for reception filing an unmatched message (`unmatched_id`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ReceiveMessage {
    /// The conversation: an existing one of the patient's, or the id for a new one.
    pub conversation_id: ConversationId,
    /// Id for the message.
    pub message_id: MessageId,
    /// The patient who sent it (for a new conversation; an existing one names its own).
    pub patient_id: PatientId,
    /// The channel it came on (`sms`, `email` or `whatsapp`).
    pub channel: Channel,
    /// Subject line (e-mail).
    pub subject: Option<String>,
    /// The text (may be empty when files came instead).
    pub body: String,
    /// Files that came with it, already stored.
    pub attachments: Vec<AttachmentRef>,
    /// The provider's id of the message.
    pub provider_message_id: String,
    /// The unmatched queue entry being filed, when reception files one.
    pub unmatched_id: Option<UnmatchedId>,
    /// When the hub received it, if before this decision (an unmatched message filed later);
    /// absent: it arrives now. A WhatsApp message's 24-hour window runs from this time.
    #[serde(default)]
    pub received_at: Option<DateTime<Utc>>,
}

/// Every command that a conversation decides (with its patient's record beside it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type", content = "data")]
pub enum ConversationCommand {
    /// See [`StartConversation`].
    StartConversation(StartConversation),
    /// See [`SendMessage`].
    SendMessage(SendMessage),
    /// See [`LogCall`].
    LogCall(LogCall),
    /// See [`MarkRead`].
    MarkRead(MarkRead),
    /// See [`SetStar`].
    SetStar(SetStar),
    /// See [`SetArchived`].
    SetArchived(SetArchived),
    /// See [`ReceiveMessage`].
    ReceiveMessage(ReceiveMessage),
}

impl ConversationCommand {
    /// The conversation the command targets.
    pub fn conversation_id(&self) -> ConversationId {
        match self {
            ConversationCommand::StartConversation(c) => c.conversation_id,
            ConversationCommand::SendMessage(c) => c.conversation_id,
            ConversationCommand::LogCall(c) => c.conversation_id,
            ConversationCommand::MarkRead(c) => c.conversation_id,
            ConversationCommand::SetStar(c) => c.conversation_id,
            ConversationCommand::SetArchived(c) => c.conversation_id,
            ConversationCommand::ReceiveMessage(c) => c.conversation_id,
        }
    }

    /// The command's name in snake case (`send_message`), as metrics label it: never a value
    /// of the command.
    pub fn name(&self) -> &'static str {
        match self {
            ConversationCommand::StartConversation(_) => "start_conversation",
            ConversationCommand::SendMessage(_) => "send_message",
            ConversationCommand::LogCall(_) => "log_call",
            ConversationCommand::MarkRead(_) => "mark_read",
            ConversationCommand::SetStar(_) => "set_star",
            ConversationCommand::SetArchived(_) => "set_archived",
            ConversationCommand::ReceiveMessage(_) => "receive_message",
        }
    }
}

/// Every command that a patient's record decides.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type", content = "data")]
pub enum PatientCommand {
    /// See [`RegisterPatient`].
    RegisterPatient(RegisterPatient),
    /// See [`ChangePatientContact`].
    ChangePatientContact(ChangePatientContact),
    /// See [`RotateToken`].
    RotateToken(RotateToken),
    /// See [`RevokeTokens`].
    RevokeTokens(RevokeTokens),
}

/// Every command that a staff member's record decides.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type", content = "data")]
pub enum StaffCommand {
    /// See [`RegisterStaff`].
    RegisterStaff(RegisterStaff),
    /// See [`ChangePermissions`].
    ChangePermissions(ChangePermissions),
    /// See [`RotateToken`].
    RotateToken(RotateToken),
    /// See [`RevokeTokens`].
    RevokeTokens(RevokeTokens),
}

/// Create a message template (admin only).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct CreateTemplate {
    /// Id for the new template.
    pub template_id: TemplateId,
    /// Its first version's content.
    #[serde(flatten)]
    pub content: TemplateContent,
}

/// Write a new version of a template (admin only).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ReviseTemplate {
    /// The template.
    pub template_id: TemplateId,
    /// The new version's whole content.
    #[serde(flatten)]
    pub content: TemplateContent,
}

/// Retire a template: it can no longer be used, and stays readable (admin only).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct RetireTemplate {
    /// The template.
    pub template_id: TemplateId,
}

/// Every command that a template decides.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type", content = "data")]
pub enum TemplateCommand {
    /// See [`CreateTemplate`].
    CreateTemplate(CreateTemplate),
    /// See [`ReviseTemplate`].
    ReviseTemplate(ReviseTemplate),
    /// See [`RetireTemplate`].
    RetireTemplate(RetireTemplate),
}

impl TemplateCommand {
    /// The template the command targets.
    pub fn template_id(&self) -> TemplateId {
        match self {
            TemplateCommand::CreateTemplate(c) => c.template_id,
            TemplateCommand::ReviseTemplate(c) => c.template_id,
            TemplateCommand::RetireTemplate(c) => c.template_id,
        }
    }
}

/// Set the clinic's quiet hours (admin only), as the API receives them: parsed strictly by
/// the decision, so each refusal names its field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct SetQuietHours {
    /// When quiet hours begin, `HH:MM` local time.
    pub start: String,
    /// When they end, `HH:MM` local time; before `start` the window spans midnight.
    pub end: String,
    /// IANA time zone name used for patients without their own, e.g. `Europe/Berlin`.
    pub time_zone: String,
    /// The channels whose scheduled messages are held (at least one; never `call`).
    pub channels: Vec<Channel>,
}

/// Cancel a pending scheduled message (staff who may write in its conversation).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct CancelScheduled {
    /// The message id it was scheduled under.
    pub message_id: MessageId,
}

/// Record that a due scheduled message was sent (the scheduler, as the system).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct MarkScheduledReleased {
    /// The message id it was scheduled under.
    pub message_id: MessageId,
}

/// Record that a due scheduled message failed a rule and was not sent (the scheduler).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct MarkScheduledFailed {
    /// The message id it was scheduled under.
    pub message_id: MessageId,
    /// The contract error code of the rule that failed, e.g. `channel_unavailable`.
    pub failure_reason: String,
}

/// Every command that a scheduled message decides.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type", content = "data")]
pub enum ScheduledCommand {
    /// See [`CancelScheduled`].
    CancelScheduled(CancelScheduled),
    /// See [`MarkScheduledReleased`].
    MarkScheduledReleased(MarkScheduledReleased),
    /// See [`MarkScheduledFailed`].
    MarkScheduledFailed(MarkScheduledFailed),
}

impl ScheduledCommand {
    /// The scheduled message the command targets.
    pub fn message_id(&self) -> MessageId {
        match self {
            ScheduledCommand::CancelScheduled(c) => c.message_id,
            ScheduledCommand::MarkScheduledReleased(c) => c.message_id,
            ScheduledCommand::MarkScheduledFailed(c) => c.message_id,
        }
    }
}

/// Validates a caller's idempotency key: 1 to 200 printable characters.
pub fn validate_idempotency_key(key: &str) -> Result<(), DomainError> {
    if key.is_empty() || key.chars().count() > 200 || key.chars().any(char::is_control) {
        return Err(DomainError::invalid(
            "idempotency_key must be 1 to 200 printable characters",
        ));
    }
    Ok(())
}

/// Validates a hex SHA-256 token digest.
pub(crate) fn validate_token_digest(digest: &str) -> Result<(), DomainError> {
    if digest.len() == 64 && digest.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(())
    } else {
        Err(DomainError::invalid("token digest must be hex SHA-256"))
    }
}

/// Who is acting, and when, for a decision. `now` comes from the caller: the domain reads no clock.
#[derive(Debug, Clone)]
pub struct Context<'a> {
    /// The authenticated actor.
    pub principal: &'a crate::actor::Principal,
    /// The current time.
    pub now: DateTime<Utc>,
}
