//! Typed domain errors, one per contract error code that a rule can produce.

use thiserror::Error;

use crate::actor::Permission;
use crate::channel::Channel;
use crate::ids::ConversationId;
use crate::names::UnknownName;
use crate::scheduled::ScheduledStatus;

/// Why a command was rejected. Each variant maps to exactly one contract error code.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DomainError {
    /// A malformed or out-of-range value (400 `invalid_request`).
    #[error("{0}")]
    InvalidRequest(String),
    /// Staff without the needed permission (403 `missing_permission`).
    #[error("missing permission `{0}`")]
    MissingPermission(Permission),
    /// The who-may-initiate rules forbid this first message (403 `conversation_rule`).
    #[error("{0}")]
    ConversationRule(String),
    /// The actor may see the target but not do this to it (403 `forbidden`).
    #[error("{0}")]
    Forbidden(String),
    /// The target does not exist or the actor may not see it (404 `not_found`).
    #[error("{0} not found")]
    NotFound(&'static str),
    /// The doctor already has a conversation with this patient that is not archived (409).
    #[error("an open conversation with this patient already exists")]
    ConversationExists {
        /// The existing open conversation.
        conversation_id: ConversationId,
    },
    /// The patient's record does not allow this channel now (422 `channel_unavailable`).
    #[error("channel {channel} unavailable: {reason}")]
    ChannelUnavailable {
        /// The requested channel.
        channel: Channel,
        /// Why it cannot be used.
        reason: String,
    },
    /// Attachments on a channel that never carries them (422 `attachments_not_allowed`).
    #[error("attachments are not allowed on {0}")]
    AttachmentsNotAllowed(Channel),
    /// An attachment over the channel's size limit (413 `attachment_too_large`).
    #[error("{0}")]
    AttachmentTooLarge(String),
    /// A file whose content does not match an accepted media type (415 `unsupported_media_type`).
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// A scheduled message that is no longer pending: already sent, cancelled or failed (409 `not_pending`).
    #[error("the scheduled message is no longer pending: it is {0}")]
    NotPending(ScheduledStatus),
    /// The patient was erased: nothing more is written about it (422 `patient_erased`).
    #[error("the patient was erased")]
    PatientErased,
}

impl From<UnknownName> for DomainError {
    fn from(error: UnknownName) -> Self {
        DomainError::InvalidRequest(error.to_string())
    }
}

impl DomainError {
    /// Shorthand for [`DomainError::InvalidRequest`].
    pub fn invalid(message: impl Into<String>) -> Self {
        DomainError::InvalidRequest(message.into())
    }

    /// Shorthand for [`DomainError::Forbidden`].
    pub fn forbidden(message: impl Into<String>) -> Self {
        DomainError::Forbidden(message.into())
    }

    /// Shorthand for [`DomainError::ChannelUnavailable`].
    pub fn channel_unavailable(channel: Channel, reason: impl Into<String>) -> Self {
        DomainError::ChannelUnavailable {
            channel,
            reason: reason.into(),
        }
    }

    /// The contract error code.
    pub fn code(&self) -> &'static str {
        match self {
            DomainError::InvalidRequest(_) => "invalid_request",
            DomainError::MissingPermission(_) => "missing_permission",
            DomainError::ConversationRule(_) => "conversation_rule",
            DomainError::Forbidden(_) => "forbidden",
            DomainError::NotFound(_) => "not_found",
            DomainError::ConversationExists { .. } => "conversation_exists",
            DomainError::ChannelUnavailable { .. } => "channel_unavailable",
            DomainError::AttachmentsNotAllowed(_) => "attachments_not_allowed",
            DomainError::AttachmentTooLarge(_) => "attachment_too_large",
            DomainError::UnsupportedMediaType(_) => "unsupported_media_type",
            DomainError::NotPending(_) => "not_pending",
            DomainError::PatientErased => "patient_erased",
        }
    }
}
