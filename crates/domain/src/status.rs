//! Message status (recipient's side), delivery status (provider's side) and conversation status.

use std::str::FromStr;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::error::DomainError;

/// A message's status from its recipient's side; it only moves forward.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum MessageStatus {
    /// Received, not yet opened.
    Unread,
    /// The recipient opened it.
    Read,
    /// The recipient sent a message in the same conversation after it.
    Replied,
}

impl MessageStatus {
    /// The wire name of the status.
    pub fn as_str(self) -> &'static str {
        match self {
            MessageStatus::Unread => "unread",
            MessageStatus::Read => "read",
            MessageStatus::Replied => "replied",
        }
    }

    /// Whether moving to `next` is a step forward (`unread` → `read` → `replied`).
    pub fn advances_to(self, next: MessageStatus) -> bool {
        next > self
    }
}

/// Where an outbound message on an external channel is on its way to the patient.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStatus {
    /// Accepted by the hub, not yet handed to the provider.
    Queued,
    /// The provider accepted it.
    Sent,
    /// The provider reports it delivered.
    Delivered,
    /// It could not be delivered.
    Failed,
}

impl DeliveryStatus {
    /// The wire name of the status.
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Queued => "queued",
            DeliveryStatus::Sent => "sent",
            DeliveryStatus::Delivered => "delivered",
            DeliveryStatus::Failed => "failed",
        }
    }

    fn rank(self) -> u8 {
        match self {
            DeliveryStatus::Queued => 0,
            DeliveryStatus::Sent => 1,
            DeliveryStatus::Delivered | DeliveryStatus::Failed => 2,
        }
    }

    /// Whether a callback reporting `next` moves this status forward; `delivered` and
    /// `failed` are final, so a late or repeated callback never moves a status back.
    pub fn advances_to(self, next: DeliveryStatus) -> bool {
        next.rank() > self.rank()
    }
}

impl FromStr for DeliveryStatus {
    type Err = DomainError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "queued" => Ok(DeliveryStatus::Queued),
            "sent" => Ok(DeliveryStatus::Sent),
            "delivered" => Ok(DeliveryStatus::Delivered),
            "failed" => Ok(DeliveryStatus::Failed),
            other => Err(DomainError::invalid(format!(
                "unknown delivery status `{other}`"
            ))),
        }
    }
}

/// A conversation's status: `archived` when archived, otherwise its latest message's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ConversationStatus {
    /// Latest message not yet opened.
    Unread,
    /// Latest message opened.
    Read,
    /// Latest message answered.
    Replied,
    /// Archived.
    Archived,
}

impl ConversationStatus {
    /// The wire name of the status.
    pub fn as_str(self) -> &'static str {
        match self {
            ConversationStatus::Unread => "unread",
            ConversationStatus::Read => "read",
            ConversationStatus::Replied => "replied",
            ConversationStatus::Archived => "archived",
        }
    }

    /// The conversation status from the archive flag and the latest message's status.
    pub fn of(archived: bool, latest: Option<MessageStatus>) -> Self {
        match (archived, latest) {
            (true, _) => ConversationStatus::Archived,
            (false, Some(MessageStatus::Read)) => ConversationStatus::Read,
            (false, Some(MessageStatus::Replied)) => ConversationStatus::Replied,
            (false, _) => ConversationStatus::Unread,
        }
    }
}

impl FromStr for ConversationStatus {
    type Err = DomainError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "unread" => Ok(ConversationStatus::Unread),
            "read" => Ok(ConversationStatus::Read),
            "replied" => Ok(ConversationStatus::Replied),
            "archived" => Ok(ConversationStatus::Archived),
            other => Err(DomainError::invalid(format!("unknown status `{other}`"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_status_only_moves_forward() {
        assert!(MessageStatus::Unread.advances_to(MessageStatus::Read));
        assert!(MessageStatus::Read.advances_to(MessageStatus::Replied));
        assert!(!MessageStatus::Replied.advances_to(MessageStatus::Read));
        assert!(!MessageStatus::Read.advances_to(MessageStatus::Read));
    }

    #[test]
    fn delivery_status_never_moves_back() {
        use DeliveryStatus::*;
        assert!(Queued.advances_to(Sent));
        assert!(Sent.advances_to(Delivered));
        assert!(Queued.advances_to(Failed));
        assert!(!Delivered.advances_to(Sent));
        assert!(!Delivered.advances_to(Failed));
        assert!(!Failed.advances_to(Delivered));
        assert!(!Sent.advances_to(Sent));
    }
}
